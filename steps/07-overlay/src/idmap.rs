//! The image's layers, seen through the container's id maps.
//!
//! Layers are unpacked as the tarball says: `/etc` belongs to host uid 0.
//! Container root is not host root (step 03's `remap.rs`), so without help
//! the image would read as owned by nobody and `echo >> /etc/hosts` would
//! fail inside. Step 03's idmapped mounts fix the view without touching the
//! files: each lower layer is mounted idmapped for the overlay, and the
//! writable layer is given to container root's host ids, so copy-ups and
//! new files belong to it.
//!
//! Those idmapped views are attached at `<state>/idmapped/<name>/<n>` just
//! long enough to mount the overlay (overlayfs keeps private copies of its
//! layers), then detached while the child sets itself up: each unmount
//! waits for an RCU grace period (a few hundred microseconds), and the
//! container's start need not wait for it. They live outside the container's directory on
//! purpose: a recursive removal of that directory must never walk into an
//! image layer through a mount.

use std::ffi::OsStr;
use std::fs;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::mount::{MntFlags, umount2};
use step01_chroot::error::{Error, Result};
use step01_chroot::sys::Syscall;
use step01_chroot::trace::Trace;
use step03_user_ns::idmap::IdMap;
use step03_user_ns::idmapped::{UsernsFd, idmapped_bind};

/// A lower layer that cannot be idmapped.
#[derive(Debug, thiserror::Error)]
#[error(
    "{layer}: its file system cannot be idmapped ({errno})\n  \
     hint: keep the rootfs and --state-dir on ext4, xfs, btrfs or tmpfs; or pass --userns=host \
     (container root is then host root: unsafe)"
)]
pub struct NotIdmappable {
    layer: String,
    errno: Errno,
}

/// `<state>/idmapped/<name>`: where a container's idmapped lowers are
/// attached for a moment.
pub fn mount_dir(state_dir: &Path, name: &OsStr) -> PathBuf {
    state_dir.join("idmapped").join(name)
}

/// The lower layers as the overlay mounts them, and the idmapped views
/// among them, detached again on drop.
#[derive(Debug)]
pub struct IdmappedLowers {
    paths: Vec<PathBuf>,
    dir: Option<PathBuf>,
    owner: Option<(u32, u32)>,
}

impl IdmappedLowers {
    /// The lowers as they are (container root is host root, or rootless).
    pub fn none(lowers: &[PathBuf]) -> Self {
        IdmappedLowers {
            paths: lowers.to_vec(),
            dir: None,
            owner: None,
        }
    }

    // ANCHOR: attach
    /// Attaches an idmapped view of each lower, with the maps `uid`, `gid`.
    pub fn attach(
        trace: &Trace,
        state_dir: &Path,
        name: &str,
        lowers: &[PathBuf],
        uid: &IdMap,
        gid: &IdMap,
    ) -> Result<Self> {
        let owner = uid.outside(0).zip(gid.outside(0));
        let dir = mount_dir(state_dir, name.as_ref());
        if trace.dry_run() {
            trace.announce(format!(
                "idmap each lower layer with the container's maps, under {}",
                dir.display()
            ));
            return Ok(IdmappedLowers {
                paths: lowers.to_vec(),
                dir: None,
                owner,
            });
        }
        let io = |source| Error::Io {
            what: "creating",
            path: dir.clone(),
            source,
        };
        step01_chroot::state::private_dir(state_dir, "idmapped").map_err(io)?;
        fs::create_dir_all(&dir).map_err(io)?;
        let mut attached = IdmappedLowers {
            paths: Vec::new(),
            dir: Some(dir.clone()),
            owner,
        };
        trace.note("a user namespace with the container's maps, held by a descriptor");
        let userns = UsernsFd::new(uid, gid).map_err(|errno| step01_chroot::error::SysError {
            call: "a helper in a new user namespace".into(),
            errno,
        })?;
        for (n, lower) in lowers.iter().enumerate() {
            let target = dir.join(n.to_string());
            fs::create_dir(&target).map_err(io)?;
            let call = format!(
                "open_tree({lower:?}, OPEN_TREE_CLONE); \
                 mount_setattr(MOUNT_ATTR_IDMAP); move_mount(→ {target:?})"
            );
            match trace.call(call, || idmapped_bind(&userns, lower, &target)) {
                Ok(()) => attached.paths.push(target),
                Err(err) => {
                    let _ = fs::remove_dir(&target);
                    return Err(match err.errno {
                        Errno::EINVAL | Errno::EOPNOTSUPP => Error::layer(NotIdmappable {
                            layer: lower.display().to_string(),
                            errno: err.errno,
                        }),
                        _ => err.into(),
                    });
                }
            }
        }
        Ok(attached)
    }
    // ANCHOR_END: attach

    /// The directories to give overlayfs as its lowers, bottom first.
    pub fn paths(&self) -> &[PathBuf] {
        &self.paths
    }

    /// The host uid and gid container root has, when the lowers are
    /// idmapped: the writable layer must belong to them.
    pub fn upper_owner(&self) -> Option<(u32, u32)> {
        self.owner
    }
}

impl IdmappedLowers {
    /// Detaches the views, narrated (on drop, silently).
    pub fn detach(mut self, trace: &Trace) {
        if let Some(dir) = self.dir.take() {
            for view in &self.paths {
                let _ = trace.sys(Syscall::Umount {
                    target: view.clone(),
                    flags: MntFlags::MNT_DETACH,
                });
            }
            detach_all(&dir);
        }
    }
}

impl Drop for IdmappedLowers {
    fn drop(&mut self) {
        if let Some(dir) = self.dir.take() {
            detach_all(&dir);
        }
    }
}

/// Detaches and removes every view under `dir`, then `dir`. Only ever
/// rmdir: a view that will not detach keeps its directory, and nothing
/// under an image layer is ever removed.
fn detach_all(dir: &Path) {
    for entry in fs::read_dir(dir).into_iter().flatten().flatten() {
        let view = entry.path();
        let _ = umount2(&view, MntFlags::MNT_DETACH);
        let _ = fs::remove_dir(&view);
    }
    let _ = fs::remove_dir(dir);
}

/// What a run killed between attaching and detaching left, for the
/// container `name` whose runtime is gone.
pub fn sweep(trace: &Trace, state_dir: &Path, name: &OsStr) {
    let dir = mount_dir(state_dir, name);
    if dir.exists() {
        trace.note(format!(
            "detaching idmapped layers a killed run left: {}",
            dir.display()
        ));
        detach_all(&dir);
    }
}
