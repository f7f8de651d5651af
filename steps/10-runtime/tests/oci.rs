//! `10-runtime-oci`, driven as an engine drives runc: a bundle made with
//! its own `spec`, then create, state, start, kill, delete; the test is
//! the container's parent after `create` leaves (a subreaper, as conmon
//! and containerd's shim are), and reaps it.

mod common;

use std::process::Command;

use common::oci::{Engine, OCI, cgroup_dirs_of, cgroups_path, reap};
use workshop_tests::{CommandExt, collect};

#[test]
fn a_bundle_lives_through_create_start_state_kill_delete() {
    let engine = Engine::new();
    engine.config(|c| {
        c["process"]["args"] = serde_json::json!([
            "sh",
            "-c",
            "echo started as $(id -u) on $(hostname); trap 'echo bye; exit 7' TERM; \
             while :; do sleep 0.1; done"
        ]);
        c["process"]["env"]
            .as_array_mut()
            .unwrap()
            .push("GREETING=hi".into());
        c["linux"]["cgroupsPath"] = cgroups_path("life").into();
        c["linux"]["resources"] = serde_json::json!({ "pids": { "limit": 42 } });
    });
    let out = engine.bundle.path().join("life.out");
    let (create, pid) = engine.create("life", &out);
    assert_eq!(create.code, Some(0), "{create:?}");
    let pid = pid.expect("create writes the pid file");
    // Created: its first process waits at the gate, in namespaces of its
    // own and its cgroup, and has not run the command (nothing printed).
    let state = engine.state("life");
    assert_eq!(
        (state["status"].as_str(), state["pid"].as_i64()),
        (Some("created"), Some(i64::from(pid))),
        "{state}"
    );
    assert_eq!(state["bundle"], engine.bundle.path().to_str().unwrap());
    let ns = |p: &str, kind: &str| std::fs::read_link(format!("/proc/{p}/ns/{kind}")).unwrap();
    assert_ne!(ns(&pid.to_string(), "pid"), ns("self", "pid"));
    assert_ne!(ns(&pid.to_string(), "mnt"), ns("self", "mnt"));
    assert_eq!(
        ns(&pid.to_string(), "user"),
        ns("self", "user"),
        "no user namespace was asked for"
    );
    let cgroups = cgroup_dirs_of(pid, "oci-life");
    assert!(!cgroups.is_empty(), "in its cgroup");
    for dir in &cgroups {
        if let Ok(max) = std::fs::read_to_string(dir.join("pids.max")) {
            assert_eq!(max.trim(), "42", "linux.resources.pids.limit");
        }
    }
    assert_eq!(
        std::fs::read_to_string(&out).unwrap(),
        "",
        "nothing ran yet"
    );
    // start: it runs; the runtime is not its parent.
    let start = engine.oci(&["start", "life"], &[]);
    assert_eq!(start.code, Some(0), "{start:?}");
    engine.wait_until("its first line", || {
        std::fs::read_to_string(&out).unwrap().contains("started")
    });
    assert_eq!(
        std::fs::read_to_string(&out).unwrap(),
        "started as 0 on oci\n"
    );
    assert_eq!(engine.state("life")["status"], "running");
    engine
        .oci(&["start", "life"], &[])
        .assert_error(1, "cannot start a container that is running");
    engine
        .oci(&["delete", "life"], &[])
        .assert_error(1, "is not stopped: running");
    // kill: SIGTERM, which its trap answers; we are its parent, and reap it.
    let kill = engine.oci(&["kill", "life", "TERM"], &[]);
    assert_eq!(kill.code, Some(0), "{kill:?}");
    let status = reap(nix::unistd::Pid::from_raw(pid));
    assert_eq!(
        status,
        nix::sys::wait::WaitStatus::Exited(nix::unistd::Pid::from_raw(pid), 7)
    );
    assert!(std::fs::read_to_string(&out).unwrap().ends_with("bye\n"));
    let state = engine.state("life");
    assert_eq!(
        (state["status"].as_str(), state["pid"].as_i64()),
        (Some("stopped"), Some(0))
    );
    engine
        .oci(&["kill", "life"], &[])
        .assert_error(1, "container not running");
    // delete: its directory and its cgroup go.
    let delete = engine.oci(&["delete", "life"], &[]);
    assert_eq!(delete.code, Some(0), "{delete:?}");
    assert!(!engine.root.path().join("life").exists());
    for dir in &cgroups {
        assert!(!dir.exists(), "{} is left", dir.display());
    }
    engine
        .oci(&["state", "life"], &[])
        .assert_error(1, "container does not exist");
    engine.oci(&["delete", "--force", "life"], &[]);
}

