//! # Step 10: a runtime you can live with
//!
//! Until now a container lived exactly as long as the command that ran
//! it. This step gives it a life of its own, as Docker does: `run -d`
//! returns at once, and the container is found again by its name or id,
//! with `ps`, `logs`, `stop`, `kill` and `rm`.
//!
//! | concept | file |
//! |---|---|
//! | **the monitor**: the parent a detached container needs, double-forked (this step's idea) | [`monitor.rs`](monitor) |
//! | **records**: one directory per container, its state written whole, under a lock | [`record.rs`](record), [`records.rs`](records) |
//! | the layer that keeps a record true: made, running, exited | [`recorded.rs`](recorded) |
//! | **the console**: a detached container's stdio (pipes or a pty), logged, and `attach.sock` | [`console.rs`](console) |
//! | **logs**: Docker's json-file, capped and rotated | [`logs.rs`](logs) |
//! | `logs -f`: reading while the console writes and rotates | [`log_reader.rs`](log_reader) |
//! | `attach`: your terminal to the console again; Ctrl-P Ctrl-Q | [`attach.rs`](attach) |
//! | signalling a process we did not start: pid + start time, pidfd | [`pidfd.rs`](pidfd) |
//! | `ps`: what is running, for how long, how it ended | [`ps.rs`](ps) |
//! | `stop`, `kill`, `rm`: signals through pidfds, then the monitor's cleanup | [`ending.rs`](ending) |
//! | `ps`, `logs`, `attach`, and which subcommand does what | [`commands.rs`](commands) |
//! | **exec**: a new process in a running container, held as its own | [`exec.rs`](exec), [`join.rs`](join) |
//! | `exec`'s working directory: entered, never made | [`workdir.rs`](workdir) |
//! | CVE-2019-5736: `exec` runs from a copy of itself nobody can write | [`sealed.rs`](sealed) |
//! | `start` and `--restart`: a container on its writable layer again | [`restart.rs`](restart) |
//! | the command line: `-d`, `--log-opt`, and the subcommands | [`cli.rs`](cli) |
//! | shell completions and manual pages, from the same definition | [`generated.rs`](generated) |

pub mod attach;
pub mod cli;
pub mod commands;
pub mod console;
pub mod ending;
pub mod error;
pub mod exec;
pub mod generated;
pub mod idle;
pub mod join;
pub mod log_reader;
pub mod logs;
pub mod monitor;
pub mod oci;
pub mod pidfd;
pub mod ps;
pub mod record;
pub mod recorded;
pub mod records;
pub mod restart;
pub mod sealed;
pub mod workdir;

use std::fs::File;
use std::process::ExitCode;

use step01_chroot::cli::{RunArgs, finish};
use step01_chroot::error::exit_code;
use step01_chroot::flags::FlagGroups;
use step01_chroot::layer::Layers;
use step01_chroot::spec::Spec;
use step01_chroot::{Container, Error, ExitStatus, Result};
use step07_overlay::cli::OverlayArgs;
use step09_registry::cli::RegistryArgs;

use crate::cli::{RuntimeArgs, RuntimeFlags};
use crate::console::Ends;
use crate::logs::LogOptions;
use crate::monitor::Word;
use crate::record::Config;
use crate::recorded::Recorded;
use crate::records::Records;

// ANCHOR: layers
/// Step 10's layers: its record first (recorded.rs says why first), then
/// step 09's. `monitor`: `run -d`'s pipe and the console's ends, in a
/// monitor.
pub fn layers(
    args: &impl RuntimeFlags,
    spec: &Spec,
    monitor: Option<(File, Ends)>,
    again: Option<Again>,
) -> Result<Layers> {
    let config = config(args, spec)?;
    let records = Records::new(&spec.state_dir);
    let mut layers = Layers::new();
    layers.push(Recorded::new(records, config, monitor, again));
    layers.append(step09_registry::layers(args, spec)?);
    Ok(layers)
}
// ANCHOR_END: layers

