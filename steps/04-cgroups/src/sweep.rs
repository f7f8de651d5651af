//! Cgroups a killed run left, and the processes still in them.
//!
//! A cgroup says exactly which processes were a run's; killing them is the
//! one delicate part. Reading `cgroup.procs` and then calling kill(2) on
//! each pid races: the process may exit in between and its pid be given to
//! a new, unrelated process, which would get our SIGKILL. Two ways close
//! the gap:
//!
//! * cgroup v2 (Linux 5.14+) has `cgroup.kill`: writing `1` kills every
//!   process in the cgroup, in the kernel, with no pid in between.
//! * elsewhere (v1), a **pidfd** (pidfd_open(2)) refers to one process,
//!   not to a number: if that process has exited, a signal sent through it
//!   (pidfd_send_signal(2)) fails with ESRCH, even if its pid now belongs to
//!   another. So: open the pidfd first, *then* check that the pid is still
//!   in the cgroup (so the pidfd is the member's, not a newcomer's), then
//!   signal through it. The signal reaches that process or none. A member
//!   that forks while we go gets its children killed on the next pass.
//!
//! Who is swept: cgroups in the parent that are named like a run's id and
//! whose run is not alive by its lock (step 01's owner.rs). Runs of other
//! users keep their locks elsewhere, and their cgroups elsewhere too; a
//! `--cgroup-parent` shared with them would make theirs look dead here.

use std::fs;
use std::os::fd::{FromRawFd, OwnedFd};
use std::path::Path;
use std::time::Duration;

use step01_chroot::trace::Trace;

use step01_chroot::sys::Syscall;

/// Removes cgroups that a run which crashed (or was SIGKILLed) left in
/// `parent`: named like a container id, and the run of that id gone (its
/// lock is free: step 01's owner.rs). A process still in one outlived its
/// runtime (PR_SET_PDEATHSIG has a blind spot: the child's own change of
/// uid clears it, until it sets it again), and is killed first.
pub(crate) fn sweep_stale(trace: &Trace, parent: &Path, own_id: &str) {
    let Ok(entries) = fs::read_dir(parent) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let looks_like_ours = name.len() == 12 && name.chars().all(|c| c.is_ascii_hexdigit());
        if !looks_like_ours || name == own_id || !entry.path().is_dir() {
            continue;
        }
        if step01_chroot::owner::alive(&name) {
            continue;
        }
        let dir = entry.path();
        trace.note(format!(
            "removing a stale cgroup an earlier run left behind: {}",
            dir.display()
        ));
        kill_all_in(trace, &dir);
        let _ = trace.sys(Syscall::Rmdir(dir.clone()));
    }
}

fn members(dir: &Path) -> Vec<i32> {
    fs::read_to_string(dir.join("cgroup.procs"))
        .unwrap_or_default()
        .lines()
        .filter_map(|p| p.trim().parse().ok())
        .collect()
}

/// SIGKILLs every process in cgroup `dir`, narrated, and waits (a second
/// at most) until it is empty.
fn kill_all_in(trace: &Trace, dir: &Path) {
    if members(dir).is_empty() {
        return;
    }
    let how = match dir.join("cgroup.kill").exists() {
        true => "write(cgroup.kill, \"1\")",
        false => "pidfd_open(pid); pidfd_send_signal(SIGKILL) for each of cgroup.procs",
    };
    let _ = trace.call(format!("{how} /* outlived its runtime */"), || {
        kill_members(dir);
        Ok(())
    });
    if trace.dry_run() {
        return; // nothing was killed, nothing to wait for
    }
    // Again until it is empty (what forked meanwhile), a second at most.
    let deadline = std::time::Instant::now() + Duration::from_secs(1);
    while !members(dir).is_empty() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
        kill_members(dir);
    }
}

// ANCHOR: kill_members
/// SIGKILLs every process in cgroup `dir` (see the top of this file for
/// why not kill(2) by pid).
pub(crate) fn kill_members(dir: &Path) {
    // (Opened, not created: a cgroup without the file is v1, or older.)
    let kill_file = fs::OpenOptions::new()
        .write(true)
        .open(dir.join("cgroup.kill"));
    if kill_file
        .and_then(|mut f| std::io::Write::write_all(&mut f, b"1"))
        .is_ok()
    {
        return;
    }
    for pid in members(dir) {
        // SAFETY: pidfd_open(2) takes a pid and flags, returns a new fd or -1.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
        if fd < 0 {
            continue; // exited already
        }
        // SAFETY: a descriptor we just got, and own from here on.
        let pidfd = unsafe { OwnedFd::from_raw_fd(fd as i32) };
        // Pinned: is it still the member we read, not a newcomer to the pid?
        if !members(dir).contains(&pid) {
            continue;
        }
        use std::os::fd::AsRawFd;
        // SAFETY: pidfd_send_signal(2): our pidfd, a signal, no siginfo, no flags.
        unsafe {
            libc::syscall(
                libc::SYS_pidfd_send_signal,
                pidfd.as_raw_fd(),
                libc::SIGKILL,
                std::ptr::null::<libc::siginfo_t>(),
                0,
            )
        };
    }
}
// ANCHOR_END: kill_members

#[cfg(test)]
mod tests {
    use super::*;

    /// A fake cgroup: a directory whose cgroup.procs names a child of ours
    /// and a pid that does not exist. The child is killed; nothing else is
    /// touched (no root needed: the child is ours).
    #[test]
    fn members_are_killed_through_pidfds() {
        let dir = tempfile::tempdir().unwrap();
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        let procs = format!("{}\n{}\n", child.id(), i32::MAX);
        fs::write(dir.path().join("cgroup.procs"), procs).unwrap();
        kill_members(dir.path());
        let status = child.wait().unwrap();
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(status.signal(), Some(libc::SIGKILL));
    }
}
