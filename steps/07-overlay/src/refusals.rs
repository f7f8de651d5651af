//! What unpacking refuses, and why: each refusal names the entry and
//! says what to do.

/// What every refusal of a hostile entry adds.
const HOSTILE: &str = "an image's layer never writes outside itself: this tarball is \
                       broken or hostile, do not import it (`tar tvf FILE` lists it)";

/// An entry the unpacker refused, or a failure while writing.
#[derive(Debug, thiserror::Error)]
pub enum UnpackError {
    /// `/etc/x`
    #[error(
        "refused entry {0:?}: an absolute path would be written outside the layer\n  hint: {HOSTILE}"
    )]
    Absolute(String),
    /// `../x`
    /// (just above the layer being unpacked are the store's other layers)
    #[error("refused entry {0:?}: '..' would leave the layer\n  hint: {HOSTILE}")]
    Traversal(String),
    /// `link/x` where `link` is a symlink.
    /// The symlink is the tarball's own, made by an earlier entry.
    #[error(
        "refused entry {entry:?}: it would be written through the symlink {link:?} (-> {target:?})\n  \
         hint: {HOSTILE}"
    )]
    ThroughSymlink {
        entry: String,
        link: String,
        target: String,
    },
    /// A hard link to a file outside.
    /// It would be that file's very inode: a host file, in the layer.
    #[error(
        "refused entry {entry:?}: a hard link to {target:?}, which is not a file inside the layer\n  \
         hint: {HOSTILE}"
    )]
    HardLink { entry: String, target: String },
    /// The layer would grow past a limit (a tar or gzip bomb, or just a
    /// bigger image than the limits allow: the flags raise them).
    #[error("refused entry {entry:?}: {why}\n  hint: if the image is right, raise it with {flag}")]
    TooBig {
        entry: String,
        why: String,
        flag: &'static str,
    },
    /// Reading or writing failed.
    #[error(
        "unpacking {entry:?}: {}\n  hint: {}",
        with_causes(source),
        io_hint(source)
    )]
    Io {
        entry: String,
        source: std::io::Error,
    },
}

/// What to do about a failed read or write: a file that is not a tarball
/// fails to parse; a full disk or a read-only store fails to write.
fn io_hint(err: &std::io::Error) -> &'static str {
    use std::io::ErrorKind::*;
    match err.kind() {
        // ENOSPC and EDQUOT, as std names them.
        StorageFull | QuotaExceeded => {
            "the disk is full: free space, or import into another --state-dir"
        }
        // EACCES or EPERM, and EROFS.
        PermissionDenied | ReadOnlyFilesystem => "the state directory cannot be written here",
        // The rest is mostly the tar crate failing to parse: not a tarball,
        // or one cut short.
        _ => "is it a tar or tar.gz file? `tar tvf FILE` lists what it holds",
    }
}

/// An error and what caused it (the tar crate wraps the kernel's answer:
/// "failed to unpack `x`" alone would not say why).
fn with_causes(err: &std::io::Error) -> String {
    let mut text = err.to_string();
    let mut cause = std::error::Error::source(err);
    // Each level adds what the one above left out, down to the errno.
    while let Some(inner) = cause {
        text = format!("{text}: {inner}");
        cause = inner.source();
    }
    text
}
