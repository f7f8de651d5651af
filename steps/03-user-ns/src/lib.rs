//! # Step 03: root inside, nobody outside
//!
//! | concept | file |
//! |---|---|
//! | **user namespace**: maps written by the parent, root in the child (this step's idea) | [`userns.rs`](userns) |
//! | id maps: the kernel's rules, /etc/subuid | [`idmap.rs`](idmap) |
//! | one line of a map, `CONTAINER:HOST:COUNT` | [`range.rs`](range) |
//! | real root's default: subordinate ids, never host root | [`remap.rs`](remap) |
//! | idmapped mounts: host-owned files seen as the container's | [`idmapped.rs`](idmapped) |
//! | the rootfs bound where container root can reach it, and nobody else | [`reach.rs`](reach) |
//! | the command line: step 02's plus `--map-root-to`, `--uid-map`, `--gid-map`, `--no-map`, `--userns=host` | [`cli.rs`](cli) |
//!
//! The user namespace layer goes in front of step 02's layers; everything
//! else is reused unchanged. With it, the whole container runs without root
//! on the host (run `target/debug/03-user-ns` directly, not through sudo).

pub mod cli;
pub mod idmap;
pub mod idmapped;
pub mod range;
pub mod reach;
pub mod remap;
pub mod userns;

use step01_chroot::flags::FlagGroups;
use step01_chroot::layer::Layers;
use step01_chroot::spec::Spec;
use step01_chroot::{Container, Error, Result};

use crate::cli::{UserNsArgs, UserNsFlags};

// ANCHOR: container
/// Step 03's layers: the user namespace first (it owns the namespaces
/// after it), and the rootfs bound where container root can reach it
/// (`reach.rs`), in front of step 02's.
pub fn layers(args: &impl UserNsFlags, spec: &Spec) -> Result<Layers> {
    let mapping = args.group::<UserNsArgs>().mapping().map_err(Error::layer)?;
    let mut layers = Layers::new();
    layers
        .push(userns::UserNamespace::new(mapping))
        .push(reach::RootfsBind::default())
        .append(step02_pid_ns::layers(args, spec)?);
    Ok(layers)
}

/// Step 03's container.
pub fn container(args: &impl UserNsFlags) -> Result<Container> {
    args.group::<step01_chroot::cli::RunArgs>()
        .container(|spec| layers(args, spec))
}
// ANCHOR_END: container
