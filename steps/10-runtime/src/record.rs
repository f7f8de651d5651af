//! A container's record: what `ps`, `logs`, `stop` and `rm` know of it
//! once the command that started it has gone.
//!
//! One directory per container, `<state>/records/<id>/`:
//!
//! ```text
//! config.json   what was asked, fixed when the container is made:
//!               name, image, command, created, stop signal, log options
//! state.json    what is happening, rewritten by the monitor: created,
//!               running (pid and its start time), exited (code, time)
//! json.log      what the container printed (logs.rs), when detached
//! ```
//!
//! Two processes may write a state at once (the monitor says "exited"
//! while `rm -f` is looking), and a reader may come at any time. So a
//! state is written whole, aside, then renamed over the old one
//! (rename(2) is atomic: a reader sees the old file or the new, never half
//! of one), under flock(2) on the container's directory.
//!
//! Whether a container is *really* running is not in the file: its monitor
//! may have been killed (SIGKILL leaves no time to write "exited"). The
//! monitor runs the engine, which holds the run's lock (step 01's
//! owner.rs) from before the record is made until after "exited" is
//! written (recorded.rs); the kernel releases it when the monitor dies,
//! however it dies. [`Record::view`] asks that lock.

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use crate::error::RuntimeError;
use crate::logs::LogOptions;

type Result<T, E = RuntimeError> = std::result::Result<T, E>;

/// What was asked for the container; written once, when it is made.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Config {
    /// Its id: the engine's (the spec's), 12 hex digits.
    pub id: String,
    /// `--name`, or the id.
    pub name: String,
    /// The image as it was named, or `--rootfs DIR`.
    pub image: String,
    /// The command, as the container runs it.
    pub command: Vec<String>,
    /// When the record was made (RFC 3339).
    pub created: String,
    /// What `stop` sends first: the image's StopSignal, or SIGTERM.
    pub stop_signal: String,
    /// Started with `-d`: its output is in json.log.
    pub detached: bool,
    /// `--rm`: the record goes when the container exits.
    pub auto_remove: bool,
    /// `--log-opt`s.
    pub log: LogOptions,
    /// `--restart`.
    #[serde(default)]
    pub restart: crate::restart::Policy,
    /// Published ports, as `ps` shows them (`0.0.0.0:8080->80/tcp`).
    #[serde(default)]
    pub ports: Vec<String>,
    /// The command line that made it, the program's name first: `exec`
    /// reads it again to hold a new process to what this one is held to,
    /// and `start` to run it again.
    #[serde(default)]
    pub argv: Vec<String>,
    /// The variables that filled in flags (`WORKSHOP_NETWORK=none` is
    /// `--network none`): read again with `argv`, in place of whatever the
    /// environment of `start` or `exec` says.
    #[serde(default)]
    pub flag_env: Vec<(String, String)>,
    /// `-t`: its stdio is a terminal (`attach` puts yours in raw mode).
    #[serde(default)]
    pub tty: bool,
    /// Made by `create`, not `run`: it waits for `start`, and is kept
    /// until `rm` even if no start of it ever ran.
    #[serde(default)]
    pub create: bool,
}

/// Where a container is in its life, as its monitor last wrote it.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Made, not started yet.
    Created,
    /// Its command runs.
    Running,
    /// Its command ended (or never started: `error` says why).
    Exited,
}

/// What is happening to the container; rewritten as it changes.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct State {
    /// Created, running or exited.
    pub status: Status,
    /// The monitor: the process that runs the engine for this container;
    /// 0 while a container made by `create` waits for its first `start`.
    pub monitor_pid: i32,
    /// The container's first process, as the host numbers it.
    pub pid: Option<i32>,
    /// That process's start time (clock ticks after boot, from
    /// /proc/PID/stat): a pid is reused, a pid *and* its start time is not.
    pub pid_start: Option<u64>,
    /// RFC 3339 times.
    pub started: Option<String>,
    pub finished: Option<String>,
    /// The exit code, as a shell gives it (137 for SIGKILL).
    pub exit_code: Option<u8>,
    /// Why it could not start, or what went wrong as it ended.
    pub error: Option<String>,
    /// Restarts by its `--restart` policy so far.
    #[serde(default)]
    pub restarts: u32,
    /// It ran, this time or before (a record of a container that never
    /// ran, whose monitor died, is swept; one that ran is kept).
    #[serde(default)]
    pub ran: bool,
    /// Ended by `stop` or `rm -f`: not to be restarted.
    #[serde(default)]
    pub stopped: bool,
    /// Exited, and its monitor waits to start it again (`--restart`).
    #[serde(default)]
    pub restarting: bool,
    /// The monitor's start time (/proc/PID/stat), to tell it from a
    /// process that has its pid later.
    #[serde(default)]
    pub monitor_start: Option<u64>,
    /// The engine's id of the run its monitor makes (step 01's owner.rs
    /// locks it): the container's id at its first run, a new one at each
    /// `start`, so that what a killed monitor left is a dead run's, which
    /// the next run sweeps, and never taken for the new run's own. None:
    /// the container's id (a record from before this field).
    #[serde(default)]
    pub run: Option<String>,
}

