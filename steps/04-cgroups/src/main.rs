//! `04-cgroups`: run a container with memory, CPU and process limits.
//! The concepts are in the library (`lib.rs` lists where).

use step01_chroot::cli::{RunArgs, finish};
use step01_chroot::flags::FlagGroups;
use step02_pid_ns::cli::PidNsArgs;
use step03_user_ns::cli::UserNsArgs;
use step04_cgroups::cli::CgroupArgs;

step01_chroot::step_command_line! {
    /// Run a command in a container with resource limits (cgroups v1 or v2).
    ///
    /// Step 04 of the container workshop: a cgroup per container, with the
    /// limits of docker run (--memory, --cpus, --pids-limit, ...).
    #[command(name = "04-cgroups", version)]
    struct Cli { run: RunArgs, pid_ns: PidNsArgs, user_ns: UserNsArgs, cgroups: CgroupArgs }
}

fn main() -> std::process::ExitCode {
    let cli: Cli = step01_chroot::cli::parse();
    let result = step04_cgroups::container(&cli).and_then(|c| c.run());
    finish(cli.group::<RunArgs>(), result)
}
