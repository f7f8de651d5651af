//! What a crashed run leaves, found and removed by the next one.
//!
//! A runtime killed with SIGKILL cannot clean up. Its container dies with
//! it (PR_SET_PDEATHSIG), and with the container's network namespace its
//! veth pair goes too, but two things outlive it: the bind mount at
//! /run/netns/ws-<id> (which keeps the namespace, and so the veth, alive)
//! and its port DNAT rules. So each run records that it owns container
//! `<id>` in /run/container-workshop/netns/<id> (its pid), and the next
//! bridge run removes whatever no live runtime owns, and says so.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use nix::mount::{MntFlags, umount2};
use nix::sys::signal::kill;
use nix::unistd::Pid;
use step01_chroot::trace::Trace;

use crate::iptables::COMMENT;
use crate::network::NETNS_DIR;

/// Where runtimes record the containers they own.
pub const OWNERS: &str = "/run/container-workshop/netns";

fn record(id: &str) -> PathBuf {
    Path::new(OWNERS).join(id)
}

/// Records that this runtime owns container `id`.
pub fn claim(id: &str) -> std::io::Result<()> {
    fs::create_dir_all(OWNERS)?;
    fs::write(record(id), std::process::id().to_string())
}

/// Forgets container `id`.
pub fn release(id: &str) {
    let _ = fs::remove_file(record(id));
}

fn owner_alive(id: &str) -> bool {
    fs::read_to_string(record(id))
        .ok()
        .and_then(|pid| pid.trim().parse().ok())
        .is_some_and(|pid| kill(Pid::from_raw(pid), None).is_ok())
}

/// Removes network namespaces and rules that no live runtime owns.
pub fn sweep(trace: &Trace) {
    if trace.dry_run() {
        return;
    }
    for entry in fs::read_dir(NETNS_DIR).into_iter().flatten().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(id) = name.strip_prefix("ws-") else {
            continue;
        };
        if owner_alive(id) {
            continue;
        }
        trace.note(format!(
            "removing the network namespace a crashed run left: {}",
            entry.path().display()
        ));
        let path = entry.path();
        let _ = trace.call(format!("umount2({path:?}, MNT_DETACH)"), || {
            umount2(&path, MntFlags::MNT_DETACH)
        });
        let _ = fs::remove_file(&path);
        release(id);
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
        if owner_alive(id) {
            continue;
        }
        trace.note(format!("removing a rule a crashed run left: {rule}"));
        let mut args = vec!["-t", "nat", "-D"];
        args.extend(&words);
        let _ = Command::new("iptables").args(&args).output();
    }
    // Records of runtimes that are gone.
    for entry in fs::read_dir(OWNERS).into_iter().flatten().flatten() {
        let id = entry.file_name().to_string_lossy().into_owned();
        if !owner_alive(&id) {
            release(&id);
        }
    }
}