#[test]
fn a_created_container_is_deleted_without_ever_running() {
    let engine = Engine::new();
    engine.config(|c| {
        c["process"]["args"] = serde_json::json!(["sh", "-c", "echo ran"]);
        c["linux"]["cgroupsPath"] = cgroups_path("never").into();
    });
    let out = engine.bundle.path().join("never.out");
    let (create, pid) = engine.create("never", &out);
    assert_eq!(create.code, Some(0), "{create:?}");
    let pid = pid.unwrap();
    engine
        .create("never", &out)
        .0
        .assert_error(1, "container with given ID already exists");
    let delete = engine.oci(&["delete", "never"], &[]);
    assert_eq!(delete.code, Some(0), "{delete:?}");
    let status = reap(nix::unistd::Pid::from_raw(pid));
    assert!(
        matches!(
            status,
            nix::sys::wait::WaitStatus::Signaled(_, nix::sys::signal::Signal::SIGKILL, _)
        ),
        "{status:?}"
    );
    assert!(!std::fs::read_to_string(&out).unwrap().contains("ran"));
    assert!(!engine.root.path().join("never").exists());
}

#[test]
fn bad_bundles_are_refused_by_their_json_path_and_leave_nothing() {
    let engine = Engine::new();
    let log = engine.bundle.path().join("log.json");
    for (edit, needle) in [
        (
            Box::new(|c: &mut serde_json::Value| c["process"]["args"] = 5.into())
                as Box<dyn Fn(&mut serde_json::Value)>,
            "process.args",
        ),
        (
            Box::new(|c: &mut serde_json::Value| {
                c["linux"]["sysctl"] = serde_json::json!({ "vm.swappiness": "1" })
            }),
            "linux.sysctl",
        ),
        (
            Box::new(|c: &mut serde_json::Value| {
                c["linux"]["namespaces"]
                    .as_array_mut()
                    .unwrap()
                    .push(serde_json::json!({ "type": "user" }))
            }),
            "linux.namespaces",
        ),
        (
            Box::new(|c: &mut serde_json::Value| c["linux"]["cgroupsPath"] = "/../escape/x".into()),
            "linux.cgroupsPath",
        ),
        (
            Box::new(|c: &mut serde_json::Value| c["process"]["terminal"] = true.into()),
            "process.terminal",
        ),
    ] {
        engine.config(|c| edit(c));
        let mut cmd = Command::new(OCI);
        cmd.arg("--root")
            .arg(engine.root.path())
            .arg("--log")
            .arg(&log)
            .args(["--log-format", "json", "create", "--bundle"])
            .arg(engine.bundle.path())
            .arg("bad");
        let run = collect(cmd.output_bounded());
        run.assert_error(1, needle);
        // The engine's copy: the last line of the log, JSON, at level error.
        let text = std::fs::read_to_string(&log).unwrap();
        let last: serde_json::Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
        assert_eq!(last["level"], "error");
        assert!(last["msg"].as_str().unwrap().contains(needle), "{last}");
        assert!(
            !engine.root.path().join("bad").exists(),
            "{needle}: nothing made"
        );
        // Back to the spec for the next.
        engine.respec();
    }
    engine
        .oci(&["create", "--bundle", "/nonexistent", "x"], &[])
        .assert_error(1, "config.json");
    engine
        .oci(&["start", "../x"], &[])
        .assert_error(1, "invalid container id");
    engine
        .oci(&["start", "nosuch"], &[])
        .assert_error(1, "container does not exist");
    let features = engine.oci(&["features"], &[]);
    let features: serde_json::Value = serde_json::from_str(&features.stdout).unwrap();
    assert_eq!(features["linux"]["cgroup"]["systemd"], false);
}

#[test]
fn the_bundles_seccomp_profile_is_the_containers() {
    let engine = Engine::new();
    engine.config(|c| {
        c["process"]["args"] = serde_json::json!([
            "sh",
            "-c",
            "mkdir /tmp/made && echo made || echo refused; grep Seccomp: /proc/self/status"
        ]);
        c["linux"]["cgroupsPath"] = cgroups_path("filtered").into();
        c["linux"]["seccomp"] = serde_json::json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "architectures": ["SCMP_ARCH_X86_64"],
            "syscalls": [
                { "names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1 }
            ]
        });
    });
    let (code, text) = engine.run_to_end("filtered");
    assert_eq!(code, 0, "{text}");
    assert!(
        text.contains("refused") && text.contains("Seccomp:\t2"),
        "{text}"
    );
}

