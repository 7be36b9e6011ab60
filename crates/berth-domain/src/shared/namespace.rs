//! How a pod or container shares a Linux namespace.

/// A namespace's sharing mode, from the CRI `NamespaceMode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum NamespaceMode {
    /// The pod's own namespace.
    #[default]
    Pod,
    /// The container's own (PID only).
    Container,
    /// The node's.
    Node,
    /// Another container's (ephemeral containers).
    Target,
}
