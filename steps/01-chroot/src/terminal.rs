//! Your terminal, while a container with `-t` uses it: raw mode (so that
//! Ctrl-C travels as a byte, and the container's own terminal makes the
//! SIGINT), restored on the way out, and the window size copied to the
//! container's pty, now and whenever yours is resized (SIGWINCH).

use std::os::fd::AsFd;
use std::sync::atomic::{AtomicI32, Ordering};

use nix::sys::termios::{SetArg, Termios, cfmakeraw, tcgetattr, tcsetattr};
use nix::unistd::isatty;

pub(crate) fn no_size() -> libc::winsize {
    libc::winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    }
}

/// The window size of the terminal on `fd`, if it is one. (Public for
/// later steps that relay a terminal of their own: step 10's `attach`.)
pub fn window_size(fd: i32) -> Option<nix::pty::Winsize> {
    let mut ws = no_size();
    // SAFETY: TIOCGWINSZ writes a winsize into `ws`.
    let ok = unsafe { libc::ioctl(fd, libc::TIOCGWINSZ, &mut ws) } == 0;
    ok.then_some(ws)
}

/// The pty master, for the SIGWINCH handler (-1: none).
pub(crate) static MASTER: AtomicI32 = AtomicI32::new(-1);

pub(crate) extern "C" fn copy_window_size(_: libc::c_int) {
    let master = MASTER.load(Ordering::SeqCst);
    if master < 0 {
        return;
    }
    let mut ws = no_size();
    // SAFETY: ioctl(2) is async-signal-safe; both take a winsize.
    unsafe {
        if libc::ioctl(0, libc::TIOCGWINSZ, &mut ws) == 0 {
            libc::ioctl(master, libc::TIOCSWINSZ, &ws);
        }
    }
}

/// When our terminal is resized (SIGWINCH), the container's follows.
pub(crate) fn watch_window_size() {
    use nix::sys::signal::{SaFlags, SigAction, SigHandler, SigSet, Signal, sigaction};
    let action = SigAction::new(
        SigHandler::Handler(copy_window_size),
        SaFlags::SA_RESTART,
        SigSet::empty(),
    );
    // SAFETY: the handler only loads an atomic and calls ioctl(2).
    let _ = unsafe { sigaction(Signal::SIGWINCH, &action) };
}

/// Our terminal in raw mode; the mode it had comes back on drop, which
/// runs on every way out of the runtime but SIGKILL (errors, panics, and
/// the signals it forwards, after which the container exits).
#[derive(Debug)]
pub struct RawMode {
    saved: Termios,
}

impl RawMode {
    /// Puts our stdin's terminal in raw mode; `None` if stdin is no terminal.
    pub fn enter() -> Option<Self> {
        let stdin = std::io::stdin();
        if !isatty(stdin.as_fd()).unwrap_or(false) {
            return None;
        }
        let saved = tcgetattr(stdin.as_fd()).ok()?;
        let mut raw = saved.clone();
        cfmakeraw(&mut raw);
        tcsetattr(stdin.as_fd(), SetArg::TCSANOW, &raw).ok()?;
        Some(RawMode { saved })
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        let _ = tcsetattr(std::io::stdin().as_fd(), SetArg::TCSANOW, &self.saved);
    }
}
