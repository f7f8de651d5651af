//! `02-pid-ns`: run a command with its own processes, mounts, hostname and
//! IPC. The concepts are in the library (`lib.rs` lists where).

use step01_chroot::cli::finish;
use step02_pid_ns::cli::PidNsArgs;

/// Run a command in its own root filesystem and PID, mount, UTS and IPC namespaces.
///
/// Step 02 of the container workshop: inside, the command is PID 1 and sees
/// only its own processes, mounts and hostname.
#[derive(Debug, clap::Parser)]
#[command(name = "02-pid-ns", version)]
struct Cli {
    #[command(flatten)]
    args: PidNsArgs,
}

fn main() -> std::process::ExitCode {
    let cli: Cli = step01_chroot::cli::parse();
    let result = step02_pid_ns::container(&cli.args).and_then(|c| c.run());
    finish(&cli.args.run, result)
}
