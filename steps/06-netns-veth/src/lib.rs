//! # Step 06: a network of its own
//!
//! | concept | file |
//! |---|---|
//! | **network namespace, veth pair, bridge, NAT** (this step's idea) | [`network.rs`](network) |
//! | the bridge, forwarding and NAT; host settings, said | [`bridge.rs`](bridge) |
//! | `ip_forward`: recorded for this very namespace, put back by `--cleanup` | [`forwarding.rs`](forwarding) |
//! | netlink requests (links, addresses, routes), in any namespace | [`netlink.rs`](netlink) |
//! | the container's namespace kept at /run/netns, `lo` up | [`netns.rs`](netns) |
//! | what can go wrong, each with what to do | [`errors.rs`](errors) |
//! | one address per container, under a file lock | [`ipam.rs`](ipam) |
//! | `-p` published ports: DNAT rules | [`ports.rs`](ports) |
//! | iptables rules, added once, removed by comment | [`iptables.rs`](iptables) |
//! | what crashed runs leave, removed by the next | [`stale.rs`](stale) |
//! | the command line: step 05's plus `--network`, `-p`, `--cleanup` | [`cli.rs`](cli) |

pub mod bridge;
pub mod cli;
pub mod defaults;
pub mod errors;
pub mod forwarding;
pub mod ipam;
pub mod iptables;
pub mod netlink;
pub mod netns;
pub mod network;
pub mod ports;
pub mod stale;

use step01_chroot::cli::RunArgs;
use step01_chroot::flags::FlagGroups;
use step01_chroot::layer::Layers;
use step01_chroot::spec::Spec;
use step01_chroot::trace::Trace;
use step01_chroot::{Container, Result};
use step04_cgroups::cgroup::Cgroup;

use crate::cli::{NetArgs, NetFlags};

// ANCHOR: layers
/// Step 06's layers: step 05's, plus the network after the cgroup.
pub fn layers(args: &impl NetFlags, spec: &Spec) -> Result<Layers> {
    let mut layers = step05_pivot_root::layers(args, spec)?;
    let own: &NetArgs = args.group();
    let network = network::Network::new(
        own.network,
        own.bridge.clone(),
        own.subnet,
        own.publish.clone(),
    );
    layers.insert_after::<Cgroup>(network)?;
    Ok(layers)
}
// ANCHOR_END: layers

/// Step 06's container.
pub fn container(args: &impl NetFlags) -> Result<Container> {
    args.group::<RunArgs>().container(|spec| layers(args, spec))
}

/// `--cleanup`: remove the bridge and our iptables rules.
pub fn cleanup(args: &impl NetFlags) -> Result<()> {
    let trace = Trace::new(args.group::<RunArgs>().trace_options());
    bridge::teardown(&trace, &args.group::<NetArgs>().bridge)
}
