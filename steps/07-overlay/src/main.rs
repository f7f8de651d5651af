//! `07-overlay`: run containers on image layers with a writable overlay,
//! and manage the image store. The concepts are in the library.

use step01_chroot::cli::{
    RunArgs, finish, finish_command, flags_given, parse_with_matches, usage_error,
};
use step01_chroot::flags::FlagGroups;
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
        let state_dir = &cli.group::<RunArgs>().state_dir;
        return finish_command(step07_overlay::commands::run(command, state_dir));
    }
    if cli.group::<NetArgs>().cleanup {
        return finish_command(step06_netns_veth::cleanup(&cli));
    }
    let result = step07_overlay::container(&cli).and_then(|c| c.run());
    finish(cli.group::<RunArgs>(), result)
}
