//! Launching: a container made and left, for a caller that will be its
//! parent (an extension point of the engine, for step 10's OCI runtime).
//!
//! `run` is the container's parent from its clone to its exit: it relays
//! its stdio, waits for it, and cleans up after it. An OCI runtime works
//! the other way round, because the engines above it (podman's conmon,
//! containerd's shim) want to be the parent themselves: `create` makes
//! the container and *exits*, leaving its first process stopped just
//! before `execve`; the engine, a subreaper (`PR_SET_CHILD_SUBREAPER`,
//! prctl(2)), inherits it; `start` lets it go on; `delete` cleans up.
//!
//! [`Container::launch`] is that `create`. Three things differ from `run`:
//!
//! - **Stdio.** The child keeps ours as they are (the engine's pipes or
//!   files): nobody would be left to relay them. With `-t` it makes its
//!   pty as `run` does and sends the master to a socket the engine gave
//!   ([`Container::with_console`]): the engine relays it, not us.
//! - **No death signal.** `run`'s child dies with it (PR_SET_PDEATHSIG);
//!   a launched one must outlive us, since we leave on purpose.
//! - **A gate.** Last thing before `execve` (after every check that can
//!   fail, so that `create` reports it), the child writes [`READY`] into
//!   the error pipe, which is all we wait for, and then opens the gate, a
//!   FIFO (fifo(7)), for writing. That open blocks until someone opens it
//!   for reading: `start`. runc calls its gate `exec.fifo`.
//!
//! Nothing is cleaned up when a launch works: what the layers made (a
//! cgroup, files) is the container's now, until its `delete`.
//!
//! And it dies with us until we say otherwise: a caller killed before it
//! wrote down what it made (the container's state file) must not leave a
//! process waiting at a gate that nobody knows of. So the child keeps
//! its death signal, and after READY it waits for one more word on the
//! sync pipe, "keep", which [`Launched::keep`] sends once the caller has
//! written its state: then it drops the signal, says so (KEPT), and only
//! then opens its gate. End-of-file instead (we died): it ends. (A process
//! at the gate that a layer forked, step 02's init staying as its parent,
//! keeps the signal: it is tied to that parent, which stays.)

use std::io::Read;
use std::os::fd::{BorrowedFd, OwnedFd, RawFd};
use std::path::Path;

use nix::fcntl::OFlag;
use nix::sys::stat::Mode;
use nix::unistd::Pid;

use crate::engine::Container;
use crate::error::{Error, Result};
use crate::trace::Trace;

/// What the child writes into the error pipe when it waits at its gate.
/// An error report starts with an exit code, which is never 0.
pub(crate) const READY: u8 = 0;

/// And once it has dropped its death signal (after "keep").
const KEPT: u8 = 0;

/// A container left at its gate by [`Container::launch`]: its first
/// process, which dies with us until [`keep`](Self::keep).
#[derive(Debug)]
pub struct Launched {
    pid: Pid,
    /// The sync pipe's write end: "keep", or end-of-file.
    keep: OwnedFd,
    /// The error pipe's read end: KEPT.
    acks: std::fs::File,
}

impl Launched {
    /// Its first process, as the host numbers it.
    pub fn pid(&self) -> Pid {
        self.pid
    }

    /// Lets it outlive us (call once what you keep of it is written):
    /// it drops its death signal, and we wait until it has.
    pub fn keep(mut self) -> Result<()> {
        let said = nix::unistd::write(&self.keep, b"k").map(drop);
        let mut ack = [1u8; 1];
        let acked = said.and_then(|()| readable_within(&self.acks, PATIENCE));
        match acked.map(|()| self.acks.read(&mut ack)) {
            Ok(Ok(1)) if ack[0] == KEPT => Ok(()),
            Err(nix::errno::Errno::ETIMEDOUT) => Err(Error::Usage(format!(
                "the container's process did not say it was kept within {} s",
                PATIENCE.as_secs()
            ))),
            _ => Err(Error::Usage(
                "the container's process ended at its gate, before it was kept".into(),
            )),
        }
    }
}

