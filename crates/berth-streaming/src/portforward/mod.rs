//! Port-forward: connections to a pod's ports, carried by SPDY streams (`spdy`), directly or
//! through the WebSocket tunnel.

pub mod spdy;
