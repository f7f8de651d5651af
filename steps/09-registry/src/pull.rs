//! `pull`: a reference in, an image in the store out.
//!
//! ```text
//! reference ─▶ manifest (via the index, for this platform) ─▶ config ─▶ layers ─▶ store
//! ```
//!
//! As step 07's import, a pull takes a run lock (its temporary files are
//! named after it, so the next run can tell a dead pull's leftovers) and
//! the store's shared lock (no `rmi` takes a layer from under it). Layers
//! already in the store are not fetched again: they are named by the
//! digest of their tar (their diff_id), and the same digest is the same files.

use std::time::{SystemTime, UNIX_EPOCH};

use indicatif::MultiProgress;
use oci_spec::image::{ImageConfiguration, MediaType};
use step01_chroot::trace::Trace;
use step07_overlay::store::{Image, Store};
use step07_overlay::unpack::Limits;

use crate::auth::Credentials;
use crate::client::Client;
use crate::download::{self, Compression, Wanted};
use crate::error::{RegistryError, Result, printable};
use crate::local::{Entry, Local};
use crate::manifest;
use crate::platform::Platform;
use crate::reference::ImageRef;
use crate::verify::hex_of;

/// The most layers an image may have: overlayfs takes its `lowerdir`s in
/// one page of mount options, and each of ours is a path of some 50
/// characters (Docker reaches 127 through short symlinks).
pub const MAX_LAYERS: usize = 60;

/// A pulled image.
#[derive(Debug)]
pub struct Pulled {
    /// What was asked for, defaults written out.
    pub reference: ImageRef,
    /// The image id: the config's hex digest (the name of its step 07 image).
    pub id: String,
    /// The digest of what the reference named.
    pub digest: String,
    /// How many layers came over the network (the rest were stored).
    pub fetched: usize,
    /// How many layers the image has.
    pub layers: usize,
}

