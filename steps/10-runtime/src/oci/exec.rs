//! `exec`: one more process in a running container, as engines ask for
//! it: `exec --process process.json --detach --pid-file F ID` (podman
//! exec through a second conmon, `ctr task exec` through the shim).
//!
//! The process file is config.json's `process` alone: the container's
//! config.json with that `process` put in is read as every container's
//! is (bundle.rs), and the layers that make a *process* are the Docker
//! face's `exec` ones (exec.rs: the join of the container's namespaces
//! and cgroup through a pidfd, its user, capabilities, no_new_privs and
//! seccomp), plus the groups and rlimits the file asks for.
//!
//! Then it goes as `create` and `start` go, in one: launched at a gate
//! of its own, so that the engine, a subreaper, becomes its parent when
//! we exit (`--detach`); without `--detach` we stay, as its parent, and
//! exit with its code.
//!
//! As in the Docker face, the child joins the container's namespaces
//! from outside its PID namespace (where no process of the container can
//! see it, let alone open its `/proc/PID/root`, the host's, before it has
//! joined the mount namespace), and step 02's init forks the process that
//! runs the command inside; the child stays, as that process's init, in
//! the host's PID namespace, passing signals on and leaving with its exit
//! code. Its pid is the one the engine is given and waits for. Launched,
//! both must outlive us once kept, and no longer:
//!
//! - the child drops its death signal before the fork (`ExecKeep`): if we
//!   die before "keep", the process inside reads end-of-file at its gate
//!   and ends (launch.rs), and so does its init;
//! - the process inside keeps its death signal, tied to its init, at the
//!   gate and after (launch.rs drops it only for the process it cloned).
//!
//! And the process inside leads a process group of its own (a
//! `kill(0, SIGSTOP)` from inside must not stop its init, which nothing
//! inside can see to start again), and is not dumpable until its
//! `execve` (no process of the container with its uid may ptrace it and
//! take the runtime's descriptors it still holds): `Forked`.

use std::path::Path;
use std::time::Duration;

use colored::Color;
use step01_chroot::Container;
use step01_chroot::cli::RunArgs;
use step01_chroot::flags::FlagGroups;
use step01_chroot::layer::{ChildCx, Layer};
use step02_pid_ns::init::Init;
use step08_security::capabilities::Capabilities;

use super::bundle;
use super::container::{Dir, Status};
use super::error::OciError;
use super::extras::{Extras, Groups, OomScoreAdj};
use super::lifecycle::{pass_gate, wait_for, write_pid_file};
use super::making::{check_console, with_console, workshop_flags};
use crate::pidfd::Process;

type Result<T, E = OciError> = std::result::Result<T, E>;

/// Options of `exec`.
#[derive(Debug)]
pub struct Exec<'a> {
    pub root: &'a Path,
    pub id: &'a str,
    /// process.json.
    pub process: &'a Path,
    pub pid_file: Option<&'a Path>,
    pub console_socket: Option<&'a Path>,
    /// Leave once it runs (the engine reaps it); else wait for it.
    pub detach: bool,
}

