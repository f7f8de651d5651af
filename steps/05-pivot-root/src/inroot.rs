//! Making mount points inside the rootfs, and never outside it.
//!
//! The parent, as host root, makes the mount points of `/etc/hostname` and
//! the volumes (container root may not: it is not host root). Their paths
//! come from the image, and an image is not to be trusted: `/etc/hosts` may
//! be a symlink to `/etc/passwd` *of the host*. safe-path's `scoped_join`
//! (see `volumes.rs`) resolves every symlink with the rootfs as `/`, so the
//! path it gives is inside the rootfs, and has no symlink left in it.
//!
//! Left so far: between that resolution and our `mkdir`, another container
//! sharing the rootfs (steps 05 and 06 share one) may swap a directory for
//! a symlink, and a `mkdir` by path would follow it out. So each part is
//! made relative to a descriptor of the rootfs, with openat2(2):
//! `RESOLVE_IN_ROOT` keeps the walk inside, and `RESOLVE_NO_SYMLINKS`
//! refuses the symlink a racing container put there. `mkdirat` never
//! follows a symlink it would create over, and the file is opened with
//! `O_NOFOLLOW`.

use std::os::fd::OwnedFd;
use std::path::{Component, Path};

use nix::errno::Errno;
use nix::fcntl::{OFlag, OpenHow, ResolveFlag, openat2};
use nix::sys::stat::{Mode, mkdirat};
use step01_chroot::error::{Error, Result, SysError};
use step01_chroot::trace::Trace;

/// A mount point that was not made.
#[derive(Debug, thiserror::Error)]
#[error(
    "{target}: cannot make this mount point inside the rootfs ({errno})\n  \
     hint: a path in the image changed while the container started, or is a symlink; \
     run again, or check the image"
)]
pub struct NotMade {
    /// The mount point asked for, as a host path under the rootfs.
    target: String,
    /// What stopped it: ELOOP is a symlink on the way.
    errno: Errno,
}

// ANCHOR: make_mount_point
/// Makes `target` (a path under `rootfs`, symlinks already resolved) and
/// the directories above it: a directory if `dir`, else an empty file.
pub fn make_mount_point(trace: &Trace, rootfs: &Path, target: &Path, dir: bool) -> Result<()> {
    let Ok(inside) = target.strip_prefix(rootfs) else {
        // EXDEV: what openat2(2) says of a path that leaves its root.
        return Err(not_made(target, Errno::EXDEV));
    };
    let shown = format!(
        "openat2(rootfs, {inside:?}, RESOLVE_IN_ROOT | RESOLVE_NO_SYMLINKS); \
         mkdirat/openat(O_CREAT | O_NOFOLLOW) for what is missing"
    );
    trace
        .call(shown, || make(rootfs, inside, dir))
        .map_err(|err: SysError| not_made(target, err.errno))
}
// ANCHOR_END: make_mount_point

/// [`NotMade`], as this step's layers return it.
fn not_made(target: &Path, errno: Errno) -> Error {
    Error::layer(NotMade {
        target: target.display().to_string(),
        errno,
    })
}

/// The work of [`make_mount_point`]: every part reached or made from a
/// descriptor of `rootfs`, none by its path.
fn make(rootfs: &Path, inside: &Path, dir: bool) -> nix::Result<()> {
    // The one path opened by name is the rootfs itself, which the user gave.
    // O_PATH: a handle to walk from, no read permission needed (open(2)).
    let root = nix::fcntl::open(
        rootfs,
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )?;
    // Names only: `inside` comes resolved, with no ".." left in it.
    let parts: Vec<_> = inside
        .components()
        .filter_map(|c| match c {
            Component::Normal(name) => Some(name),
            _ => None,
        })
        .collect();
    let Some((last, above)) = parts.split_last() else {
        return Ok(()); // the rootfs itself
    };
    let mut parent = open_dir(&root, Path::new("."))?;
    // The path so far: each directory is reopened from `root` along all of
    // it, so every part is checked for symlinks again.
    let mut walked = std::path::PathBuf::new();
    // Each directory is made in the one opened before it, never by path.
    for name in above {
        walked.push(name);
        parent = dir_at(&root, &parent, &walked, name)?;
    }
    walked.push(last);
    if dir {
        return dir_at(&root, &parent, &walked, last).map(drop);
    }
    // Only looked at when it is there: opening an image's file for writing
    // would copy it up into the container's layer (step 07) for nothing.
    let how = OpenHow::new()
        .flags(OFlag::O_PATH | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC)
        .resolve(ResolveFlag::RESOLVE_IN_ROOT | ResolveFlag::RESOLVE_NO_SYMLINKS);
    match openat2(&root, &walked, how) {
        Err(Errno::ENOENT) => {
            // O_EXCL: if a symlink appeared there since, the open fails,
            // wherever it points (open(2)). O_WRONLY: O_PATH ignores O_CREAT.
            let flags = OFlag::O_CREAT
                | OFlag::O_EXCL
                | OFlag::O_WRONLY
                | OFlag::O_NOFOLLOW
                | OFlag::O_CLOEXEC;
            nix::fcntl::openat(&parent, *last, flags, Mode::from_bits_truncate(0o644)).map(drop)
        }
        // O_PATH | O_NOFOLLOW opens a symlink itself: refuse one, as any
        // other symlink on the way.
        Ok(fd) => match nix::sys::stat::fstat(&fd)?.st_mode & libc::S_IFMT {
            libc::S_IFLNK => Err(Errno::ELOOP),
            _ => Ok(()),
        },
        Err(e) => Err(e),
    }
}