/// Pulls `reference` for `platform` into the store in `state_dir`, each
/// layer within `limits` (step 07's).
pub fn pull(
    reference: &ImageRef,
    platform: &Platform,
    credentials: Option<Credentials>,
    limits: &Limits,
    state_dir: &std::path::Path,
    trace: &Trace,
) -> Result<Pulled> {
    let store = Store::new(state_dir);
    let local = Local::new(state_dir);
    // This pull's run, and its lock (step 01's owner.rs).
    let run = step01_chroot::spec::random_id();
    let runs = step01_chroot::owner::runs_dir();
    let _lock =
        step01_chroot::owner::RunLock::take(&run).map_err(crate::error::io("locking", &runs))?;
    // Shared with imports and starting containers, exclusive of `rmi`.
    let _layers = store.lock(false)?;
    // What killed pulls and imports left goes first.
    store.sweep_unfinished();
    local.sweep();

    let client = Client::new(reference, credentials, trace.clone());
    let resolved = manifest::resolve(&client, reference.manifest_reference(), platform)?;
    let manifest = &resolved.manifest;
    // The config says how to run the image; its media type says it is one.
    let config = manifest.config();
    let is_config = *config.media_type() == MediaType::ImageConfig
        || config.media_type().to_string() == "application/vnd.docker.container.image.v1+json";
    if !is_config {
        return Err(RegistryError::MediaType {
            reference: reference.to_string(),
            media_type: config.media_type().to_string(),
        });
    }
    // Every digest becomes a directory name: checked before anything is fetched.
    let id = hex_of(config.digest().as_ref())
        .ok_or_else(|| bad_digest(reference, config.digest().as_ref()))?
        .to_string();
    let config_bytes = download::config(&client, config)?;
    let parsed = ImageConfiguration::from_reader(config_bytes.as_slice()).map_err(|err| {
        RegistryError::Json {
            url: client.url(&format!("blobs/{}", config.digest())),
            what: "the image config",
            reason: err.to_string(),
        }
    })?;
    let made_for = Platform {
        os: printable(&parsed.os().to_string()),
        architecture: printable(&parsed.architecture().to_string()),
        variant: printable(&parsed.variant().clone().unwrap_or_default()),
    };
    if !Platform::host().accepts(&made_for) {
        client.note(format_args!(
            "this image is for {made_for}, this machine is {}: it will not run here without an emulator",
            Platform::host()
        ));
    }
    // The config lists each layer's uncompressed digest: one per layer.
    // The image id (the config's digest) pins them, so every layer is
    // checked against its diff_id too (download.rs), or another manifest
    // could pair this config with other layers.
    let diff_ids = parsed.rootfs().diff_ids();
    // More would not mount; and a registry that lists thousands wants our
    // disk.
    if manifest.layers().len() > MAX_LAYERS {
        return Err(RegistryError::Json {
            url: reference.to_string(),
            what: "the manifest",
            reason: format!("{} layers, more than {MAX_LAYERS}", manifest.layers().len()),
        });
    }
    if diff_ids.len() != manifest.layers().len() {
        return Err(RegistryError::Json {
            url: reference.to_string(),
            what: "the image",
            reason: format!(
                "its manifest has {} layers, its config {} diff_ids",
                manifest.layers().len(),
                diff_ids.len()
            ),
        });
    }
    // ANCHOR: by_diff_id
    // A pulled layer is stored under its diff_id, the digest of its tar
    // (as containerd names what it unpacks), not under the digest of its
    // compressed bytes: a directory of that name holds exactly what the
    // config lists, whoever stored it (a pull checked the tar against it;
    // an import of that very tar is named so by step 07), and gzip or
    // zstd, the same files are stored once.
    let mut wanted: Vec<Wanted> = Vec::new();
    let mut names = Vec::new();
    for (layer, diff_id) in manifest.layers().iter().zip(diff_ids) {
        hex_of(layer.digest().as_ref())
            .ok_or_else(|| bad_digest(reference, layer.digest().as_ref()))?;
        let name = hex_of(diff_id)
            .ok_or_else(|| bad_digest(reference, diff_id))?
            .to_string();
        let compression =
            Compression::of(layer.media_type()).ok_or_else(|| RegistryError::MediaType {
                reference: reference.to_string(),
                media_type: printable(layer.media_type().as_ref()),
            })?;
        let stored = store.layer(&name).is_dir() || wanted.iter().any(|w| w.diff_id == *diff_id);
        if !stored {
            wanted.push(Wanted {
                descriptor: layer.clone(),
                compression,
                diff_id: diff_id.clone(),
            });
        }
        names.push(name);
    }
    // ANCHOR_END: by_diff_id
    let already = names.len() - wanted.len();
    if already > 0 {
        client.note(format_args!(
            "{already} of {} layers are in the store already",
            names.len()
        ));
    }
    let bars = MultiProgress::new();
    download::layers(&client, &store, &wanted, &run, limits, &bars)?;
    // A layer listed twice: the lower one is hidden whole by the upper
    // (the same files, the same whiteouts), and overlayfs takes a
    // directory once. The topmost is kept.
    let mut once: Vec<String> = Vec::new();
    for name in names.iter().rev() {
        if !once.contains(name) {
            once.insert(0, name.clone());
        }
    }
    // Recorded last: until here no image names the new layers, and a
    // failed pull leaves only layers (whole ones) that `rmi` and the next
    // import sweep as unused.
    local.write_config(&id, &config_bytes, &run)?;
    store.record_image(
        &Image {
            name: id.clone(),
            layers: once,
        },
        &run,
    )?;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let entry = Entry {
        id: format!("sha256:{id}"),
        digest: resolved.digest.clone(),
        pulled: now,
    };
    local.update(&run, |refs| refs.insert(reference.to_string(), entry))?;
    Ok(Pulled {
        reference: reference.clone(),
        id,
        digest: resolved.digest,
        fetched: wanted.len(),
        layers: names.len(),
    })
}

fn bad_digest(reference: &ImageRef, digest: &str) -> RegistryError {
    RegistryError::Json {
        url: reference.to_string(),
        what: "the manifest",
        reason: format!("digest {digest:?} is not sha256: and 64 hex digits"),
    }
}
