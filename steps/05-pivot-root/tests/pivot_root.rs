//! Step 05, run as a learner runs it: the escape that worked in step 01
//! now fails, the container's mounts are its own, and `/dev`, `/proc`,
//! `/sys`, volumes and `--read-only` behave as in Docker.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use workshop_tests::{
    CommandExt, PROBE, RootfsCopy, Run, collect, full_trace_redactions, host_mounts, new_lines,
    probe_field, redactions, run_step, step_command, test_rootfs,
};

const BIN: &str = env!("CARGO_BIN_EXE_05-pivot-root");

// What every step promises (exit codes, errors, stdin, signals, ...).
workshop_tests::step_contract_tests!(BIN);
workshop_tests::step_bad_input_tests!(BIN, [LIMITS, VOLUMES]);
workshop_tests::step_escape_tests!(BIN, cgroups, mounts);
workshop_tests::step_fault_tests!(BIN, read_only_volume: ["-v", "{volume}:/data:ro"]);

/// A file on the host, outside any rootfs, with text nobody could guess.
fn host_secret() -> (tempfile::TempDir, String, String) {
    let dir = tempfile::Builder::new()
        .prefix("workshop-host-")
        .tempdir()
        .unwrap();
    let file = dir.path().join("secret");
    let text = format!("host secret {}", std::process::id());
    fs::write(&file, &text).unwrap();
    (dir, file.display().to_string(), text)
}

/// The same program as step 01's `chroot_escape_succeeds_as_documented`,
/// with the opposite result: after pivot_root the host's root is gone.
#[test]
fn the_chroot_escape_is_contained() {
    let (_dir, file, secret) = host_secret();
    let rootfs = RootfsCopy::new();
    let run = collect(
        step_command(BIN, rootfs.path())
            .args(["-q", PROBE, "escape", "--", "/bin/cat", &file])
            .output_bounded(),
    );
    assert!(
        !run.stdout.contains(&secret),
        "the escape read the host's file: {run:?}"
    );
    assert_eq!(run.code, Some(1), "cat finds no such file: {run:?}");
    assert!(
        run.stderr.contains("No such file or directory"),
        "{}",
        run.stderr
    );
}

#[test]
fn no_path_leads_to_the_hosts_files() {
    let (_dir, file, _) = host_secret();
    let via_proc = format!("/proc/1/root{file}");
    let run = run_step(
        BIN,
        &[
            "-q",
            "--hostname",
            "inside",
            "--",
            PROBE,
            "report",
            "--see",
            &file,
            "--see",
            &via_proc,
            "--see",
            "/../../../../etc/passwd",
        ],
    );
    assert_eq!(run.code, Some(0), "{run:?}");
    assert!(probe_field(&run.stdout, &format!("see {file}")).starts_with("no"));
    assert!(probe_field(&run.stdout, &format!("see {via_proc}")).starts_with("no"));
    // "/.." is "/": the rootfs's /etc/passwd, not the host's.
    let run = run_step(
        BIN,
        &[
            "-q",
            "--",
            "/bin/cat",
            "/../../../../etc/passwd",
            "/proc/1/root/etc/hostname",
        ],
    );
    let rootfs_passwd = fs::read_to_string(test_rootfs().join("etc/passwd")).unwrap();
    assert!(run.stdout.starts_with(&rootfs_passwd), "{}", run.stdout);
    let host_hostname = fs::read_to_string("/etc/hostname").unwrap_or_default();
    assert!(
        !run.stdout.ends_with(&host_hostname) || host_hostname.is_empty(),
        "{}",
        run.stdout
    );
}

#[test]
fn the_container_sees_only_its_own_mounts() {
    let run = run_step(BIN, &["-q", "--hostname", "mounts", "--", PROBE, "report"]);
    assert_eq!(run.code, Some(0), "{run:?}");
    let mount_points: Vec<_> = run
        .stdout
        .lines()
        .filter_map(|l| l.strip_prefix("mount: "))
        .map(|l| l.split(' ').next().unwrap())
        .collect();
    for point in &mount_points {
        let ours = ["/", "/dev", "/proc", "/sys", "/etc/", "/tmp"]
            .iter()
            .any(|p| {
                point == p || point.starts_with(&format!("{p}/")) || point.starts_with("/etc/")
            });
        assert!(ours, "a mount that is not the container's: {point}");
    }
    assert!(mount_points.contains(&"/dev/pts") && mount_points.contains(&"/proc/sys"));
    let mut settings = redactions(test_rootfs());
    // What differs between hosts: /sys's submounts (cgroup hierarchies and
    // the like), the masked /proc files this kernel has, the host's disks.
    settings.add_filter(
        r"(?m)(^mount: /sys/\S+ \S+\n)+",
        "mount: /sys/... <the host's /sys submounts, read-only>\n",
    );
    settings.add_filter(r"(?m)(^mount: /proc/(acpi|asound|kcore|keys|latency_stats|timer_list|timer_stats|sched_debug|scsi|sysrq-trigger) \S+\n)+", "mount: /proc/... <the masked files this kernel has>\n");
    settings.add_filter(
        r"(?m)^mount: (/|/etc/\S+) \S+$",
        "mount: $1 <the host's file system>",
    );
    settings.add_filter(r"(?m)^mounts: \d+$", "mounts: <n>");
    settings.bind(|| insta::assert_snapshot!("probe", run.stdout));
}

