//! All the records: `<state>/records/`, made, found, listed and swept.
//!
//! (Not `containers/`: step 05 keeps each container's /etc files there.)
//!
//! Every path here is built from names found on disk, and `rm` removes
//! whole directories as root. So nothing is taken on trust: the state
//! directory must be the runtime's own (step 01's `ensure_private`: ours,
//! not shared, not a symlink), `records` a real directory in it, and a
//! record's id and name plain (record.rs). A shared `/tmp` with a
//! `records` symlink planted in it cannot point our `rm` at anything else.

use std::fs;
use std::os::unix::fs::{DirBuilderExt, MetadataExt};
use std::path::{Path, PathBuf};

use crate::error::RuntimeError;
use crate::record::{Config, Life, Record, State, is_id, lock, remove_dir, write_whole};

type Result<T, E = RuntimeError> = std::result::Result<T, E>;

/// All records: `<state>/records`.
#[derive(Clone, Debug)]
pub struct Records {
    dir: PathBuf,
}

impl Records {
    /// The records under `state_dir`.
    pub fn new(state_dir: &Path) -> Self {
        Records {
            dir: state_dir.join("records"),
        }
    }

    /// Whether the state directory and `records` in it are ours alone.
    /// Neither there yet: nothing to read, and nothing is made here.
    fn checked(&self) -> Result<bool> {
        let state = self.dir.parent().expect("records lie in a state directory");
        if fs::symlink_metadata(state).is_err() {
            return Ok(false);
        }
        step01_chroot::state::ensure_private(state).map_err(RuntimeError::State)?;
        match fs::symlink_metadata(&self.dir) {
            Err(_) => Ok(false),
            Ok(meta) if meta.is_dir() && meta.uid() == nix::unistd::geteuid().as_raw() => Ok(true),
            Ok(_) => Err(RuntimeError::NotOurs(self.dir.clone())),
        }
    }

    /// Makes the record of a new container, unless its name is taken.
    /// Under a lock on the whole list, so two runs with one `--name` cannot
    /// both find it free.
    pub fn create(&self, config: Config, monitor_pid: i32) -> Result<Record> {
        let state = self.dir.parent().expect("records lie in a state directory");
        step01_chroot::state::ensure_private(state).map_err(RuntimeError::State)?;
        fs::DirBuilder::new()
            .mode(0o700)
            .create(&self.dir)
            .or_else(|err| match err.kind() {
                std::io::ErrorKind::AlreadyExists => Ok(()),
                _ => Err(err),
            })
            .map_err(RuntimeError::io("making", &self.dir))?;
        self.checked()?;
        let _lock = lock(&self.dir)?;
        self.sweep();
        self.check_name(&config.name)?;
        let dir = self.dir.join(&config.id);
        fs::DirBuilder::new()
            .mode(0o700)
            .create(&dir)
            .map_err(RuntimeError::io("making", &dir))?;
        // The state, then the config: a record without its config is not
        // listed, so nobody sees one without a state.
        write_whole(&dir.join("state.json"), &State::created(monitor_pid))?;
        write_whole(&dir.join("config.json"), &config)?;
        Record::open(&dir)
    }

    /// The record of container `id`, which ran before, made ready to run
    /// again (`start`): not running now, its state new, its output to be
    /// logged (started again, it is detached, whatever it was).
    /// `restart`: by its `--restart` policy, which a `stop` since forbids.
    /// `run`: the engine's id of the monitor's run (record.rs, `State::run`).
    pub fn again(&self, id: &str, monitor_pid: i32, restart: bool, run: &str) -> Result<Record> {
        self.checked()?;
        let _lock = lock(&self.dir)?;
        let mut record = self.find(id)?;
        // (And the record's own lock, which `stop` marks it under.)
        let _record_lock = lock(record.dir())?;
        let (old, life) = record.view()?;
        if matches!(life, Life::Running | Life::Created) {
            return Err(RuntimeError::Running(record.config.name.clone()));
        }
        if restart && old.stopped {
            return Err(RuntimeError::Monitor {
                id: id.into(),
                what: "was stopped: it is not restarted".into(),
            });
        }
        record.config.detached = true;
        write_whole(&record.dir().join("config.json"), &record.config)?;
        let mut state = State::created(monitor_pid);
        state.restarts = old.restarts + u32::from(restart);
        state.ran = old.ran;
        state.run = Some(run.into());
        write_whole(&record.dir().join("state.json"), &state)?;
        Ok(record)
    }

    /// Refuses a name another container has (as its name or its id).
    pub fn check_name(&self, name: &str) -> Result<()> {
        let taken = self.list()?.into_iter().find(|r| {
            (r.config.name == name || r.config.id == name)
                && r.view().is_ok_and(|(_, life)| {
                    // A --rm container whose monitor died is swept, not kept.
                    life != Life::MonitorGone || !r.config.auto_remove
                })
        });
        match taken {
            Some(other) => Err(RuntimeError::NameInUse {
                name: name.into(),
                id: other.config.id,
            }),
            None => Ok(()),
        }
    }

