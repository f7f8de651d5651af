//! `06-netns-veth`: run a container with a network of its own. The
//! concepts are in the library (`lib.rs` lists where).

use step01_chroot::cli::{finish, finish_command};
use step06_netns_veth::cli::NetArgs;

/// Run a command in a container with its own network: a veth pair to a host bridge, NAT, published ports.
///
/// Step 06 of the container workshop. `--cleanup` removes the bridge and rules.
#[derive(Debug, clap::Parser)]
#[command(name = "06-netns-veth", version)]
struct Cli {
    #[command(flatten)]
    args: NetArgs,
}

fn main() -> std::process::ExitCode {
    let cli: Cli = step01_chroot::cli::parse();
    if cli.args.cleanup {
        return finish_command(step06_netns_veth::cleanup(&cli.args));
    }
    let result = step06_netns_veth::container(&cli.args).and_then(|c| c.run());
    finish(&cli.args.pivot.cgroups.user_ns.pid_ns.run, result)
}
