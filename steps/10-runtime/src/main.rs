//! `10-runtime`: step 09's runtime, with containers that live on their
//! own: `run -d`, `ps`, `logs`, `stop`, `kill`, `rm`. The concepts are in
//! the library.

use clap::parser::ValueSource;
use std::process::ExitCode;
use step01_chroot::cli::{RunArgs, finish_command, flags_given, parse_with_matches, usage_error};
use step01_chroot::flags::FlagGroups;
use step02_pid_ns::cli::PidNsArgs;
use step03_user_ns::cli::UserNsArgs;
use step04_cgroups::cli::CgroupArgs;
use step05_pivot_root::cli::PivotArgs;
use step06_netns_veth::cli::NetArgs;
use step07_overlay::cli::OverlayArgs;
use step08_security::cli::SecurityArgs;
use step09_registry::cli::{Command as Step09, PullPolicy, RegistryArgs};
use step10_runtime::cli::{Command, RuntimeArgs};

step01_chroot::step_command_line! {
    /// Run containers in the foreground or the background, and live with them: ps, logs, stop, kill, rm.
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
    let (mut cli, mut matches): (Cli, _) = parse_with_matches();
    let definition = <Cli as clap::CommandFactory>::command();
    match &cli.command {
        Some(Command::Earlier(Step09::Run { words })) => {
            // Docker's shape, read again as step 09 reads it.
            let argv: Vec<String> = std::env::args().collect();
            let (before, after) = step09_registry::run_line::split(&argv, words);
            let image;
            (cli, matches, image) = step09_registry::run_line::reparse(&definition, before, after);
            cli.overlay.image = Some(image);
        }
        Some(command) => {
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
                Command::Own(own) => step10_runtime::commands::run(own, state_dir),
                Command::Earlier(earlier) => {
                    finish_command(step09_registry::commands::run(earlier, state_dir))
                }
            };
        }
        None => {}
    }
    if cli.group::<NetArgs>().cleanup {
        return step07_overlay::main(&cli, None, &definition, &matches);
    }
    cli.registry.command_given = matches.value_source("command") == Some(ValueSource::CommandLine);
    if monitor_of.is_some() {
        // Its caller pulled the image already, and has the terminal.
        cli.run.trace.quiet = true;
        cli.registry.pull = PullPolicy::Missing;
    }
    if let Some(name) = cli.overlay.image.clone() {
        cli.registry.image_asked = Some(name.clone());
        match step09_registry::image_for_run(&name, &cli) {
            Ok(store_name) => cli.overlay.image = Some(store_name),
            Err(err) => return finish_command(Err(err)),
        }
    }
    step10_runtime::run(&cli, monitor_of)
}
