//! Hooks: programs an engine asks the runtime to run at fixed points of a
//! container's life, each given the container's state as JSON on its
//! stdin (runtime-spec config.md, "POSIX-platform Hooks"; runtime.md,
//! "Lifecycle"). Engines and tools use them to do their part at the right
//! moment: set up a network the runtime knows nothing of, add a device,
//! record that a container started.
//!
//! ```text
//! hook                       when                                   in whose namespaces
//! prestart, createRuntime    create: the mounts made, before        the runtime's
//!                            pivot_root (the child asks, we run)
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
use std::os::fd::OwnedFd;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

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

/// Runs `stage`'s hooks, every one: a failure is only said (poststart,
/// poststop: what they follow has happened).
pub fn run_or_warn(stage: &str, hooks: &[Hook], state: &serde_json::Value) {
    for hook in hooks {
        if let Err(err) = run(stage, std::slice::from_ref(hook), state) {
            eprintln!("warning: {err}");
        }
    }
}

// ANCHOR: run_one
/// One hook: `path` with `args` (the first is its argv[0]) and only `env`,
/// as execve(2) would be given them; the state on stdin; its output kept.
/// It leads a process group of its own: on timeout the group is killed,
/// with whatever it started.
fn run_one(hook: &Hook, state: &serde_json::Value) -> Result<(), String> {
    let mut cmd = Command::new(hook.path());
    if let Some((first, rest)) = hook.args().as_deref().and_then(|a| a.split_first()) {
        cmd.arg0(first).args(rest);
    }
    cmd.env_clear().process_group(0);
    for entry in hook.env().iter().flatten() {
        let (key, value) = entry.split_once('=').unwrap_or((entry, ""));
        cmd.env(key, value);
    }
    // Its stdout and stderr, one pipe, read by a thread of its own: a
    // hook that fills it must not wait for us, nor we for a process it
    // left behind holding it.
    let (output, write) =
        nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|e| e.to_string())?;
    let write_too = write.try_clone().map_err(|e| e.to_string())?;
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::from(write))
        .stderr(Stdio::from(write_too));
    let spawned = cmd.spawn();
    drop(cmd); // our copies of the write ends
    let mut child = spawned.map_err(|err| err.to_string())?;
    let (said, text) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut out = String::new();
        let _ = std::fs::File::from(output).read_to_string(&mut out);
        let _ = said.send(out);
    });
    // The state, from a thread too: a hook that never reads it must not
    // block us. (EPIPE, if it ends first, is no matter.)
    if let Some(mut stdin) = child.stdin.take() {
        let state = state.to_string();
        std::thread::spawn(move || stdin.write_all(state.as_bytes()));
    }
    let limit = hook.timeout().filter(|t| *t > 0).map(|t| t as u64);
    let deadline = limit.map(|seconds| Instant::now() + Duration::from_secs(seconds));
    let status = loop {
        // Not reaped until try_wait says so: its pid, and group, are its.
        match child.try_wait().map_err(|err| err.to_string())? {
            Some(status) => break status,
            None if deadline.is_some_and(|d| Instant::now() >= d) => {
                let group = Pid::from_raw(-(child.id() as i32));
                let _ = nix::sys::signal::kill(group, nix::sys::signal::Signal::SIGKILL);
                let _ = child.wait();
                return Err(format!(
                    "timed out after {} s, killed",
                    limit.unwrap_or_default()
                ));
            }
            None => std::thread::sleep(Duration::from_millis(10)),
        }
    };
    if status.success() {
        return Ok(());
    }
    // What it wrote, if its pipe ends soon (a process it left behind
    // may hold it open).
    let out = text
        .recv_timeout(Duration::from_millis(500))
        .unwrap_or_default();
    Err(format!("{status}: {}", out.trim()))
}
// ANCHOR_END: run_one

/// The hooks `create` and `start` run, at their points of the engine's
/// timeline (the table above). Placed right before step 05's PivotRoot:
/// by then the child has made its mounts and joined the engine's
/// namespaces, and, for prestart and createRuntime, it asks us (a socket
/// pair, its meeting point with a thread of ours) to run them, in our
/// namespaces, and waits for the answer: as runc does, just before the
/// pivot.
#[derive(Debug)]
pub struct CreateHooks {
    hooks: Hooks,
    /// The state without status and pid: id, bundle, annotations.
    base: serde_json::Value,
    /// (ours, the child's), from `prepare` on.
    meeting: Option<(OwnedFd, OwnedFd)>,
}

