//! `07-overlay`: run containers on image layers with a writable overlay,
//! and manage the image store. The concepts are in the library.

use step01_chroot::cli::{RunArgs, parse_with_matches};
use step02_pid_ns::cli::PidNsArgs;
use step03_user_ns::cli::UserNsArgs;
use step04_cgroups::cli::CgroupArgs;
use step05_pivot_root::cli::PivotArgs;
use step06_netns_veth::cli::NetArgs;
use step07_overlay::cli::{Command, OverlayArgs};

step01_chroot::step_command_line! {
    /// Run a command in a container whose root is an overlay of image layers.
    ///
    /// Step 07 of the container workshop. Subcommands manage the image store.
    #[command(name = "07-overlay", version)]
    struct Cli {
        run: RunArgs,
        pid_ns: PidNsArgs,
        user_ns: UserNsArgs,
        cgroups: CgroupArgs,
        pivot: PivotArgs,
        net: NetArgs,
        overlay: OverlayArgs;
        #[command(subcommand)]
        command: Option<Command>,
    }
}

fn main() -> std::process::ExitCode {
    let (cli, matches): (Cli, _) = parse_with_matches();
    let definition = <Cli as clap::CommandFactory>::command();
    step07_overlay::main(&cli, cli.command.as_ref(), &definition, &matches)
}
