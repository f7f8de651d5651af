//! A layer into the store: a tar stream unpacked beside its place, then
//! renamed into it. `import` streams from a file; step 09 streams from a
//! registry, checking the bytes against their digest as they come.

use std::fs::{self, File};
use std::io::{BufReader, Read, Seek};
use std::path::Path;

use crate::bombs::{RatioGuard, STREAM_RATIO, ratio_refusal};
use crate::store::{Result, Store, StoreError, io, progress};
use crate::unpack::{self, Counted, Limits, UnpackError, Unpacked};

/// Why [`Store::store_layer`] failed: the store, or the stream.
#[derive(Debug, thiserror::Error)]
pub enum LayerError {
    /// A file of the store.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The stream: refused by the unpacker, or failed as it was read.
    #[error(transparent)]
    Unpack(#[from] UnpackError),
}

/// The most bytes that may follow a tar archive's end (two zero blocks):
/// tar pads to 20 blocks of 512 bytes, 10 KiB; a little more is allowed.
const TRAILING_MAX: u64 = 64 << 10;

impl Store {
    /// Unpacks a tarball from a file (gzipped or not) into the store.
    pub(crate) fn unpack_layer(
        &self,
        tarball: &Path,
        layer: &Path,
        run: &str,
        limits: &Limits,
    ) -> Result<Unpacked> {
        let mut file = File::open(tarball).map_err(io("opening", tarball))?;
        let len = file.metadata().map(|m| m.len()).unwrap_or(0);
        let mut magic = [0u8; 2];
        // Every gzip file starts with 1f 8b (RFC 1952): sniffed from the
        // bytes, not guessed from the file's name.
        let gzip = file.read_exact(&mut magic).is_ok() && magic == [0x1f, 0x8b];
        // Back to the start: the reader below needs those two bytes too.
        file.rewind().map_err(io("reading", tarball))?;
        let bar = progress(len, "unpacking");
        // Compressed bytes read, for the ratio (a gzip bomb's tell).
        let read = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let reader = BufReader::new(Counted::new(bar.wrap_read(file), read.clone()));
        let result = if gzip {
            // Ungzipped as it is read: nothing uncompressed lands on disk but
            // the layer's own files.
            let gunzipped = flate2::read::GzDecoder::new(reader);
            self.store_layer(gunzipped, layer, run, limits, Some(&read), || Ok(()))
        } else {
            // No ratio for a plain tar: it unpacks to what it holds.
            self.store_layer(reader, layer, run, limits, None, || Ok(()))
        };
        bar.finish_and_clear();
        result.map_err(|err| match err {
            LayerError::Store(err) => err,
            LayerError::Unpack(source) => StoreError::Unpack {
                path: tarball.into(),
                source,
            },
        })
    }

    // ANCHOR: store_layer
    /// Unpacks the tar stream `tar` as the store's `layer`: into a
    /// temporary directory named after `run`, renamed into place at the
    /// end, so an interrupted unpack leaves no half layer behind.
    /// `compressed` counts the compressed bytes read, if `tar` is
    /// decompressed on the way (for the ratio). `finish` runs once the
    /// stream is read to its end, before the rename: whatever it refuses
    /// never enters the store.
    ///
    /// Any stream will do: `import` gives a file's, step 09 a registry's
    /// download, and checks in `finish` that its bytes were the ones the
    /// image names.
    pub fn store_layer(
        &self,
        tar: impl Read,
        layer: &Path,
        run: &str,
        limits: &Limits,
        compressed: Option<&std::sync::atomic::AtomicU64>,
        finish: impl FnOnce() -> std::io::Result<()>,
    ) -> std::result::Result<Unpacked, LayerError> {
        // The ratio judged as the bytes come, not only between entries.
        let tripped = std::cell::Cell::new(None);
        let mut tar: Box<dyn Read + '_> = match compressed {
            Some(counted) => {
                let ratio = limits.max_ratio.max(STREAM_RATIO);
                Box::new(RatioGuard::new(tar, counted, ratio, &tripped))
            }
            None => Box::new(tar),
        };
        let parent = layer.parent().expect("layers/ is a directory");
        // Mode 0700, as images/: a container reaches its layers through the
        // overlay, never by this path.
        step01_chroot::state::private_dir(&self.root, "layers").map_err(io("creating", parent))?;
        // Next to its final place, in layers/: rename(2) works only within one
        // file system (EXDEV), and there it is one step. Named after the run
        // (for the sweep) and the layer (a run may unpack several at once).
        let name = layer.file_name().unwrap_or_default().to_string_lossy();
        let tmp = parent.join(format!(".unpacking-{run}-{}", &name[..name.len().min(12)]));
        fs::create_dir(&tmp).map_err(io("creating", &tmp))?;
        let result = unpack::unpack(&mut tar, &tmp, limits, compressed).and_then(|done| {
            // Read to the end: a tar archive ends before its stream does (the
            // padding to a 10 KiB record, a gzip's checksum in its last eight
            // bytes), and a stream checked against a digest is known good only
            // at its end. Bounded: what trails an archive is padding, not data.
            let trailing =
                std::io::copy(&mut (&mut tar).take(TRAILING_MAX + 1), &mut std::io::sink())
                    .map_err(|source| UnpackError::Io {
                        entry: "the end of the archive".into(),
                        source,
                    })?;
            if trailing > TRAILING_MAX {
                return Err(UnpackError::Io {
                    entry: "the end of the archive".into(),
                    source: std::io::Error::other(format!(
                        "more than {TRAILING_MAX} bytes follow the archive's end"
                    )),
                });
            }
            finish().map_err(|source| UnpackError::Io {
                entry: "the whole stream".into(),
                source,
            })?;
            Ok(done)
        });
        match result {
            Ok(done) => match fs::rename(&tmp, layer) {
                // The layer appears under its digest whole, or not at all.
                Ok(()) => Ok(done),
                // Another run stored the same bytes first (the name is their
                // digest): kept once.
                Err(_) if layer.is_dir() => {
                    let _ = fs::remove_dir_all(&tmp);
                    Ok(done)
                }
                Err(err) => {
                    let _ = fs::remove_dir_all(&tmp);
                    Err(io("storing", layer)(err).into())
                }
            },
            // A refused layer leaves nothing: its temporary directory goes,
            // and no image names it.
            Err(source) => {
                let _ = fs::remove_dir_all(&tmp);
                Err(LayerError::Unpack(
                    ratio_refusal(&tripped).unwrap_or(source),
                ))
            }
        }
    }
    // ANCHOR_END: store_layer
}
