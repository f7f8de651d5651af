//! OCI image layouts, written in Rust: the directory format skopeo reads
//! with `oci:DIR:TAG` and pushes to a registry.
//!
//! A layout (<https://github.com/opencontainers/image-spec/blob/main/image-layout.md>)
//! is content-addressed storage plus one entry point:
//!
//! ```text
//! oci-layout            {"imageLayoutVersion": "1.0.0"}
//! index.json            an image index: which manifests, under which tag
//! blobs/sha256/HEX      every blob (layer, config, manifest, index) by digest
//! ```
//!
//! An image is a manifest (image-spec `manifest.md`) naming a config
//! (`config.md`) and layers; an index (`image-index.md`) names manifests,
//! one per platform. Everything points at everything else by digest and
//! size (a *descriptor*, `descriptor.md`), so the whole graph is checked
//! from the top digest down: that is what a pull verifies.

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::config::{ImageConfig, Platform};

/// Media types (image-spec `media-types.md`).
pub mod media_type {
    /// An image manifest.
    pub const MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
    /// An image index (a list of manifests, one per platform).
    pub const INDEX: &str = "application/vnd.oci.image.index.v1+json";
    /// An image config.
    pub const CONFIG: &str = "application/vnd.oci.image.config.v1+json";
    /// A layer: a gzipped tar.
    pub const LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
    /// A layer: a tar, not compressed.
    pub const LAYER_TAR: &str = "application/vnd.oci.image.layer.v1.tar";
    /// A layer: a zstd-compressed tar.
    pub const LAYER_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";
}

/// The annotation that names a manifest in a layout's `index.json`: what
/// `oci:DIR:TAG` looks for (image-spec `annotations.md`).
pub const REF_NAME: &str = "org.opencontainers.image.ref.name";

/// `sha256:HEX` of `bytes`: a blob's name everywhere in OCI.
pub fn sha256_digest(bytes: &[u8]) -> String {
    format!("sha256:{:x}", Sha256::digest(bytes))
}

/// What points at a blob: its media type, digest and size.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Descriptor {
    /// `application/vnd.oci.image.layer.v1.tar+gzip`, ...
    pub media_type: String,
    /// `sha256:HEX` of the blob's bytes.
    pub digest: String,
    /// The blob's length in bytes.
    pub size: u64,
    /// For a manifest in an index: which platform it is for.
    pub platform: Option<Platform>,
}

impl Descriptor {
    /// The descriptor as JSON, as a manifest or index embeds it.
    pub fn to_json(&self) -> Value {
        let mut descriptor = json!({
            "mediaType": self.media_type,
            "digest": self.digest,
            "size": self.size,
        });
        if let Some(platform) = &self.platform {
            descriptor["platform"] = platform.to_json();
        }
        descriptor
    }

    /// The hex part of the digest.
    pub fn hex(&self) -> &str {
        self.digest.trim_start_matches("sha256:")
    }
}

/// A layer in a layout: the blob, and the digest of its *uncompressed* tar
/// (the config's `rootfs.diff_ids`, which is what the layer is once
/// unpacked, whatever compression carried it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Layer {
    /// The blob as stored and pulled.
    pub descriptor: Descriptor,
    /// `sha256:` of the uncompressed tar.
    pub diff_id: String,
}

/// An image stored in a layout: its manifest, its config and its layers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Image {
    /// The manifest (with the config's platform, as an index lists it).
    pub manifest: Descriptor,
    /// The config blob.
    pub config: Descriptor,
    /// The layers, bottom first.
    pub layers: Vec<Layer>,
}

/// An OCI image layout being written in a directory.
#[derive(Debug)]
pub struct Layout {
    dir: PathBuf,
    /// The entries of `index.json`: (descriptor, tag).
    tagged: Vec<(Descriptor, String)>,
}

impl Layout {
    /// Starts a layout in `dir` (made if missing): `oci-layout` and an
    /// empty `index.json`.
    pub fn new(dir: &Path) -> Self {
        let blobs = dir.join("blobs/sha256");
        fs::create_dir_all(&blobs).unwrap_or_else(|e| panic!("create {}: {e}", blobs.display()));
        write(
            &dir.join("oci-layout"),
            br#"{"imageLayoutVersion":"1.0.0"}"#,
        );
        let layout = Layout {
            dir: dir.to_path_buf(),
            tagged: Vec::new(),
        };
        layout.write_index();
        layout
    }