/// What the record of the container these flags describe keeps.
fn config(args: &impl RuntimeFlags, spec: &Spec) -> Result<Config> {
    let own: &RuntimeArgs = args.group();
    let overlay: &OverlayArgs = args.group();
    let registry: &RegistryArgs = args.group();
    let image = match (&registry.image_asked, &overlay.image) {
        (Some(name), _) | (None, Some(name)) => name.clone(),
        (None, None) => format!("--rootfs {}", spec.rootfs.display()),
    };
    Ok(Config {
        // (Started again, the record keeps its own: records.rs, `again`.)
        id: spec.id.clone(),
        name: overlay.name.clone().unwrap_or_else(|| spec.id.clone()),
        image,
        command: spec.command.clone(),
        created: record::now(),
        stop_signal: stop_signal(spec, overlay.image.as_deref()),
        detached: own.detach,
        auto_remove: overlay.rm,
        log: LogOptions::from_flags(&own.log_opts).map_err(Error::layer)?,
        restart: own.restart,
        ports: args
            .group::<step06_netns_veth::cli::NetArgs>()
            .publish
            .iter()
            .map(|p| format!("0.0.0.0:{}->{}/{}", p.host, p.container, p.protocol))
            .collect(),
        argv: std::env::args().collect(),
        flag_env: record::flag_env(),
        tty: args.group::<RunArgs>().tty,
        create: false,
    })
}

/// What `stop` sends first: the image's StopSignal (nginx asks for
/// SIGQUIT, to finish its requests), or SIGTERM.
fn stop_signal(spec: &Spec, image: Option<&str>) -> String {
    let config = image.and_then(|name| {
        step09_registry::local::Local::new(&spec.state_dir)
            .config(name)
            .ok()
            .flatten()
    });
    config
        .and_then(|c| c.config().clone())
        .and_then(|c| c.stop_signal().clone())
        .filter(|s| crate::pidfd::parse_signal(s).is_ok())
        .unwrap_or_else(|| "SIGTERM".into())
}

/// Step 10's container; `again`: the id of one that ran before, started
/// again on its record and writable layer (`start`).
pub fn container(
    args: &impl RuntimeFlags,
    monitor: Option<(File, Ends)>,
    again: Option<&Again>,
) -> Result<Container> {
    let run: &RunArgs = args.group();
    // Started again, it keeps its id, name and hostname (main sets the
    // last two), and its run gets a new id: record.rs, `State::run`.
    let spec = run.spec()?;
    let layers = layers(args, &spec, monitor, again.cloned())?;
    Ok(Container::new(spec, run.trace_options()).with_layers(layers))
}

/// Runs the container these flags describe: in the foreground, detached
/// (`-d`: through a monitor), or as that monitor.
pub fn run(args: &impl RuntimeFlags, monitor_of: Option<File>, again: Option<&Again>) -> ExitCode {
    let run: &RunArgs = args.group();
    let own: &RuntimeArgs = args.group();
    if run.trace.dry_run {
        // A plan changes nothing, and makes no record.
        let result = step09_registry::container(args).and_then(|c| c.run());
        return finish(run, result);
    }
    if let Some(caller) = monitor_of {
        return as_monitor(args, caller, again);
    }
    if own.detach {
        return detach(args);
    }
    if own.restart != restart::Policy::No {
        step01_chroot::cli::usage_error(
            "--restart is for a detached container: a foreground one's monitor is your command line",
            "add -d, or leave --restart out",
        );
    }
    if !own.log_opts.is_empty() {
        step01_chroot::cli::usage_error(
            "--log-opt is for a detached container's log, and a foreground one has none",
            "add -d, or leave --log-opt out",
        );
    }
    let result = container(args, None, None).and_then(|c| {
        let id = c.spec().id.clone();
        run_recorded(c, &id, &run.state_dir)
    });
    finish(run, result)
}

