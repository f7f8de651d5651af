//! `exec`: a new process in a running container, as the container's own.
//!
//! A process is "in" a container when it is in its namespaces and its
//! cgroup (join.rs), and held to what the container's process is held to:
//! the same user, capabilities, no_new_privs, seccomp filter and LSM label.
//! Those last come from the layers of steps 08 and 09, built again from the
//! container's own command line (kept in its record), keeping only the
//! layers that make a *process*; none of those that made its mounts, its
//! cgroup or its network, which exist already.
//!
//! ```text
//! parent (exec)                     child
//! itself again, unwritable (sealed.rs)
//! clone() ────────────────────────▶ waits
//! (v2) pid → cgroup.procs
//! "go on" ────────────────────────▶ (v1) "0" → each tasks (step 04)
//!                                   setns(pidfd, user|mnt|pid|net|…)
//!                                   setresuid(0): the container's root
//!                                   chdir(workdir), which must exist
//!                                   user, workdir (step 09)
//!                                   label, capabilities, no_new_privs, seccomp (step 08)
//!                                   fork ──▶ in its PID namespace: execve(command)
//!                                   waits, as --init does (step 02)
//! relays stdio, waits, exit code
//! ```

use step01_chroot::cli::RunArgs;
use step01_chroot::flags::FlagGroups;
use step01_chroot::layer::is;
use step01_chroot::{Container, Error, Result};
use step02_pid_ns::init::Init;
use step08_security::capabilities::Capabilities;
use step08_security::lsm::Lsm;
use step08_security::no_new_privs::NoNewPrivs;
use step08_security::seccomp::Seccomp;
use step09_registry::process::{DropKept, ImageProcess};

use crate::cli::RuntimeFlags;
use crate::error::RuntimeError;
use crate::join::Join;
use crate::record::{Life, Record};
use crate::workdir::ExistingWorkdir;

// ANCHOR: container
/// The container for `exec`: `args` is the container's own command line,
/// with the exec's command, user, directory and environment put in.
pub fn container(args: &impl RuntimeFlags, record: &Record) -> Result<Container> {
    let not_running = || Error::layer(RuntimeError::NotRunning(record.config.name.clone()));
    let (state, life) = record.view().map_err(Error::layer)?;
    let (Life::Running, Some(pid), Some(start)) = (life, state.pid, state.pid_start) else {
        return Err(not_running());
    };
    let join = Join::new(&record.config.name, pid, start).map_err(Error::layer)?;
    let run: &RunArgs = args.group();
    let mut spec = run.spec()?;
    // Its root, as the host sees it while it runs: what an error's hint
    // tells you to look in (a command not found, say).
    spec.rootfs = format!("/proc/{pid}/root").into();
    // The container's id, for what its layers name after it (a label).
    spec.id = record.config.id.clone();
    // A PID namespace is entered by the children of who joins it: after
    // everything else, the fork that step 02's init makes.
    let fork = join.joins_pid_namespace();
    let mut layers = process_layers(args, &spec, join)?;
    if fork && !layers.contains::<Init>() {
        layers.push(Init);
    }
    // This run's own id: the container's monitor holds the run lock of its.
    spec.id = step01_chroot::spec::random_id();
    Ok(Container::new(spec, run.trace_options()).with_layers(layers))
}

/// The layers that make a process in a container that runs: `join`, and
/// of the layers `args` makes (steps 08 and 09), those that make a
/// *process*: its LSM label, user and directory, capabilities,
/// no_new_privs, seccomp (and step 02's init, if `args` asks for it).
pub fn process_layers(
    args: &impl step09_registry::cli::RegistryFlags,
    spec: &step01_chroot::spec::Spec,
    join: Join,
) -> Result<step01_chroot::layer::Layers> {
    let mut process = step09_registry::layers(args, spec)?;
    // The label first, before the join: it is written to /proc/self/attr
    // and taken at the next execve (the command's). Inside the container's
    // mount namespace, /proc would be the container's to fake (as in
    // CVE-2019-16884), and before the fork into its PID namespace
    // /proc/self would not even be us.
    let mut labels = step09_registry::layers(args, spec)?;
    labels.retain(is::<Lsm>);
    process.retain(|layer| {
        is::<ImageProcess>(layer)
            || is::<DropKept>(layer)
            || is::<Capabilities>(layer)
            || is::<NoNewPrivs>(layer)
            || is::<Seccomp>(layer)
            || is::<Init>(layer)
    });
    let mut layers = labels;
    layers.push(join);
    // Its directory, which must be there (workdir.rs says why).
    if let Some(workdir) = ExistingWorkdir::of(args, spec)? {
        layers.push(workdir);
    }
    layers.append(process);
    Ok(layers)
}
// ANCHOR_END: container
