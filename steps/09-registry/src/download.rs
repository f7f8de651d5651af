//! The blobs of one image: its config, read whole, and its layers,
//! streamed from the registry through the digest check and the
//! decompressor into step 07's unpacker, several at once.
//!
//! ```text
//! HTTP body ─▶ Verified (sha256, size) ─▶ gzip / zstd ─▶ tar ─▶ layers/.unpacking-RUN-… ─▶ layers/HEX
//!                  └─ a mismatch at the end: the unpacked files are thrown away
//! ```
//!
//! Nothing is written to disk but the layer's own files: no tarball is
//! kept, so a pull needs the space of the image once, not twice.

use std::cell::RefCell;
use std::io::{BufReader, Read};
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use step07_overlay::refusals::UnpackError;

use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use oci_spec::image::{Descriptor, MediaType};
use step07_overlay::bombs::Counted;
use step07_overlay::store::Store;
use step07_overlay::store_layer::LayerError;
use step07_overlay::unpack::Limits;

use crate::client::{Client, Deadline, SMALL_BODY_TIME};
use crate::error::{RegistryError, Result};
use crate::verify::{Digesting, Mismatch, Shared, Verified, digest_of, hex_of};

/// The most a config may be (real ones: a few KiB; containerd allows 4 MiB,
/// image history can be long).
pub const CONFIG_MAX: u64 = 8 << 20;

/// How many layers download at once: Docker's default (its
/// `max-concurrent-downloads` is 3): more rarely helps one registry.
pub const PARALLEL: usize = 3;

/// How a layer is compressed, from its media type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compression {
    /// A plain tar.
    None,
    /// gzip (RFC 1952): nearly every image.
    Gzip,
    /// zstd (RFC 8878): newer images; faster to unpack.
    Zstd,
}

impl Compression {
    /// From a layer's media type, OCI's or Docker's; `None` for what is
    /// not a layer we can unpack (a "foreign" layer of a Windows image,
    /// an artifact).
    pub fn of(media_type: &MediaType) -> Option<Self> {
        match media_type {
            MediaType::ImageLayer => Some(Compression::None),
            MediaType::ImageLayerGzip => Some(Compression::Gzip),
            MediaType::ImageLayerZstd => Some(Compression::Zstd),
            MediaType::Other(t) => match t.as_str() {
                "application/vnd.docker.image.rootfs.diff.tar.gzip" => Some(Compression::Gzip),
                "application/vnd.docker.image.rootfs.diff.tar" => Some(Compression::None),
                _ => None,
            },
            _ => None,
        }
    }
}

/// Fetches the config blob whole (it is small), checked against its digest.
pub fn config(client: &Client, descriptor: &Descriptor) -> Result<Vec<u8>> {
    let digest = descriptor.digest().to_string();
    let url = client.url(&format!("blobs/{digest}"));
    if descriptor.size() > CONFIG_MAX {
        return Err(RegistryError::TooLarge {
            url,
            what: "the image config",
            limit: CONFIG_MAX,
        });
    }
    let mut answer = client.get(&format!("blobs/{digest}"), "*/*", "config blob")?;
    let mut bytes = Vec::new();
    let body = Deadline::new(answer.body_mut().as_reader(), SMALL_BODY_TIME);
    let mut reader = Verified::new(body, &digest, descriptor.size());
    let failed = reader.failed.clone();
    if let Err(err) = reader.read_to_end(&mut bytes) {
        return Err(match failed.lock().expect("not poisoned").take() {
            Some(why) => mismatch("config", &digest, why),
            None => RegistryError::Interrupted {
                url,
                reason: err.to_string(),
            },
        });
    }
    debug_assert_eq!(digest_of(&bytes), digest);
    Ok(bytes)
}

/// One layer to fetch.
pub struct Wanted {
    /// Its descriptor in the manifest.
    pub descriptor: Descriptor,
    /// How it is compressed.
    pub compression: Compression,
    /// The digest of its uncompressed tar, as the config lists it.
    pub diff_id: String,
}

/// Fetches `layers` into `store`, [`PARALLEL`] at a time, each shown as a
/// progress bar on `bars`. The first failure stops the others from
/// starting; those under way finish or fail on their own.
pub fn layers(
    client: &Client,
    store: &Store,
    layers: &[Wanted],
    run: &str,
    limits: &Limits,
    bars: &MultiProgress,
) -> Result<()> {
    let next = AtomicUsize::new(0);
    let failed = std::sync::Mutex::new(None);
    std::thread::scope(|scope| {
        for _ in 0..PARALLEL.min(layers.len()) {
            scope.spawn(|| {
                loop {
                    if failed.lock().expect("not poisoned").is_some() {
                        return;
                    }
                    let Some(wanted) = layers.get(next.fetch_add(1, Ordering::SeqCst)) else {
                        return;
                    };
                    if let Err(err) = layer(client, store, wanted, run, limits, bars) {
                        failed.lock().expect("not poisoned").get_or_insert(err);
                        return;
                    }
                }
            });
        }
    });
    match failed.into_inner().expect("not poisoned") {
        Some(err) => Err(err),
        None => Ok(()),
    }
}

