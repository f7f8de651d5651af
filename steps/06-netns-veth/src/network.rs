//! Step 06's concept: a network namespace, and the wire to it.
//!
//! With `CLONE_NEWNET` the container gets a network stack of its own: its
//! own interfaces (only `lo`, down), addresses, routes, ports and firewall.
//! `--network none` stops there, after bringing `lo` up.
//!
//! `--network bridge` (the default, as in Docker) connects it:
//!
//! ```text
//!   container netns                 host netns
//!  ┌───────────────┐        ┌──────────────────────────────┐
//!  │ eth0          │  veth  │ wsv-1a2b3c4d ─┐              │
//!  │ 10.88.0.2/16  ├────────┤               │ wsbr0 bridge │──▶ eth0 ──▶ world
//!  │ default via   │  pair  │ wsv-...      ─┘ 10.88.0.1/16 │   (MASQUERADE)
//!  │  10.88.0.1    │        │                              │
//!  └───────────────┘        └──────────────────────────────┘
//! ```
//!
//! * a **bridge** on the host, a virtual switch, made once, with the
//!   subnet's first address (the containers' gateway);
//! * per container a **veth pair**, a virtual cable: one end joins the
//!   bridge, the other moves into the container's namespace as `eth0`,
//!   with an address from the IPAM (`ipam.rs`) and a default route;
//! * **forwarding** and **NAT**: `net.ipv4.ip_forward = 1` lets the host
//!   route between the bridge and its other interfaces, and a MASQUERADE
//!   rule rewrites the containers' private source address to the host's;
//! * `-p` **published ports** (`ports.rs`): DNAT rules towards the container.
//!
//! The parent does all of it (the child waits on the sync pipe), talking
//! netlink to the host's namespace and to the container's (`netlink.rs`).
//! With a bridge, the container's namespace is bind-mounted at
//! `/run/netns/ws-<id>` while it runs, so `ip netns exec ws-<id> ip addr`
//! works from another terminal (`stale.rs` removes ones crashed runs left).
//!
//! Man pages: network_namespaces(7), veth(4), ip-link(8), iptables(8).

use std::net::Ipv4Addr;
use std::path::PathBuf;

use colored::Color;
use nix::mount::MntFlags;
use nix::sched::CloneFlags;
use nix::unistd::{Pid, Uid};
use step01_chroot::ExitStatus;
use step01_chroot::Layer;
use step01_chroot::error::{Error, Result};
use step01_chroot::layer::{ChildCx, ParentCx, Plan};
use step01_chroot::sys::Syscall;

use crate::errors::NetError;
use crate::ipam::{self, Subnet};
use crate::iptables::{self, IptablesError, Rule};
use crate::netlink::Netlink;
use crate::netns::{bind_netns, lo_up};
use crate::ports::Publish;
use crate::stale;

pub use crate::defaults::{DEFAULT_BRIDGE, DEFAULT_SUBNET};

/// `--network`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Mode {
    /// Its own network namespace with only `lo`.
    None,
    /// The host's network: no isolation at all.
    Host,
    /// Its own namespace, wired to a host bridge with NAT (like Docker).
    Bridge,
}

/// The network layer.
#[derive(Debug)]
pub struct Network {
    mode: Mode,
    bridge: String,
    subnet: Subnet,
    publish: Vec<Publish>,
    /// Rootless: we may not enter the container's namespace, so the child
    /// brings its `lo` up itself (known in prepare, before the fork).
    rootless: bool,
    /// Set up in prepare / configure_child, undone in cleanup.
    made: Made,
}

#[derive(Debug, Default)]
struct Made {
    address: Option<Ipv4Addr>,
    lease_file: Option<PathBuf>,
    host_veth: Option<String>,
    peer: String,
    rules: Vec<Rule>,
    netns_file: Option<PathBuf>,
}

impl Network {
    /// A network of `mode`; `bridge` mode on `bridge` with `subnet`.
    pub fn new(mode: Mode, bridge: String, subnet: Subnet, publish: Vec<Publish>) -> Self {
        Network {
            mode,
            bridge,
            subnet,
            publish,
            rootless: false,
            made: Made::default(),
        }
    }
}

