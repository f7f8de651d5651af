//! Step 02, run as a learner runs it: namespaces seen from inside (the probe,
//! `ps`, `hostname`) and from the host (/proc, the mount table, `ipcs`).

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use workshop_tests::contract::{container_process, first_child};
use workshop_tests::{
    ChildExt, CommandExt, PROBE, host_mounts, new_lines, own_ns, probe_field, redactions, run_step,
    step_command, test_rootfs,
};

const BIN: &str = env!("CARGO_BIN_EXE_02-pid-ns");

// What every step promises (exit codes, errors, stdin, signals, ...).
workshop_tests::step_contract_tests!(BIN);
workshop_tests::step_bad_input_tests!(BIN, []);

#[test]
fn the_probe_is_pid_1_in_namespaces_of_its_own() {
    let run = run_step(
        BIN,
        &["-q", "--hostname", "probe-box", "--", PROBE, "report"],
    );
    assert_eq!(run.code, Some(0), "{run:?}");
    let report = &run.stdout;
    assert_eq!(probe_field(report, "pid"), "1");
    assert_eq!(
        probe_field(report, "ppid"),
        "0",
        "PID 1's parent is outside its namespace"
    );
    assert_eq!(probe_field(report, "hostname"), "probe-box");
    for ns in ["pid", "mnt", "uts", "ipc"] {
        let inside = probe_field(report, &format!("ns.{ns}"));
        assert_ne!(inside, own_ns(ns), "{ns}: the container has its own");
    }
    for ns in ["net", "user", "cgroup"] {
        let inside = probe_field(report, &format!("ns.{ns}"));
        assert_eq!(inside, own_ns(ns), "{ns}: still the host's (later steps)");
    }
    // Its mount table holds only what is inside its root: the new /proc.
    assert!(report.contains("mount: /proc proc\n"), "{report}");
    redactions(test_rootfs()).bind(|| insta::assert_snapshot!("probe", run.stdout));
}

#[test]
fn ps_lists_only_the_containers_processes() {
    let run = run_step(BIN, &["-q", "--", "/bin/ps"]);
    assert_eq!(run.code, Some(0), "{run:?}");
    let lines: Vec<_> = run.stdout.lines().collect();
    assert_eq!(lines.len(), 2, "a header and ps itself:\n{}", run.stdout);
    assert!(
        lines[1].trim_start().starts_with("1 "),
        "ps is PID 1: {}",
        lines[1]
    );
    insta::assert_snapshot!("ps", run.stdout);

    // With --init, PID 1 is the init and the command PID 2.
    let run = run_step(BIN, &["-q", "--init", "--", "/bin/ps", "-o", "pid,comm"]);
    assert_eq!(run.code, Some(0), "{run:?}");
    insta::assert_snapshot!("ps_with_init", run.stdout);
}

#[test]
fn the_hostname_is_the_containers_own() {
    let host_before = nix::unistd::gethostname().unwrap();
    let run = run_step(BIN, &["-q", "--", "/bin/hostname"]);
    assert_eq!(run.code, Some(0), "{run:?}");
    let name = run.stdout.trim();
    assert_eq!(
        name.len(),
        12,
        "the default is the short container id: {name}"
    );
    assert!(name.chars().all(|c| c.is_ascii_hexdigit()), "{name}");

    // Changing it inside leaves the host's alone.
    let run = run_step(
        BIN,
        &[
            "-q",
            "--hostname",
            "box",
            "--",
            "/bin/sh",
            "-c",
            "hostname other && hostname",
        ],
    );
    assert_eq!(run.stdout, "other\n", "{run:?}");
    assert_eq!(nix::unistd::gethostname().unwrap(), host_before);

    let run = run_step(BIN, &["--hostname", "not a name", "/bin/true"]);
    run.assert_error(125, "use letters, digits");
}

