//! Content addressing: a blob's name is the sha256 of its bytes, so the
//! bytes can be checked against the name as they arrive, from whatever
//! registry, mirror or proxy they came through.
//!
//! [`Verified`] hashes what is read through it and, at the end of the
//! stream, compares: a wrong byte anywhere, one byte too many or too few,
//! and the last read fails. Whoever reads (step 07's unpacker) stops
//! there, and what it unpacked is thrown away.

use std::cell::RefCell;
use std::io::{self, Read};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use sha2::{Digest, Sha256};

/// What went wrong with the bytes, kept for the error message: the
/// unpacker sees only an `io::Error`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Mismatch {
    /// More bytes than the descriptor's size.
    TooLong { size: u64 },
    /// The stream ended early.
    TooShort { size: u64, got: u64 },
    /// The right length, the wrong bytes.
    Digest { got: String },
}

/// A reader that checks what passes through it against `digest` and `size`.
pub struct Verified<R> {
    inner: R,
    hasher: Sha256,
    read: u64,
    size: u64,
    digest: String,
    /// Set when the check fails; shared, so the caller learns why after
    /// the reader has been handed away.
    pub failed: Arc<Mutex<Option<Mismatch>>>,
    /// Set when the end was reached and every byte matched: what the
    /// caller checks before it keeps anything made from them.
    pub good: Arc<AtomicBool>,
}

impl<R: Read> Verified<R> {
    /// Checks `inner` against `digest` (`sha256:` and 64 hex digits) and
    /// `size`, both from the manifest.
    pub fn new(inner: R, digest: &str, size: u64) -> Self {
        Verified {
            inner,
            hasher: Sha256::new(),
            read: 0,
            size,
            digest: digest.to_string(),
            failed: Arc::new(Mutex::new(None)),
            good: Arc::new(AtomicBool::new(false)),
        }
    }

    fn fail(&self, why: Mismatch) -> io::Error {
        let text = format!("{why:?}");
        *self.failed.lock().expect("not poisoned") = Some(why);
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{}: {text}", self.digest),
        )
    }
}

// ANCHOR: read
impl<R: Read> Read for Verified<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        // Never more than one byte past the size: a registry that sends
        // gigabytes more than the manifest promised is stopped at once.
        let room = (self.size.saturating_add(1) - self.read).min(buf.len() as u64) as usize;
        let n = self.inner.read(&mut buf[..room])?;
        self.read += n as u64;
        if self.read > self.size {
            return Err(self.fail(Mismatch::TooLong { size: self.size }));
        }
        self.hasher.update(&buf[..n]);
        if n == 0 && !buf.is_empty() {
            // The end: now, and only now, is the blob known good.
            if self.read < self.size {
                return Err(self.fail(Mismatch::TooShort {
                    size: self.size,
                    got: self.read,
                }));
            }
            let got = format!("sha256:{:x}", self.hasher.clone().finalize());
            if got != self.digest {
                return Err(self.fail(Mismatch::Digest { got }));
            }
            self.good.store(true, Ordering::SeqCst);
        }
        Ok(n)
    }
}
// ANCHOR_END: read

/// Hashes what is read through it: for a layer, its *uncompressed* bytes,
/// whose digest (the "diff_id") the image's config lists. The digest is in
/// `digest` once the end is read.
pub struct Digesting<R> {
    inner: R,
    hasher: Sha256,
    /// `sha256:…` of all that was read, once the end was.
    pub digest: Rc<RefCell<Option<String>>>,
}

impl<R: Read> Digesting<R> {
    /// Hashes what is read from `inner`.
    pub fn new(inner: R) -> Self {
        Digesting {
            inner,
            hasher: Sha256::new(),
            digest: Rc::new(RefCell::new(None)),
        }
    }
}

impl<R: Read> Read for Digesting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        if n == 0 && !buf.is_empty() {
            let digest = format!("sha256:{:x}", self.hasher.clone().finalize());
            *self.digest.borrow_mut() = Some(digest);
        }
        Ok(n)
    }
}

/// A reader shared between the chain that reads it and its owner, who
/// may read on after the chain is gone (to the end, for the verdict).
pub struct Shared<R>(pub Rc<RefCell<R>>);

impl<R: Read> Read for Shared<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.borrow_mut().read(buf)
    }
}

/// The sha256 digest of `bytes`, as registries write it.
pub fn digest_of(bytes: &[u8]) -> String {
    format!("sha256:{:x}", Sha256::digest(bytes))
}

/// The hex part of `sha256:HEX`, checked to be 64 lowercase hex digits:
/// it becomes a directory name in the store, so nothing else may pass.
pub fn hex_of(digest: &str) -> Option<&str> {
    let hex = digest.strip_prefix("sha256:")?;
    (hex.len() == 64
        && hex
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
    .then_some(hex)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all(bytes: &[u8], digest: &str, size: u64) -> (io::Result<Vec<u8>>, Option<Mismatch>) {
        let mut reader = Verified::new(bytes, digest, size);
        let failed = reader.failed.clone();
        let mut out = Vec::new();
        let result = reader.read_to_end(&mut out).map(|_| out);
        let why = failed.lock().unwrap().clone();
        (result, why)
    }

    #[test]
    fn a_size_no_blob_can_have_does_not_overflow() {
        let data = b"x";
        let (result, _) = read_all(data, &digest_of(data), u64::MAX);
        assert!(result.is_err(), "too short");
    }

    #[test]
    fn digesting_gives_the_digest_at_the_end() {
        let mut reader = Digesting::new(&b"layer"[..]);
        let digest = reader.digest.clone();
        let mut out = Vec::new();
        reader.read_to_end(&mut out).unwrap();
        assert_eq!(
            digest.borrow().as_deref(),
            Some(digest_of(b"layer").as_str())
        );
    }

    #[test]
    fn the_right_bytes_pass() {
        let data = b"hello, layer";
        let (result, why) = read_all(data, &digest_of(data), data.len() as u64);
        assert_eq!(result.unwrap(), data);
        assert_eq!(why, None);
    }

    #[test]
    fn one_wrong_byte_fails_at_the_end() {
        let data = b"hello, layer";
        let (result, why) = read_all(b"hello, lazer", &digest_of(data), data.len() as u64);
        assert!(result.is_err());
        assert!(matches!(why, Some(Mismatch::Digest { .. })));
    }

    #[test]
    fn too_long_and_too_short_fail() {
        let data = b"hello, layer";
        let (result, why) = read_all(data, &digest_of(data), 5);
        assert!(result.is_err());
        assert_eq!(why, Some(Mismatch::TooLong { size: 5 }));
        let (result, why) = read_all(&data[..5], &digest_of(data), data.len() as u64);
        assert!(result.is_err());
        assert_eq!(why, Some(Mismatch::TooShort { size: 12, got: 5 }));
    }

    #[test]
    fn only_plain_sha256_hex_names_a_blob() {
        let hex = "a".repeat(64);
        assert_eq!(hex_of(&format!("sha256:{hex}")), Some(hex.as_str()));
        for bad in [
            "sha256:../../etc",
            "sha512:aa",
            &format!("sha256:{}", "A".repeat(64)),
        ] {
            assert_eq!(hex_of(bad), None, "{bad}");
        }
    }
}