/// `run -d`: checks what can be checked here, then starts the monitor
/// and passes on its word.
fn detach(args: &impl RuntimeFlags) -> ExitCode {
    let run: &RunArgs = args.group();
    if let Err(err) = check_detached(args) {
        return finish(run, Err(err));
    }
    let argv: Vec<String> = std::env::args().collect();
    match monitor::start(&argv, None) {
        Ok(Word::Running(id)) => {
            step01_chroot::cli::println_or_not(format_args!("{id}"));
            ExitCode::SUCCESS
        }
        Ok(Word::Failed { message, code }) => {
            step01_chroot::cli::eprintln_or_not(format_args!("error: {message}"));
            ExitCode::from(code)
        }
        Err(err) => {
            step01_chroot::cli::eprintln_or_not(format_args!("error: starting the monitor: {err}"));
            ExitCode::from(exit_code::RUNTIME_ERROR)
        }
    }
}

/// What a detached container cannot have (a usage error ends us here);
/// its `--log-opt`s read.
fn check_detached(args: &impl RuntimeFlags) -> Result<()> {
    let run: &RunArgs = args.group();
    if run.trace.step.is_some() {
        step01_chroot::cli::usage_error(
            "--step pauses at a terminal, and a detached container has none",
            "run in the foreground to step through it",
        );
    }
    let own: &RuntimeArgs = args.group();
    if own.restart != restart::Policy::No && args.group::<OverlayArgs>().rm {
        step01_chroot::cli::usage_error(
            "--restart and --rm: a container removed when it ends cannot start again",
            "choose one of them",
        );
    }
    LogOptions::from_flags(&own.log_opts).map_err(Error::layer)?;
    Ok(())
}

// ANCHOR: create
/// `create` (`args` as `run -d` would have them): the container's record,
/// and nothing else. Every layer's check runs first, as `run` runs them,
/// so that what `run` would refuse is refused now, not at `start`; its
/// namespaces, cgroup and writable layer come with its first `start`,
/// which runs its command line (kept in the record, as for any container)
/// in a monitor. Docker's `create` makes the writable layer already; ours
/// is a mount whose owner is the run that uses it (step 07), so it waits.
pub fn create(args: &impl RuntimeFlags) -> ExitCode {
    let run: &RunArgs = args.group();
    if run.trace.dry_run {
        step01_chroot::cli::usage_error(
            "--dry-run shows what a run does, and create runs nothing",
            "use run --dry-run to see the plan",
        );
    }
    let made = check_detached(args).and_then(|()| {
        let spec = run.spec()?;
        let mut config = config(args, &spec)?;
        config.create = true;
        let layers = layers(args, &spec, None, None)?;
        let records = Records::new(&spec.state_dir);
        Container::new(spec, run.trace_options())
            .with_layers(layers)
            .check()?;
        // No monitor yet: pid 0 (record.rs).
        records.create(config, 0).map_err(Error::layer)
    });
    match made {
        Ok(record) => {
            step01_chroot::cli::println_or_not(format_args!("{}", record.config.id));
            ExitCode::SUCCESS
        }
        Err(err) => finish(run, Err(err)),
    }
}
// ANCHOR_END: create

/// In a monitor started again (`again`): whether the container resumes
/// on a writable layer it kept. Not at the first start of a container
/// that `create` made, which has none yet: a layer kept under its name
/// then is another's (a run of an earlier step with that `--name`), and
/// step 07 refuses the name rather than adopt it. Nor after a first start
/// that failed before it made one.
pub fn resumes(state_dir: &std::path::Path, again: &Again) -> bool {
    let first = Records::new(state_dir)
        .find(&again.id)
        .ok()
        .is_some_and(|record| {
            let waiting = record
                .view()
                .is_ok_and(|(_, life)| life == record::Life::Waiting);
            let kept =
                step07_overlay::overlay::container_dir(state_dir, &record.config.name).exists();
            record.config.create && (waiting || !kept)
        });
    !first
}