/// What the parent hands the child for a launch: the FIFO's O_PATH
/// handle, and the console socket (with `-t`).
#[derive(Clone, Copy)]
pub(crate) struct GateFds {
    pub fifo: RawFd,
    pub console: Option<RawFd>,
}

/// The child's ends for its gate: the FIFO's O_PATH handle, the console
/// socket, the sync pipe (for "keep"), the error pipe (for READY and KEPT).
#[derive(Clone, Copy)]
pub(crate) struct Gate<'a> {
    pub fifo: RawFd,
    pub console: Option<RawFd>,
    /// The cloned child's pid (as it sees itself). A process at the gate
    /// that is not it was forked by a layer that stays as its parent
    /// (step 02's init): it keeps its death signal, tied to that parent.
    pub cloned: Pid,
    pub keep: BorrowedFd<'a>,
    pub error_pipe: BorrowedFd<'a>,
}

/// In the child: READY was sent, and the parent may be gone. An error
/// from here on goes to our stderr (the caller's, which an engine logs):
/// the error pipe may have no reader left.
pub(crate) static PAST_READY: std::sync::atomic::AtomicBool =
    std::sync::atomic::AtomicBool::new(false);

impl Container {
    // ANCHOR: launch
    /// Makes the container and leaves it waiting at `gate` (a FIFO that
    /// `start` opens for reading), and returns it: its pid, and
    /// [`Launched::keep`], without which it dies with us. The layers'
    /// checks, `prepare`, the clone and `configure_child` are `run`'s;
    /// what fails before the gate is cleaned up and returned, as `run`
    /// would.
    pub fn launch(mut self, gate: &Path) -> Result<Launched> {
        let trace = Trace::new(self.opts.clone());
        let tty = self.spec().stdio.tty;
        if trace.dry_run() || tty != self.console.is_some() || self.spec().stdio.interactive {
            return Err(Error::Usage(
                "a launched container has no dry run, and keeps its caller's stdio as they are \
                 (no -i; -t only with a console socket)"
                    .into(),
            ));
        }
        // O_PATH: a handle on the FIFO that opens nothing yet (an open
        // for writing would block here); the child reopens it.
        let handle = nix::fcntl::open(gate, OFlag::O_PATH | OFlag::O_CLOEXEC, Mode::empty())
            .map_err(|errno| Error::Io {
                what: "opening the gate",
                path: gate.to_path_buf(),
                source: errno.into(),
            })?;
        self.gate = Some(handle);
        let (outcome, prepared) = self.start(&trace)?;
        match (outcome, self.launched.take()) {
            (Ok(_), Some(launched)) => Ok(launched),
            (outcome, _) => {
                let _ = self.cleanup(&trace, prepared, None);
                Err(outcome.err().unwrap_or_else(|| {
                    Error::Usage("the container ended before it reached its gate".into())
                }))
            }
        }
    }
    // ANCHOR_END: launch

    /// With `-t`, a launched container's terminal: a pty made inside, as
    /// `run` makes it (stdio.rs), whose master is sent over `socket` (a
    /// unix(7) socket the caller connected: runc's `--console-socket`,
    /// where conmon or containerd's shim waits for it) instead of to us.
    /// The container's 0, 1 and 2 become the pty's other side.
    pub fn with_console(mut self, socket: OwnedFd) -> Self {
        self.console = Some(socket);
        self
    }
}

/// How long the parent waits for the child's READY, and for KEPT: a
/// container whose processes can signal it (SIGSTOP) must not make its
/// caller, an engine, wait for ever.
const PATIENCE: std::time::Duration = std::time::Duration::from_secs(120);

/// Waits until `fd` has something to read (or its other end closed), at
/// most `limit`: ETIMEDOUT past it.
fn readable_within(fd: &impl std::os::fd::AsFd, limit: std::time::Duration) -> nix::Result<()> {
    use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
    let deadline = std::time::Instant::now() + limit;
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        let timeout = PollTimeout::try_from(left).unwrap_or(PollTimeout::MAX);
        let mut fds = [PollFd::new(fd.as_fd(), PollFlags::POLLIN)];
        match poll(&mut fds, timeout) {
            Ok(0) => return Err(nix::errno::Errno::ETIMEDOUT),
            Ok(_) => return Ok(()),
            Err(nix::errno::Errno::EINTR) => continue,
            Err(errno) => return Err(errno),
        }
    }
}

