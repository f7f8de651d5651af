//! The lifecycle's subcommands: `ps`, `logs`, `stop`, `kill`, `rm`.
//!
//! Each finds containers by their records (record.rs) and asks their
//! monitors' locks whether they are really running; each signal goes
//! through a pidfd checked against the process's start time (pidfd.rs).

use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

use nix::sys::signal::Signal;
use step01_chroot::cli::println_or_not;

use crate::cli::Lifecycle;
use crate::error::RuntimeError;
use crate::logs::Show;
use crate::pidfd::{Process, parse_signal};
use crate::record::{Life, Record, Records, State};

type Result<T, E = RuntimeError> = std::result::Result<T, E>;

/// How long a monitor may take to clean up after its container exits.
const MONITOR_GRACE: Duration = Duration::from_secs(30);

/// Runs one subcommand, and prints its errors; whether all went well.
/// Several containers: each is tried, each error printed (as `docker stop
/// a b` goes on past a missing `a`); exit code 1 if any failed, as Docker's.
pub fn run(command: &Lifecycle, state_dir: &Path) -> std::process::ExitCode {
    match run_quietly(command, state_dir) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(Failed::Printed) => std::process::ExitCode::FAILURE,
        Err(Failed::Not(err)) => {
            step01_chroot::cli::eprintln_or_not(format_args!("error: {err}"));
            std::process::ExitCode::FAILURE
        }
    }
}

/// An error, said already or not.
enum Failed {
    Printed,
    Not(RuntimeError),
}

impl From<RuntimeError> for Failed {
    fn from(err: RuntimeError) -> Self {
        Failed::Not(err)
    }
}

fn run_quietly(command: &Lifecycle, state_dir: &Path) -> Result<(), Failed> {
    let records = Records::new(state_dir);
    match command {
        Lifecycle::Ps { all, quiet } => ps(&records, *all, *quiet),
        Lifecycle::Logs {
            follow,
            tail,
            timestamps,
            container,
        } => {
            let record = records.find(container)?;
            if !record.config.detached {
                return Err(RuntimeError::Monitor {
                    id: record.config.id,
                    what: "ran in the foreground: its output went to the terminal, not to a log"
                        .into(),
                }
                .into());
            }
            let show = Show {
                tail: tail.0,
                timestamps: *timestamps,
            };
            let ended = || {
                !matches!(
                    record.view().map(|v| v.1),
                    Ok(Life::Running | Life::Created)
                )
            };
            Ok(crate::logs::print(record.dir(), show, *follow, ended)?)
        }
        Lifecycle::Stop { time, containers } => each(&records, containers, |record| {
            stop(record, Duration::from_secs(*time))
        }),
        Lifecycle::Kill { signal, containers } => each(&records, containers, |record| {
            let (state, life) = record.view()?;
            if life != Life::Running {
                return Err(RuntimeError::NotRunning(record.config.name.clone()));
            }
            signal_it(record, &state, *signal)
        }),
        Lifecycle::Rm { force, containers } => each(&records, containers, |record| {
            remove(record, state_dir, *force)
        }),
    }
}

/// Does `act` to each container named, printing each name it did, and
/// each error.
fn each(
    records: &Records,
    queries: &[String],
    act: impl Fn(&Record) -> Result<()>,
) -> Result<(), Failed> {
    let mut failed = false;
    for query in queries {
        match records.find(query).and_then(|record| act(&record)) {
            Ok(()) => println_or_not(format_args!("{query}")),
            Err(err) => {
                step01_chroot::cli::eprintln_or_not(format_args!("error: {err}"));
                failed = true;
            }
        }
    }
    match failed {
        true => Err(Failed::Printed),
        false => Ok(()),
    }
}

