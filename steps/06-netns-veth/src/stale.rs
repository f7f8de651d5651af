//! What a crashed run leaves, found and removed by the next one.
//!
//! A runtime killed with SIGKILL cannot clean up. Its container dies with
//! it (PR_SET_PDEATHSIG), and with the container's network namespace its
//! veth pair goes too, but two things outlive it: the bind mount at
//! /run/netns/ws-<id> (which keeps the namespace, and so the veth, alive)
//! and its port DNAT rules. Both are named after the run's id, and a run's
//! lock says whether it lives (step 01's owner.rs): the next bridge run
//! removes whatever belongs to a dead run, and says so.

use std::fs;
use std::process::Command;

use nix::mount::MntFlags;
use step01_chroot::owner::alive;
use step01_chroot::sys::Syscall;
use step01_chroot::trace::Trace;

use crate::iptables::COMMENT;
use crate::netns::NETNS_DIR;

/// Removes network namespaces, veth pairs and rules that no live run owns.
pub fn sweep(trace: &Trace) {
    if trace.dry_run() {
        return;
    }
    sweep_veths(trace);
    for entry in fs::read_dir(NETNS_DIR).into_iter().flatten().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(id) = name.strip_prefix("ws-") else {
            continue;
        };
        if alive(id) {
            continue;
        }
        trace.note(format!(
            "removing the network namespace a crashed run left: {}",
            entry.path().display()
        ));
        let path = entry.path();
        let target = path.clone();
        let flags = MntFlags::MNT_DETACH;
        let _ = trace.sys(Syscall::Umount { target, flags });
        let _ = fs::remove_file(&path);
    }
    let Ok(listed) = Command::new("iptables").args(["-t", "nat", "-S"]).output() else {
        return;
    };
    for line in String::from_utf8_lossy(&listed.stdout).lines() {
        let Some(rule) = line.strip_prefix("-A ") else {
            continue;
        };
        // iptables -S quotes the comment: "container-workshop:<id>"
        let words: Vec<&str> = rule
            .split_whitespace()
            .map(|w| w.trim_matches('"'))
            .collect();
        let tag = format!("{COMMENT}:");
        let Some(id) = words.iter().find_map(|w| w.strip_prefix(&tag)) else {
            continue;
        };
        if alive(id) {
            continue;
        }
        trace.note(format!("removing a rule a crashed run left: {rule}"));
        let mut args = vec!["-t", "nat", "-D"];
        args.extend(&words);
        let _ = Command::new("iptables").args(&args).output();
    }
}

/// A run killed after making its veth pair, before moving one end into the
/// container's namespace, leaves both ends here: `wsv-<id>` and `wsc-<id>`,
/// with the first 8 characters of the id (a link's name is short).
/// Deleting one end deletes the pair.
fn sweep_veths(trace: &Trace) {
    let Ok(host) = crate::netlink::Netlink::here() else {
        return;
    };
    let mut removed: Vec<String> = Vec::new();
    for name in host.names().unwrap_or_default() {
        let Some(short) = name.strip_prefix("wsv-").or(name.strip_prefix("wsc-")) else {
            continue;
        };
        if removed.iter().any(|r| r == short) || step01_chroot::owner::alive_prefix(short) {
            continue;
        }
        removed.push(short.to_string());
        trace.note(format!("removing a veth pair a crashed run left: {name}"));
        let _ = trace.call_any(format!("RTM_DELLINK {name}"), || host.delete(&name));
    }
}
