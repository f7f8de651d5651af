//! config.json's hooks, run by `10-runtime-oci` at their points of the
//! lifecycle, each with the container's state on its stdin; in the
//! runtime's namespaces or the container's, as the spec says.

mod common;

use common::oci::{Engine, reap};

/// A hook: `sh -c SCRIPT STAGE`, which appends "STAGE NETNS STATE" to
/// `log` (its network namespace, and the state it read).
fn hook(log: &std::path::Path, stage: &str) -> serde_json::Value {
    let script = format!(
        "echo \"$0 $(readlink /proc/self/ns/net) $(cat)\" >> {}",
        log.display()
    );
    serde_json::json!({ "path": "/bin/sh", "args": ["sh", "-c", script, stage] })
}

/// The lines of the hooks' log: (stage, netns, state).
fn logged(log: &std::path::Path) -> Vec<(String, String, serde_json::Value)> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .map(|line| {
            let mut parts = line.splitn(3, ' ');
            let (stage, netns, state) = (parts.next(), parts.next(), parts.next());
            (
                stage.unwrap().to_string(),
                netns.unwrap().to_string(),
                serde_json::from_str(state.unwrap()).unwrap(),
            )
        })
        .collect()
}

#[test]
fn hooks_run_at_their_points_with_the_state_on_stdin() {
    let engine = Engine::new();
    let log = engine.bundle.path().join("hooks.log");
    engine.config(|c| {
        c["process"]["args"] = serde_json::json!(["sh", "-c", "exit 4"]);
        c["hooks"] = serde_json::json!({
            "createRuntime": [hook(&log, "createRuntime")],
            "createContainer": [hook(&log, "createContainer")],
            // In the container, as its process: its /bin/sh, its /tmp.
            "startContainer": [{
                "path": "/bin/sh",
                "args": ["sh", "-c", "cat > /tmp/started-state"],
            }],
            "poststart": [hook(&log, "poststart")],
            "poststop": [hook(&log, "poststop")],
        });
    });
    let out = engine.bundle.path().join("hooks.out");
    let (create, pid) = engine.create("hooked", &out);
    assert_eq!(create.code, Some(0), "{create:?}");
    let pid = pid.unwrap();
    let start = engine.oci(&["start", "hooked"], &[]);
    assert_eq!(start.code, Some(0), "{start:?}");
    let status = reap(nix::unistd::Pid::from_raw(pid));
    assert!(matches!(status, nix::sys::wait::WaitStatus::Exited(_, 4)));
    let delete = engine.oci(&["delete", "hooked"], &[]);
    assert_eq!(delete.code, Some(0), "{delete:?}");

    let ours = std::fs::read_link("/proc/self/ns/net").unwrap();
    let lines = logged(&log);
    let stages: Vec<&str> = lines.iter().map(|(s, _, _)| s.as_str()).collect();
    assert_eq!(
        stages,
        ["createRuntime", "createContainer", "poststart", "poststop"]
    );
    for (stage, netns, state) in &lines {
        // Inside, the pid as the container sees it (its first: 1).
        let expected = match stage.as_str() {
            "createRuntime" => ("creating", pid),
            "createContainer" => ("creating", 1),
            "poststart" => ("running", pid),
            _ => ("stopped", 0),
        };
        assert_eq!(
            (
                state["status"].as_str().unwrap(),
                state["pid"].as_i64().unwrap()
            ),
            (expected.0, i64::from(expected.1)),
            "{stage}: {state}"
        );
        assert_eq!(state["id"], "hooked", "{stage}: {state}");
        assert_eq!(state["bundle"], engine.bundle.path().to_str().unwrap());
        // createContainer runs in the container's namespaces (its own
        // network namespace here), the others in ours.
        let in_ours = *netns == ours.display().to_string();
        assert_eq!(in_ours, stage != "createContainer", "{stage}: {netns}");
    }
    let started = engine.bundle.path().join("rootfs/tmp/started-state");
    let state: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(started).unwrap()).unwrap();
    assert_eq!(
        (state["status"].as_str(), state["pid"].as_i64()),
        (Some("created"), Some(1)),
        "startContainer: {state}"
    );
}

#[test]
fn a_failing_create_hook_fails_create_and_leaves_nothing() {
    let engine = Engine::new();
    engine.config(|c| {
        c["hooks"] = serde_json::json!({
            "createRuntime": [{
                "path": "/bin/sh",
                "args": ["sh", "-c", "echo no network for you; exit 3"],
            }],
        });
    });
    let out = engine.bundle.path().join("failed.out");
    let (create, pid) = engine.create("failed", &out);
    assert_eq!(create.code, Some(1), "{create:?}");
    assert!(
        create.stderr.contains("createRuntime hook /bin/sh")
            && create.stderr.contains("no network for you"),
        "{create:?}"
    );
    assert_eq!(pid, None, "no pid file");
    assert!(!engine.root.path().join("failed").exists(), "nothing made");
    // A hook that outlasts its timeout is killed, and fails create too;
    // a hook that is not there is refused before anything is made.
    engine.config(|c| {
        c["hooks"] = serde_json::json!({
            "createRuntime": [{ "path": "/bin/sleep", "args": ["sleep", "100"], "timeout": 1 }],
        });
    });
    let (slow, _) = engine.create("slow", &out);
    assert!(slow.stderr.contains("timed out after 1 s"), "{slow:?}");
    assert!(!engine.root.path().join("slow").exists(), "nothing made");
    engine.config(|c| {
        c["hooks"] = serde_json::json!({ "poststop": [{ "path": "/no/such/hook" }] });
    });
    let (missing, _) = engine.create("missing", &out);
    assert!(
        missing
            .stderr
            .contains("hooks.poststop[0].path: /no/such/hook"),
        "{missing:?}"
    );
}

#[test]
fn create_runtime_runs_once_the_container_has_made_its_mounts() {
    let engine = Engine::new();
    let seen = engine.bundle.path().join("seen");
    // As runc: right before the pivot, the container's mounts made. The
    // hook (in our mount namespace) reads the container's mount table:
    // its /dev is mounted by then.
    let script = format!(
        "pid=$(sed 's/.*\"pid\":\\([0-9]*\\).*/\\1/'); \
         grep -c ' [^ ]*/rootfs/dev ' /proc/$pid/mountinfo > {}",
        seen.display()
    );
    engine.config(|c| {
        c["process"]["args"] = serde_json::json!(["true"]);
        c["hooks"] = serde_json::json!({
            "createRuntime": [{ "path": "/bin/sh", "args": ["sh", "-c", script] }],
        });
    });
    let (code, out) = engine.run_to_end("mounted");
    assert_eq!(code, 0, "{out}");
    assert_eq!(std::fs::read_to_string(&seen).unwrap().trim(), "1");
}