impl State {
    /// A new container's state.
    pub fn created(monitor_pid: i32) -> Self {
        State {
            status: Status::Created,
            monitor_pid,
            pid: None,
            pid_start: None,
            started: None,
            finished: None,
            exit_code: None,
            error: None,
            restarts: 0,
            ran: false,
            stopped: false,
            restarting: false,
            monitor_start: crate::pidfd::start_time(monitor_pid),
            run: None,
        }
    }
}

/// What a container really is now: its state, checked against its
/// monitor's lock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Life {
    /// Made by `create`, and no `start` yet: no monitor, nothing runs.
    Waiting,
    /// Its monitor is setting it up.
    Created,
    Running,
    Exited(Option<u8>),
    /// Exited, and its monitor, alive, will start it again (`--restart`).
    Restarting(Option<u8>),
    /// The file says created or running, and no monitor holds the run's
    /// lock: it was killed, or the host rebooted (/run is a tmpfs).
    MonitorGone,
}

/// One container's directory.
#[derive(Clone, Debug)]
pub struct Record {
    pub(crate) dir: PathBuf,
    /// Read when the record was opened; it never changes.
    pub config: Config,
}

impl Record {
    /// Reads the record in `dir`. Its id and name become paths (the
    /// record's, step 07's writable layer): a config that names anything
    /// but a plain id and a plain name is refused as damaged.
    pub fn open(dir: &Path) -> Result<Record> {
        let path = dir.join("config.json");
        let config: Config = read_json(&path)?;
        let damaged = |reason: &str| RuntimeError::Corrupt {
            path: path.clone(),
            reason: reason.into(),
        };
        if !is_id(&config.id) || dir.file_name() != Some(config.id.as_ref()) {
            return Err(damaged("its id is not the directory's name"));
        }
        if !step07_overlay::store::valid_name(&config.name) {
            return Err(damaged("its name is not a container's name"));
        }
        Ok(Record {
            dir: dir.to_path_buf(),
            config,
        })
    }

    /// The container's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Its state as last written.
    pub fn state(&self) -> Result<State> {
        read_json(&self.dir.join("state.json"))
    }

    /// Changes the state under the record's lock: `change` gets it as it
    /// is now, and what it leaves is written back whole.
    pub fn update(&self, change: impl FnOnce(&mut State)) -> Result<State> {
        let _lock = lock(&self.dir)?;
        let mut state = self.state()?;
        change(&mut state);
        write_whole(&self.dir.join("state.json"), &state)?;
        Ok(state)
    }

    // ANCHOR: view
    /// What the container is now: its state, and whether its monitor
    /// lives (by its lock, not by a pid that may be reused).
    pub fn view(&self) -> Result<(State, Life)> {
        // EXERCISE 10: what a container really is: its state file, checked against its monitor's lock
        // HINT: "exited" in the file is the end: believe it.
        // HINT: "created" with no monitor pid (0) is a container made by `create`: it waits for `start`.
        // HINT: otherwise the file says created or running; that holds only while the monitor lives (self.monitor_alive()).
        // HINT: a monitor may write "exited" and go between two looks: read the state again before calling it gone.
        // CHECK: --lib record::tests::a_running_record_is_running_while_its_monitor_lives | running while the monitor lives, gone after
        // CHECK: --lib record::tests::a_record_whose_monitor_is_gone_says_so | a record whose monitor died is shown as gone
        // CHECK: --lib record::tests::a_state_is_written_whole_and_a_corrupt_one_is_named | an exited container is exited
        // CHECK: --lib record::tests::a_created_record_waits_for_start_and_is_kept | a container made by create waits
        if !self.dir.exists() {
            // Removed (by `rm`, or by its monitor: --rm): it has ended.
            return Ok((State::created(0), Life::Exited(None)));
        }
        let state = self.state()?;
        if state.status == Status::Exited {
            let waits = state.restarting
                && state.monitor_start.is_some_and(|start| {
                    crate::pidfd::Process::open(state.monitor_pid, start).is_some()
                });
            let life = match waits {
                true => Life::Restarting(state.exit_code),
                false => Life::Exited(state.exit_code),
            };
            return Ok((state, life));
        }
        if state.status == Status::Created && state.monitor_pid == 0 {
            return Ok((state, Life::Waiting)); // made by `create`
        }
        if self.monitor_alive() {
            let life = match state.status {
                Status::Created => Life::Created,
                _ => Life::Running,
            };
            return Ok((state, life));
        }
        // Read again: the monitor may have written "exited" and gone
        // between our two looks.
        let again = self.state()?;
        let life = match again.status {
            Status::Exited => Life::Exited(again.exit_code),
            _ => Life::MonitorGone,
        };
        Ok((again, life))
        // END EXERCISE
    }
    // ANCHOR_END: view

