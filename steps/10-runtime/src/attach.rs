//! `attach`: your terminal to a detached container's console again, and
//! Docker's Ctrl-P Ctrl-Q to leave it running.
//!
//! The console (console.rs) listens on `attach.sock` in the record; this
//! is its client. Your terminal goes into raw mode, as for `run -it`, so
//! every key travels as a byte: Ctrl-C reaches the container's terminal,
//! which makes the SIGINT. Two keys in a row are ours: Ctrl-P then Ctrl-Q
//! detaches (the container runs on). The window size is sent when we
//! start and whenever it changes (checked a few times a second: the
//! console resizes its pty, the kernel sends the monitor SIGWINCH, and the
//! engine copies the size to the container's terminal).

use std::io::{Read, Write};
use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use step01_chroot::terminal::{RawMode, window_size};

use crate::console::{INPUT, SOCKET, WINDOW, frame};
use crate::error::RuntimeError;
use crate::record::{Life, Record};

/// Ctrl-P and Ctrl-Q.
const CTRL_P: u8 = 0x10;
const CTRL_Q: u8 = 0x11;

/// How an attachment ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Ended {
    /// Ctrl-P Ctrl-Q: the container runs on.
    Detached,
    /// The console closed: the container has exited.
    Exited,
}

// ANCHOR: attach
/// Relays our stdin and stdout to `record`'s console until the container
/// exits or we detach.
pub fn attach(record: &Record) -> Result<Ended, RuntimeError> {
    if record.view()?.1 != Life::Running {
        return Err(RuntimeError::NotRunning(record.config.name.clone()));
    }
    let path = record.dir().join(SOCKET);
    let mut console = UnixStream::connect(&path).map_err(|err| match err.kind() {
        // Run in the foreground (or before this step): no console.
        std::io::ErrorKind::NotFound => RuntimeError::Monitor {
            id: record.config.id.clone(),
            what: "has no console to attach to (it runs in the foreground)".into(),
        },
        _ => RuntimeError::io("connecting to", &path)(err),
    })?;
    // Raw only for a container with a terminal: without one, a line is
    // sent as you type it, Enter a newline, as to any program's stdin.
    let _raw = record.config.tty.then(RawMode::enter).flatten();
    let _ended = EndOnSignal::install();
    let mut size = None;
    let mut stdin_open = true;
    let mut held_ctrl_p = false;
    let mut buf = vec![0u8; 16 << 10];
    loop {
        // The window size, when it has changed (and at the start).
        let now = window_size(0).map(|w| (w.ws_row, w.ws_col));
        if now.is_some() && now != size {
            size = now;
            let (rows, cols) = now.unwrap_or_default();
            let body = [rows.to_be_bytes(), cols.to_be_bytes()].concat();
            send(&mut console, &frame(WINDOW, &body))?;
        }
        if ENDED.load(std::sync::atomic::Ordering::SeqCst) {
            // SIGTERM, SIGHUP, SIGQUIT: our terminal back as it was (on
            // the way out, RawMode's drop), and the container runs on.
            return Ok(Ended::Detached);
        }
        let (from_us, from_console) = {
            let stdin = std::io::stdin();
            let mut fds = vec![PollFd::new(console.as_fd(), PollFlags::POLLIN)];
            if stdin_open {
                fds.push(PollFd::new(stdin.as_fd(), PollFlags::POLLIN));
            }
            match poll(&mut fds, PollTimeout::from(250u16)) {
                Ok(_) => {}
                Err(nix::errno::Errno::EINTR) => continue,
                Err(errno) => return Err(RuntimeError::io("polling", &path)(errno.into())),
            }
            let ready = |p: &PollFd| p.revents().is_some_and(|r| !r.is_empty());
            (fds.get(1).is_some_and(ready), ready(&fds[0]))
        };
        if from_console {
            match console.read(&mut buf) {
                Ok(0) | Err(_) => return Ok(Ended::Exited),
                Ok(n) => {
                    let mut out = std::io::stdout().lock();
                    let _ = out.write_all(&buf[..n]).and_then(|()| out.flush());
                }
            }
        }
        if from_us {
            let n = std::io::stdin().lock().read(&mut buf).unwrap_or(0);
            if n == 0 {
                stdin_open = false; // the output still comes
                continue;
            }
            let mut typed = Vec::with_capacity(n + 1);
            let mut detach = false;
            for &byte in &buf[..n] {
                match (held_ctrl_p, byte) {
                    (true, CTRL_Q) => {
                        detach = true;
                        break;
                    }
                    (true, _) => typed.extend([CTRL_P, byte]),
                    (false, CTRL_P) => {}
                    (false, _) => typed.push(byte),
                }
                held_ctrl_p = !held_ctrl_p && byte == CTRL_P;
            }
            // What came before Ctrl-P Ctrl-Q is the container's.
            for piece in typed.chunks(u16::MAX as usize) {
                send(&mut console, &frame(INPUT, piece))?;
            }
            if detach {
                return Ok(Ended::Detached);
            }
        }
    }
}
// ANCHOR_END: attach

/// Sends one frame (the socket is a stream: whole, or an error).
fn send(console: &mut UnixStream, frame: &[u8]) -> Result<(), RuntimeError> {
    let path = std::path::Path::new(SOCKET);
    console
        .write_all(frame)
        .map_err(RuntimeError::io("writing to", path))
}

/// Set by a signal that ends `attach`.
static ENDED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// While it lives, SIGTERM, SIGHUP and SIGQUIT end the relay (the poll
/// returns EINTR, the loop sees the flag) instead of killing us with the
/// terminal left in raw mode.
struct EndOnSignal;

impl EndOnSignal {
    fn install() -> Self {
        use nix::sys::signal::{SaFlags, SigAction, SigHandler, SigSet, Signal, sigaction};
        extern "C" fn ended(_: libc::c_int) {
            ENDED.store(true, std::sync::atomic::Ordering::SeqCst);
        }
        // No SA_RESTART: the poll must return.
        let action = SigAction::new(
            SigHandler::Handler(ended),
            SaFlags::empty(),
            SigSet::empty(),
        );
        for signal in [Signal::SIGTERM, Signal::SIGHUP, Signal::SIGQUIT] {
            // SAFETY: the handler only stores to an atomic.
            let _ = unsafe { sigaction(signal, &action) };
        }
        EndOnSignal
    }
}
