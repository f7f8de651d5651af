//! `10-runtime-oci` driven by containerd: `ctr run --runc-binary` makes
//! containerd's runc shim call it where it would call runc. Each test has
//! a containerd of its own (tests/src/engines/containerd.rs).

use std::time::Duration;

use workshop_tests::engines::Containerd;
use workshop_tests::eventually;

const OCI: &str = env!("CARGO_BIN_EXE_10-runtime-oci");

#[test]
fn ctr_runs_a_container_and_its_exit_status_comes_back() {
    let containerd = Containerd::new("run", OCI);
    let run = containerd.run(
        &["--rm"],
        "wsk-run",
        &["sh", "-c", "echo hello from ctr; id; exit 3"],
    );
    assert_eq!(run.code, Some(3), "{run:?}\n{}", containerd.log());
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines[0], "hello from ctr", "{run:?}");
    // ctr's spec lists the primary group as a supplementary one too.
    assert_eq!(
        lines[1], "uid=0(root) gid=0(root) groups=0(root)",
        "{run:?}"
    );
    // --rm: the shim had our runtime delete it.
    // (The shim made the root: it was there.)
    let left = std::fs::read_dir(containerd.runtime_root())
        .unwrap()
        .count();
    assert_eq!(left, 0, "left in our runtime's root");
}

#[test]
fn a_detached_task_is_listed_killed_and_deleted() {
    let containerd = Containerd::new("task", OCI);
    let id = "wsk-task";
    let run = containerd.run(&["-d"], id, &["sh", "-c", "sleep 1000 & sleep 1000; wait"]);
    assert_eq!(run.code, Some(0), "{run:?}\n{}", containerd.log());
    assert!(
        containerd
            .runtime_root()
            .join(id)
            .join("state.json")
            .exists(),
        "our runtime has no state for {id}"
    );
    // `ctr task ps`: our `ps --format json`, every process in its cgroup.
    let pids = eventually(Duration::from_secs(20), "sh and both sleeps", || {
        let ps = containerd.ctr(&["tasks", "ps", id]);
        let pids: Vec<String> = ps.stdout.lines().skip(1).map(String::from).collect();
        (pids.len() == 3).then_some(pids)
    });
    for line in &pids {
        let pid = line.split_whitespace().next().unwrap();
        let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap();
        assert!(
            ["sh\n", "sleep\n"].contains(&comm.as_str()),
            "{pid}: {comm}"
        );
    }
    // `ctr task exec`: our `exec --process ... --detach`, its exit code
    // reaped by the shim; in the container's PID namespace.
    let exec = containerd.ctr(&[
        "tasks",
        "exec",
        "--exec-id",
        "probe",
        id,
        "sh",
        "-c",
        "readlink /proc/self/ns/pid; exit 5",
    ]);
    assert_eq!(exec.code, Some(5), "{exec:?}\n{}", containerd.log());
    let first = pids[0].split_whitespace().next().unwrap();
    let theirs = std::fs::read_link(format!("/proc/{first}/ns/pid")).unwrap();
    assert_eq!(exec.stdout.trim(), theirs.to_str().unwrap(), "{exec:?}");
    let kill = containerd.ctr(&["tasks", "kill", "-s", "SIGKILL", id]);
    assert_eq!(kill.code, Some(0), "{kill:?}");
    eventually(Duration::from_secs(20), "the task to stop", || {
        let list = containerd.ctr(&["tasks", "list"]).stdout;
        list.lines()
            .any(|l| l.starts_with(id) && l.contains("STOPPED"))
            .then_some(())
    });
    let delete = containerd.ctr(&["tasks", "delete", id]);
    assert_eq!(delete.code, Some(0), "{delete:?}");
    // ctr says the status the shim reaped: SIGKILL's.
    assert!(delete.stderr.contains("exit code 137"), "{delete:?}");
    let rm = containerd.ctr(&["containers", "delete", id]);
    assert_eq!(rm.code, Some(0), "{rm:?}");
    assert!(
        !containerd.runtime_root().join(id).exists(),
        "our runtime kept {id}"
    );
}
