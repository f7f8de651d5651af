//! The network a container gets when no flag says otherwise.

/// The default bridge (Docker's is `docker0`).
pub const DEFAULT_BRIDGE: &str = "wsbr0";

/// The default subnet: Podman's (Docker's is 172.17.0.0/16).
pub const DEFAULT_SUBNET: &str = "10.88.0.0/16";
