//! CVE-2019-5736, and why `exec` runs from a sealed copy of itself.
//!
//! In 2019 a container could overwrite the host's runc binary. The trick:
//! the container replaces its own `/bin/sh` with a script whose first line
//! is `#!/proc/self/exe`. When `runc exec … /bin/sh` runs it, the kernel
//! starts the script's interpreter, `/proc/self/exe`, which for the process
//! doing the exec is *runc itself*: the host's runc binary now runs inside
//! the container, and the container's processes can open it through
//! `/proc/PID/exe`. Writing is refused while runc runs (ETXTBSY); they keep
//! the descriptor, wait for runc to exit, and write. The next `runc` anyone
//! runs on the host, as root, is theirs.
//!
//! The container can only write a file its root may write. From step 03 on
//! container root is not host root, and the binary is not theirs; but
//! `--userns=host` makes it host root again. So before `exec` goes near
//! the container, it runs itself again from a copy nobody can write:
//!
//! * **a read-only mount of its own binary that is attached nowhere**:
//!   open_tree(2) with OPEN_TREE_CLONE makes a bind mount of
//!   `/proc/self/exe` that is in no mount table, mount_setattr(2) makes it
//!   read-only, and execveat(2) runs the file through it. Every write
//!   through `/proc/self/exe` then fails (EROFS), and no one can make that
//!   mount writable again: its descriptor closes at the execve (close on
//!   exec), and the kernel unmounts a detached mount when its last
//!   descriptor goes, so mount_setattr(2) on it fails (EINVAL), and a
//!   remount through `/proc/PID/exe` fails as for any mount outside the
//!   caller's mount namespace. (runc tried a read-only bind mount in 2019
//!   and dropped it: that one was attached in a mount namespace, where a
//!   container with CAP_SYS_ADMIN could remount it writable.) Nothing is
//!   copied. What it does share with the host is the file's pages: a
//!   kernel bug that writes into the page cache (Dirty Pipe, 2022) would
//!   reach the binary through it, as it would through any read-only file.
//! * where that is not allowed (it needs CAP_SYS_ADMIN), or its execve
//!   fails, a **sealed memfd**, runc's first fix: memfd_create(2) makes a
//!   file in memory, we copy our whole binary into it (14 MB in release,
//!   most of an `exec`'s time when it was the only way), seal it
//!   (F_SEAL_WRITE and the rest, fcntl(2): no one may change it, us
//!   included) and execve it.
//!
//! A variable says which way the program was run again: if the check
//! does not see the mount as protection (it asks statx(2) for a mount id,
//! and /proc/self/mountinfo, which a seccomp filter or a missing /proc
//! could hide), the memfd comes next, and after it an error, never a loop.
//! The variable is never taken for the protection itself.

use std::ffi::CString;
use std::fs::File;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};

use nix::fcntl::{FcntlArg, SealFlag, fcntl};
use nix::sys::memfd::{MFdFlags, memfd_create};
use nix::sys::statvfs::{FsFlags, fstatvfs};

/// The seals that make the copy unchangeable, the seals included.
fn seals() -> SealFlag {
    SealFlag::F_SEAL_SEAL | SealFlag::F_SEAL_SHRINK | SealFlag::F_SEAL_GROW | SealFlag::F_SEAL_WRITE
}

/// Whether this process runs from a copy nobody can write already: a
/// sealed memfd, or a read-only mount that is in no mount table.
pub fn running_sealed() -> bool {
    let Ok(exe) = File::open("/proc/self/exe") else {
        return false;
    };
    let sealed = fcntl(exe.as_fd(), FcntlArg::F_GET_SEALS)
        .is_ok_and(|bits| SealFlag::from_bits_truncate(bits).contains(seals()));
    let read_only = fstatvfs(&exe).is_ok_and(|fs| fs.flags().contains(FsFlags::ST_RDONLY));
    // A binary installed on a read-only file system is read-only too, but
    // its mount is in the table, where host root may remount it writable.
    sealed || (read_only && mount_id(&exe).is_some_and(|id| !in_mount_table(id)))
}

