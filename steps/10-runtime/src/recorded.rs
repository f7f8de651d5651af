//! Step 10's layer: the container's record, kept true through its life.
//!
//! It is the *first* layer, so that its hooks frame everyone else's:
//!
//! ```text
//! check()     the name is free                (nothing made yet)
//! prepare()   the record, created (or, for    before any other layer makes
//!             `start`, made ready again);     anything: a run killed from
//!             with -d, the console made ready here on is found by its record
//! configure_child()  cloned: the console's thread starts (one thread
//!             until here: the engine clones with one)
//! running()   "running", pid + start time; `run -d` is told
//! cleanup()   last of all, once every other layer has cleaned up: the
//!             console flushed, then "exited" and the code (a start that
//!             failed is kept too, as Docker keeps it; --rm removes the
//!             record); the engine lets go of the run's lock after this,
//!             so a record that says "running" with that lock free has
//!             lost its monitor
//! ```

use std::fs::File;

use nix::unistd::Pid;
use step01_chroot::layer::{Layer, ParentCx, Plan};
use step01_chroot::{Error, ExitStatus, Result};

use crate::console::Ends;
use crate::monitor::{Word, say};
use crate::record::{Config, Record, Status};
use crate::records::Records;

/// Step 10's layer.
pub struct Recorded {
    records: Records,
    config: Config,
    /// `run -d`'s pipe, in a monitor: told once the command runs.
    caller: Option<File>,
    /// The console's ends of the stdio, in a monitor.
    ends: Option<Ends>,
    /// Started again (`start`, or `--restart`): its record is there
    /// already.
    again: Option<crate::Again>,
    /// Made by `prepare`.
    record: Option<Record>,
    console: Option<crate::console::Console>,
}

impl Recorded {
    /// The record `config` describes, under `records`; in a monitor, with
    /// `run -d`'s pipe and the console's ends.
    pub fn new(
        records: Records,
        config: Config,
        monitor: Option<(File, Ends)>,
        again: Option<crate::Again>,
    ) -> Self {
        let (caller, ends) = monitor.unzip();
        Recorded {
            records,
            config,
            caller,
            ends,
            again,
            record: None,
            console: None,
        }
    }
}

impl std::fmt::Debug for Recorded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recorded")
            .field("config", &self.config)
            .finish()
    }
}

impl Layer for Recorded {
    fn name(&self) -> &'static str {
        "record"
    }

    fn color(&self) -> colored::Color {
        colored::Color::BrightWhite
    }

    fn check(&self, _plan: &Plan<'_>) -> Result<()> {
        if self.again.is_some() {
            // Its own name: `prepare` checks that it is not running.
            return Ok(());
        }
        self.records
            .check_name(&self.config.name)
            .map_err(Error::layer)
    }

    fn prepare(&mut self, cx: &mut ParentCx<'_>) -> Result<()> {
        let me = std::process::id() as i32;
        let record = match &self.again {
            Some(again) => self
                .records
                .again(&again.id, me, again.restart, &cx.spec.id),
            None => self.records.create(self.config.clone(), me),
        }
        .map_err(Error::layer)?;
        cx.trace.note(format!(
            "the container's record: {}",
            record.dir().display()
        ));
        if let Some(ends) = self.ends.take() {
            // A monitor: the console takes the container's stdio from here.
            match crate::console::start(&record, ends) {
                Ok(console) => self.console = Some(console),
                Err(source) => {
                    let _ = record.remove();
                    return Err(Error::Io {
                        what: "starting the console of",
                        path: record.dir().to_path_buf(),
                        source,
                    });
                }
            }
        }
        self.record = Some(record);
        Ok(())
    }

    fn configure_child(&mut self, _cx: &mut ParentCx<'_>, _child: Pid) -> Result<()> {
        // Cloned: the console's thread may start (console.rs), before the
        // child runs anything of its own. Until now the monitor must have
        // been one thread (the engine's clone copies only the caller):
        // checked here, where nothing could have started another since.
        if let Some(console) = &mut self.console {
            let threads = std::fs::read_dir("/proc/self/task").map_or(0, |d| d.count());
            if threads != 1 {
                return Err(Error::layer(crate::error::RuntimeError::Monitor {
                    id: self.config.id.clone(),
                    what: format!("had {threads} threads at the clone, where one is safe"),
                }));
            }
            let dir = self.record.as_ref().map(|r| r.dir().to_path_buf());
            console.serve().map_err(|source| Error::Io {
                what: "starting the console of",
                path: dir.unwrap_or_default(),
                source,
            })?;
        }
        Ok(())
    }

    // ANCHOR: running
    fn running(&mut self, cx: &mut ParentCx<'_>, child: Pid) {
        let Some(record) = &self.record else { return };
        let start = crate::pidfd::start_time(child.as_raw());
        let written = record.update(|state| {
            state.status = Status::Running;
            state.ran = true;
            state.pid = Some(child.as_raw());
            state.pid_start = start;
            state.started = Some(crate::record::now());
        });
        if let Err(err) = written {
            cx.trace.note(format!(
                "warning: the record says nothing of the start: {err}"
            ));
        }
        cx.trace.note(format!(
            "running: pid {child}, started at tick {} (/proc/{child}/stat)",
            start.unwrap_or_default()
        ));
        if let Some(mut caller) = self.caller.take() {
            say(&mut caller, &Word::Running(record.config.id.clone()));
            // A monitor now only waits, for as long as the container runs:
            // the memory the start needed (a parsed seccomp profile, image
            // configs), and the code it ran, go back (idle.rs).
            crate::idle::let_go();
        }
    }
    // ANCHOR_END: running

    fn cleanup(&mut self, cx: &mut ParentCx<'_>, exit: Option<&ExitStatus>) -> Result<()> {
        if let Some(console) = self.console.take() {
            console.finish();
        }
        let Some(record) = self.record.take() else {
            return Ok(());
        };
        // --rm: nothing wanted. Otherwise, as Docker keeps a container
        // that failed to start: exited, and the run's error (which the
        // engine returns after this) is added to it (lib.rs).
        let (result, note) = match exit {
            _ if record.config.auto_remove => (record.remove(), "--rm: the record goes"),
            Some(status) => {
                let written = record.update(|state| {
                    state.status = Status::Exited;
                    state.finished = Some(crate::record::now());
                    state.exit_code = Some(status.code());
                });
                (written.map(drop), "the record keeps how it ended")
            }
            None => {
                let written = record.update(|state| {
                    state.status = Status::Exited;
                    state.finished = Some(crate::record::now());
                });
                (written.map(drop), "it did not start: the record says so")
            }
        };
        cx.trace.note(note);
        result.map_err(Error::layer)
    }
}