#[test]
fn a_process_of_another_user_passes_its_gate() {
    let engine = Engine::new();
    engine.config(|c| {
        c["process"]["args"] = serde_json::json!(["sh", "-c", "id -u; id -g"]);
        c["process"]["user"] = serde_json::json!({ "uid": 1000, "gid": 1000 });
        c["linux"]["cgroupsPath"] = cgroups_path("user").into();
    });
    assert_eq!(engine.run_to_end("user"), (0, "1000\n1000\n".to_string()));
}

#[test]
fn rlimits_sysctls_and_the_mounts_no_flag_says_are_made() {
    let engine = Engine::new();
    engine.config(|c| {
        c["process"]["args"] = serde_json::json!([
            "sh",
            "-c",
            "ulimit -n; cat /proc/sys/net/ipv4/ping_group_range; \
             grep -c ' /dev/mqueue mqueue ' /proc/mounts; \
             grep -c ' /sys/fs/cgroup tmpfs ro' /proc/mounts; \
             wc -c < /proc/cmdline; \
             grep -c ' /data .*nosuid,nodev,noexec' /proc/mounts; \
             cat /proc/self/oom_score_adj"
        ]);
        // (Raised: lowering it needs CAP_SYS_RESOURCE, which a sandboxed
        // host may not give even to root.)
        c["process"]["oomScoreAdj"] = 500.into();
        c["process"]["rlimits"] =
            serde_json::json!([{ "type": "RLIMIT_NOFILE", "hard": 2048, "soft": 1000 }]);
        c["linux"]["sysctl"] = serde_json::json!({ "net.ipv4.ping_group_range": "0 0" });
        c["linux"]["maskedPaths"]
            .as_array_mut()
            .unwrap()
            .push("/proc/cmdline".into());
        c["mounts"].as_array_mut().unwrap().extend([
            serde_json::json!({ "destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue" }),
            serde_json::json!({ "destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup" }),
            serde_json::json!({
                "destination": "/data", "type": "bind",
                "source": engine.bundle.path(),
                "options": ["rbind", "rprivate", "nosuid", "noexec", "nodev"]
            }),
        ]);
        c["linux"]["cgroupsPath"] = cgroups_path("extras").into();
    });
    let (code, text) = engine.run_to_end("extras");
    assert_eq!(code, 0, "{text}");
    let lines: Vec<&str> = text.lines().map(str::trim).collect();
    assert_eq!(lines, ["1000", "0\t0", "1", "1", "0", "1", "500"], "{text}");
}

#[test]
fn device_nodes_made_in_the_container_open_nothing() {
    let engine = Engine::new();
    // A bind whose source has a file system mounted inside it (a disk,
    // here a tmpfs): a submount of the container's recursive bind.
    let volume = engine.bundle.path().join("volume");
    std::fs::create_dir_all(volume.join("sub")).unwrap();
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "tmpfs"])
        .arg(volume.join("sub"))
        .status_bounded()
        .unwrap();
    assert!(mounted.success());
    struct Unmount(std::path::PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg(&self.0).status_bounded();
        }
    }
    let _unmount = Unmount(volume.join("sub"));
    engine.config(|c| {
        // A node for /dev/null made in each place the container can
        // write; each opened. Only the one step 05 bound works.
        c["process"]["args"] = serde_json::json!([
            "sh",
            "-c",
            "for d in /tmp /dev /run /data /data/sub; do \
               mknod $d/null2 c 1 3 && echo made in $d; \
               echo x > $d/null2 && echo opened in $d; done; \
             echo y > /dev/null && echo the bound one works"
        ]);
        // As containerd's default: CAP_MKNOD.
        let caps = c["process"]["capabilities"].as_object_mut().unwrap();
        for set in caps.values_mut() {
            set.as_array_mut().unwrap().push("CAP_MKNOD".into());
        }
        c["mounts"].as_array_mut().unwrap().extend([
            serde_json::json!({ "destination": "/run", "type": "tmpfs", "source": "tmpfs" }),
            serde_json::json!({
                "destination": "/data", "type": "bind", "source": volume,
                "options": ["rbind"]
            }),
        ]);
    });
    let (code, out) = engine.run_to_end("mknod");
    assert_eq!(code, 0, "{out}");
    for place in ["/tmp", "/dev", "/run", "/data", "/data/sub"] {
        assert!(
            out.contains(&format!("made in {place}\n")),
            "{place}: {out}"
        );
    }
    assert!(!out.contains("opened"), "a node made inside opened: {out}");
    assert!(out.contains("the bound one works"), "{out}");
}
