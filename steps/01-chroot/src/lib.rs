//! # Step 01: chroot, and the engine every step reuses
//!
//! | concept | file |
//! |---|---|
//! | **chroot(2)**: the container's own `/` (this step's idea) | [`chroot.rs`](chroot) |
//! | the engine: parent, child, sync and error pipes | [`engine.rs`](engine) |
//! | the child's side: layers from inside, a clean process, execve | [`child.rs`](child) |
//! | clone(2)'s flags, and how a host refuses them | [`clone.rs`](clone) |
//! | how the command ended: exit codes as a shell gives them | [`status.rs`](status) |
//! | layers: one kind of isolation on the engine's timeline | [`layer.rs`](layer) |
//! | the trace: every kernel call narrated, `--dry-run`, `--step` | [`trace.rs`](trace) |
//! | how a call's result is shown, and a dry run's stand-in | [`traced.rs`](traced) |
//! | `--step`: wait for Enter before each call | `pause.rs` |
//! | the one seam to the kernel: every call as a value | [`sys.rs`](sys) |
//! | ...and who makes it: the kernel, nobody (dry run), a recording (tests) | [`kernels.rs`](kernels) |
//! | signals passed on to the container | [`signals.rs`](signals) |
//! | the container's stdio: pipes, or a pty with `-t`; never your terminal | [`stdio.rs`](stdio) |
//! | your terminal meanwhile: raw mode, window size | [`terminal.rs`](terminal) |
//! | what to run: rootfs, command, environment | [`spec.rs`](spec) |
//! | the state directory later steps use, private (0700) | [`state.rs`](state) |
//! | who owns what: a run's lock, so a dead run's leftovers can be removed | [`owner.rs`](owner) |
//! | errors that say what to do | [`error.rs`](error) |
//! | the command line every step shares | [`cli.rs`](cli) |
//! | how each step's flags reach its layers, by type | [`flags.rs`](flags) |
//!
//! Later steps depend on this crate and add layers; they never edit it.

#[cfg(not(target_os = "linux"))]
compile_error!(
    "the container workshop needs Linux: namespaces, cgroups and chroot as used here \
     exist only there. On macOS or Windows, use a Linux VM (see the README)."
);

pub mod child;
pub mod chroot;
pub mod cli;
pub mod clone;
pub mod engine;
pub mod error;
pub mod flags;
pub mod kernels;
pub mod launch;
pub mod layer;
pub mod owner;
mod pause;
pub mod signals;
pub mod spec;
pub mod state;
pub mod status;
pub mod stdio;
pub mod sys;
pub mod terminal;
pub mod trace;
pub mod traced;

pub use engine::Container;
pub use error::{Error, Result};
pub use layer::Layer;
pub use status::ExitStatus;

// ANCHOR: container
/// Step 01's layers: one, chroot. Each later step starts from the previous
/// step's `layers()` and adds its own.
pub fn layers(_args: &impl flags::RunFlags, _spec: &spec::Spec) -> Result<layer::Layers> {
    let mut layers = layer::Layers::new();
    layers.push(chroot::Chroot);
    Ok(layers)
}

/// Step 01's container: the command, in the rootfs, through its layers.
pub fn container(args: &impl flags::RunFlags) -> Result<Container> {
    use flags::FlagGroups;
    let run: &cli::RunArgs = args.group();
    run.container(|spec| layers(args, spec))
}
// ANCHOR_END: container
