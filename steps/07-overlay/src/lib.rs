//! # Step 07: images and copy-on-write
//!
//! | concept | file |
//! |---|---|
//! | **overlayfs**: read-only layers, a writable one per container (this step's idea) | [`overlay.rs`](overlay) |
//! | idmapped lower layers: the image's files are container root's | [`idmap.rs`](idmap) |
//! | what a killed run left: unmounted and removed by the next | [`leftovers.rs`](leftovers) |
//! | the image store: layers named by their sha256 | [`store.rs`](store) |
//! | a layer into the store, whole or not at all | [`store_layer.rs`](store_layer) |
//! | `rmi`, and the lock that keeps layers in use | [`rmi.rs`](rmi) |
//! | unpacking layers safely, OCI whiteouts to overlayfs | [`unpack.rs`](unpack) |
//! | an import's limits: size, entries, gzip ratio | [`bombs.rs`](bombs) |
//! | what unpacking refuses, and why | [`refusals.rs`](refusals) |
//! | `diff`: what a container changed | [`diff.rs`](diff) |
//! | the subcommands: import, images, rmi, diff, rm | [`commands.rs`](commands) |
//! | the command line: step 06's plus `--image`, `--layer`, `--rm` | [`cli.rs`](cli) |

pub mod bombs;
pub mod cli;
pub mod commands;
pub mod diff;
pub mod idmap;
pub mod leftovers;
pub mod overlay;
pub mod refusals;
pub mod rmi;
pub mod store;
pub mod store_layer;
pub mod unpack;

use std::path::PathBuf;

use step01_chroot::flags::FlagGroups;
use step01_chroot::layer::Layers;
use step01_chroot::spec::Spec;
use step01_chroot::{Container, Error, Result};
use step03_user_ns::cli::UserNsArgs;
use step03_user_ns::reach::RootfsBind;
use step05_pivot_root::cli::PivotArgs;
use step05_pivot_root::devices::Dev;
use step05_pivot_root::pivot::BindRoot;

use crate::cli::{OverlayArgs, OverlayFlags};

// ANCHOR: layers
/// Step 07's layers: step 06's, with the rootfs bind mount replaced by an
/// overlay of the image's layers (or of --rootfs) and a writable layer.
pub fn layers(args: &impl OverlayFlags, spec: &Spec) -> Result<Layers> {
    let mut layers = step06_netns_veth::layers(args, spec)?;
    let own: &OverlayArgs = args.group();
    let lowers = match &own.image {
        None => vec![spec.rootfs.clone()],
        Some(image) => {
            let store = store::Store::new(&spec.state_dir);
            let mut lowers: Vec<PathBuf> = Vec::new();
            for name in std::iter::once(image).chain(&own.layers) {
                let image = store.image(name).map_err(Error::layer)?;
                lowers.extend(image.layers.iter().map(|d| store.layer(d)));
            }
            lowers
        }
    };
    let from_rootfs = own.image.is_none();
    let bind = !args.group::<PivotArgs>().pivot_without_bind;
    let mapping = args.group::<UserNsArgs>().mapping().map_err(Error::layer)?;
    let idmap = nix::unistd::Uid::effective()
        .is_root()
        .then(|| mapping.moves_root())
        .flatten()
        .map(|(uid, gid)| (uid.clone(), gid.clone()));
    let mut overlay =
        overlay::Overlay::new(lowers, from_rootfs, bind, own.name.clone(), own.rm, idmap);
    if own.resume {
        overlay = overlay.resumed();
    }
    // The parent reads the lowers itself, and the merged view is already in
    // the state directory, where container root may pass: step 03's bind
    // of the rootfs has nothing left to do.
    layers.remove::<RootfsBind>()?;
    // In BindRoot's place; with --pivot-without-bind there is none: before /dev.
    if layers.contains::<BindRoot>() {
        layers.replace_with::<BindRoot>(overlay)?;
    } else {
        layers.insert_before::<Dev>(overlay)?;
    }
    Ok(layers)
}
// ANCHOR_END: layers

/// Step 07's container.
pub fn container(args: &impl OverlayFlags) -> Result<Container> {
    args.group::<step01_chroot::cli::RunArgs>()
        .container(|spec| layers(args, spec))
}

// ANCHOR: main
/// Step 07's `main`, for its binary and every step after: a subcommand
/// (with no run flags beside it: `07-overlay --memory 1g images` would
/// ignore the flag), `--cleanup`, or a container. `definition` and
/// `matches` are clap's, to tell which flags were given.
pub fn main(
    args: &impl OverlayFlags,
    command: Option<&cli::Command>,
    definition: &clap::Command,
    matches: &clap::ArgMatches,
) -> std::process::ExitCode {
    use step01_chroot::cli::{RunArgs, finish, finish_command, flags_given, usage_error};
    if let Some(command) = command {
        let run_flags = flags_given(definition, matches);
        if let Some(flag) = run_flags.iter().find(|f| *f != "--state-dir") {
            let name = matches.subcommand_name().unwrap_or_default();
            usage_error(
                &format!("{flag} is for running a container, not for `{name}`"),
                &format!("leave it out; to run a command named {name}, write -- {name}"),
            );
        }
        let state_dir = &args.group::<RunArgs>().state_dir;
        return finish_command(commands::run(command, state_dir));
    }
    if args.group::<step06_netns_veth::cli::NetArgs>().cleanup {
        return finish_command(step06_netns_veth::cleanup(args));
    }
    let result = container(args).and_then(|c| c.run());
    finish(args.group::<RunArgs>(), result)
}
// ANCHOR_END: main
