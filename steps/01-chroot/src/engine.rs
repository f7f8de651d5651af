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

use std::convert::Infallible;
use std::ffi::CString;
use std::io::Read;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;
use std::time::Duration;

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sched::CloneFlags;
use nix::sys::signal::Signal;
use nix::sys::wait::{WaitStatus, waitpid};
use nix::unistd::{Pid, execve, pipe2};

use crate::error::{Error, Result, SysError, exit_code};
use crate::layer::{ChildCx, Layer, ParentCx, Plan};
use crate::signals::Forwarding;
use crate::spec::Spec;
use crate::stdio::{Plumbing, StdioMode};
use crate::trace::{Trace, TraceOptions};

/// How the container's command ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExitStatus {
    /// It called `exit(code)`.
    Exited(i32),
    /// A signal killed it.
    Signaled(Signal),
}

impl ExitStatus {
    /// The exit code a shell would report: the code itself, or 128 + the
    /// signal number (`kill -9` gives 137), as `docker run` does too.
    pub fn code(&self) -> u8 {
        match self {
            ExitStatus::Exited(code) => *code as u8,
            ExitStatus::Signaled(sig) => (exit_code::SIGNAL_BASE + *sig as i32) as u8,
        }
    }

    /// One line for the learner about how the container ended.
    pub fn explain(&self) -> String {
        match self {
            ExitStatus::Exited(code) => format!("the container exited with status {code}"),
            ExitStatus::Signaled(sig) => format!(
                "the container was killed by {}: exit code {} (128 + {})",
                sig.as_str(),
                self.code(),
                *sig as i32
            ),
        }
    }
}

/// The child's stack for `clone(2)`. The child gets a *copy* of our memory,
/// so this only has to be big enough for the layers' `enter` hooks.
const CHILD_STACK_SIZE: usize = 1024 * 1024;

/// A container to run: a spec, its layers and the trace options.
pub struct Container {
    spec: Spec,
    layers: crate::layer::Layers,
    opts: TraceOptions,
    /// This run's lock (owner.rs), from the start of `run` to its end.
    lock: Option<crate::owner::RunLock>,
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
        let flags = self
            .layers
            .iter()
            .fold(CloneFlags::empty(), |all, layer| all | layer.clone_flags());

        // 1. Checks: refuse bad input before anything changes.
        let plan = Plan {
            spec: &self.spec,
            clone_flags: flags,
            dry_run: trace.dry_run(),
        };
        for layer in self.layers.iter() {
            layer.check(&plan)?;
        }

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

