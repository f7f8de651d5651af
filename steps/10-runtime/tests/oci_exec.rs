//! `10-runtime-oci exec --process`: one more process in a running
//! container, as podman and containerd ask for it; in its namespaces, its
//! exit code back, and, detached, a child of the engine (here the test)
//! that passes signals on and takes the process inside with it. And
//! `run`, create and start in one.

mod common;

use std::time::Duration;

use common::oci::{Engine, OCI, reap};
use nix::sys::signal::Signal;
use nix::sys::wait::WaitStatus;
use nix::unistd::Pid;
use workshop_tests::{CommandExt, eventually};

/// A running container `id` (`sleep`, its first process): its pid.
fn running(engine: &Engine, id: &str) -> i32 {
    engine.config(|c| c["process"]["args"] = serde_json::json!(["sleep", "1000"]));
    let (create, pid) = engine.create(id, &engine.bundle.path().join(format!("{id}.out")));
    assert_eq!(create.code, Some(0), "{create:?}");
    let start = engine.oci(&["start", id], &[]);
    assert_eq!(start.code, Some(0), "{start:?}");
    pid.unwrap()
}

/// process.json for `args`, as root in /.
fn process_file(engine: &Engine, name: &str, args: &[&str]) -> String {
    let path = engine.bundle.path().join(name);
    let process = serde_json::json!({
        "args": args, "cwd": "/", "user": { "uid": 0, "gid": 0 },
        "env": ["PATH=/usr/local/bin:/usr/bin:/bin"],
    });
    std::fs::write(&path, process.to_string()).unwrap();
    path.display().to_string()
}

fn ns(pid: &str, kind: &str) -> String {
    std::fs::read_link(format!("/proc/{pid}/ns/{kind}"))
        .unwrap()
        .display()
        .to_string()
}

#[test]
fn exec_runs_in_the_containers_namespaces_and_its_code_comes_back() {
    let engine = Engine::new();
    let first = running(&engine, "ex");
    let script = "readlink /proc/self/ns/pid; readlink /proc/self/ns/mnt; exit 6";
    let process = process_file(&engine, "p.json", &["sh", "-c", script]);
    let exec = engine.oci(&["exec", "--process", &process, "ex"], &[]);
    assert_eq!(exec.code, Some(6), "{exec:?}");
    let theirs = [ns(&first.to_string(), "pid"), ns(&first.to_string(), "mnt")];
    assert_eq!(exec.stdout.lines().collect::<Vec<_>>(), theirs, "{exec:?}");
    // Not in a stopped one.
    let _ = nix::sys::signal::kill(Pid::from_raw(first), Signal::SIGKILL);
    reap(Pid::from_raw(first));
    engine
        .oci(&["exec", "--process", &process, "ex"], &[])
        .assert_error(1, "container not running");
}

#[test]
fn a_detached_exec_passes_signals_on_and_takes_its_process_along() {
    let engine = Engine::new();
    running(&engine, "dx");
    let process = process_file(&engine, "sleep.json", &["sleep", "1000"]);
    let pid_file = engine.bundle.path().join("exec.pid");
    let detach = |pid_file: &std::path::Path| {
        // Its stdio go to a file: the process keeps them (an engine's
        // pipes), and a pipe of ours would not end while it runs.
        let out = std::fs::File::create(engine.bundle.path().join("exec.out")).unwrap();
        let mut cmd = std::process::Command::new(OCI);
        workshop_tests::die_with_the_test(&mut cmd);
        let status = cmd
            .arg("--root")
            .arg(engine.root.path())
            .args(["exec", "--detach", "--pid-file", pid_file.to_str().unwrap()])
            .args(["--process", &process, "dx"])
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .status_bounded()
            .unwrap();
        assert!(status.success(), "exec --detach: {status}");
        let pid: i32 = std::fs::read_to_string(pid_file).unwrap().parse().unwrap();
        // Ours now (we are a subreaper): its init; the process inside is
        // its child, in the container's PID namespace.
        let inside = eventually(Duration::from_secs(10), "the process inside", || {
            let children = std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"));
            children
                .ok()?
                .split_whitespace()
                .next()?
                .parse::<i32>()
                .ok()
        });
        (pid, inside)
    };
    // SIGTERM to what the engine was given reaches the process inside.
    let (init, inside) = detach(&pid_file);
    assert_ne!(ns(&init.to_string(), "pid"), ns(&inside.to_string(), "pid"));
    nix::sys::signal::kill(Pid::from_raw(init), Signal::SIGTERM).unwrap();
    assert_eq!(
        reap(Pid::from_raw(init)),
        WaitStatus::Exited(Pid::from_raw(init), 128 + Signal::SIGTERM as i32)
    );
    // SIGKILL, which cannot be passed on: the process inside dies with it.
    std::fs::remove_file(&pid_file).unwrap();
    let (init, inside) = detach(&pid_file);
    nix::sys::signal::kill(Pid::from_raw(init), Signal::SIGKILL).unwrap();
    reap(Pid::from_raw(init));
    // Orphaned, it went to the nearest subreaper above its init: us (in
    // life, conmon or the shim, which reap whatever comes to them). Its
    // death signal ended it.
    assert_eq!(
        reap(Pid::from_raw(inside)),
        WaitStatus::Signaled(Pid::from_raw(inside), Signal::SIGKILL, false)
    );
}

#[test]
fn run_creates_starts_waits_and_deletes() {
    let engine = Engine::new();
    engine.config(|c| {
        c["process"]["args"] = serde_json::json!(["sh", "-c", "echo ran as pid $$; exit 9"]);
    });
    let run = engine.oci(
        &["run", "--bundle"],
        &[engine.bundle.path().to_str().unwrap(), "r1"],
    );
    assert_eq!(run.code, Some(9), "{run:?}");
    assert_eq!(run.stdout, "ran as pid 1\n", "{run:?}");
    assert!(!engine.root.path().join("r1").exists(), "deleted");
}

#[test]
fn an_exec_gets_its_oom_score_and_a_missing_command_is_127() {
    let engine = Engine::new();
    running(&engine, "oo");
    let path = engine.bundle.path().join("oom.json");
    let process = serde_json::json!({
        "args": ["cat", "/proc/self/oom_score_adj"], "cwd": "/",
        "user": { "uid": 0, "gid": 0 }, "env": ["PATH=/usr/bin:/bin"],
        // (Raised: lowering it needs CAP_SYS_RESOURCE, which a sandboxed
        // host may not give even to root.)
        "oomScoreAdj": 600,
    });
    std::fs::write(&path, process.to_string()).unwrap();
    let exec = engine.oci(&["exec", "--process", path.to_str().unwrap(), "oo"], &[]);
    assert_eq!(
        (exec.code, exec.stdout.trim()),
        (Some(0), "600"),
        "{exec:?}"
    );
    let missing = process_file(&engine, "missing.json", &["no-such-command"]);
    let exec = engine.oci(&["exec", "--process", &missing, "oo"], &[]);
    // As runc words it, which podman maps to 127 (error.rs).
    exec.assert_error(1, "executable file not found in $PATH");
}
