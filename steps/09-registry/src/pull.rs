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
    let mut wanted = Vec::new();
    let mut digests = Vec::new();
    for layer in manifest.layers() {
        let hex = hex_of(layer.digest().as_ref())
            .ok_or_else(|| bad_digest(reference, layer.digest().as_ref()))?;
        let compression =
            Compression::of(layer.media_type()).ok_or_else(|| RegistryError::MediaType {
                reference: reference.to_string(),
                media_type: layer.media_type().to_string(),
            })?;
        if !store.layer(hex).is_dir() && !digests.contains(&hex.to_string()) {
            wanted.push(Wanted {
                descriptor: layer.clone(),
                compression,
            });
        }
        digests.push(hex.to_string());
    }
    let config_bytes = download::config(&client, config)?;
    let parsed = ImageConfiguration::from_reader(config_bytes.as_slice()).map_err(|err| {
        RegistryError::Json {
            url: format!(
                "{}{}/blobs/{}",
                client.base,
                client.repository,
                config.digest()
            ),
            what: "the image config",
            reason: err.to_string(),
        }
    })?;
    let made_for = Platform {
        os: parsed.os().to_string(),
        architecture: parsed.architecture().to_string(),
        variant: parsed.variant().clone().unwrap_or_default(),
    };
    if !Platform::host().accepts(&made_for) {
        client.note(format_args!(
            "this image is for {made_for}, this machine is {}: it will not run here without an emulator",
            Platform::host()
        ));
    }
    let already = digests.len() - wanted.len();
    if already > 0 {
        client.note(format_args!(
            "{already} of {} layers are in the store already",
            digests.len()
        ));
    }
    let bars = MultiProgress::new();
    download::layers(&client, &store, &wanted, &run, &bars)?;
    // Recorded last: until here no image names the new layers, and a
    // failed pull leaves only layers (whole ones) that `rmi` and the next
    // import sweep as unused.
    local.write_config(&id, &config_bytes, &run)?;
    store.record_image(
        &Image {
            name: id.clone(),
            layers: digests.clone(),
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
