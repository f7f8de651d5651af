//! # Step 03: root inside, nobody outside
//!
//! | concept | file |
//! |---|---|
//! | **user namespace**: maps written by the parent, root in the child (this step's idea) | [`userns.rs`](userns) |
//! | id maps: parsing, the kernel's rules, /etc/subuid | [`idmap.rs`](idmap) |
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
pub mod reach;
pub mod remap;
pub mod userns;

use step01_chroot::layer::Layers;
use step01_chroot::{Container, Error, Result};

// ANCHOR: container
/// Step 03's container: a user namespace in front of step 02's layers.
pub fn container(args: &cli::UserNsArgs) -> Result<Container> {
    let mapping = args.mapping().map_err(Error::layer)?;
    args.pid_ns.run.container(|spec| {
        let mut layers = user_layers(mapping);
        layers.extend(step02_pid_ns::layers(&args.pid_ns, spec));
        Ok(layers)
    })
}

/// This step's layers: the user namespace first (it owns the others), and
/// the rootfs bound where container root can reach it (`reach.rs`).
pub fn user_layers(mapping: userns::Mapping) -> Layers {
    vec![
        Box::new(userns::UserNamespace::new(mapping)),
        Box::new(reach::RootfsBind::default()),
    ]
}
// ANCHOR_END: container
