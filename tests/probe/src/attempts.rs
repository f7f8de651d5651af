//! `probe attempts`: what the container's root may do with the kernel.
//!
//! Each attempt makes one system call that a container has no business
//! making, or that only some containers need, with arguments that do no
//! harm when the call is allowed (a clock that cannot be set, an empty
//! module, a key in the probe's own keyring), in a child process of its
//! own, so that what one attempt changes (a new user namespace) cannot
//! change the next. It prints `attempt NAME: RESULT`, where RESULT is `ok`
//! or the errno the call failed with: EPERM (not permitted: a missing
//! capability, or a seccomp filter), EACCES, or an errno that says the
//! call was allowed and only its arguments were refused (EINVAL, EFAULT,
//! ENOENT). The last row is no call but a lesson: an unprivileged user runs
//! a set-uid-root program, and gains root (`ok`) or, under no_new_privs,
//! does not (`not gained`). Step 08's chapter shows the table under step
//! 07 and step 08.

use std::ffi::CString;
use std::process::ExitCode;

/// One attempt: the raw result of the call (`-1` with errno set, as libc
/// returns it).
type Attempt = fn() -> i64;

/// The attempts, in the order they are printed.
const ATTEMPTS: &[(&str, Attempt)] = &[
    ("mount", mount),
    ("unshare-user", unshare_user),
    ("keyctl", keyctl),
    ("add_key", add_key),
    ("reboot", reboot),
    ("kexec_load", kexec_load),
    ("init_module", init_module),
    ("swapon", swapon),
    ("clock_settime", clock_settime),
    ("ptrace", ptrace),
    ("bpf", bpf),
    ("perf_event_open", perf_event_open),
    ("userfaultfd", userfaultfd),
    ("raw-socket", raw_socket),
    ("chown", chown),
    ("bind-port-80", bind_port_80),
    ("setuid-root", setuid_root),
];

/// What [`setuid_root`] returns when the set-uid bit gave nothing.
const NOT_GAINED: i64 = -2;

/// The inode of the first user namespace, the host's
/// (`PROC_USER_INIT_INO`, include/linux/proc_ns.h).
const HOST_USER_NS: u64 = 0xEFFF_FFFD;

pub fn run(_args: &[String]) -> ExitCode {
    // Some attempts would act if allowed (a mount, a chown): only ever in a
    // container's own user namespace, never on a host by mistake.
    use std::os::unix::fs::MetadataExt;
    match std::fs::metadata("/proc/self/ns/user").map(|m| m.ino()) {
        Ok(ino) if ino != HOST_USER_NS => {}
        _ => {
            eprintln!("probe attempts: runs only in a user namespace of its own (a container's)");
            return ExitCode::from(2);
        }
    }
    for (name, attempt) in ATTEMPTS {
        println!("attempt {name}: {}", isolated(*attempt));
    }
    ExitCode::SUCCESS
}

/// Runs `attempt` in a child process: its errno, or 0, comes back as the
/// child's exit status.
fn isolated(attempt: Attempt) -> String {
    // SAFETY: fork in a single-threaded program; the child only makes
    // system calls and exits.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        let code = match attempt() {
            // (a failure that left no errno must not read as "ok")
            -1 => std::io::Error::last_os_error()
                .raw_os_error()
                .filter(|errno| *errno != 0)
                .unwrap_or(255),
            NOT_GAINED => 254,
            _ => 0,
        };
        // SAFETY: ends the child at once, without running the parent's atexit handlers.
        unsafe { libc::_exit(code.min(255)) };
    }
    let mut status = 0;
    // SAFETY: waits for the child just made.
    if pid < 0 || unsafe { libc::waitpid(pid, &mut status, 0) } != pid {
        return "could not fork".into();
    }
    if libc::WIFSIGNALED(status) {
        return format!("killed by signal {}", libc::WTERMSIG(status));
    }
    match libc::WEXITSTATUS(status) {
        0 => "ok".into(),
        254 => "not gained".into(),
        255 => "failed, no errno".into(),
        errno => errno_name(errno),
    }
}

