//! `/dev` and `/sys` the way Docker sets them up.
//!
//! **`/dev`** is a fresh tmpfs, not the host's: the container gets only the
//! devices every program expects (null, zero, full, random, urandom, tty),
//! its own pseudo-terminals (`/dev/pts`, a new devpts instance, so it cannot
//! see or open the host's terminals), a `/dev/shm` for POSIX shared memory
//! and the usual links (`/dev/fd`, `stdin`, `ptmx`, ...). The device nodes
//! are bind mounts of the host's, because mknod(2) is not allowed in a user
//! namespace (and would let root inside make any device it likes).
//!
//! **`/sys`** is read-only: a container has no business reconfiguring the
//! host's devices. A sysfs may only be mounted by the owner of the network
//! namespace, and until step 06 the container shares the host's; so here
//! the mount fails (expected, and said so) and the host's `/sys` is
//! bind-mounted read-only instead, as rootless Podman does.
//!
//! Man pages: tmpfs(5), pts(4), sysfs(5).

use std::path::Path;

use colored::Color;
use nix::errno::Errno;
use nix::mount::MsFlags;
use step01_chroot::Layer;
use step01_chroot::error::Result;
use step01_chroot::layer::ChildCx;

use crate::mounts::{bind, mkdir, mount_fs, remount_read_only, symlink, touch};

/// The device nodes a container gets, as in Docker and the OCI spec.
pub const DEVICES: [&str; 6] = ["null", "zero", "full", "random", "urandom", "tty"];

/// The links every Linux userland expects in /dev.
pub const LINKS: [(&str, &str); 5] = [
    // A link's target is resolved when it is followed, from the root of the
    // process that follows it: inside the container, its own /proc.
    ("/proc/self/fd", "fd"),
    ("/proc/self/fd/0", "stdin"),
    ("/proc/self/fd/1", "stdout"),
    ("/proc/self/fd/2", "stderr"),
    // Each devpts instance has its own ptmx (mount(8)): opening /dev/ptmx
    // makes a terminal of the container's instance, not of the host's.
    ("pts/ptmx", "ptmx"),
];

/// The `/dev` layer.
#[derive(Debug, Default)]
pub struct Dev;

impl Layer for Dev {
    fn name(&self) -> &'static str {
        "dev"
    }

    fn color(&self) -> Color {
        Color::Yellow
    }

    // ANCHOR: dev
    fn enter(&self, cx: &ChildCx<'_>) -> Result<()> {
        let trace = &cx.trace;
        let dev = cx.spec.rootfs.join("dev");
        // A mount needs its target to exist, and an image need not have /dev.
        mkdir(trace, &dev, 0o755)?;
        // nosuid: no set-user-ID bit on it is honoured (mount(2)). A tmpfs
        // lives in memory: without size= it may grow to half of it (tmpfs(5)).
        let nosuid = MsFlags::MS_NOSUID;
        mount_fs(
            trace,
            "tmpfs",
            &dev,
            nosuid | MsFlags::MS_STRICTATIME,
            Some("mode=755,size=65536k"),
        )?;
        for device in DEVICES {
            let node = dev.join(device);
            // A file is bind-mounted onto a file: an empty one to land on.
            touch(trace, &node)?;
            bind(trace, &Path::new("/dev").join(device), &node, false)?;
        }
        let pts = dev.join("pts");
        mkdir(trace, &pts, 0o755)?;
        // newinstance: the container's own terminals, not the host's.
        // ptmxmode: a new instance's ptmx is mode 0000 otherwise (mount(8)).
        mount_fs(
            trace,
            "devpts",
            &pts,
            nosuid | MsFlags::MS_NOEXEC,
            Some("newinstance,ptmxmode=0666,mode=0620"),
        )?;
        let shm = dev.join("shm");
        // 1777, as /tmp: anyone may make a segment, only its owner remove it.
        mkdir(trace, &shm, 0o1777)?;
        // Data only: nothing on it runs, gains privileges or opens a device.
        let hardened = nosuid | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
        mount_fs(
            trace,
            "tmpfs",
            &shm,
            hardened,
            Some("mode=1777,size=65536k"),
        )?;
        for (target, link) in LINKS {
            symlink(trace, target, &dev.join(link))?;
        }
        Ok(())
    }
    // ANCHOR_END: dev
}

