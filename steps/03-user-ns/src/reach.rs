//! How container root, which is not host root, reaches its rootfs.
//!
//! The child opens the rootfs itself (chroot, or step 05's bind and
//! pivot_root), after it has become container root (step 03's `enter`
//! comes first): it passes each directory on the way as that host user.
//! Making the rootfs's path open to it would open it to every host user,
//! and the rootfs holds set-uid binaries (the image's, or ones a container
//! made in its `/tmp`). So the parent, still host root, bind-mounts the
//! rootfs at `<state>/roots/<id>/rootfs`, inside a directory only container
//! root's group may pass (`state.rs` in step 01), and the container takes
//! it from there. The rootfs's own path may then be private, even under
//! `/root` (mode 0700).
//!
//! The bind is **read-only**. Steps 03 to 06 share one rootfs: a container
//! that could write it could leave a set-uid program in its `/tmp`, which
//! any host user who reaches the rootfs could then run as container root's
//! host id (and so reach every container's state), or change what the next
//! container runs. Each container gets a `/tmp` of its own instead, a
//! directory next to the bind, bound over the image's; a writable root of
//! its own comes with step 07's overlay. The child's copy of a read-only
//! mount made by the parent is *locked* read-only (see step 05's volumes).
//!
//! The binds stay until the container exits, then `cleanup` removes them
//! (a killed run's, the next run's sweep).

use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use colored::Color;
use nix::errno::Errno;
use nix::fcntl::{OFlag, OpenHow, ResolveFlag, openat2};
use nix::mount::{MntFlags, MsFlags, umount2};
use nix::sys::stat::Mode;
use step01_chroot::ExitStatus;
use step01_chroot::Layer;
use step01_chroot::error::{Error, Result};
use step01_chroot::layer::ParentCx;
use step01_chroot::sys::Syscall;
use step01_chroot::trace::Trace;

use crate::idmapped::{read_only, set_attributes};

/// A directory on the way that container root may not pass.
#[derive(Debug, thiserror::Error)]
#[error(
    "{flag} {path}: container root (host uid {uid}) cannot reach it: {blocker} is mode {mode:04o}\n  \
     hint: choose a --state-dir whose parents others may pass through \
     (the default, /var/lib/container-workshop, is one)"
)]
pub struct Unreachable {
    flag: &'static str,
    path: PathBuf,
    uid: u32,
    blocker: PathBuf,
    mode: u32,
}

// ANCHOR: reachable
/// Checks that `uid`/`gid` may search (`x`) every existing directory from
/// `/` down to `path` (a part that does not exist yet ends the walk).
pub fn check(flag: &'static str, path: &Path, (uid, gid): (u32, u32)) -> Result<(), Unreachable> {
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let mut dirs: Vec<&Path> = absolute.ancestors().skip(1).collect();
    dirs.reverse();
    if absolute.is_dir() {
        dirs.push(&absolute);
    }
    for dir in dirs {
        let Ok(meta) = std::fs::metadata(dir) else {
            break;
        };
        let mode = meta.mode() & 0o7777;
        let bit = if meta.uid() == uid {
            0o100
        } else if meta.gid() == gid {
            0o010
        } else {
            0o001
        };
        if mode & bit == 0 {
            return Err(Unreachable {
                flag,
                path: path.into(),
                uid,
                blocker: dir.into(),
                mode,
            });
        }
    }
    Ok(())
}
// ANCHOR_END: reachable

/// The layer: the rootfs, bound where container root may reach it.
#[derive(Debug, Default)]
pub struct RootfsBind {
    /// `<state>/roots/<id>`, while it is made.
    made: Option<PathBuf>,
}

/// `name` in `dir`, opened as a directory (O_PATH) with no symlink on the
/// way (openat2(2)); `None` if there is none, or in a dry run.
fn open_inside(trace: &Trace, dir: &Path, name: &str) -> Result<Option<OwnedFd>> {
    let shown = format!("openat2({dir:?}, {name:?}, RESOLVE_IN_ROOT | RESOLVE_NO_SYMLINKS)");
    let opened = trace.call(shown, || {
        let root = nix::fcntl::open(
            dir,
            OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )?;
        let how = OpenHow::new()
            .flags(OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC)
            .resolve(ResolveFlag::RESOLVE_IN_ROOT | ResolveFlag::RESOLVE_NO_SYMLINKS);
        match openat2(&root, name, how) {
            Ok(fd) => Ok(Some(fd)),
            Err(Errno::ENOENT | Errno::ENOTDIR | Errno::ELOOP) => Ok(None),
            Err(e) => Err(e),
        }
    })?;
    Ok(opened)
}

/// A bind mount, narrated.
fn bind(trace: &Trace, source: &Path, target: &Path, more: MsFlags) -> Result<()> {
    trace.sys(Syscall::Mount {
        source: Some(source.into()),
        target: target.into(),
        fstype: None,
        flags: MsFlags::MS_BIND | more,
        data: None,
    })?;
    Ok(())
}