impl Layer for Network {
    fn name(&self) -> &'static str {
        "net"
    }

    fn color(&self) -> Color {
        Color::BrightBlue
    }

    fn clone_flags(&self) -> CloneFlags {
        match self.mode {
            Mode::Host => CloneFlags::empty(),
            Mode::None | Mode::Bridge => CloneFlags::CLONE_NEWNET,
        }
    }

    fn check(&self, plan: &Plan<'_>) -> Result<()> {
        if self.mode != Mode::Bridge && !self.publish.is_empty() {
            let mode = format!("{:?}", self.mode).to_lowercase();
            return Err(NetError::PublishWithoutBridge(mode).into());
        }
        for (i, publish) in self.publish.iter().enumerate() {
            let same = |p: &&Publish| p.host == publish.host && p.protocol == publish.protocol;
            if self.publish[..i].iter().any(|p| same(&p)) {
                return Err(
                    NetError::PortTwice(format!("{}/{}", publish.host, publish.protocol)).into(),
                );
            }
        }
        if self.mode == Mode::Bridge && !plan.dry_run {
            if !Uid::effective().is_root() {
                return Err(NetError::NeedsRoot.into());
            }
            if !iptables::available() {
                return Err(NetError::Iptables(IptablesError::Missing).into());
            }
            // Before any rule is added for it: `--bridge lo` would fail only
            // when the veth is attached, too late.
            let host = Netlink::here()?;
            if host.is_bridge(&self.bridge)? == Some(false) {
                return Err(NetError::NotABridge(self.bridge.clone()).into());
            }
        }
        Ok(())
    }

    // ANCHOR: prepare
    fn prepare(&mut self, cx: &mut ParentCx<'_>) -> Result<()> {
        if self.mode == Mode::Host {
            cx.trace
                .note("--network host: the host's own network, no isolation");
            return Ok(());
        }
        self.rootless = !cx.trace.dry_run() && !cx.trace.runs_as_root();
        if self.mode != Mode::Bridge {
            return Ok(());
        }
        let trace = &cx.trace;
        let host = if trace.dry_run() {
            None
        } else {
            Some(Netlink::here()?)
        };
        let host = host.as_ref();
        // What runs that were killed left behind goes first. Ours is named
        // after our id, whose lock we hold (step 01's owner.rs).
        stale::sweep(trace);
        // Held until our veth is on the bridge (dropped at the end).
        let _bridge = crate::bridge::ensure_bridge(trace, host, &self.bridge, &self.subnet)?;
        // One address per container, under a lock.
        let file = ipam::lease_file(&cx.spec.state_dir, &self.bridge);
        let address = if trace.dry_run() {
            // A stand-in: the first address, as on a host with no other
            // container (no lease is taken).
            ipam::first_free(&self.subnet, &[]).ok_or(NetError::Exhausted(self.subnet))?
        } else {
            let leases = |source| NetError::Leases {
                path: file.clone(),
                source,
            };
            let address = ipam::allocate(&file, &self.subnet, &cx.spec.id).map_err(leases)?;
            address.ok_or(NetError::Exhausted(self.subnet))?
        };
        self.made.lease_file = Some(file);
        self.made.address = Some(address);
        trace.note(format!(
            "IPAM: {address}/{} for this container",
            self.subnet.prefix
        ));
        // The cable: one end on the bridge, the other for the container.
        let short = &cx.spec.id[..8];
        let (veth, peer) = (format!("wsv-{short}"), format!("wsc-{short}"));
        trace.call_any(format!("RTM_NEWLINK veth {veth} <-> {peer}"), || {
            host.map_or(Ok(()), |nl| nl.add_veth(&veth, &peer))
        })?;
        self.made.host_veth = Some(veth.clone());
        self.made.peer = peer;
        let bridge = &self.bridge;
        trace.call_any(format!("RTM_NEWLINK {veth} master {bridge}"), || {
            host.map_or(Ok(()), |nl| nl.set_master(&veth, bridge))
        })?;
        trace.call_any(format!("RTM_NEWLINK {veth} up"), || {
            host.map_or(Ok(()), |nl| nl.set_up(&veth))
        })?;
        Ok(())
    }
    // ANCHOR_END: prepare

    // ANCHOR: configure_child
    fn configure_child(&mut self, cx: &mut ParentCx<'_>, child: Pid) -> Result<()> {
        if self.mode == Mode::Host {
            return Ok(());
        }
        if self.rootless {
            // setns(2) into a namespace needs CAP_SYS_ADMIN over it; the
            // container has that in its own user namespace, we do not.
            cx.trace
                .note("rootless: the container brings its lo up itself (see enter)");
            return Ok(());
        }
        let trace = &cx.trace;
        let dry = trace.dry_run();
        if self.mode == Mode::Bridge {
            // (Only here: a run killed with SIGKILL would leave this mount,
            // which the next bridge run sweeps; `none` has nothing to see.)
            self.made.netns_file = Some(bind_netns(trace, &cx.spec.id, child)?);
            let peer = self.made.peer.clone();
            let host = if dry { None } else { Some(Netlink::here()?) };
            trace.call_any(format!("RTM_NEWLINK {peer} netns (pid {child})"), || {
                host.as_ref()
                    .map_or(Ok(()), |nl| nl.move_to_netns_of(&peer, child))
            })?;
        }
        // From here on, requests go to the container's namespace.
        let inside = if dry {
            None
        } else {
            Some(Netlink::in_netns_of(child)?)
        };
        let inside = inside.as_ref();
        let ns = "[container]";
        if self.mode == Mode::Bridge {
            // EXERCISE 06: inside, the veth's end becomes eth0, with an address, up, and a default route
            // HINT: four netlink requests through `inside` (netlink.rs): rename, add_address, set_up, add_default_route.
            // HINT: narrate each with trace.call_any, as the lines above do; in a dry run `inside` is None.
            // HINT: then the published ports' rules: publish.rules(address, id), ensure each, keep it in self.made.rules.
            // CHECK: --lib a_bridge_run_is_wired_then_unwired_in_order | the bridge run's calls, in order
            // CHECK: --test network bridge_gives_an_address_a_route_and_the_way_out | the container gets an address, a route, the way out
            let peer = self.made.peer.clone();
            let address = self.made.address.expect("prepare allocated an address");
            let (prefix, gateway) = (self.subnet.prefix, self.subnet.gateway());
            trace.call_any(format!("{ns} RTM_NEWLINK {peer} name eth0"), || {
                inside.map_or(Ok(()), |nl| nl.rename(&peer, "eth0"))
            })?;
            trace.call_any(format!("{ns} RTM_NEWADDR eth0 {address}/{prefix}"), || {
                inside.map_or(Ok(()), |nl| nl.add_address("eth0", address, prefix))
            })?;
            trace.call_any(format!("{ns} RTM_NEWLINK eth0 up"), || {
                inside.map_or(Ok(()), |nl| nl.set_up("eth0"))
            })?;
            trace.call_any(format!("{ns} RTM_NEWROUTE default via {gateway}"), || {
                inside.map_or(Ok(()), |nl| nl.add_default_route(gateway))
            })?;
            for publish in &self.publish {
                for rule in publish.rules(address, &cx.spec.id) {
                    rule.ensure(trace)?;
                    self.made.rules.push(rule);
                }
            }
            // END EXERCISE
        }
        trace.call_any(format!("{ns} RTM_NEWLINK lo up"), || {
            inside.map_or(Ok(()), |nl| nl.set_up("lo"))
        })?;
        Ok(())
    }
    // ANCHOR_END: configure_child

    /// Rootless only: `lo` up from inside, the way `ifconfig lo up` does
    /// it (netdevice(7)); the container is root of its own namespaces.
    fn enter(&self, cx: &ChildCx<'_>) -> Result<()> {
        if !self.rootless || self.mode != Mode::None {
            return Ok(());
        }
        cx.trace
            .call("ioctl(socket, SIOCSIFFLAGS, { \"lo\", IFF_UP })", lo_up)?;
        Ok(())
    }

    // ANCHOR: cleanup
    fn cleanup(&mut self, cx: &mut ParentCx<'_>, _exit: Option<&ExitStatus>) -> Result<()> {
        let trace = &cx.trace;
        let mut first_error: Option<Error> = None;
        let mut keep = |r: std::result::Result<(), NetError>| {
            if let Err(e) = r {
                first_error.get_or_insert(e.into());
            }
        };
        for rule in std::mem::take(&mut self.made.rules) {
            keep(rule.remove(trace).map_err(NetError::from));
        }
        if let Some(veth) = self.made.host_veth.take() {
            // Deleting one end of a veth deletes both. If the container's
            // namespace is already gone, so is the pair: nothing to do.
            if trace.dry_run() {
                trace.announce(format!("RTM_DELLINK {veth}"));
            } else if let Ok(host) = Netlink::here()
                && host.index(&veth).ok().flatten().is_some()
            {
                let r = trace.call_any(format!("RTM_DELLINK {veth}"), || host.delete(&veth));
                keep(r.map_err(NetError::from));
            }
        }
        if let Some(file) = self.made.lease_file.take()
            && !trace.dry_run()
        {
            trace.note(format!(
                "IPAM: {} released",
                self.made.address.map_or(String::new(), |a| a.to_string())
            ));
            keep(
                ipam::release(&file, &cx.spec.id)
                    .map_err(|source| NetError::Leases { path: file, source }),
            );
        }
        if let Some(file) = self.made.netns_file.take() {
            let target = file.clone();
            let r = trace.sys(Syscall::Umount {
                target,
                flags: MntFlags::MNT_DETACH,
            });
            if r.is_ok() && !trace.dry_run() {
                let _ = std::fs::remove_file(&file);
            }
        }
        first_error.map_or(Ok(()), Err)
    }
    // ANCHOR_END: cleanup
}

#[cfg(test)]
#[path = "network_recorded.rs"]
mod tests;
