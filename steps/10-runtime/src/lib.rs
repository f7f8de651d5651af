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
//! | **records**: one directory per container, its state written whole, under a lock | [`record.rs`](record) |
//! | the layer that keeps a record true: made, running, exited | [`recorded.rs`](recorded) |
//! | **logs**: Docker's json-file, capped and rotated; `logs -f` | [`logs.rs`](logs) |
//! | signalling a process we did not start: pid + start time, pidfd | [`pidfd.rs`](pidfd) |
//! | `ps`: what is running, for how long, how it ended | [`ps.rs`](ps) |
//! | `stop`, `kill`, `rm`, `logs`, `ps` | [`commands.rs`](commands) |
//! | the command line: `-d`, `--log-opt`, and the subcommands | [`cli.rs`](cli) |

pub mod cli;
pub mod commands;
pub mod error;
pub mod logs;
pub mod monitor;
pub mod pidfd;
pub mod ps;
pub mod record;
pub mod recorded;

use std::fs::File;
use std::process::ExitCode;

use step01_chroot::cli::{RunArgs, finish};
use step01_chroot::error::exit_code;
use step01_chroot::flags::FlagGroups;
use step01_chroot::layer::Layers;
use step01_chroot::spec::Spec;
use step01_chroot::{Container, Error, Result};
use step07_overlay::cli::OverlayArgs;
use step09_registry::cli::RegistryArgs;

use crate::cli::{RuntimeArgs, RuntimeFlags};
use crate::logs::LogOptions;
use crate::monitor::Word;
use crate::record::{Config, Records};
use crate::recorded::Recorded;

// ANCHOR: layers
/// Step 10's layers: its record first (recorded.rs says why first), then
/// step 09's. `caller` is `run -d`'s pipe, in a monitor.
pub fn layers(args: &impl RuntimeFlags, spec: &Spec, caller: Option<File>) -> Result<Layers> {
    let own: &RuntimeArgs = args.group();
    let overlay: &OverlayArgs = args.group();
    let registry: &RegistryArgs = args.group();
    let image = match (&registry.image_asked, &overlay.image) {
        (Some(name), _) | (None, Some(name)) => name.clone(),
        (None, None) => format!("--rootfs {}", spec.rootfs.display()),
    };
    let config = Config {
        id: spec.id.clone(),
        name: overlay.name.clone().unwrap_or_else(|| spec.id.clone()),
        image,
        command: spec.command.clone(),
        created: record::now(),
        stop_signal: "SIGTERM".into(),
        detached: own.detach,
        auto_remove: overlay.rm,
        log: LogOptions::from_flags(&own.log_opts).map_err(Error::layer)?,
    };
    let records = Records::new(&spec.state_dir);
    let mut layers = Layers::new();
    layers.push(Recorded::new(records, config, caller));
    layers.append(step09_registry::layers(args, spec)?);
    Ok(layers)
}
// ANCHOR_END: layers

/// Step 10's container.
pub fn container(args: &impl RuntimeFlags, caller: Option<File>) -> Result<Container> {
    args.group::<RunArgs>()
        .container(|spec| layers(args, spec, caller))
}

/// Runs the container these flags describe: in the foreground, detached
/// (`-d`: through a monitor), or as that monitor.
pub fn run(args: &impl RuntimeFlags, monitor_of: Option<File>) -> ExitCode {
    let run: &RunArgs = args.group();
    let own: &RuntimeArgs = args.group();
    if run.trace.dry_run {
        // A plan changes nothing, and makes no record.
        let result = step09_registry::container(args).and_then(|c| c.run());
        return finish(run, result);
    }
    if let Some(caller) = monitor_of {
        return as_monitor(args, caller);
    }
    if own.detach {
        return detach(args);
    }
    let result = container(args, None).and_then(|c| c.run());
    finish(run, result)
}

/// `run -d`: checks what can be checked here, then starts the monitor
/// and passes on its word.
fn detach(args: &impl RuntimeFlags) -> ExitCode {
    let run: &RunArgs = args.group();
    let refuse = |message: &str, hint: &str| step01_chroot::cli::usage_error(message, hint);
    if run.tty || run.interactive {
        refuse(
            "-d with -i or -t: a detached container has no terminal or input of yours (not yet: \
             attach comes later)",
            "leave out -i and -t, or run in the foreground",
        );
    }
    if run.trace.step.is_some() {
        refuse(
            "--step pauses at a terminal, and a detached container has none",
            "run in the foreground to step through it",
        );
    }
    if let Err(err) = LogOptions::from_flags(&args.group::<RuntimeArgs>().log_opts) {
        return finish(run, Err(Error::layer(err)));
    }
    match monitor::start() {
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

// ANCHOR: as_monitor
/// The monitor's life: the engine, as in the foreground, with the record
/// layer holding `run -d`'s pipe; and, if the container never ran, the
/// reason, for `run -d` to print.
fn as_monitor(args: &impl RuntimeFlags, mut caller: File) -> ExitCode {
    let result = container(args, caller.try_clone().ok()).and_then(|c| c.run());
    match result {
        Ok(status) => ExitCode::from(status.code()),
        // (If the command ran, `run -d` has its word and is gone.)
        Err(err) => {
            let (message, code) = (err.to_string(), err.exit_code());
            monitor::say(&mut caller, &Word::Failed { message, code });
            ExitCode::from(code)
        }
    }
}
// ANCHOR_END: as_monitor
