//! `07-overlay`: run containers on image layers with a writable overlay,
//! and manage the image store. The concepts are in the library.

use step01_chroot::cli::{finish, finish_command, flags_given, parse_with_matches, usage_error};
use step07_overlay::cli::{Command, OverlayArgs};

/// Run a command in a container whose root is an overlay of image layers.
///
/// Step 07 of the container workshop. Subcommands manage the image store.
#[derive(Debug, clap::Parser)]
#[command(name = "07-overlay", version)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,

    #[command(flatten)]
    args: OverlayArgs,
}

fn main() -> std::process::ExitCode {
    let (cli, matches): (Cli, _) = parse_with_matches();
    if let Some(command) = &cli.command {
        // `07-overlay --memory 1g images`: the flag would be ignored.
        let run_flags = flags_given(&<Cli as clap::CommandFactory>::command(), &matches);
        if let Some(flag) = run_flags.iter().find(|f| *f != "--state-dir") {
            let name = matches.subcommand_name().unwrap_or_default();
            usage_error(
                &format!("{flag} is for running a container, not for `{name}`"),
                &format!("leave it out; to run a command named {name}, write -- {name}"),
            );
        }
        let state_dir = &cli.args.net.pivot.cgroups.user_ns.pid_ns.run.state_dir;
        return finish_command(step07_overlay::commands::run(command, state_dir));
    }
    if cli.args.net.cleanup {
        return finish_command(step06_netns_veth::cleanup(&cli.args.net));
    }
    let result = step07_overlay::container(&cli.args).and_then(|c| c.run());
    finish(&cli.args.net.pivot.cgroups.user_ns.pid_ns.run, result)
}
