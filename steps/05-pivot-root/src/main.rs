//! `05-pivot-root`: run a container whose root cannot be escaped, with the
//! `/dev`, `/sys` and `/proc` Docker gives. The concepts are in the library.

use step01_chroot::cli::finish;
use step05_pivot_root::cli::PivotArgs;

/// Run a command in a container rooted with pivot_root(2), with /dev, /sys, masked paths and volumes.
///
/// Step 05 of the container workshop: chroot is replaced by pivot_root.
#[derive(Debug, clap::Parser)]
#[command(name = "05-pivot-root", version)]
struct Cli {
    #[command(flatten)]
    args: PivotArgs,
}

fn main() -> std::process::ExitCode {
    let cli: Cli = step01_chroot::cli::parse();
    let result = step05_pivot_root::container(&cli.args).and_then(|c| c.run());
    finish(&cli.args.cgroups.user_ns.pid_ns.run, result)
}
