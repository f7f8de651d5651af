//! containerd, started by the test as a daemon of its own: its root,
//! state, sockets and configuration in a temporary directory, stopped (by
//! its pid) at the end. `ctr run --runc-binary` makes containerd's runc
//! shim (containerd-shim-runc-v2) call our runtime where it would call
//! runc.
//!
//! Two things of containerd 1.6's go to /run whatever its configuration
//! says: the shims' sockets (/run/containerd/s) and ctr's FIFOs unless
//! `--fifo-dir`; the directories it makes there are removed at the end if
//! they were not there before, and are empty.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::{engine_cgroup_parent, sweep_dead_containers};
use crate::registry::config::ImageConfig;
use crate::registry::images::single_layer;
use crate::registry::layout::Layout;
use crate::{CommandExt, Run, collect, host, require, temp_dir};

/// The image every containerd of the tests has: the test rootfs, a shell.
pub const IMAGE: &str = "docker.io/library/wsk-busybox:latest";

/// A containerd of the test's own.
pub struct Containerd {
    dir: tempfile::TempDir,
    daemon: Child,
    runtime: String,
    /// Each container's cgroup goes below this (`--cgroup`).
    pub cgroup_parent: String,
    /// What of /run/containerd was not there before us.
    made_in_run: Vec<PathBuf>,
}