/// Removes `inside` (a path under `rootfs`) if it is an empty directory
/// or an empty file; nothing that holds data. Walked from a descriptor of
/// the rootfs as [`make_mount_point`] walks: a container that swapped a
/// directory on the way for a symlink gets ELOOP, not a host file removed.
pub fn remove_if_empty(rootfs: &Path, inside: &Path) -> nix::Result<()> {
    let (Some(parent), Some(name)) = (inside.parent(), inside.file_name()) else {
        // An empty `inside` is the rootfs itself: never removed.
        return Ok(());
    };
    let root = nix::fcntl::open(
        rootfs,
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )?;
    let parent = match parent.as_os_str().is_empty() {
        true => open_dir(&root, Path::new(".")),
        false => open_dir(&root, parent),
    };
    let parent = match parent {
        Err(Errno::ENOENT) => return Ok(()),
        other => other?,
    };
    // The entry itself: a symlink is looked at, not followed, and kept.
    let flags = nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW;
    let stat = match nix::sys::stat::fstatat(&parent, name, flags) {
        Err(Errno::ENOENT) => return Ok(()),
        other => other?,
    };
    let how = match stat.st_mode & libc::S_IFMT {
        // rmdir(2) removes only an empty directory: the kernel checks that.
        libc::S_IFDIR => nix::unistd::UnlinkatFlags::RemoveDir,
        libc::S_IFREG if stat.st_size == 0 => nix::unistd::UnlinkatFlags::NoRemoveDir,
        _ => return Err(Errno::ENOTEMPTY),
    };
    nix::unistd::unlinkat(&parent, name, how)
}

/// The directory `walked` (relative to `root`), made in `parent` as `name`
/// if it is missing.
fn dir_at(
    root: &OwnedFd,
    parent: &OwnedFd,
    walked: &Path,
    name: &std::ffi::OsStr,
) -> nix::Result<OwnedFd> {
    match open_dir(root, walked) {
        Err(Errno::ENOENT) => {
            match mkdirat(parent, name, Mode::from_bits_truncate(0o755)) {
                // EEXIST: another run made it first; checked below all the same.
                Ok(()) | Err(Errno::EEXIST) => {}
                Err(e) => return Err(e),
            }
            // Opened again, not assumed: what is there now may be a symlink.
            open_dir(root, walked)
        }
        other => other,
    }
}

/// The directory `path` under `root`, walked inside `root` with no symlink
/// followed on the way (openat2(2): a symlink gives ELOOP).
fn open_dir(root: &OwnedFd, path: &Path) -> nix::Result<OwnedFd> {
    let how = OpenHow::new()
        .flags(OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC)
        .resolve(ResolveFlag::RESOLVE_IN_ROOT | ResolveFlag::RESOLVE_NO_SYMLINKS);
    openat2(root, path, how)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_parts_are_made_inside() {
        let root = tempfile::tempdir().unwrap();
        let target = root.path().join("a/b/file");
        make_mount_point(&Trace::quiet(), root.path(), &target, false).unwrap();
        assert!(target.is_file());
        make_mount_point(&Trace::quiet(), root.path(), &root.path().join("d/e"), true).unwrap();
        assert!(root.path().join("d/e").is_dir());
    }

    #[test]
    fn a_symlink_on_the_way_is_refused_not_followed() {
        let root = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        // As if a racing container swapped "a" for a symlink after the
        // path was resolved.
        std::os::unix::fs::symlink(outside.path(), root.path().join("a")).unwrap();
        let err = make_mount_point(
            &Trace::quiet(),
            root.path(),
            &root.path().join("a/x"),
            false,
        );
        assert!(err.is_err());
        assert!(!outside.path().join("x").exists(), "nothing made outside");
        std::os::unix::fs::symlink("/etc/passwd", root.path().join("f")).unwrap();
        assert!(
            make_mount_point(&Trace::quiet(), root.path(), &root.path().join("f"), false).is_err()
        );
    }
}