// ANCHOR: reexec
/// Runs this program again, with the same arguments and environment, from
/// a copy nobody can write, unless it already does. Returns only on error.
///
/// # Safety
///
/// It changes the environment (std::env::remove_var): call it while the
/// process has one thread.
pub unsafe fn reexec_sealed() -> std::io::Result<()> {
    // How the run before this one made its copy, if this is a run again;
    // taken out at once, so that our children never inherit it.
    let tried = std::env::var(AGAIN).ok();
    // SAFETY: one thread, as our caller promises.
    unsafe { std::env::remove_var(AGAIN) };
    if running_sealed() {
        return Ok(());
    }
    let args: Vec<CString> = std::env::args_os()
        .map(|a| CString::new(a.into_encoded_bytes()))
        .collect::<Result<_, _>>()?;
    let env = |how: &str| -> std::io::Result<Vec<CString>> {
        let mut env: Vec<CString> = std::env::vars_os()
            .map(|(k, v)| {
                let mut pair = k.into_encoded_bytes();
                pair.push(b'=');
                pair.extend(v.into_encoded_bytes());
                CString::new(pair)
            })
            .collect::<Result<_, _>>()?;
        env.push(CString::new(format!("{AGAIN}={how}"))?);
        Ok(env)
    };
    // execveat(fd, "", AT_EMPTY_PATH). Close-on-exec is fine for an ELF
    // program: the kernel has mapped it before it closes the descriptor
    // (a script would need it open). Returns only if it failed.
    let exec = |image: OwnedFd, how: &str| -> std::io::Error {
        match env(how) {
            Ok(env) => nix::unistd::fexecve(image.as_fd(), &args, &env)
                .unwrap_err()
                .into(),
            Err(err) => err,
        }
    };
    match tried.as_deref() {
        // The first time: the mount, unless it cannot be made (EPERM: no
        // CAP_SYS_ADMIN here, in a container say) or run.
        None => {
            if let Ok(image) = read_only_mount_of_self() {
                exec(image, "mount");
            }
        }
        // Run from the mount, and not seen as protected (this kernel hides
        // what tells): the memfd, which needs nothing but its seals.
        Some("mount") => {}
        _ => {
            return Err(std::io::Error::other(
                "run again from a sealed copy, and still not running from one",
            ));
        }
    }
    Err(exec(sealed_copy_of_self()?, "memfd"))
}

/// Marks this program run again by [`reexec_sealed`].
const AGAIN: &str = "WORKSHOP_RUN_AGAIN_PROTECTED";

/// A detached bind mount of our own binary, made read-only.
fn read_only_mount_of_self() -> nix::Result<OwnedFd> {
    let tree = step03_user_ns::idmapped::open_tree_clone("/proc/self/exe".as_ref())?;
    let attr = step03_user_ns::idmapped::read_only(true);
    step03_user_ns::idmapped::set_attributes(tree.as_fd(), 0, &attr)?;
    Ok(tree)
}

/// A sealed memfd copy of our own binary.
fn sealed_copy_of_self() -> std::io::Result<OwnedFd> {
    let mut exe = File::open("/proc/self/exe")?;
    let copy = memfd_create(
        c"10-runtime (sealed copy)",
        MFdFlags::MFD_CLOEXEC | MFdFlags::MFD_ALLOW_SEALING,
    )?;
    let mut copy = File::from(copy);
    // copy_file_range(2) or sendfile(2): in the kernel, no buffer of ours.
    std::io::copy(&mut exe, &mut copy)?;
    fcntl(copy.as_fd(), FcntlArg::F_ADD_SEALS(seals()))?;
    Ok(copy.into())
}
// ANCHOR_END: reexec

/// The id of the mount `file` is on: statx(2), STATX_MNT_ID.
fn mount_id(file: &File) -> Option<u64> {
    // SAFETY: a zeroed statx is a valid buffer for the kernel to fill.
    let mut stx: libc::statx = unsafe { std::mem::zeroed() };
    // SAFETY: an open descriptor, an empty C string with AT_EMPTY_PATH,
    // and a buffer of the right type.
    let rc = unsafe {
        libc::statx(
            file.as_raw_fd(),
            c"".as_ptr(),
            libc::AT_EMPTY_PATH,
            libc::STATX_MNT_ID,
            &mut stx,
        )
    };
    (rc == 0 && stx.stx_mask & libc::STATX_MNT_ID != 0).then_some(stx.stx_mnt_id)
}

/// Whether mount `id` is in our mount table (/proc/self/mountinfo's
/// first field, proc(5)).
fn in_mount_table(id: u64) -> bool {
    std::fs::read_to_string("/proc/self/mountinfo").map_or(true, |table| {
        table
            .lines()
            .any(|line| line.split(' ').next() == Some(id.to_string().as_str()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::FileExt;

    /// The fallback, without root: the test binary's own copy, sealed.
    #[test]
    fn the_memfd_copy_is_whole_and_takes_no_write() {
        let copy = File::from(sealed_copy_of_self().unwrap());
        let bits = fcntl(copy.as_fd(), FcntlArg::F_GET_SEALS).unwrap();
        assert!(SealFlag::from_bits_truncate(bits).contains(seals()));
        let on_disk = std::fs::metadata("/proc/self/exe").unwrap().len();
        assert_eq!(copy.metadata().unwrap().len(), on_disk);
        let reopened = format!("/proc/self/fd/{}", copy.as_raw_fd());
        let wrote = File::options()
            .write(true)
            .open(reopened)
            .and_then(|f| f.write_at(b"\x7f", 0));
        assert!(wrote.is_err(), "a sealed copy took a write");
    }

    #[test]
    fn a_test_binary_on_disk_is_not_a_protected_copy() {
        assert!(!running_sealed());
    }
}
