//! The console: who holds a detached container's stdio, logs it, and lets
//! `attach` in (conmon's job, for podman).
//!
//! The engine relays the container's output to its own stdout and
//! stderr, and its own stdin to the container, as it always has. In a
//! monitor those three are set up at its start ([`Ends::open`]):
//!
//! * without `-t`: pipes, and with `-i` a pipe into stdin too;
//! * with `-t`: the *slave* side of a pty of the monitor's own, its
//!   controlling terminal. The engine treats it as your terminal: raw
//!   mode, and on SIGWINCH (which the kernel sends when the pty is
//!   resized) it copies the size to the container's terminal.
//!
//! The other ends (the pipes' or the pty's master) go to the **console**, a
//! thread of the monitor's, started as soon as the container is cloned
//! (before it runs anything of its own, so nothing it writes is missed;
//! not before, because the engine clones while the monitor has one
//! thread: clone(2) copies only the calling one, and a lock another held
//! would stay held in the child forever). poll(2) on everything: what
//! comes out is cut into lines for json.log
//! (logs.rs) and copied to every attached client; what an attached client
//! types goes in. Clients connect to `attach.sock` in the record (a Unix
//! socket in a directory only root may enter), and speak in frames:
//!
//! ```text
//! client → console   'i' LEN(2 bytes) BYTES     input
//!                    'w' 4 ROWS(2) COLS(2)      a new window size
//! console → client   the output, as it comes
//! ```
//!
//! It ends when every output has ended, or when the monitor, its
//! container gone, tells it to finish; the clients see end-of-file. (It
//! was a process of its own, forked from the monitor, until chapter 10
//! measured what a second copy of the program costs per container.)

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::os::unix::net::{UnixListener, UnixStream};

use nix::fcntl::OFlag;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::signal::{SigSet, SigmaskHow, pthread_sigmask};
use nix::unistd::pipe2;

use crate::logs::{JsonLog, Lines};
use crate::record::Record;

/// The socket `attach` connects to, in the record.
pub const SOCKET: &str = "attach.sock";

/// A frame's kinds.
pub const INPUT: u8 = b'i';
pub const WINDOW: u8 = b'w';

/// The console's ends of the container's stdio, made when the monitor
/// starts; the monitor's own 0, 1 and 2 are the other ends.
#[derive(Debug)]
pub struct Ends {
    /// With `-t`: the pty's master (output, and input with `-i`).
    master: Option<OwnedFd>,
    /// Without `-t`: the read ends of stdout and stderr.
    out: Option<OwnedFd>,
    err: Option<OwnedFd>,
    /// Without `-t`, with `-i`: the write end of stdin.
    input: Option<OwnedFd>,
    /// Whether input is taken (`-i`).
    interactive: bool,
}

