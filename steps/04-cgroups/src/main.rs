//! `04-cgroups`: run a container with memory, CPU and process limits.
//! The concepts are in the library (`lib.rs` lists where).

use step01_chroot::cli::finish;
use step04_cgroups::cli::CgroupArgs;

/// Run a command in a container with resource limits (cgroups v1 or v2).
///
/// Step 04 of the container workshop: a cgroup per container, with the
/// limits of docker run (--memory, --cpus, --pids-limit, ...).
#[derive(Debug, clap::Parser)]
#[command(name = "04-cgroups", version)]
struct Cli {
    #[command(flatten)]
    args: CgroupArgs,
}

fn main() -> std::process::ExitCode {
    let cli: Cli = step01_chroot::cli::parse();
    let result = step04_cgroups::container(&cli.args).and_then(|c| c.run());
    finish(&cli.args.user_ns.pid_ns.run, result)
}