        // 3. Prepare, then run; clean up whatever was prepared.
        let mut prepared = 0;
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let mut outcome = self.prepare_all(&trace, &mut prepared);
            if outcome.is_ok() {
                outcome = self.spawn_and_wait(&trace, flags, prepared);
            }
            outcome
        }));
        let outcome = outcome.unwrap_or_else(|panic| {
            // A bug of ours; the host still comes first: undo what was
            // prepared (mounts, cgroups, links), then go on panicking.
            let _ = self.cleanup(&trace, prepared, None);
            std::panic::resume_unwind(panic)
        });
        let exit = outcome.as_ref().ok().copied().flatten();
        let cleanup = self.cleanup(&trace, prepared, exit.as_ref());
        let exit = outcome?;
        cleanup?;
        Ok(exit.unwrap_or(ExitStatus::Exited(0)))
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
    fn cleanup(&mut self, trace: &Trace, prepared: usize, exit: Option<&ExitStatus>) -> Result<()> {
        let mut first_error = None;
        for layer in self.layers[..prepared].iter_mut().rev() {
            let mut cx = ParentCx {
                spec: &mut self.spec,
                trace: trace.for_layer(layer.name(), layer.color()),
            };
            if let Err(err) = layer.cleanup(&mut cx, exit) {
                crate::cli::eprintln_or_not(format_args!(
                    "warning: cleaning up {} failed: {err}",
                    layer.name()
                ));
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

        // The container's stdio: pipes or a pty, never our own (stdio.rs).
        let plumbing = Plumbing::open(self.spec.stdio).map_err(|errno| SysError {
            call: if self.spec.stdio.tty {
                "openpty()"
            } else {
                "pipe2(O_CLOEXEC) /* stdio */"
            }
            .into(),
            errno,
        })?;
        trace.note(stdio_story(self.spec.stdio));

        let mut stack = vec![0u8; CHILD_STACK_SIZE];
        // The child gets a copy of these; it closes the parent's ends of the
        // pipes in its copy, so that it sees end-of-file if the parent dies.
        let mut parents_ends = Some((sync_write, error_read));
        let (layers, spec) = (&self.layers, &self.spec);
        // Nor may the child hold our run's lock (a fork shares it): if it
        // outlived us, our run would look alive, and its leftovers stay.
        let lock_fd = self.lock.as_ref().map(crate::owner::RunLock::raw_fd);
        let child_main = Box::new(|| {
            drop(parents_ends.take());
            if let Some(fd) = lock_fd {
                // SAFETY: closes the child's copy of the lock's descriptor,
                // which nothing in the child uses.
                unsafe { libc::close(fd) };
            }
            child(layers, spec, trace, &sync_read, &error_write, &plumbing)
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
        drop(sync_write);
        // Work that overlaps with the child's set-up. Its trace comes before
        // the child's, which waits in the pipe until the relay starts.
        self.released(&trace);
        // With -t this waits for the child's pty master, sent just before
        // its execve (or for end-of-file, if it failed before).
        let mut relay = plumbing.relay();

        // Blocks until the child execs (EOF) or reports an error and exits.
        let mut report = Vec::new();
        let _ = std::fs::File::from(error_read).read_to_end(&mut report);
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
        let Err(err) = setup_and_exec(&self.layers, &self.spec, &child_trace, child, None, None);
        match err {
            // The dry-run exec "fails" with this marker: everything went to plan.
            Error::InContainer { exit_code: 0, .. } => {}
            err => return Err(err),
        }
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

/// The child's side. Never returns: it becomes the command, or it exits.
fn child(
    layers: &[Box<dyn Layer>],
    spec: &Spec,
    trace: &Trace,
    sync_read: &OwnedFd,
    error_write: &OwnedFd,
    plumbing: &Plumbing,
) -> isize {
    // Wait for the parent's "go on", which carries our pid as the host sees it.
    let mut pid_bytes = [0u8; 4];
    let mut got = 0;
    while got < pid_bytes.len() {
        match nix::unistd::read(sync_read, &mut pid_bytes[got..]) {
            Ok(0) => die(exit_code::RUNTIME_ERROR), // the parent gave up or died
            Ok(n) => got += n,
            Err(Errno::EINTR) => {}
            Err(_) => die(exit_code::RUNTIME_ERROR),
        }
    }
    let host_pid = Pid::from_raw(i32::from_le_bytes(pid_bytes));
    let trace = trace.in_child().focused_on(host_pid.as_raw());
    // First of all: the caller's terminal is not ours to keep.
    trace.keep_terminal_for_pauses();
    if plumbing.install().is_err() {
        die(exit_code::RUNTIME_ERROR);
    }

    let Err(err) = setup_and_exec(
        layers,
        spec,
        &trace,
        host_pid,
        Some(error_write.as_fd()),
        Some(plumbing),
    );
    // Tell the parent what went wrong: one byte of exit code, then the text.
    let code = err.exit_code();
    let mut report = vec![code];
    report.extend_from_slice(err.to_string().as_bytes());
    let _ = nix::unistd::write(error_write, &report);
    die(code)
}

/// Whether the reading end of `pipe` is closed: the runtime is gone.
fn runtime_gone(pipe: BorrowedFd<'_>) -> bool {
    let mut watched = libc::pollfd {
        fd: std::os::fd::AsRawFd::as_raw_fd(&pipe),
        events: 0, // POLLERR is reported whatever is asked for
        revents: 0,
    };
    // SAFETY: one pollfd, which lives on our stack; no waiting (timeout 0).
    let ready = unsafe { libc::poll(&mut watched, 1, 0) };
    ready > 0 && watched.revents & libc::POLLERR != 0
}

/// Leaves the child at once. `_exit`, not `exit`: the child is a copy of
/// the parent, and must not run the parent's exit handlers or flush its
/// buffers a second time.
fn die(code: u8) -> ! {
    // SAFETY: _exit(2) only ends the process; it touches no memory of ours.
    unsafe { libc::_exit(code as i32) }
}

// ANCHOR: setup_and_exec
/// In the child: every layer's `enter`, in order, then `execve`.
fn setup_and_exec(
    layers: &[Box<dyn Layer>],
    spec: &Spec,
    trace: &Trace,
    host_pid: Pid,
    error_pipe: Option<BorrowedFd<'_>>,
    plumbing: Option<&Plumbing>,
) -> Result<Infallible> {
    // If the runtime dies, the container dies with it: nothing is left over.
    trace.call("prctl(PR_SET_PDEATHSIG, SIGKILL)", || {
        nix::sys::prctl::set_pdeathsig(Signal::SIGKILL)
    })?;
    for layer in layers {
        let cx = ChildCx {
            spec,
            trace: trace.for_layer(layer.name(), layer.color()),
            host_pid,
            error_pipe,
        };
        layer.enter(&cx)?;
    }
    // Again: a change of effective uid clears the setting (prctl(2)), and
    // a layer may have made one (step 03's setresuid, when container root
    // is another host id than ours).
    trace.call("prctl(PR_SET_PDEATHSIG, SIGKILL)", || {
        nix::sys::prctl::set_pdeathsig(Signal::SIGKILL)
    })?;
    // Had the runtime died before that line, no signal would ever come, and
    // the container would live on, alone. Its end of the error pipe tells:
    // once it is closed, ours reports POLLERR (poll(2)).
    if error_pipe.is_some_and(runtime_gone) {
        die(exit_code::RUNTIME_ERROR);
    }
    if spec.stdio.tty {
        // Last of all, so that nothing above runs with it: the terminal.
        trace.call("open(\"/dev/ptmx\"); setsid(); ioctl(0, TIOCSCTTY)", || {
            plumbing.map_or(Ok(()), Plumbing::attach_terminal)
        })?;
    }
    clean_process_state(trace)?;
    exec(spec, trace)
}
// ANCHOR_END: setup_and_exec

// ANCHOR: clean_process_state
/// What the command inherits besides its memory: open files, and signal
/// state. Both come from whoever started the runtime, and must not reach
/// the container.
///
/// - **Descriptors.** Every file the caller had open without close-on-exec
///   (a shell's redirection, a test harness's lock, a leaked socket) would
///   be open inside: a door to a host file that no mount namespace closes.
///   `close_range(2)` with `CLOSE_RANGE_CLOEXEC` marks them all above 2 to
///   close at `execve` (the error pipe still works until then).
/// - **Signals.** A signal the runtime *ignores* stays ignored across
///   `execve` (signal(7)); Rust's runtime ignores SIGPIPE, so `yes | head -1`
///   inside would never end the usual way. The mask of blocked signals is
///   inherited too. Every disposition goes back to the default, and
///   nothing stays blocked.
fn clean_process_state(trace: &Trace) -> Result<()> {
    trace.call("close_range(3, ~0U, CLOSE_RANGE_CLOEXEC)", || {
        // SAFETY: a plain system call with integer arguments.
        let ret = unsafe {
            libc::syscall(
                libc::SYS_close_range,
                3u32,
                u32::MAX,
                libc::CLOSE_RANGE_CLOEXEC,
            )
        };
        Errno::result(ret).map(drop)
    })?;
    trace.call("rt_sigaction(every signal, SIG_DFL)", || {
        for signal in 1..=libc::SIGRTMAX() {
            // SIGKILL and SIGSTOP cannot be changed, and glibc keeps two
            // real-time signals for itself: EINVAL for those is expected.
            // SAFETY: SIG_DFL installs no handler of ours.
            unsafe { libc::signal(signal, libc::SIG_DFL) };
        }
        Ok(())
    })?;
    trace.call("rt_sigprocmask(SIG_SETMASK, [])", || {
        nix::sys::signal::sigprocmask(
            nix::sys::signal::SigmaskHow::SIG_SETMASK,
            Some(&nix::sys::signal::SigSet::empty()),
            None,
        )
    })?;
    Ok(())
}
// ANCHOR_END: clean_process_state

/// Replaces the child with the command. Only returns on failure.
fn exec(spec: &Spec, trace: &Trace) -> Result<Infallible> {
    let program = if trace.dry_run() {
        spec.command[0].clone()
    } else {
        resolve(spec)?
    };
    let argv = spec
        .command
        .iter()
        .map(|a| cstring(a))
        .collect::<Result<Vec<_>>>()?;
    let envp = spec
        .env
        .iter()
        .map(|(k, v)| cstring(&format!("{k}={v}")))
        .collect::<Result<Vec<_>>>()?;
    let shown = format!(
        "execve({program:?}, {:?}, [{} vars])",
        spec.command,
        spec.env.len()
    );
    trace.announce(&shown);
    if trace.dry_run() {
        // Marker for Container::dry_run: the plan reached its end.
        return Err(Error::InContainer {
            message: String::new(),
            exit_code: 0,
        });
    }
    let Err(errno) = execve(&cstring(&program)?, &argv, &envp);
    Err(exec_error(&shown, &program, errno, &spec.rootfs))
}

/// The error for a failed `execve`, with the shell's exit codes.
fn exec_error(call: &str, program: &str, errno: Errno, rootfs: &Path) -> Error {
    let (exit_code, hint) = match errno {
        Errno::ENOENT => (
            exit_code::NOT_FOUND,
            format!(
                "{program} does not exist inside the rootfs {} (look with: ls {}{program}); \
                 if it does, its dynamic loader or libraries are missing there (check: ldd)",
                rootfs.display(),
                rootfs.display(),
            ),
        ),
        Errno::EACCES | Errno::ENOEXEC | Errno::EISDIR => (
            exit_code::CANNOT_EXECUTE,
            format!(
                "{program} cannot be executed: is it a regular file with the x bit set (chmod +x)?"
            ),
        ),
        _ => (exit_code::RUNTIME_ERROR, "execve failed".into()),
    };
    Error::InContainer {
        message: format!("{call}: {}\n  hint: {hint}", errno.desc()),
        exit_code,
    }
}

/// Finds `command[0]` like a shell does: as it is when it holds a `/`,
/// otherwise in each directory of the container's `PATH`. We are already
/// inside the new root here, so these are the container's directories.
fn resolve(spec: &Spec) -> Result<String> {
    let name = &spec.command[0];
    if name.contains('/') {
        return Ok(name.clone());
    }
    let path = spec.env_var("PATH").unwrap_or_default();
    path.split(':')
        .map(|dir| format!("{dir}/{name}"))
        .find(|candidate| Path::new(candidate).is_file())
        .ok_or_else(|| Error::InContainer {
            message: format!(
                "{name}: command not found in the container (PATH={path})\n  \
                 hint: give the full path, or look for it with: ls {}/bin",
                spec.rootfs.display()
            ),
            exit_code: exit_code::NOT_FOUND,
        })
}

fn cstring(s: &str) -> Result<CString> {
    CString::new(s).map_err(|_| Error::Usage(format!("argument contains a NUL byte: {s:?}")))
}

/// Waits for the child to end, and narrates how it ended.
fn wait_for(trace: &Trace, child: Pid, mut exited: impl FnMut()) -> Result<ExitStatus> {
    // No --step pause here: the container owns the terminal while it runs.
    let trace = trace.without_pause();
    loop {
        let wait = || {
            let status = waitpid(child, None);
            if matches!(
                status,
                Ok(WaitStatus::Exited(..) | WaitStatus::Signaled(..))
            ) {
                exited();
            }
            status
        };
        match trace.call(format!("waitpid({child}, 0)"), wait) {
            Ok(WaitStatus::Exited(_, code)) => return Ok(ExitStatus::Exited(code)),
            Ok(WaitStatus::Signaled(_, sig, _)) => return Ok(ExitStatus::Signaled(sig)),
            Ok(_) => continue, // stopped or continued: not the end yet
            Err(err) if err.errno == Errno::EINTR => continue,
            Err(err) => return Err(err.into()),
        }
    }
}

/// Explains the ways the host itself can refuse `clone(2)` with namespace
/// flags (see the ERRORS of clone(2) and namespaces(7)).
fn clone_refused(err: SysError) -> Error {
    let hint = match err.errno {
        // Each kind of namespace has a per-user limit, in
        // /proc/sys/user/max_*_namespaces; 0 switches that kind off.
        Errno::ENOSPC | Errno::EUSERS => {
            "a namespace limit is reached or set to 0 (/proc/sys/user/max_*_namespaces)"
        }
        // Some distributions restrict user namespaces: Debian's
        // kernel.unprivileged_userns_clone, Ubuntu's AppArmor setting.
        Errno::EPERM => "this host does not let this user make these namespaces",
        Errno::EINVAL => "this kernel does not know one of these namespace kinds",
        _ => return err.into(),
    };
    Error::HostRefused { source: err, hint }
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

/// `CLONE_NEWNS | CLONE_NEWPID | SIGCHLD`, as strace shows clone flags.
pub fn clone_flags_str(flags: CloneFlags) -> String {
    flags
        .iter_names()
        .map(|(name, _)| name)
        .chain(std::iter::once("SIGCHLD"))
        .collect::<Vec<_>>()
        .join(" | ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_follow_the_shell() {
        assert_eq!(ExitStatus::Exited(7).code(), 7);
        assert_eq!(ExitStatus::Signaled(Signal::SIGKILL).code(), 137);
        assert_eq!(ExitStatus::Signaled(Signal::SIGTERM).code(), 143);
        assert_eq!(
            ExitStatus::Signaled(Signal::SIGKILL).explain(),
            "the container was killed by SIGKILL: exit code 137 (128 + 9)"
        );
    }

    #[test]
    fn exec_errors_map_to_shell_codes() {
        let root = Path::new("/r");
        assert_eq!(
            exec_error("x", "/nope", Errno::ENOENT, root).exit_code(),
            127
        );
        assert_eq!(
            exec_error("x", "/etc", Errno::EACCES, root).exit_code(),
            126
        );
        assert_eq!(exec_error("x", "/a", Errno::E2BIG, root).exit_code(), 125);
        assert!(
            exec_error("x", "/nope", Errno::ENOENT, root)
                .to_string()
                .contains("/nope")
        );
    }

    #[test]
    fn clone_flags_are_named() {
        assert_eq!(clone_flags_str(CloneFlags::empty()), "SIGCHLD");
        assert_eq!(
            clone_flags_str(CloneFlags::CLONE_NEWNS | CloneFlags::CLONE_NEWPID),
            "CLONE_NEWNS | CLONE_NEWPID | SIGCHLD"
        );
    }
}
