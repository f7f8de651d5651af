//! Step 04, run as a learner runs it, with the seeds' demos: the memory
//! hog that the OOM killer stops, the fork bomb the pids limit contains,
//! the busy loops a CPU quota slows down. Limits are observed where they
//! act: exit codes, CPU time and counters the kernel keeps, the cgroup files.
//!
//! Every container cgroup goes below this test process's own cgroup
//! (`workshop_tests::test_cgroup_parent`), and is checked to be gone.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use step04_cgroups::hierarchy::Hierarchy;
use step04_cgroups::limits::{Controller, Version};
use workshop_tests::contract::container_process;
use workshop_tests::{
    ChildExt, CommandExt, PROBE, collect, probe_field, redactions, run_step, step_command,
    test_cgroup_parent, test_rootfs,
};

const BIN: &str = env!("CARGO_BIN_EXE_04-cgroups");

// What every step promises (exit codes, errors, stdin, signals, ...).
workshop_tests::step_contract_tests!(BIN);
workshop_tests::step_bad_input_tests!(BIN, [LIMITS]);
workshop_tests::step_escape_tests!(BIN, cgroups);
workshop_tests::step_fault_tests!(BIN, limits: ["--pids-limit", "50", "--memory", "64m"]);

fn hierarchy() -> Hierarchy {
    Hierarchy::detect().expect("cgroups on this host")
}

/// The directory of our test parent in `controller`'s hierarchy.
fn parent_dir(controller: Controller) -> PathBuf {
    let h = hierarchy();
    h.dir(controller, &h.own(controller).join(test_cgroup_parent()))
}

/// The container cgroups left in our test parent (there should be none
/// once every run has ended).
fn leftovers() -> Vec<PathBuf> {
    hierarchy()
        .controllers()
        .into_iter()
        .flat_map(|c| std::fs::read_dir(parent_dir(c)).into_iter().flatten())
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect()
}

/// The CPU time the report gives, in seconds.
fn reported_cpu_seconds(stderr: &str) -> f64 {
    stderr
        .lines()
        .find_map(|l| {
            l.trim()
                .strip_prefix("cpu time: ")?
                .strip_suffix(" s")?
                .parse()
                .ok()
        })
        .unwrap_or_else(|| panic!("no cpu time in the report:\n{stderr}"))
}

#[test]
fn a_memory_hog_is_oom_killed_and_reported() {
    // The seeds' eatmemory demo: a 15 MB limit, and more than that eaten.
    let run = run_step(BIN, &["--memory", "15m", "--", PROBE, "eat", "64m"]);
    run.assert_error(137, "killed by the OOM killer (memory limit 15 MiB)");
    assert!(!run.stdout.contains("ate 64 MiB"), "{}", run.stdout);
    assert!(
        run.stderr.contains("killed by SIGKILL: exit code 137"),
        "{}",
        run.stderr
    );

    // Under the limit, the same program finishes.
    let run = run_step(BIN, &["--memory", "15m", "--", PROBE, "eat", "8m"]);
    assert_eq!(run.code, Some(0), "{run:?}");
    assert!(run.stdout.ends_with("ate 8 MiB\n"), "{}", run.stdout);
    assert!(!run.stderr.contains("OOM"), "{}", run.stderr);
}

#[test]
fn memory_swap_equal_to_memory_means_no_swap() {
    let run = run_step(
        BIN,
        &["--memory", "16m", "--memory-swap", "16m", "/bin/true"],
    );
    assert_eq!(run.code, Some(0), "{run:?}");
    let write = match hierarchy().version() {
        Version::V1 => "memory.memsw.limit_in_bytes\", \"16777216\") = 0",
        Version::V2 => "memory.swap.max\", \"0\") = 0",
    };
    assert!(run.stderr.contains(write), "{}", run.stderr);
}