impl Ends {
    // ANCHOR: open
    /// Makes the monitor's stdio: pipes, or a pty (`tty`) that becomes its
    /// controlling terminal (we lead a session: `run -d` called setsid).
    pub fn open(tty: bool, interactive: bool) -> std::io::Result<Ends> {
        let onto = |fd: RawFd, targets: &[RawFd]| -> std::io::Result<()> {
            for &target in targets {
                // SAFETY: dup2 onto our standard descriptors.
                if unsafe { libc::dup2(fd, target) } == -1 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            Ok(())
        };
        if tty {
            let pty = nix::pty::openpty(None, None)?;
            onto(pty.slave.as_raw_fd(), &[0, 1, 2])?;
            // SAFETY: TIOCSCTTY on our stdin, a pty slave; 0: do not steal.
            nix::errno::Errno::result(unsafe { libc::ioctl(0, libc::TIOCSCTTY, 0) })?;
            set_cloexec(&pty.master)?;
            return Ok(Ends {
                master: Some(pty.master),
                out: None,
                err: None,
                input: None,
                interactive,
            });
        }
        let (out, out_w) = pipe2(OFlag::O_CLOEXEC)?;
        let (err, err_w) = pipe2(OFlag::O_CLOEXEC)?;
        onto(out_w.as_raw_fd(), &[1])?;
        onto(err_w.as_raw_fd(), &[2])?;
        let input = match interactive {
            true => {
                let (input_r, input) = pipe2(OFlag::O_CLOEXEC)?;
                onto(input_r.as_raw_fd(), &[0])?;
                Some(input)
            }
            false => None,
        };
        Ok(Ends {
            master: None,
            out: Some(out),
            err: Some(err),
            input,
            interactive,
        })
    }
    // ANCHOR_END: open
}

fn set_cloexec(fd: &OwnedFd) -> nix::Result<()> {
    use nix::fcntl::{FcntlArg, FdFlag, fcntl};
    fcntl(fd.as_fd(), FcntlArg::F_SETFD(FdFlag::FD_CLOEXEC)).map(drop)
}

/// A console: made ready by [`start`], serving from [`Console::serve`] on,
/// in a thread, until [`Console::finish`].
#[derive(Debug)]
pub struct Console {
    /// Until it serves: what it serves with.
    ready: Option<Ready>,
    thread: Option<std::thread::JoinHandle<()>>,
    /// The pipe whose closing tells it to finish.
    finish: OwnedFd,
}

/// A console's descriptors and log, before its thread starts.
#[derive(Debug)]
struct Ready {
    ends: Ends,
    listener: UnixListener,
    finished: OwnedFd,
    log: JsonLog,
}

/// Makes the console of `record` ready, with `ends`: its log, its socket,
/// the pipe that will tell it to finish. Its thread starts later, in
/// [`Console::serve`].
pub fn start(record: &Record, ends: Ends) -> std::io::Result<Console> {
    let log_path = record.dir().join("json.log");
    let log = JsonLog::open(&log_path, record.config.log)?;
    let socket = record.dir().join(SOCKET);
    let _ = std::fs::remove_file(&socket);
    let listener = UnixListener::bind(&socket)?;
    listener.set_nonblocking(true)?;
    // Closed by the monitor when the container is gone (`finish`): the
    // console cannot wait for end-of-file on a pty, whose slave a thread
    // of the monitor's may hold in a read(2) that never returns.
    let (finished, finish) = pipe2(OFlag::O_CLOEXEC)?;
    Ok(Console {
        ready: Some(Ready {
            ends,
            listener,
            finished,
            log,
        }),
        thread: None,
        finish,
    })
}

impl Console {
    /// Starts the console's thread: once the container is cloned (the
    /// engine's `configure_child`), before it runs.
    pub fn serve(&mut self) -> std::io::Result<()> {
        let Some(ready) = self.ready.take() else {
            return Ok(());
        };
        // Signals stay the other threads', as when the console was a
        // process of its own (the engine passes them on): the thread
        // starts with every one blocked, the mask of its creator then.
        let mut ours = SigSet::empty();
        pthread_sigmask(
            SigmaskHow::SIG_SETMASK,
            Some(&SigSet::all()),
            Some(&mut ours),
        )?;
        let thread = std::thread::Builder::new()
            .name("console".into())
            .spawn(move || {
                // A monitor whose console is gone would stall its
                // container's output for ever: better that it ends (its
                // container with it, by PR_SET_PDEATHSIG), and shows as
                // gone, and the next run sweeps what it made.
                if std::panic::catch_unwind(move || ready.serve()).is_err() {
                    std::process::abort();
                }
            });
        pthread_sigmask(SigmaskHow::SIG_SETMASK, Some(&ours), None)?;
        self.thread = Some(thread?);
        Ok(())
    }

