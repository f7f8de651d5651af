//! `10-runtime`: step 09's runtime, with containers that live on their
//! own: `run -d`, `ps`, `logs`, `exec`, `stop`, `kill`, `rm`. The concepts
//! are in the library.

use clap::parser::ValueSource;
use std::process::ExitCode;
use step01_chroot::cli::{
    RunArgs, finish, finish_command, flags_given, parse_with_matches, println_or_not, usage_error,
};
use step01_chroot::flags::FlagGroups;
use step02_pid_ns::cli::PidNsArgs;
use step03_user_ns::cli::UserNsArgs;
use step04_cgroups::cli::CgroupArgs;
use step05_pivot_root::cli::PivotArgs;
use step06_netns_veth::cli::NetArgs;
use step07_overlay::cli::Command as Step07;
use step07_overlay::cli::OverlayArgs;
use step08_security::cli::Command as Step08;
use step08_security::cli::SecurityArgs;
use step09_registry::cli::{Command as Step09, PullPolicy, RegistryArgs};
use step10_runtime::cli::{Command, ExecArgs, Lifecycle, RuntimeArgs};
use step10_runtime::generated;

step01_chroot::step_command_line! {
    /// Run containers in the foreground or the background, and live with them: ps, logs, exec, stop, kill, rm.
    ///
    /// Step 10 of the container workshop: `10-runtime run -d --name web busybox httpd -f`, then `10-runtime logs web`.
    #[command(name = "10-runtime", version)]
    struct Cli {
        run: RunArgs,
        pid_ns: PidNsArgs,
        user_ns: UserNsArgs,
        cgroups: CgroupArgs,
        pivot: PivotArgs,
        net: NetArgs,
        overlay: OverlayArgs,
        security: SecurityArgs,
        registry: RegistryArgs,
        runtime: RuntimeArgs;
        #[command(subcommand)]
        command: Option<Command>,
    }
}

fn main() -> ExitCode {
    // A monitor (monitor.rs) is this program again, with the same words.
    let monitor_of = step10_runtime::monitor::caller_from_env();
    let again = step10_runtime::monitor::again_from_env();
    let (cli, matches): (Cli, _) = parse_with_matches();
    let argv: Vec<String> = std::env::args().collect();
    let creating = matches!(&cli.command, Some(Command::Own(Lifecycle::Create { .. })));
    match &cli.command {
        Some(Command::Earlier(Step09::Run { .. })) | None => {}
        Some(Command::Own(Lifecycle::Create { .. })) => {}
        Some(command) => {
            let definition = <Cli as clap::CommandFactory>::command();
            if let Some(flag) = flags_given(&definition, &matches)
                .iter()
                .find(|f| *f != "--state-dir")
            {
                let name = matches.subcommand_name().unwrap_or_default();
                usage_error(
                    &format!("{flag} is for running a container, not for `{name}`"),
                    &format!("leave it out; to run a command named {name}, write -- {name}"),
                );
            }
            let state_dir = &cli.run.state_dir;
            return match command {
                Command::Own(Lifecycle::Exec(exec)) => exec_in(exec, state_dir),
                Command::Own(Lifecycle::Completion { shell }) => {
                    let mut definition = <Cli as clap::CommandFactory>::command();
                    generated::print(&generated::completion(
                        *shell,
                        &mut definition,
                        "10-runtime",
                    ));
                    ExitCode::SUCCESS
                }
                Command::Own(Lifecycle::Man { command }) => {
                    let definition = <Cli as clap::CommandFactory>::command();
                    finish_command(
                        generated::manual(definition, command.as_deref())
                            .map(|page| generated::print(&page)),
                    )
                }
                Command::Own(own) => step10_runtime::commands::run(own, state_dir),
                Command::Earlier(Step09::Earlier(Step08::Store(Step07::Rmi { name }))) => {
                    let records = step10_runtime::records::Records::new(state_dir);
                    finish_command(records.remove_image(state_dir, name).map(|lines| {
                        lines
                            .iter()
                            .for_each(|l| println_or_not(format_args!("{l}")));
                    }))
                }
                Command::Earlier(Step09::Earlier(Step08::Store(Step07::Diff { name }))) => {
                    // As Docker's, by id too: step 07 knows layers by name.
                    let records = step10_runtime::records::Records::new(state_dir);
                    let name = records.find(name).map_or(name.clone(), |r| r.config.name);
                    let diff = Step09::Earlier(Step08::Store(Step07::Diff { name }));
                    finish_command(step09_registry::commands::run(&diff, state_dir))
                }
                Command::Earlier(earlier) => {
                    finish_command(step09_registry::commands::run(earlier, state_dir))
                }
            };
        }
    }
    let (mut cli, matches) = run_line(cli, matches, &argv);
    if cli.group::<NetArgs>().cleanup {
        let definition = <Cli as clap::CommandFactory>::command();
        return step07_overlay::main(&cli, None, &definition, &matches);
    }
    if monitor_of.is_some() {
        // Its caller pulled the image already, and has the terminal.
        cli.run.trace.quiet = true;
        cli.registry.pull = PullPolicy::Missing;
        // Started again: on the writable layer it kept (step 07).
        cli.overlay.resume = again
            .as_ref()
            .is_some_and(|again| step10_runtime::resumes(&cli.run.state_dir, again));
        if let Some(again) = &again {
            // Its run has a new id (lib.rs, `container`); what was named
            // after the container's stays so: its writable layer (kept
            // under its name, which is its id if it had none) and hostname.
            cli.overlay.name.get_or_insert_with(|| again.id.clone());
            cli.pid_ns.hostname.get_or_insert_with(|| again.id.clone());
        }
    }
    if let Err(err) = resolve_image(&mut cli) {
        return finish_command(Err(err));
    }
    if creating && monitor_of.is_none() {
        // Recorded to run detached: its `start` is a `run -d` (and a
        // monitor that `start` begins reads these words as `run`'s).
        cli.runtime.detach = true;
        return step10_runtime::create(&cli);
    }
    step10_runtime::run(&cli, monitor_of, again.as_ref())
}