fn errno_name(errno: i32) -> String {
    match errno {
        libc::EPERM => "EPERM".into(),
        libc::EACCES => "EACCES".into(),
        libc::EINVAL => "EINVAL".into(),
        libc::EFAULT => "EFAULT".into(),
        libc::ENOENT => "ENOENT".into(),
        libc::ENOSYS => "ENOSYS".into(),
        libc::EBADF => "EBADF".into(),
        libc::ENOEXEC => "ENOEXEC".into(),
        other => format!("errno {other}"),
    }
}

fn c(s: &str) -> CString {
    CString::new(s).expect("no NUL")
}

// Every attempt below is a system call whose arguments live through it,
// made in a child process that exits right after ("as above").

fn mount() -> i64 {
    // On a directory of its own, unmounted and removed again.
    let dir = c(&format!("/tmp/probe-mount.{}", std::process::id()));
    let (none, tmpfs) = (c("none"), c("tmpfs"));
    // SAFETY: as above.
    if unsafe { libc::mkdir(dir.as_ptr(), 0o700) } != 0 {
        return -1;
    }
    // SAFETY: as above.
    let result = unsafe {
        libc::mount(
            none.as_ptr(),
            dir.as_ptr(),
            tmpfs.as_ptr(),
            0,
            std::ptr::null(),
        )
    };
    let errno = std::io::Error::last_os_error();
    if result == 0 {
        // SAFETY: as above.
        unsafe { libc::umount2(dir.as_ptr(), libc::MNT_DETACH) };
    }
    // SAFETY: as above.
    unsafe { libc::rmdir(dir.as_ptr()) };
    if result != 0 {
        // (rmdir may have changed errno: the mount's is the answer)
        // SAFETY: as above.
        unsafe { *libc::__errno_location() = errno.raw_os_error().unwrap_or(0) };
    }
    result.into()
}

fn unshare_user() -> i64 {
    // SAFETY: as above.
    unsafe { libc::unshare(libc::CLONE_NEWUSER) }.into()
}

fn keyctl() -> i64 {
    // KEYCTL_GET_KEYRING_ID of the session keyring, not created if missing.
    // SAFETY: as above.
    unsafe { libc::syscall(libc::SYS_keyctl, 0, -3, 0) }
}

fn add_key() -> i64 {
    let (kind, desc) = (c("user"), c("workshop-probe"));
    // Into the probe's own process keyring (-2), which dies with it.
    // SAFETY: as above.
    unsafe {
        libc::syscall(
            libc::SYS_add_key,
            kind.as_ptr(),
            desc.as_ptr(),
            c"x".as_ptr(),
            1,
            -2,
        )
    }
}

fn reboot() -> i64 {
    // A wrong magic number: refused with EINVAL once the capability check
    // has passed, so nothing is ever rebooted.
    // SAFETY: as above.
    unsafe { libc::syscall(libc::SYS_reboot, 0, 0, 0, std::ptr::null::<u8>()) }
}

fn kexec_load() -> i64 {
    // More segments than the kernel takes (KEXEC_SEGMENT_MAX is 16):
    // EINVAL once the capability check has passed. (Zero segments would
    // unload a kernel already loaded for kexec.)
    // SAFETY: as above.
    unsafe { libc::syscall(libc::SYS_kexec_load, 0, 17, std::ptr::null::<u8>(), 0) }
}

fn init_module() -> i64 {
    // An empty module: not an ELF file.
    // SAFETY: as above.
    unsafe {
        libc::syscall(
            libc::SYS_init_module,
            std::ptr::null::<u8>(),
            0,
            c"".as_ptr(),
        )
    }
}

fn swapon() -> i64 {
    let path = c("/nonexistent-swap");
    // SAFETY: as above.
    unsafe { libc::syscall(libc::SYS_swapon, path.as_ptr(), 0) }
}

fn clock_settime() -> i64 {
    // CLOCK_MONOTONIC cannot be set at all (EINVAL): only whether the
    // call reaches the kernel is asked.
    let time = libc::timespec {
        tv_sec: 1,
        tv_nsec: 0,
    };
    // SAFETY: as above.
    unsafe { libc::clock_settime(libc::CLOCK_MONOTONIC, &time) }.into()
}

