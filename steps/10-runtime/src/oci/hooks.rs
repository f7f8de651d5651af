//! Hooks: programs an engine asks the runtime to run at fixed points of a
//! container's life, each given the container's state as JSON on its
//! stdin (runtime-spec config.md, "POSIX-platform Hooks"; runtime.md,
//! "Lifecycle"). Engines and tools use them to do their part at the right
//! moment: set up a network the runtime knows nothing of, add a device,
//! record that a container started.
//!
//! ```text
//! hook                       when                                   in whose namespaces
//! prestart, createRuntime    create: the namespaces exist, before   the runtime's
//!                            pivot_root (configure_child)
//! createContainer            create: then, before pivot_root        the container's (its mount
//!                            (enter, before step 05's PivotRoot)    namespace still shows the host's files)
//! startContainer             start: the gate opened, right before   the container's, as its
//!                            execve (gate_opened, step 01's hook)   process (its user, capabilities)
//! poststart                  start, before it returns               the runtime's
//! poststop                   delete, once the container is gone     the runtime's
//! ```
//!
//! A hook that exits non-zero, or outlasts its `timeout` (then it is
//! killed), fails `create` or `start`; poststart and poststop only warn,
//! as the spec says, since what they follow has happened already. A
//! hook's output is kept, for the error: the engine's pipes are not for
//! it.

use std::io::{Read, Write};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use colored::Color;
use nix::unistd::Pid;
use oci_spec::runtime::{Hook, Hooks};
use step01_chroot::layer::{ChildCx, Layer, ParentCx};

use super::error::OciError;

/// The state the spec gives hooks (and `state` prints): the container's
/// id, status and pid, its bundle and annotations.
pub fn state(base: &serde_json::Value, status: &str, pid: i32) -> serde_json::Value {
    let mut state = base.clone();
    state["status"] = status.into();
    state["pid"] = pid.into();
    state
}

/// Runs `hooks` of `stage` one after the other, each with `state` on its
/// stdin; the first that fails stops the rest.
pub fn run(stage: &str, hooks: &[Hook], state: &serde_json::Value) -> Result<(), OciError> {
    for hook in hooks {
        run_one(hook, state).map_err(|why| {
            OciError::Hook(format!("{stage} hook {}: {why}", hook.path().display()))
        })?;
    }
    Ok(())
}

/// Runs `stage`'s hooks; a failure is only said (poststart, poststop).
pub fn run_or_warn(stage: &str, hooks: &[Hook], state: &serde_json::Value) {
    if let Err(err) = run(stage, hooks, state) {
        eprintln!("warning: {err}");
    }
}

// ANCHOR: run_one
/// One hook: `path` with `args` (the first is its argv[0]) and only `env`,
/// as execve(2) would be given them; the state on stdin; its output kept.
fn run_one(hook: &Hook, state: &serde_json::Value) -> Result<(), String> {
    let mut cmd = Command::new(hook.path());
    if let Some((first, rest)) = hook.args().as_deref().and_then(|a| a.split_first()) {
        cmd.arg0(first).args(rest);
    }
    cmd.env_clear();
    for entry in hook.env().iter().flatten() {
        let (key, value) = entry.split_once('=').unwrap_or((entry, ""));
        cmd.env(key, value);
    }
    // Its stdout and stderr, one pipe: read to the end while it runs.
    let (output, write) =
        nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|e| e.to_string())?;
    let write_too = write.try_clone().map_err(|e| e.to_string())?;
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::from(write))
        .stderr(Stdio::from(write_too));
    let spawned = cmd.spawn();
    drop(cmd); // our copies of the write ends: end-of-file comes with its exit
    let mut child = spawned.map_err(|err| err.to_string())?;
    // A hook that does not read its stdin must not block us: EPIPE is fine.
    let _ = child
        .stdin
        .take()
        .map(|mut stdin| stdin.write_all(state.to_string().as_bytes()));
    let pid = Pid::from_raw(child.id() as i32);
    // Waited for in a thread, which also reads its output to the end (a
    // hook that fills a pipe nobody reads would never finish).
    let (done, finished) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut text = String::new();
        let _ = std::fs::File::from(output).read_to_string(&mut text);
        let _ = done.send((child.wait(), text));
    });
    let limit = hook.timeout().filter(|t| *t > 0).map(|t| t as u64);
    let waited = match limit {
        Some(seconds) => finished.recv_timeout(Duration::from_secs(seconds)),
        None => finished
            .recv()
            .map_err(|_| std::sync::mpsc::RecvTimeoutError::Disconnected),
    };
    match waited {
        Ok((Ok(status), _)) if status.success() => Ok(()),
        Ok((Ok(status), output)) => Err(format!("{status}: {}", output.trim())),
        Ok((Err(err), _)) => Err(err.to_string()),
        Err(_) => {
            // Still our child (unreaped): its pid is its own.
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
            let _ = finished.recv();
            Err(format!(
                "timed out after {} s, killed",
                limit.unwrap_or_default()
            ))
        }
    }
}
// ANCHOR_END: run_one

/// The hooks `create` and `start` run, at their points of the engine's
/// timeline (the table above). Placed right before step 05's PivotRoot.
#[derive(Debug)]
pub struct CreateHooks {
    pub hooks: Hooks,
    /// The state without status and pid: id, bundle, annotations.
    pub base: serde_json::Value,
}

impl CreateHooks {
    fn run(
        &self,
        stage: &str,
        hooks: &Option<Vec<Hook>>,
        status: &str,
        pid: Pid,
    ) -> step01_chroot::Result<()> {
        let hooks = hooks.as_deref().unwrap_or_default();
        if hooks.is_empty() {
            return Ok(());
        }
        run(stage, hooks, &state(&self.base, status, pid.as_raw()))
            .map_err(step01_chroot::Error::layer)
    }
}

impl Layer for CreateHooks {
    fn name(&self) -> &'static str {
        "hooks"
    }

    fn color(&self) -> Color {
        Color::BrightYellow
    }

    fn configure_child(&mut self, cx: &mut ParentCx<'_>, child: Pid) -> step01_chroot::Result<()> {
        if cx.trace.dry_run() {
            return Ok(());
        }
        self.run("prestart", self.hooks.prestart(), "creating", child)?;
        self.run(
            "createRuntime",
            self.hooks.create_runtime(),
            "creating",
            child,
        )
    }

    fn enter(&self, cx: &ChildCx<'_>) -> step01_chroot::Result<()> {
        if cx.trace.dry_run() {
            return Ok(());
        }
        self.run(
            "createContainer",
            self.hooks.create_container(),
            "creating",
            cx.host_pid,
        )
    }

    fn gate_opened(&self, cx: &ChildCx<'_>) -> step01_chroot::Result<()> {
        self.run(
            "startContainer",
            self.hooks.start_container(),
            "created",
            cx.host_pid,
        )
    }
}

/// Whether `path` names a hook program that exists (checked by `create`,
/// before anything is made, as the path is the runtime's).
pub fn missing(hooks: &Hooks) -> Option<String> {
    let all = [
        ("prestart", hooks.prestart()),
        ("createRuntime", hooks.create_runtime()),
        ("createContainer", hooks.create_container()),
        ("poststart", hooks.poststart()),
        ("poststop", hooks.poststop()),
    ];
    all.iter().find_map(|(stage, list)| {
        list.iter().flatten().enumerate().find_map(|(at, hook)| {
            (!Path::new(hook.path()).is_file()).then(|| {
                format!(
                    "hooks.{stage}[{at}].path: {}: no such file",
                    hook.path().display()
                )
            })
        })
    })
}