#[test]
fn mounts_made_inside_stay_inside() {
    let before = host_mounts();
    let run = run_step(
        BIN,
        &[
            "-q",
            "--",
            "/bin/sh",
            "-c",
            "mount -t tmpfs scratch /tmp && grep -c tmpfs /proc/self/mountinfo",
        ],
    );
    assert_eq!(run.code, Some(0), "{run:?}");
    assert_eq!(run.stdout, "1\n", "the tmpfs is mounted inside");
    // Also after a run that fails in the child.
    let run = run_step(BIN, &["-q", "--", "/nope"]);
    assert_eq!(run.code, Some(127));
    assert_eq!(new_lines(&before, &host_mounts()), Vec::<String>::new());
}

#[test]
fn ipc_objects_are_the_containers_own() {
    // A segment on the host, which the container must not see.
    workshop_tests::require("ipcmk");
    let made = Command::new("ipcmk")
        .args(["-M", "4096"])
        .output_bounded()
        .expect("ipcmk (util-linux)");
    let made = String::from_utf8_lossy(&made.stdout);
    let host_id = made.trim().rsplit(' ').next().unwrap().to_string();
    let key = "0x57570002";
    let script = format!(
        "{PROBE} report | grep sysvipc; {PROBE} shm-create {key} >/dev/null && {PROBE} report | grep sysvipc"
    );
    let run = run_step(BIN, &["-q", "--", "/bin/sh", "-c", &script]);
    let host_list = Command::new("ipcs").arg("-m").output_bounded().unwrap();
    Command::new("ipcrm")
        .args(["-m", &host_id])
        .status_bounded()
        .unwrap();
    assert_eq!(run.code, Some(0), "{run:?}");
    assert_eq!(
        run.stdout,
        format!("sysvipc.shm: none\nsysvipc.shm: key={key}\n"),
        "none of the host's segments inside; its own one, once made"
    );
    // The container's segment went away with its IPC namespace.
    assert!(!String::from_utf8_lossy(&host_list.stdout).contains(key));
}

#[test]
fn trace_shows_the_namespaces() {
    let run = run_step(BIN, &["--hostname", "traced", "--", "/bin/true"]);
    assert_eq!(run.code, Some(0), "{run:?}");
    assert!(
        run.stderr
            .contains("clone(CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWPID | SIGCHLD)")
    );
    redactions(test_rootfs()).bind(|| insta::assert_snapshot!("trace", run.stderr));
}

#[test]
fn dry_run_plan_with_init() {
    let run = run_step(
        BIN,
        &["--dry-run", "--init", "--hostname", "planned", "/bin/sh"],
    );
    assert_eq!(run.code, Some(0), "{run:?}");
    redactions(test_rootfs()).bind(|| insta::assert_snapshot!("dry_run_init", run.stderr));
}

/// The state (R, S, Z, ...) of a host process, from /proc/PID/stat.
fn state(pid: &str) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit_once(") ")?.1.chars().next()
}

fn children(pid: u32) -> Vec<String> {
    std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
        .unwrap_or_default()
        .split_whitespace()
        .map(String::from)
        .collect()
}

/// A process that leaves an orphan (`sleep 1`), then becomes a PID 1 that
/// never waits (`sleep 30`).
const ORPHAN_MAKER: &str = "sh -c 'sleep 1 &'; exec sleep 30";

