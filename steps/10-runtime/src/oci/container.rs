//! One container of ours: the directory `<root>/<id>/`, what `create`
//! wrote in it, and its status now.
//!
//! The status is not stored, it is looked at (runtime.md's "state"):
//! `created` while the first process lives and waits at its gate (the
//! FIFO is there), `running` once `start` took the gate away, `stopped`
//! when that process has exited. "Lives" means the pid and its start time
//! (/proc/PID/stat) still match, so that a reused pid is never taken for
//! the container (as in pidfd.rs).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::error::OciError;
use crate::pidfd::Process;

/// What `create` wrote: `<root>/<id>/state.json`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Saved {
    pub oci_version: String,
    pub id: String,
    /// The first process, as the host numbers it, and its start time.
    pub pid: i32,
    pub pid_start: u64,
    pub bundle: PathBuf,
    pub rootfs: PathBuf,
    /// RFC 3339.
    pub created: String,
    pub annotations: HashMap<String, String>,
    /// Its cgroup, one directory per hierarchy: `delete` removes them.
    pub cgroups: Vec<PathBuf>,
    /// The config's hooks, for `start` (poststart) and `delete` (poststop).
    #[serde(default)]
    pub hooks: Option<oci_spec::runtime::Hooks>,
}

impl Saved {
    /// The state the spec defines (`state` prints it, hooks read it), for
    /// `status`, without its pid.
    pub fn base_state(&self) -> serde_json::Value {
        let mut state = serde_json::json!({
            "ociVersion": self.oci_version,
            "id": self.id,
            "bundle": self.bundle,
            "rootfs": self.rootfs,
            "created": self.created,
            "owner": "",
        });
        if !self.annotations.is_empty() {
            state["annotations"] = serde_json::json!(self.annotations);
        }
        state
    }
}

/// What the container is now (runtime.md: "creating" is never seen here:
/// `create` answers only once it is created).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    Created,
    Running,
    Stopped,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Created => "created",
            Status::Running => "running",
            Status::Stopped => "stopped",
        }
    }
}

/// `<root>/<id>/`.
#[derive(Clone, Debug)]
pub struct Dir {
    pub path: PathBuf,
}

impl Dir {
    /// The directory of `id` under `root`, once `id` is checked: runc's
    /// rule (letters, digits, `_+-.`), so that it is one plain name.
    pub fn of(root: &Path, id: &str) -> Result<Dir, OciError> {
        let plain = !id.is_empty()
            && id != "."
            && id != ".."
            && id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "_+-.".contains(c));
        if !plain {
            return Err(OciError::BadId(id.into()));
        }
        Ok(Dir {
            path: root.join(id),
        })
    }

    /// The FIFO the first process waits at until `start`.
    pub fn gate(&self) -> PathBuf {
        self.path.join("exec.fifo")
    }

    /// The state directory of its layers (step 01's `--state-dir`).
    pub fn state_dir(&self) -> PathBuf {
        self.path.join("state")
    }

    fn saved_path(&self) -> PathBuf {
        self.path.join("state.json")
    }

    /// What `create` wrote; no such container if there is none.
    pub fn saved(&self) -> Result<Saved, OciError> {
        let path = self.saved_path();
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                return Err(OciError::NoSuchContainer);
            }
            Err(err) => return Err(OciError::io("reading", path)(err)),
        };
        serde_json::from_slice(&bytes).map_err(|err| OciError::Malformed {
            path,
            reason: err.to_string(),
        })
    }

    /// Writes `saved` whole (aside, then renamed over).
    pub fn save(&self, saved: &Saved) -> Result<(), OciError> {
        crate::record::write_whole(&self.saved_path(), saved).map_err(|err| OciError::Io {
            what: "writing",
            path: self.saved_path(),
            source: std::io::Error::other(err.to_string()),
        })
    }

    // ANCHOR: status
    /// Its status now, and its first process if that lives.
    pub fn status(&self, saved: &Saved) -> (Status, Option<Process>) {
        let process = Process::open(saved.pid, saved.pid_start)
            .filter(|process| !process.wait_exit(Duration::ZERO));
        let status = match (&process, self.gate().exists()) {
            (None, _) => Status::Stopped,
            (Some(_), true) => Status::Created,
            (Some(_), false) => Status::Running,
        };
        (status, process)
    }
    // ANCHOR_END: status
}
