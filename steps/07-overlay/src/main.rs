//! `07-overlay`: run containers on image layers with a writable overlay,
//! and manage the image store. The concepts are in the library.

use clap::Parser;
use step01_chroot::cli::{finish, finish_command};
use step07_overlay::cli::{Command, OverlayArgs};

/// Run a command in a container whose root is an overlay of image layers.
///
/// Step 07 of the container workshop. Subcommands manage the image store.
#[derive(Debug, Parser)]
#[command(name = "07-overlay", version, args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,

    #[command(flatten)]
    args: OverlayArgs,
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    if let Some(command) = &cli.command {
        return finish_command(step07_overlay::commands::run(command));
    }
    if cli.args.net.cleanup {
        return finish_command(step06_netns_veth::cleanup(&cli.args.net));
    }
    let result = step07_overlay::container(&cli.args).and_then(|c| c.run());
    finish(&cli.args.net.pivot.cgroups.user_ns.pid_ns.run, result)
}