/// `ps`: running containers, or all with `-a`, oldest first.
/// A record that cannot be read is said on stderr, after the others.
fn ps(records: &Records, all: bool, quiet: bool) -> Result<(), Failed> {
    let now = SystemTime::now();
    let mut rows = Vec::new();
    let mut damaged = Vec::new();
    for record in records.list()? {
        match record.view() {
            Ok((state, life)) if all || matches!(life, Life::Running | Life::MonitorGone) => {
                rows.push(crate::ps::row(&record, &state, life, now));
            }
            Ok(_) => {}
            Err(err) => damaged.push(err),
        }
    }
    let lines = match quiet {
        true => rows.into_iter().map(|r| r[0].clone()).collect(),
        false => crate::ps::table(&rows),
    };
    lines
        .iter()
        .for_each(|l| println_or_not(format_args!("{l}")));
    for err in &damaged {
        step01_chroot::cli::eprintln_or_not(format_args!("error: {err}"));
    }
    match damaged.is_empty() {
        true => Ok(()),
        false => Err(Failed::Printed),
    }
}

// ANCHOR: stop
/// `stop`: the stop signal, up to `grace` to exit, then SIGKILL; and then
/// the monitor's cleanup, so that what follows (`rm`, a `run` with the
/// same name) finds it done. A container that is not running is stopped
/// already.
fn stop(record: &Record, grace: Duration) -> Result<()> {
    let (state, life) = record.view()?;
    if life != Life::Running {
        return Ok(());
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

/// Sends `signal` to the container's first process.
fn signal_it(record: &Record, state: &State, signal: Signal) -> Result<()> {
    let name = record.config.name.clone();
    let process = open(state).ok_or_else(|| RuntimeError::NotRunning(name.clone()))?;
    process
        .signal(signal)
        .map_err(|errno| RuntimeError::Signal(name, errno))
}

/// The container's first process, if it is still the one recorded.
fn open(state: &State) -> Option<Process> {
    Process::open(state.pid?, state.pid_start?)
}

/// Waits until the monitor has written how the container ended (or died).
fn wait_for_monitor(record: &Record) -> Result<()> {
    let deadline = Instant::now() + MONITOR_GRACE;
    while record.view()?.1 == Life::Running {
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

// ANCHOR: rm
/// `rm`: the record, and the writable layer step 07 kept under the
/// container's name. A running container only with `-f` (SIGKILL first).
/// One whose monitor died is not running: its leftovers (a mount, a
/// cgroup) are a dead run's, which step 07 here, and every next run,
/// sweep.
fn remove(record: &Record, state_dir: &Path, force: bool) -> Result<()> {
    let (state, life) = match record.view() {
        // A damaged state, and no monitor alive to be running it: `-f`
        // removes it as an exited container's.
        Err(RuntimeError::Corrupt { .. }) if force && !record.monitor_alive() => {
            (crate::record::State::created(0), Life::Exited(None))
        }
        other => other?,
    };
    match life {
        Life::Running | Life::Created if !force => {
            return Err(RuntimeError::Running(record.config.name.clone()));
        }
        Life::Running | Life::Created => {
            let _ = signal_it(record, &state, Signal::SIGKILL);
            wait_for_monitor(record)?;
        }
        // PR_SET_PDEATHSIG killed it with its monitor, unless a change of
        // user cleared that (prctl(2)): make sure.
        Life::MonitorGone => {
            let _ = signal_it(record, &state, Signal::SIGKILL);
        }
        Life::Exited(_) => {}
    }
    let base = step07_overlay::overlay::container_dir(state_dir, &record.config.name);
    if base.exists() {
        let trace = step01_chroot::trace::Trace::new(Default::default());
        if !step07_overlay::leftovers::release_if_dead(&trace, state_dir, &base) {
            return Err(RuntimeError::Running(record.config.name.clone()));
        }
        let run = step01_chroot::spec::random_id();
        let lock = step01_chroot::owner::RunLock::take(&run).map_err(RuntimeError::io(
            "locking",
            &step01_chroot::owner::runs_dir(),
        ))?;
        step07_overlay::leftovers::remove(&base, &run)
            .map_err(RuntimeError::io("removing", &base))?;
        drop(lock);
    }
    record.remove()
}
// ANCHOR_END: rm
