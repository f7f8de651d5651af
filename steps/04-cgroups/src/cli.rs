//! Step 04's flags: the resource limits, with the names and meanings of
//! `docker run` (its command line is step 03's and these: see step 01's
//! flags.rs).

use step01_chroot::flags::Has;
use step03_user_ns::cli::UserNsFlags;

use crate::limits::{Limits, Swap};
use crate::values;

/// Step 04's own flags.
#[derive(Clone, Debug, clap::Args)]
pub struct CgroupArgs {
    /// Memory limit, e.g. 64m (b, k, m, g); past it the OOM killer strikes.
    #[arg(long, value_name = "SIZE", value_parser = values::parse_memory)]
    pub memory: Option<u64>,

    /// Memory plus swap, e.g. 128m; equal to --memory means no swap; -1 means unlimited swap.
    #[arg(long, value_name = "SIZE", value_parser = values::parse_swap, allow_hyphen_values = true)]
    pub memory_swap: Option<Swap>,

    /// Soft limit: memory the kernel tries to leave to the container when memory is short.
    #[arg(long, value_name = "SIZE", value_parser = values::parse_size)]
    pub memory_reservation: Option<u64>,

    /// CPU time as a number of CPUs, e.g. 0.5 (a quota of 50 ms per 100 ms).
    #[arg(long, value_name = "CPUS", value_parser = values::parse_cpus, allow_hyphen_values = true)]
    pub cpus: Option<f64>,

    /// Relative CPU weight when CPUs are busy, 2 to 262144 (default 1024).
    #[arg(long, value_name = "SHARES", value_parser = values::parse_shares)]
    pub cpu_shares: Option<u64>,

    /// The most processes (and threads) the container may have at once.
    #[arg(long, value_name = "N", value_parser = values::parse_pids, allow_hyphen_values = true)]
    pub pids_limit: Option<u64>,

    /// The cgroup to put the container's cgroup in: absolute, or relative to this program's own [default: /workshop].
    #[arg(long, value_name = "PATH", env = "WORKSHOP_CGROUP_PARENT")]
    pub cgroup_parent: Option<String>,
}

impl CgroupArgs {
    /// The limits asked for.
    pub fn limits(&self) -> Limits {
        Limits {
            memory: self.memory,
            memory_swap: self.memory_swap,
            memory_reservation: self.memory_reservation,
            cpus: self.cpus,
            cpu_shares: self.cpu_shares,
            pids: self.pids_limit,
        }
    }
}

/// What step 04's layers read: step 03's flags and [`CgroupArgs`].
pub trait CgroupFlags: UserNsFlags + Has<CgroupArgs> {}

impl<T: UserNsFlags + Has<CgroupArgs>> CgroupFlags for T {}