#[test]
fn the_fork_bomb_is_contained() {
    // The seminar paper's fork bomb, with a name busybox sh accepts.
    let bomb = "bomb() { bomb | bomb & }; bomb; sleep 2; echo survived";
    let started = Instant::now();
    let runtime = step_command(BIN, test_rootfs())
        .args(["--pids-limit", "10", "/bin/sh", "-c", bomb])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Meanwhile, the host can still start processes.
    std::thread::sleep(Duration::from_millis(500));
    let host = std::process::Command::new("/bin/true").status_bounded();
    assert!(host.is_ok_and(|s| s.success()), "the host could not fork");
    let run = collect(runtime.wait_with_output_bounded());
    assert_eq!(run.code, Some(0), "{run:?}");
    assert!(started.elapsed() < Duration::from_secs(20));
    assert!(run.stderr.contains("can't fork"), "{}", run.stderr);
    assert!(
        run.stderr.contains("pids: the limit of 10 was hit"),
        "{}",
        run.stderr
    );
    assert_eq!(run.stdout, "survived\n");
}

#[test]
fn a_cpu_quota_slows_two_busy_loops_to_a_fifth_of_a_core() {
    // Two loops, 2 s of wall time each, side by side: unlimited they would
    // use up to 4 s of CPU here; at 0.2 CPUs they get 0.2 * 2 s = 0.4 s.
    let loops = format!("{PROBE} spin 2 & {PROBE} spin 2; wait");
    let run = run_step(BIN, &["--cpus", "0.2", "--", "/bin/sh", "-c", &loops]);
    assert_eq!(run.code, Some(0), "{run:?}");
    let limited = reported_cpu_seconds(&run.stderr);
    assert!(
        (0.25..0.6).contains(&limited),
        "expected about 0.4 s of CPU, got {limited}"
    );
    assert!(
        run.stderr.contains("cpu.cfs_quota_us\", \"20000\")")
            || run.stderr.contains("cpu.max\", \"20000 100000\")")
    );

    let run = run_step(BIN, &["--", "/bin/sh", "-c", &loops]);
    let unlimited = reported_cpu_seconds(&run.stderr);
    assert!(
        unlimited > 2.0 * limited,
        "unlimited {unlimited} s vs limited {limited} s"
    );
}

/// The kernel's own copy of a limit, read from the container's cgroup
/// while it runs.
fn read_while_running(args: &[&str], controller: Controller, file: &str) -> String {
    let mut runtime = step_command(BIN, test_rootfs())
        .args(["-q"])
        .args(args)
        .args(["/bin/sleep", "5"])
        .spawn()
        .unwrap();
    let child = container_process(runtime.id(), "sleep");
    let h = hierarchy();
    let key = match h.version() {
        Version::V1 => controller.name().to_string(),
        Version::V2 => String::new(),
    };
    // Where the container is, from the host's point of view.
    let cgroups = std::fs::read_to_string(format!("/proc/{child}/cgroup")).unwrap();
    let path = cgroups
        .lines()
        .find_map(|l| {
            let (_, rest) = l.split_once(':')?;
            let (names, path) = rest.split_once(':')?;
            names.split(',').any(|n| n == key).then(|| path.to_string())
        })
        .unwrap();
    let value = std::fs::read_to_string(h.dir(controller, Path::new(&path)).join(file)).unwrap();
    runtime.kill().unwrap();
    runtime.wait_bounded().unwrap();
    value.trim().to_string()
}

#[test]
fn reservation_and_shares_land_in_the_right_files() {
    let (reservation_file, shares_file, weight) = match hierarchy().version() {
        Version::V1 => ("memory.soft_limit_in_bytes", "cpu.shares", "512"),
        Version::V2 => ("memory.low", "cpu.weight", "20"),
    };
    let limits = [
        "--memory",
        "64m",
        "--memory-reservation",
        "32m",
        "--cpu-shares",
        "512",
    ];
    assert_eq!(
        read_while_running(&limits, Controller::Memory, reservation_file),
        "33554432"
    );
    assert_eq!(
        read_while_running(&limits, Controller::Cpu, shares_file),
        weight
    );
    assert_eq!(
        read_while_running(&["--pids-limit", "7"], Controller::Pids, "pids.max"),
        "7"
    );
}

#[test]
fn inside_the_cgroup_namespace_the_cgroup_is_the_root() {
    let run = run_step(
        BIN,
        &[
            "-q",
            "--hostname",
            "limited",
            "--memory",
            "64m",
            PROBE,
            "report",
        ],
    );
    assert_eq!(run.code, Some(0), "{run:?}");
    let cgroup_lines: Vec<_> = run
        .stdout
        .lines()
        .filter(|l| l.starts_with("cgroup: "))
        .collect();
    assert!(!cgroup_lines.is_empty());
    for line in &cgroup_lines {
        assert!(
            line.ends_with(":/"),
            "the container sees its cgroup as /: {line}"
        );
    }
    assert_ne!(
        probe_field(&run.stdout, "ns.cgroup"),
        workshop_tests::own_ns("cgroup")
    );
    // (redactions() shows "/ in every hierarchy": v1 hosts differ in theirs)
    redactions(test_rootfs()).bind(|| insta::assert_snapshot!("probe", run.stdout));
}