    /// Whether its monitor lives: the lock of the run it makes is held.
    pub fn monitor_alive(&self) -> bool {
        let run = self.state().ok().and_then(|state| state.run);
        step01_chroot::owner::alive(run.as_deref().unwrap_or(&self.config.id))
    }

    /// Removes the record.
    pub fn remove(&self) -> Result<()> {
        remove_dir(&self.dir).map_err(RuntimeError::io("removing", &self.dir))
    }
}

/// Now, as RFC 3339 with nanoseconds (`2026-12-02T03:04:05.123456789Z`).
pub fn now() -> String {
    humantime::format_rfc3339_nanos(SystemTime::now()).to_string()
}

/// A time written by [`now`].
pub fn parse_time(text: &str) -> Option<SystemTime> {
    humantime::parse_rfc3339(text).ok()
}

/// Removes a record's directory so that a remover killed half-way leaves
/// nothing that looks like a record: first renamed (rename(2) is atomic)
/// to `.removing-…`, which nobody lists and the next sweep finishes.
/// Already gone (another remover's): as good.
pub(crate) fn remove_dir(dir: &Path) -> std::io::Result<()> {
    let name = dir.file_name().unwrap_or_default().to_string_lossy();
    let doomed = dir.with_file_name(format!(".removing-{name}-{}", std::process::id()));
    fs::rename(dir, &doomed)
        .and_then(|()| fs::remove_dir_all(&doomed))
        .or_else(|err| match err.kind() {
            std::io::ErrorKind::NotFound => Ok(()),
            _ => Err(err),
        })
}

/// An exclusive flock(2) on a directory, released on drop.
pub(crate) fn lock(dir: &Path) -> Result<File> {
    let file = File::open(dir).map_err(RuntimeError::io("opening", dir))?;
    file.lock().map_err(RuntimeError::io("locking", dir))?;
    Ok(file)
}

pub(crate) fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T> {
    let bytes = fs::read(path).map_err(RuntimeError::io("reading", path))?;
    serde_json::from_slice(&bytes).map_err(|err| RuntimeError::Corrupt {
        path: path.to_path_buf(),
        reason: err.to_string(),
    })
}

/// Writes `value` as JSON into `path`: aside, then renamed over it.
pub(crate) fn write_whole(path: &Path, value: &impl Serialize) -> Result<()> {
    let json = serde_json::to_vec_pretty(value).expect("plain data serializes");
    let name = path.file_name().expect("a file name").to_string_lossy();
    let aside = path.with_file_name(format!(".{name}.{}", std::process::id()));
    fs::write(&aside, json).map_err(RuntimeError::io("writing", &aside))?;
    fs::rename(&aside, path).map_err(RuntimeError::io("writing", path))
}

/// The variables that fill in flags (clap's `env = "WORKSHOP_…"`), as
/// they are now: what a record keeps beside its command line.
pub fn flag_env() -> Vec<(String, String)> {
    let ours = [crate::monitor::MONITOR_FD, crate::monitor::AGAIN];
    std::env::vars()
        .filter(|(k, _)| k.starts_with("WORKSHOP_") && !ours.contains(&k.as_str()))
        .collect()
}

