//! The escape suite: what a hostile container tried, from step 03 on, and
//! what the host must see afterwards (nothing changed). Each function takes
//! a step's binary and a [`Caller`]: the runtime started by real root (a
//! root shell, CI) or through sudo by an ordinary user. Each one failed on
//! the main branch before issue #14: there, container root was host root.
//!
//! A step runs them with `workshop_tests::step_escape_tests!(BIN, ...)`,
//! naming the groups that apply to it (see the macro); every later step
//! names them all.
//!
//! Names, descriptors and signal state have their tests in step 07 and in
//! the contract.

use std::fs;
use std::path::Path;
use std::process::Command;

use crate::bounded::CommandExt as _;
use crate::fixtures::TestUser;
use crate::{RootfsCopy, Run, collect, step_command, temp_dir, test_rootfs};

mod mounts;
pub use mounts::*;

/// Who started the runtime.
#[derive(Debug)]
pub enum Caller {
    /// Real root, no SUDO_UID: a root shell, CI.
    Root,
    /// `sudo` from an ordinary user (made for the test).
    Sudo(TestUser),
}

impl Caller {
    /// Real root.
    pub fn root() -> Self {
        Caller::Root
    }

    /// An ordinary user, through sudo: a new one for each test, since the
    /// tests of one binary run at once.
    pub fn sudo() -> Self {
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Caller::Sudo(TestUser::create(&format!("esc{n}")))
    }

    /// `cmd` as this caller starts it: sudo runs it as root with SUDO_UID,
    /// SUDO_GID and SUDO_USER naming the user, and that is what we set.
    pub fn command(&self, cmd: Command) -> Command {
        let mut cmd = cmd;
        if let Caller::Sudo(user) = self {
            cmd.env("SUDO_UID", user.uid.to_string())
                .env("SUDO_GID", user.gid.to_string())
                .env("SUDO_USER", &user.name);
        }
        cmd
    }

    /// A short word for names: `root` or `sudo`.
    fn tag(&self) -> &'static str {
        match self {
            Caller::Root => "root",
            Caller::Sudo(_) => "sudo",
        }
    }

    /// The host uid container root should have: root's subordinate range
    /// (/etc/subuid), or the user who ran sudo.
    fn expected_root(&self) -> (u32, u32) {
        match self {
            Caller::Root => {
                let text = fs::read_to_string("/etc/subuid").unwrap_or_default();
                let start = text
                    .lines()
                    .find_map(|l| l.strip_prefix("root:")?.split(':').next()?.parse().ok())
                    .expect("a run as root records root's range in /etc/subuid");
                (start, 65536)
            }
            Caller::Sudo(user) => (user.uid, 1),
        }
    }
}

pub(crate) fn run(caller: &Caller, bin: &str, rootfs: &Path, args: &[&str]) -> Run {
    let mut cmd = step_command(bin, rootfs);
    cmd.args(args);
    collect(caller.command(cmd).output_bounded())
}

pub(crate) fn sh(caller: &Caller, bin: &str, rootfs: &Path, script: &str, extra: &[&str]) -> Run {
    let mut args = vec!["-q"];
    args.extend_from_slice(extra);
    args.extend_from_slice(&["--", "/bin/sh", "-c", script]);
    run(caller, bin, rootfs, &args)
}

// ANCHOR: root_is_not_root
/// Container root is not host root: its uid map sends 0 elsewhere.
pub fn container_root_is_not_host_root(bin: &str, caller: Caller) {
    let run = sh(&caller, bin, test_rootfs(), "cat /proc/self/uid_map", &[]);
    assert_eq!(run.code, Some(0), "{run:?}");
    let first: Vec<u32> = run
        .stdout
        .split_whitespace()
        .take(3)
        .map(|n| n.parse().unwrap())
        .collect();
    let (host, count) = caller.expected_root();
    assert_eq!(first, [0, host, count], "uid_map: {}", run.stdout);
    assert_ne!(first[1], 0, "container root is host root");
}
// ANCHOR_END: root_is_not_root

