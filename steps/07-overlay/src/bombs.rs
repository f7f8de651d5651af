//! An import's limits: how big a layer may grow, how many entries it may
//! have, and how much a compressed byte may unpack to.
//!
//! A tarball can be small and unpack to anything: a gzip of zeros shrinks
//! about 1000 to 1 (a "gzip bomb"), and a tar of a million empty files is
//! tiny and fills the inode table. So unpacking counts as it goes, and
//! stops at the first entry that would pass a limit, naming it and the flag
//! that raises the limit (for an image that really is that big).

use std::io::Read;

use crate::refusals::UnpackError;

/// How far a layer may go. A tarball is small on the wire and may be huge
/// unpacked (a gzip of zeros shrinks about a thousand times), or hold
/// millions of empty files: each limit is checked before the entry that
/// would pass it is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Bytes of file content, in all.
    pub max_bytes: u64,
    /// Entries, in all.
    pub max_entries: u64,
    /// Unpacked bytes for each compressed byte read (for gzip).
    pub max_ratio: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_bytes: 8 << 30,
            max_entries: 1_000_000,
            max_ratio: 100,
        }
    }
}

/// Counts the bytes read through it: the compressed size, for the ratio.
#[derive(Debug)]
pub struct Counted<R> {
    inner: R,
    read: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl<R> Counted<R> {
    /// `inner`, counted into `read`.
    pub fn new(inner: R, read: std::sync::Arc<std::sync::atomic::AtomicU64>) -> Self {
        Counted { inner, read }
    }
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read
            .fetch_add(n as u64, std::sync::atomic::Ordering::Relaxed);
        Ok(n)
    }
}

/// Refuses entry `name` of `size` bytes if it would pass a limit, given
/// what was unpacked so far and `compressed` bytes read (None: not
/// compressed).
pub(crate) fn check_limits(
    limits: &Limits,
    name: &str,
    size: u64,
    so_far: (u64, u64),
    compressed: Option<u64>,
) -> Result<(), UnpackError> {
    let (entries, bytes) = so_far;
    let refuse = |why: String, flag| UnpackError::TooBig {
        entry: name.into(),
        why,
        flag,
    };
    if entries + 1 > limits.max_entries {
        return Err(refuse(
            format!("more than {} entries", limits.max_entries),
            "--max-entries N",
        ));
    }
    let total = bytes.saturating_add(size);
    if total > limits.max_bytes {
        return Err(refuse(
            format!("the layer would pass {} bytes unpacked", limits.max_bytes),
            "--max-size SIZE",
        ));
    }
    // Judged on what was unpacked so far (the entry ahead of us is not read
    // yet, so its size says nothing of how well it compresses; one entry
    // alone is bounded by the size limit), once there is enough to judge by
    // (1 MiB): tiny layers compress well, and harmlessly.
    if let Some(compressed) = compressed
        && bytes > 1 << 20
        && bytes > compressed.max(1).saturating_mul(limits.max_ratio)
    {
        return Err(refuse(
            format!(
                "{bytes} bytes unpacked from {compressed} compressed: more than {} to 1 \
                 (a gzip bomb?)",
                limits.max_ratio
            ),
            "--max-ratio N",
        ));
    }
    Ok(())
}

/// The ratio on the stream itself, at [`STREAM_RATIO`] to 1 (or the
/// limit, if higher): the check above runs between entries, and one entry
/// (a huge file, or a GNU long name, which the tar crate reads whole into
/// memory before we see the entry) would pass it unjudged. This one fails
/// the read as soon as the bytes coming out pass the ratio (after the
/// first MiB), and says why in `tripped` (the error that reaches the
/// caller is the tar reader's, which may have wrapped ours).
///
/// Not `max_ratio` itself: tar headers count here, and a layer of many
/// empty files, or one file of zeros, is a real image's. No gzip stream
/// passes 1100 to 1 (deflate's most is about 1032); a zstd bomb does.
pub const STREAM_RATIO: u64 = 1100;

/// A decompressed stream, judged as it is read (see [`STREAM_RATIO`]).
pub struct RatioGuard<'a, R> {
    inner: R,
    out: u64,
    compressed: &'a std::sync::atomic::AtomicU64,
    max_ratio: u64,
    tripped: &'a std::cell::Cell<Option<String>>,
}

impl<'a, R> RatioGuard<'a, R> {
    /// `inner` (a decompressed stream), judged against `compressed`.
    pub fn new(
        inner: R,
        compressed: &'a std::sync::atomic::AtomicU64,
        max_ratio: u64,
        tripped: &'a std::cell::Cell<Option<String>>,
    ) -> Self {
        RatioGuard {
            inner,
            out: 0,
            compressed,
            max_ratio,
            tripped,
        }
    }
}

/// The refusal a [`RatioGuard`] noted in `tripped`, if it tripped.
pub fn ratio_refusal(tripped: &std::cell::Cell<Option<String>>) -> Option<UnpackError> {
    tripped.take().map(|why| UnpackError::TooBig {
        entry: "the archive".into(),
        why,
        flag: "--max-ratio N",
    })
}

impl<R: Read> Read for RatioGuard<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.out += n as u64;
        let compressed = self.compressed.load(std::sync::atomic::Ordering::Relaxed);
        if self.out > 1 << 20 && self.out > compressed.max(1).saturating_mul(self.max_ratio) {
            let why = format!(
                "{} bytes unpacked from {compressed} compressed: more than {} to 1 (a gzip bomb?)",
                self.out, self.max_ratio
            );
            self.tripped.set(Some(why.clone()));
            return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, why));
        }
        Ok(n)
    }
}
