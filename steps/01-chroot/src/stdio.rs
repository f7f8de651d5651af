//! The container's standard input, output and error: never the caller's.
//!
//! A process that holds your terminal can do more than print to it. With
//! `ioctl(fd, TIOCSTI, &c)` it pushes characters into the terminal's input,
//! and your shell runs them as commands after the container exits (as you,
//! perhaps as root); it can also go on reading what you type next. So, as
//! Docker and runc do, the container gets descriptors of its own:
//!
//! * **`-t`**: a new pseudo-terminal (pty(7)). The container's stdin,
//!   stdout and stderr are its *slave* side, in a new session where it is
//!   the controlling terminal; the runtime copies bytes between its *master*
//!   side and your terminal, which it puts in raw mode (so Ctrl-C travels as
//!   a byte and the container's terminal makes the SIGINT), copies the
//!   window size, and restores on the way out. When the runtime goes, the
//!   master closes and the container's terminal hangs up.
//!
//!   Where the pty comes from: as runc does, the child opens it just before
//!   execve, from the container's own `/dev/ptmx` (step 05 mounts a devpts
//!   of its own), so that inside it is `/dev/pts/0`; it hands the master to
//!   the runtime over a socket (SCM_RIGHTS, unix(7)). Until step 05 there
//!   is no such devpts: the child takes one the parent opened on the host's.
//! * **without `-t`**: pipes. The runtime copies the container's output to
//!   its own, and its own input to the container's only with **`-i`**;
//!   otherwise the container reads `/dev/null`.
//!
//! Either way the container starts a new session (setsid(2)), so your
//! terminal is not its controlling terminal, and TIOCSTI on anything it can
//! reach needs CAP_SYS_ADMIN on the host (tty_ioctl(4)).

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use crate::terminal::{MASTER, RawMode, copy_window_size, watch_window_size, window_size};
use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sys::socket;
use nix::unistd::{isatty, pipe2, setsid};

/// `-i` and `-t`, as docker run takes them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StdioMode {
    /// `-i`: the caller's stdin reaches the container.
    pub interactive: bool,
    /// `-t`: the container gets a terminal of its own.
    pub tty: bool,
}

/// The descriptors made before the clone: the child's three, and the
/// parent's ends.
#[derive(Debug)]
pub struct Plumbing {
    /// What becomes the child's 0, 1 and 2 at once: `/dev/null` or a pipe,
    /// and two pipes. With `-t` they carry only the runtime's own trace of
    /// the child, until the terminal replaces them just before execve.
    child: [OwnedFd; 3],
    /// Our ends of those pipes.
    stdin: Option<OwnedFd>,
    stdout: OwnedFd,
    stderr: OwnedFd,
    /// With `-t`.
    terminal: Option<Terminal>,
    /// `-i`: with `-t`, our stdin goes to the pty.
    interactive: bool,
}

/// The parts of `-t`.
#[derive(Debug)]
struct Terminal {
    /// A pty on the host's devpts, for steps without a devpts of their own.
    host_master: OwnedFd,
    host_slave: OwnedFd,
    /// The console socket: the child sends its pty master over it.
    socket: OwnedFd,
    child_socket: OwnedFd,
}

impl Plumbing {
    // ANCHOR: open
    /// Pipes, and a pty if `mode` asks. Every descriptor is close-on-exec:
    /// the child's copies of the parent's ends vanish at execve, and its
    /// own ends survive only as the dup2'd 0, 1 and 2.
    pub fn open(mode: StdioMode) -> nix::Result<Self> {
        if mode.tty && mode.interactive && !isatty(std::io::stdin().as_fd()).unwrap_or(false) {
            // A pty never sees end-of-file from a pipe: `-it` would wait
            // for ever (docker refuses it too). See `check`.
            return Err(Errno::ENOTTY);
        }
        let cloexec = OFlag::O_CLOEXEC;
        let (stdin_child, stdin) = if mode.interactive && !mode.tty {
            let (r, w) = pipe2(cloexec)?;
            (r, Some(w))
        } else {
            let null = nix::fcntl::open(
                "/dev/null",
                OFlag::O_RDONLY | cloexec,
                nix::sys::stat::Mode::empty(),
            )?;
            (null, None)
        };
        let (stdout, stdout_child) = pipe2(cloexec)?;
        let (stderr, stderr_child) = pipe2(cloexec)?;
        let terminal = if mode.tty {
            let winsize = window_size(std::io::stdin().as_raw_fd());
            let pty = nix::pty::openpty(winsize.as_ref(), None)?;
            set_cloexec(&pty.master)?;
            set_cloexec(&pty.slave)?;
            let (socket, child_socket) = socket::socketpair(
                socket::AddressFamily::Unix,
                socket::SockType::SeqPacket,
                None,
                socket::SockFlag::SOCK_CLOEXEC,
            )?;
            Some(Terminal {
                host_master: pty.master,
                host_slave: pty.slave,
                socket,
                child_socket,
            })
        } else {
            None
        };
        Ok(Plumbing {
            child: [stdin_child, stdout_child, stderr_child],
            stdin,
            stdout,
            stderr,
            terminal,
            interactive: mode.interactive,
        })
    }
    // ANCHOR_END: open