// ANCHOR: terminal
/// Item 1: the container cannot type into the caller's terminal. The test
/// plays the caller: a pty of its own, with the runtime started on it as a
/// shell would (its controlling terminal, in a session of its own). Inside,
/// `probe inject` tries TIOCSTI on every terminal it can reach; afterwards
/// nothing may wait in the caller's input, where a shell would read it as a
/// command. Without `-t` and with `-it`.
pub fn the_callers_terminal_stays_out_of_reach(bin: &str, caller: Caller) {
    use std::os::unix::process::CommandExt as _;
    for flags in [&[][..], &["-i", "-t"][..]] {
        let pty = nix::pty::openpty(None, None).unwrap();
        let mut cmd = step_command(bin, test_rootfs());
        cmd.arg("-q").args(flags);
        cmd.args(["--", crate::PROBE, "inject", "echo INJECTED\n"]);
        let mut cmd = caller.command(cmd);
        let slave = |pty: &nix::pty::OpenptyResult| {
            std::process::Stdio::from(pty.slave.try_clone().unwrap())
        };
        cmd.stdin(slave(&pty))
            .stdout(slave(&pty))
            .stderr(slave(&pty));
        // SAFETY: setsid and ioctl are async-signal-safe.
        unsafe {
            cmd.pre_exec(|| {
                libc::setsid();
                if libc::ioctl(0, libc::TIOCSCTTY, 0) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let mut runtime = cmd.spawn().unwrap();
        drop(cmd); // its copies of the slave, or the master never hangs up
        // What the container printed comes out of the master: keep reading
        // it, or a full pty would block the runtime.
        let mut master = fs::File::from(pty.master);
        let printed = std::thread::spawn(move || {
            let mut all = Vec::new();
            let _ = std::io::Read::read_to_end(&mut master, &mut all); // EIO at hangup
            String::from_utf8_lossy(&all).into_owned()
        });
        let status = crate::bounded::ChildExt::wait_bounded(&mut runtime).unwrap();
        // The caller's input queue: what its shell would read next.
        let queued = {
            let fd = &pty.slave;
            nix::fcntl::fcntl(
                fd,
                nix::fcntl::FcntlArg::F_SETFL(nix::fcntl::OFlag::O_NONBLOCK),
            )
            .unwrap();
            let mut buf = [0u8; 256];
            match nix::unistd::read(fd, &mut buf) {
                Ok(n) => String::from_utf8_lossy(&buf[..n]).into_owned(),
                Err(_) => String::new(), // EAGAIN: nothing there
            }
        };
        drop(pty.slave);
        let printed = printed.join().unwrap();
        assert!(status.success(), "{flags:?}: {status:?}\n{printed}");
        assert!(
            printed.contains("stdin:"),
            "{flags:?}: the probe ran: {printed}"
        );
        assert_eq!(
            queued, "",
            "{flags:?}: typed into the caller's terminal; the probe said:\n{printed}"
        );
    }
}
// ANCHOR_END: terminal

/// Item 2: with /proc/sys unmounted, the host's sysctls stay out of reach
/// (they belong to host root, which container root is not). The container
/// writes the value that is there, so even a failure of this test changes
/// nothing on the host.
pub fn host_sysctls_stay_out_of_reach(bin: &str, caller: Caller) {
    let file = "/proc/sys/kernel/core_pattern";
    let before = fs::read_to_string(file).unwrap();
    let script = format!(
        "umount /proc/sys 2>/dev/null; v=$(cat {file}); \
         if echo \"$v\" > {file}; then echo WROTE; else echo REFUSED; fi"
    );
    let run = sh(&caller, bin, test_rootfs(), &script, &[]);
    assert_eq!(run.code, Some(0), "{run:?}");
    assert_eq!(run.stdout.trim(), "REFUSED", "{run:?}");
    assert_eq!(fs::read_to_string(file).unwrap(), before);
}

/// A container leaves nothing in the rootfs it shares with the others
/// (steps 03 to 06): no set-uid copy of a shell that a host user who can
/// reach the rootfs could run as container root's host id, nothing the
/// next container would run. Its writes go to a `/tmp` of its own.
pub fn the_shared_rootfs_stays_as_it_was(bin: &str, caller: Caller) {
    let name = format!("suid-{}-{}", std::process::id(), caller.tag());
    let script = format!(
        "for f in /tmp/{name} /{name} /bin/{name}; do \
           cp /bin/busybox $f 2>/dev/null && chmod 6755 $f 2>/dev/null; done; \
         ls -l /tmp/{name}"
    );
    let run = sh(&caller, bin, test_rootfs(), &script, &[]);
    assert_eq!(
        run.code,
        Some(0),
        "the container's own /tmp takes writes: {run:?}"
    );
    for left in ["tmp", "", "bin"] {
        let path = test_rootfs().join(left).join(&name);
        assert!(!path.exists(), "the container left {}", path.display());
    }
}

/// An image whose `/tmp` is a symlink to a host directory: the runtime,
/// as host root, must not mount the container's own `/tmp` there (step
/// 03's reach.rs opens it with no symlink allowed). Checked in the host's
/// mount table while the container runs.
pub fn an_image_tmp_symlink_leads_no_mount_out(bin: &str, caller: Caller) {
    let host = temp_dir("victim");
    let rootfs = RootfsCopy::new();
    let tmp = rootfs.path().join("tmp");
    fs::remove_dir_all(&tmp).unwrap();
    std::os::unix::fs::symlink(host.path(), &tmp).unwrap();
    let mut cmd = step_command(bin, rootfs.path());
    cmd.args(["-q", "--", "/bin/sleep", "2"]);
    let mut runtime = caller.command(cmd).spawn().unwrap();
    let victim = host.path().display().to_string();
    let mut mounted = false;
    for _ in 0..40 {
        let table = fs::read_to_string("/proc/self/mountinfo").unwrap();
        mounted |= table
            .lines()
            .any(|l| l.split(' ').nth(4) == Some(victim.as_str()));
        std::thread::sleep(std::time::Duration::from_millis(25));
    }
    let status = crate::bounded::ChildExt::wait_bounded(&mut runtime).unwrap();
    assert!(!mounted, "the runtime mounted over the host's {victim}");
    assert!(status.success(), "{status:?}");
}

/// Expands to one `#[test]` per escape, as real root and through sudo, for
/// the binary `$bin`. The groups after it add what the step has:
/// `cgroups` (step 04 on: `--memory`), `mounts` (step 05 on: generated /etc
/// files, the state directory).
#[macro_export]
macro_rules! step_escape_tests {
    ($bin:expr $(, $group:ident)*) => {
        mod escapes {
            #[allow(unused_imports)]
            use super::*;
            $crate::step_escape_tests!(@each $bin;
                container_root_is_not_host_root,
                the_callers_terminal_stays_out_of_reach,
                the_shared_rootfs_stays_as_it_was,
                an_image_tmp_symlink_leads_no_mount_out,
                host_sysctls_stay_out_of_reach,
            );
            $( $crate::step_escape_tests!(@group $bin; $group); )*
        }
    };
    (@group $bin:expr; cgroups) => {
        $crate::step_escape_tests!(@each $bin; cgroup_limits_cannot_be_raised,);
    };
    (@group $bin:expr; mounts) => {
        $crate::step_escape_tests!(@each $bin;
            image_symlinks_stay_in_the_rootfs,
            read_only_volumes_stay_read_only,
            the_state_directory_is_closed_to_others,
        );
    };
    (@each $bin:expr; $($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[allow(unused_imports)]
                use super::*;
                #[test]
                fn as_root() {
                    $crate::escapes::$name($bin, $crate::escapes::Caller::root())
                }
                #[test]
                fn through_sudo() {
                    $crate::escapes::$name($bin, $crate::escapes::Caller::sudo())
                }
            }
        )*
    };
}
