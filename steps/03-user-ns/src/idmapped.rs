//! Idmapped mounts: a view of a directory in which the host's ids read as
//! a user namespace's.
//!
//! With root's default mapping (`remap.rs`) container root is host id
//! 100000, say. An image's files belong to host root, so inside they read
//! as 65534 (nobody), and container root may not change them. Rather than
//! `chown` every file of every layer to 100000 and up (slow, and tied to
//! one mapping), Linux 5.12 added **idmapped mounts** (mount_setattr(2),
//! `MOUNT_ATTR_IDMAP`): a bind mount that carries a user namespace, through
//! whose maps every owner is translated on the way in and out. Host uid 0
//! reads as 100000 on the mount, which the container's namespace shows as
//! 0; a file container root creates through it lands as host uid 0.
//!
//! Only a detached mount may be idmapped, so it takes the new mount API:
//!
//! ```text
//! open_tree(source, OPEN_TREE_CLONE)     a detached copy of the mount tree
//! mount_setattr(fd, MOUNT_ATTR_IDMAP,    give it a user namespace's maps
//!               userns_fd)
//! move_mount(fd, target)                 attach it where it is wanted
//! ```
//!
//! The namespace is named by a descriptor ([`UsernsFd`]): we make one with
//! the container's maps from a short-lived helper process.
//!
//! Step 07 idmaps the image's lower layers this way (overlayfs accepts
//! idmapped layers since Linux 5.19). Steps 03 to 06 run in a plain rootfs
//! directory shared by every run: they leave it as it is, owned by nobody
//! inside, so that no container can change it for the others.

use std::fs::File;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::path::Path;

use nix::errno::Errno;
use nix::sched::CloneFlags;
use nix::sys::wait::waitpid;
use nix::unistd::{Pid, pipe2};

use crate::idmap::IdMap;

/// A user namespace, held open by a descriptor to `/proc/PID/ns/user`.
#[derive(Debug)]
pub struct UsernsFd {
    ns: OwnedFd,
    /// The helper that made it, told to go and reaped on drop: its exit
    /// runs while we mount rather than before.
    _helper: Helper,
}

/// A helper process in a new user namespace, sharing our memory.
#[derive(Debug)]
struct Helper {
    pid: Pid,
    /// Our end of its pipe: closing it tells the helper to exit.
    go: Option<OwnedFd>,
    /// Its stack, in our memory (CLONE_VM): freed only once it is reaped.
    _stack: Vec<u8>,
}

impl Helper {
    /// Starts a helper in a new user namespace. It closes its copy of the
    /// pipe's write end, then waits for end-of-file on the read end: when
    /// we close ours, or when we die, however we die.
    fn start() -> nix::Result<Self> {
        let (go_r, go_w) = pipe2(nix::fcntl::OFlag::O_CLOEXEC)?;
        // The helper may share our memory (CLONE_VM: no copy of the page
        // tables, cheaper than a fork), on a small stack of its own. It is
        // in the new user namespace from its first instruction. It gets
        // the pipe's two numbers as its argument, and writes no memory of
        // ours (but errno, should a call fail).
        extern "C" fn wait_for_go(fds: *mut libc::c_void) -> libc::c_int {
            let fds = fds as usize as u64;
            let (read_end, write_end) = ((fds & 0xffff_ffff) as i32, (fds >> 32) as i32);
            let mut byte = 0u8;
            // SAFETY: close(2) and read(2) on the helper's own copies of
            // the descriptors (no CLONE_FILES), into a local byte.
            unsafe {
                libc::close(write_end);
                libc::read(read_end, (&raw mut byte).cast(), 1);
            }
            0
        }
        let mut stack = vec![0u8; 16 * 1024];
        let flags = CloneFlags::CLONE_NEWUSER | CloneFlags::CLONE_VM;
        let fds = (go_r.as_raw_fd() as u64) | ((go_w.as_raw_fd() as u64) << 32);
        // SAFETY: the stack lives in the Helper until it is reaped (Drop);
        // the top of it, 16-byte aligned, is where a stack growing down
        // starts. (A 64-bit target: the two numbers fit in the argument.)
        let pid = Errno::result(unsafe {
            let top = stack.as_mut_ptr().add(stack.len());
            let top = top.sub(top as usize % 16);
            libc::clone(
                wait_for_go,
                top.cast(),
                flags.bits() | libc::SIGCHLD,
                fds as usize as *mut libc::c_void,
            )
        })
        .map(Pid::from_raw)?;
        Ok(Helper {
            pid,
            go: Some(go_w),
            _stack: stack,
        })
    }
}

