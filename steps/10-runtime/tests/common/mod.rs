//! What step 10's tests share: a state directory of the test's own, the
//! binary run on it, and a guard that removes every container the test
//! left, running or not, however the test ends.

#![allow(dead_code)] // each test file uses its part

pub mod oci;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use workshop_tests::{CommandExt, Run, collect, step_command_in, test_rootfs};

pub const BIN: &str = env!("CARGO_BIN_EXE_10-runtime");

/// A state directory, and the containers in it.
pub struct Host {
    pub state: tempfile::TempDir,
}

impl Host {
    pub fn new() -> Self {
        Host {
            state: workshop_tests::temp_dir("state"),
        }
    }

    pub fn path(&self) -> &Path {
        self.state.path()
    }

    /// A container's command line: the test rootfs, this state, no
    /// network; `--rm` only if asked (the tests' default keeps nothing).
    pub fn run_command(&self, args: &[&str]) -> Command {
        let mut cmd = step_command_in(BIN, test_rootfs(), self.path());
        cmd.env_remove("WORKSHOP_RM").args(args);
        cmd
    }

    /// Runs a container (`-d` or not) and collects what it printed.
    pub fn run(&self, args: &[&str]) -> Run {
        collect(self.run_command(args).output_bounded())
    }

    /// `run -d ARGS`: the id, asserted printed.
    #[track_caller]
    pub fn detach(&self, args: &[&str]) -> String {
        let mut all = vec!["-d"];
        all.extend_from_slice(args);
        let run = self.run(&all);
        assert_eq!(run.code, Some(0), "{run:?}");
        let id = run.stdout.trim().to_string();
        assert!(
            id.len() == 12 && id.chars().all(|c| c.is_ascii_hexdigit()),
            "run -d prints the id: {run:?}"
        );
        id
    }

    /// A subcommand (`ps`, `logs`, ...) on this state.
    pub fn sub(&self, args: &[&str]) -> Run {
        collect(self.sub_command(args).output_bounded())
    }

    pub fn sub_command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(BIN);
        workshop_tests::die_with_the_test(&mut cmd);
        cmd.arg("--state-dir")
            .arg(self.path())
            .args(args)
            .env("NO_COLOR", "1")
            .stdin(Stdio::null());
        cmd
    }

    /// Container `id`'s directory.
    pub fn record(&self, id: &str) -> PathBuf {
        self.path().join("records").join(id)
    }

    /// Container `id`'s state.json.
    pub fn state(&self, id: &str) -> serde_json::Value {
        let text = std::fs::read_to_string(self.record(id).join("state.json"))
            .unwrap_or_else(|e| panic!("the state of {id}: {e}"));
        serde_json::from_str(&text).unwrap()
    }

    /// Waits (at most 20 s) until `ready` holds.
    #[track_caller]
    pub fn wait_until(&self, what: &str, mut ready: impl FnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while !ready() {
            assert!(Instant::now() < deadline, "waited 20 s for {what}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The ids of every record here.
    pub fn ids(&self) -> Vec<String> {
        std::fs::read_dir(self.path().join("records"))
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| !n.starts_with('.'))
            .collect()
    }
}

impl Drop for Host {
    /// Every container the test left is removed, running or not (its
    /// monitor cleans up what it made); a monitor that will not finish is
    /// killed, by the pid its record gives, after checking it is ours.
    fn drop(&mut self) {
        for id in self.ids() {
            let _ = self.sub(&["rm", "-f", &id]);
        }
        for id in self.ids() {
            let monitor = std::fs::read_to_string(self.record(&id).join("state.json"))
                .ok()
                .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
                .and_then(|s| s["monitor_pid"].as_i64());
            let ours = monitor.is_some_and(|pid| {
                std::fs::read_to_string(format!("/proc/{pid}/cmdline"))
                    .is_ok_and(|c| c.contains(&self.path().display().to_string()))
            });
            if let (Some(pid), true) = (monitor, ours) {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid as i32),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
        }
    }
}

/// Whether process `pid` exists (and is not a zombie).
pub fn process_alive(pid: i64) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            s.rsplit(')')
                .next()
                .map(|r| !r.trim_start().starts_with('Z'))
        })
        .unwrap_or(false)
}

/// The parent of process `pid`.
pub fn parent_of(pid: i64) -> Option<i64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit(')')
        .next()?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}
