//! What can go wrong with a container's record and lifecycle, each with
//! the container or path it is about, and what to do.

use std::path::{Path, PathBuf};

/// Step 10's errors.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error("{what} {path}: {source}", path = path.display())]
    Io {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "{path} is damaged ({reason})\n  hint: `rm -f` the container to remove its record",
        path = path.display()
    )]
    Corrupt { path: PathBuf, reason: String },
    #[error("no such container: {0}\n  hint: `ps -a` lists them all")]
    NoSuchContainer(String),
    #[error(
        "{0:?} is the start of more than one container id\n  hint: give more of it, or the name"
    )]
    Ambiguous(String),
    #[error(
        "the name {name:?} is in use by container {id}\n  hint: remove it (`rm {name}`), or choose another --name"
    )]
    NameInUse { name: String, id: String },
    #[error(
        "container {0} is running\n  hint: stop it first (`stop {0}`), or remove it anyway with `rm -f`"
    )]
    Running(String),
    #[error(
        "image {image} is in use by container {container}\n  hint: remove the container first (`rm {container}`), then the image"
    )]
    ImageInUse { image: String, container: String },
    #[error(
        "container {0} is not running\n  hint: `start {0}` starts it; `ps -a` shows how it ended"
    )]
    NotRunning(String),
    #[error("sending a signal to container {0}: {1}")]
    Signal(String, nix::errno::Errno),
    #[error("{flag} {value:?}: {why}\n  hint: {hint}")]
    Flag {
        flag: &'static str,
        value: String,
        why: String,
        hint: &'static str,
    },
    #[error("the monitor of container {id} {what}")]
    Monitor { id: String, what: String },
    #[error("container {0} ran in the foreground: its output went to the terminal, not to a log")]
    NoLog(String),
    #[error("container {0} has no console to attach to: it runs in the foreground")]
    NoConsole(String),
    #[error("{0}")]
    State(step01_chroot::state::StateDirError),
    #[error(
        "{path} is not a directory of ours (a symlink, or someone else's)
  hint: remove it; the runtime makes it anew",
        path = .0.display()
    )]
    NotOurs(PathBuf),
}

impl RuntimeError {
    /// An I/O error about `path`, for `map_err`.
    pub fn io(what: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> RuntimeError {
        let path = path.to_path_buf();
        move |source| RuntimeError::Io { what, path, source }
    }
}
