//! The bridge: a virtual switch on the host, made once by the first
//! bridge run and kept (as docker0 is), with what makes it a way out: its
//! address (the containers' gateway), forwarding and NAT, and the host
//! settings that needs, changed only with a word in the trace and put back
//! by `--cleanup`.

use std::net::Ipv4Addr;
use std::path::PathBuf;

use step01_chroot::error::{Error, Result};
use step01_chroot::trace::Trace;

use crate::errors::NetError;
use crate::ipam::Subnet;
use crate::iptables::{self, IptablesError, Rule};
use crate::netlink::Netlink;
use crate::stale;

/// The rules every container on `bridge` needs, made once and kept:
/// NAT for the subnet, and forwarding to and from the bridge.
fn bridge_rules(bridge: &str, subnet: &Subnet) -> Vec<Rule> {
    // Words, not a command line: iptables gets them as its argv, with no
    // shell in between to split or expand anything.
    let words = |s: &str| s.split_whitespace().map(String::from).collect::<Vec<_>>();
    vec![
        // Out of the subnet by any way but the bridge: the containers' private
        // source becomes the host's address, and back for the answers (conntrack
        // remembers). MASQUERADE, not SNAT: it takes the address of the interface
        // the packet leaves by, so the rule names none (iptables-extensions(8)).
        // Between containers (-o bridge) nothing is rewritten.
        Rule {
            table: "nat",
            chain: "POSTROUTING",
            spec: words(&format!("-s {subnet} ! -o {bridge} -j MASQUERADE")),
            comment: iptables::COMMENT.into(),
        },
        // -p from the host's own 127.0.0.1: the container could not answer
        // 127.0.0.1 (its own lo), so the source becomes the bridge's address.
        Rule {
            table: "nat",
            chain: "POSTROUTING",
            spec: words(&format!("-s 127.0.0.0/8 -o {bridge} -j MASQUERADE")),
            comment: iptables::COMMENT.into(),
        },
        // route_localnet (above) also lets in packets *to* 127.0.0.0/8 that
        // arrive on the bridge: container root could forge one (a raw
        // socket, the gateway's MAC) and reach the host's localhost-only
        // services (Kubernetes' CVE-2020-8558). None is legitimate: drop
        // them before anything else looks (the raw table comes first).
        Rule {
            table: "raw",
            chain: "PREROUTING",
            spec: words(&format!("-i {bridge} -d 127.0.0.0/8 -j DROP")),
            comment: iptables::COMMENT.into(),
        },
        // -p from another container on the bridge (hairpin): its request went
        // to the host's address and came back DNATed; without this, the answer
        // would go straight back across the bridge, from an address the
        // client never asked.
        Rule {
            table: "nat",
            chain: "POSTROUTING",
            spec: words(&format!(
                "-s {subnet} -o {bridge} -m conntrack --ctstate DNAT -j MASQUERADE"
            )),
            comment: iptables::COMMENT.into(),
        },
        // The host's FORWARD policy may be DROP (Docker sets it so): let what
        // comes from the bridge through, and what goes to it.
        Rule {
            table: "filter",
            chain: "FORWARD",
            spec: words(&format!("-i {bridge} -j ACCEPT")),
            comment: iptables::COMMENT.into(),
        },
        Rule {
            table: "filter",
            chain: "FORWARD",
            spec: words(&format!("-o {bridge} -j ACCEPT")),
            comment: iptables::COMMENT.into(),
        },
    ]
}

/// The host's routes (from /proc/net/route) that overlap `subnet`, other
/// than the bridge's own: `(destination, interface)`.
fn colliding_route(subnet: &Subnet, bridge: &str) -> Option<(String, String)> {
    // The kernel's IPv4 routing table, one route a line after a header:
    // Iface, Destination, Gateway, Flags, RefCnt, Use, Metric, Mask, ...
    let table = std::fs::read_to_string("/proc/net/route").ok()?;
    table.lines().skip(1).find_map(|line| {
        let f: Vec<_> = line.split_whitespace().collect();
        let (iface, dest, mask) = (f.first()?, f.get(1)?, f.get(7)?);
        // The numbers are in network byte order, printed as host integers.
        let addr = |hex: &str| {
            Some(Ipv4Addr::from(
                u32::from_str_radix(hex, 16).ok()?.to_le_bytes(),
            ))
        };
        let (dest, mask) = (addr(dest)?, u32::from(addr(mask)?));
        if mask == 0 || *iface == bridge {
            return None; // the default route overlaps everything
        }
        let route = Subnet {
            network: dest,
            // A netmask is contiguous ones: counting them gives the prefix.
            prefix: mask.count_ones() as u8,
        };
        subnet
            .overlaps(&route)
            .then(|| (route.to_string(), iface.to_string()))
    })
}

