//! Passing signals on to the container.
//!
//! While the container runs, the runtime sits in `waitpid`. A `kill PID` or
//! `systemctl stop` aimed at the runtime must reach the container, or it
//! would go on running without anyone waiting for it. So for SIGINT, SIGTERM
//! and SIGHUP we install a handler that sends the same signal to the child.
//!
//! The container runs in a session of its own (`stdio.rs`), so a Ctrl-C
//! on your terminal reaches only the runtime, which passes it on like any
//! other. (With `-t` your terminal is in raw mode: Ctrl-C travels to the
//! container's own terminal as a byte, and that terminal makes the SIGINT.)
//! The kernel marks signals from a terminal with `si_code == SI_KERNEL`,
//! those from `kill(2)` with `SI_USER`: see signal(7) and sigaction(2).
//!
//! From step 02 on, the container's command is PID 1 of its PID namespace,
//! and PID 1 does not die of signals it has no handler for: a plain `sleep`
//! ignores Ctrl-C there. So that nobody is stuck, the third Ctrl-C in a row
//! kills the container with SIGKILL, which always works.

use std::sync::atomic::{AtomicI32, Ordering};

use nix::sys::signal::{SaFlags, SigAction, SigHandler, SigSet, Signal, sigaction};
use nix::unistd::Pid;

/// The signals passed on to the container.
/// (Every signal that would otherwise end the runtime, as docker does: a
/// runtime killed by SIGQUIT would leave your terminal in raw mode.)
pub const FORWARDED: [Signal; 6] = [
    Signal::SIGINT,
    Signal::SIGTERM,
    Signal::SIGHUP,
    Signal::SIGQUIT,
    Signal::SIGUSR1,
    Signal::SIGUSR2,
];

/// The pid to forward to. A signal handler can only reach global state,
/// and an atomic is the one kind it may touch safely.
static CHILD: AtomicI32 = AtomicI32::new(0);

/// Ctrl-Cs seen so far, for the third-one-kills rule.
static INTERRUPTS: AtomicI32 = AtomicI32::new(0);

/// How many Ctrl-Cs make us kill the container.
pub const INTERRUPTS_TO_KILL: i32 = 3;

extern "C" fn forward(signal: libc::c_int, info: *mut libc::siginfo_t, _: *mut libc::c_void) {
    let child = CHILD.load(Ordering::SeqCst);
    // SAFETY: the kernel passes a valid siginfo to an SA_SIGINFO handler.
    let from_terminal = unsafe { (*info).si_code } == libc::SI_KERNEL;
    if child <= 0 {
        return;
    }
    // SAFETY: kill(2) is async-signal-safe (signal-safety(7)).
    unsafe { libc::kill(child, signal) };
    if from_terminal
        && signal == libc::SIGINT
        && INTERRUPTS.fetch_add(1, Ordering::SeqCst) + 1 == INTERRUPTS_TO_KILL
    {
        const MSG: &[u8] = b"\nthird Ctrl-C: killing the container with SIGKILL\n";
        // SAFETY: write(2) and kill(2) are async-signal-safe.
        unsafe {
            libc::write(libc::STDERR_FILENO, MSG.as_ptr().cast(), MSG.len());
            libc::kill(child, libc::SIGKILL);
        }
    }
}

/// Forwarding in force; dropping it restores the previous handlers.
#[derive(Debug)]
pub struct Forwarding {
    previous: Vec<(Signal, SigAction)>,
}

impl Forwarding {
    /// Starts forwarding [`FORWARDED`] signals to `child`.
    pub fn to(child: Pid) -> Self {
        CHILD.store(child.as_raw(), Ordering::SeqCst);
        INTERRUPTS.store(0, Ordering::SeqCst);
        // SA_RESTART: our own blocking calls (waitpid, read) go on after
        // the handler instead of failing with EINTR.
        let action = SigAction::new(
            SigHandler::SigAction(forward),
            SaFlags::SA_SIGINFO | SaFlags::SA_RESTART,
            SigSet::empty(),
        );
        let install = |sig: Signal| {
            // SAFETY: the handler only reads an atomic and calls kill(2).
            let old = unsafe { sigaction(sig, &action) };
            old.ok().map(|old| (sig, old))
        };
        let previous = FORWARDED.into_iter().filter_map(install).collect();
        Forwarding { previous }
    }
}

impl Drop for Forwarding {
    fn drop(&mut self) {
        for (sig, old) in &self.previous {
            // SAFETY: restoring the handler that was there before.
            let _ = unsafe { sigaction(*sig, old) };
        }
        CHILD.store(0, Ordering::SeqCst);
    }
}