/// The directory the container's rootfs shows: `--rootfs` itself, when
/// `spec.rootfs` is this layer's bind of it (read-only once the container
/// runs), for what must change the image's files (step 05's mount points).
pub fn image_rootfs(spec: &step01_chroot::spec::Spec) -> PathBuf {
    let dir = bind_dir(&spec.state_dir, &spec.id);
    if spec.rootfs == dir.join("rootfs")
        && let Ok(source) = std::fs::read(dir.join("source"))
    {
        return PathBuf::from(
            <std::ffi::OsString as std::os::unix::ffi::OsStringExt>::from_vec(source),
        );
    }
    spec.rootfs.clone()
}

/// Where container `id`'s rootfs is bound: `<state>/roots/<id>/rootfs`.
fn bind_dir(state_dir: &Path, id: &str) -> PathBuf {
    state_dir.join("roots").join(id)
}

impl Layer for RootfsBind {
    fn name(&self) -> &'static str {
        "roots"
    }

    fn color(&self) -> Color {
        Color::Green
    }

    // ANCHOR: bind_rootfs
    fn prepare(&mut self, cx: &mut ParentCx<'_>) -> Result<()> {
        let (uid, group) = cx.spec.root_on_host;
        // Host root passes anywhere; rootless, container root is you, and
        // may not mount on the host anyway. A missing rootfs is refused
        // elsewhere (or unused: step 07 with --image).
        if uid == 0 || !cx.trace.runs_as_root() || !cx.spec.rootfs.is_dir() {
            return Ok(());
        }
        let trace = &cx.trace;
        let state_dir = cx.spec.state_dir.clone();
        step01_chroot::state::prepare(trace, &state_dir)?;
        check("--state-dir", &state_dir, cx.spec.root_on_host).map_err(Error::layer)?;
        let dir = bind_dir(&state_dir, &cx.spec.id);
        let target = dir.join("rootfs");
        if !trace.dry_run() {
            step01_chroot::state::sweep(&state_dir, "roots", |dir| {
                let _ = umount2(&dir.join("rootfs"), MntFlags::MNT_DETACH);
                remove_dirs(dir);
            });
            let io = |source| Error::Io {
                what: "creating",
                path: dir.clone(),
                source,
            };
            step01_chroot::state::claim(&state_dir, "roots", &cx.spec.id, group, &cx.spec.id, &[])
                .map_err(io)?;
            std::fs::create_dir(&target).map_err(io)?;
            let source = std::path::absolute(&cx.spec.rootfs).map_err(io)?;
            std::fs::write(dir.join("source"), source.as_os_str().as_encoded_bytes())
                .map_err(io)?;
            std::fs::create_dir(dir.join("tmp")).map_err(io)?;
            let sticky = std::os::unix::fs::PermissionsExt::from_mode(0o1777);
            std::fs::set_permissions(dir.join("tmp"), sticky).map_err(io)?;
        }
        self.made = Some(dir.clone());
        let rootfs = cx.spec.rootfs.clone();
        bind(trace, &rootfs, &target, MsFlags::MS_REC)?;
        // The container's own /tmp, over the image's. The image's `tmp` is
        // opened inside the rootfs with no symlink allowed, and the mount
        // made on that descriptor: a symlink swapped in by whoever owns the
        // rootfs would otherwise lead this mount, made as host root, onto
        // any host directory.
        if let Some(image_tmp) = open_inside(trace, &target, "tmp")? {
            let onto = Path::new("/proc/self/fd").join(image_tmp.as_raw_fd().to_string());
            bind(trace, &dir.join("tmp"), &onto, MsFlags::empty())?;
        }
        cx.spec.rootfs = target;
        Ok(())
    }
    // ANCHOR_END: bind_rootfs

    /// Read-only from here on, now that every layer has made its mount
    /// points (step 05) through the bind.
    fn before_clone(&mut self, cx: &mut ParentCx<'_>) -> Result<()> {
        if self.made.is_none() {
            return Ok(());
        }
        let trace = &cx.trace;
        let target = &cx.spec.rootfs;
        // Every mount below it too (AT_RECURSIVE), then /tmp writable again.
        let root = trace.call(format!("open({target:?}, O_PATH)"), || {
            nix::fcntl::open(
                target,
                OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
                Mode::empty(),
            )
            .map(Some)
        })?;
        let Some(root) = root else {
            return Ok(()); // a dry run
        };
        trace.call(
            format!("mount_setattr({target:?}, AT_RECURSIVE, {{ attr_set: MOUNT_ATTR_RDONLY }})"),
            || set_attributes(root.as_fd(), libc::AT_RECURSIVE, &read_only(true)),
        )?;
        if let Some(tmp) = open_inside(trace, target, "tmp")? {
            trace.call(
                format!(
                    "mount_setattr({:?}, 0, {{ attr_clr: MOUNT_ATTR_RDONLY }})",
                    target.join("tmp")
                ),
                || set_attributes(tmp.as_fd(), 0, &read_only(false)),
            )?;
        }
        Ok(())
    }

    // No unmount right after the clone: until the child has made its
    // mounts private (step 02's first layer), its copy is a slave of ours,
    // and an unmount here would take it away too (mount_namespaces(7),
    // shared subtrees: on most hosts `/` is shared). So the binds stay
    // until the container exits.

    fn cleanup(&mut self, cx: &mut ParentCx<'_>, _exit: Option<&ExitStatus>) -> Result<()> {
        if let Some(dir) = self.made.take() {
            // The bind (and the /tmp bind below it: MNT_DETACH takes the
            // whole tree), narrated; then the directories, which are ours.
            let target = dir.join("rootfs");
            let flags = MntFlags::MNT_DETACH;
            let _ = cx.trace.sys(Syscall::Umount { target, flags });
            if !cx.trace.dry_run() {
                remove_dirs(&dir);
            }
        }
        Ok(())
    }
}

