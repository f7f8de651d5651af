//! `pull`: a reference in, an image in the store out.
//!
//! ```text
//! reference ─▶ manifest (via the index, for this platform) ─▶ config ─▶ layers ─▶ store
//! ```
//!
//! As step 07's import, a pull takes a run lock (its temporary files are
//! named after it, so the next run can tell a dead pull's leftovers) and
//! the store's shared lock (no `rmi` takes a layer from under it). Layers
//! already in the store are not fetched again: they are named by digest,
//! and the same digest is the same bytes.

use std::time::{SystemTime, UNIX_EPOCH};

use indicatif::MultiProgress;
use oci_spec::image::{ImageConfiguration, MediaType};
use step01_chroot::trace::Trace;
use step07_overlay::store::{Image, Store};

use crate::auth::Credentials;
use crate::client::Client;
use crate::download::{self, Compression, Wanted};
use crate::error::{RegistryError, Result};
use crate::local::{Entry, Local};
use crate::manifest;
use crate::platform::Platform;
use crate::reference::ImageRef;
use crate::verify::hex_of;

/// The most layers an image may have.
pub const MAX_LAYERS: usize = 127;

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

/// Pulls `reference` for `platform` into the store in `state_dir`.
pub fn pull(
    reference: &ImageRef,
    platform: &Platform,
    credentials: Option<Credentials>,
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
        os: crate::error::printable(&parsed.os().to_string()),
        architecture: crate::error::printable(&parsed.architecture().to_string()),
        variant: parsed.variant().clone().unwrap_or_default(),
    };
    if !Platform::host().accepts(&made_for) {
        client.note(format_args!(
            "this image is for {made_for}, this machine is {}: it will not run here without an emulator",
            Platform::host()
        ));
    }
    // The config lists each layer's uncompressed digest: one per layer.
    // The image id (the config's digest) pins them, so every layer is
    // checked against its diff_id too, or another manifest could pair
    // this config with other layers.
    let diff_ids = parsed.rootfs().diff_ids();
    // Docker stops at 127 layers (overlayfs's mount options have a page to
    // fit in); a registry that lists thousands wants our disk.
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
    let mut wanted: Vec<Wanted> = Vec::new();
    let mut digests = Vec::new();
    for (layer, diff_id) in manifest.layers().iter().zip(diff_ids) {
        let hex = hex_of(layer.digest().as_ref())
            .ok_or_else(|| bad_digest(reference, layer.digest().as_ref()))?;
        let compression =
            Compression::of(layer.media_type()).ok_or_else(|| RegistryError::MediaType {
                reference: reference.to_string(),
                media_type: layer.media_type().to_string(),
            })?;
        digests.push(hex.to_string());
        // A layer stored by an earlier pull was checked then: its diff_id
        // is written down. One step 07 imported was not: fetched, checked.
        match local.diff_id(hex) {
            Some(known) if store.layer(hex).is_dir() => {
                if known != *diff_id {
                    return Err(RegistryError::Digest {
                        what: "layer (uncompressed)",
                        expected: diff_id.clone(),
                        got: format!("the stored layer {} unpacks to {known}", &hex[..12]),
                    });
                }
            }
            _ if wanted
                .iter()
                .any(|w| w.descriptor.digest() == layer.digest()) => {}
            _ => wanted.push(Wanted {
                descriptor: layer.clone(),
                compression,
                diff_id: diff_id.clone(),
            }),
        }
    }
    let already = digests.len() - wanted.len();
    if already > 0 {
        client.note(format_args!(
            "{already} of {} layers are in the store already",
            digests.len()
        ));
    }
    let bars = MultiProgress::new();
    let note_diff_id = |w: &Wanted| {
        let hex = hex_of(w.descriptor.digest().as_ref()).expect("checked above");
        local.write_diff_id(hex, &w.diff_id, &run)
    };
    download::layers(&client, &store, &wanted, &run, &bars, &note_diff_id)?;
    // A layer listed twice: the lower one is hidden whole by the upper
    // (the same files, the same whiteouts), and overlayfs takes a
    // directory once. The topmost is kept.
    let mut once: Vec<String> = Vec::new();
    for digest in digests.iter().rev() {
        if !once.contains(digest) {
            once.insert(0, digest.clone());
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
        layers: digests.len(),
    })
}

fn bad_digest(reference: &ImageRef, digest: &str) -> RegistryError {
    RegistryError::Json {
        url: reference.to_string(),
        what: "the manifest",
        reason: format!("digest {digest:?} is not sha256: and 64 hex digits"),
    }
}
