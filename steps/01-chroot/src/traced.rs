//! How a narrated call's result is printed after ` = `, and what stands
//! in for it in a dry run.

use std::os::fd::{AsRawFd, OwnedFd};

use nix::sys::wait::WaitStatus;
use nix::unistd::Pid;

/// A value a traced call returns, as the trace shows it.
pub trait Traced: Sized {
    /// How the result is printed after ` = `.
    fn shown(&self) -> String;

    /// The stand-in value of a dry run, where nothing is executed. Calls
    /// whose result cannot be made up (a pipe, a child) return `None`: the
    /// engine narrates those itself in a dry run and never reaches them.
    fn dry() -> Option<Self> {
        None
    }
}

impl Traced for () {
    fn shown(&self) -> String {
        // Every system call we narrate returns 0 on success.
        "0".into()
    }
    fn dry() -> Option<Self> {
        Some(())
    }
}

impl Traced for usize {
    fn shown(&self) -> String {
        self.to_string()
    }
    fn dry() -> Option<Self> {
        Some(0)
    }
}

impl Traced for Pid {
    fn shown(&self) -> String {
        self.to_string()
    }
}

/// A descriptor that may not be there: `open` of something optional. A dry
/// run stands in with `None` (nothing is opened).
impl Traced for Option<OwnedFd> {
    fn shown(&self) -> String {
        match self {
            Some(fd) => fd.as_raw_fd().to_string(),
            None => "(none)".into(),
        }
    }
    fn dry() -> Option<Self> {
        Some(None)
    }
}

impl Traced for (OwnedFd, OwnedFd) {
    fn shown(&self) -> String {
        format!("0, fds [{}, {}]", self.0.as_raw_fd(), self.1.as_raw_fd())
    }
}

impl Traced for WaitStatus {
    fn shown(&self) -> String {
        match self {
            WaitStatus::Exited(pid, code) => format!("{pid} (exited, status {code})"),
            WaitStatus::Signaled(pid, sig, _) => format!("{pid} (killed by {})", sig.as_str()),
            other => format!("{other:?}"),
        }
    }
}
