//! The child's side of the engine (engine.rs has the parent's): wait for
//! the parent's "go on", apply every layer from inside, leave nothing of
//! the runtime's process state to the command, and become it with
//! `execve(2)`. Whatever fails is written into the error pipe for the
//! parent to show.

use std::ffi::CString;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;

use nix::errno::Errno;
use nix::sys::signal::Signal;
use nix::unistd::Pid;

use crate::error::{Error, Result, exit_code};
use crate::layer::{ChildCx, Layer};
use crate::spec::Spec;
use crate::stdio::Plumbing;
use crate::sys::Syscall;
use crate::trace::Trace;

/// The child's descriptors from the parent.
pub(crate) struct Ends<'a> {
    pub sync_read: &'a OwnedFd,
    pub error_write: &'a OwnedFd,
    /// The stdio the parent made; none when launched (ours are kept).
    pub plumbing: Option<&'a Plumbing>,
    /// Launched: the gate to wait at before execve (launch.rs).
    pub gate: Option<crate::launch::GateFds>,
}

/// The child's side. Never returns: it becomes the command, or it exits.
pub(crate) fn child(
    layers: &[Box<dyn Layer>],
    spec: &Spec,
    trace: &Trace,
    ends: Ends<'_>,
) -> isize {
    let Ends {
        sync_read,
        error_write,
        plumbing,
        gate,
    } = ends;
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
    let installed = match plumbing {
        Some(plumbing) => plumbing.install(),
        // Launched: the caller's stdio stay; a session of our own still.
        None => nix::unistd::setsid().map(drop),
    };
    if installed.is_err() {
        die(exit_code::RUNTIME_ERROR);
    }

    let error = Some(error_write.as_fd());
    let ends = Inside {
        error_pipe: error,
        plumbing,
        gate: gate.map(|fds| crate::launch::Gate {
            fifo: fds.fifo,
            console: fds.console,
            cloned: nix::unistd::getpid(),
            keep: sync_read.as_fd(),
            error_pipe: error_write.as_fd(),
        }),
    };
    let err = match setup_and_exec(layers, spec, &trace, host_pid, ends) {
        Err(err) => err,
        // The real kernel's execve does not come back when it works.
        Ok(Planned) => die(exit_code::RUNTIME_ERROR),
    };
    // Tell the parent what went wrong: one byte of exit code, then the text.
    let code = err.exit_code();
    if crate::launch::PAST_READY.load(std::sync::atomic::Ordering::Relaxed) {
        // Launched, and past its gate's READY: the parent is gone.
        let _ = nix::unistd::write(std::io::stderr(), format!("error: {err}\n").as_bytes());
        die(code);
    }
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
pub(crate) fn die(code: u8) -> ! {
    // SAFETY: _exit(2) only ends the process; it touches no memory of ours.
    unsafe { libc::_exit(code as i32) }
}

/// What the child has of the parent's, inside: the error pipe (none in a
/// dry run), the stdio it made (none when launched), the launch's gate.
#[derive(Clone, Copy, Default)]
pub(crate) struct Inside<'a> {
    pub error_pipe: Option<BorrowedFd<'a>>,
    pub plumbing: Option<&'a Plumbing>,
    pub gate: Option<crate::launch::Gate<'a>>,
}