    /// The layout's directory (for `oci:DIR:TAG`).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Stores `bytes` as a blob of `media_type`.
    pub fn add_blob(&mut self, bytes: &[u8], media_type: &str) -> Descriptor {
        let descriptor = Descriptor {
            media_type: media_type.into(),
            digest: sha256_digest(bytes),
            size: bytes.len() as u64,
            platform: None,
        };
        write(&self.blob_path(&descriptor.digest), bytes);
        descriptor
    }

    /// Where the blob `sha256:HEX` is.
    pub fn blob_path(&self, digest: &str) -> PathBuf {
        self.dir
            .join("blobs/sha256")
            .join(digest.trim_start_matches("sha256:"))
    }

    /// Stores a gzipped tar as a layer (its diff id is the digest of what
    /// it unzips to).
    pub fn add_layer(&mut self, tar_gz: &[u8]) -> Layer {
        let mut tar = Vec::new();
        flate2::read::GzDecoder::new(tar_gz)
            .read_to_end(&mut tar)
            .expect("a layer is a gzipped tar");
        Layer {
            descriptor: self.add_blob(tar_gz, media_type::LAYER_GZIP),
            diff_id: sha256_digest(&tar),
        }
    }

    /// Stores a plain tar as a layer: its blob is its diff id. (skopeo's
    /// `--dest-compress-format` compresses such a layer on the way.)
    pub fn add_tar_layer(&mut self, tar: &[u8]) -> Layer {
        let descriptor = self.add_blob(tar, media_type::LAYER_TAR);
        Layer {
            diff_id: descriptor.digest.clone(),
            descriptor,
        }
    }

    /// Stores `config` for `layers`, and the manifest that names them.
    pub fn add_image(&mut self, config: &ImageConfig, layers: &[Layer]) -> Image {
        let config_blob = to_bytes(&config.to_json(layers));
        let config_descriptor = self.add_blob(&config_blob, media_type::CONFIG);
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": media_type::MANIFEST,
            "config": config_descriptor.to_json(),
            "layers": layers.iter().map(|l| l.descriptor.to_json()).collect::<Vec<_>>(),
        });
        let mut descriptor = self.add_blob(&to_bytes(&manifest), media_type::MANIFEST);
        descriptor.platform = Some(config.platform.clone());
        Image {
            manifest: descriptor,
            config: config_descriptor,
            layers: layers.to_vec(),
        }
    }

    /// Stores an image index of `manifests` (each with its platform).
    pub fn add_index(&mut self, manifests: &[Descriptor]) -> Descriptor {
        let index = json!({
            "schemaVersion": 2,
            "mediaType": media_type::INDEX,
            "manifests": manifests.iter().map(Descriptor::to_json).collect::<Vec<_>>(),
        });
        self.add_blob(&to_bytes(&index), media_type::INDEX)
    }

    /// Names `descriptor` (a manifest or an index) `tag` in `index.json`,
    /// replacing what had that tag.
    pub fn tag(&mut self, tag: &str, descriptor: &Descriptor) {
        self.tagged.retain(|(_, t)| t != tag);
        // The top-level index lists what the layout holds, not platforms.
        let descriptor = Descriptor {
            platform: None,
            ..descriptor.clone()
        };
        self.tagged.push((descriptor, tag.to_string()));
        self.write_index();
    }

    /// Reads a blob back as JSON (a manifest, config or index).
    pub fn read_json(&self, digest: &str) -> Value {
        let path = self.blob_path(digest);
        let bytes = fs::read(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
        serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    fn write_index(&self) {
        let manifests: Vec<Value> = self
            .tagged
            .iter()
            .map(|(descriptor, tag)| {
                let mut entry = descriptor.to_json();
                entry["annotations"] = json!({ REF_NAME: tag });
                entry
            })
            .collect();
        let index = json!({
            "schemaVersion": 2,
            "mediaType": media_type::INDEX,
            "manifests": manifests,
        });
        write(&self.dir.join("index.json"), &to_bytes(&index));
    }
}

/// Compact JSON. Its bytes are what the digest covers: serde_json writes
/// an object's keys in one fixed order (sorted; or as inserted, should a
/// crate turn on its `preserve_order`), so building the same image twice
/// gives the same digests.
fn to_bytes(value: &Value) -> Vec<u8> {
    serde_json::to_vec(value).expect("JSON values serialize")
}

fn write(path: &Path, bytes: &[u8]) {
    fs::write(path, bytes).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}