#[test]
fn bad_limits_are_refused_before_anything_is_made() {
    for (args, code, says) in [
        (&["--memory", "12XB"][..], 125, "unknown unit \"xb\""),
        (&["--cpus", "-1"][..], 125, "give at least 0.01 CPUs"),
        (&["--pids-limit", "0"][..], 125, "at least 1"),
        (
            &["--memory", "16m", "--memory-swap", "8m"][..],
            125,
            "is less than --memory",
        ),
        (
            &["--memory-swap", "8m"][..],
            125,
            "--memory-swap needs --memory",
        ),
        (&["--cgroup-parent", "../escape"][..], 125, "without '..'"),
    ] {
        let run = run_step(BIN, &[args, &["/bin/true"]].concat());
        run.assert_error(code, says);
    }
}

#[test]
fn a_crashed_runs_cgroup_is_cleaned_by_the_next_run() {
    // A cgroup parent of this test's own: other tests' runs sweep the
    // shared one, and could take the crashed run's cgroup first.
    let parent = format!("{}/crashed", test_cgroup_parent());
    // A run whose runtime is SIGKILLed cannot clean up: its cgroup stays.
    let mut runtime = step_command(BIN, test_rootfs())
        .env("WORKSHOP_CGROUP_PARENT", &parent)
        .args(["-q", "--pids-limit", "50", "/bin/sleep", "30"])
        .spawn()
        .unwrap();
    let child = container_process(runtime.id(), "sleep");
    let cgroups = std::fs::read_to_string(format!("/proc/{child}/cgroup")).unwrap();
    let id = cgroups
        .lines()
        .find(|l| l.contains(test_cgroup_parent()))
        .and_then(|l| l.rsplit('/').next())
        .unwrap()
        .to_string();
    runtime.kill().unwrap();
    runtime.wait_bounded().unwrap();
    let h = hierarchy();
    let pids_dir = h
        .dir(Controller::Pids, &h.own(Controller::Pids).join(&parent))
        .join(&id);
    // The container dies with its runtime (PR_SET_PDEATHSIG); its cgroup is
    // left, empty. The next run finds and removes it, and says so.
    let deadline = Instant::now() + Duration::from_secs(5);
    while !std::fs::read_to_string(pids_dir.join("cgroup.procs"))
        .unwrap_or_default()
        .trim()
        .is_empty()
    {
        assert!(
            Instant::now() < deadline,
            "the container outlived its runtime"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(pids_dir.exists(), "the crashed run's cgroup is still there");
    let run = collect(
        step_command(BIN, test_rootfs())
            .env("WORKSHOP_CGROUP_PARENT", &parent)
            .args(["--pids-limit", "50", "/bin/true"])
            .output_bounded(),
    );
    assert_eq!(run.code, Some(0), "{run:?}");
    assert!(
        run.stderr.contains("removing a stale cgroup"),
        "{}",
        run.stderr
    );
    assert!(!pids_dir.exists(), "the stale cgroup was removed");
}

#[test]
fn no_cgroup_is_left_after_runs_that_end_in_any_way() {
    for args in [
        &["--memory", "32m", "/bin/true"][..],
        &["--memory", "32m", "/nope"][..], // exec fails in the child
        &["--memory", "32m", "/bin/sh", "-c", "exit 3"][..], // a failing command
        &["--memory", "15m", PROBE, "eat", "64m"][..], // OOM-killed
    ] {
        let run = run_step(BIN, args);
        assert_ne!(run.code, None, "{run:?}");
        let own: Vec<_> = leftovers()
            .into_iter()
            .filter(|p| {
                run.stderr
                    .contains(&*p.file_name().unwrap().to_string_lossy())
            })
            .collect();
        assert!(own.is_empty(), "left behind by {args:?}: {own:?}");
    }
}
