//! Ending a container: `stop`, `kill`, `rm`.
//!
//! Each signal goes through a pidfd checked against the process's start
//! time (pidfd.rs), never through a pid that may have been reused; each
//! waits for the monitor to write how the container ended, so that what
//! comes next (`rm`, a new container with the same name) finds everything
//! cleaned up.

use std::path::Path;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;

use crate::error::RuntimeError;
use crate::pidfd::{Process, parse_signal};
use crate::record::{Life, Record, State};

type Result<T, E = RuntimeError> = std::result::Result<T, E>;

/// How long a monitor may take to start its container, or to clean up
/// after it.
const MONITOR_GRACE: Duration = Duration::from_secs(30);

// ANCHOR: stop
/// `stop`: the stop signal, up to `grace` to exit, then SIGKILL; and then
/// the monitor's cleanup. A container that is not running is stopped
/// already.
pub fn stop(record: &Record, grace: Duration) -> Result<()> {
    // First: its monitor must not start it again (`--restart`).
    mark_stopped(record)?;
    let (state, life) = started(record)?;
    if life != Life::Running {
        return wait_for_monitor(record);
    }
    let first = parse_signal(&record.config.stop_signal).unwrap_or(Signal::SIGTERM);
    if let Some(process) = open(&state) {
        // ESRCH: it exited as we came. Anything else is for the user.
        match process.signal(first) {
            Err(nix::errno::Errno::ESRCH) | Ok(()) => {}
            Err(errno) => return Err(RuntimeError::Signal(record.config.name.clone(), errno)),
        }
        if !process.wait_exit(grace) {
            // As the PID namespace's init, the container ignores any
            // signal it has no handler for (pid_namespaces(7)); SIGKILL
            // from outside is the exception.
            let _ = process.signal(Signal::SIGKILL);
            process.wait_exit(MONITOR_GRACE);
        }
    }
    wait_for_monitor(record)
}
// ANCHOR_END: stop

/// Marks the record: ended by the user, not to be restarted. (Gone
/// already: nothing to mark.)
fn mark_stopped(record: &Record) -> Result<()> {
    if !record.dir().exists() {
        return Ok(());
    }
    record.update(|state| state.stopped = true).map(drop)
}

/// `kill -s SIGNAL`: one signal, to a running container only.
pub fn kill(record: &Record, signal: Signal) -> Result<()> {
    let (state, life) = started(record)?;
    if life != Life::Running {
        return Err(RuntimeError::NotRunning(record.config.name.clone()));
    }
    signal_it(record, &state, signal)
}

