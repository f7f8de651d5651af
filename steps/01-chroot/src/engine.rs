//! The engine: runs a command as a container, a parent and a child process
//! plus an ordered list of [layers](crate::layer::Layer) of isolation.
//!
//! # Why `clone(2)` and not `fork(2)`
//!
//! `fork()` makes a copy of the calling process in the *same* namespaces.
//! `clone()` takes flags (`CLONE_NEWPID`, `CLONE_NEWNS`, ...) that create new
//! namespaces and start the child inside them, in one call. That matters for
//! the PID namespace of step 02: `unshare(CLONE_NEWPID)` does not move the
//! caller, only its *future* children, so with fork we would need a second
//! fork. In step 01 no layer adds a flag, and `clone(SIGCHLD)` behaves
//! exactly like `fork()`: the child gets a copy of our memory (no `CLONE_VM`),
//! and `SIGCHLD` tells the kernel to notify us when it exits, as for any child.
//!
//! # Two pipes
//!
//! * the **sync pipe**: the child blocks reading it until the parent has done
//!   its part (written uid maps, added the child to a cgroup, ...). The
//!   parent then writes the child's host pid into it: "go on".
//! * the **error pipe** is close-on-exec (`O_CLOEXEC`). If setting up fails in
//!   the child, it writes the error into it and exits; if `execve` works, the
//!   kernel closes the pipe. So the parent reads until end-of-file: nothing
//!   read means the command is running; otherwise it shows the child's error,
//!   e.g. `chroot("/x"): No such file or directory`, instead of a silent exit.

use std::io::{Read, Write};
use std::time::Duration;

use nix::fcntl::OFlag;
use nix::sched::CloneFlags;
use nix::sys::signal::Signal;
use nix::sys::wait::waitpid;
use nix::unistd::{Pid, pipe2};

use crate::clone::{clone_flags_str, clone_refused};
use crate::status::{ExitStatus, wait_for};

use crate::error::{Error, Result, SysError};
use crate::layer::{Layer, ParentCx, Plan};
use crate::signals::Forwarding;
use crate::spec::Spec;
use crate::stdio::{Plumbing, StdioMode};
use crate::trace::{Trace, TraceOptions};

/// The child's stack for `clone(2)`. The child gets a *copy* of our memory,
/// so this only has to be big enough for the layers' `enter` hooks.
const CHILD_STACK_SIZE: usize = 1024 * 1024;

/// A container to run: a spec, its layers and the trace options.
pub struct Container {
    spec: Spec,
    layers: crate::layer::Layers,
    pub(crate) opts: TraceOptions,
    /// This run's lock (owner.rs), from the start of `run` to its end.
    lock: Option<crate::owner::RunLock>,
    /// [`launch`](Self::launch)'s gate, where the child waits (launch.rs).
    pub(crate) gate: Option<std::os::fd::OwnedFd>,
    /// With `-t`, launched: the socket its pty's master goes to.
    pub(crate) console: Option<std::os::fd::OwnedFd>,
    /// The child that `launch` left at its gate.
    pub(crate) launched: Option<crate::launch::Launched>,
}

impl std::fmt::Debug for Container {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Container")
            .field("spec", &self.spec)
            .field("layers", &self.layers)
            .finish()
    }
}

impl Container {
    /// A container with no layers yet.
    pub fn new(spec: Spec, opts: TraceOptions) -> Self {
        Container {
            spec,
            layers: crate::layer::Layers::new(),
            opts,
            lock: None,
            gate: None,
            console: None,
            launched: None,
        }
    }

    /// Adds a layer. Layers act in the order they are added; they are
    /// cleaned up in reverse.
    pub fn with_layer(mut self, layer: impl Layer + 'static) -> Self {
        self.layers.push(layer);
        self
    }

    /// Adds layers, in order.
    pub fn with_layers(mut self, layers: crate::layer::Layers) -> Self {
        self.layers.append(layers);
        self
    }

    /// The container's spec.
    pub fn spec(&self) -> &Spec {
        &self.spec
    }

    /// Runs the container to the end and returns how its command ended.
    ///
    /// Layers that were prepared are always cleaned up, whatever happens.
    pub fn run(mut self) -> Result<ExitStatus> {
        let trace = Trace::new(self.opts.clone());
        let (outcome, prepared) = self.start(&trace)?;
        let exit = outcome.as_ref().ok().copied().flatten();
        let cleanup = self.cleanup(&trace, prepared, exit.as_ref());
        let exit = outcome?;
        cleanup?;
        Ok(exit.unwrap_or(ExitStatus::Exited(0)))
    }