// ANCHOR: setup_and_exec
/// In the child: every layer's `enter`, in order, then `execve`.
pub(crate) fn setup_and_exec(
    layers: &[Box<dyn Layer>],
    spec: &Spec,
    trace: &Trace,
    host_pid: Pid,
    inside: Inside<'_>,
) -> Result<Planned> {
    let Inside {
        error_pipe,
        plumbing,
        gate,
    } = inside;
    // If the runtime dies, the container dies with it: nothing is left over.
    // (Launched, until the runtime says "keep": launch.rs.)
    let with_us = || {
        trace.call("prctl(PR_SET_PDEATHSIG, SIGKILL)", || {
            nix::sys::prctl::set_pdeathsig(Signal::SIGKILL)
        })
    };
    with_us()?;
    for layer in layers {
        let cx = ChildCx {
            spec,
            trace: trace.for_layer(layer.name(), layer.color()),
            host_pid,
            error_pipe,
        };
        layer.enter(&cx)?;
    }
    // Launched: what layers do once `start` has opened the gate (below).
    let gate_opened = || -> Result<()> {
        for layer in layers {
            let cx = ChildCx {
                spec,
                trace: trace.for_layer(layer.name(), layer.color()),
                host_pid,
                error_pipe: None, // the parent is gone
            };
            layer.gate_opened(&cx)?;
        }
        Ok(())
    };
    // Again: a change of effective uid clears the setting (prctl(2)), and
    // a layer may have made one (step 03's setresuid, when container root
    // is another host id than ours).
    with_us()?;
    // Had the runtime died before that line, no signal would ever come, and
    // the container would live on, alone. Its end of the error pipe tells:
    // once it is closed, ours reports POLLERR (poll(2)).
    if error_pipe.is_some_and(runtime_gone) {
        die(exit_code::RUNTIME_ERROR);
    }
    clean_process_state(trace)?;
    if spec.stdio.tty {
        // Last of all, so that nothing above runs with it: the terminal.
        // Its master goes to our parent, or, launched, to the console
        // socket the engine gave.
        let console = gate.and_then(|gate| gate.console);
        trace.call(
            "open(\"/dev/ptmx\"); setsid(); ioctl(0, TIOCSCTTY)",
            || match (plumbing, console) {
                (Some(plumbing), _) => plumbing.attach_terminal(),
                (None, Some(socket)) => crate::stdio::attach_terminal(socket, None),
                (None, None) => Ok(()),
            },
        )?;
        // From here the parent relays your keys to the container's
        // terminal: a `--step` pause would wait for an Enter that goes
        // there instead. The pause before the terminal was the last.
        return exec(spec, &trace.without_pause(), gate, &gate_opened);
    }
    exec(spec, trace, gate, &gate_opened)
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

/// What a dry run's child ends with: the plan has reached `execve`, which
/// a dry run does not make (a real one never comes back from it).
#[derive(Debug)]
pub struct Planned;

/// Replaces the child with the command. Only returns on failure, or with
/// [`Planned`] when the kernel is not the real one (sys.rs).
fn exec(
    spec: &Spec,
    trace: &Trace,
    gate: Option<crate::launch::Gate<'_>>,
    gate_opened: &dyn Fn() -> Result<()>,
) -> Result<Planned> {
    // Looked up in the container's PATH, from inside its root; a dry run
    // is not inside, and shows the command as it was given.
    let program = if trace.dry_run() {
        spec.command[0].clone()
    } else {
        resolve(spec)?
    };
    let env: Vec<String> = spec.env.iter().map(|(k, v)| format!("{k}={v}")).collect();
    // A NUL byte cannot be passed to the kernel: refused here, by name.
    for text in spec.command.iter().chain(&env) {
        cstring(text)?;
    }
    if let Some(gate) = gate {
        // Every error that can be told is told by now: the parent leaves.
        crate::launch::wait_at_gate(trace, gate)?;
        gate_opened()?;
    }
    let call = Syscall::Execve {
        program: program.clone(),
        argv: spec.command.clone(),
        env,
    };
    let shown = call.to_string();
    match trace.sys(call) {
        Ok(()) => Ok(Planned),
        Err(err) => Err(exec_error(&shown, &program, err.errno, &spec.rootfs)),
    }
}

/// The error for a failed `execve`, with the shell's exit codes.
fn exec_error(call: &str, program: &str, errno: Errno, rootfs: &Path) -> Error {
    let (exit_code, hint) = match errno {
        Errno::ENOENT => (
            exit_code::NOT_FOUND,
            format!(
                "{program} does not exist inside the rootfs {} (look with: ls {}); \
                 if it does, its dynamic loader or libraries are missing there (check: ldd)",
                rootfs.display(),
                // A relative name (`bin/app`) is looked up from the working
                // directory: the root, unless a later step's -w moved it.
                rootfs.join(program.trim_start_matches('/')).display(),
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

#[cfg(test)]
mod tests {
    use super::*;

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
                .contains("ls /r/nope)")
        );
        assert!(
            exec_error("x", "bin/app", Errno::ENOENT, root)
                .to_string()
                .contains("ls /r/bin/app)")
        );
    }
}
