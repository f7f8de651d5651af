//! What can go wrong with networking, each with what to do about it.

use std::path::PathBuf;

use step01_chroot::error::Error;

use crate::defaults::DEFAULT_BRIDGE;
use crate::ipam::Subnet;
use crate::iptables::IptablesError;

/// What can go wrong with networking, and what to do.
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    /// Bridges, veths and iptables need root on the host.
    /// They are the host's network namespace's, and need CAP_NET_ADMIN over
    /// it: container root has that only in its own namespace.
    #[error(
        "--network bridge needs root on the host (bridges, veth pairs and iptables rules are host \
         resources)\n  hint: run through sudo, or use --network none, which works rootless"
    )]
    NeedsRoot,
    /// Publishing needs a bridge.
    /// With `none` the container has only lo; with `host` its ports are
    /// the host's already.
    #[error(
        "-p needs --network bridge: with {0:?} there is no address to forward to\n  \
         hint: leave out -p, or add --network bridge"
    )]
    PublishWithoutBridge(String),
    /// The subnet is taken on this host.
    /// Found in /proc/net/route before a new bridge is made (bridge.rs): a
    /// second route to the same addresses would take their packets away.
    #[error(
        "subnet {subnet} overlaps a route of this host ({route} on {iface})\n  \
         hint: choose another with --subnet, e.g. --subnet 10.123.0.0/16"
    )]
    SubnetTaken {
        subnet: Subnet,
        route: String,
        iface: String,
    },
    /// No address left.
    /// The network address, the gateway and broadcast are never leased
    /// (ipam.rs): a /29 holds 5 containers.
    #[error("no free address left in {0}: too many containers on this bridge")]
    Exhausted(Subnet),
    /// A netlink request failed.
    #[error(transparent)]
    Netlink(#[from] crate::netlink::NetlinkError),
    /// An iptables command failed.
    #[error(transparent)]
    Iptables(#[from] IptablesError),
    /// `--bridge` names a link that is not a bridge.
    /// Checked before anything is made, and before `--cleanup` deletes it:
    /// `--cleanup --bridge eth0` must not take the host's eth0.
    #[error(
        "--bridge {0}: that link exists and is not a bridge\n  \
         hint: give the name of a bridge, or a new name (the default is {DEFAULT_BRIDGE})"
    )]
    NotABridge(String),
    /// `--cleanup` while containers still use the bridge.
    /// Refused whole: their traffic needs the bridge, its rules and
    /// forwarding, and a half-removed setup would cut them off.
    #[error(
        "--cleanup: {} container(s) still run on this host's bridge (their veths: {})\n  \
         hint: stop them first; the bridge, its rules and forwarding stay as they are",
        .0.len(), .0.join(", ")
    )]
    InUse(Vec<String>),
    /// The same host port twice.
    /// Two DNAT rules for one port: the first in the chain would take every
    /// connection, and the second would never match.
    #[error("-p {0}: that host port is published twice\n  hint: give each host port once")]
    PortTwice(String),
    /// The lease file could not be used.
    /// It is locked while read and rewritten (flock(2), ipam.rs).
    #[error("lease file {}: {source}", path.display())]
    Leases {
        path: PathBuf,
        source: std::io::Error,
    },
}

// Boxed into step 01's Error, as every later step's own errors are.
impl From<NetError> for Error {
    fn from(err: NetError) -> Self {
        Error::layer(err)
    }
}

// The kernel's and iptables' own errors become ours with `?`.
impl From<crate::netlink::NetlinkError> for Error {
    fn from(err: crate::netlink::NetlinkError) -> Self {
        NetError::from(err).into()
    }
}

impl From<IptablesError> for Error {
    fn from(err: IptablesError) -> Self {
        NetError::from(err).into()
    }
}