/// The bridge, its address, forwarding and NAT: made once, kept. Returns
/// the bridge lock, for the caller to hold until its veth is on the bridge:
/// `--cleanup` takes the lock too, and must find the veth then (or the
/// run not yet started), never a run between the two.
pub(crate) fn ensure_bridge(
    trace: &Trace,
    host: Option<&Netlink>,
    bridge: &str,
    subnet: &Subnet,
) -> Result<Option<std::fs::File>> {
    // Runs that start at once would all find no bridge and all make
    // one (the second gets EEXIST), and add the same rules twice: one
    // run at a time looks and makes, under a lock the kernel drops
    // when its holder dies (flock(2)).
    let one_at_a_time = match host {
        Some(_) => Some(bridge_lock()?),
        None => None,
    };
    let exists = match host {
        Some(nl) => nl.index(bridge)?.is_some(),
        None => false,
    };
    if !exists {
        // Only for a new bridge. A host route to some of these addresses (a
        // VPN, a lab network) would compete with the bridge's: the more
        // specific wins, and the containers or that network are cut off.
        if host.is_some()
            && let Some((route, iface)) = colliding_route(subnet, bridge)
        {
            return Err(NetError::SubnetTaken {
                subnet: *subnet,
                route,
                iface,
            }
            .into());
        }
        // The subnet's first address is the bridge's own: the containers'
        // default route points at it. With it, the kernel also adds a route to
        // the whole subnet through the bridge.
        let gateway = subnet.gateway();
        trace.call_any(format!("RTM_NEWLINK bridge {bridge}"), || {
            host.map_or(Ok(()), |nl| nl.add_bridge(bridge))
        })?;
        trace.call_any(
            format!("RTM_NEWADDR {bridge} {gateway}/{}", subnet.prefix),
            || host.map_or(Ok(()), |nl| nl.add_address(bridge, gateway, subnet.prefix)),
        )?;
        trace.call_any(format!("RTM_NEWLINK {bridge} up"), || {
            host.map_or(Ok(()), |nl| nl.set_up(bridge))
        })?;
    }
    if host.is_some() {
        // Records of namespaces deleted without --cleanup have nothing left to
        // put back: they go (forwarding.rs).
        crate::forwarding::sweep_records();
    }
    // Connections to 127.0.0.1:PORT are turned towards a container on
    // the bridge (-p); the kernel drops packets from 127.0.0.0/8 that
    // leave by any interface but lo, unless route_localnet is set on it.
    // It is our bridge's own setting, and goes with the bridge.
    let localnet = format!("/proc/sys/net/ipv4/conf/{bridge}/route_localnet");
    set_sysctl(trace, &localnet, false)?;
    // ip_forward is the whole namespace's: recorded, for --cleanup.
    set_sysctl(trace, crate::forwarding::FORWARDING, true)?;
    // ensure() checks each with -C first: a later run adds none twice.
    for rule in bridge_rules(bridge, subnet) {
        rule.ensure(trace)?;
    }
    Ok(one_at_a_time)
}

// ANCHOR: sysctl
/// Sets the sysctl file `path` to 1 unless it is already, and says so in
/// the trace (a host setting changed is never silent). With `record`, a
/// first change is remembered, for `--cleanup` to undo (forwarding.rs).
fn set_sysctl(trace: &Trace, path: &str, record: bool) -> Result<()> {
    // Already on: nothing to say, and nothing to record, so --cleanup never
    // turns off what was on before us.
    if !trace.dry_run() && std::fs::read_to_string(path).is_ok_and(|v| v.trim() == "1") {
        return Ok(());
    }
    trace.note(format!(
        "changing a host setting: {path} = 1{}",
        if record {
            " (--cleanup puts it back)"
        } else {
            ""
        }
    ));
    // Recorded before the write: a run killed between the two still leaves
    // --cleanup able to put it back.
    if record && !trace.dry_run() {
        crate::forwarding::record_was_off();
    }
    trace.write_file(path, "1")?;
    Ok(())
}

