//! `10-runtime-oci`, driven as an engine drives runc: a bundle made with
//! its own `spec`, then create, state, start, kill, delete; the test is
//! the container's parent after `create` leaves (a subreaper, as conmon
//! and containerd's shim are), and reaps it.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use workshop_tests::{CommandExt, Run, collect, test_cgroup_parent, test_rootfs};

const OCI: &str = env!("CARGO_BIN_EXE_10-runtime-oci");

/// A `--root` and a bundle of the test's own.
struct Engine {
    root: tempfile::TempDir,
    bundle: tempfile::TempDir,
}

impl Engine {
    fn new() -> Self {
        // As conmon: orphans of ours (the container, once `create` has
        // gone) become our children, for us to reap.
        nix::sys::prctl::set_child_subreaper(true).unwrap();
        let engine = Engine {
            root: workshop_tests::temp_dir("oci-root"),
            bundle: workshop_tests::temp_dir("oci-bundle"),
        };
        // A bundle's root filesystem is the container's own, written to
        // (mount points, files): a copy, never the shared test rootfs.
        let copy = Command::new("cp")
            .arg("-a")
            .arg(test_rootfs())
            .arg(engine.bundle.path().join("rootfs"))
            .status_bounded()
            .unwrap();
        assert!(copy.success(), "cp -a of the test rootfs");
        engine.respec();
        engine
    }

    /// config.json as `spec` writes it, for the bundle's own rootfs.
    fn respec(&self) {
        let rootfs = self.bundle.path().join("rootfs");
        let spec = self.oci(
            &["spec", "--rootfs", rootfs.to_str().unwrap(), "-b"],
            &[self.bundle.path().to_str().unwrap()],
        );
        assert_eq!(spec.code, Some(0), "{spec:?}");
    }

    /// `10-runtime-oci --root ROOT ARGS... MORE...`.
    fn oci(&self, args: &[&str], more: &[&str]) -> Run {
        let mut cmd = Command::new(OCI);
        workshop_tests::die_with_the_test(&mut cmd);
        cmd.arg("--root")
            .arg(self.root.path())
            .args(args)
            .args(more);
        collect(cmd.output_bounded())
    }

    /// config.json, changed by `edit`.
    fn config(&self, edit: impl FnOnce(&mut serde_json::Value)) {
        let path = self.bundle.path().join("config.json");
        let mut config: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        edit(&mut config);
        std::fs::write(&path, config.to_string()).unwrap();
    }

    /// `create` of `id`, its stdout and stderr to `out`; the pid file's pid.
    fn create(&self, id: &str, out: &Path) -> (Run, Option<i32>) {
        let pid_file = self.bundle.path().join(format!("{id}.pid"));
        let output = std::fs::File::create(out).unwrap();
        let mut cmd = Command::new(OCI);
        workshop_tests::die_with_the_test(&mut cmd);
        cmd.arg("--root")
            .arg(self.root.path())
            .args(["create", "--bundle"])
            .arg(self.bundle.path())
            .arg("--pid-file")
            .arg(&pid_file)
            .arg(id)
            .stdin(std::process::Stdio::null())
            .stdout(output.try_clone().unwrap())
            .stderr(output);
        let status = cmd.status_bounded().unwrap();
        let pid = std::fs::read_to_string(&pid_file)
            .ok()
            .map(|t| t.parse().unwrap());
        let run = Run {
            code: status.code(),
            stdout: String::new(),
            stderr: std::fs::read_to_string(out).unwrap_or_default(),
        };
        (run, pid)
    }

    fn state(&self, id: &str) -> serde_json::Value {
        let state = self.oci(&["state", id], &[]);
        assert_eq!(state.code, Some(0), "{state:?}");
        serde_json::from_str(&state.stdout).unwrap()
    }

    /// create, start, and (as its parent) the exit: its code and output;
    /// then delete.
    #[track_caller]
    fn run_to_end(&self, id: &str) -> (i32, String) {
        let out = self.bundle.path().join(format!("{id}.out"));
        let (create, pid) = self.create(id, &out);
        assert_eq!(create.code, Some(0), "{create:?}");
        let start = self.oci(&["start", id], &[]);
        assert_eq!(start.code, Some(0), "{start:?}");
        let pid = nix::unistd::Pid::from_raw(pid.unwrap());
        let code = match reap(pid) {
            nix::sys::wait::WaitStatus::Exited(_, code) => code,
            other => panic!("{id}: {other:?}"),
        };
        let delete = self.oci(&["delete", id], &[]);
        assert_eq!(delete.code, Some(0), "{delete:?}");
        (code, std::fs::read_to_string(&out).unwrap())
    }

    #[track_caller]
    fn wait_until(&self, what: &str, mut ready: impl FnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while !ready() {
            assert!(Instant::now() < deadline, "waited 20 s for {what}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        for entry in std::fs::read_dir(self.root.path())
            .into_iter()
            .flatten()
            .flatten()
        {
            let id = entry.file_name().to_string_lossy().into_owned();
            let _ = self.oci(&["delete", "--force", &id], &[]);
        }
    }
}

/// Waits (at most 20 s) for our child `pid` to end, as its parent: how it
/// ended. Past that, it is killed and the test fails.
#[track_caller]
fn reap(pid: nix::unistd::Pid) -> nix::sys::wait::WaitStatus {
    use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match waitpid(pid, Some(WaitPidFlag::WNOHANG)).unwrap() {
            WaitStatus::StillAlive if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(10));
            }
            WaitStatus::StillAlive => {
                let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
                let _ = waitpid(pid, None);
                panic!("container {pid} did not end within 20 s: killed it");
            }
            ended => return ended,
        }
    }
}

/// The container's cgroup: under the tests' own, as every test's.
fn cgroups_path(id: &str) -> String {
    format!("{}/oci-{id}", test_cgroup_parent().trim_start_matches('/'))
}

/// Its cgroup directories now, in /sys/fs/cgroup, from /proc/PID/cgroup
/// (`ID:CONTROLLERS:PATH`; v2's controllers are empty).
fn cgroup_dirs_of(pid: i32, leaf: &str) -> Vec<PathBuf> {
    std::fs::read_to_string(format!("/proc/{pid}/cgroup"))
        .unwrap_or_default()
        .lines()
        .filter(|l| l.ends_with(&format!("/{leaf}")))
        .map(|l| {
            let mut parts = l.splitn(3, ':').skip(1);
            let (controllers, path) = (parts.next().unwrap(), parts.next().unwrap());
            Path::new("/sys/fs/cgroup")
                .join(controllers)
                .join(path.trim_start_matches('/'))
        })
        .collect()
}

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
             grep -c ' /data .*nosuid,nodev,noexec' /proc/mounts"
        ]);
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
    assert_eq!(lines, ["1000", "0\t0", "1", "1", "0", "1"], "{text}");
}