// ANCHOR: as_monitor
/// The monitor's life: the engine, as in the foreground, with the record
/// layer holding `run -d`'s pipe; and, if the container never ran, the
/// reason, for `run -d` to print.
fn as_monitor(args: &impl RuntimeFlags, mut caller: File, again: Option<&Again>) -> ExitCode {
    let run: &RunArgs = args.group();
    let fail = |caller: &mut File, message: String, code: u8| {
        monitor::say(caller, &Word::Failed { message, code });
        ExitCode::from(code)
    };
    // Our stdio first: the checks of `-it` look at our stdin.
    let ends = match Ends::open(run.tty, run.interactive) {
        Ok(ends) => ends,
        Err(err) => {
            let message = format!("making the container's stdio: {err}");
            return fail(&mut caller, message, exit_code::RUNTIME_ERROR);
        }
    };
    let copy = caller.try_clone().ok().map(|c| (c, ends));
    let container = match container(args, copy, again) {
        Ok(container) => container,
        Err(err) => return fail(&mut caller, err.to_string(), err.exit_code()),
    };
    let id = again.map_or_else(|| container.spec().id.clone(), |a| a.id.clone());
    let code = match run_recorded(container, &id, &run.state_dir) {
        Ok(status) => status.code(),
        // (If the command ran, `run -d` has its word and is gone.)
        Err(err) => {
            fail(&mut caller, err.to_string(), err.exit_code());
            err.exit_code()
        }
    };
    restart_if_asked(&run.state_dir, &id, code);
    ExitCode::from(code)
}

// ANCHOR: restart
/// Once the container has ended and all is cleaned up: if its `--restart`
/// policy says so, and nobody stopped it, a new monitor starts it again
/// (as `start` does), after a wait that doubles at each restart.
fn restart_if_asked(state_dir: &std::path::Path, id: &str, code: u8) {
    let Ok(record) = Records::new(state_dir).find(id) else {
        return; // --rm, or removed
    };
    let Ok(state) = record.state() else { return };
    if !restart::again(record.config.restart, code, state.restarts, state.stopped) {
        return;
    }
    if record.update(|s| s.restarting = true).is_err() {
        return;
    }
    std::thread::sleep(restart::backoff(state.restarts));
    // A `stop` may have come while we waited.
    if record.state().is_ok_and(|s| s.stopped) {
        let _ = record.update(|s| s.restarting = false);
        return;
    }
    let again = Again {
        id: id.into(),
        restart: true,
        flag_env: record.config.flag_env.clone(),
    };
    let failed = match monitor::start(&record.config.argv, Some(&again)) {
        Ok(Word::Running(_)) => None,
        Ok(Word::Failed { message, .. }) => Some(message),
        Err(err) => Some(format!("starting a monitor: {err}")),
    };
    if let Some(message) = failed {
        let _ = record.update(|s| {
            s.restarting = false;
            s.error = Some(format!("the restart failed: {message}"));
        });
    }
}
// ANCHOR_END: restart

/// A container that ran before, started again on its record and its
/// writable layer: by `start`, or by its `--restart` policy.
#[derive(Clone, Debug)]
pub struct Again {
    /// Its id.
    pub id: String,
    /// By its restart policy (which a `stop` forbids), not by `start`.
    pub restart: bool,
    /// The variables that filled in its flags when it was made.
    pub flag_env: Vec<(String, String)>,
}
// ANCHOR_END: as_monitor

/// Runs `container`; if it fails after its record was made (a command that
/// is not there, a layer that could not be set up), the record keeps the
/// error and its exit code, as `ps -a` and `inspect` show.
fn run_recorded(container: Container, id: &str, state_dir: &std::path::Path) -> Result<ExitStatus> {
    let result = container.run();
    // Only into a record that this run made or took (a `start` that lost
    // the race to another fails before it takes the record: not its own).
    let ours = |record: &record::Record| {
        record
            .state()
            .is_ok_and(|s| s.monitor_pid == std::process::id() as i32)
    };
    if let Err(err) = &result
        && let Ok(record) = Records::new(state_dir).find(id)
        && ours(&record)
    {
        let _ = record.update(|state| {
            state.exit_code = Some(err.exit_code());
            state.error = Some(err.to_string());
        });
    }
    result
}