// ANCHOR: exec
/// `exec`: the process of `options.process` in container `options.id`;
/// its exit code (0 with `detach`: it runs on).
pub fn exec(options: Exec<'_>) -> Result<u8> {
    // From a copy of ourselves nobody can write, as the Docker face's exec (sealed.rs,
    // CVE-2019-5736): the container's processes can see the new process,
    // which is this program until its execve. (This starts us again.)
    // SAFETY: the OCI face starts no thread before an exec.
    unsafe { crate::sealed::reexec_sealed() }.map_err(OciError::io(
        "running a protected copy of",
        "/proc/self/exe",
    ))?;
    let dir = Dir::of(options.root, options.id)?;
    let saved = dir.saved()?;
    let (status, first) = dir.status(&saved);
    if status != Status::Running || first.is_none() {
        return Err(OciError::NotRunning);
    }
    let process: oci_spec::runtime::Process = bundle::read_json(options.process)?;
    let mut config = bundle::load(&saved.bundle)?;
    config.set_process(Some(process));
    let asked = bundle::read(&saved.bundle, &config, options.id)?;
    check_console(asked.terminal, options.console_socket)?;
    let exec_id = step01_chroot::spec::random_id();
    let seccomp = format!("seccomp-{exec_id}.json");
    let flags = workshop_flags(&dir, &asked, &seccomp);
    let layers = flags.and_then(|flags| {
        let run: &RunArgs = flags.group();
        let mut spec = run.spec()?;
        spec.id = exec_id.clone();
        spec.env = asked.env.clone();
        let join = crate::join::Join::new(options.id, saved.pid, saved.pid_start)
            .map_err(|_| OciError::NotRunning)?;
        let fork = join.joins_pid_namespace();
        let stack = |err| OciError::Engine(step01_chroot::Error::layer(err));
        let mut layers = crate::exec::process_layers(&flags, &spec, join)?;
        if fork {
            layers.push(ExecKeep).push(Init).push(Forked);
        }
        let rlimits = Extras {
            rlimits: asked.extras.rlimits.clone(),
            ..Extras::default()
        };
        if let Some(adj) = asked.oom_score_adj {
            layers.push(OomScoreAdj(adj));
        }
        layers
            .insert_before::<Capabilities>(Groups(asked.groups.clone()))
            .map_err(stack)?
            .insert_before::<Capabilities>(rlimits)
            .map_err(stack)?;
        Ok(Container::new(spec, run.trace_options()).with_layers(layers))
    });
    // (Read into the layers by now.)
    let _ = std::fs::remove_file(dir.path.join(&seccomp));
    let container = with_console(layers?, options.console_socket)?;
    let gate = dir.path.join(format!("exec-{exec_id}.fifo"));
    nix::unistd::mkfifo(&gate, nix::sys::stat::Mode::from_bits_truncate(0o622))
        .map_err(|errno| OciError::io("making the gate", &gate)(errno.into()))?;
    std::fs::set_permissions(&gate, std::os::unix::fs::PermissionsExt::from_mode(0o622))
        .map_err(OciError::io("making the gate", &gate))?;
    let ran = run(container, &gate, options.pid_file, options.detach);
    let _ = std::fs::remove_file(&gate);
    ran
}
// ANCHOR_END: exec

/// Launches it at `gate`, writes its pid, lets it outlive us, opens the
/// gate; then, unless `detach`, waits for it as its parent. What fails
/// once it is launched ends it (SIGTERM, which its init passes on to the
/// process inside, waiting at its gate; then SIGKILL).
fn run(container: Container, gate: &Path, pid_file: Option<&Path>, detach: bool) -> Result<u8> {
    let launched = container.launch(gate)?;
    let pid = launched.pid();
    let start = crate::pidfd::start_time(pid.as_raw()).unwrap_or_default();
    let process = Process::open(pid.as_raw(), start).ok_or(OciError::NotRunning)?;
    let kept = pid_file
        .map_or(Ok(()), |file| write_pid_file(file, pid.as_raw()))
        .and_then(|()| launched.keep().map_err(OciError::Engine))
        .and_then(|()| pass_gate(gate, &process));
    if let Err(err) = kept {
        let _ = process.signal(nix::sys::signal::Signal::SIGTERM);
        if !process.wait_exit(Duration::from_secs(5)) {
            let _ = process.signal(nix::sys::signal::Signal::SIGKILL);
        }
        let _ = nix::sys::wait::waitpid(pid, None);
        return Err(err);
    }
    match detach {
        true => Ok(0),
        false => Ok(wait_for(pid)),
    }
}

/// The child's death signal, dropped before step 02's init forks: the
/// init outlives us once kept (see the module's notes).
#[derive(Debug)]
struct ExecKeep;

impl Layer for ExecKeep {
    fn name(&self) -> &'static str {
        "exec"
    }

    fn color(&self) -> Color {
        Color::BrightWhite
    }

    fn enter(&self, cx: &ChildCx<'_>) -> step01_chroot::Result<()> {
        cx.trace
            .call("prctl(PR_SET_PDEATHSIG, 0) /* the init stays */", || {
                nix::sys::prctl::set_pdeathsig(None)
            })?;
        Ok(())
    }
}

/// In the process inside, right after the fork: a process group of its
/// own, and not dumpable until its execve (which makes it dumpable again,
/// prctl(2)).
#[derive(Debug)]
struct Forked;

impl Layer for Forked {
    fn name(&self) -> &'static str {
        "exec"
    }

    fn color(&self) -> Color {
        Color::BrightWhite
    }

    fn enter(&self, cx: &ChildCx<'_>) -> step01_chroot::Result<()> {
        cx.trace.call("setpgid(0, 0)", || {
            nix::unistd::setpgid(nix::unistd::Pid::from_raw(0), nix::unistd::Pid::from_raw(0))
        })?;
        cx.trace.call("prctl(PR_SET_DUMPABLE, 0)", || {
            nix::sys::prctl::set_dumpable(false)
        })?;
        Ok(())
    }
}