/// The mount points at or below `dir`, top first (from /proc/self/mountinfo).
/// In a dry run nothing is mounted yet: just `dir`.
fn mounts_below(dir: &Path) -> Vec<std::path::PathBuf> {
    let table = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let mut points: Vec<_> = table
        .lines()
        // Field 5 is the mount point, as seen from our root (proc(5)).
        .filter_map(|line| line.split(' ').nth(4))
        // mountinfo escapes spaces and the like as \040
        .map(|p| std::path::PathBuf::from(p.replace("\\040", " ")))
        // Whole components: <rootfs>/sysfoo is not below <rootfs>/sys.
        .filter(|p| p.starts_with(dir))
        .collect();
    // Mounts stacked on one point are listed once each; a remount by path
    // reaches the top one, the one that shows.
    points.dedup();
    if points.is_empty() {
        points.push(dir.to_path_buf());
    }
    points
}

/// The `/sys` layer.
#[derive(Debug, Default)]
pub struct Sys;

impl Layer for Sys {
    fn name(&self) -> &'static str {
        "sys"
    }

    fn color(&self) -> Color {
        Color::Yellow
    }

    // ANCHOR: sys
    fn enter(&self, cx: &ChildCx<'_>) -> Result<()> {
        let trace = &cx.trace;
        let sys = cx.spec.rootfs.join("sys");
        mkdir(trace, &sys, 0o555)?;
        // runc's flags for /sys: read-only, and nothing on it runs, gains
        // privileges or opens a device.
        let flags =
            MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
        match mount_fs(trace, "sysfs", &sys, flags, None) {
            Err(err) if err.errno == Errno::EPERM => {
                trace.note(
                    "expected: only the owner of the network namespace may mount sysfs, and the \
                     container still shares the host's (step 06 changes that); bind the host's \
                     /sys read-only instead",
                );
                // Recursive: in a user namespace the mounts below /sys are
                // locked to it, and a plain bind (which would uncover what
                // they hide) is refused with EINVAL.
                bind(trace, Path::new("/sys"), &sys, true)?;
                // Each of them read-only, not just the top one.
                for mount_point in mounts_below(&sys) {
                    remount_read_only(trace, &mount_point)?;
                }
            }
            other => other?,
        }
        Ok(())
    }
    // ANCHOR_END: sys
}

#[cfg(test)]
mod tests {
    use super::*;
    use step01_chroot::spec::Spec;
    use step01_chroot::trace::Trace;

    /// The container's /dev, as the child asks for it (recorded): a tmpfs,
    /// the host's few harmless devices bound in (mknod is not allowed in a
    /// user namespace), a devpts of its own, a hardened /dev/shm.
    #[test]
    fn dev_is_a_tmpfs_with_a_few_devices_and_its_own_ptys() {
        let (trace, kernel) = Trace::recording();
        let spec = Spec::new("t", "/r".into(), vec!["sh".into()], "/s".into());
        Dev.enter(&ChildCx::standalone(&spec, trace)).unwrap();
        let shown = kernel.shown();
        let expected = [
            r#"mkdir("/r/dev", 0755)"#.to_string(),
            r#"mount("tmpfs", "/r/dev", "tmpfs", MS_NOSUID | MS_STRICTATIME, "mode=755,size=65536k")"#
                .into(),
            r#"mount("/dev/null", "/r/dev/null", NULL, MS_BIND, NULL)"#.into(),
            r#"mount("devpts", "/r/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC, "newinstance,ptmxmode=0666,mode=0620")"#
                .into(),
            r#"mount("tmpfs", "/r/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=1777,size=65536k")"#
                .into(),
        ];
        let mut at = 0;
        for call in expected {
            let found = shown[at..].iter().position(|c| *c == call);
            at += found.unwrap_or_else(|| panic!("{call} (in order) in {shown:#?}")) + 1;
        }
        for device in DEVICES {
            let bind = format!(r#"mount("/dev/{device}", "/r/dev/{device}", NULL, MS_BIND, NULL)"#);
            assert!(shown.contains(&bind), "{bind}");
        }
    }

    /// /sys: the container's own sysfs, read-only (recorded: no EPERM here,
    /// so the bind fallback is not taken).
    #[test]
    fn sys_is_a_read_only_sysfs() {
        let (trace, kernel) = Trace::recording();
        let spec = Spec::new("t", "/r".into(), vec!["sh".into()], "/s".into());
        Sys.enter(&ChildCx::standalone(&spec, trace)).unwrap();
        assert_eq!(
            kernel.shown(),
            [
                r#"mkdir("/r/sys", 0555)"#,
                r#"mount("sysfs", "/r/sys", "sysfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL)"#,
            ]
        );
    }
}
