//! Helpers every step's tests use: the test rootfs with the probe in it,
//! running a step's binary as a learner would, and the redactions that make
//! its output snapshot-stable.
//!
//! Tests prepare what they need themselves: the first test to ask installs
//! the host tools that are missing ([`host`]), builds the busybox rootfs
//! (with `rootfs-fetch.sh --busybox`) and a static probe, so a plain `cargo
//! test` works on a fresh clone. Every wait is bounded ([`bounded`]), and a
//! test run that was killed half-way is cleaned up by the next ([`host`]).

pub mod bad_input;
pub mod bounded;
pub mod contract;
pub mod engines;
pub mod escapes;
pub mod faults;
pub mod fixtures;
pub mod host;
pub mod redact;
pub mod registry;
pub mod rootfs;
pub mod tarballs;

pub use bounded::{ChildExt, CommandExt, Lines, accept_within, eventually};
pub use fixtures::{TestNetns, TestUser};
pub use host::{ensure_host, require};
pub use redact::{full_trace_redactions, redactions, regex_escape, without_others_leftovers};
pub use rootfs::{PROBE, RootfsCopy, test_rootfs};

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

/// The top of the workshop (where `rootfs-fetch.sh` is).
pub fn workshop_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ lies in the workshop")
        .to_path_buf()
}

/// Cargo's target directory: where the test binaries themselves are.
pub fn target_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR") {
        return std::path::absolute(dir).expect("a valid CARGO_TARGET_DIR");
    }
    workshop_dir().join("target")
}

/// What a run of a step binary gave.
#[derive(Debug)]
pub struct Run {
    /// The exit code (`None` if the binary itself was killed by a signal).
    pub code: Option<i32>,
    /// The container's output.
    pub stdout: String,
    /// The trace and errors.
    pub stderr: String,
}

impl Run {
    /// Asserts that the run failed with `code` and that its error output
    /// says `needle` (the part of the message that tells what to do).
    #[track_caller]
    pub fn assert_error(&self, code: i32, needle: &str) {
        assert_eq!(self.code, Some(code), "{self:?}");
        assert!(
            self.stderr.contains(needle),
            "expected {needle:?} in:\n{}",
            self.stderr
        );
    }
}

/// A command that runs a step binary on a rootfs (the shared test rootfs by
/// default), the way a learner would: the built binary, real arguments.
/// Colors are off and the state directory is a fresh temporary one.
pub fn step_command(binary: &str, rootfs: &Path) -> Command {
    step_command_in(binary, rootfs, state_dir())
}

/// [`step_command`] with a state directory of the test's choosing.
pub fn step_command_in(binary: &str, rootfs: &Path, state: &Path) -> Command {
    assert!(
        is_root(),
        "the step tests run containers and need root: run them with `cargo test`, \
         whose runner (.cargo/config.toml) uses sudo when you are not root"
    );
    let mut cmd = Command::new(binary);
    die_with_the_test(&mut cmd);
    only_stdio(&mut cmd);
    cmd.arg("--rootfs").arg(rootfs);
    cmd.arg("--state-dir").arg(state);
    cmd.env("NO_COLOR", "1").env_remove("CLICOLOR_FORCE");
    // Step 03 maps container root to the user who ran sudo; tests say
    // explicitly when they want that, so a learner's sudo changes nothing.
    cmd.env_remove("SUDO_UID")
        .env_remove("SUDO_GID")
        .env_remove("SUDO_USER");
    // From step 04 on: container cgroups go below this test process's own
    // cgroup (on v1; see test_cgroup_parent), removed when we exit.
    cmd.env("WORKSHOP_CGROUP_PARENT", test_cgroup_parent());
    // From step 06 on: no bridge unless a test asks for one, inside a
    // network namespace it made (see TestNetns), never on the real host.
    cmd.env("WORKSHOP_NETWORK", "none");
    // From step 07 on: no container's writable layer is kept, unless asked.
    cmd.env("WORKSHOP_RM", "1");
    cmd.stdin(Stdio::null());
    cmd
}