#[test]
fn dev_holds_only_what_a_container_needs() {
    let run = run_step(BIN, &["-q", "--", "/bin/ls", "-1", "/dev"]);
    assert_eq!(run.code, Some(0), "{run:?}");
    insta::assert_snapshot!("dev", run.stdout);
    let run = run_step(
        BIN,
        &[
            "-q",
            "--",
            "/bin/sh",
            "-c",
            "ls -l /dev/null; echo hi > /dev/null && head -c 4 /dev/zero | wc -c",
        ],
    );
    assert_eq!(run.code, Some(0), "{run:?}");
    assert!(
        run.stdout.contains("1,   3"),
        "/dev/null is the null device: {}",
        run.stdout
    );
    assert!(run.stdout.ends_with("4\n"), "{}", run.stdout);
}

#[test]
fn masked_paths_read_as_empty_and_read_only_paths_refuse_writes() {
    let script = "for f in /proc/timer_list /proc/keys; do [ -e $f ] && wc -c < $f; done; ls /proc/acpi 2>/dev/null | wc -l; \
                  echo x > /proc/sys/kernel/domainname; [ -e /proc/sysrq-trigger ] && echo h > /proc/sysrq-trigger; \
                  touch /sys/x";
    let run = run_step(BIN, &["-q", "--", "/bin/sh", "-c", script]);
    for line in run.stdout.lines() {
        assert_eq!(line.trim(), "0", "masked: {}", run.stdout);
    }
    assert!(
        run.stderr.contains("domainname: Read-only file system"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("/sys/x: Read-only file system"),
        "{}",
        run.stderr
    );
    // (some kernels have no /proc/sysrq-trigger; where there is one, it refuses too)
    if run.stderr.contains("sysrq-trigger") {
        assert!(
            run.stderr.contains("sysrq-trigger: Read-only file system"),
            "{}",
            run.stderr
        );
    }
}

#[test]
fn read_only_makes_the_root_read_only() {
    let rootfs = RootfsCopy::new();
    let touch = |flags: &[&str], path: &str| {
        collect(
            step_command(BIN, rootfs.path())
                .arg("-q")
                .args(flags)
                .args(["--", "/bin/touch", path])
                .output_bounded(),
        )
    };
    let refused = |run: Run| {
        assert_eq!(run.code, Some(1), "{run:?}");
        assert!(run.stderr.contains("Read-only file system"), "{run:?}");
    };
    // The shared rootfs is read-only to every container (step 03's
    // reach.rs); its /tmp is its own, and --read-only takes that too.
    refused(touch(&[], "/new"));
    refused(touch(&["--read-only"], "/tmp/new"));
    let run = touch(&[], "/tmp/new");
    assert_eq!(run.code, Some(0), "without --read-only: {run:?}");
    assert!(
        !rootfs.path().join("tmp/new").exists(),
        "the container's /tmp is its own, not the shared rootfs's"
    );
}

#[test]
fn the_host_mount_table_is_unchanged_after_every_run() {
    let before = host_mounts();
    let source = tempfile::Builder::new()
        .prefix("workshop-vol-")
        .tempdir()
        .unwrap();
    let volume = format!("{}:/mnt/vol", source.path().display());
    let rootfs = RootfsCopy::new();
    let state = workshop_tests::temp_dir("state");
    // Other tests run containers meanwhile: only mounts of this test's own
    // rootfs, state directory and volume count.
    let ours = |line: &String| {
        [rootfs.path(), state.path(), source.path()]
            .iter()
            .any(|p| line.contains(&p.display().to_string()))
    };
    let runs: [(&[&str], i32); 5] = [
        (&["/bin/true"], 0),
        (&["-v", &volume, "--read-only", "/bin/true"], 0),
        (&["/nope"], 127),
        (&["--pivot-without-bind", "/bin/true"], 125),
        (&["-v", "/no/such/dir:/x", "/bin/true"], 125),
    ];
    for (args, code) in runs {
        let run = collect(
            workshop_tests::step_command_in(BIN, rootfs.path(), state.path())
                .arg("-q")
                .args(args)
                .output_bounded(),
        );
        assert_eq!(run.code, Some(code), "{args:?}: {run:?}");
        let left: Vec<String> = new_lines(&before, &host_mounts())
            .into_iter()
            .filter(ours)
            .collect();
        assert_eq!(left, Vec::<String>::new(), "after {args:?}");
    }
}

/// EXPECTED TO FAIL with --pivot-without-bind: the lesson flag skips the
/// bind mount that makes the rootfs a mount point.
#[test]
fn pivot_root_needs_a_mount_point() {
    let run = run_step(BIN, &["--pivot-without-bind", "/bin/true"]);
    run.assert_error(125, "the new root must be a mount point");
    assert!(
        run.stderr.contains("pivot_root(\".\", \".\") = -1 EINVAL"),
        "{}",
        run.stderr
    );
    let run = run_step(BIN, &["-v", "/no/such/dir:/x", "/bin/true"]);
    run.assert_error(125, "volume source /no/such/dir does not exist");
}

/// Step 03 could not nest a user namespace under chroot; now it can.
#[test]
fn a_nested_user_namespace_works_after_pivot_root() {
    let run = run_step(
        BIN,
        &["-q", "/bin/sh", "-c", "unshare -r cat /proc/self/uid_map"],
    );
    assert_eq!(run.code, Some(0), "{run:?}");
    assert_eq!(
        run.stdout.split_whitespace().collect::<Vec<_>>(),
        ["0", "0", "1"]
    );
}

#[test]
fn etc_files_are_the_containers() {
    let run = run_step(
        BIN,
        &[
            "-q",
            "--hostname",
            "web-1",
            "/bin/cat",
            "/etc/hostname",
            "/etc/hosts",
        ],
    );
    assert_eq!(run.code, Some(0), "{run:?}");
    assert!(
        run.stdout.starts_with("web-1\n127.0.0.1\tlocalhost\n"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("127.0.1.1\tweb-1\n"), "{}", run.stdout);
    // The image's own files are not changed.
    assert_ne!(
        fs::read_to_string(test_rootfs().join("etc/hostname")).unwrap(),
        "web-1\n"
    );
    assert!(
        !Path::new(&test_rootfs().join("etc/hosts")).exists()
            || !fs::read_to_string(test_rootfs().join("etc/hosts"))
                .unwrap()
                .contains("web-1")
    );
}

#[test]
fn trace_shows_the_pivot_sequence() {
    let run = run_step(BIN, &["--hostname", "pivoted", "/bin/true"]);
    assert_eq!(run.code, Some(0), "{run:?}");
    let order = [
        "MS_BIND | MS_REC",
        "\"devpts\"",
        "pivot_root(\".\", \".\") = 0",
        "umount2(\".\", MNT_DETACH) = 0",
        "/proc/sys",
    ];
    let positions: Vec<_> = order
        .iter()
        .map(|s| {
            run.stderr
                .find(s)
                .unwrap_or_else(|| panic!("no {s}:\n{}", run.stderr))
        })
        .collect();
    assert!(
        positions.windows(2).all(|w| w[0] < w[1]),
        "out of order:\n{}",
        run.stderr
    );
    // (host-specific lines filtered: see full_trace_redactions)
    full_trace_redactions(test_rootfs()).bind(|| {
        insta::assert_snapshot!(
            "trace",
            workshop_tests::without_others_leftovers(&run.stderr)
        )
    });
}

/// `-t`: the container's terminal is a pty of its own devpts, `/dev/pts/0`,
/// and `/dev/console` too; without `-t` it has no terminal at all.
#[test]
fn with_t_the_container_has_a_terminal_of_its_own() {
    let script = "tty; [ -c /dev/console ] && echo console";
    let run = run_step(BIN, &["-q", "-t", "--", "/bin/sh", "-c", script]);
    assert_eq!(run.code, Some(0), "{run:?}");
    assert_eq!(run.stdout.replace('\r', ""), "/dev/pts/0\nconsole\n");
    let run = run_step(BIN, &["-q", "--", "/bin/sh", "-c", "tty"]);
    assert_eq!(run.code, Some(1), "{run:?}");
    assert_eq!(run.stdout, "not a tty\n");
}

/// On most hosts `/` is a *shared* mount (systemd makes it so), and what
/// the parent unmounts there would also vanish from the child's copy, were
/// it unmounted before the child made its mounts private. A state
/// directory on a shared mount, with a read-only volume, must work.
#[test]
fn a_state_directory_on_a_shared_mount_works() {
    let shared = workshop_tests::temp_dir("shared");
    let mount = |args: &[&str]| {
        let status = Command::new("mount").args(args).status_bounded().unwrap();
        assert!(status.success(), "mount {args:?}");
    };
    let dir = shared.path().display().to_string();
    mount(&["-t", "tmpfs", "workshop-test", &dir]);
    mount(&["--make-shared", &dir]);
    let volume = workshop_tests::temp_dir("vol");
    fs::write(volume.path().join("file"), "read me").unwrap();
    fs::set_permissions(volume.path(), fs::Permissions::from_mode(0o755)).unwrap();
    let arg = format!("{}:/data:ro", volume.path().display());
    let state = shared.path().join("state");
    let rootfs = RootfsCopy::new();
    let run = collect(
        workshop_tests::step_command_in(BIN, rootfs.path(), &state)
            .args(["-q", "-v", &arg, "/bin/cat", "/data/file"])
            .output_bounded(),
    );
    let _ = Command::new("umount").args(["-l", &dir]).status_bounded();
    assert_eq!(run.code, Some(0), "{run:?}");
    assert_eq!(run.stdout, "read me");
}