/// Runs [`ORPHAN_MAKER`] and watches, from the host, the orphan after it
/// was re-parented to PID 1: returns whether it is left as a zombie.
fn orphan_is_left_a_zombie(init_flag: bool) -> bool {
    let mut args = vec!["-q"];
    if init_flag {
        args.push("--init");
    }
    args.extend(["/bin/sh", "-c", ORPHAN_MAKER]);
    let mut runtime = step_command(BIN, test_rootfs())
        .args(&args)
        .spawn()
        .unwrap();
    let pid_1 = first_child(runtime.id());
    let is_orphan = |pid: &String| {
        std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| c == b"sleep\x001\x00")
    };
    // Find the orphan among PID 1's children while it still runs...
    let deadline = Instant::now() + Duration::from_secs(10);
    let orphan = loop {
        if let Some(orphan) = children(pid_1).into_iter().find(is_orphan) {
            break orphan;
        }
        assert!(
            Instant::now() < deadline,
            "the orphan never became PID 1's child"
        );
        std::thread::sleep(Duration::from_millis(5));
    };
    // ...then watch it end: reaped (gone) or a zombie that stays.
    let zombie = loop {
        match state(&orphan) {
            None => break false,
            Some('Z') => {
                std::thread::sleep(Duration::from_secs(1)); // time to be reaped
                break state(&orphan) == Some('Z');
            }
            Some(_) => {
                assert!(Instant::now() < deadline, "the orphan did not end");
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    };
    runtime.kill().unwrap();
    runtime.wait_bounded().unwrap();
    zombie
}

#[test]
fn a_plain_pid_1_leaves_a_zombie_and_init_reaps_it() {
    assert!(
        orphan_is_left_a_zombie(false),
        "sleep as PID 1 never waits: a zombie"
    );
    assert!(!orphan_is_left_a_zombie(true), "--init reaps the orphan");
}

#[test]
fn a_plain_pid_1_ignores_sigterm_and_init_passes_it_on() {
    // Without --init: `sleep` is PID 1 and has no handler, so the SIGTERM
    // the runtime passes on is dropped by the kernel.
    let mut runtime = step_command(BIN, test_rootfs())
        .args(["-q", "/bin/sleep", "30"])
        .spawn()
        .unwrap();
    let sleep = container_process(runtime.id(), "sleep");
    kill(Pid::from_raw(runtime.id() as i32), Signal::SIGTERM).unwrap();
    std::thread::sleep(Duration::from_millis(700));
    assert!(
        runtime.try_wait().unwrap().is_none(),
        "the runtime still waits"
    );
    assert_eq!(
        state(&sleep.to_string()).map(|s| s != 'Z'),
        Some(true),
        "sleep lives on"
    );
    runtime.kill().unwrap(); // SIGKILL: PR_SET_PDEATHSIG takes the container along
    runtime.wait_bounded().unwrap();

    // With --init: PID 1 handles SIGTERM and passes it on; sleep dies of it.
    let mut runtime = step_command(BIN, test_rootfs())
        .args(["-q", "--init", "/bin/sleep", "30"])
        .spawn()
        .unwrap();
    let init = container_process(runtime.id(), "02-pid-ns");
    let deadline = Instant::now() + Duration::from_secs(10);
    while children(init).is_empty() {
        assert!(Instant::now() < deadline, "the command never started");
        std::thread::sleep(Duration::from_millis(20));
    }
    kill(Pid::from_raw(runtime.id() as i32), Signal::SIGTERM).unwrap();
    let status = runtime.wait_bounded().unwrap();
    assert_eq!(
        status.code(),
        Some(143),
        "128 + SIGTERM, passed through init"
    );
}

#[test]
fn when_pid_1_exits_the_kernel_kills_the_rest() {
    let mut runtime = step_command(BIN, test_rootfs())
        .args(["-q", "/bin/sh", "-c", "sleep 60 & sleep 2; exit 0"])
        .spawn()
        .unwrap();
    let pid_1 = container_process(runtime.id(), "sh");
    let ns = std::fs::read_link(format!("/proc/{pid_1}/ns/pid")).unwrap();
    assert_eq!(runtime.wait_bounded().unwrap().code(), Some(0));
    // No process may be left in that PID namespace (the background sleep 60
    // was SIGKILLed by the kernel when PID 1 exited).
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let left: Vec<_> = std::fs::read_dir("/proc")
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| {
                e.file_name()
                    .to_string_lossy()
                    .chars()
                    .all(|c| c.is_ascii_digit())
            })
            .filter(|e| {
                std::fs::read_link(e.path().join("ns/pid")).ok().as_deref() == Some(ns.as_path())
            })
            .map(|e| e.file_name())
            .collect();
        if left.is_empty() {
            break;
        }
        assert!(Instant::now() < deadline, "left in the namespace: {left:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(!Path::new(&format!("/proc/{pid_1}")).exists());
}

/// `--init`: PID 1 never execs, so it closes what the runtime left open in
/// it itself; otherwise it would hold the write end of the stdin pipe, and
/// `cat` would never see the end of its input.
#[test]
fn init_keeps_no_descriptor_of_the_runtime() {
    workshop_tests::contract::end_of_input_reaches_the_container_with(BIN, &["--init"]);
}