/// The cgroup that the step binaries put container cgroups in during
/// tests: `workshop-tests-<pid>`, relative to our own cgroup in every
/// hierarchy (v1), or at the root (v2).
/// An exit handler removes it, and anything a killed run left in it.
pub fn test_cgroup_parent() -> &'static str {
    static PARENT: OnceLock<String> = OnceLock::new();
    PARENT.get_or_init(|| {
        host::claim();
        extern "C" fn remove_at_exit() {
            remove_test_cgroups(test_cgroup_parent().trim_start_matches('/'));
        }
        // SAFETY: registers a plain function to run at exit(3).
        unsafe { libc::atexit(remove_at_exit) };
        // cgroup v2 lets a cgroup hand controllers to children only if it
        // has no processes of its own, and ours (a login session's) has: on
        // a v2 host the tests' parent goes at the root instead, like the
        // runtime's default /workshop. (This workshop's CI is v1.)
        if Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
            format!("/workshop-tests-{}", std::process::id())
        } else {
            format!("workshop-tests-{}", std::process::id())
        }
    })
}

/// Removes every cgroup named `name` (in every hierarchy), with the cgroups
/// inside it and the processes still in them.
pub fn remove_test_cgroups(name: &str) {
    for dir in host::find_dirs(Path::new("/sys/fs/cgroup"), 6, &|n| n == name) {
        host::remove_cgroup_tree(&dir);
    }
}

/// The state directory the step binaries use in tests: a temporary one,
/// removed at exit, after unmounting anything a killed run left mounted in
/// it (step 07's overlays).
pub fn state_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        extern "C" fn remove_at_exit() {
            remove_state_dir(state_dir());
        }
        let dir = temp_dir("state").keep();
        // As the runtime makes one (step 01's state.rs): whichever test
        // runs first must not find it looser, and say so in its trace.
        let mode = std::os::unix::fs::PermissionsExt::from_mode(0o711);
        fs::set_permissions(&dir, mode).expect("chmod the state dir");
        // SAFETY: registers a plain function to run at exit(3).
        unsafe { libc::atexit(remove_at_exit) };
        dir
    })
}

fn remove_state_dir(dir: &Path) {
    host::remove_mounted_dir(dir);
}

/// A temporary directory `/tmp/workshop-KIND-PID-XXXXXX`, removed on drop;
/// if this process is killed first, the next test run removes it (the pid
/// in its name says whose it is: see [`host`]).
pub fn temp_dir(kind: &str) -> tempfile::TempDir {
    host::claim();
    tempfile::Builder::new()
        .prefix(&format!("workshop-{kind}-{}-", std::process::id()))
        .tempdir()
        .expect("create a temporary directory")
}

/// Runs a step binary on the shared test rootfs with `args` and collects
/// what it printed.
pub fn run_step(binary: &str, args: &[&str]) -> Run {
    let rootfs = test_rootfs();
    collect(step_command(binary, rootfs).args(args).output_bounded())
}

/// Turns a finished command into a [`Run`].
pub fn collect(output: std::io::Result<Output>) -> Run {
    let output = output.expect("start the step binary");
    Run {
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// Every capability this kernel knows, as /proc/PID/status shows a set
/// (`000001ffffffffff` when the last one is number 40).
pub fn full_capability_set() -> Option<String> {
    let last: u32 = fs::read_to_string("/proc/sys/kernel/cap_last_cap")
        .ok()?
        .trim()
        .parse()
        .ok()?;
    Some(format!("{:016x}", (1u64 << (last + 1)) - 1))
}

/// The mount table of this process, to compare before and after a run.
pub fn host_mounts() -> String {
    fs::read_to_string("/proc/self/mountinfo").expect("read /proc/self/mountinfo")
}

/// The lines of `after` that are not in `before`.
pub fn new_lines(before: &str, after: &str) -> Vec<String> {
    after
        .lines()
        .filter(|line| !before.lines().any(|b| b == *line))
        .map(String::from)
        .collect()
}

/// The value of `key: value` in the probe's report.
#[track_caller]
pub fn probe_field<'a>(report: &'a str, key: &str) -> &'a str {
    report
        .lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(": "))
        .unwrap_or_else(|| panic!("no {key} in the probe's report:\n{report}"))
}

