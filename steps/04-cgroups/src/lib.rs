//! # Step 04: limits that hold
//!
//! | concept | file |
//! |---|---|
//! | **a cgroup per container**: make, limit, join, namespace, remove (this step's idea) | [`cgroup.rs`](cgroup) |
//! | the limits, checked together, and the v1/v2 files they become | [`limits.rs`](limits) |
//! | each flag's value, parsed and checked: sizes, CPUs, pids | [`values.rs`](values) |
//! | finding the hierarchies (v1 or v2) and our place in them | [`hierarchy.rs`](hierarchy) |
//! | how the child gets in: the parent moves it, or (v1) it moves itself, and why | [`join.rs`](join) |
//! | what can go wrong, each with what to do | [`errors.rs`](errors) |
//! | cgroup directories: made (v2's subtree_control), removed when empty | [`dirs.rs`](dirs) |
//! | the report after exit: peak memory, CPU time, OOM kills | [`report.rs`](report) |
//! | cgroups a killed run left, and killing what is in them without a pid race | [`sweep.rs`](sweep) |
//! | the command line: step 03's plus `--memory`, `--cpus`, ... | [`cli.rs`](cli) |

pub mod cgroup;
pub mod cli;
pub mod dirs;
pub mod errors;
pub mod hierarchy;
pub mod join;
pub mod limits;
pub mod report;
pub mod sweep;
pub mod values;

use step01_chroot::flags::FlagGroups;
use step01_chroot::layer::Layers;
use step01_chroot::spec::Spec;
use step01_chroot::{Container, Result};
use step03_user_ns::reach::RootfsBind;

use crate::cli::{CgroupArgs, CgroupFlags};

// ANCHOR: layers
/// Step 04's layers: step 03's, with the cgroup after the user namespace
/// and the rootfs (the child must be in its cgroup before it does anything).
pub fn layers(args: &impl CgroupFlags, spec: &Spec) -> Result<Layers> {
    let mut layers = step03_user_ns::layers(args, spec)?;
    let own: &CgroupArgs = args.group();
    let cgroup = cgroup::Cgroup::new(own.limits(), own.cgroup_parent.clone());
    layers.insert_after::<RootfsBind>(cgroup)?;
    Ok(layers)
}
// ANCHOR_END: layers

/// Step 04's container.
pub fn container(args: &impl CgroupFlags) -> Result<Container> {
    args.group::<step01_chroot::cli::RunArgs>()
        .container(|spec| layers(args, spec))
}