    /// Once the container has exited: closes our stdin, stdout and stderr
    /// (the other ends of its pipes, or its pty's slave), tells the
    /// console to take what is left and finish, and waits for it.
    pub fn finish(self) {
        // With -t the pty is our controlling terminal, and when the console
        // closes the master the kernel hangs it up: SIGHUP, which would end
        // us before we write how the container ended.
        // SAFETY: setting a signal's disposition to ignored.
        unsafe { libc::signal(libc::SIGHUP, libc::SIG_IGN) };
        if let Ok(null) = File::options().read(true).write(true).open("/dev/null") {
            for fd in 0..3 {
                // SAFETY: dup2 onto our standard descriptors.
                unsafe { libc::dup2(null.as_raw_fd(), fd) };
            }
        }
        drop(self.finish);
        match (self.thread, self.ready) {
            (Some(thread), _) => {
                let _ = thread.join();
            }
            // Never started (the run failed before the clone): what the
            // monitor wrote meanwhile is still in the pipes; logged here.
            (None, Some(ready)) => ready.serve(),
            (None, None) => {}
        }
    }
}

impl Ready {
    /// The console's loop ([`serve`]), on these.
    fn serve(self) {
        let Ready {
            ends,
            listener,
            finished,
            mut log,
        } = self;
        serve(ends, &listener, &finished, &mut log);
    }
}

/// One output of the container: a pipe or the pty's master.
struct Output {
    file: Option<File>,
    stream: &'static str,
    lines: Lines,
}

/// An attached client.
struct Client {
    stream: UnixStream,
    frames: Vec<u8>,
}

// ANCHOR: serve
/// The console's loop, until every output has ended or the monitor says
/// to finish (then what is left in them is read first).
fn serve(ends: Ends, listener: &UnixListener, finished: &OwnedFd, log: &mut JsonLog) {
    let window = ends.master.as_ref().map(AsRawFd::as_raw_fd);
    let (mut input, outputs) = match ends.master {
        Some(master) => {
            let input = ends.interactive.then(|| master.try_clone().ok()).flatten();
            (input.map(File::from), vec![(master, "stdout")])
        }
        None => {
            let pipes = [(ends.out, "stdout"), (ends.err, "stderr")];
            let pipes = pipes.into_iter().filter_map(|(fd, name)| Some((fd?, name)));
            (ends.input.map(File::from), pipes.collect())
        }
    };
    let mut outputs: Vec<Output> = outputs
        .into_iter()
        .map(|(fd, stream)| Output {
            file: Some(File::from(fd)),
            stream,
            lines: Lines::default(),
        })
        .collect();
    // Input is written without blocking, from a buffer: a container that
    // reads no stdin must not stall its own output, the log and every
    // client. While the buffer is full, clients are not read (they wait).
    if let Some(input) = &input {
        let _ = nix::fcntl::fcntl(
            input.as_fd(),
            nix::fcntl::FcntlArg::F_SETFL(OFlag::O_NONBLOCK),
        );
    }
    let mut pending: Vec<u8> = Vec::new();
    let mut clients: Vec<Client> = Vec::new();
    let mut buf = vec![0u8; 64 << 10];
    let mut finishing = false;
    while outputs.iter().any(|o| o.file.is_some()) {
        let (ready_out, ready_listener, ready_finish, ready_input, ready_clients) = {
            let mut fds: Vec<PollFd> = Vec::new();
            let open: Vec<&File> = outputs.iter().filter_map(|o| o.file.as_ref()).collect();
            fds.extend(
                open.iter()
                    .map(|f| PollFd::new(f.as_fd(), PollFlags::POLLIN)),
            );
            fds.push(PollFd::new(listener.as_fd(), PollFlags::POLLIN));
            fds.push(PollFd::new(finished.as_fd(), PollFlags::POLLIN));
            // (A slot for the input either way, so the indices stay put.)
            let writing = !pending.is_empty() && input.is_some();
            let slot = input.as_ref().map_or(finished.as_fd(), |i| i.as_fd());
            let wants = if writing {
                PollFlags::POLLOUT
            } else {
                PollFlags::empty()
            };
            fds.push(PollFd::new(slot, wants));
            let reading = match pending.len() < PENDING_MAX {
                true => PollFlags::POLLIN,
                false => PollFlags::empty(),
            };
            fds.extend(
                clients
                    .iter()
                    .map(|c| PollFd::new(c.stream.as_fd(), reading)),
            );
            // Finishing: only what is there now, no waiting.
            let wait = match finishing {
                true => PollTimeout::ZERO,
                false => PollTimeout::NONE,
            };
            match poll(&mut fds, wait) {
                Ok(_) => {}
                Err(nix::errno::Errno::EINTR) => continue,
                Err(_) => break,
            }
            let ready: Vec<bool> = fds
                .iter()
                .map(|p| p.revents().is_some_and(|r| !r.is_empty()))
                .collect();
            let (out, rest) = ready.split_at(open.len());
            (out.to_vec(), rest[0], rest[1], rest[2], rest[3..].to_vec())
        };
        if ready_input && let Some(file) = input.as_mut() {
            match file.write(&pending) {
                Ok(n) => drop(pending.drain(..n)),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                // Its stdin is closed: what was typed has nowhere to go.
                Err(_) => {
                    input = None;
                    pending.clear();
                }
            }
        }
        if finishing && !ready_out.iter().any(|r| *r) {
            break; // all that was left is read
        }
        finishing |= ready_finish;
        // What the container wrote: to the log, and to each client.
        let open = outputs.iter_mut().filter(|o| o.file.is_some());
        for (output, ready) in open.zip(ready_out) {
            if !ready {
                continue;
            }
            // A pty's master reads EIO once no slave is open: the end.
            // (WouldBlock: the master is non-blocking for input's sake,
            // and poll spoke too soon.)
            let n = match output.file.as_mut().map_or(Ok(0), |f| f.read(&mut buf)) {
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
                other => other.unwrap_or(0),
            };
            let pieces = match n {
                0 => {
                    output.file = None;
                    output.lines.rest().into_iter().collect()
                }
                n => {
                    // A client that cannot take it now is dropped, rather
                    // than let it hold the container's output up.
                    clients.retain_mut(|c| c.stream.write_all(&buf[..n]).is_ok());
                    output.lines.push(&buf[..n])
                }
            };
            for piece in pieces {
                // A full disk loses lines, not the container.
                let _ = log.write(output.stream, &piece);
            }
        }
        if ready_listener
            && let Ok((stream, _)) = listener.accept()
            && stream.set_nonblocking(true).is_ok()
        {
            clients.push(Client {
                stream,
                frames: Vec::new(),
            });
        }
        // What the clients sent: input, window sizes.
        let mut gone = Vec::new();
        for (at, (client, ready)) in clients.iter_mut().zip(ready_clients).enumerate() {
            if !ready {
                continue;
            }
            match client.stream.read(&mut buf) {
                Ok(0) | Err(_) => gone.push(at),
                Ok(n) => {
                    client.frames.extend_from_slice(&buf[..n]);
                    take_frames(&mut client.frames, &mut pending, input.is_some(), window);
                }
            }
        }
        for at in gone.into_iter().rev() {
            clients.remove(at);
        }
    }
}
// ANCHOR_END: serve

/// How much typed input may wait for a container that does not read it.
const PENDING_MAX: usize = 64 << 10;

/// Acts on every whole frame in `frames`, and leaves a partial one: input
/// goes to `pending` (if the container takes input at all).
fn take_frames(
    frames: &mut Vec<u8>,
    pending: &mut Vec<u8>,
    takes_input: bool,
    window: Option<RawFd>,
) {
    while frames.len() >= 3 {
        let (kind, len) = (
            frames[0],
            u16::from_be_bytes([frames[1], frames[2]]) as usize,
        );
        if frames.len() < 3 + len {
            return;
        }
        let body: Vec<u8> = frames.drain(..3 + len).skip(3).collect();
        match (kind, window) {
            (INPUT, _) if takes_input => pending.extend_from_slice(&body),
            (WINDOW, Some(master)) if body.len() == 4 => {
                let size = libc::winsize {
                    ws_row: u16::from_be_bytes([body[0], body[1]]),
                    ws_col: u16::from_be_bytes([body[2], body[3]]),
                    ws_xpixel: 0,
                    ws_ypixel: 0,
                };
                // SAFETY: TIOCSWINSZ on the pty's master, with a winsize.
                // The kernel sends SIGWINCH to the monitor, whose engine
                // copies the size to the container's terminal.
                unsafe { libc::ioctl(master, libc::TIOCSWINSZ, &size) };
            }
            _ => {} // a frame of a kind we do not know: skipped
        }
    }
}

/// A frame of `kind` around `body` (at most 64 KiB - 1).
pub fn frame(kind: u8, body: &[u8]) -> Vec<u8> {
    let len = u16::try_from(body.len()).expect("a frame holds less than 64 KiB");
    let mut frame = vec![kind];
    frame.extend_from_slice(&len.to_be_bytes());
    frame.extend_from_slice(body);
    frame
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_taken_whole_and_a_partial_one_waits() {
        let mut pending = Vec::new();
        let mut frames = frame(INPUT, b"echo hi\n");
        frames.extend(frame(WINDOW, &[0, 40, 0, 100])); // no pty: ignored
        frames.extend(frame(b'?', b"unknown"));
        let mut last = frame(INPUT, b"exit\n");
        let tail = last.split_off(4);
        frames.extend(last);
        take_frames(&mut frames, &mut pending, true, None);
        assert_eq!(frames.len(), 4, "the partial frame waits");
        frames.extend(tail);
        take_frames(&mut frames, &mut pending, true, None);
        assert!(frames.is_empty());
        assert_eq!(pending, b"echo hi\nexit\n");
        // A container without -i takes none.
        let mut none = Vec::new();
        take_frames(&mut frame(INPUT, b"x"), &mut none, false, None);
        assert!(none.is_empty());
    }
}
