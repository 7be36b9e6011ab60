//! What the CRI asks for, free of gRPC types: the input of RunPodSandbox and
//! CreateContainer, as the server converts it. Below the services and `validate`, so that
//! validation reads requests without importing the services that act on them.

mod container;
mod sandbox;

pub use container::{
    ContainerRequest, DeviceRequest, GroupsPolicy, MountRequest, Propagation, SeccompProfile,
    SecurityRequest, UnknownPropagation, UserRequest,
};
pub use sandbox::{DnsConfig, PortMapping, SandboxRequest};