/// Whether `text` is a container id: 12 hex digits (step 01's spec.rs).
pub fn is_id(text: &str) -> bool {
    text.len() == 12 && text.bytes().all(|b| b.is_ascii_hexdigit())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::Records;

    fn config(id: &str, name: &str) -> Config {
        Config {
            id: id.into(),
            name: name.into(),
            image: "busybox".into(),
            command: vec!["sh".into()],
            created: now(),
            stop_signal: "SIGTERM".into(),
            detached: true,
            auto_remove: false,
            log: LogOptions::default(),
            restart: Default::default(),
            ports: Vec::new(),
            argv: Vec::new(),
            flag_env: Vec::new(),
            tty: false,
            create: false,
        }
    }

    /// A record of a container that ran (no run holds its lock here, so
    /// it looks gone: one that never ran would be swept by the next).
    fn ran(records: &Records, id: &str, name: &str) -> Record {
        let record = records.create(config(id, name), 1).unwrap();
        record.update(|s| s.ran = true).unwrap();
        record
    }

    #[test]
    fn records_are_found_by_name_id_and_unique_prefix() {
        let state = tempfile::tempdir().unwrap();
        let records = Records::new(state.path());
        ran(&records, "aaaa11112222", "web");
        ran(&records, "aaaa33334444", "db");
        assert_eq!(records.find("web").unwrap().config.id, "aaaa11112222");
        assert_eq!(records.find("aaaa3333").unwrap().config.name, "db");
        assert_eq!(records.find("aaaa33334444").unwrap().config.name, "db");
        assert!(matches!(
            records.find("aaaa"),
            Err(RuntimeError::Ambiguous(_))
        ));
        assert!(matches!(
            records.find("nope"),
            Err(RuntimeError::NoSuchContainer(_))
        ));
        assert!(matches!(
            records.find("../x"),
            Err(RuntimeError::NoSuchContainer(_))
        ));
        // A name is one container's.
        let taken = records.create(config("bbbb11112222", "web"), 1);
        assert!(matches!(
            records.check_name("web"),
            Err(RuntimeError::NameInUse { .. })
        ));
        assert!(
            matches!(taken, Err(RuntimeError::NameInUse { .. })),
            "{taken:?}"
        );
        assert!(!state.path().join("records/bbbb11112222").exists());
    }

    #[test]
    fn a_state_is_written_whole_and_a_corrupt_one_is_named() {
        let state = tempfile::tempdir().unwrap();
        let records = Records::new(state.path());
        let record = ran(&records, "cccc11112222", "c");
        record
            .update(|s| {
                s.status = Status::Exited;
                s.exit_code = Some(137);
            })
            .unwrap();
        let (read, life) = record.view().unwrap();
        assert_eq!(read.exit_code, Some(137));
        assert_eq!(life, Life::Exited(Some(137)));
        // Nothing was left aside.
        let names: Vec<_> = fs::read_dir(record.dir())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert!(names.iter().all(|n| !n.starts_with('.')), "{names:?}");
        fs::write(record.dir().join("state.json"), "{ half").unwrap();
        let err = record.state().unwrap_err().to_string();
        assert!(err.contains("state.json"), "{err}");
    }

    #[test]
    fn a_running_record_is_running_while_its_monitor_lives() {
        let state = tempfile::tempdir().unwrap();
        let records = Records::new(state.path());
        let id = step01_chroot::spec::random_id();
        // The engine's run lock of this id, as a monitor holds it.
        let monitor = step01_chroot::owner::RunLock::take(&id).unwrap();
        let record = records.create(config(&id, "live"), 1).unwrap();
        assert_eq!(record.view().unwrap().1, Life::Created);
        record.update(|s| s.status = Status::Running).unwrap();
        assert_eq!(record.view().unwrap().1, Life::Running);
        drop(monitor);
        assert_eq!(record.view().unwrap().1, Life::MonitorGone);
    }

    #[test]
    fn a_record_whose_monitor_is_gone_says_so() {
        let state = tempfile::tempdir().unwrap();
        let records = Records::new(state.path());
        // No run holds the lock of this id: its monitor is gone.
        let record = records.create(config("dddd11112222", "d"), 1).unwrap();
        assert_eq!(record.view().unwrap().1, Life::MonitorGone);
        // Not --rm and it ran (this time or before: a `start` killed before
        // its container ran has no pid yet): kept, shown as gone, when the
        // next is made.
        record.update(|s| s.ran = true).unwrap();
        let _next = records.create(config("dddd33334444", "e"), 1).unwrap();
        assert!(record.dir().exists());
        // Never ran: swept.
        record.update(|s| s.ran = false).unwrap();
        let _next = records.create(config("dddd55556666", "f"), 1).unwrap();
        assert!(!record.dir().exists());
    }

    #[test]
    fn a_created_record_waits_for_start_and_is_kept() {
        let state = tempfile::tempdir().unwrap();
        let records = Records::new(state.path());
        // `create`: no monitor (pid 0), no run lock: waiting, not gone.
        let mut made = config("eeee11112222", "later");
        made.create = true;
        let record = records.create(made, 0).unwrap();
        assert_eq!(record.view().unwrap().1, Life::Waiting);
        // Not swept by the next container's making.
        let _next = records.create(config("eeee33334444", "g"), 1).unwrap();
        assert_eq!(record.view().unwrap().1, Life::Waiting);
        // Its first `start`, killed before the container ran: kept too.
        record.update(|s| s.monitor_pid = 1).unwrap();
        assert_eq!(record.view().unwrap().1, Life::MonitorGone);
        let _next = records.create(config("eeee55556666", "h"), 1).unwrap();
        assert!(record.dir().exists());
    }
}
