//! What can go wrong in a pull, each with the reference or URL it
//! concerns and what to do about it.

use std::path::PathBuf;

/// Why a pull, or a look-up in the local images, failed.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// A reference that does not parse.
    #[error(transparent)]
    Reference(#[from] crate::reference::ReferenceError),
    /// No connection.
    #[error("{url}: cannot reach the registry: {reason}\n  hint: check the name and port, and that the registry is running{}", if url.starts_with("https://registry-1.docker.io") { " (Docker Hub needs internet)" } else { "" })]
    Unreachable { url: String, reason: String },
    /// The answer broke off (the connection, or a read timed out).
    #[error(
        "{url}: the answer broke off: {reason}\n  hint: try again; a registry that stops sending is given 30 s per read"
    )]
    Interrupted { url: String, reason: String },
    /// A token realm on plain HTTP on another machine, with a password to send.
    #[error(
        "the registry's token server {0} is plain HTTP on another machine: the password is not sent there\n  hint: pull without --username, or from a registry whose token server uses https"
    )]
    PlainRealm(String),
    /// 401 after the credentials (or anonymous token) were tried.
    #[error("{reference}: the registry refused {who} (401 Unauthorized)\n  hint: {hint}")]
    Unauthorized {
        reference: String,
        who: &'static str,
        hint: &'static str,
    },
    /// No such repository, tag or digest.
    #[error(
        "{reference}: {what} not found in the registry\n  hint: check the name and tag (the registry's tag list: {base}{repository}/tags/list)"
    )]
    NotFound {
        reference: String,
        what: &'static str,
        base: String,
        repository: String,
    },
    /// Any other answer than the one expected.
    #[error(
        "{url}: the registry answered {status}{message}\n  hint: try again; if it repeats, the registry has a problem"
    )]
    Status {
        url: String,
        status: u16,
        message: String,
    },
    /// A manifest, index or config bigger than anyone makes one.
    #[error(
        "{url}: {what} is larger than {limit} bytes: refused\n  hint: this is not an image a registry should serve; check the reference"
    )]
    TooLarge {
        url: String,
        what: &'static str,
        limit: u64,
    },
    /// Bytes that are not what their digest says: nothing of them is kept.
    #[error(
        "{what} {expected}: {got}: refused, nothing stored\n  hint: pull again; if it repeats, the registry (or something on the way) serves wrong data"
    )]
    Digest {
        what: &'static str,
        expected: String,
        got: String,
    },
    /// An index with no image for the platform asked for.
    #[error(
        "{reference}: no {want} in the index; available: {available}\n  hint: choose one with --platform"
    )]
    NoPlatform {
        reference: String,
        want: String,
        available: String,
    },
    /// A manifest type this step does not read (schema 1, a Helm chart...).
    #[error(
        "{reference}: a manifest of type {media_type:?}, which is not a container image this step runs\n  hint: images are OCI or Docker schema 2 manifests; push the image again with a recent tool"
    )]
    MediaType {
        reference: String,
        media_type: String,
    },
    /// JSON that is not what its media type promises.
    #[error("{url}: {what} does not parse: {reason}")]
    Json {
        url: String,
        what: &'static str,
        reason: String,
    },
    /// A layer that step 07's unpacker refused (or that broke off).
    #[error("{url}: {source}")]
    Layer {
        url: String,
        source: step07_overlay::refusals::UnpackError,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] step07_overlay::store::StoreError),
    /// The state directory is not private.
    #[error(transparent)]
    StateDir(#[from] step01_chroot::state::StateDirError),
    /// A file of the local image list.
    #[error("{what} {}: {source}", path.display())]
    Io {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    /// No local image by that name, and pulling was not allowed.
    #[error(
        "no image {0} here\n  hint: pull it first ({program} pull {0}), or leave --pull at its default, missing",
        program = step01_chroot::cli::program()
    )]
    NotPulled(String),
    /// `rmi` of a name with two meanings.
    #[error(
        "{0}: more than one image id starts with this\n  hint: give more digits of the id ({program} images lists them)",
        program = step01_chroot::cli::program()
    )]
    Ambiguous(String),
    /// The password was to come on stdin, and did not.
    #[error(
        "--password-stdin: {0}\n  hint: echo \"$TOKEN\" | {program} pull --username NAME --password-stdin IMAGE",
        program = step01_chroot::cli::program()
    )]
    Password(String),
}

/// For `map_err` on files: what was done, to which path.
pub(crate) fn io(
    what: &'static str,
    path: &std::path::Path,
) -> impl FnOnce(std::io::Error) -> RegistryError {
    let path = path.to_path_buf();
    move |source| RegistryError::Io { what, path, source }
}

pub(crate) type Result<T> = std::result::Result<T, RegistryError>;

/// `text` from a registry, safe to print: control characters (a terminal's
/// escape sequences among them) become `?`.
pub fn printable(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}