/// The inode of one of this process's namespaces, as the probe prints it.
pub fn own_ns(name: &str) -> String {
    let link = fs::read_link(format!("/proc/self/ns/{name}")).expect("read /proc/self/ns");
    link.to_string_lossy()
        .split_once(":[")
        .map(|(_, inode)| inode.trim_end_matches(']').to_string())
        .expect("a namespace link looks like type:[inode]")
}

/// Whether we are root (the step tests need it; the runner provides it).
pub fn is_root() -> bool {
    nix::unistd::Uid::effective().is_root()
}

/// Runs `cmd` as the unprivileged user `nobody` (65534), with util-linux's
/// `setpriv`, to show what happens without root.
pub fn as_nobody(cmd: &Command) -> Command {
    as_user(cmd, 65534, 65534)
}

/// Runs `cmd` as `uid`:`gid` with no supplementary groups (setpriv(1)).
/// The ids need no entry in /etc/passwd.
pub fn as_user(cmd: &Command, uid: u32, gid: u32) -> Command {
    require("setpriv");
    let (uid, gid) = (format!("--reuid={uid}"), format!("--regid={gid}"));
    // An absolute path: a test may give the command a PATH without it.
    wrapped_in(
        "/usr/bin/setpriv",
        &[&uid, &gid, "--clear-groups", "--"],
        cmd,
    )
}

/// Makes `cmd` die with SIGKILL when the test that started it dies
/// (prctl(2) PR_SET_PDEATHSIG), so a killed test run leaves no runtime
/// behind; a step binary killed so takes its container with it.
pub fn die_with_the_test(cmd: &mut Command) {
    use std::os::unix::process::CommandExt;
    // SAFETY: prctl is async-signal-safe; nothing else runs between fork
    // and exec here.
    unsafe {
        cmd.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) == -1 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// Starts `cmd` with only stdin, stdout and stderr of ours open: whatever
/// else the shell or CI runner that started `cargo test` left open (an
/// interactive shell often has a /dev/null on fd 10) is closed at the
/// exec, so descriptor numbers in a trace are the same everywhere.
/// A test that hands a descriptor on dup2()s it in a pre_exec hook added
/// after this one (close_range(2), CLOSE_RANGE_CLOEXEC).
pub fn only_stdio(cmd: &mut Command) {
    use std::os::unix::process::CommandExt;
    // SAFETY: close_range is a plain syscall, async-signal-safe.
    unsafe {
        cmd.pre_exec(|| {
            let flags = libc::CLOSE_RANGE_CLOEXEC;
            if libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, flags) == -1 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// `cmd` run by `program ARGS...` (setpriv, nsenter, script), with `cmd`'s
/// environment.
pub fn wrapped_in(program: &str, args: &[&str], cmd: &Command) -> Command {
    let mut wrapped = Command::new(program);
    die_with_the_test(&mut wrapped);
    only_stdio(&mut wrapped);
    wrapped
        .args(args)
        .arg(cmd.get_program())
        .args(cmd.get_args());
    for (key, value) in cmd.get_envs() {
        match value {
            Some(value) => wrapped.env(key, value),
            None => wrapped.env_remove(key),
        };
    }
    wrapped.stdin(Stdio::null());
    wrapped
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regex_escape_escapes() {
        assert_eq!(regex_escape("/a.b-c"), r"/a\.b\-c");
    }

    #[test]
    fn new_lines_finds_additions() {
        assert_eq!(new_lines("a\nb", "a\nc\nb"), vec!["c".to_string()]);
    }
}
