//! From a tag to an image manifest: what to ask for, what came, and,
//! for an index, which of its images runs here.
//!
//! ```text
//! alpine:latest ─▶ index (one entry per platform)
//!                    └─ linux/amd64 ─▶ manifest ─▶ config   (how to run it)
//!                                                └▶ layers  (the files, bottom first)
//! ```
//!
//! Two families of formats name the same things: OCI's (image-spec) and
//! Docker's older "schema 2", which OCI's grew from: the JSON is the same
//! shape, only the media types differ. oci-spec's types read both.

use std::io::Read;

use oci_spec::image::{Descriptor, ImageIndex, ImageManifest, MediaType};

use crate::client::{Client, Deadline, SMALL_BODY_TIME};
use crate::error::{RegistryError, Result};
use crate::platform::Platform;
use crate::verify::{digest_of, hex_of};

// ANCHOR: accept
/// What we accept, in order of preference: the `Accept` header of a
/// manifest request. Without it a registry may answer with an old
/// schema 1 manifest, or refuse.
pub const ACCEPT: &str = "application/vnd.oci.image.index.v1+json, \
     application/vnd.docker.distribution.manifest.list.v2+json, \
     application/vnd.oci.image.manifest.v1+json, \
     application/vnd.docker.distribution.manifest.v2+json";
// ANCHOR_END: accept

/// Docker's name for an index ("manifest list").
const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
/// Docker's name for an image manifest ("schema 2").
const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";

/// The most a manifest or index may be: containerd's limit, 4 MiB (real
/// ones are a few KiB; a bigger one is an attack on our memory).
pub const MANIFEST_MAX: u64 = 4 << 20;

/// An image manifest, resolved from a reference.
#[derive(Debug)]
pub struct Resolved {
    /// The manifest.
    pub manifest: ImageManifest,
    /// The digest of what the reference named (the index, for a
    /// multi-platform tag): the "repo digest" that pins it.
    pub digest: String,
    /// The platform chosen, if the reference named an index.
    pub platform: Option<Platform>,
}

/// What a manifest request returned.
struct Fetched {
    bytes: Vec<u8>,
    media_type: String,
    digest: String,
}

// ANCHOR: resolve
/// Fetches `reference` (a tag or a digest) and, for an index, the
/// manifest for `platform` in it.
pub fn resolve(client: &Client, reference: &str, platform: &Platform) -> Result<Resolved> {
    let top = fetch(client, reference)?;
    // What the reference named (the index, for a multi-platform tag), as
    // Docker records it: it pins the image, on every platform.
    let digest = top.digest.clone();
    let (manifest, chosen) = match top.media_type.as_str() {
        t if t == MediaType::ImageIndex.to_string() || t == DOCKER_LIST => {
            let index = ImageIndex::from_reader(top.bytes.as_slice())
                .map_err(|err| json_error(client, reference, "the index", err))?;
            let entry = choose(&index, platform).ok_or_else(|| RegistryError::NoPlatform {
                reference: format!("{}:{reference}", client.repository),
                want: platform.to_string(),
                available: available(&index),
            })?;
            // Fetched by digest: what the index named, and nothing else
            // (a sha256 one, which fetch() checks).
            let named = entry.digest().to_string();
            if hex_of(&named).is_none() {
                let why = format!("digest {named:?} is not sha256");
                return Err(json_error(client, reference, "the index", why));
            }
            let inner = fetch(client, &named)?;
            if !is_manifest(&inner.media_type) {
                return Err(media_type_error(client, reference, &inner.media_type));
            }
            (inner, Some(platform.clone()))
        }
        t if is_manifest(t) => (top, None),
        other => return Err(media_type_error(client, reference, other)),
    };
    let parsed = ImageManifest::from_reader(manifest.bytes.as_slice())
        .map_err(|err| json_error(client, reference, "the manifest", err))?;
    Ok(Resolved {
        manifest: parsed,
        digest,
        platform: chosen,
    })
}
// ANCHOR_END: resolve

/// One manifest request: the bytes (at most [`MANIFEST_MAX`]), their
/// media type, and their digest, checked if we asked by digest.
fn fetch(client: &Client, reference: &str) -> Result<Fetched> {
    let path = format!("manifests/{reference}");
    let mut answer = client.get(&path, ACCEPT, "manifest")?;
    let header_type = answer
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .map(|t| t.split(';').next().unwrap_or(t).trim().to_string());
    let url = client.url(&path);
    let mut bytes = Vec::new();
    Deadline::new(answer.body_mut().as_reader(), SMALL_BODY_TIME)
        .take(MANIFEST_MAX + 1)
        .read_to_end(&mut bytes)
        .map_err(|err| RegistryError::Interrupted {
            url: url.clone(),
            reason: err.to_string(),
        })?;
    if bytes.len() as u64 > MANIFEST_MAX {
        return Err(RegistryError::TooLarge {
            url,
            what: "the manifest",
            limit: MANIFEST_MAX,
        });
    }
    let digest = digest_of(&bytes);
    // By tag, a registry could send anything; by digest, it must send
    // exactly those bytes (this is what makes `@sha256:` a pin).
    if reference.starts_with("sha256:") && digest != reference {
        return Err(RegistryError::Digest {
            what: "manifest",
            expected: reference.into(),
            got: digest,
        });
    }
    // The header, or the document's own `mediaType` field when a registry
    // sends a generic type.
    let media_type = match header_type {
        Some(t) if t.starts_with("application/vnd.") => t,
        _ => serde_json::from_slice::<serde_json::Value>(&bytes)
            .ok()
            .and_then(|v| v.get("mediaType")?.as_str().map(String::from))
            .unwrap_or_default(),
    };
    Ok(Fetched {
        bytes,
        media_type,
        digest,
    })
}

fn is_manifest(media_type: &str) -> bool {
    media_type == MediaType::ImageManifest.to_string() || media_type == DOCKER_MANIFEST
}

/// The index entry for `platform`: the first that fits, as Docker picks.
fn choose<'a>(index: &'a ImageIndex, platform: &Platform) -> Option<&'a Descriptor> {
    index
        .manifests()
        .iter()
        .find(|entry| entry_platform(entry).is_some_and(|p| platform.accepts(&p)))
}

/// An index entry's platform, in our terms (attestations have `unknown/unknown`).
fn entry_platform(entry: &Descriptor) -> Option<Platform> {
    let p = entry.platform().as_ref()?;
    Some(Platform {
        os: p.os().to_string(),
        architecture: p.architecture().to_string(),
        variant: p.variant().clone().unwrap_or_default(),
    })
}

/// The platforms an index offers, for the error message.
fn available(index: &ImageIndex) -> String {
    let list: Vec<String> = index
        .manifests()
        .iter()
        .filter_map(entry_platform)
        .filter(|p| p.os != "unknown")
        .map(|p| crate::error::printable(&p.to_string()))
        .collect();
    if list.is_empty() {
        "none".into()
    } else {
        list.join(", ")
    }
}

fn media_type_error(client: &Client, reference: &str, media_type: &str) -> RegistryError {
    RegistryError::MediaType {
        reference: format!("{}:{reference}", client.repository),
        media_type: media_type.into(),
    }
}

fn json_error(
    client: &Client,
    reference: &str,
    what: &'static str,
    err: impl ToString,
) -> RegistryError {
    RegistryError::Json {
        url: client.url(&format!("manifests/{reference}")),
        what,
        reason: err.to_string(),
    }
}
