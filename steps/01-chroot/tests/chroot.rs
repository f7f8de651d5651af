//! Step 01, run as a learner runs it: the built `01-chroot` binary on the
//! busybox test rootfs. Snapshots hold what the learner sees (the container's
//! output and the trace); plain assertions hold the behaviour that matters.

use std::io::Write;
use std::os::unix::process::CommandExt;
use std::process::Stdio;
use std::time::{Duration, Instant};

use workshop_tests::{
    PROBE, RootfsCopy, as_nobody, collect, host_mounts, new_lines, redactions, run_step,
    step_command, test_rootfs,
};

const BIN: &str = env!("CARGO_BIN_EXE_01-chroot");

#[test]
fn ls_lists_the_rootfs() {
    let run = run_step(BIN, &["-q", "--", "/bin/ls", "/"]);
    assert_eq!(run.code, Some(0), "{run:?}");
    assert_eq!(run.stderr, "", "-q prints nothing but errors");
    // The rootfs's own files, not the host's: busybox's `linuxrc` is not on
    // a Debian host, the host's `home` is not in the busybox rootfs.
    assert!(run.stdout.lines().any(|l| l == "linuxrc"), "{}", run.stdout);
    assert!(!run.stdout.lines().any(|l| l == "home"), "{}", run.stdout);
    insta::assert_snapshot!("ls_root", run.stdout);
}