    // ANCHOR: install
    /// In the child, before anything else: the new descriptors become 0, 1
    /// and 2, and a new session begins, without a controlling terminal.
    /// (From here on no process of the container, step 02's init included,
    /// holds the caller's terminal or can open it as /dev/tty.)
    pub fn install(&self) -> nix::Result<()> {
        for (fd, target) in self.child.iter().zip(0..) {
            dup2_onto(fd.as_raw_fd(), target)?;
        }
        setsid().map(drop)
    }
    // ANCHOR_END: install

    /// In the child, last thing before execve, with `-t`: a pty from the
    /// container's own `/dev/ptmx` becomes our 0, 1, 2 and controlling
    /// terminal, and its master goes to the parent. Without a devpts of our
    /// own (steps 01 to 04), the host's pty the parent made does.
    pub fn attach_terminal(&self) -> nix::Result<()> {
        let Some(terminal) = &self.terminal else {
            return Ok(());
        };
        attach_terminal(
            terminal.child_socket.as_raw_fd(),
            Some(terminal.host_slave.as_raw_fd()),
        )
    }
}

// ANCHOR: attach_terminal
/// [`Plumbing::attach_terminal`], with the socket to send the master over
/// (the parent's, or a launch's console socket: launch.rs) and the host's
/// pty for a container without a devpts of its own (none: fail).
pub(crate) fn attach_terminal(socket: RawFd, host_slave: Option<RawFd>) -> nix::Result<()> {
    // Step 02's --init forked us: lead a session of our own, or the
    // terminal cannot become ours. (EPERM: we lead one already.)
    let _ = setsid();
    // A /dev/ptmx in a chroot is the host's device node: it would give
    // a pty of the host's devpts again. Only a devpts of our own counts.
    let own = Path::new("/dev/pts/ptmx").exists().then(|| {
        nix::fcntl::open(
            "/dev/ptmx",
            OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC,
            nix::sys::stat::Mode::empty(),
        )
    });
    let mut sent: Vec<i32> = Vec::new();
    let mut ours = None;
    let slave = match own.transpose()? {
        Some(master) => {
            // SAFETY: unlockpt and TIOCGPTPEER on the master we opened;
            // the peer is the slave, opened without a path lookup.
            let slave = unsafe {
                Errno::result(libc::unlockpt(master.as_raw_fd()))?;
                Errno::result(libc::ioctl(
                    master.as_raw_fd(),
                    libc::TIOCGPTPEER,
                    libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC,
                ))?
            };
            console(&master);
            sent.push(master.as_raw_fd());
            ours = Some(master); // closed once sent: the receiver has it
            slave
        }
        None => host_slave.ok_or(Errno::ENOTTY)?,
    };
    for target in 0..3 {
        dup2_onto(slave, target)?;
    }
    // SAFETY: TIOCSCTTY on our stdin, a pty slave; 0 = do not steal.
    Errno::result(unsafe { libc::ioctl(0, libc::TIOCSCTTY, 0) })?;
    let fds = [socket::ControlMessage::ScmRights(&sent)];
    let cmsgs: &[socket::ControlMessage] = if sent.is_empty() { &[] } else { &fds };
    let iov = [std::io::IoSlice::new(b"t")];
    socket::sendmsg::<()>(socket, &iov, cmsgs, socket::MsgFlags::empty(), None)?;
    drop(ours);
    Ok(())
}
// ANCHOR_END: attach_terminal

impl Plumbing {
    /// In the parent, after the release: drops the child's ends (so that
    /// end-of-file comes when the container's side closes) and starts
    /// copying. With `-t`, first waits for the child's pty master.
    pub fn relay(self) -> Relay {
        drop(self.child);
        let (done_tx, done) = mpsc::channel();
        let mut outputs = 0;
        // The pipes first: they carry the child's trace while we wait.
        if let Some(stdin) = self.stdin {
            copy_in(File::from(stdin));
        }
        for (from, to) in [(self.stdout, 1), (self.stderr, 2)] {
            copy_out(File::from(from), to, done_tx.clone());
            outputs += 1;
        }
        let mut raw = None;
        if let Some(terminal) = self.terminal {
            drop((terminal.child_socket, terminal.host_slave));
            // The child's message comes just before its execve; none
            // (end-of-file) if it failed before.
            let master = receive_master(&terminal.socket).unwrap_or(terminal.host_master);
            raw = RawMode::enter();
            MASTER.store(master.as_raw_fd(), Ordering::SeqCst);
            watch_window_size();
            copy_window_size(0);
            let reader = File::from(master.try_clone().expect("dup the pty master"));
            if self.interactive {
                copy_in(File::from(master));
            } else {
                std::mem::forget(master); // kept open for the relay, closed at exit
            }
            copy_out(reader, 1, done_tx);
            outputs += 1;
        }
        Relay {
            done,
            outputs,
            _raw: raw,
        }
    }
}

