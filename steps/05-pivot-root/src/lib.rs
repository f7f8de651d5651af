//! # Step 05: a root that cannot be escaped
//!
//! | concept | file |
//! |---|---|
//! | **pivot_root**: bind the rootfs, pivot, unmount the old root (this step's idea) | [`pivot.rs`](pivot) |
//! | `/dev` (tmpfs, device nodes, pts, shm) and a read-only `/sys` | [`devices.rs`](devices) |
//! | generated `/etc/hostname`, `hosts`, `resolv.conf` | [`etc_files.rs`](etc_files) |
//! | `-v` volumes, resolved safely inside the rootfs | [`volumes.rs`](volumes) |
//! | mount points made inside the rootfs, never outside (openat2) | [`inroot.rs`](inroot) |
//! | ...and taken away when no container mounts on them | [`mount_points.rs`](mount_points) |
//! | masked and read-only paths, `--read-only` | [`masks.rs`](masks) |
//! | narrated mount helpers, locked flags | [`mounts.rs`](mounts) |
//! | the command line: step 04's plus `-v`, `--read-only` | [`cli.rs`](cli) |
//!
//! This step *replaces* step 01's chroot layer; everything else is reused.

pub mod cli;
pub mod devices;
pub mod etc_files;
pub mod inroot;
pub mod masks;
pub mod mount_points;
pub mod mounts;
pub mod pivot;
pub mod volumes;

use step01_chroot::chroot::Chroot;
use step01_chroot::flags::FlagGroups;
use step01_chroot::layer::Layers;
use step01_chroot::spec::Spec;
use step01_chroot::{Container, Result};
use step02_pid_ns::pid::PidNamespace;

use crate::cli::{PivotArgs, PivotFlags};

// ANCHOR: layers
/// Step 05's layers: step 04's, with chroot replaced by the pivot_root
/// sequence and the mounts a container expects, and hardening after /proc.
pub fn layers(args: &impl PivotFlags, spec: &Spec) -> Result<Layers> {
    let mut layers = step04_cgroups::layers(args, spec)?;
    let own: &PivotArgs = args.group();
    let mut root = Layers::new();
    if !own.pivot_without_bind {
        root.push(pivot::BindRoot); // the rootfs becomes a mount point
    }
    root.push(devices::Dev) // these mount under the bound rootfs...
        .push(devices::Sys)
        .push(etc_files::EtcFiles::new(step02_pid_ns::hostname(
            args, spec,
        )))
        .push(volumes::Volumes::new(own.volumes.clone()))
        // /proc too, while the host's is still visible (see PidNamespace).
        .push(PidNamespace::mounting_under_rootfs())
        .push(pivot::PivotRoot); // ...and travel with it into the new root
    let masks = masks::Masks {
        read_only_root: own.read_only,
    };
    layers
        .remove::<PidNamespace>()?
        .replace::<Chroot>(root)?
        .insert_after::<pivot::PivotRoot>(masks)?; // masks /proc and /sys paths
    Ok(layers)
}
// ANCHOR_END: layers

/// Step 05's container.
pub fn container(args: &impl PivotFlags) -> Result<Container> {
    args.group::<step01_chroot::cli::RunArgs>()
        .container(|spec| layers(args, spec))
}
