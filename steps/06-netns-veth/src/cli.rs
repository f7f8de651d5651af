//! Step 06's flags: the network (its command line is step 05's and these:
//! see step 01's flags.rs).

use step01_chroot::flags::Has;
use step05_pivot_root::cli::PivotFlags;

use crate::ipam::Subnet;
use crate::network::{DEFAULT_BRIDGE, DEFAULT_SUBNET, Mode};
use crate::ports::Publish;

/// Step 06's own flags.
#[derive(Clone, Debug, clap::Args)]
pub struct NetArgs {
    /// The container's network: its own with only lo, the host's, or a bridge with NAT.
    #[arg(long, value_enum, default_value = "bridge", env = "WORKSHOP_NETWORK")]
    pub network: Mode,

    /// The host bridge containers connect to (made once, kept).
    #[arg(long, value_name = "NAME", default_value = DEFAULT_BRIDGE, value_parser = link_name)]
    pub bridge: String,

    /// The bridge's subnet; the bridge takes its first address.
    #[arg(long, value_name = "CIDR", default_value = DEFAULT_SUBNET)]
    pub subnet: Subnet,

    /// Publish a container port on the host (repeatable): HOSTPORT:CONTAINERPORT[/tcp|udp].
    #[arg(short = 'p', long = "publish", value_name = "HOST:CONTAINER")]
    pub publish: Vec<Publish>,

    /// Remove the bridge and the iptables rules containers leave for each other, and exit.
    #[arg(long)]
    pub cleanup: bool,
}

/// What step 06's layers read: step 05's flags and [`NetArgs`].
pub trait NetFlags: PivotFlags + Has<NetArgs> {}

impl<T: PivotFlags + Has<NetArgs>> NetFlags for T {}

/// A name the kernel takes for a network link: 1 to 15 bytes (IFNAMSIZ is
/// 16 with the final NUL), no `/`, no white space, not `.` or `..`
/// (dev_valid_name in the kernel).
pub fn link_name(text: &str) -> Result<String, String> {
    let bad = |why: &str| Err(format!("{text:?}: {why}"));
    if text.is_empty() || text.len() > 15 {
        return bad("a link name has 1 to 15 characters");
    }
    if text == "."
        || text == ".."
        || text.contains(['/', ':'])
        || text.contains(char::is_whitespace)
    {
        return bad("a link name has no '/', ':' or spaces, and is not . or ..");
    }
    Ok(text.into())
}
