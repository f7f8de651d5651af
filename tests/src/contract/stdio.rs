//! The contract, for stdin, stdout and stderr: stdin is the container's,
//! the end of input reaches it, a terminal is its own, and a closed or
//! unread output neither panics nor stops anything.

use std::io::Write;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use crate::bounded::{ChildExt, CommandExt as _};
use crate::{collect, run_step, step_command, test_rootfs};

/// On a terminal, as a learner types `cargo run --bin 01-chroot`: the shell
/// is interactive, reads what is typed and its exit code comes back.
pub fn an_interactive_shell_works_on_a_terminal(bin: &str) {
    // -it, as with docker: stdin kept open, and a pty of the container's own.
    let run = on_a_terminal(
        bin,
        &["-q", "-i", "-t", "/bin/sh", "-i"],
        b"[ -t 0 ] && echo on-a-tty; echo $((6 * 7)); exit 4\n",
    );
    assert_eq!(run.code, Some(4), "{run:?}");
    assert!(run.stdout.contains("on-a-tty"), "{}", run.stdout);
    assert!(run.stdout.contains("42"), "{}", run.stdout);
}

/// Runs step binary `bin` with `args` (after the test's own: rootfs,
/// state directory) on a terminal of its own, as a learner's shell gives
/// it, with `typed` typed at it. script(1) runs the command on a new
/// pseudo-terminal and copies our stdin to it.
pub fn on_a_terminal(bin: &str, args: &[&str], typed: &[u8]) -> crate::Run {
    let mut step = step_command(bin, test_rootfs());
    step.args(args);
    command_on_a_terminal(&step, typed)
}

/// [`on_a_terminal`] for any command: `step`'s program, arguments and
/// environment, run by script(1) on a terminal of its own.
pub fn command_on_a_terminal(step: &std::process::Command, typed: &[u8]) -> crate::Run {
    typing_later(step, typed, std::time::Duration::ZERO)
}

/// [`command_on_a_terminal`], typing only after `pause`: keys typed before
/// a program puts the terminal in raw mode are taken by the terminal
/// itself (Ctrl-Q is XON, Ctrl-C a signal), not by the program.
pub fn typing_later(
    step: &std::process::Command,
    typed: &[u8],
    pause: std::time::Duration,
) -> crate::Run {
    crate::require("script");
    let mut inner = vec![step.get_program().to_string_lossy().into_owned()];
    inner.extend(step.get_args().map(|a| a.to_string_lossy().into_owned()));
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
    std::thread::sleep(pause);
    stdin.write_all(typed).unwrap();
    // stdin stays open until the command has exited: at end-of-file
    // script(1) would hang up the terminal, maybe before it read our line.
    let run = collect(child.wait_with_output_bounded());
    drop(stdin);
    run
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
