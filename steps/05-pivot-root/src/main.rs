//! `05-pivot-root`: run a container whose root cannot be escaped, with the
//! `/dev`, `/sys` and `/proc` Docker gives. The concepts are in the library.

use step01_chroot::cli::{RunArgs, finish};
use step01_chroot::flags::FlagGroups;
use step02_pid_ns::cli::PidNsArgs;
use step03_user_ns::cli::UserNsArgs;
use step04_cgroups::cli::CgroupArgs;
use step05_pivot_root::cli::PivotArgs;

step01_chroot::step_command_line! {
    /// Run a command in a container rooted with pivot_root(2), with /dev, /sys, masked paths and volumes.
    ///
    /// Step 05 of the container workshop: chroot is replaced by pivot_root.
    #[command(name = "05-pivot-root", version)]
    struct Cli { run: RunArgs, pid_ns: PidNsArgs, user_ns: UserNsArgs, cgroups: CgroupArgs, pivot: PivotArgs }
}

fn main() -> std::process::ExitCode {
    let cli: Cli = step01_chroot::cli::parse();
    let result = step05_pivot_root::container(&cli).and_then(|c| c.run());
    finish(cli.group::<RunArgs>(), result)
}