/// In the parent: waits until the child is at its gate (it wrote
/// [`READY`]), or reports how it failed (and is reaped). Past
/// [`PATIENCE`], it is killed.
pub(crate) fn until_ready(
    trace: &Trace,
    child: Pid,
    error_read: OwnedFd,
    keep: OwnedFd,
) -> Result<Launched> {
    let mut pipe = std::fs::File::from(error_read);
    let mut first = [0u8; 1];
    let mut late = false;
    let got = trace.call("read(error_pipe, 1) /* READY, or an error */", || {
        if readable_within(&pipe, PATIENCE).is_err() {
            let _ = nix::sys::signal::kill(child, nix::sys::signal::Signal::SIGKILL);
            late = true;
            return Ok(0);
        }
        loop {
            match pipe.read(&mut first) {
                Err(err) if err.kind() == std::io::ErrorKind::Interrupted => continue,
                other => break other.map_err(|_| nix::errno::Errno::EIO),
            }
        }
    })?;
    if got == 1 && first[0] == READY {
        return Ok(Launched {
            pid: child,
            keep,
            acks: pipe,
        });
    }
    // An error report (its exit code first), or nothing: it died. (Late,
    // killed: another process may still hold the pipe; nothing to read.)
    let mut message = Vec::new();
    if !late {
        let _ = pipe.read_to_end(&mut message);
    }
    let _ = nix::sys::wait::waitpid(child, None);
    Err(Error::InContainer {
        message: match got {
            0 if late => format!(
                "the container's process did not reach its gate within {} s: killed",
                PATIENCE.as_secs()
            ),
            0 => "the container's process died before it reached its gate".into(),
            _ => String::from_utf8_lossy(&message).into_owned(),
        },
        exit_code: match got {
            0 => crate::error::exit_code::RUNTIME_ERROR,
            _ => first[0],
        },
    })
}

/// In the child, last thing before `execve`: tells the parent it is ready,
/// waits for "keep" (end-of-file: the parent died, and so do we), drops
/// its death signal and says so, then waits for `start` by opening the
/// gate for writing (through our own `/proc`: the path outside is not in
/// our root any more), and writes one byte for `start` to read.
pub(crate) fn wait_at_gate(trace: &Trace, gate: Gate<'_>) -> Result<()> {
    let sys = |call: &str| {
        let call = call.to_string();
        move |errno| crate::error::SysError { call, errno }
    };
    nix::unistd::write(gate.error_pipe, &[READY]).map_err(sys("write(error_pipe, READY)"))?;
    let mut word = [0u8; 1];
    loop {
        match nix::unistd::read(gate.keep, &mut word) {
            Ok(1) => break,
            Err(nix::errno::Errno::EINTR) => continue,
            // The parent is gone without a "keep": nothing must remain.
            _ => crate::child::die(crate::error::exit_code::RUNTIME_ERROR),
        }
    }
    if nix::unistd::getpid() == gate.cloned {
        nix::sys::prctl::set_pdeathsig(None).map_err(sys("prctl(PR_SET_PDEATHSIG, 0)"))?;
    }
    nix::unistd::write(gate.error_pipe, &[KEPT]).map_err(sys("write(error_pipe, KEPT)"))?;
    PAST_READY.store(true, std::sync::atomic::Ordering::Relaxed);
    let path = format!("/proc/self/fd/{}", gate.fifo);
    let opened = trace
        .call(
            format!("open({path:?}, O_WRONLY) /* waits for start */"),
            || {
                nix::fcntl::open(
                    path.as_str(),
                    OFlag::O_WRONLY | OFlag::O_CLOEXEC,
                    Mode::empty(),
                )
                .map(Some)
            },
        )?
        .expect("an open that worked gives a descriptor");
    trace.call("write(gate, \"0\")", || {
        nix::unistd::write(&opened, b"0").map(drop)
    })?;
    // Closed here; the handle is close-on-exec: the command has neither.
    drop(opened);
    Ok(())
}
