//! The contract every step keeps, whatever it adds: the command runs in the
//! rootfs, its exit code comes back exactly, errors say what to do, stdin
//! and the terminal are the container's, signals reach it, and killing the
//! runtime kills the container.
//!
//! Each function takes the path of a step's binary. A step runs them all
//! with one line, `workshop_tests::step_contract_tests!(BIN);`, so step 07
//! is checked against what step 01 promised.

use std::io::Write;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::bounded::{ChildExt, CommandExt as _};
use crate::{RootfsCopy, as_nobody, collect, run_step, step_command, test_rootfs};

pub fn the_rootfs_is_another_system(bin: &str) {
    let run = run_step(bin, &["-q", "--", "/bin/cat", "/etc/os-release"]);
    assert_eq!(run.code, Some(0), "{run:?}");
    let rootfs_release = std::fs::read_to_string(test_rootfs().join("etc/os-release")).unwrap();
    assert_eq!(
        run.stdout, rootfs_release,
        "the rootfs's file, not the host's"
    );
    assert!(run.stdout.contains("Workshop BusyBox"), "{}", run.stdout);
}

/// On a terminal, as a learner types `cargo run --bin 01-chroot`: the shell
/// is interactive, reads what is typed and its exit code comes back.
pub fn an_interactive_shell_works_on_a_terminal(bin: &str) {
    crate::require("script");
    // script(1) runs the command on a new pseudo-terminal and copies our
    // stdin to it: the shell inside sees a real tty.
    let step = step_command(bin, test_rootfs());
    let mut inner = vec![bin.to_string()];
    inner.extend(step.get_args().map(|a| a.to_string_lossy().into_owned()));
    // -it, as with docker: stdin kept open, and a pty of the container's own.
    inner.extend(["-q", "-i", "-t", "/bin/sh", "-i"].map(String::from));
    let mut script = std::process::Command::new("script");
    // The step's environment (cgroup parent, no colors) reaches it through script.
    for (key, value) in step.get_envs() {
        match value {
            Some(value) => script.env(key, value),
            None => script.env_remove(key),
        };
    }
    let mut child = script
        .args([
            "--quiet",
            "--return",
            "--command",
            &inner.join(" "),
            "/dev/null",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("script(1) from util-linux");
    let mut stdin = child.stdin.take().unwrap();
    stdin
        .write_all(b"[ -t 0 ] && echo on-a-tty; echo $((6 * 7)); exit 4\n")
        .unwrap();
    // stdin stays open until the shell has exited: at end-of-file script(1)
    // would hang up the terminal, maybe before the shell read our line.
    let run = collect(child.wait_with_output_bounded());
    drop(stdin);
    assert_eq!(run.code, Some(4), "{run:?}");
    assert!(run.stdout.contains("on-a-tty"), "{}", run.stdout);
    assert!(run.stdout.contains("42"), "{}", run.stdout);
}

pub fn timings_show_how_long_each_call_took(bin: &str) {
    let run = run_step(bin, &["--timings", "--", "/bin/true"]);
    assert_eq!(run.code, Some(0), "{run:?}");
    let timed = run
        .stderr
        .lines()
        .filter(|l| l.contains("prctl(PR_SET_PDEATHSIG") && l.ends_with("s>"));
    assert!(timed.count() >= 1, "{}", run.stderr);
}

pub fn exit_codes_propagate_exactly(bin: &str) {
    for (script, code) in [("exit 0", 0), ("exit 7", 7), ("exit 255", 255)] {
        let run = run_step(bin, &["-q", "--", "/bin/sh", "-c", script]);
        assert_eq!(run.code, Some(code), "{script}: {run:?}");
    }
    let run = run_step(bin, &["--", "/bin/sh", "-c", "exit 7"]);
    assert!(
        run.stderr.contains("the container exited with status 7"),
        "{}",
        run.stderr
    );
}

/// A container killed by signal N gives 128 + N. The signal comes from the
/// host: from step 02 on the command is PID 1, which cannot be killed from
/// inside its own namespace, not even with SIGKILL.
pub fn death_by_signal_gives_128_plus_n(bin: &str) {
    let runtime = step_command(bin, test_rootfs())
        .args(["/bin/sleep", "30"])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let sleep = container_process(runtime.id(), "sleep");
    nix::sys::signal::kill(pid(sleep), nix::sys::signal::Signal::SIGKILL).unwrap();
    let run = collect(runtime.wait_with_output_bounded());
    run.assert_error(137, "killed by SIGKILL: exit code 137 (128 + 9)");
}

pub fn non_executable_command_exits_126(bin: &str) {
    let rootfs = RootfsCopy::new();
    std::fs::write(rootfs.path().join("not-executable"), "#!/bin/sh\necho hi\n").unwrap();
    let run = collect(
        step_command(bin, rootfs.path())
            .args(["-q", "/not-executable"])
            .output_bounded(),
    );
    run.assert_error(126, "chmod +x");
}

pub fn missing_rootfs_says_to_fetch_one(bin: &str) {
    let missing = std::env::temp_dir().join("workshop-no-such-rootfs");
    let run = collect(
        step_command(bin, &missing)
            .args(["/bin/sh"])
            .output_bounded(),
    );
    run.assert_error(125, "./rootfs-fetch.sh");
    assert!(
        run.stderr.contains(&missing.display().to_string()),
        "{}",
        run.stderr
    );
}

pub fn step_mode_without_a_terminal_is_refused_not_hung(bin: &str) {
    let run = collect(
        step_command(bin, test_rootfs())
            .args(["--step", "--", "/bin/true"])
            .process_group(0) // no controlling terminal to fall back on
            .output_bounded(),
    );
    run.assert_error(125, "--step needs a terminal");
}

pub fn environment_is_the_containers_own(bin: &str) {
    let run = run_step(bin, &["-q", "-e", "GREETING=hello", "--", "/usr/bin/env"]);
    assert_eq!(run.code, Some(0), "{run:?}");
    let mut vars: Vec<_> = run
        .stdout
        .lines()
        .filter(|l| !l.starts_with("TERM="))
        .collect();
    vars.sort();
    assert_eq!(
        vars,
        [
            "GREETING=hello",
            "HOME=/root",
            "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        ]
    );
}

pub fn stdin_is_the_containers(bin: &str) {
    let run = with_input(bin, &["-q", "-i", "/bin/sh"], b"echo from-stdin; exit 3\n");
    assert_eq!(run.code, Some(3), "{run:?}");
    assert_eq!(run.stdout, "from-stdin\n");
}

/// Runs `bin ARGS` with `input` piped to it, then end-of-file.
fn with_input(bin: &str, args: &[&str], input: &[u8]) -> crate::Run {
    let mut child = step_command(bin, test_rootfs())
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input).unwrap(); // then dropped: EOF
    collect(child.wait_with_output_bounded())
}

/// With `-i`, the end of our stdin is the end of the container's: `cat`
/// copies what was piped in and ends. (`extra` adds flags: step 02's
/// `--init`, whose PID 1 must not keep the pipe open.)
pub fn end_of_input_reaches_the_container(bin: &str) {
    end_of_input_reaches_the_container_with(bin, &[]);
}

/// [`end_of_input_reaches_the_container`], with more flags.
pub fn end_of_input_reaches_the_container_with(bin: &str, extra: &[&str]) {
    let mut args = vec!["-q", "-i"];
    args.extend_from_slice(extra);
    args.extend_from_slice(&["--", "/bin/cat"]);
    let run = with_input(bin, &args, b"piped in\n");
    assert_eq!(run.code, Some(0), "{run:?}");
    assert_eq!(run.stdout, "piped in\n");
}

/// `-it` wants a terminal: from a pipe the container's terminal would never
/// see the end of input. Refused before anything is made, as docker does.
pub fn it_without_a_terminal_is_refused(bin: &str) {
    let run = run_step(bin, &["-q", "-i", "-t", "--", "/bin/true"]);
    run.assert_error(125, "-it: the input is not a terminal");
}

/// `kill RUNTIME` reaches the container. The command handles SIGTERM with
/// a trap: from step 02 on it is PID 1, which only gets signals it handles.
pub fn sigterm_to_the_runtime_reaches_the_container(bin: &str) {
    // "ready" once the trap is set: a SIGTERM that came before it would be
    // ignored by a PID 1 without a handler, and the container run on.
    let script = "trap 'exit 42' TERM; echo ready; while :; do sleep 0.1; done";
    let mut runtime = step_command(bin, test_rootfs())
        .args(["-q", "/bin/sh", "-c", script])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let child = container_process(runtime.id(), "sh");
    let stdout = crate::bounded::Lines::of(runtime.stdout.take().unwrap());
    stdout.find(Duration::from_secs(10), "ready on stdout", |l| {
        (l == "ready").then_some(())
    });
    nix::sys::signal::kill(pid(runtime.id()), nix::sys::signal::Signal::SIGTERM).unwrap();
    let started = Instant::now();
    let status = runtime.wait_bounded().unwrap();
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(status.code(), Some(42), "the container's TERM trap ran");
    assert!(!Path::new(&format!("/proc/{child}")).exists());
}

pub fn killing_the_runtime_kills_the_container(bin: &str) {
    let mut runtime = step_command(bin, test_rootfs())
        .args(["-q", "/bin/sleep", "30"])
        .spawn()
        .unwrap();
    let child = container_process(runtime.id(), "sleep");
    // SIGKILL cannot be caught or forwarded: PR_SET_PDEATHSIG does the job.
    runtime.kill().unwrap();
    runtime.wait_bounded().unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while Path::new(&format!("/proc/{child}")).exists() {
        assert!(
            Instant::now() < deadline,
            "container {child} outlived its runtime"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn pid(id: u32) -> nix::unistd::Pid {
    nix::unistd::Pid::from_raw(id as i32)
}

/// Waits until the runtime `parent` has a child, and returns its host pid.
pub fn first_child(parent: u32) -> u32 {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let children =
            std::fs::read_to_string(format!("/proc/{parent}/task/{parent}/children")).unwrap();
        if let Some(child) = children.split_whitespace().next() {
            return child.parse().unwrap();
        }
        assert!(Instant::now() < deadline, "no container process appeared");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Waits until the runtime `parent` has a child process named `comm` (the
/// container's first process), and returns its host pid.
pub fn container_process(parent: u32, comm: &str) -> u32 {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let children =
            std::fs::read_to_string(format!("/proc/{parent}/task/{parent}/children")).unwrap();
        for child in children.split_whitespace() {
            let name = std::fs::read_to_string(format!("/proc/{child}/comm")).unwrap_or_default();
            if name.trim() == comm {
                return child.parse().unwrap();
            }
        }
        assert!(
            Instant::now() < deadline,
            "no container process {comm} appeared"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A dry run works as nobody, and executes nothing.
pub fn dry_run_needs_no_root_and_runs_nothing(bin: &str) {
    let cmd = step_command(bin, test_rootfs());
    let mut cmd = as_nobody(&cmd);
    cmd.args(["--dry-run", "--", "/bin/sh", "-c", "echo ran"]);
    let run = collect(cmd.output_bounded());
    assert_eq!(run.code, Some(0), "{run:?}");
    assert_eq!(run.stdout, "", "nothing may run in a dry run");
    assert!(run.stderr.contains("execve(\"/bin/sh\""), "{}", run.stderr);
}

/// A missing command: 127, and the message names it. Without a slash the
/// command is looked up in the container's PATH.
pub fn missing_command_exits_127_naming_it(bin: &str) {
    let run = run_step(bin, &["-q", "--", "/nope"]);
    run.assert_error(127, "/nope");
    let run = run_step(bin, &["-q", "--", "ls", "/bin/sh"]);
    assert_eq!(run.code, Some(0), "{run:?}");
    let run = run_step(bin, &["-q", "--", "no-such-command"]);
    run.assert_error(127, "no-such-command: command not found");
}

/// A descriptor the caller left open (no close-on-exec) is not open in the
/// container: the probe sees only stdin, stdout and stderr.
pub fn the_callers_descriptors_stay_outside(bin: &str) {
    use std::os::fd::AsRawFd;
    use std::os::unix::process::CommandExt;
    let host_file = std::fs::File::open("/etc/hostname").unwrap();
    let raw = host_file.as_raw_fd();
    let mut cmd = step_command(bin, test_rootfs());
    cmd.args(["-q", "--", crate::PROBE, "report"]);
    // SAFETY: dup2 is async-signal-safe; the new fd 7 has no close-on-exec.
    unsafe {
        cmd.pre_exec(move || {
            if libc::dup2(raw, 7) == -1 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let run = collect(cmd.output_bounded());
    assert_eq!(run.code, Some(0), "{run:?}");
    assert_eq!(
        crate::probe_field(&run.stdout, "fds"),
        "0 1 2",
        "{}",
        run.stdout
    );
}

/// Signal state does not leak in: the runtime (a Rust program) ignores
/// SIGPIPE, but the container's `yes | head -n 1` ends the usual way, with
/// `yes` killed by SIGPIPE, not looping on write errors.
pub fn signal_state_is_the_default(bin: &str) {
    let script = "yes | head -n 1; echo done";
    let run = collect(
        step_command(bin, test_rootfs())
            .args(["-q", "--", "/bin/sh", "-c", script])
            .output_within(std::time::Duration::from_secs(20)),
    );
    assert_eq!(run.code, Some(0), "{run:?}");
    assert_eq!(run.stdout, "y\ndone\n");
    assert!(!run.stderr.contains("Broken pipe"), "{}", run.stderr);
}

/// `2>&1 | head -1`: the runtime's output is a pipe nobody reads. It
/// neither panics (a panic would skip the cleanup) nor leaves anything:
/// no mount in its state directory, no cgroup.
pub fn a_closed_output_neither_panics_nor_leaks(bin: &str) {
    let dir = crate::temp_dir("tmp");
    let state = dir.path().join("state");
    let parent = format!(
        "{}/closed-{}",
        crate::test_cgroup_parent(),
        std::process::id()
    );
    let (read, write) = nix::unistd::pipe().unwrap();
    drop(read);
    let mut cmd = crate::step_command_in(bin, test_rootfs(), &state);
    cmd.env("WORKSHOP_CGROUP_PARENT", &parent)
        .args(["--", "/bin/echo", "hi"])
        .stdout(Stdio::from(write.try_clone().unwrap()))
        .stderr(Stdio::from(write));
    let status = cmd.status_bounded().unwrap();
    assert_eq!(status.code(), Some(0), "not 101, a panic: {status:?}");
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(!mounts.contains(&state.display().to_string()), "{mounts}");
    let name = parent.rsplit('/').next().unwrap();
    let left = crate::host::find_dirs(Path::new("/sys/fs/cgroup"), 7, &|n| n == name);
    assert!(
        left.iter()
            .all(|d| crate::host::find_dirs(d, 1, &|_| true).is_empty()),
        "{left:?}"
    );
    for dir in left {
        crate::host::remove_cgroup_tree(&dir);
    }
}

/// The container's stderr gets through while nobody reads its stdout (a
/// full stdout pipe must not hold up error messages). 100000 bytes fit in
/// the two pipe buffers on the way (64 KiB each), so `head` finishes.
pub fn stderr_flows_while_stdout_is_not_read(bin: &str) {
    let script = "head -c 100000 /dev/zero; echo ready >&2; sleep 2";
    let mut child = step_command(bin, test_rootfs())
        .args(["-q", "--", "/bin/sh", "-c", script])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap(); // not read until "ready"
    let stderr = crate::bounded::Lines::of(child.stderr.take().unwrap());
    stderr.find(Duration::from_secs(10), "ready on stderr", |l| {
        (l == "ready").then_some(())
    });
    // Now read it, within a limit: the zeros have no newline, so they come
    // as one line, at end-of-file.
    let rest = crate::bounded::Lines::of(stdout)
        .next_within(Duration::from_secs(20))
        .unwrap_or_default();
    assert_eq!(rest.len(), 100_000);
    let status = child.wait_bounded().unwrap();
    assert!(status.success(), "{status:?}");
}

/// `--state-dir state`, relative: made absolute against the working
/// directory (the mount table and other processes see absolute paths).
pub fn a_relative_state_dir_works(bin: &str) {
    let dir = crate::temp_dir("tmp");
    let mut cmd = crate::step_command_in(bin, test_rootfs(), Path::new("state"));
    cmd.current_dir(dir.path())
        .args(["-q", "--", "/bin/echo", "hi"]);
    let run = collect(cmd.output_bounded());
    assert_eq!(run.code, Some(0), "{run:?}");
    assert_eq!(run.stdout, "hi\n");
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(
        !mounts.contains(&dir.path().display().to_string()),
        "{mounts}"
    );
}

/// Expands to one `#[test]` per contract function, for the binary `$bin`.
#[macro_export]
macro_rules! step_contract_tests {
    ($bin:expr) => {
        mod contract {
            #[allow(unused_imports)]
            use super::*;
            $crate::step_contract_tests!(@tests $bin;
                the_rootfs_is_another_system,
                an_interactive_shell_works_on_a_terminal,
                timings_show_how_long_each_call_took,
                dry_run_needs_no_root_and_runs_nothing,
                exit_codes_propagate_exactly,
                death_by_signal_gives_128_plus_n,
                missing_command_exits_127_naming_it,
                non_executable_command_exits_126,
                missing_rootfs_says_to_fetch_one,
                step_mode_without_a_terminal_is_refused_not_hung,
                environment_is_the_containers_own,
                stdin_is_the_containers,
                end_of_input_reaches_the_container,
                it_without_a_terminal_is_refused,
                sigterm_to_the_runtime_reaches_the_container,
                killing_the_runtime_kills_the_container,
                the_callers_descriptors_stay_outside,
                signal_state_is_the_default,
                a_closed_output_neither_panics_nor_leaks,
                stderr_flows_while_stdout_is_not_read,
                a_relative_state_dir_works,
            );
        }
    };
    (@tests $bin:expr; $($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                $crate::contract::$name($bin)
            }
        )*
    };
}
