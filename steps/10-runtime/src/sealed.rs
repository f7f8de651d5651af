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
//! `--userns=host` makes it host root again. So, as runc's fix did: before
//! `exec` goes near the container, it runs itself again from a **sealed
//! memfd**: memfd_create(2) makes a file in memory, we copy our own binary
//! into it, seal it (F_SEAL_WRITE and the rest, fcntl(2): no one may change
//! it, us included) and execve it (fexecve). From then on
//! `/proc/self/exe` is that copy: a container that reaches it can read it,
//! and write nothing, and the file on disk is never in the container's
//! reach.

use std::fs::File;
use std::os::fd::AsFd;

use nix::fcntl::{FcntlArg, SealFlag, fcntl};
use nix::sys::memfd::{MFdFlags, memfd_create};

/// The seals that make the copy unchangeable, the seals included.
fn seals() -> SealFlag {
    SealFlag::F_SEAL_SEAL | SealFlag::F_SEAL_SHRINK | SealFlag::F_SEAL_GROW | SealFlag::F_SEAL_WRITE
}

/// Whether this process runs from a sealed copy already.
pub fn running_sealed() -> bool {
    File::open("/proc/self/exe").is_ok_and(|exe| {
        fcntl(exe.as_fd(), FcntlArg::F_GET_SEALS)
            .is_ok_and(|bits| SealFlag::from_bits_truncate(bits).contains(seals()))
    })
}

// ANCHOR: reexec
/// Runs this program again, with the same arguments and environment, from
/// a sealed memfd copy of itself, unless it already does. Returns only on
/// error.
pub fn reexec_sealed() -> std::io::Result<()> {
    if running_sealed() {
        return Ok(());
    }
    let mut exe = File::open("/proc/self/exe")?;
    let copy = memfd_create(
        c"10-runtime (sealed copy)",
        MFdFlags::MFD_CLOEXEC | MFdFlags::MFD_ALLOW_SEALING,
    )?;
    let mut copy = File::from(copy);
    // copy_file_range(2) or sendfile(2): in the kernel, no buffer of ours.
    std::io::copy(&mut exe, &mut copy)?;
    fcntl(copy.as_fd(), FcntlArg::F_ADD_SEALS(seals()))?;
    let args: Vec<std::ffi::CString> = std::env::args_os()
        .map(|a| std::ffi::CString::new(a.into_encoded_bytes()))
        .collect::<Result<_, _>>()?;
    let env: Vec<std::ffi::CString> = std::env::vars_os()
        .map(|(k, v)| {
            let mut pair = k.into_encoded_bytes();
            pair.push(b'=');
            pair.extend(v.into_encoded_bytes());
            std::ffi::CString::new(pair)
        })
        .collect::<Result<_, _>>()?;
    // Close-on-exec is fine for an ELF program: the kernel has mapped it
    // before it closes the descriptor (a script would need it open).
    let err = nix::unistd::fexecve(copy.as_fd(), &args, &env).unwrap_err();
    Err(err.into())
}
// ANCHOR_END: reexec
