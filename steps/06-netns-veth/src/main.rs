//! `06-netns-veth`: run a container with a network of its own. The
//! concepts are in the library (`lib.rs` lists where).

use step01_chroot::cli::{RunArgs, finish, finish_command};
use step01_chroot::flags::FlagGroups;
use step02_pid_ns::cli::PidNsArgs;
use step03_user_ns::cli::UserNsArgs;
use step04_cgroups::cli::CgroupArgs;
use step05_pivot_root::cli::PivotArgs;
use step06_netns_veth::cli::NetArgs;

step01_chroot::step_command_line! {
    /// Run a command in a container with its own network: a veth pair to a host bridge, NAT, published ports.
    ///
    /// Step 06 of the container workshop. `--cleanup` removes the bridge and rules.
    #[command(name = "06-netns-veth", version)]
    struct Cli {
        run: RunArgs,
        pid_ns: PidNsArgs,
        user_ns: UserNsArgs,
        cgroups: CgroupArgs,
        pivot: PivotArgs,
        net: NetArgs,
    }
}

fn main() -> std::process::ExitCode {
    let cli: Cli = step01_chroot::cli::parse();
    if cli.group::<NetArgs>().cleanup {
        return finish_command(step06_netns_veth::cleanup(&cli));
    }
    let result = step06_netns_veth::container(&cli).and_then(|c| c.run());
    finish(cli.group::<RunArgs>(), result)
}
