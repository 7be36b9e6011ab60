//! Port-forward: connections to a pod's ports, carried by SPDY streams (`spdy`), directly or
//! through the WebSocket tunnel, or by WebSocket channels (`websocket`).

pub mod spdy;
pub mod websocket;
