//! The mount namespace: a mount table of the container's own.
//!
//! `CLONE_NEWNS` (the first namespace Linux had, in 2002, hence the generic
//! name) gives the child a *copy* of the parent's mount table. Mounts made
//! afterwards in one copy do not appear in the other... unless the mounts
//! are **shared**. On every systemd host `/` is shared (`findmnt -o
//! TARGET,PROPAGATION /` says `shared`): then a mount made inside would
//! propagate back to the host, and the container's `/proc` would show up
//! there. So the first thing the child does is to make its whole copy
//! private, recursively (`MS_REC | MS_PRIVATE`). From then on, nothing the
//! container mounts leaks to the host, and it all goes away with the
//! namespace when the last process in it exits.
//!
//! Man pages: mount_namespaces(7) (propagation types), mount(2).

use colored::Color;
use nix::mount::MsFlags;
use nix::sched::CloneFlags;
use step01_chroot::Layer;
use step01_chroot::error::Result;
use step01_chroot::layer::ChildCx;
use step01_chroot::sys::Syscall;

/// The mount namespace layer. It must come before any layer that mounts.
#[derive(Debug, Default)]
pub struct MountNamespace;

impl Layer for MountNamespace {
    fn name(&self) -> &'static str {
        "mnt"
    }

    fn color(&self) -> Color {
        Color::Cyan
    }

    fn clone_flags(&self) -> CloneFlags {
        CloneFlags::CLONE_NEWNS
    }

    // ANCHOR: enter
    fn enter(&self, cx: &ChildCx<'_>) -> Result<()> {
        // Stop propagation in both directions, for every mount (MS_REC).
        cx.trace.sys(Syscall::Mount {
            source: None,
            target: "/".into(),
            fstype: None,
            flags: MsFlags::MS_REC | MsFlags::MS_PRIVATE,
            data: None,
        })?;
        Ok(())
    }
    // ANCHOR_END: enter
}
