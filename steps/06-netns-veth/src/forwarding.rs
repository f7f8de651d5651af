//! `net.ipv4.ip_forward`: the one host setting the bridge needs that
//! belongs to the whole network namespace, and how `--cleanup` puts it
//! back.
//!
//! A bridged container's packets cross from the bridge to the host's other
//! interfaces only if the namespace forwards (`ip_forward = 1`). The first
//! run that turns it on records that it was off, and `--cleanup` turns it
//! off again (bridge.rs). The record must name *this* namespace:
//!
//! ```text
//! /run/container-workshop/ip_forward-was-0-<inode of the netns>   content: its cookie
//! ```
//!
//! The inode names it on the file system, but the kernel gives a dead
//! namespace's inode number to a new one; the **cookie**
//! (`SO_NETNS_COOKIE`, socket(7)) is a 64-bit number never given twice
//! while the machine runs. A record whose cookie is not ours is a dead
//! namespace's, found under a recycled inode, and says nothing about us.

use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use step01_chroot::error::Result;
use step01_chroot::trace::Trace;

/// The namespace's switch for routing between interfaces.
pub const FORWARDING: &str = "/proc/sys/net/ipv4/ip_forward";

const RECORD: &str = "ip_forward-was-0-";

/// This namespace's record file.
fn record() -> PathBuf {
    use std::os::unix::fs::MetadataExt;
    let netns = std::fs::metadata("/proc/self/ns/net").map_or(0, |m| m.ino());
    step01_chroot::owner::shared_dir().join(format!("{RECORD}{netns}"))
}

/// This namespace's cookie, asked of a socket made in it (`None` before
/// Linux 5.14, which has no cookies: then the inode alone must do).
fn cookie() -> Option<u64> {
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").ok()?;
    let mut cookie = 0u64;
    let mut len = std::mem::size_of::<u64>() as libc::socklen_t;
    // SAFETY: getsockopt(2) writes at most `len` bytes into `cookie`, which
    // is that big, and sets `len`; the socket is ours and open.
    let done = unsafe {
        libc::getsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_NETNS_COOKIE,
            (&raw mut cookie).cast(),
            &mut len,
        )
    };
    (done == 0).then_some(cookie)
}

/// Records that this namespace's `ip_forward` was 0 before a run of ours.
pub fn record_was_off() {
    let _ = std::fs::create_dir_all(step01_chroot::owner::shared_dir());
    let text = cookie().map_or(String::new(), |c| c.to_string());
    let _ = std::fs::write(record(), text + "\n");
}

// ANCHOR: restore
/// `--cleanup`: `ip_forward` back to 0, if a run of ours turned it on in
/// this very namespace.
pub fn restore(trace: &Trace) -> Result<()> {
    let record = record();
    if trace.dry_run() {
        return Ok(());
    }
    let Ok(text) = std::fs::read_to_string(&record) else {
        return Ok(());
    };
    let ours = match (text.trim().parse::<u64>().ok(), cookie()) {
        (Some(recorded), Some(now)) => recorded == now,
        _ => true, // a kernel without cookies: the inode is all we have
    };
    if ours {
        trace.note(format!("putting a host setting back: {FORWARDING} = 0"));
        trace.write_file(FORWARDING, "0")?;
    }
    let _ = std::fs::remove_file(record);
    Ok(())
}
// ANCHOR_END: restore

/// Removes the records of network namespaces that are gone (deleted
/// without a `--cleanup`): there is nothing left to put back. A namespace
/// lives while a process is in it or a file is bound to it (`ip netns
/// add`'s /run/netns/NAME: an nsfs mount); either names its inode. (One
/// held only by an open descriptor, or bound in another mount namespace,
/// is not seen: its record goes, and `--cleanup` there leaves ip_forward
/// on. That errs towards the containers' traffic, not towards the host as
/// it was.)
pub fn sweep_records() {
    remove_dead_records(&step01_chroot::owner::shared_dir(), &record(), live_netns);
}

/// Removes the records in `dir`, but `ours`, whose namespace is not among
/// `live()` (asked only if there is another record: it reads all of /proc).
fn remove_dead_records(dir: &Path, ours: &Path, live: impl FnOnce() -> Vec<u64>) {
    let records: Vec<(PathBuf, u64)> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            Some((e.path(), name.strip_prefix(RECORD)?.parse().ok()?))
        })
        .filter(|(path, _)| path != ours)
        .collect();
    if records.is_empty() {
        return;
    }
    let live = live();
    for (record, netns) in records {
        if !live.contains(&netns) {
            let _ = std::fs::remove_file(record);
        }
    }
}

/// The inodes of the network namespaces a process is in or a file is
/// bound to (in our mount namespace).
fn live_netns() -> Vec<u64> {
    use std::os::unix::fs::MetadataExt;
    let mut live: Vec<u64> = std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| std::fs::metadata(e.path().join("ns/net")).ok())
        .map(|m| m.ino())
        .collect();
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    live.extend(bound_netns(&mounts));
    live
}

/// The network namespaces bound to files, from a mountinfo table: an nsfs
/// mount's root (its fourth field) is `net:[INODE]` (proc_pid_mountinfo(5)).
fn bound_netns(mountinfo: &str) -> impl Iterator<Item = u64> + '_ {
    mountinfo.lines().filter_map(|line| {
        let root = line.split(' ').nth(3)?;
        root.strip_prefix("net:[")?
            .strip_suffix(']')?
            .parse::<u64>()
            .ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespaces_bound_to_files_are_read_from_mountinfo() {
        let table = "\
            612 29 0:4 net:[4026532999] /run/netns/wsk-a rw shared:301 - nsfs nsfs rw\n\
            613 29 0:4 mnt:[4026533001] /run/mnt rw shared:302 - nsfs nsfs rw\n\
            25 1 259:2 / / rw,relatime shared:1 - ext4 /dev/root rw\n";
        assert_eq!(bound_netns(table).collect::<Vec<_>>(), [4026532999]);
    }

    #[test]
    fn our_namespace_is_live_and_has_a_cookie() {
        use std::os::unix::fs::MetadataExt;
        let ours = std::fs::metadata("/proc/self/ns/net").unwrap().ino();
        assert!(live_netns().contains(&ours), "our own process is in it");
        assert!(cookie().is_some_and(|c| c != 0), "Linux 5.14+ has cookies");
    }

    #[test]
    fn records_of_namespaces_that_are_gone_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        let record = |ino: u64| dir.path().join(format!("{RECORD}{ino}"));
        for ino in [1, 2, 3] {
            std::fs::write(record(ino), "0\n").unwrap();
        }
        std::fs::write(dir.path().join("runs"), "").unwrap();
        remove_dead_records(dir.path(), &record(3), || vec![2]);
        assert!(!record(1).exists(), "its namespace is gone");
        assert!(record(2).exists(), "live");
        assert!(record(3).exists(), "ours");
        assert!(dir.path().join("runs").exists(), "not a record");
    }
}