/// The copying in progress. Dropping it restores the caller's terminal.
#[derive(Debug)]
pub struct Relay {
    done: mpsc::Receiver<()>,
    outputs: usize,
    _raw: Option<RawMode>,
}

impl Relay {
    /// After the container has exited: waits until its output is copied
    /// out, at most `limit` (a process it left behind outside a PID
    /// namespace, in step 01, could keep a pipe open for ever).
    pub fn drain(&mut self, limit: Duration) {
        let deadline = std::time::Instant::now() + limit;
        while self.outputs > 0 {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if self.done.recv_timeout(left).is_err() {
                break;
            }
            self.outputs -= 1;
        }
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        MASTER.store(-1, Ordering::SeqCst);
    }
}

/// Copies our stdin to the container. The thread may stay blocked in
/// read(0) after the container is gone; it ends with the runtime.
fn copy_in(mut to: File) {
    thread::spawn(move || {
        let mut buf = [0u8; 4096];
        let stdin = std::io::stdin();
        loop {
            match (&stdin).read(&mut buf) {
                Ok(0) | Err(_) => break, // end of input: the container reads EOF
                Ok(n) => {
                    if to.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
            }
        }
    });
}

/// Copies a container's output to our descriptor `to` (1 or 2), and says
/// when it has reached end-of-file (a pty master says EIO instead). One
/// thread for each output: while nobody reads our stdout, the container's
/// stderr must still get through.
fn copy_out(mut from: File, to: i32, done: mpsc::Sender<()>) {
    thread::spawn(move || {
        let mut buf = [0u8; 4096];
        // SAFETY: fd 1 or 2 stays open for the life of the process; this
        // File is never dropped (ManuallyDrop), so it never closes it.
        let mut out = std::mem::ManuallyDrop::new(unsafe {
            <File as std::os::fd::FromRawFd>::from_raw_fd(to)
        });
        while let Ok(n) = from.read(&mut buf) {
            if n == 0 || out.write_all(&buf[..n]).is_err() {
                break;
            }
            let _ = out.flush();
        }
        let _ = done.send(());
    });
}

/// `/dev/console` is the container's terminal too (console(4)), as runc
/// makes it: a bind mount of the pty's slave. Best effort: a container
/// without it only misses a name for its terminal.
fn console(master: &OwnedFd) {
    let mut number: libc::c_uint = 0;
    // SAFETY: TIOCGPTN writes the pty's number into `number`.
    if unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCGPTN, &mut number) } != 0 {
        return;
    }
    let console = Path::new("/dev/console");
    let made = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(console);
    if made.is_ok() {
        let slave = format!("/dev/pts/{number}");
        let flags = nix::mount::MsFlags::MS_BIND;
        let _ = nix::mount::mount(
            Some(slave.as_str()),
            console,
            None::<&str>,
            flags,
            None::<&str>,
        );
    }
}

/// The master the child sent over the console socket, if it sent one.
fn receive_master(socket: &OwnedFd) -> Option<OwnedFd> {
    let mut byte = [0u8; 1];
    let mut iov = [std::io::IoSliceMut::new(&mut byte)];
    let mut space = nix::cmsg_space!(std::os::fd::RawFd);
    let msg = socket::recvmsg::<()>(
        socket.as_raw_fd(),
        &mut iov,
        Some(&mut space),
        socket::MsgFlags::MSG_CMSG_CLOEXEC,
    )
    .ok()?;
    msg.cmsgs().ok()?.find_map(|cmsg| match cmsg {
        socket::ControlMessageOwned::ScmRights(fds) => fds.first().map(|&fd| {
            // SAFETY: SCM_RIGHTS gave us this new descriptor; we own it.
            unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) }
        }),
        _ => None,
    })
}

/// dup2(2) onto 0, 1 or 2.
fn dup2_onto(fd: i32, target: i32) -> nix::Result<()> {
    // SAFETY: dup2 on descriptors; the target is one of our standard three.
    Errno::result(unsafe { libc::dup2(fd, target) }).map(drop)
}

fn set_cloexec(fd: &OwnedFd) -> nix::Result<()> {
    use nix::fcntl::{FcntlArg, FdFlag, fcntl};
    fcntl(fd.as_fd(), FcntlArg::F_SETFD(FdFlag::FD_CLOEXEC)).map(drop)
}
