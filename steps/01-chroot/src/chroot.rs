//! Step 01's concept: `chroot(2)`, a process with its own root directory.
//!
//! Every process has a root directory: the directory that `/` means in the
//! paths it uses. `chroot(path)` changes it for the calling process (and the
//! children it makes afterwards). After `chroot("rootfs")`, opening
//! `/bin/sh` opens `rootfs/bin/sh`: the process sees the rootfs's files
//! instead of the host's. That is the file-system half of a container image.
//!
//! What chroot does **not** do, and why the following steps exist:
//!
//! * it isolates nothing else: processes, hostname, network and users are
//!   the host's (mount a `/proc` inside and `ps` lists every host process);
//! * it is not a security boundary: a root process can leave it (see the
//!   escape in the book, chapter 1). Step 05 replaces it with `pivot_root`.
//!
//! Man pages: chroot(2), chdir(2), and the "chroot" section of
//! namespaces(7) for what comes next.

use std::path::Path;

use colored::Color;
use nix::sched::CloneFlags;
use nix::unistd::Uid;

use crate::error::{Error, Result};
use crate::layer::{ChildCx, Layer, Plan};
use crate::sys::Syscall;

/// The chroot layer: the container's `/` is the spec's rootfs.
///
/// It reads `spec.rootfs` when the child enters it, not when the layer is
/// made, so a layer before it may change the rootfs (step 07's overlay).
#[derive(Debug, Default)]
pub struct Chroot;

/// Refuses a `--rootfs` that cannot be a root filesystem, saying why: it
/// is missing, not a directory, empty, or its path cannot be followed.
pub fn check_rootfs(rootfs: &Path) -> Result<()> {
    let unusable = |source| Error::RootfsUnusable {
        path: rootfs.to_path_buf(),
        source,
    };
    let mut entries = match std::fs::read_dir(rootfs) {
        Ok(entries) => entries,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            return Err(Error::RootfsMissing(rootfs.to_path_buf()));
        }
        Err(err) if err.kind() == std::io::ErrorKind::NotADirectory => {
            return Err(Error::RootfsNotDir(rootfs.to_path_buf()));
        }
        Err(err) => return Err(unusable(err)),
    };
    match entries.next() {
        None => Err(Error::RootfsEmpty(rootfs.to_path_buf())),
        Some(Err(err)) => Err(unusable(err)),
        Some(Ok(_)) => Ok(()),
    }
}

impl Layer for Chroot {
    fn name(&self) -> &'static str {
        "chroot"
    }

    fn color(&self) -> Color {
        Color::Green
    }

    fn check(&self, plan: &Plan<'_>) -> Result<()> {
        check_rootfs(&plan.spec.rootfs)?;
        // chroot(2) needs CAP_SYS_CHROOT. Root has it; so does any process
        // in a user namespace of its own (step 03), which is why the check
        // looks at the clone flags instead of just asking "are we root?".
        let own_user_ns = plan.clone_flags.contains(CloneFlags::CLONE_NEWUSER);
        if !plan.dry_run && !own_user_ns && !Uid::effective().is_root() {
            return Err(Error::NeedsRoot {
                what: "chroot(2)",
                why: "changing the root directory requires CAP_SYS_CHROOT",
                program: plan.spec.program.clone(),
            });
        }
        Ok(())
    }

    // ANCHOR: enter
    fn enter(&self, cx: &ChildCx<'_>) -> Result<()> {
        // EXERCISE 01: make the rootfs the container's `/`, and stand in it
        // HINT: two calls, each through cx.trace.sys(Syscall::...) (sys.rs lists them).
        // HINT: the rootfs is cx.spec.rootfs; chroot(2) does not change the working directory.
        // CHECK: --lib chroot::tests::enter_is_chroot_then_chdir | the child calls chroot(rootfs), then chdir("/")
        // CHECK: --test chroot ls_lists_the_rootfs | `ls /` in the container lists the rootfs
        cx.trace.sys(Syscall::Chroot(cx.spec.rootfs.clone()))?;
        // chroot() changes what `/` means but not the current directory,
        // which still lies outside the new root. Without this chdir, `..`
        // from here walks up the host's tree: the chroot escape.
        cx.trace.sys(Syscall::Chdir("/".into()))?;
        Ok(())
        // END EXERCISE
    }
    // ANCHOR_END: enter
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::Spec;
    use crate::trace::Trace;

    #[test]
    fn enter_is_chroot_then_chdir() {
        let (trace, kernel) = Trace::recording();
        let spec = Spec::new("t", "/srv/rootfs".into(), vec!["sh".into()], "/s".into());
        Chroot.enter(&ChildCx::standalone(&spec, trace)).unwrap();
        assert_eq!(
            kernel.shown(),
            [r#"chroot("/srv/rootfs")"#, r#"chdir("/")"#]
        );
    }
}