#[test]
fn the_rootfs_is_another_system() {
    let run = run_step(BIN, &["-q", "--", "/bin/cat", "/etc/os-release"]);
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
#[test]
fn an_interactive_shell_works_on_a_terminal() {
    // script(1) runs the command on a new pseudo-terminal and copies our
    // stdin to it: the shell inside sees a real tty.
    let rootfs = test_rootfs().display().to_string();
    let inner = format!("{BIN} -q --rootfs {rootfs} /bin/sh -i");
    let mut child = std::process::Command::new("script")
        .args(["--quiet", "--return", "--command", &inner, "/dev/null"])
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
    let run = collect(child.wait_with_output());
    drop(stdin);
    assert_eq!(run.code, Some(4), "{run:?}");
    assert!(run.stdout.contains("on-a-tty"), "{}", run.stdout);
    assert!(run.stdout.contains("42"), "{}", run.stdout);
}

#[test]
fn trace_narrates_every_call() {
    let run = run_step(BIN, &["--", "/bin/true"]);
    assert_eq!(run.code, Some(0), "{run:?}");
    for call in [
        "clone(SIGCHLD)",
        "chroot(",
        "chdir(\"/\")",
        "execve(\"/bin/true\"",
    ] {
        assert!(
            run.stderr.contains(call),
            "trace lacks {call}: {}",
            run.stderr
        );
    }
    redactions(test_rootfs()).bind(|| insta::assert_snapshot!("trace", run.stderr));
}

#[test]
fn timings_show_how_long_each_call_took() {
    let run = run_step(BIN, &["--timings", "--", "/bin/true"]);
    assert_eq!(run.code, Some(0), "{run:?}");
    let timed = run
        .stderr
        .lines()
        .filter(|l| l.contains("chroot(") && l.ends_with("s>"));
    assert_eq!(timed.count(), 1, "{}", run.stderr);
}

#[test]
fn dry_run_prints_the_plan_without_root() {
    // As nobody: a dry run needs no privileges and executes nothing.
    let cmd = step_command(BIN, test_rootfs());
    let mut cmd = as_nobody(&cmd);
    cmd.args(["--dry-run", "--", "/bin/sh", "-c", "echo ran"]);
    let run = collect(cmd.output());
    assert_eq!(run.code, Some(0), "{run:?}");
    assert_eq!(run.stdout, "", "nothing may run in a dry run");
    assert!(run.stderr.contains("chroot("), "{}", run.stderr);
    redactions(test_rootfs()).bind(|| insta::assert_snapshot!("dry_run", run.stderr));
}

#[test]
fn without_root_it_says_how_to_run_it() {
    let cmd = step_command(BIN, test_rootfs());
    let mut cmd = as_nobody(&cmd);
    cmd.args(["--", "/bin/true"]);
    let run = collect(cmd.output());
    run.assert_error(125, "needs root");
    redactions(test_rootfs()).bind(|| insta::assert_snapshot!("not_root", run.stderr));
}

#[test]
fn exit_codes_propagate_exactly() {
    for (script, code) in [("exit 0", 0), ("exit 7", 7), ("exit 255", 255)] {
        let run = run_step(BIN, &["-q", "--", "/bin/sh", "-c", script]);
        assert_eq!(run.code, Some(code), "{script}: {run:?}");
    }
    let run = run_step(BIN, &["--", "/bin/sh", "-c", "exit 7"]);
    assert!(
        run.stderr.contains("the container exited with status 7"),
        "{}",
        run.stderr
    );
}

#[test]
fn death_by_signal_gives_128_plus_n() {
    let run = run_step(BIN, &["--", "/bin/sh", "-c", "kill -9 $$"]);
    assert_eq!(run.code, Some(137), "{run:?}");
    assert!(
        run.stderr
            .contains("killed by SIGKILL: exit code 137 (128 + 9)"),
        "{}",
        run.stderr
    );
    let run = run_step(BIN, &["-q", "--", "/bin/sh", "-c", "kill -TERM $$"]);
    assert_eq!(run.code, Some(143), "{run:?}");
}

#[test]
fn missing_command_exits_127_naming_it() {
    let run = run_step(BIN, &["-q", "--", "/nope"]);
    run.assert_error(127, "/nope");
    redactions(test_rootfs()).bind(|| insta::assert_snapshot!("missing_command", run.stderr));

    // Without a slash the command is looked up in the container's PATH.
    let run = run_step(BIN, &["-q", "--", "ls", "/bin/sh"]);
    assert_eq!(run.code, Some(0), "{run:?}");
    let run = run_step(BIN, &["-q", "--", "no-such-command"]);
    run.assert_error(127, "no-such-command: command not found");
}

#[test]
fn non_executable_command_exits_126() {
    let rootfs = RootfsCopy::new();
    std::fs::write(rootfs.path().join("not-executable"), "#!/bin/sh\necho hi\n").unwrap();
    let run = collect(
        step_command(BIN, rootfs.path())
            .args(["-q", "/not-executable"])
            .output(),
    );
    run.assert_error(126, "chmod +x");
}

#[test]
fn missing_rootfs_says_to_fetch_one() {
    let missing = std::env::temp_dir().join("workshop-no-such-rootfs");
    let run = collect(step_command(BIN, &missing).args(["/bin/sh"]).output());
    run.assert_error(125, "./rootfs-fetch.sh");
    assert!(
        run.stderr.contains(&missing.display().to_string()),
        "{}",
        run.stderr
    );
}

#[test]
fn step_mode_without_a_terminal_is_refused_not_hung() {
    let run = collect(
        step_command(BIN, test_rootfs())
            .args(["--step", "--", "/bin/true"])
            .process_group(0) // no controlling terminal to fall back on
            .output(),
    );
    run.assert_error(125, "--step needs a terminal");
}

#[test]
fn environment_is_the_containers_own() {
    let run = run_step(BIN, &["-q", "-e", "GREETING=hello", "--", "/usr/bin/env"]);
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

#[test]
fn stdin_is_the_containers() {
    let mut child = step_command(BIN, test_rootfs())
        .args(["-q", "/bin/sh"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"echo from-stdin; exit 3\n")
        .unwrap();
    let run = collect(child.wait_with_output());
    assert_eq!(run.code, Some(3), "{run:?}");
    assert_eq!(run.stdout, "from-stdin\n");
}

#[test]
fn probe_sees_the_rootfs_and_no_proc() {
    // A file on the host, outside the rootfs: chroot hides it (by path).
    let host_dir = tempfile::Builder::new()
        .prefix("workshop-host-")
        .tempdir()
        .unwrap();
    let host_file = host_dir.path().join("secret");
    std::fs::write(&host_file, "host").unwrap();
    let host_file = host_file.display().to_string();
    let run = run_step(BIN, &["-q", "--", PROBE, "report", "--see", &host_file]);
    assert_eq!(run.code, Some(0), "{run:?}");
    assert!(run.stdout.contains("uid: 0\n"), "{}", run.stdout);
    assert!(
        run.stdout.contains(&format!("see {host_file}: no")),
        "{}",
        run.stdout
    );
    // /proc is an empty directory in the rootfs: nothing to read there yet.
    assert!(run.stdout.contains("ns.pid: unavailable"), "{}", run.stdout);
    // No UTS namespace yet: the hostname is the host's.
    let host = nix::unistd::gethostname().unwrap().into_string().unwrap();
    assert!(
        run.stdout.contains(&format!("hostname: {host}\n")),
        "{}",
        run.stdout
    );
    let mut settings = redactions(test_rootfs());
    settings.add_filter(
        &format!("hostname: {host}\n"),
        "hostname: [THE HOST'S HOSTNAME]\n",
    );
    settings.bind(|| insta::assert_snapshot!("probe", run.stdout));
}

/// EXPECTED TO ESCAPE. chroot is not a security boundary: a root process
/// leaves it with mkdir + chroot + chdir("..") + chroot("."). Step 05 runs
/// this same test against pivot_root and expects the opposite.
#[test]
fn chroot_escape_succeeds_as_documented() {
    let host_dir = tempfile::Builder::new()
        .prefix("workshop-host-")
        .tempdir()
        .unwrap();
    let secret = format!("host secret {}", std::process::id());
    let host_file = host_dir.path().join("secret");
    std::fs::write(&host_file, &secret).unwrap();
    let rootfs = RootfsCopy::new();
    let host_file = host_file.display().to_string();
    let run = collect(
        step_command(BIN, rootfs.path())
            .args(["-q", PROBE, "escape", "--", "/bin/cat", &host_file])
            .output(),
    );
    assert_eq!(run.code, Some(0), "{run:?}");
    assert_eq!(run.stdout, secret, "the escape reads the host's file");
    // The escape's stepping-stone directory is gone again.
    let left: Vec<_> = std::fs::read_dir(rootfs.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with("escape."))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

/// chroot hides the host's files, not its processes: with a /proc mounted
/// inside, `ps` lists every process of the host, this test included.
#[test]
fn ps_inside_shows_host_processes() {
    let rootfs = RootfsCopy::new();
    let before = host_mounts();
    let run = collect(
        step_command(BIN, rootfs.path())
            .args([
                "-q",
                "/bin/sh",
                "-c",
                "mount -t proc proc /proc && ps -o pid,comm; umount /proc",
            ])
            .output(),
    );
    assert_eq!(run.code, Some(0), "{run:?}");
    let me = std::process::id().to_string();
    assert!(
        run.stdout
            .lines()
            .any(|l| l.split_whitespace().next() == Some(&me)),
        "ps inside should list this test process ({me}):\n{}",
        run.stdout
    );
    // No mount namespace yet: that /proc mount was the host's, and the
    // command above removed it again. Nothing may be left.
    assert_eq!(new_lines(&before, &host_mounts()), Vec::<String>::new());
}

#[test]
fn sigterm_to_the_runtime_reaches_the_container() {
    let mut runtime = step_command(BIN, test_rootfs())
        .args(["-q", "/bin/sleep", "30"])
        .spawn()
        .unwrap();
    let child = wait_for_child(runtime.id());
    nix::sys::signal::kill(pid(runtime.id()), nix::sys::signal::Signal::SIGTERM).unwrap();
    let started = Instant::now();
    let status = runtime.wait().unwrap();
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(status.code(), Some(143), "sleep dies of SIGTERM: 128 + 15");
    assert!(!std::path::Path::new(&format!("/proc/{child}")).exists());
}

#[test]
fn killing_the_runtime_kills_the_container() {
    let mut runtime = step_command(BIN, test_rootfs())
        .args(["-q", "/bin/sleep", "30"])
        .spawn()
        .unwrap();
    let child = wait_for_child(runtime.id());
    // SIGKILL cannot be caught or forwarded: PR_SET_PDEATHSIG does the job.
    runtime.kill().unwrap();
    runtime.wait().unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::path::Path::new(&format!("/proc/{child}")).exists() {
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

/// Waits until the runtime `parent` has a child that runs `sleep`, and
/// returns its pid.
fn wait_for_child(parent: u32) -> u32 {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let children =
            std::fs::read_to_string(format!("/proc/{parent}/task/{parent}/children")).unwrap();
        if let Some(child) = children.split_whitespace().next() {
            let comm = std::fs::read_to_string(format!("/proc/{child}/comm")).unwrap_or_default();
            if comm.trim() == "sleep" {
                return child.parse().unwrap();
            }
        }
        assert!(Instant::now() < deadline, "no container appeared");
        std::thread::sleep(Duration::from_millis(20));
    }
}