/// The container's state once it is past "created": a monitor that is
/// still starting it gets the time to (or a signal would find no pid, and
/// the container would start after we are gone).
fn started(record: &Record) -> Result<(State, Life)> {
    let deadline = Instant::now() + MONITOR_GRACE;
    loop {
        let (state, life) = record.view()?;
        if life != Life::Created {
            return Ok((state, life));
        }
        if Instant::now() > deadline {
            return Err(RuntimeError::Monitor {
                id: record.config.id.clone(),
                what: format!("did not start it within {} s", MONITOR_GRACE.as_secs()),
            });
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Sends `signal` to the container's first process.
fn signal_it(record: &Record, state: &State, signal: Signal) -> Result<()> {
    let name = record.config.name.clone();
    let process = open(state).ok_or_else(|| RuntimeError::NotRunning(name.clone()))?;
    process
        .signal(signal)
        .map_err(|errno| RuntimeError::Signal(name, errno))
}

/// A container whose monitor was killed: its first process, if it lives
/// on (a change of user clears PR_SET_PDEATHSIG, prctl(2)), is killed,
/// and waited for.
pub(crate) fn kill_survivor(state: &State) {
    if let Some(process) = open(state) {
        let _ = process.signal(Signal::SIGKILL);
        process.wait_exit(MONITOR_GRACE);
    }
}

/// The container's first process, if it is still the one recorded.
fn open(state: &State) -> Option<Process> {
    Process::open(state.pid?, state.pid_start?)
}

/// Waits until the monitor has written how the container ended (or died,
/// or removed the record: `--rm`).
pub fn wait_for_monitor(record: &Record) -> Result<()> {
    let deadline = Instant::now() + MONITOR_GRACE;
    while matches!(
        record.view()?.1,
        Life::Running | Life::Created | Life::Restarting(_)
    ) {
        if Instant::now() > deadline {
            return Err(RuntimeError::Monitor {
                id: record.config.id.clone(),
                what: format!("did not finish within {} s", MONITOR_GRACE.as_secs()),
            });
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}

/// Waits until the monitor has written how the container ended (it may
/// go on to restart it: `attach` of a `--restart` container ends there).
pub fn wait_for_exit(record: &Record) -> Result<()> {
    let deadline = Instant::now() + MONITOR_GRACE;
    loop {
        let (state, life) = record.view()?;
        if state.status == crate::record::Status::Exited || life == Life::MonitorGone {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(RuntimeError::Monitor {
                id: record.config.id.clone(),
                what: format!("wrote no exit within {} s", MONITOR_GRACE.as_secs()),
            });
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

// ANCHOR: rm
/// `rm`: the record, and the writable layer step 07 kept under the
/// container's name. A running container only with `-f` (SIGKILL first).
/// One whose monitor died is not running: its leftovers (a mount, a
/// cgroup) are a dead run's, which step 07 here, and every next run,
/// sweep.
pub fn remove(record: &Record, state_dir: &Path, force: bool) -> Result<()> {
    let looked = match force {
        true => mark_stopped(record).and_then(|()| started(record)),
        false => record.view(),
    };
    let (state, life) = match looked {
        // A damaged state, and no monitor alive to be running it: `-f`
        // removes it as an exited container's.
        Err(RuntimeError::Corrupt { .. }) if force && !record.monitor_alive() => {
            (State::created(0), Life::Exited(None))
        }
        other => other?,
    };
    match life {
        Life::Running | Life::Created | Life::Restarting(_) if !force => {
            return Err(RuntimeError::Running(record.config.name.clone()));
        }
        Life::Running | Life::Created | Life::Restarting(_) => {
            let _ = signal_it(record, &state, Signal::SIGKILL);
            wait_for_monitor(record)?;
        }
        // PR_SET_PDEATHSIG killed it with its monitor, unless a change of
        // user cleared that (prctl(2)): make sure.
        Life::MonitorGone => {
            let _ = signal_it(record, &state, Signal::SIGKILL);
        }
        Life::Exited(_) => {}
        // Made by `create`, never started: nothing runs, and no writable
        // layer is its own yet. `start` takes a record out of waiting
        // under the list's lock and its own (records.rs, `again`); under
        // them, it is still waiting and goes, or it was started just now.
        Life::Waiting => {
            let list = record.dir().parent().unwrap_or(state_dir);
            let waiting = {
                let _list = crate::record::lock(list)?;
                let _own = crate::record::lock(record.dir())?;
                let waiting = record.view()?.1 == Life::Waiting;
                if waiting {
                    record.remove()?;
                }
                waiting
            };
            return match waiting {
                true => Ok(()),
                false => remove(record, state_dir, force),
            };
        }
    }
    remove_writable_layer(state_dir, &record.config.name)?;
    record.remove()
}
// ANCHOR_END: rm

/// Step 07's writable layer kept under `name`, if there is one and no
/// live run uses it: unmounted if a killed run left it mounted, removed.
/// Whether there was one.
pub fn remove_writable_layer(state_dir: &Path, name: &str) -> Result<bool> {
    if !step07_overlay::store::valid_name(name) {
        return Ok(false);
    }
    let base = step07_overlay::overlay::container_dir(state_dir, name);
    if !base.exists() {
        return Ok(false);
    }
    let quiet = step01_chroot::trace::TraceOptions {
        quiet: true,
        ..Default::default()
    };
    let trace = step01_chroot::trace::Trace::new(quiet);
    if !step07_overlay::leftovers::release_if_dead(&trace, state_dir, &base) {
        return Err(RuntimeError::Running(name.into()));
    }
    // Removed as a run removes it, under a lock of its own (leftovers.rs).
    let run = step01_chroot::spec::random_id();
    let runs = step01_chroot::owner::runs_dir();
    let _lock =
        step01_chroot::owner::RunLock::take(&run).map_err(RuntimeError::io("locking", &runs))?;
    step07_overlay::leftovers::remove(&base, &run).map_err(RuntimeError::io("removing", &base))?;
    Ok(true)
}
