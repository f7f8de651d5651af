//! `--init`: a tiny init to be PID 1, like `docker run --init` (tini).
//!
//! Without it, your command is PID 1 of the container, a job most programs
//! were not written for:
//!
//! * **orphans**: when a process dies, its children are re-parented to PID 1,
//!   which must `wait()` for them when they exit. A program that never waits
//!   for children it did not start leaves them as zombies;
//! * **signals**: the kernel delivers to PID 1 only the signals it has a
//!   handler for (SIGKILL from the host excepted). `sleep` has none, so
//!   Ctrl-C and `kill` do nothing to a containerized `sleep`;
//! * **the end**: when PID 1 exits, the kernel kills every other process in
//!   the namespace.
//!
//! With `--init`, the child forks once more: the new process execs your
//! command (as PID 2), and the child stays behind as PID 1. It passes
//! SIGINT, SIGTERM and SIGHUP on to the command (with step 01's forwarding),
//! reaps every child that exits, and when the command ends it exits with
//! the command's status, taking the rest of the namespace with it.
//!
//! Man pages: pid_namespaces(7) ("The namespace init process"), wait(2),
//! fork(2).

use colored::Color;
use nix::errno::Errno;
use nix::sys::wait::{WaitStatus, waitpid};
use nix::unistd::{ForkResult, Pid, fork};
use step01_chroot::Layer;
use step01_chroot::error::{Result, SysError, exit_code};
use step01_chroot::layer::ChildCx;
use step01_chroot::signals::Forwarding;

/// The init layer. It must be the last layer: the fork happens at its
/// `enter`, and the command's process goes on to the remaining steps.
#[derive(Debug, Default)]
pub struct Init;

impl Layer for Init {
    fn name(&self) -> &'static str {
        "init"
    }

    fn color(&self) -> Color {
        Color::BrightMagenta
    }

    // ANCHOR: enter
    fn enter(&self, cx: &ChildCx<'_>) -> Result<()> {
        // Announced before the fork, so that only one process prints it.
        cx.trace
            .announce("fork() /* the command becomes PID 2; this process stays PID 1 */");
        if cx.trace.dry_run() {
            return Ok(());
        }
        // SAFETY: the child is single-threaded, so the forked copy holds
        // no lock another thread was holding.
        match unsafe { fork() } {
            // The new process goes on to exec the command.
            Ok(ForkResult::Child) => Ok(()),
            Ok(ForkResult::Parent { child }) => {
                // PID 1 never calls execve, so close-on-exec never closes
                // what the runtime left open in it: the error pipe (the
                // parent learns the command started when *all* write ends
                // are closed), the other ends of the stdio pipes (a stdin
                // that never ends), a pty. It needs none of them: all go.
                // SAFETY: close_range(2) with integer arguments.
                unsafe { libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, 0u32) };
                let _ = &cx.error_pipe;
                let code = supervise(child);
                // SAFETY: _exit only ends this process.
                unsafe { libc::_exit(code) }
            }
            Err(errno) => Err(SysError {
                call: "fork()".into(),
                errno,
            }
            .into()),
        }
    }
    // ANCHOR_END: enter
}

// ANCHOR: supervise
/// PID 1's loop: pass signals on, reap whatever exits, and when `command`
/// exits, return the exit code to leave with (128 + N for signal N).
fn supervise(command: Pid) -> i32 {
    let _forwarding = Forwarding::to(command);
    loop {
        // waitpid(-1): *any* child, including orphans re-parented to us.
        match waitpid(None::<Pid>, None) {
            Ok(WaitStatus::Exited(pid, code)) if pid == command => return code,
            Ok(WaitStatus::Signaled(pid, signal, _)) if pid == command => {
                return exit_code::SIGNAL_BASE + signal as i32;
            }
            Ok(_) => continue,             // an orphan, reaped: no zombie
            Err(Errno::EINTR) => continue, // a signal came in; go on waiting
            Err(_) => return exit_code::RUNTIME_ERROR as i32, // no children left?
        }
    }
}
// ANCHOR_END: supervise