/// A container's command line, read whole: `[FLAGS] COMMAND`, or Docker's
/// `run [FLAGS] IMAGE [COMMAND]` (and `create`'s, the same words), read
/// again as step 09 reads it.
fn run_line(cli: Cli, matches: clap::ArgMatches, argv: &[String]) -> (Cli, clap::ArgMatches) {
    let split = match &cli.command {
        Some(Command::Earlier(Step09::Run { words })) => {
            Some(step09_registry::run_line::split(argv, words))
        }
        Some(Command::Own(Lifecycle::Create { words })) => Some(split_create(argv, words)),
        _ => None,
    };
    let (mut cli, matches) = match split {
        Some((before, after)) => {
            let top = <Cli as clap::CommandFactory>::command();
            // create's words are run's; its help and errors say create.
            let mut definition = step09_registry::run_line::definition(&top);
            if matches!(&cli.command, Some(Command::Own(Lifecycle::Create { .. }))) {
                let program = top.get_name();
                definition = definition
                    .name("create")
                    .bin_name(format!("{program} create"))
                    .about("Create a container of IMAGE, and do not start it: `start` runs it, detached")
                    .override_usage(format!("{program} create [OPTIONS] IMAGE [COMMAND]..."));
            }
            let (mut cli, matches, image): (Cli, _, _) =
                step09_registry::run_line::reparse_as(definition, &top, before, after);
            cli.overlay.image = Some(image);
            (cli, matches)
        }
        _ => (cli, matches),
    };
    cli.registry.command_given = matches.value_source("command") == Some(ValueSource::CommandLine);
    (cli, matches)
}

/// The words before `create` (global flags), and those after it (with a
/// `--` that came first, as step 09's `split` keeps one after `run`).
fn split_create<'a>(argv: &'a [String], words: &[String]) -> (&'a [String], &'a [String]) {
    let mut at = argv.len() - words.len() - 1;
    if argv[at] == "--" && at > 1 && argv[at - 1] == "create" {
        at -= 1;
    }
    (&argv[1..at], &argv[at + 1..])
}

/// `--image NAME`: the name in step 07's store (pulled first, as `--pull`
/// says), the name given kept for messages.
fn resolve_image(cli: &mut Cli) -> step01_chroot::Result<()> {
    if let Some(name) = cli.overlay.image.clone() {
        cli.registry.image_asked = Some(name.clone());
        cli.overlay.image = Some(step09_registry::image_for_run(&name, cli)?);
    }
    Ok(())
}

/// `exec`: from a copy of ourselves nobody can write (sealed.rs), the container's
/// own command line read again from its record, with the exec's command,
/// user, directory and environment put in.
fn exec_in(exec: &ExecArgs, state_dir: &std::path::Path) -> ExitCode {
    // SAFETY: main has started no thread.
    if let Err(err) = unsafe { step10_runtime::sealed::reexec_sealed() } {
        eprintln!("error: running again from a copy of this program nobody can write: {err}");
        return ExitCode::from(step01_chroot::error::exit_code::RUNTIME_ERROR);
    }
    let record = match step10_runtime::records::Records::new(state_dir).find(&exec.container) {
        Ok(record) => record,
        Err(err) => {
            eprintln!("error: {err}");
            return ExitCode::FAILURE;
        }
    };
    if !matches!(
        record.view(),
        Ok((_, step10_runtime::record::Life::Running))
    ) {
        eprintln!("error: container {} is not running", exec.container);
        return ExitCode::FAILURE;
    }
    let argv = &record.config.argv;
    // Its flags as they were: the variables that filled them in then, not
    // ours (WORKSHOP_NETWORK, WORKSHOP_ROOTFS, ...).
    for (key, _) in std::env::vars().filter(|(k, _)| k.starts_with("WORKSHOP_")) {
        // SAFETY: one thread (exec has started none yet).
        unsafe { std::env::remove_var(key) };
    }
    for (key, value) in &record.config.flag_env {
        // SAFETY: as above.
        unsafe { std::env::set_var(key, value) };
    }
    let parsed = <Cli as clap::Parser>::try_parse_from(argv).and_then(|cli| {
        let matches = <Cli as clap::CommandFactory>::command().try_get_matches_from(argv)?;
        Ok((cli, matches))
    });
    let Ok((cli, matches)) = parsed else {
        eprintln!(
            "error: the command line in the record of {} does not parse: {argv:?}",
            exec.container
        );
        return ExitCode::FAILURE;
    };
    let (mut cli, _) = run_line(cli, matches, argv);
    cli.run.command = exec.command.clone();
    cli.registry.command_given = true;
    // Docker's exec runs the command as given: no entrypoint before it.
    cli.registry.entrypoint = Some(String::new());
    cli.registry.pull = PullPolicy::Never;
    cli.run.env.extend(exec.env.iter().cloned());
    (cli.run.interactive, cli.run.tty) = (exec.interactive, exec.tty);
    cli.run.trace.quiet = exec.quiet;
    cli.run.trace.step = None;
    cli.registry.user = exec.user.clone().or(cli.registry.user);
    cli.registry.workdir = exec.workdir.clone().or(cli.registry.workdir);
    let result = resolve_image(&mut cli)
        .and_then(|()| step10_runtime::exec::container(&cli, &record))
        .and_then(|c| c.run());
    finish(&cli.run, result)
}