    /// Removes the records nobody wants: of containers whose monitor died
    /// before they ran (unless `create` made them: their user made them to
    /// keep), or that were `--rm` (a killed run must leave nothing
    /// that the next one does not remove). A container that ran, or failed
    /// to start, and was not `--rm` stays until `rm`: it may have left a
    /// writable layer its user wants, or logs. Only names that are ids are
    /// touched, and only under the list's lock, which makers hold.
    fn sweep(&self) {
        for entry in fs::read_dir(&self.dir).into_iter().flatten().flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let removing = name
                .strip_prefix(".removing-")
                .and_then(|rest| rest.get(..12))
                .is_some_and(is_id);
            let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
            if removing && is_dir {
                let _ = fs::remove_dir_all(entry.path());
            } else if is_id(&name) && is_dir && !entry.path().join("config.json").exists() {
                // Half made: its maker was killed before the config.
                let _ = remove_dir(&entry.path());
            }
        }
        for record in self.list().unwrap_or_default() {
            let unwanted = match record.view() {
                Ok((state, Life::MonitorGone)) => {
                    record.config.auto_remove || !(state.ran || record.config.create)
                }
                _ => false,
            };
            if unwanted {
                let _ = record.remove();
            }
        }
    }

    /// Every record, newest first (as `docker ps`), and the damaged ones
    /// apart, each with what is wrong.
    pub fn list_all(&self) -> Result<(Vec<Record>, Vec<RuntimeError>)> {
        if !self.checked()? {
            return Ok((Vec::new(), Vec::new()));
        }
        let entries = fs::read_dir(&self.dir).map_err(RuntimeError::io("reading", &self.dir))?;
        let (mut records, mut damaged) = (Vec::new(), Vec::new());
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if !is_id(&name) || !entry.file_type().is_ok_and(|t| t.is_dir()) {
                continue;
            }
            match Record::open(&entry.path()) {
                Ok(record) => records.push(record),
                // Being made (no config yet): not a record yet.
                Err(RuntimeError::Io { source, .. })
                    if source.kind() == std::io::ErrorKind::NotFound => {}
                Err(err) => damaged.push(err),
            }
        }
        records.sort_by(|a, b| b.config.created.cmp(&a.config.created));
        Ok((records, damaged))
    }

    /// Every record that can be read, newest first.
    pub fn list(&self) -> Result<Vec<Record>> {
        self.list_all().map(|(records, _)| records)
    }

    /// The container `query` names: its name, its id, or the start of its
    /// id when only one id starts so (as Docker finds them).
    pub fn find(&self, query: &str) -> Result<Record> {
        let not_found = || RuntimeError::NoSuchContainer(query.into());
        if !self.checked()? {
            return Err(not_found());
        }
        if is_id(query) && self.dir.join(query).is_dir() {
            return Record::open(&self.dir.join(query));
        }
        let records = self.list()?;
        if let Some(named) = records.iter().find(|r| r.config.name == query) {
            return Ok(named.clone());
        }
        let mut by_prefix = records
            .into_iter()
            .filter(|r| !query.is_empty() && r.config.id.starts_with(query));
        match (by_prefix.next(), by_prefix.next()) {
            (Some(one), None) => Ok(one),
            (Some(_), Some(_)) => Err(RuntimeError::Ambiguous(query.into())),
            _ => Err(not_found()),
        }
    }

    /// `rmi NAME` (step 09's), unless it takes away what a container runs
    /// on, as Docker refuses it: the name the container was made with
    /// (each `start` finds its image by that name again), or the image
    /// that name finds. Step 07 refuses to take a layer a container's
    /// writable layer stands on; a container made by `create` has none
    /// yet, so the records are asked first. Under the list's lock;
    /// `create` resolves the image before it takes that lock, so an `rmi`
    /// at that very moment can still win, and the first `start` then pulls
    /// the image again, or says it is missing.
    pub fn remove_image(&self, state_dir: &Path, name: &str) -> step01_chroot::Result<Vec<String>> {
        use step01_chroot::Error;
        use step09_registry::images;
        let _lock = match self.checked().map_err(Error::layer)? {
            true => Some(lock(&self.dir).map_err(Error::layer)?),
            false => None,
        };
        let removal = images::removal(state_dir, name).map_err(Error::layer)?;
        for record in self.list().map_err(Error::layer)? {
            let image = &record.config.image;
            let untagged = step09_registry::reference::ImageRef::parse(image)
                .is_ok_and(|r| removal.untag.contains(&r.to_string()));
            let deleted = removal.deletes
                && images::find(state_dir, image)
                    .ok()
                    .flatten()
                    .is_some_and(|its| its.store_name() == removal.found.store_name());
            if untagged || deleted {
                return Err(Error::layer(RuntimeError::ImageInUse {
                    image: name.into(),
                    container: record.config.name.clone(),
                }));
            }
        }
        images::remove(state_dir, name).map_err(Error::layer)
    }

    /// `rm -f ID` of a record that cannot be read: removed, if no monitor
    /// of that id lives.
    pub fn remove_damaged(&self, id: &str) -> Result<bool> {
        let dir = self.dir.join(id);
        if !self.checked()? || !is_id(id) || !dir.is_dir() {
            return Ok(false);
        }
        if step01_chroot::owner::alive(id) {
            return Err(RuntimeError::Running(id.into()));
        }
        remove_dir(&dir).map_err(RuntimeError::io("removing", &dir))?;
        Ok(true)
    }
}
