//! # Step 04: limits that hold
//!
//! | concept | file |
//! |---|---|
//! | **a cgroup per container**: make, limit, join, namespace, remove (this step's idea) | [`cgroup.rs`](cgroup) |
//! | the flags, checked, and the v1/v2 files they become | [`limits.rs`](limits) |
//! | finding the hierarchies (v1 or v2) and our place in them | [`hierarchy.rs`](hierarchy) |
//! | the report after exit: peak memory, CPU time, OOM kills | [`report.rs`](report) |
//! | cgroups a killed run left, and killing what is in them without a pid race | [`sweep.rs`](sweep) |
//! | the command line: step 03's plus `--memory`, `--cpus`, ... | [`cli.rs`](cli) |

pub mod cgroup;
pub mod cli;
pub mod hierarchy;
pub mod limits;
pub mod report;
pub mod sweep;

use step01_chroot::spec::Spec;
use step01_chroot::{Container, Error, Layer, Result};

// ANCHOR: layers
/// Step 04's layers: the user namespace, the cgroup, then step 02's.
pub fn layers(args: &cli::CgroupArgs, spec: &Spec) -> Result<Vec<Box<dyn Layer>>> {
    let user_ns = &args.user_ns;
    let mapping = user_ns.mapping().map_err(Error::layer)?;
    let mut layers: Vec<Box<dyn Layer>> = step03_user_ns::user_layers(mapping);
    layers.push(Box::new(cgroup::Cgroup::new(
        args.limits(),
        args.cgroup_parent.clone(),
    )));
    layers.extend(step02_pid_ns::layers(&user_ns.pid_ns, spec));
    Ok(layers)
}
// ANCHOR_END: layers

/// Step 04's container.
pub fn container(args: &cli::CgroupArgs) -> Result<Container> {
    args.user_ns.pid_ns.run.container(|spec| layers(args, spec))
}
