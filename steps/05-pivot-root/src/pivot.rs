//! Step 05's concept: `pivot_root(2)`, a new root that cannot be left.
//!
//! `chroot` only changes one pointer of one process; the old root stays
//! mounted and reachable (step 01's escape). `pivot_root` works on the
//! *mount namespace*: it makes the new root the namespace's `/` and moves
//! the old root to a place we can then unmount. Once it is unmounted, no
//! path leads to the host's files, whatever `..` or `chroot` one tries.
//!
//! Its rules (pivot_root(2)):
//!
//! * `new_root` must be a **mount point**. A directory inside the host's
//!   root file system is not one, so we bind-mount the rootfs onto itself
//!   first ([`BindRoot`]). Without that, pivot_root fails with EINVAL:
//!   `--pivot-without-bind` shows that, on purpose;
//! * `new_root` and the current root must not be on a shared mount (step 02
//!   made the whole tree private, for this reason too);
//! * `put_old` must be at or under `new_root`. The classic sequence makes a
//!   directory for it, pivots, unmounts it and removes it. We use the trick
//!   runc uses, `pivot_root(".", ".")`: after `chdir(new_root)` the old root
//!   is stacked on top of the new one at `.`, and `umount2(".",
//!   MNT_DETACH)` takes it away. No directory is needed, so it works on a
//!   read-only rootfs too.
//!
//! Between [`BindRoot`] and [`PivotRoot`] the other layers of this step
//! mount `/dev`, `/sys`, `/etc` files and volumes *under* the bound rootfs:
//! they travel along into the new root.

use colored::Color;
use nix::errno::Errno;
use nix::mount::MntFlags;
use step01_chroot::Layer;
use step01_chroot::chroot::Chroot;
use step01_chroot::error::{Error, Result};
use step01_chroot::layer::{ChildCx, Plan};
use step01_chroot::sys::Syscall;

use crate::mounts::bind;

/// The first half: the rootfs becomes a mount point of its own.
#[derive(Debug, Default)]
pub struct BindRoot;

impl Layer for BindRoot {
    fn name(&self) -> &'static str {
        "rootfs"
    }

    fn color(&self) -> Color {
        Color::Green
    }

    /// The same checks as chroot: the rootfs exists and is a directory.
    fn check(&self, plan: &Plan<'_>) -> Result<()> {
        Chroot.check(plan)
    }

    // ANCHOR: bind_root
    fn enter(&self, cx: &ChildCx<'_>) -> Result<()> {
        let rootfs = &cx.spec.rootfs;
        // MS_REC: mounts already under the rootfs come along.
        bind(&cx.trace, rootfs, rootfs, true)?;
        Ok(())
    }
    // ANCHOR_END: bind_root
}

/// The second half: pivot, and unmount the old root.
#[derive(Debug, Default)]
pub struct PivotRoot;

/// pivot_root refused the rootfs.
#[derive(Debug, thiserror::Error)]
#[error(
    "pivot_root(\".\", \".\") in {rootfs}: Invalid argument\n  \
     expected if you passed --pivot-without-bind: the new root must be a mount point, and a plain \
     directory is not one; without that flag, check that the rootfs is not on a shared mount"
)]
pub struct NotAMountPoint {
    rootfs: String,
}

impl Layer for PivotRoot {
    fn name(&self) -> &'static str {
        "pivot"
    }

    fn color(&self) -> Color {
        Color::BrightGreen
    }

    // ANCHOR: pivot
    fn enter(&self, cx: &ChildCx<'_>) -> Result<()> {
        let rootfs = &cx.spec.rootfs;
        let trace = &cx.trace;
        // EXERCISE 05: swap the roots with pivot_root(2), then cut the old one off
        // HINT: the rootfs is already a mount point (BindRoot made it one): go into it first.
        // HINT: pivot_root(".", ".") stacks the old root on the new one; one umount2 takes it away.
        // HINT: an EINVAL from pivot_root means the rootfs is not a mount point: return NotAMountPoint.
        // CHECK: --lib pivot::tests::the_pivot_sequence | the child calls chdir, pivot_root, umount2, chdir, in order
        // CHECK: --test pivot_root the_chroot_escape_is_contained | the chroot escape no longer reaches the host
        // CHECK: --test pivot_root no_path_leads_to_the_hosts_files | no path in the container leads to the host's files
        trace.sys(Syscall::Chdir(rootfs.clone()))?;
        // The new root becomes "/", the old one is stacked on top of it at ".".
        let pivot = Syscall::PivotRoot {
            new_root: ".".into(),
            put_old: ".".into(),
        };
        match trace.sys(pivot) {
            Err(err) if err.errno == Errno::EINVAL => {
                return Err(Error::layer(NotAMountPoint {
                    rootfs: rootfs.display().to_string(),
                }));
            }
            other => other?,
        }
        // Detach the old root: from here on no path leads to the host's files.
        // MNT_DETACH: the old root has the host's mounts below it, which keep
        // it busy; a lazy unmount takes it and all of them away (umount2(2)).
        trace.sys(Syscall::Umount {
            target: ".".into(),
            flags: MntFlags::MNT_DETACH,
        })?;
        // pivot_root(2) advises a chdir("/") after it: it moves the caller's
        // working directory only if that was on the old root.
        trace.sys(Syscall::Chdir("/".into()))?;
        Ok(())
        // END EXERCISE
    }
    // ANCHOR_END: pivot
}

#[cfg(test)]
mod tests {
    use super::*;
    use step01_chroot::spec::Spec;
    use step01_chroot::trace::Trace;

    /// The pivot_root sequence, as the child asks the kernel for it
    /// (recorded: no root, no namespace needed).
    #[test]
    fn the_pivot_sequence() {
        let (trace, kernel) = Trace::recording();
        let spec = Spec::new("t", "/srv/rootfs".into(), vec!["sh".into()], "/s".into());
        PivotRoot.enter(&ChildCx::standalone(&spec, trace)).unwrap();
        assert_eq!(
            kernel.shown(),
            [
                r#"chdir("/srv/rootfs")"#,
                r#"pivot_root(".", ".")"#,
                r#"umount2(".", MNT_DETACH)"#,
                r#"chdir("/")"#,
            ]
        );
    }
}
