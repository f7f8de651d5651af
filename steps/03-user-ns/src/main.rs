//! `03-user-ns`: run a container as root inside and an ordinary user
//! outside; it works without root. The concepts are in the library.

use step01_chroot::cli::finish;
use step03_user_ns::cli::UserNsArgs;

/// Run a command in a container whose root is an ordinary user on the host.
///
/// Step 03 of the container workshop: a user namespace in front of step 02's.
/// Runs without root: call target/debug/03-user-ns directly.
#[derive(Debug, clap::Parser)]
#[command(name = "03-user-ns", version)]
struct Cli {
    #[command(flatten)]
    args: UserNsArgs,
}

fn main() -> std::process::ExitCode {
    let cli: Cli = step01_chroot::cli::parse();
    let result = step03_user_ns::container(&cli.args).and_then(|c| c.run());
    finish(&cli.args.pid_ns.run, result)
}
