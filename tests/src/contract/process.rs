//! The contract, for processes and signals: a signal's death gives 128 + N,
//! SIGTERM to the runtime reaches the container, SIGKILL to it kills the
//! container, and nothing of the runtime's process (descriptors, signal
//! dispositions) leaks into the container.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::bounded::{ChildExt, CommandExt as _};
use crate::{collect, step_command, test_rootfs};

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