/// Removes `<state>/roots/<id>`, once its bind is unmounted (a killed
/// run's, by the sweep; ours, narrated, by `cleanup`). The rootfs's mount
/// point is only ever rmdir'ed: a bind that would not unmount keeps its
/// directory, and the rootfs its files. The container's `/tmp` is a plain
/// directory here, never mounted on: it goes, with what is in it.
fn remove_dirs(dir: &Path) {
    let target = dir.join("rootfs");
    let _ = std::fs::remove_dir(&target);
    let _ = std::fs::remove_dir_all(dir.join("tmp"));
    let _ = std::fs::remove_file(dir.join("source"));
    let _ = std::fs::remove_file(dir.join("owner"));
    let _ = std::fs::remove_dir(dir);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;
    use step01_chroot::spec::Spec;

    /// The parent's side, recorded: as root, the rootfs is bound into the
    /// state directory and the container is pointed there; rootless,
    /// nothing is done. (What is done on a descriptor, the `/tmp` bind and
    /// the read-only flags, is not in the record: a recording opens none,
    /// so there is no descriptor to act on. The trace snapshots of steps
    /// 03 to 06 show those calls, made.)
    #[test]
    fn as_root_the_rootfs_is_bound_where_container_root_reaches_it() {
        // In /tmp itself: the check walks every directory above the state
        // directory as container root, and $TMPDIR may be a private one.
        let tmp = tempfile::tempdir_in("/tmp").unwrap();
        std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o711)).unwrap();
        let rootfs = tmp.path().join("rootfs");
        std::fs::create_dir(&rootfs).unwrap();
        let state = tmp.path().join("state");
        let mut spec = Spec::new("t", rootfs.clone(), vec![], state.clone());
        spec.id = "0123456789ab".into();
        spec.root_on_host = (100000, 100000);
        let target = state.join("roots/0123456789ab/rootfs");

        let (trace, kernel) = Trace::recording();
        let mut layer = RootfsBind::default();
        let mut cx = ParentCx {
            spec: &mut spec,
            trace,
        };
        layer.prepare(&mut cx).unwrap();
        assert_eq!(kernel.shown(), Vec::<String>::new(), "rootless: no bind");
        assert_eq!(cx.spec.rootfs, rootfs);

        let (trace, kernel) = Trace::recording_as_root();
        cx.trace = trace;
        layer.prepare(&mut cx).unwrap();
        layer.before_clone(&mut cx).unwrap();
        assert_eq!(cx.spec.rootfs, target, "the container takes the bind");
        layer.cleanup(&mut cx, None).unwrap();
        assert_eq!(
            kernel.shown(),
            [
                format!("mount({rootfs:?}, {target:?}, NULL, MS_BIND | MS_REC, NULL)"),
                format!("openat2({target:?}, \"tmp\", RESOLVE_IN_ROOT | RESOLVE_NO_SYMLINKS)"),
                format!("open({target:?}, O_PATH)"),
                format!("umount2({target:?}, MNT_DETACH)"),
            ]
        );
        assert!(!state.exists(), "a recording leaves nothing behind");
    }

    #[test]
    fn a_closed_directory_on_the_way_is_named() {
        let tmp = tempfile::tempdir().unwrap();
        let inner = tmp.path().join("a/b");
        std::fs::create_dir_all(&inner).unwrap();
        std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let a = tmp.path().join("a");
        std::fs::set_permissions(&a, std::fs::Permissions::from_mode(0o700)).unwrap();
        let err = check("--rootfs", &inner, (100000, 100000))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(&format!("{} is mode 0700", a.display())),
            "{err}"
        );
        std::fs::set_permissions(&a, std::fs::Permissions::from_mode(0o711)).unwrap();
        assert!(check("--rootfs", &inner, (100000, 100000)).is_ok());
        assert!(check("--state-dir", &inner.join("not/yet"), (100000, 100000)).is_ok());
    }
}
