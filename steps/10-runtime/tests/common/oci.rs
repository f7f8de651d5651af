//! `10-runtime-oci` driven as an engine drives runc (tests/oci.rs,
//! tests/oci_hooks.rs): a `--root` and a bundle of the test's own, made
//! with its own `spec`; the test is the container's parent after `create`
//! leaves (a subreaper, as conmon and containerd's shim are), and reaps it.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use workshop_tests::{CommandExt, Run, collect, test_cgroup_parent, test_rootfs};

pub const OCI: &str = env!("CARGO_BIN_EXE_10-runtime-oci");

/// A `--root` and a bundle of the test's own.
pub struct Engine {
    pub root: tempfile::TempDir,
    pub bundle: tempfile::TempDir,
}

impl Engine {
    pub fn new() -> Self {
        // As conmon: orphans of ours (the container, once `create` has
        // gone) become our children, for us to reap.
        nix::sys::prctl::set_child_subreaper(true).unwrap();
        let engine = Engine {
            root: workshop_tests::temp_dir("tmp"),
            bundle: workshop_tests::temp_dir("tmp"),
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
    pub fn respec(&self) {
        let rootfs = self.bundle.path().join("rootfs");
        let spec = self.oci(
            &["spec", "--rootfs", rootfs.to_str().unwrap(), "-b"],
            &[self.bundle.path().to_str().unwrap()],
        );
        assert_eq!(spec.code, Some(0), "{spec:?}");
    }

    /// `10-runtime-oci --root ROOT ARGS... MORE...`.
    pub fn oci(&self, args: &[&str], more: &[&str]) -> Run {
        let mut cmd = Command::new(OCI);
        workshop_tests::die_with_the_test(&mut cmd);
        cmd.arg("--root")
            .arg(self.root.path())
            .args(args)
            .args(more);
        collect(cmd.output_bounded())
    }

    /// config.json, changed by `edit`.
    pub fn config(&self, edit: impl FnOnce(&mut serde_json::Value)) {
        let path = self.bundle.path().join("config.json");
        let mut config: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        edit(&mut config);
        std::fs::write(&path, config.to_string()).unwrap();
    }

    /// `create` of `id`, its stdout and stderr to `out`; the pid file's pid.
    pub fn create(&self, id: &str, out: &Path) -> (Run, Option<i32>) {
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

    pub fn state(&self, id: &str) -> serde_json::Value {
        let state = self.oci(&["state", id], &[]);
        assert_eq!(state.code, Some(0), "{state:?}");
        serde_json::from_str(&state.stdout).unwrap()
    }

    /// create, start, and (as its parent) the exit: its code and output;
    /// then delete.
    #[track_caller]
    pub fn run_to_end(&self, id: &str) -> (i32, String) {
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
    pub fn wait_until(&self, what: &str, mut ready: impl FnMut() -> bool) {
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
pub fn reap(pid: nix::unistd::Pid) -> nix::sys::wait::WaitStatus {
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
pub fn cgroups_path(id: &str) -> String {
    format!("{}/oci-{id}", test_cgroup_parent().trim_start_matches('/'))
}

/// Its cgroup directories now, in /sys/fs/cgroup, from /proc/PID/cgroup
/// (`ID:CONTROLLERS:PATH`; v2's controllers are empty).
pub fn cgroup_dirs_of(pid: i32, leaf: &str) -> Vec<PathBuf> {
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
