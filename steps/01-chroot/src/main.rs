//! `01-chroot`: run a command in its own root filesystem.
//!
//! Everything is in the library (`lib.rs` lists where each concept lives);
//! this file only reads the command line.

use step01_chroot::cli::{RunArgs, finish};
use step01_chroot::flags::FlagGroups;

step01_chroot::step_command_line! {
    /// Run a command in its own root filesystem, with chroot(2).
    ///
    /// Step 01 of the container workshop: the process sees the rootfs as `/`,
    /// but shares everything else (processes, hostname, network) with the host.
    #[command(name = "01-chroot", version)]
    struct Cli { run: RunArgs }
}

fn main() -> std::process::ExitCode {
    let cli: Cli = step01_chroot::cli::parse();
    let result = step01_chroot::container(&cli).and_then(|c| c.run());
    finish(cli.group::<RunArgs>(), result)
}
