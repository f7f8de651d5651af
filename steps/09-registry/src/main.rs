//! `09-registry`: step 08's runtime, on images pulled from a registry and
//! run as their config says. The concepts are in the library.

use clap::parser::ValueSource;
use step01_chroot::cli::{
    RunArgs, finish, finish_command, flags_given, parse_with_matches, usage_error,
};
use step01_chroot::flags::FlagGroups;
use step02_pid_ns::cli::PidNsArgs;
use step03_user_ns::cli::UserNsArgs;
use step04_cgroups::cli::CgroupArgs;
use step05_pivot_root::cli::PivotArgs;
use step06_netns_veth::cli::NetArgs;
use step07_overlay::cli::OverlayArgs;
use step08_security::cli::SecurityArgs;
use step09_registry::cli::{Command, RegistryArgs};

step01_chroot::step_command_line! {
    /// Run a command in a container made from an image pulled from a registry.
    ///
    /// Step 09 of the container workshop: `09-registry pull alpine`, then `09-registry --image alpine`.
    #[command(name = "09-registry", version)]
    struct Cli {
        run: RunArgs,
        pid_ns: PidNsArgs,
        user_ns: UserNsArgs,
        cgroups: CgroupArgs,
        pivot: PivotArgs,
        net: NetArgs,
        overlay: OverlayArgs,
        security: SecurityArgs,
        registry: RegistryArgs;
        #[command(subcommand)]
        command: Option<Command>,
    }
}

fn main() -> std::process::ExitCode {
    let (mut cli, mut matches): (Cli, _) = parse_with_matches();
    let definition = <Cli as clap::CommandFactory>::command();
    if let Some(Command::Run { words }) = &cli.command {
        // `[FLAGS] run [FLAGS] IMAGE [COMMAND]`: all of it read again, as one
        // command line with IMAGE in it (run_line.rs). `run` took every word
        // after it: those before it are what is left of ours.
        let argv: Vec<String> = std::env::args().collect();
        let (before, after) = step09_registry::run_line::split(&argv, words);
        let image;
        (cli, matches, image) = step09_registry::run_line::reparse(&definition, before, after);
        cli.overlay.image = Some(image);
    } else if let Some(command) = &cli.command {
        // Run flags beside a subcommand would be ignored: refused instead.
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
        return finish_command(step09_registry::commands::run(command, &cli.run.state_dir));
    }
    if cli.group::<NetArgs>().cleanup {
        return step07_overlay::main(&cli, None, &definition, &matches);
    }
    // The image's Cmd applies unless a command was given (the default,
    // /bin/sh, is not one).
    cli.registry.command_given = matches.value_source("command") == Some(ValueSource::CommandLine);
    if let Some(name) = cli.overlay.image.clone() {
        cli.registry.image_asked = Some(name.clone());
        match step09_registry::image_for_run(&name, &cli) {
            Ok(store_name) => cli.overlay.image = Some(store_name),
            Err(err) => return finish_command(Err(err)),
        }
    }
    let result = step09_registry::container(&cli).and_then(|c| c.run());
    finish(cli.group::<RunArgs>(), result)
}