// ANCHOR_END: sysctl

/// The lock that makes bridge setup one run at a time in a network
/// namespace (a bridge of the same name in another namespace is another
/// bridge): flock(2) on the namespace itself, its file /proc/self/ns/net,
/// which every process in it opens as the same inode. Nothing to create,
/// nothing to leave behind; held until dropped.
fn bridge_lock() -> Result<std::fs::File> {
    let path = PathBuf::from("/proc/self/ns/net");
    let io = |what, source| Error::Io {
        what,
        path: path.clone(),
        source,
    };
    let file = std::fs::File::open(&path).map_err(|e| io("opening", e))?;
    // File::lock is flock(2) LOCK_EX: it waits while another run holds it.
    file.lock().map_err(|e| io("locking", e))?;
    Ok(file)
}

/// `--cleanup`: removes what containers share and leave behind on purpose,
/// the bridge and our iptables rules (all of them, by their comment).
pub fn teardown(trace: &Trace, bridge: &str) -> Result<()> {
    // `--cleanup --bridge eth0` must not delete the host's eth0.
    let host = Netlink::here()?;
    // None: no link of that name at all; the rules may still be there.
    if host.is_bridge(bridge)? == Some(false) {
        return Err(NetError::NotABridge(bridge.into()).into());
    }
    // No run sets up its side of the bridge meanwhile (see ensure_bridge).
    let _one_at_a_time = bridge_lock()?;
    stale::sweep(trace);
    // What the sweep left belongs to live runs: their containers need the
    // bridge, the rules and forwarding.
    let live: Vec<String> = host.names()?;
    // Host ends of our veths are named wsv-<id> (network.rs).
    let live: Vec<String> = live.into_iter().filter(|n| n.starts_with("wsv-")).collect();
    if !live.is_empty() {
        return Err(NetError::InUse(live).into());
    }
    // Every table we add to. -S prints each rule as the command that would
    // add it (`-A CHAIN ...`, like iptables-save): the same words after -D
    // delete it.
    for table in ["nat", "filter", "raw"] {
        let listed = std::process::Command::new("iptables")
            .args(["-t", table, "-S"])
            .output();
        let Ok(listed) = listed else {
            return Err(NetError::Iptables(IptablesError::Missing).into());
        };
        for line in String::from_utf8_lossy(&listed.stdout).lines() {
            // Not -P (a chain's policy) or -N (a chain): those are not ours.
            let Some(rest) = line.strip_prefix("-A ") else {
                continue;
            };
            if !rest.contains(iptables::COMMENT) {
                continue;
            }
            let args: Vec<String> = ["-t", table, "-D"]
                .iter()
                .map(|s| s.to_string())
                .chain(
                    rest.split_whitespace()
                        // -S may quote the comment; no shell takes the quotes off here.
                        .map(|w| w.trim_matches('"').to_string()),
                )
                .collect();
            trace
                .call_any(format!("iptables {}", args.join(" ")), || {
                    let out = std::process::Command::new("iptables").args(&args).output();
                    match out {
                        Ok(o) if o.status.success() => Ok(()),
                        Ok(o) => Err(String::from_utf8_lossy(&o.stderr).trim().to_string()),
                        Err(e) => Err(e.to_string()),
                    }
                })
                .map_err(|stderr| {
                    NetError::Iptables(IptablesError::Failed {
                        args: args.join(" "),
                        stderr,
                    })
                })?;
        }
    }
    // The bridge's address, routes and route_localnet are the link's, and
    // go with it.
    if host.index(bridge)?.is_some() {
        trace.call_any(format!("RTM_DELLINK {bridge}"), || host.delete(bridge))?;
    } else {
        trace.note(format!("no bridge {bridge}: nothing to remove"));
    }
    // Last, once nothing on the bridge needs forwarding any more.
    crate::forwarding::restore(trace)
}