impl CreateHooks {
    pub fn new(hooks: Hooks, base: serde_json::Value) -> Self {
        CreateHooks {
            hooks,
            base,
            meeting: None,
        }
    }

    /// prestart and createRuntime, which run in our namespaces.
    fn ours(&self) -> Vec<(&'static str, Hook)> {
        let mut ours = Vec::new();
        for (stage, list) in [
            ("prestart", self.hooks.prestart()),
            ("createRuntime", self.hooks.create_runtime()),
        ] {
            ours.extend(list.iter().flatten().map(|hook| (stage, hook.clone())));
        }
        ours
    }

    fn run(
        &self,
        stage: &str,
        hooks: &Option<Vec<Hook>>,
        status: &str,
    ) -> step01_chroot::Result<()> {
        let hooks = hooks.as_deref().unwrap_or_default();
        if hooks.is_empty() {
            return Ok(());
        }
        // In the container's namespaces: its pid as it sees it (runc's too).
        let pid = nix::unistd::getpid().as_raw();
        run(stage, hooks, &state(&self.base, status, pid)).map_err(step01_chroot::Error::layer)
    }
}

// ANCHOR: meeting
impl Layer for CreateHooks {
    fn name(&self) -> &'static str {
        "hooks"
    }

    fn color(&self) -> Color {
        Color::BrightYellow
    }

    fn prepare(&mut self, cx: &mut ParentCx<'_>) -> step01_chroot::Result<()> {
        if cx.trace.dry_run() || self.ours().is_empty() {
            return Ok(());
        }
        use nix::sys::socket::{AddressFamily, SockFlag, SockType, socketpair};
        let pair = cx
            .trace
            .call("socketpair() /* the hooks' meeting point */", || {
                socketpair(
                    AddressFamily::Unix,
                    SockType::SeqPacket,
                    None,
                    SockFlag::SOCK_CLOEXEC,
                )
            })?;
        self.meeting = Some(pair);
        Ok(())
    }

    fn configure_child(&mut self, _cx: &mut ParentCx<'_>, child: Pid) -> step01_chroot::Result<()> {
        let Some((ours, theirs)) = self.meeting.take() else {
            return Ok(());
        };
        drop(theirs); // the child has its own copy
        let hooks = self.ours();
        let state = state(&self.base, "creating", child.as_raw());
        // Waits for the child's "now" (end-of-file: it failed before),
        // runs the hooks, answers "ok" or what failed.
        std::thread::spawn(move || {
            let mut asked = [0u8; 1];
            if !matches!(nix::unistd::read(&ours, &mut asked), Ok(1)) {
                return;
            }
            let done = hooks
                .iter()
                .try_for_each(|(stage, hook)| run(stage, std::slice::from_ref(hook), &state));
            let answer = done.map_or_else(|err| err.to_string(), |()| "ok".into());
            let _ = nix::unistd::write(&ours, answer.as_bytes());
        });
        Ok(())
    }

    fn enter(&self, cx: &ChildCx<'_>) -> step01_chroot::Result<()> {
        if cx.trace.dry_run() {
            return Ok(());
        }
        if let Some((_, theirs)) = &self.meeting {
            let mut answer = vec![0u8; 4096];
            let got = cx.trace.call(
                "write(hooks, \"now\"); read(hooks) /* prestart, createRuntime */",
                || {
                    nix::unistd::write(theirs, b"n")?;
                    nix::unistd::read(theirs, &mut answer)
                },
            )?;
            let answer = String::from_utf8_lossy(&answer[..got]);
            if answer != "ok" {
                let why = match got {
                    0 => "the runtime is gone".to_string(),
                    _ => answer.into_owned(),
                };
                return Err(step01_chroot::Error::layer(OciError::Hook(why)));
            }
        }
        self.run("createContainer", self.hooks.create_container(), "creating")
    }

    fn gate_opened(&self, _cx: &ChildCx<'_>) -> step01_chroot::Result<()> {
        self.run("startContainer", self.hooks.start_container(), "created")
    }
}
// ANCHOR_END: meeting

/// The first hook whose `path` is not an absolute path to a program of
/// the host's (checked by `create`, before anything is made; a
/// startContainer hook's path is the container's, checked when it runs).
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
            let path = Path::new(hook.path());
            (!path.is_absolute() || !path.is_file()).then(|| {
                format!(
                    "hooks.{stage}[{at}].path: {}: no such program (an absolute path)",
                    hook.path().display()
                )
            })
        })
    })
}