// ANCHOR: layer
/// Fetches one layer, unpacking it as it streams: checked against its
/// digest (the compressed bytes) and its diff_id (the tar), both before it
/// is renamed into the store.
fn layer(
    client: &Client,
    store: &Store,
    wanted: &Wanted,
    run: &str,
    limits: &Limits,
    bars: &MultiProgress,
) -> Result<()> {
    let digest = wanted.descriptor.digest().to_string();
    let size = wanted.descriptor.size();
    let hex = hex_of(&digest).expect("checked before the pull began");
    // Stored under its diff_id (pull.rs says why).
    let name = hex_of(&wanted.diff_id).expect("checked before the pull began");
    let mut answer = client.get(&format!("blobs/{digest}"), "*/*", "layer blob")?;
    let bar = bars.add(ProgressBar::new(size));
    bar.set_style(
        ProgressStyle::with_template("{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec}")
            .expect("a valid template")
            .progress_chars("=> "),
    );
    bar.set_message(hex[..12].to_string());
    let verified = Verified::new(bar.wrap_read(answer.body_mut().as_reader()), &digest, size);
    let (failed, good) = (verified.failed.clone(), verified.good.clone());
    // Kept here too: if the unpacker stops early (wrong bytes often make a
    // broken archive), the rest is read for the digest's verdict.
    let verified = Rc::new(RefCell::new(verified));
    // Compressed bytes read, for step 07's ratio check (a zip bomb's tell).
    let read = Arc::new(AtomicU64::new(0));
    let counted = BufReader::with_capacity(
        1 << 16,
        Counted::new(Shared(verified.clone()), read.clone()),
    );
    // Decompressed to the very end of the input: MultiGzDecoder reads on
    // after a gzip member (a plain GzDecoder stops at its trailer, and the
    // digest check, which happens at the end, would never come).
    let tar: Box<dyn Read> = match wanted.compression {
        Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(counted)),
        Compression::Zstd => Box::new(zstd::stream::read::Decoder::with_buffer(counted).map_err(
            |source| RegistryError::Layer {
                url: client.url(&format!("blobs/{digest}")),
                source: UnpackError::Io {
                    entry: "the zstd stream".into(),
                    source,
                },
            },
        )?),
        Compression::None => Box::new(counted),
    };
    let tar = Digesting::new(tar);
    let diff_id = tar.digest.clone();
    let wrong_diff_id = std::cell::Cell::new(None);
    // Run at the end of the stream, before the rename: only bytes that are
    // what the manifest and the config say enter the store.
    let finish = || {
        let got = diff_id.borrow().clone().unwrap_or_default();
        if !good.load(Ordering::SeqCst) || got != wanted.diff_id {
            wrong_diff_id.set(Some(got));
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "not the image's bytes",
            ));
        }
        Ok(())
    };
    let compressed = (wanted.compression != Compression::None).then_some(&*read);
    let result = store.store_layer(tar, &store.layer(name), run, limits, compressed, finish);
    bar.finish_and_clear();
    let done = match result {
        Ok(done) => done,
        Err(err) => {
            // Refused for itself (a limit), or the store failed: the bytes
            // do not matter, and are not fetched to the end.
            let refused = matches!(
                err,
                LayerError::Store(_) | LayerError::Unpack(UnpackError::TooBig { .. })
            );
            if !refused
                && failed.lock().expect("not poisoned").is_none()
                && !good.load(Ordering::SeqCst)
            {
                // To the end (at most the size the manifest gave): were
                // these the image's bytes at all?
                let _ = std::io::copy(&mut Shared(verified), &mut std::io::sink());
            }
            return Err(
                if let Some(why) = failed.lock().expect("not poisoned").take() {
                    // The bytes were wrong: say so, whatever the unpacker made of them.
                    mismatch("layer", &digest, why)
                } else if let Some(got) = wrong_diff_id.take() {
                    RegistryError::Digest {
                        what: "layer (uncompressed)",
                        expected: wanted.diff_id.clone(),
                        got: format!("the tar hashes to {got}, not the diff_id the config lists"),
                    }
                } else {
                    match err {
                        LayerError::Store(err) => RegistryError::Store(err),
                        LayerError::Unpack(source) => RegistryError::Layer {
                            url: client.url(&format!("blobs/{digest}")),
                            source,
                        },
                    }
                },
            );
        }
    };
    bars.suspend(|| {
        // As step 07's import says it.
        client.note(format_args!(
            "layer {}: {} bytes; unpacked {} entries ({} whiteouts, {} opaque directories)",
            &hex[..12],
            size,
            done.entries,
            done.whiteouts,
            done.opaque
        ))
    });
    Ok(())
}
// ANCHOR_END: layer

/// The error for bytes that are not what their digest says.
fn mismatch(what: &'static str, digest: &str, why: Mismatch) -> RegistryError {
    let got = match why {
        Mismatch::Digest { got } => format!("the bytes received hash to {got}"),
        Mismatch::TooLong { size } => format!("more bytes came than the {size} the manifest says"),
        Mismatch::TooShort { size, got } => {
            format!("the stream ended after {got} bytes, not the {size} the manifest says")
        }
    };
    RegistryError::Digest {
        what,
        expected: digest.into(),
        got,
    }
}
