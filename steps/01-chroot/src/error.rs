//! Errors, each with the context a learner needs to fix it.
//!
//! Messages are lowercase, name the path or flag involved and, where there is
//! one, end with a `hint:` line saying what to do.

use std::path::PathBuf;

use nix::errno::Errno;

/// A system call that failed: what was called, and what the kernel said.
#[derive(Debug, thiserror::Error)]
#[error("{call}: {}", errno.desc())]
pub struct SysError {
    /// The call as the trace shows it, e.g. `chroot("/x")`.
    pub call: String,
    /// The error number the kernel returned.
    pub errno: Errno,
}

/// Everything that can stop a container from running.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A narrated system call failed in the parent.
    #[error(transparent)]
    Sys(#[from] SysError),

    /// The host does not allow what the container needs: a kind of
    /// namespace switched off, a limit reached. Not a bug of the step: the
    /// hint says where to look, and `cargo xtask doctor` checks the host.
    #[error("{source}\n  hint: {hint}; `cargo xtask doctor` checks this host and names the fix")]
    HostRefused {
        /// The call the kernel refused.
        source: SysError,
        /// What this error number means for this call.
        hint: &'static str,
    },

    /// The root filesystem is not there.
    #[error(
        "rootfs {} does not exist\n  hint: run ./rootfs-fetch.sh in the workshop directory, or pass --rootfs DIR",
        .0.display()
    )]
    RootfsMissing(PathBuf),

    /// The root filesystem is an empty directory.
    #[error(
        "rootfs {} is empty\n  hint: run ./rootfs-fetch.sh in the workshop directory, or pass --rootfs DIR with an unpacked root filesystem",
        .0.display()
    )]
    RootfsEmpty(PathBuf),

    /// The root filesystem's path cannot be followed (a symlink loop, a
    /// directory we may not read).
    #[error("rootfs {}: {source}\n  hint: pass --rootfs DIR with an unpacked root filesystem", path.display())]
    RootfsUnusable {
        /// The path given.
        path: PathBuf,
        /// Why it cannot be used.
        source: std::io::Error,
    },

    /// The root filesystem is there but is not a directory.
    #[error("rootfs {} is not a directory\n  hint: pass --rootfs DIR with an unpacked root filesystem", .0.display())]
    RootfsNotDir(PathBuf),

    /// A step needs privileges the caller does not have.
    #[error(
        "{what} needs root: {why}\n  hint: `cargo run` asks sudo for you (see .cargo/config.toml); \
         to run the binary yourself: sudo {program} ..."
    )]
    NeedsRoot {
        /// What needs root, e.g. `chroot(2)`.
        what: &'static str,
        /// Why, in a few words.
        why: &'static str,
        /// The program to suggest running with sudo.
        program: String,
    },

    /// The command line asked for something impossible.
    #[error("{0}")]
    Usage(String),

    /// Setting up the container failed inside the child; the message came
    /// back over the error pipe (see `engine.rs`).
    #[error("{message}")]
    InContainer {
        /// What the child reported.
        message: String,
        /// The exit code to leave with (125, 126 or 127).
        exit_code: u8,
    },

    /// An error of a later step's own kind (each step may define its own
    /// error type with thiserror; it converts into this variant).
    #[error(transparent)]
    Layer(Box<dyn std::error::Error + Send + Sync>),

    /// An I/O error on a path of ours (state directory, pipes).
    #[error("{what} {}: {source}", path.display())]
    Io {
        /// What we were doing, e.g. `creating state directory`.
        what: &'static str,
        /// The path involved.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
}

/// Exit codes, following the convention of `docker run` and the shell.
pub mod exit_code {
    /// The runtime itself failed: the container could not be started.
    pub const RUNTIME_ERROR: u8 = 125;
    /// The command exists but cannot be executed (permissions, format).
    pub const CANNOT_EXECUTE: u8 = 126;
    /// The command was not found inside the container.
    pub const NOT_FOUND: u8 = 127;
    /// Added to a signal number when the container is killed by a signal.
    pub const SIGNAL_BASE: i32 = 128;
}

impl Error {
    /// Wraps a later step's own error type.
    pub fn layer(err: impl std::error::Error + Send + Sync + 'static) -> Self {
        Error::Layer(Box::new(err))
    }

    /// The exit code the runtime leaves with when this error stops it.
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::InContainer { exit_code, .. } => *exit_code,
            _ => exit_code::RUNTIME_ERROR,
        }
    }
}

/// Shorthand used throughout the workshop.
pub type Result<T, E = Error> = std::result::Result<T, E>;
