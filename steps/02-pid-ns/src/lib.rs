//! # Step 02: a process tree of its own
//!
//! Namespaces make the kernel show a process its own copy of a global
//! resource. This step adds four, each a layer on step 01's engine:
//!
//! | concept | file |
//! |---|---|
//! | mount namespace, and why the tree must be made private | [`mount_ns.rs`](mount_ns) |
//! | UTS namespace: the container's hostname | [`uts.rs`](uts) |
//! | IPC namespace: System V IPC of its own | [`ipc.rs`](ipc) |
//! | **PID namespace**: pid 1, and a `/proc` to match (this step's idea) | [`pid.rs`](pid) |
//! | `--init`: a tiny PID 1 that forwards signals and reaps zombies | [`init.rs`](init) |
//! | the command line: step 01's plus `--hostname`, `--init` | [`cli.rs`](cli) |
//!
//! The engine, the trace and `chroot` come from `step01_chroot`, unchanged.

pub mod cli;
pub mod init;
pub mod ipc;
pub mod mount_ns;
pub mod pid;
pub mod uts;

use step01_chroot::chroot::Chroot;
use step01_chroot::spec::Spec;
use step01_chroot::{Container, Layer, Result};

/// The container's hostname: `--hostname`, or its short id.
pub fn hostname(args: &cli::PidNsArgs, spec: &Spec) -> String {
    args.hostname.clone().unwrap_or_else(|| spec.id.clone())
}

// ANCHOR: layers
/// Step 02's layers, in the order they act in the child.
pub fn layers(args: &cli::PidNsArgs, spec: &Spec) -> Vec<Box<dyn Layer>> {
    let hostname = hostname(args, spec);
    let mut layers: Vec<Box<dyn Layer>> = vec![
        Box::new(mount_ns::MountNamespace), // first: later mounts stay inside
        Box::new(uts::Uts::new(hostname)),
        Box::new(ipc::Ipc),
        Box::new(Chroot),                   // step 01
        Box::new(pid::PidNamespace::new()), // mounts /proc inside the new root
    ];
    if args.init {
        layers.push(Box::new(init::Init)); // last: it forks
    }
    layers
}
// ANCHOR_END: layers

/// Step 02's container.
pub fn container(args: &cli::PidNsArgs) -> Result<Container> {
    args.run.container(|spec| Ok(layers(args, spec)))
}
