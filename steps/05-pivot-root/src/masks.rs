//! Hardening after the root is in place: masked and read-only paths, and
//! `--read-only`.
//!
//! `/proc` and `/sys` expose the host's kernel: `/proc/kcore` is its memory,
//! `/proc/sysrq-trigger` can reboot it, `/proc/sys` changes its settings.
//! Namespaces do not cover all of it. So, like runc's defaults:
//!
//! * **masked** paths are hidden: a file gets `/dev/null` bind-mounted over
//!   it (it reads as empty), a directory an empty read-only tmpfs;
//! * **read-only** paths are bind-mounted onto themselves and remounted
//!   read-only;
//! * `--read-only` makes the container's `/` itself read-only.

use std::path::Path;

use colored::Color;
use nix::mount::MsFlags;
use step01_chroot::Layer;
use step01_chroot::error::Result;
use step01_chroot::layer::ChildCx;

use crate::mounts::{bind, mount_fs, remount_read_only};

// ANCHOR: paths
/// Hidden from the container (runc's default list).
pub const MASKED: [&str; 11] = [
    "/proc/acpi",
    "/proc/asound",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
];

/// Visible, but read-only (runc's default list).
pub const READ_ONLY: [&str; 5] = [
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];
// ANCHOR_END: paths

/// The hardening layer. Put it after the layer that mounts `/proc`.
#[derive(Debug, Default)]
pub struct Masks {
    /// `--read-only`: the root file system too.
    pub read_only_root: bool,
}

impl Layer for Masks {
    fn name(&self) -> &'static str {
        "masks"
    }

    fn color(&self) -> Color {
        Color::Red
    }

    fn enter(&self, cx: &ChildCx<'_>) -> Result<()> {
        let trace = &cx.trace;
        // After the pivot: these paths are in the container's own /proc
        // and /sys, not the host's.
        for path in MASKED.map(Path::new) {
            // Only what exists on this kernel can be hidden (and needs to be).
            if !trace.dry_run() && !path.exists() {
                continue;
            }
            // A directory is covered by a directory, a file by a file: a
            // new tmpfs is empty, /dev/null reads as empty.
            if path.is_dir() {
                mount_fs(trace, "tmpfs", path, MsFlags::MS_RDONLY, Some("size=0"))?;
            } else {
                bind(trace, Path::new("/dev/null"), path, false)?;
            }
        }
        for path in READ_ONLY.map(Path::new) {
            if !trace.dry_run() && !path.exists() {
                continue;
            }
            // Bound onto itself first, it is a mount of its own: the remount
            // then makes it read-only, not the whole of /proc.
            bind(trace, path, path, true)?;
            remount_read_only(trace, path)?;
        }
        if self.read_only_root {
            // The bound rootfs alone: /dev, /proc, /sys and the volumes are
            // mounts of their own and keep their modes.
            remount_read_only(trace, Path::new("/"))?;
            // Step 03's /tmp of its own is a mount apart (steps 03 to 06).
            let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
            // Only if it is one: a remount of a path that is no mount point
            // fails with EINVAL (mount(2)). Field 5, seen from our root.
            if mounts.lines().any(|l| l.split(' ').nth(4) == Some("/tmp")) {
                remount_read_only(trace, Path::new("/tmp"))?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use step01_chroot::spec::Spec;
    use step01_chroot::trace::Trace;

    /// What the child asks of the kernel for the masks, recorded: every
    /// masked path covered (an empty read-only tmpfs over a directory,
    /// /dev/null over anything else), every read-only one bound onto itself
    /// and remounted read-only, and with --read-only, `/` too. (A recording
    /// is not the real kernel: like a dry run, it plans every path, whether
    /// this host's /proc has it or not.)
    #[test]
    fn every_masked_path_is_covered() {
        let (trace, kernel) = Trace::recording();
        let spec = Spec::new("t", "/r".into(), vec!["sh".into()], "/s".into());
        let masks = Masks {
            read_only_root: true,
        };
        masks.enter(&ChildCx::standalone(&spec, trace)).unwrap();
        let shown = kernel.shown();
        for path in MASKED {
            let tmpfs = format!(r#"mount("tmpfs", "{path}", "tmpfs", MS_RDONLY, "size=0")"#);
            let null = format!(r#"mount("/dev/null", "{path}", NULL, MS_BIND, NULL)"#);
            let covered = shown.contains(&tmpfs) || shown.contains(&null);
            assert!(covered, "{path} covered: {shown:#?}");
        }
        for path in READ_ONLY {
            let bind = format!(r#"mount("{path}", "{path}", NULL, MS_BIND | MS_REC, NULL)"#);
            let at = shown.iter().position(|c| *c == bind).expect("bound");
            let read_only = format!(r#"mount(NULL, "{path}", NULL, MS_RDONLY"#);
            assert!(shown[at + 1].starts_with(&read_only), "{shown:#?}");
        }
        let root = r#"mount(NULL, "/", NULL, MS_RDONLY"#;
        let root = shown.iter().filter(|c| c.starts_with(root));
        assert_eq!(root.count(), 1, "--read-only: / remounted read-only");
    }
}
