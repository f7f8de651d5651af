//! What can go wrong with cgroups, each with what to do about it.

use std::path::PathBuf;

use crate::limits::LimitError;

/// What can go wrong with cgroups, with what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum CgroupError {
    /// Limits were asked for without the privileges to set them.
    #[error(
        "cgroup limits need root: the cgroup file system belongs to root\n  hint: run through sudo \
         (cargo run does), or leave out --memory, --cpus, --cpu-shares and --pids-limit"
    )]
    NeedsRoot,
    /// v2's rule: no processes in a cgroup that hands controllers down.
    #[error(
        "cannot enable controllers in {0}: it has processes of its own, and cgroup v2 lets only \
         cgroups without processes hand controllers to their children\n  \
         hint: choose a --cgroup-parent below an empty cgroup (the default, /workshop, is one)"
    )]
    InternalProcesses(PathBuf),
    /// A `--cgroup-parent` that leaves the hierarchy.
    #[error("--cgroup-parent {0:?}: use names separated by '/', without '..'")]
    BadParent(String),
    /// v1 without swap accounting, but `--memory-swap` asked for.
    #[error(
        "--memory-swap: this kernel does not account swap per cgroup (no memory.memsw.* files)\n  \
         hint: boot with swapaccount=1, or leave out --memory-swap"
    )]
    NoSwapAccounting,
    /// The limits do not fit together.
    #[error(transparent)]
    Limits(#[from] LimitError),
}
