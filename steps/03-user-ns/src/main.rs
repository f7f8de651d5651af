//! `03-user-ns`: run a container as root inside and an ordinary user
//! outside; it works without root. The concepts are in the library.

use step01_chroot::cli::{RunArgs, finish};
use step01_chroot::flags::FlagGroups;
use step02_pid_ns::cli::PidNsArgs;
use step03_user_ns::cli::UserNsArgs;

step01_chroot::step_command_line! {
    /// Run a command in a container whose root is an ordinary user on the host.
    ///
    /// Step 03 of the container workshop: a user namespace in front of step 02's.
    /// Runs without root: call target/debug/03-user-ns directly.
    #[command(name = "03-user-ns", version)]
    struct Cli { run: RunArgs, pid_ns: PidNsArgs, user_ns: UserNsArgs }
}

fn main() -> std::process::ExitCode {
    let cli: Cli = step01_chroot::cli::parse();
    let result = step03_user_ns::container(&cli).and_then(|c| c.run());
    finish(cli.group::<RunArgs>(), result)
}
