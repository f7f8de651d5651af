//! Narrated mount helpers, shared by this step's layers.
//!
//! Two details matter in a user namespace (step 03):
//!
//! * a bind mount keeps the flags of the mount it copies, and some of them
//!   are **locked**: a mount the host made `nosuid`, `nodev` or `noexec`
//!   (and its atime mode) cannot lose them from inside a user namespace.
//!   So a read-only remount must repeat them, or the kernel says EPERM:
//!   [`remount_read_only`] reads them with statvfs(3) first;
//! * `mknod` is not allowed there, so device nodes are bind mounts of the
//!   host's (`devices.rs`).
//!
//! Man pages: mount(2), mount_namespaces(7), statvfs(3).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use nix::errno::Errno;
use nix::mount::MsFlags;
use nix::sys::statvfs::{FsFlags, statvfs};
use step01_chroot::error::SysError;
use step01_chroot::sys::{Call, Syscall};
use step01_chroot::trace::Trace;

pub use step01_chroot::sys::flags_str;

/// mount(2) of a file system, narrated.
pub fn mount_fs(
    trace: &Trace,
    fstype: &str,
    target: &Path,
    flags: MsFlags,
    data: Option<&str>,
) -> Result<(), SysError> {
    trace.sys(Syscall::Mount {
        // No device behind it: the source is a dummy string (mount(2)),
        // shown as the mount source in /proc/self/mountinfo.
        source: Some(fstype.into()),
        target: target.into(),
        fstype: Some(fstype.into()),
        flags,
        data: data.map(String::from),
    })
}

/// A bind mount: `target` shows what `source` shows.
pub fn bind(trace: &Trace, source: &Path, target: &Path, recursive: bool) -> Result<(), SysError> {
    // With MS_BIND, mount(2) ignores every other flag but MS_REC: the copy
    // keeps the options of the mount it copies, and read-only takes a
    // remount afterwards (remount_read_only).
    let mut flags = MsFlags::MS_BIND;
    // Without MS_REC only the mount at `source` is copied, none below it.
    if recursive {
        flags |= MsFlags::MS_REC;
    }
    trace.sys(Syscall::Mount {
        source: Some(source.into()),
        target: target.into(),
        fstype: None,
        flags,
        data: None,
    })
}

// ANCHOR: remount_read_only
/// Makes the mount at `target` read-only, keeping the flags it has.
pub fn remount_read_only(trace: &Trace, target: &Path) -> Result<(), SysError> {
    // MS_BIND: this mount only, not the file system under it, which the
    // host's other mounts of it share (mount(2)).
    let mut flags = MsFlags::MS_REMOUNT | MsFlags::MS_BIND | MsFlags::MS_RDONLY;
    if let Ok(stat) = statvfs(target) {
        let kept = [
            (FsFlags::ST_NOSUID, MsFlags::MS_NOSUID),
            (FsFlags::ST_NODEV, MsFlags::MS_NODEV),
            (FsFlags::ST_NOEXEC, MsFlags::MS_NOEXEC),
            (FsFlags::ST_NOATIME, MsFlags::MS_NOATIME),
            (FsFlags::ST_NODIRATIME, MsFlags::MS_NODIRATIME),
            (FsFlags::ST_RELATIME, MsFlags::MS_RELATIME),
        ];
        // A remount sets exactly the flags it is given: nosuid, nodev or
        // noexec left out would be cleared, or refused with EPERM if locked.
        for (has, keep) in kept {
            if stat.flags().contains(has) {
                flags |= keep;
            }
        }
    }
    trace.sys(Syscall::Mount {
        source: None,
        target: target.into(),
        fstype: None,
        flags,
        data: None,
    })
}
// ANCHOR_END: remount_read_only

/// Makes the mount at `target` and every mount below it read-only, in one
/// call: mount_setattr(2) with AT_RECURSIVE (Linux 5.12; step 03's
/// `idmapped.rs` wraps it). mount(2) can only remount one mount at a time.
pub fn read_only_recursive(trace: &Trace, target: &Path) -> Result<(), SysError> {
    trace.sys(Syscall::Other(Arc::new(ReadOnlyRecursive(target.into()))))
}

// ANCHOR: other_call
/// A call step 01's seam does not know, brought by this step
/// (`Syscall::Other`): how it reads in the trace, and how it is made when
/// the kernel is the real one. A dry run and a recording need nothing more.
#[derive(Debug)]
struct ReadOnlyRecursive(PathBuf);

impl std::fmt::Display for ReadOnlyRecursive {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let target = &self.0;
        write!(
            f,
            "mount_setattr({target:?}, AT_RECURSIVE, {{ attr_set: MOUNT_ATTR_RDONLY }})"
        )
    }
}

impl Call for ReadOnlyRecursive {
    fn perform_real(&self) -> nix::Result<()> {
        use std::os::fd::AsFd;
        use step03_user_ns::idmapped::{read_only, set_attributes};
        // O_PATH: a handle on the mount at the path, not an open file; it
        // needs no permission on what the path names (open(2)).
        let flags = nix::fcntl::OFlag::O_PATH | nix::fcntl::OFlag::O_CLOEXEC;
        let mount = nix::fcntl::open(&self.0, flags, nix::sys::stat::Mode::empty())?;
        set_attributes(mount.as_fd(), libc::AT_RECURSIVE, &read_only(true))
    }
}
// ANCHOR_END: other_call

/// Creates an empty file (a mount point for a file), narrated.
pub fn touch(trace: &Trace, path: &Path) -> Result<(), SysError> {
    trace.sys(Syscall::CreateFile(path.into()))
}

/// Creates a directory, narrated; one that exists is fine.
pub fn mkdir(trace: &Trace, path: &Path, mode: u32) -> Result<(), SysError> {
    if !trace.dry_run() && path.is_dir() {
        return Ok(());
    }
    let path = path.into();
    trace.sys(Syscall::Mkdir { path, mode })
}

/// Creates a symbolic link, narrated.
pub fn symlink(trace: &Trace, target: &str, link: &Path) -> Result<(), SysError> {
    trace.sys(Syscall::Symlink {
        target: target.into(),
        link: link.into(),
    })
}

/// The errno inside an io::Error.
pub fn errno(e: std::io::Error) -> Errno {
    // An error made in Rust, not by the kernel, has none: 0, UnknownErrno.
    Errno::from_raw(e.raw_os_error().unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// This step's own call goes through the seam like step 01's: shown
    /// as the man page writes it, recorded rather than made.
    #[test]
    fn a_call_of_this_step_is_recorded_like_any_other() {
        let (trace, kernel) = Trace::recording();
        read_only_recursive(&trace, Path::new("/staged")).unwrap();
        touch(&trace, Path::new("/r/etc/hosts")).unwrap();
        assert_eq!(
            kernel.shown(),
            [
                r#"mount_setattr("/staged", AT_RECURSIVE, { attr_set: MOUNT_ATTR_RDONLY })"#,
                r#"open("/r/etc/hosts", O_CREAT | O_WRONLY, 0644)"#,
            ]
        );
    }
}
