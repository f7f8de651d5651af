//! Step 01, run as a learner runs it: the built `01-chroot` binary on the
//! busybox test rootfs. Snapshots hold what the learner sees (the container's
//! output and the trace); plain assertions hold the behaviour that matters.

use workshop_tests::{
    CommandExt, PROBE, RootfsCopy, as_nobody, collect, host_mounts, new_lines, redactions,
    run_step, step_command, test_rootfs,
};

const BIN: &str = env!("CARGO_BIN_EXE_01-chroot");

// What every step promises (exit codes, errors, stdin, signals, ...).
workshop_tests::step_contract_tests!(BIN);
workshop_tests::step_bad_input_tests!(BIN, []);

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
fn dry_run_prints_the_plan() {
    let run = run_step(BIN, &["--dry-run", "--", "/bin/sh", "-c", "echo ran"]);
    assert_eq!(run.code, Some(0), "{run:?}");
    assert_eq!(run.stdout, "");
    redactions(test_rootfs()).bind(|| insta::assert_snapshot!("dry_run", run.stderr));
}

#[test]
fn without_root_it_says_how_to_run_it() {
    let cmd = step_command(BIN, test_rootfs());
    let mut cmd = as_nobody(&cmd);
    cmd.args(["--", "/bin/true"]);
    let run = collect(cmd.output_bounded());
    run.assert_error(125, "needs root");
    redactions(test_rootfs()).bind(|| insta::assert_snapshot!("not_root", run.stderr));
}

#[test]
fn missing_command_message() {
    let run = run_step(BIN, &["-q", "--", "/nope"]);
    run.assert_error(127, "/nope");
    redactions(test_rootfs()).bind(|| insta::assert_snapshot!("missing_command", run.stderr));
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
        "hostname: <the host's hostname>\n",
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
            .output_bounded(),
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
            .output_bounded(),
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

/// `--step=NAMES` pauses only before the calls (or layers) it names, and
/// `c` at a pause lets the process run to the end: here, `--step=chroot,chdir`
/// stops at the chroot, where `c` is typed, and not at the chdir after it.
#[test]
fn step_pauses_where_its_filter_says_and_c_runs_to_the_end() {
    let args = ["--step=chroot,chdir", "--", "/bin/echo", "done"];
    let run = workshop_tests::contract::on_a_terminal(BIN, &args, b"c\n");
    assert_eq!(run.code, Some(0), "{run:?}");
    let pauses: Vec<&str> = run.stdout.lines().filter(|l| l.contains("next:")).collect();
    assert_eq!(pauses.len(), 1, "{pauses:?}");
    assert!(pauses[0].contains("chroot(\""), "{pauses:?}");
    assert!(run.stdout.contains("done"), "{run:?}");
}

/// `-it --step`: every pause takes its Enter, and none waits for one that
/// went to the container's terminal (the terminal is handed over after
/// the last pause). Enters beyond the pauses reach the shell as empty lines.
#[test]
fn step_with_a_terminal_pauses_before_the_terminal_is_handed_over() {
    let mut typed = b"\n".repeat(40);
    typed.extend_from_slice(b"exit 3\n");
    let run = workshop_tests::contract::on_a_terminal(BIN, &["-it", "--step", "/bin/sh"], &typed);
    assert_eq!(run.code, Some(3), "{run:?}");
    let pauses = run.stdout.lines().filter(|l| l.contains("next:")).count();
    assert!(pauses > 5, "{run:?}");
}
