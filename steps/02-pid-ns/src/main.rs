//! `02-pid-ns`: run a command with its own processes, mounts, hostname and
//! IPC. The concepts are in the library (`lib.rs` lists where).

use step01_chroot::cli::{RunArgs, finish};
use step01_chroot::flags::FlagGroups;
use step02_pid_ns::cli::PidNsArgs;

// ANCHOR: cli
step01_chroot::step_command_line! {
    /// Run a command in its own root filesystem and PID, mount, UTS and IPC namespaces.
    ///
    /// Step 02 of the container workshop: inside, the command is PID 1 and sees
    /// only its own processes, mounts and hostname.
    #[command(name = "02-pid-ns", version)]
    struct Cli { run: RunArgs, pid_ns: PidNsArgs }
}

fn main() -> std::process::ExitCode {
    let cli: Cli = step01_chroot::cli::parse();
    let result = step02_pid_ns::container(&cli).and_then(|c| c.run());
    finish(cli.group::<RunArgs>(), result)
}
// ANCHOR_END: cli
