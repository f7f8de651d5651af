//! `08-security`: step 07's runtime, with container root held to a few
//! capabilities and no_new_privs. The concepts are in the library.

use step01_chroot::cli::{RunArgs, finish, parse_with_matches};
use step01_chroot::flags::FlagGroups;
use step02_pid_ns::cli::PidNsArgs;
use step03_user_ns::cli::UserNsArgs;
use step04_cgroups::cli::CgroupArgs;
use step05_pivot_root::cli::PivotArgs;
use step06_netns_veth::cli::NetArgs;
use step07_overlay::cli::OverlayArgs;
use step08_security::cli::{Command, SecurityArgs};

step01_chroot::step_command_line! {
    /// Run a command in a container whose root keeps only a few capabilities, and cannot gain more.
    ///
    /// Step 08 of the container workshop. Subcommands manage the image store (as in step 07).
    #[command(name = "08-security", version)]
    struct Cli {
        run: RunArgs,
        pid_ns: PidNsArgs,
        user_ns: UserNsArgs,
        cgroups: CgroupArgs,
        pivot: PivotArgs,
        net: NetArgs,
        overlay: OverlayArgs,
        security: SecurityArgs;
        #[command(subcommand)]
        command: Option<Command>,
    }
}

fn main() -> std::process::ExitCode {
    let (cli, matches): (Cli, _) = parse_with_matches();
    let definition = <Cli as clap::CommandFactory>::command();
    match &cli.command {
        Some(Command::SeccompProfile) => {
            print!("{}", step08_security::profile::DEFAULT);
            std::process::ExitCode::SUCCESS
        }
        // The image store and --cleanup are step 07's, unchanged.
        Some(Command::Store(command)) => {
            step07_overlay::main(&cli, Some(command), &definition, &matches)
        }
        None if cli.group::<NetArgs>().cleanup => {
            step07_overlay::main(&cli, None, &definition, &matches)
        }
        None => {
            let result = step08_security::container(&cli).and_then(|c| c.run());
            finish(cli.group::<RunArgs>(), result)
        }
    }
}