    /// Checks, the lock, prepare and spawn (and, for `run`, the wait):
    /// how it went, and how many layers were prepared, for `cleanup`. An
    /// error of the checks or the lock comes first: nothing to clean up.
    pub(crate) fn start(&mut self, trace: &Trace) -> Result<(Result<Option<ExitStatus>>, usize)> {
        // 1. Checks: refuse bad input before anything changes.
        let flags = self.check_all(trace)?;

        // 2. This run's lock (owner.rs), held until we return: what the
        //    layers make is named after our id, and whoever finds it can
        //    tell whether we are alive.
        let lock = crate::owner::runs_dir().join(&self.spec.id);
        self.lock = trace
            .call_any(
                format!("open({lock:?}); flock(LOCK_EX) /* held while we live */"),
                || {
                    crate::owner::sweep_dead();
                    crate::owner::RunLock::take(&self.spec.id).map(Some)
                },
            )
            .map_err(|source| Error::Io {
                what: "taking this run's lock in",
                path: crate::owner::runs_dir(),
                source,
            })?;

        // 3. Prepare, then run; the caller cleans up whatever was prepared.
        let mut prepared = 0;
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let mut outcome = self.prepare_all(trace, &mut prepared);
            if outcome.is_ok() {
                outcome = self.spawn_and_wait(trace, flags, prepared);
            }
            outcome
        }));
        let outcome = outcome.unwrap_or_else(|panic| {
            // A bug of ours; the host still comes first: undo what was
            // prepared (mounts, cgroups, links), then go on panicking.
            let _ = self.cleanup(trace, prepared, None);
            std::panic::resume_unwind(panic)
        });
        Ok((outcome, prepared))
    }

    /// Step 1 of [`run`](Self::run) alone: every layer's check, and
    /// nothing changed. For a command that records a container to run
    /// later (step 10's `create`): it refuses what `run` would refuse,
    /// before it records anything.
    pub fn check(&self) -> Result<()> {
        self.check_all(&Trace::new(self.opts.clone())).map(drop)
    }

    /// Every layer's check, in order; the clone flags they add up to.
    fn check_all(&self, trace: &Trace) -> Result<CloneFlags> {
        let flags = self
            .layers
            .iter()
            .fold(CloneFlags::empty(), |all, layer| all | layer.clone_flags());
        let plan = Plan {
            spec: &self.spec,
            clone_flags: flags,
            dry_run: trace.dry_run(),
        };
        for layer in self.layers.iter() {
            layer.check(&plan)?;
        }
        Ok(flags)
    }

    fn prepare_all(&mut self, trace: &Trace, prepared: &mut usize) -> Result<Option<ExitStatus>> {
        for layer in self.layers.iter_mut() {
            let mut cx = ParentCx {
                spec: &mut self.spec,
                trace: trace.for_layer(layer.name(), layer.color()),
            };
            layer.prepare(&mut cx)?;
            *prepared += 1;
        }
        for layer in self.layers.iter_mut() {
            let mut cx = ParentCx {
                spec: &mut self.spec,
                trace: trace.for_layer(layer.name(), layer.color()),
            };
            layer.before_clone(&mut cx)?;
        }
        Ok(None)
    }

    /// Calls every prepared layer's `cleanup`, last layer first. A failure
    /// does not stop the others: each is reported, the first is returned.
    pub(crate) fn cleanup(
        &mut self,
        trace: &Trace,
        prepared: usize,
        exit: Option<&ExitStatus>,
    ) -> Result<()> {
        let mut first_error = None;
        for layer in self.layers[..prepared].iter_mut().rev() {
            let mut cx = ParentCx {
                spec: &mut self.spec,
                trace: trace.for_layer(layer.name(), layer.color()),
            };
            if let Err(err) = layer.cleanup(&mut cx, exit) {
                // (A closed stderr is no reason to stop cleaning up.)
                let name = layer.name();
                let _ = writeln!(
                    std::io::stderr(),
                    "warning: cleaning up {name} failed: {err}"
                );
                first_error.get_or_insert(err);
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// Creates the child, lets the layers configure it, releases it and
    /// waits for it. Returns `None` in a dry run.
    fn spawn_and_wait(
        &mut self,
        trace: &Trace,
        flags: CloneFlags,
        prepared: usize,
    ) -> Result<Option<ExitStatus>> {
        debug_assert_eq!(prepared, self.layers.len());
        if trace.dry_run() {
            self.dry_run(trace, flags)?;
            return Ok(None);
        }

        // ANCHOR: spawn
        let (sync_read, sync_write) = trace.call("pipe2(O_CLOEXEC) /* sync pipe */", || {
            pipe2(OFlag::O_CLOEXEC)
        })?;
        let (error_read, error_write) = trace.call("pipe2(O_CLOEXEC) /* error pipe */", || {
            pipe2(OFlag::O_CLOEXEC)
        })?;

        // The container's stdio: pipes or a pty, never our own (stdio.rs);
        // launched, ours, which it keeps when we are gone (launch.rs).
        let plumbing = match self.gate {
            Some(_) => None,
            None => Some(Plumbing::open(self.spec.stdio).map_err(|errno| {
                SysError {
                    call: if self.spec.stdio.tty {
                        "openpty()"
                    } else {
                        "pipe2(O_CLOEXEC) /* stdio */"
                    }
                    .into(),
                    errno,
                }
            })?),
        };
        trace.note(match plumbing {
            Some(_) => stdio_story(self.spec.stdio),
            None => "launched: the container's stdio are ours, as they are (nothing relayed)",
        });

        let mut stack = vec![0u8; CHILD_STACK_SIZE];
        // The child gets a copy of these; it closes the parent's ends of the
        // pipes in its copy, so that it sees end-of-file if the parent dies.
        let mut parents_ends = Some((sync_write, error_read));
        let (layers, spec) = (&self.layers, &self.spec);
        // Nor may the child hold our run's lock (a fork shares it): if it
        // outlived us, our run would look alive, and its leftovers stay.
        let lock_fd = self.lock.as_ref().map(crate::owner::RunLock::raw_fd);
        let raw = std::os::fd::AsRawFd::as_raw_fd;
        let gate = self.gate.as_ref().map(|fifo| crate::launch::GateFds {
            fifo: raw(fifo),
            console: self.console.as_ref().map(raw),
        });
        let child_main = Box::new(|| {
            drop(parents_ends.take());
            if let Some(fd) = lock_fd {
                // SAFETY: closes the child's copy of the lock's descriptor,
                // which nothing in the child uses.
                unsafe { libc::close(fd) };
            }
            let ends = crate::child::Ends {
                sync_read: &sync_read,
                error_write: &error_write,
                plumbing: plumbing.as_ref(),
                gate,
            };
            crate::child::child(layers, spec, trace, ends)
        });
        let child = trace
            .call(format!("clone({})", clone_flags_str(flags)), || {
                // SAFETY: the parent is single-threaded, so the child's copy of
                // memory holds no lock some other thread was holding; the child
                // only runs `child()` below, which ends in execve or _exit.
                unsafe { nix::sched::clone(child_main, &mut stack, flags, Some(libc::SIGCHLD)) }
            })
            .map_err(clone_refused)?;
        // ANCHOR_END: spawn
        let (sync_write, error_read) = parents_ends.take().expect("the parent keeps its ends");
        drop((sync_read, error_write));
        let trace = trace.focused_on(child.as_raw());
        // A panic from here on (a bug) must not leave the child running
        // while `run` cleans up what it uses.
        let _reap_on_panic = KillOnPanic(child);
        // Ctrl-C, `kill`, a closed terminal: pass them on to the container.
        let _forwarding = Forwarding::to(child);

        // The child waits on the sync pipe while the layers configure it.
        for layer in self.layers.iter_mut() {
            let mut cx = ParentCx {
                spec: &mut self.spec,
                trace: trace.for_layer(layer.name(), layer.color()),
            };
            if let Err(err) = layer.configure_child(&mut cx, child) {
                // Do not leave a half-configured child behind.
                let _ = nix::sys::signal::kill(child, Signal::SIGKILL);
                let _ = waitpid(child, None);
                return Err(err);
            }
        }

        // ANCHOR: release
        // Announced *before* the write: once it is done the child runs and
        // narrates, and a line printed afterwards could land amid its lines.
        let release = "write(sync_pipe, &child_pid, 4) /* go on */";
        trace.announce(release);
        nix::unistd::write(&sync_write, &child.as_raw().to_le_bytes()).map_err(|errno| {
            crate::error::SysError {
                call: release.into(),
                errno,
            }
        })?;
        // Launched, the pipe says one thing more: "keep" (launch.rs).
        let keep = match self.gate {
            Some(_) => Some(sync_write),
            None => {
                drop(sync_write);
                None
            }
        };
        // Work that overlaps with the child's set-up. Its trace comes before
        // the child's, which waits in the pipe until the relay starts.
        self.released(&trace);
        let (Some(plumbing), None) = (plumbing, &keep) else {
            // Launched: we leave once it waits at its gate (launch.rs).
            let keep = keep.expect("launched: the sync pipe is kept");
            self.launched = Some(crate::launch::until_ready(&trace, child, error_read, keep)?);
            return Ok(None);
        };
        // With -t this waits for the child's pty master, sent just before
        // its execve (or for end-of-file, if it failed before).
        let mut relay = plumbing.relay();

        // Blocks until the child execs (EOF) or reports an error and exits.
        let mut report = Vec::new();
        let _ = std::fs::File::from(error_read).read_to_end(&mut report);
        if report.is_empty() {
            self.running(&trace, child);
        }
        // Once the child is gone, its output is copied out before the
        // trace goes on, so the two stay in order.
        let status = wait_for(&trace, child, || relay.drain(Duration::from_secs(2)))?;
        drop(relay); // our terminal back as it was
        if let Some((&code, message)) = report.split_first() {
            return Err(Error::InContainer {
                message: String::from_utf8_lossy(message).into_owned(),
                exit_code: code,
            });
        }
        // ANCHOR_END: release
        Ok(Some(status))
    }

    /// Every layer's [`Layer::running`], in layer order.
    fn running(&mut self, trace: &Trace, child: Pid) {
        for layer in self.layers.iter_mut() {
            let mut cx = ParentCx {
                spec: &mut self.spec,
                trace: trace.for_layer(layer.name(), layer.color()),
            };
            layer.running(&mut cx, child);
        }
    }

    /// Every layer's [`Layer::released`], in layer order.
    fn released(&mut self, trace: &Trace) {
        for layer in self.layers.iter_mut() {
            let mut cx = ParentCx {
                spec: &mut self.spec,
                trace: trace.for_layer(layer.name(), layer.color()),
            };
            layer.released(&mut cx);
        }
    }

    /// The same story without executing anything: the parent's part, then
    /// the child's hooks run here, in this process, with a dry-run trace.
    fn dry_run(&mut self, trace: &Trace, flags: CloneFlags) -> Result<()> {
        trace.announce("pipe2(O_CLOEXEC) /* sync pipe */");
        trace.announce("pipe2(O_CLOEXEC) /* error pipe */");
        trace.note(stdio_story(self.spec.stdio));
        trace.announce(format!("clone({})", clone_flags_str(flags)));
        trace.note("in a dry run there is no child: its pid is shown as 0");
        let child = Pid::from_raw(0);
        for layer in self.layers.iter_mut() {
            let mut cx = ParentCx {
                spec: &mut self.spec,
                trace: trace.for_layer(layer.name(), layer.color()),
            };
            layer.configure_child(&mut cx, child)?;
        }
        trace.announce("write(sync_pipe, &child_pid, 4) /* go on */");
        self.released(trace);
        let child_trace = trace.in_child();
        // The child's part, run here: it ends at execve, which a dry run's
        // kernel does not make (sys.rs).
        let crate::child::Planned = crate::child::setup_and_exec(
            &self.layers,
            &self.spec,
            &child_trace,
            child,
            Default::default(),
        )?;
        trace.announce("waitpid(0, 0)");
        Ok(())
    }
}

/// Kills and reaps the child if dropped while panicking.
struct KillOnPanic(Pid);

impl Drop for KillOnPanic {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let _ = nix::sys::signal::kill(self.0, Signal::SIGKILL);
            let _ = waitpid(self.0, None);
        }
    }
}

/// What the container's stdio will be, for the trace.
fn stdio_story(mode: StdioMode) -> &'static str {
    match (mode.tty, mode.interactive) {
        (true, _) => "-t: the container gets a new pty; we relay it to our terminal (raw mode)",
        (false, true) => "-i: the container's stdio are pipes; we relay our stdin to it",
        (false, false) => {
            "the container's stdio are pipes we relay, stdin /dev/null (-i to keep it open)"
        }
    }
}
