//! What goes wrong, worded as runc words it where engines read the words
//! (containerd matches "does not exist" and "not running"; podman maps
//! "executable file not found" to 127).

use std::path::PathBuf;

/// An operation's failure. Every one exits 1, as runc's do.
#[derive(Debug, thiserror::Error)]
pub enum OciError {
    #[error("container does not exist")]
    NoSuchContainer,
    #[error("container with given ID already exists")]
    Exists,
    #[error("container not running")]
    NotRunning,
    #[error("cannot start a container that is {0}")]
    CannotStart(&'static str),
    #[error("cannot delete container {0} that is not stopped: {1}")]
    NotStopped(String, &'static str),
    #[error("invalid container id {0:?}: use letters, digits and _ + - . (not . or ..)")]
    BadId(String),
    #[error("{path}: {reason}")]
    Malformed { path: PathBuf, reason: String },
    /// A field of config.json that no flag of ours can honour.
    #[error("config.json: {field}: {why}")]
    Unsupported { field: String, why: String },
    #[error("{what} {}: {source}", path.display())]
    Io {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0}")]
    Engine(#[from] step01_chroot::Error),
    #[error("{0}")]
    Signal(String),
    /// A hook that failed (hooks.rs).
    #[error("{0}")]
    Hook(String),
}

impl OciError {
    /// An I/O error, with what we were doing and where.
    pub fn io(what: &'static str, path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| OciError::Io { what, path, source }
    }

    /// The message, with runc's words where engines look for them: podman
    /// makes `podman run` exit 127 when it reads "executable file not
    /// found in", and 126 for "permission denied" (its oci_util.go), as a
    /// shell would; our own wording is kept in front, on one line.
    pub fn for_engines(&self) -> String {
        use step01_chroot::error::exit_code::{CANNOT_EXECUTE, NOT_FOUND};
        let code = match self {
            OciError::Engine(err) => err.exit_code(),
            _ => 0,
        };
        // One line: conmon hands podman the last line of what we print.
        let text: Vec<String> = self
            .to_string()
            .lines()
            .map(|l| l.trim().to_string())
            .collect();
        let text = text.join(" ");
        match code {
            NOT_FOUND => format!("{text} (exec: executable file not found in $PATH)"),
            CANNOT_EXECUTE => format!("{text} (exec: permission denied)"),
            _ => text,
        }
    }

    /// A field that cannot be honoured (yet), and why.
    pub fn unsupported(field: impl Into<String>, why: impl Into<String>) -> Self {
        OciError::Unsupported {
            field: field.into(),
            why: why.into(),
        }
    }
}
