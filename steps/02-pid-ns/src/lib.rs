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
use step01_chroot::flags::FlagGroups;
use step01_chroot::layer::Layers;
use step01_chroot::spec::Spec;
use step01_chroot::{Container, Result};

use crate::cli::{PidNsArgs, PidNsFlags};

/// The container's hostname: `--hostname`, or its short id.
pub fn hostname(args: &impl PidNsFlags, spec: &Spec) -> String {
    let own: &PidNsArgs = args.group();
    own.hostname.clone().unwrap_or_else(|| spec.id.clone())
}

// ANCHOR: layers
/// Step 02's layers, in the order they act in the child: step 01's chroot,
/// with the namespaces around it.
pub fn layers(args: &impl PidNsFlags, spec: &Spec) -> Result<Layers> {
    let mut layers = step01_chroot::layers(args, spec)?;
    layers
        .insert_before::<Chroot>(mount_ns::MountNamespace)? // first: later mounts stay inside
        .insert_before::<Chroot>(uts::Uts::new(hostname(args, spec)))?
        .insert_before::<Chroot>(ipc::Ipc)?
        .insert_after::<Chroot>(pid::PidNamespace::new())?; // mounts /proc inside the new root
    if args.group::<PidNsArgs>().init {
        layers.push(init::Init); // last: it forks
    }
    Ok(layers)
}
// ANCHOR_END: layers

/// Step 02's container.
pub fn container(args: &impl PidNsFlags) -> Result<Container> {
    args.group::<step01_chroot::cli::RunArgs>()
        .container(|spec| layers(args, spec))
}

#[cfg(test)]
mod tests {
    use clap::Parser;
    use step01_chroot::cli::RunArgs;
    use step01_chroot::layer::ChildCx;
    use step01_chroot::trace::Trace;

    use super::*;

    step01_chroot::step_command_line! {
        /// Step 02's command line, as its binary has it.
        struct Cli { run: RunArgs, pid_ns: PidNsArgs }
    }

    /// What the child of step 02 asks of the kernel, in order: no root,
    /// no namespace needed (the calls are recorded, not made).
    #[test]
    fn the_child_makes_these_calls_in_this_order() {
        let cli = Cli::parse_from(["02", "--rootfs", "/srv/r", "--hostname", "box", "true"]);
        let spec = cli.run.spec().unwrap();
        let layers = layers(&cli, &spec).unwrap();
        let (trace, kernel) = Trace::recording();
        for layer in layers.iter() {
            layer
                .enter(&ChildCx::standalone(&spec, trace.clone()))
                .unwrap();
        }
        assert_eq!(
            kernel.shown(),
            [
                r#"mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL)"#,
                r#"sethostname("box")"#,
                r#"chroot("/srv/r")"#,
                r#"chdir("/")"#,
                r#"mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL)"#,
            ]
        );
    }
}
