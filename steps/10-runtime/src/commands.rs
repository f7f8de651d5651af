//! The lifecycle's subcommands: `ps`, `logs`, `attach`, and `stop`,
//! `kill`, `rm` (ending.rs).
//!
//! Each finds containers by their records (records.rs) and asks their
//! monitors' locks whether they are really running.

use std::path::Path;
use std::time::{Duration, SystemTime};

use step01_chroot::cli::{eprintln_or_not, println_or_not};
use step09_registry::error::RegistryError;

use crate::attach::Ended;

use crate::cli::Lifecycle;
use crate::ending;
use crate::error::RuntimeError;
use crate::log_reader::Show;
use crate::record::{Life, Record};
use crate::records::Records;

type Result<T, E = RuntimeError> = std::result::Result<T, E>;

/// Runs one subcommand, and prints its errors; whether all went well.
/// Several containers: each is tried, each error printed (as `docker stop
/// a b` goes on past a missing `a`); exit code 1 if any failed, as Docker's.
pub fn run(command: &Lifecycle, state_dir: &Path) -> std::process::ExitCode {
    match run_quietly(command, state_dir) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(Failed::Printed) => std::process::ExitCode::FAILURE,
        Err(Failed::Code(code)) => std::process::ExitCode::from(code),
        Err(Failed::Not(err)) => {
            eprintln_or_not(format_args!("error: {err}"));
            std::process::ExitCode::FAILURE
        }
    }
}

/// An error, said already or not; or an exit code to pass on.
enum Failed {
    Printed,
    Not(RuntimeError),
    Code(u8),
}

impl From<RuntimeError> for Failed {
    fn from(err: RuntimeError) -> Self {
        Failed::Not(err)
    }
}

