//! # Step 09: images from a registry
//!
//! Step 07 ran images from tarballs imported by hand. This step fetches
//! them as `docker pull` does: over the OCI distribution API, checked
//! byte for byte against their digests, and runs them as their config
//! says.
//!
//! | concept | file |
//! |---|---|
//! | **references**: `alpine` is `docker.io/library/alpine:latest` (this step's idea) | [`reference.rs`](reference) |
//! | one registry, one repository: requests, and what a status means | [`client.rs`](client) |
//! | the auth dance: a 401, a token, the request again | [`auth.rs`](auth) |
//! | **manifests and indexes**: from a tag to this platform's image | [`manifest.rs`](manifest), [`platform.rs`](platform) |
//! | **content addressing**: bytes checked against their digest as they stream | [`verify.rs`](verify) |
//! | config and layers, several at once, unpacked as they come | [`download.rs`](download) |
//! | `pull`: the whole of it, under step 07's locks | [`pull.rs`](pull) |
//! | pulled images: references, ids, configs | [`local.rs`](local) |
//! | `images`, `rmi`, `inspect`, and finding an image for `run` | [`images.rs`](images) |
//! | **the image config becomes the process**: Entrypoint, Cmd, Env, WorkingDir, User | [`config.rs`](config), [`process.rs`](process), [`user.rs`](user) |
//! | the subcommands | [`commands.rs`](commands) |
//! | `run [FLAGS] IMAGE [COMMAND]`, as Docker writes it | [`run_line.rs`](run_line) |
//! | the command line: step 08's plus `--entrypoint`, `-w`, `-u`, `--pull`, `--platform` | [`cli.rs`](cli) |

pub mod auth;
pub mod cli;
pub mod client;
pub mod commands;
pub mod config;
pub mod download;
pub mod error;
pub mod images;
pub mod local;
pub mod manifest;
pub mod platform;
pub mod process;
pub mod pull;
pub mod reference;
pub mod run_line;
pub mod user;
pub mod verify;

use step01_chroot::cli::RunArgs;
use step01_chroot::flags::FlagGroups;
use step01_chroot::layer::Layers;
use step01_chroot::spec::Spec;
use step01_chroot::{Container, Error, Result};
use step07_overlay::cli::OverlayArgs;
use step08_security::capabilities::Capabilities;

use crate::cli::{PullPolicy, RegistryArgs, RegistryFlags};
use crate::config::Overrides;
use crate::error::RegistryError;
use crate::images::Found;
use crate::local::Local;
use crate::platform::Platform;
use crate::process::{DropKept, ImageProcess};
use crate::reference::ImageRef;

// ANCHOR: layers
/// Step 09's layers: step 08's, and the image's process (its command,
/// environment, working directory and user), set in the child right
/// before step 08's capabilities.
pub fn layers(args: &impl RegistryFlags, spec: &Spec) -> Result<Layers> {
    let mut layers = step08_security::layers(args, spec)?;
    let own: &RegistryArgs = args.group();
    // The image's name in step 07's store: an id, if it was pulled
    // (`image_for_run` put it there), and then it has a config.
    let image = args.group::<OverlayArgs>().image.as_deref();
    let pulled = match image {
        Some(name) => Local::new(&spec.state_dir)
            .config(name)
            .map_err(Error::layer)?,
        None => None,
    };
    let overridden = own.entrypoint.is_some() || own.workdir.is_some() || own.user.is_some();
    if pulled.is_none() && !overridden {
        return Ok(layers);
    }
    // Without a config, the command is the command line's, or (with no
    // --entrypoint to run instead) the default shell.
    let default_shell = pulled.is_none() && own.entrypoint.is_none();
    let overrides = Overrides {
        command: (own.command_given || default_shell).then(|| spec.command.clone()),
        entrypoint: own.entrypoint.clone(),
        workdir: own.workdir.clone(),
        user: own.user.clone(),
    };
    let config = pulled.unwrap_or_default();
    let named = own.image_asked.as_deref().or(image).unwrap_or("--rootfs");
    let process = config::process(named, &config, &overrides).map_err(Error::layer)?;
    let given_env = args
        .group::<RunArgs>()
        .env
        .iter()
        .map(|(k, _)| k.clone())
        .collect();
    let switches_user = !process.user.is_empty();
    // Right before step 08 sets the capabilities (process.rs says why),
    // and, for a user, what the switch kept dropped after them; with
    // --privileged there are none to set: last, keeping nothing.
    if layers.contains::<Capabilities>() {
        let keep = switches_user;
        layers.insert_before::<Capabilities>(ImageProcess::new(process, given_env, keep))?;
        if keep {
            layers.insert_after::<Capabilities>(DropKept)?;
        }
    } else {
        step08_security::last(&mut layers, ImageProcess::new(process, given_env, false))?;
    }
    Ok(layers)
}
// ANCHOR_END: layers

/// Step 09's container.
pub fn container(args: &impl RegistryFlags) -> Result<Container> {
    args.group::<RunArgs>().container(|spec| layers(args, spec))
}

// ANCHOR: image_for_run
/// The name in step 07's store of the image `--image NAME` asks for:
/// found here (pulled or imported), or pulled now, as `--pull` says.
pub fn image_for_run(name: &str, args: &impl RegistryFlags) -> Result<String> {
    let run = args.group::<RunArgs>();
    let own: &RegistryArgs = args.group();
    let found = match own.pull {
        PullPolicy::Always => None,
        _ => images::find(&run.state_dir, name).map_err(Error::layer)?,
    };
    if let Some(found) = found {
        return Ok(found.store_name().to_string());
    }
    // A dry run changes nothing, and a pull would.
    if own.pull == PullPolicy::Never || run.trace.dry_run {
        return Err(Error::layer(RegistryError::NotPulled(name.into())));
    }
    let reference = ImageRef::parse(name).map_err(Error::layer)?;
    let platform = own.platform.clone().unwrap_or_else(Platform::host);
    let trace = commands::pull_trace(run.trace.quiet);
    let pulled = pull::pull(
        &reference,
        &platform,
        None,
        &Default::default(),
        &run.state_dir,
        &trace,
    )
    .map_err(Error::layer)?;
    Ok(Found::Pulled(pulled.id).store_name().to_string())
}
// ANCHOR_END: image_for_run