impl Containerd {
    /// containerd, running, with [`IMAGE`] imported; `ctr run` calls the
    /// OCI runtime at `runtime` (an absolute path).
    pub fn new(tag: &str, runtime: &str) -> Self {
        for program in ["containerd", "ctr", "containerd-shim-runc-v2"] {
            require(program);
        }
        // The shims containerd starts leave it (they double-fork, as a
        // daemon does) and would become children of the host's init;
        // as a subreaper the test gets them, and reaps them (`Drop`).
        nix::sys::prctl::set_child_subreaper(true).expect("PR_SET_CHILD_SUBREAPER");
        static SWEPT: std::sync::OnceLock<()> = std::sync::OnceLock::new();
        SWEPT.get_or_init(|| sweep_dead_containers(runtime));
        let dir = temp_dir("tmp");
        let d = dir.path();
        let made_in_run = [
            "/run/containerd",
            "/run/containerd/s",
            "/run/containerd/fifo",
        ]
        .map(PathBuf::from)
        .into_iter()
        .filter(|p| !p.exists())
        .collect();
        // Only what differs from the defaults; no CRI (no Kubernetes API,
        // no CNI: nothing of the host's network is touched).
        let config = format!(
            "version = 2\n\
             root = \"{root}\"\n\
             state = \"{state}\"\n\
             disabled_plugins = [\"io.containerd.grpc.v1.cri\"]\n\
             [grpc]\n  address = \"{sock}\"\n\
             [ttrpc]\n  address = \"{sock}.ttrpc\"\n\
             [plugins.\"io.containerd.internal.v1.opt\"]\n  path = \"{opt}\"\n",
            root = d.join("root").display(),
            state = d.join("state").display(),
            sock = d.join("containerd.sock").display(),
            opt = d.join("opt").display(),
        );
        std::fs::write(d.join("config.toml"), config).expect("write config.toml");
        let log = std::fs::File::create(d.join("containerd.log")).expect("create its log");
        let mut cmd = Command::new("containerd");
        crate::die_with_the_test(&mut cmd);
        let daemon = cmd
            .arg("--config")
            .arg(d.join("config.toml"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start containerd");
        let containerd = Containerd {
            cgroup_parent: format!("{}/containerd-{tag}", engine_cgroup_parent()),
            runtime: runtime.to_string(),
            made_in_run,
            daemon,
            dir,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while containerd.ctr(&["version"]).code != Some(0) {
            assert!(
                Instant::now() < deadline,
                "containerd did not answer in 20 s: {}",
                containerd.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        containerd.import_image();
        containerd
    }

    /// `ctr -a SOCKET ARGS...`.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new("ctr");
        crate::die_with_the_test(&mut cmd);
        cmd.arg("--address")
            .arg(self.dir.path().join("containerd.sock"))
            .args(args);
        cmd
    }

    pub fn ctr(&self, args: &[&str]) -> Run {
        collect(self.command(args).output_bounded())
    }

    /// `ctr run` of [`IMAGE`] as container `id`, with our runtime (its
    /// state under our directory), a cgroup below the tests', and `flags`
    /// before the image; then the command.
    pub fn run(&self, flags: &[&str], id: &str, command: &[&str]) -> Run {
        let d = self.dir.path();
        let cgroup = format!("{}/{id}", self.cgroup_parent);
        let runc_root = d.join("runc").display().to_string();
        let fifo_dir = d.join("fifo").display().to_string();
        let mut args = vec![
            "run",
            "--runc-binary",
            &self.runtime,
            "--runc-root",
            &runc_root,
        ];
        args.extend(["--fifo-dir", &fifo_dir, "--cgroup", &cgroup]);
        args.extend(flags);
        args.extend([IMAGE, id]);
        args.extend(command);
        self.ctr(&args)
    }

    /// Where our runtime keeps the containers the shim made (its `--root`:
    /// the shim adds the namespace, `default`).
    pub fn runtime_root(&self) -> PathBuf {
        self.dir.path().join("runc/default")
    }

    /// What containerd said (for a failure's message).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("containerd.log")).unwrap_or_default()
    }

    /// The test rootfs as an OCI image layout, tarred and imported.
    fn import_image(&self) {
        let layout_dir = self.dir.path().join("image");
        let mut layout = Layout::new(&layout_dir);
        single_layer(&mut layout, "latest", &ImageConfig::default());
        let tar = self.dir.path().join("image.tar");
        let packed = Command::new("tar")
            .arg("-C")
            .arg(&layout_dir)
            .arg("-cf")
            .arg(&tar)
            .arg(".")
            .status_bounded();
        assert!(packed.is_ok_and(|s| s.success()), "tar of the image layout");
        let base = IMAGE.rsplit_once(':').unwrap().0;
        let import = self.ctr(&[
            "images",
            "import",
            "--base-name",
            base,
            tar.to_str().unwrap(),
        ]);
        assert_eq!(import.code, Some(0), "ctr images import: {import:?}");
    }
}

impl Drop for Containerd {
    fn drop(&mut self) {
        // Every task killed and deleted (their shims go with them), every
        // container removed; then containerd itself, by its pid.
        let shims = our_shims(&self.dir.path().join("containerd.sock"));
        let tasks = self.ctr(&["tasks", "list", "-q"]).stdout;
        for task in tasks.lines() {
            let _ = self.ctr(&["tasks", "kill", "-s", "SIGKILL", task]);
            let _ = self.ctr(&["tasks", "delete", "-f", task]);
        }
        let containers = self.ctr(&["containers", "list", "-q"]).stdout;
        for container in containers.lines() {
            let _ = self.ctr(&["containers", "delete", container]);
        }
        let pid = nix::unistd::Pid::from_raw(self.daemon.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(10);
        while matches!(self.daemon.try_wait(), Ok(None)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.daemon.kill(); // (if it is still there)
        let _ = self.daemon.wait();
        reap_shims(&shims, Duration::from_secs(10));
        host::remove_mounted_dir(self.dir.path());
        for dir in self.made_in_run.iter().rev() {
            let _ = std::fs::remove_dir(dir); // only if empty
        }
    }
}

/// The shims of the containerd at `socket` that came to us (see `new`):
/// our children whose command line says `-address SOCKET` (another
/// test's may still be working). Taken while they live: a zombie's
/// command line is empty.
fn our_shims(socket: &std::path::Path) -> Vec<i32> {
    let ours = std::process::id().to_string();
    let address = socket.to_string_lossy().into_owned();
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            // "PID (comm) STATE PPID ...": the comm may hold spaces.
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            let (comm, rest) = stat.split_once(") ").unwrap_or_default();
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            comm.ends_with("(containerd-shim")
                && rest.split_whitespace().nth(1) == Some(ours.as_str())
                && cmdline
                    .split(|b| *b == 0)
                    .any(|arg| arg == address.as_bytes())
        })
        .collect()
}

/// Reaps `shims`, each by its pid (never waitpid(-1), which could take
/// the exit status of a child another test waits for); one still there
/// at `limit` is killed.
fn reap_shims(shims: &[i32], limit: Duration) {
    use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
    let deadline = Instant::now() + limit;
    for &pid in shims {
        let pid = nix::unistd::Pid::from_raw(pid);
        loop {
            match waitpid(pid, Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::StillAlive) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(50));
                }
                Ok(WaitStatus::StillAlive) => {
                    let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
                    let _ = waitpid(pid, None);
                    break;
                }
                _ => break, // reaped (or not ours after all)
            }
        }
    }
}
