//! Every process of a container, not only its first: `ps` (containerd's
//! `ctr task ps` asks for them as JSON) and `kill --all`.
//!
//! They are the processes in the container's cgroup (`cgroup.procs`, in
//! each hierarchy it is in: cgroups(7)). A pid read there may end, and be
//! reused by a process of the host, before we signal it; so each is
//! opened as a pidfd first (pidfd_open(2): from then on a signal reaches
//! that process or none), and signalled only if the process behind the
//! pidfd is still in the container's cgroup.

use std::collections::BTreeSet;
use std::path::Path;

use nix::sys::signal::Signal;

use super::container::{Dir, Saved};
use super::error::OciError;
use crate::pidfd::Process;

type Result<T, E = OciError> = std::result::Result<T, E>;

/// The pids in the container's cgroups now (as the host numbers them).
pub fn pids(saved: &Saved) -> BTreeSet<i32> {
    saved
        .cgroups
        .iter()
        .filter_map(|dir| std::fs::read_to_string(dir.join("cgroup.procs")).ok())
        .flat_map(|procs| {
            procs
                .lines()
                .filter_map(|p| p.parse().ok())
                .collect::<Vec<i32>>()
        })
        .collect()
}

/// Whether process `pid` is in one of the container's cgroups now.
fn inside(saved: &Saved, pid: i32) -> bool {
    let Ok(own) = crate::join::cgroup_dirs(pid) else {
        return false;
    };
    own.iter().any(|dir| saved.cgroups.contains(dir))
}

/// `ps [--format json|table] ID`: its pids, as a JSON array (what
/// containerd's shim reads) or one a line under a heading.
pub fn ps(root: &Path, id: &str, json: bool) -> Result<()> {
    let dir = Dir::of(root, id)?;
    let saved = dir.saved()?;
    let pids: Vec<i32> = pids(&saved).into_iter().collect();
    let text = match json {
        true => serde_json::to_string(&pids).expect("pids serialize"),
        false => std::iter::once("PID".to_string())
            .chain(pids.iter().map(i32::to_string))
            .collect::<Vec<_>>()
            .join("\n"),
    };
    step01_chroot::cli::println_or_not(format_args!("{text}"));
    Ok(())
}

/// `kill --all`: `signal` to every process in the container's cgroups.
/// Those that end meanwhile are skipped; none left is no error (as runc:
/// containerd sends it when the first process has ended, to end the rest).
pub fn kill_all(saved: &Saved, signal: Signal) -> Result<()> {
    for pid in pids(saved) {
        let Some(process) = crate::pidfd::start_time(pid).and_then(|s| Process::open(pid, s))
        else {
            continue; // it ended
        };
        if inside(saved, pid) {
            let _ = process.signal(signal);
        }
    }
    Ok(())
}