impl Drop for Helper {
    fn drop(&mut self) {
        // Go (if not told yet), then reap, before the stack is freed
        // (fields drop after this).
        self.go.take();
        while waitpid(self.pid, None) == Err(Errno::EINTR) {}
    }
}

impl UsernsFd {
    /// A new user namespace with these maps. Needs root: only the host's
    /// root may write maps it was not delegated, and only it may idmap.
    ///
    /// A user namespace lives as long as a process or a descriptor holds
    /// it, so a helper process is made in one, we write its maps and open
    /// its `ns/user` file, and the helper exits.
    pub fn new(uid: &IdMap, gid: &IdMap) -> nix::Result<Self> {
        let mut helper = Helper::start()?;
        let ns = Self::open(helper.pid.as_raw(), uid, gid)?; // (on error, Drop reaps it)
        helper.go.take(); // go: the helper exits while we mount
        Ok(UsernsFd {
            ns,
            _helper: helper,
        })
    }

    fn open(pid: i32, uid: &IdMap, gid: &IdMap) -> nix::Result<OwnedFd> {
        let errno = |e: std::io::Error| Errno::from_raw(e.raw_os_error().unwrap_or(0));
        std::fs::write(format!("/proc/{pid}/uid_map"), uid.file_contents()).map_err(errno)?;
        std::fs::write(format!("/proc/{pid}/gid_map"), gid.file_contents()).map_err(errno)?;
        let ns = File::open(format!("/proc/{pid}/ns/user")).map_err(errno)?;
        Ok(ns.into())
    }
}

// ANCHOR: idmapped_bind
/// Mounts `source` at `target` (a directory that exists) with every owner
/// translated through `userns`'s maps.
pub fn idmapped_bind(userns: &UsernsFd, source: &Path, target: &Path) -> nix::Result<()> {
    let tree = open_tree_clone(source)?;
    let attr = libc::mount_attr {
        attr_set: libc::MOUNT_ATTR_IDMAP,
        attr_clr: 0,
        propagation: 0,
        userns_fd: userns.ns.as_raw_fd() as u64,
    };
    set_attributes(tree.as_fd(), 0, &attr)?;
    let target = cstring(target)?;
    // SAFETY: as above; `target` is a C string.
    let moved = unsafe {
        libc::syscall(
            libc::SYS_move_mount,
            tree.as_raw_fd(),
            c"".as_ptr(),
            libc::AT_FDCWD,
            target.as_ptr(),
            libc::MOVE_MOUNT_F_EMPTY_PATH,
        )
    };
    Errno::result(moved).map(drop)
}
// ANCHOR_END: idmapped_bind

/// mount_setattr(2) on the mount `fd` is (AT_EMPTY_PATH), and with
/// `AT_RECURSIVE` in `flags` on every mount below it too.
pub fn set_attributes(
    fd: BorrowedFd<'_>,
    flags: libc::c_int,
    attr: &libc::mount_attr,
) -> nix::Result<()> {
    // SAFETY: `fd` is an open descriptor, the path an empty C string, and
    // `attr` a mount_attr of the size we pass.
    let set = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            fd.as_raw_fd(),
            c"".as_ptr(),
            libc::AT_EMPTY_PATH | flags,
            attr as *const libc::mount_attr,
            std::mem::size_of::<libc::mount_attr>(),
        )
    };
    Errno::result(set).map(drop)
}

/// Read-only (or, with `on` false, writable again) mount attributes.
pub fn read_only(on: bool) -> libc::mount_attr {
    let (set, clear) = if on {
        (libc::MOUNT_ATTR_RDONLY, 0)
    } else {
        (0, libc::MOUNT_ATTR_RDONLY)
    };
    libc::mount_attr {
        attr_set: set,
        attr_clr: clear,
        propagation: 0,
        userns_fd: 0,
    }
}

/// open_tree(2) with OPEN_TREE_CLONE: a detached copy of the mount at
/// `source`, not yet attached anywhere.
pub fn open_tree_clone(source: &Path) -> nix::Result<OwnedFd> {
    let source = cstring(source)?;
    // SAFETY: `source` is a C string; the result is a new descriptor.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_open_tree,
            libc::AT_FDCWD,
            source.as_ptr(),
            libc::OPEN_TREE_CLONE | libc::OPEN_TREE_CLOEXEC,
        )
    };
    let fd = Errno::result(fd)?;
    // SAFETY: open_tree returned a descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

fn cstring(path: &Path) -> nix::Result<std::ffi::CString> {
    use std::os::unix::ffi::OsStrExt;
    std::ffi::CString::new(path.as_os_str().as_bytes()).map_err(|_| Errno::EINVAL)
}