fn ptrace() -> i64 {
    // Attach to a child of our own, which is then killed and reaped.
    // SAFETY: as above.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return -1; // (never kill(-1): that is every process we may signal)
    }
    if pid == 0 {
        // SAFETY: as above.
        unsafe { libc::pause() };
        // SAFETY: as above.
        unsafe { libc::_exit(0) };
    }
    // SAFETY: as above.
    let result = unsafe { libc::ptrace(libc::PTRACE_ATTACH, pid, 0, 0) };
    let errno = std::io::Error::last_os_error();
    // SAFETY: as above.
    unsafe { libc::kill(pid, libc::SIGKILL) };
    // SAFETY: as above.
    unsafe { libc::waitpid(pid, std::ptr::null_mut(), 0) };
    // SAFETY: as above.
    unsafe { *libc::__errno_location() = errno.raw_os_error().unwrap_or(0) };
    result
}

fn bpf() -> i64 {
    // BPF_PROG_LOAD with an empty program: refused for its arguments if the
    // call is reachable and allowed (the errno depends on the kernel).
    let attr = [0u8; 128];
    // SAFETY: as above.
    unsafe { libc::syscall(libc::SYS_bpf, 5, attr.as_ptr(), attr.len()) }
}

fn perf_event_open() -> i64 {
    let attr = [0u8; 128];
    // SAFETY: as above.
    unsafe { libc::syscall(libc::SYS_perf_event_open, attr.as_ptr(), 0, -1, -1, 0) }
}

fn userfaultfd() -> i64 {
    // SAFETY: as above.
    unsafe { libc::syscall(libc::SYS_userfaultfd, libc::O_CLOEXEC) }
}

fn raw_socket() -> i64 {
    // SAFETY: as above.
    unsafe { libc::socket(libc::AF_INET, libc::SOCK_RAW, libc::IPPROTO_ICMP) }.into()
}

fn chown() -> i64 {
    let path = c(&format!("/tmp/probe-chown.{}", std::process::id()));
    // A new file, never one planted there (O_EXCL), never through a link.
    let flags = libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW | libc::O_WRONLY;
    // SAFETY: as above.
    let fd = unsafe { libc::open(path.as_ptr(), flags, 0o600) };
    if fd < 0 {
        return -1;
    }
    // SAFETY: as above.
    let result = unsafe { libc::fchown(fd, 1, 1) };
    // SAFETY: as above.
    unsafe { libc::unlink(path.as_ptr()) };
    result.into()
}

fn bind_port_80() -> i64 {
    // SAFETY: as above.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_STREAM, 0) };
    if fd < 0 {
        return -1;
    }
    // SAFETY: as above.
    let mut addr: libc::sockaddr_in = unsafe { std::mem::zeroed() };
    addr.sin_family = libc::AF_INET as libc::sa_family_t;
    addr.sin_port = 80u16.to_be();
    let len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
    // SAFETY: as above.
    unsafe { libc::bind(fd, (&addr as *const libc::sockaddr_in).cast(), len) }.into()
}

/// A set-uid-root copy of the probe, run by an unprivileged user (nobody):
/// `ok` if it runs as root (euid 0), `not gained` if the kernel ignored
/// the bit (no_new_privs).
fn setuid_root() -> i64 {
    use std::os::unix::fs::PermissionsExt;
    let path = format!("/tmp/probe-suid.{}", std::process::id());
    if std::fs::copy("/proc/self/exe", &path).is_err()
        || std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o4755)).is_err()
    {
        return -1;
    }
    let (program, arg) = (c(&path), c("euid"));
    // SAFETY: as above.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        let nobody = 65534;
        // SAFETY: as above; the argument list ends with a null pointer.
        unsafe {
            libc::setgroups(0, std::ptr::null());
            libc::setresgid(nobody, nobody, nobody);
            libc::setresuid(nobody, nobody, nobody);
            let argv = [program.as_ptr(), arg.as_ptr(), std::ptr::null()];
            libc::execv(program.as_ptr(), argv.as_ptr());
            libc::_exit(127);
        }
    }
    let mut status = 0;
    // SAFETY: as above.
    let waited = pid > 0 && unsafe { libc::waitpid(pid, &mut status, 0) } == pid;
    let _ = std::fs::remove_file(&path);
    match waited && libc::WIFEXITED(status) {
        true if libc::WEXITSTATUS(status) == 0 => 0,
        true if libc::WEXITSTATUS(status) == 1 => NOT_GAINED,
        _ => -1,
    }
}