fn run_quietly(command: &Lifecycle, state_dir: &Path) -> Result<(), Failed> {
    let records = Records::new(state_dir);
    match command {
        // They need the command line's types, which main has.
        Lifecycle::Exec(_)
        | Lifecycle::Create { .. }
        | Lifecycle::Completion { .. }
        | Lifecycle::Man { .. } => {
            unreachable!("main runs these itself")
        }
        Lifecycle::Ps { all, quiet } => ps(&records, *all, *quiet),
        Lifecycle::Inspect { name } => {
            let json = match records.find(name) {
                Ok(record) => inspect(&record)?,
                // Docker's inspect names images too: step 09's.
                Err(RuntimeError::NoSuchContainer(_)) => {
                    step09_registry::images::inspect(state_dir, name).map_err(|err| {
                        match err {
                            // Neither: said as Docker says it ("no such object").
                            RegistryError::NotPulled(_) => eprintln_or_not(format_args!(
                                "error: no such container or image: {name}\n  \
                                 hint: `ps -a` lists the containers, `images` the images"
                            )),
                            err => eprintln_or_not(format_args!("error: {err}")),
                        }
                        Failed::Printed
                    })?
                }
                Err(err) => return Err(err.into()),
            };
            let text = serde_json::to_string_pretty(&json).expect("JSON prints");
            println_or_not(format_args!("{text}"));
            Ok(())
        }
        Lifecycle::Attach { container } => {
            let record = records.find(container)?;
            match crate::attach::attach(&record)? {
                Ended::Detached => {
                    eprintln_or_not(format_args!("\r\ndetached: {container} runs on\r"));
                    Ok(())
                }
                // The container's own code, once its monitor has it.
                Ended::Exited => {
                    ending::wait_for_exit(&record)?;
                    match record.state()?.exit_code {
                        Some(0) => Ok(()),
                        Some(code) => Err(Failed::Code(code)),
                        None => Err(Failed::Code(step01_chroot::error::exit_code::RUNTIME_ERROR)),
                    }
                }
            }
        }
        Lifecycle::Logs {
            follow,
            tail,
            timestamps,
            container,
        } => {
            let record = records.find(container)?;
            if !record.config.detached {
                return Err(RuntimeError::NoLog(container.clone()).into());
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
            Ok(crate::log_reader::print(
                record.dir(),
                show,
                *follow,
                ended,
            )?)
        }
        Lifecycle::Start { containers } => each(&records, containers, start),
        Lifecycle::Stop { time, containers } => each(&records, containers, |record| {
            ending::stop(record, Duration::from_secs(*time))
        }),
        Lifecycle::Kill { signal, containers } => {
            each(&records, containers, |record| ending::kill(record, *signal))
        }
        Lifecycle::Rm { force, containers } => rm(&records, containers, state_dir, *force),
    }
}

/// `rm`: each container; a name with no record but a writable layer that
/// step 07 kept (its `rm NAME`, which this one replaces); with `-f`, a
/// record too damaged to read, or half made.
fn rm(records: &Records, queries: &[String], state_dir: &Path, force: bool) -> Result<(), Failed> {
    each_named(queries, |query| match records.find(query) {
        Ok(record) => ending::remove(&record, state_dir, force),
        Err(RuntimeError::NoSuchContainer(_)) => {
            match ending::remove_writable_layer(state_dir, query) {
                Ok(true) => Ok(()),
                Ok(false) => Err(RuntimeError::NoSuchContainer(query.into())),
                Err(err) => Err(err),
            }
        }
        // Damaged, or half made (its maker killed before the config was
        // written): with -f, it goes.
        Err(err @ (RuntimeError::Corrupt { .. } | RuntimeError::Io { .. })) if force => {
            match records.remove_damaged(query) {
                Ok(true) => Ok(()),
                Ok(false) => Err(err),
                Err(other) => Err(other),
            }
        }
        Err(err) => Err(err),
    })
}

/// Does `act` to each container named, printing each name it did, and
/// each error.
fn each(
    records: &Records,
    queries: &[String],
    act: impl Fn(&Record) -> Result<()>,
) -> Result<(), Failed> {
    each_named(queries, |query| {
        records.find(query).and_then(|record| act(&record))
    })
}

/// Does `act` to each name, as Docker does with several: each one that
/// worked printed, each error said, and the exit code 1 if any failed.
fn each_named(queries: &[String], act: impl Fn(&str) -> Result<()>) -> Result<(), Failed> {
    let mut failed = false;
    for query in queries {
        match act(query) {
            Ok(()) => println_or_not(format_args!("{query}")),
            Err(err) => {
                eprintln_or_not(format_args!("error: {err}"));
                failed = true;
            }
        }
    }
    match failed {
        true => Err(Failed::Printed),
        false => Ok(()),
    }
}

/// `ps`: running containers, or all with `-a`, newest first. A record
/// that cannot be read is said on stderr, after the others.
fn ps(records: &Records, all: bool, quiet: bool) -> Result<(), Failed> {
    let now = SystemTime::now();
    let mut rows = Vec::new();
    let (listed, mut damaged) = records.list_all()?;
    for record in listed {
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
        eprintln_or_not(format_args!("error: {err}"));
    }
    match damaged.is_empty() {
        true => Ok(()),
        false => Err(Failed::Printed),
    }
}

/// A container's record as `inspect` shows it, in Docker's words.
fn inspect(record: &Record) -> Result<serde_json::Value, RuntimeError> {
    let (state, life) = record.view()?;
    let c = &record.config;
    let status = match life {
        Life::Waiting | Life::Created => "created",
        Life::Running => "running",
        Life::Exited(_) => "exited",
        Life::Restarting(_) => "restarting",
        Life::MonitorGone => "dead",
    };
    Ok(serde_json::json!({
        "Id": c.id,
        "Name": c.name,
        "Image": c.image,
        "Command": c.command,
        "Created": c.created,
        "State": {
            "Status": status,
            "Running": life == Life::Running,
            "Restarting": matches!(life, Life::Restarting(_)),
            "RestartCount": state.restarts,
            "Pid": state.pid,
            "MonitorPid": state.monitor_pid,
            "ExitCode": state.exit_code,
            "StartedAt": state.started,
            "FinishedAt": state.finished,
            "Error": state.error,
        },
        "Ports": c.ports,
        "StopSignal": c.stop_signal,
        "Detached": c.detached,
        "AutoRemove": c.auto_remove,
        "RestartPolicy": c.restart,
        "LogPath": c.detached.then(|| record.dir().join("json.log")),
        "Log": { "MaxSize": c.log.max_size, "MaxFile": c.log.max_file },
    }))
}

/// `start`: a monitor for a container that ran before, on its command
/// line, record and writable layer, or for one that `create` made; as
/// `run -d`, it waits for the word.
fn start(record: &Record) -> Result<(), RuntimeError> {
    let (state, life) = record.view()?;
    if matches!(life, Life::Running | Life::Created | Life::Restarting(_)) {
        return Err(RuntimeError::Running(record.config.name.clone()));
    }
    if life == Life::MonitorGone {
        // Its monitor was killed. What that run left (a cgroup, a mount)
        // is a dead run's, which the new run (of a new id) sweeps; its
        // container, if it outlived its monitor, goes first.
        crate::ending::kill_survivor(&state);
    }
    let again = crate::Again {
        id: record.config.id.clone(),
        restart: false,
        flag_env: record.config.flag_env.clone(),
    };
    let word = crate::monitor::start(&record.config.argv, Some(&again));
    match word.map_err(RuntimeError::io("starting the monitor of", record.dir()))? {
        crate::monitor::Word::Running(_) => Ok(()),
        // Another `start` (or its --restart) won the race: it runs.
        crate::monitor::Word::Failed { .. }
            if matches!(record.view()?.1, Life::Running | Life::Created) =>
        {
            Err(RuntimeError::Running(record.config.name.clone()))
        }
        crate::monitor::Word::Failed { message, .. } => Err(RuntimeError::Monitor {
            id: record.config.id.clone(),
            what: format!("could not start it again: {message}"),
        }),
    }
}
