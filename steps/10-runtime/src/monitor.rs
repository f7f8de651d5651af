//! `run -d`: a container that outlives the command that started it.
//!
//! Until now the runtime was the container's parent: it waited for it,
//! relayed its output, and cleaned up after it. A detached container still
//! needs all of that, long after `run -d` has printed the id and exited.
//! So another process takes the parent's place: the **monitor** (Docker's
//! is containerd-shim plus conmon's role; podman's is conmon). Ours is
//! this same program, started again with the same words, which runs the
//! engine exactly as a foreground `run` does, but:
//!
//! * it is **nobody's child**: `run -d` forks, the child forks again and
//!   exits, and the grandchild (a new session, setsid(2), with no
//!   terminal) becomes the monitor. Its parent is gone, so the kernel
//!   re-parents it to init (or the nearest subreaper). Nothing the caller
//!   does later (exit, Ctrl-C, closing the terminal) reaches it;
//! * its stdin is /dev/null, and its stdout and stderr, which the engine
//!   relays the container's output to, are pipes to a **logger** (logs.rs);
//! * it says how the start went over a pipe, as one line of JSON on
//!   descriptor 3, named by the variable `WORKSHOP_MONITOR_FD` (runc
//!   passes its init pipe the same way, `_LIBCONTAINER_INITPIPE`). `run
//!   -d` waits for that line only: the id, or the error, then exits.
//!
//! ```text
//! run -d ──fork──▶ (child) ──fork──▶ monitor ─── engine, as in steps 01-09
//!   │                exit               │ fork ▶ logger: pipes → json.log
//!   │◀──── {"running":"3f2a…"} ─────────┤ clone ▶ container
//!   print 3f2a…, exit 0                 │ waitpid … cleanup, "exited" in state.json
//! ```

use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};

use nix::fcntl::OFlag;
use nix::unistd::{ForkResult, Pid, pipe2};
use serde::{Deserialize, Serialize};

use crate::record::Record;

/// The variable that makes this program a monitor, and names the
/// descriptor of the pipe to its caller.
pub const MONITOR_FD: &str = "WORKSHOP_MONITOR_FD";

/// The one line a monitor writes to its caller.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Word {
    /// The container runs: its id.
    Running(String),
    /// It could not start: the message, and the exit code to leave with.
    Failed { message: String, code: u8 },
}

/// In a monitor: the pipe to the caller, taken from the environment.
/// Moved to a close-on-exec descriptor at once, so that the container's
/// command (which the engine starts with our descriptors) never gets it.
pub fn caller_from_env() -> Option<File> {
    let fd: i32 = std::env::var(MONITOR_FD).ok()?.parse().ok()?;
    let moved = nix::fcntl::fcntl(
        // SAFETY: the descriptor our caller left us; we only duplicate it.
        unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) },
        nix::fcntl::FcntlArg::F_DUPFD_CLOEXEC(10),
    )
    .ok()?;
    // SAFETY: `fd` is closed; we keep the copy.
    unsafe { libc::close(fd) };
    // SAFETY: `moved` is a new descriptor, ours alone.
    Some(unsafe { File::from_raw_fd(moved) })
}

/// Tells the caller how the start went (a monitor only).
pub fn say(caller: &mut File, word: &Word) {
    let mut line = serde_json::to_vec(word).expect("a word serializes");
    line.push(b'\n');
    // The caller may be gone (Ctrl-C on `run -d`): the container goes on.
    let _ = caller.write_all(&line);
}

// ANCHOR: start
/// `run -d`: starts the monitor, waits for its word, and returns it.
pub fn start() -> std::io::Result<Word> {
    let (from_monitor, to_us) = pipe2(OFlag::O_CLOEXEC)?;
    let writer = to_us.as_raw_fd();
    let mut argv = std::env::args_os();
    let mut monitor = Command::new("/proc/self/exe");
    monitor
        .arg0(argv.next().unwrap_or_default())
        .args(argv)
        .env(MONITOR_FD, "3")
        .current_dir("/")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    // SAFETY: runs in the forked child before execve: fork, setsid and
    // dup2 are async-signal-safe, and nothing here allocates.
    unsafe {
        monitor.pre_exec(move || {
            // The second fork: the first child exits here, at once, and
            // the grandchild goes on to execve as the monitor, parentless.
            match libc::fork() {
                -1 => return Err(std::io::Error::last_os_error()),
                0 => {}
                _ => libc::_exit(0),
            }
            libc::setsid();
            // Descriptor 3, without close-on-exec: it survives execve.
            if libc::dup2(writer, 3) == -1 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut first_child = monitor.spawn()?;
    drop(to_us);
    first_child.wait()?;
    let mut line = String::new();
    BufReader::new(File::from(from_monitor)).read_line(&mut line)?;
    serde_json::from_str(&line).or_else(|_| {
        Ok(Word::Failed {
            message: "the monitor ended before the container started".into(),
            code: step01_chroot::error::exit_code::RUNTIME_ERROR,
        })
    })
}
// ANCHOR_END: start

// ANCHOR: logger
/// Forks the logger, and makes our stdout and stderr its pipes: what the
/// engine relays from the container goes to json.log from here on. Done
/// while we are one thread (checked), before the engine starts any.
pub fn start_logger(record: &Record) -> std::io::Result<Pid> {
    let path = record.dir().join("json.log");
    let options = record.config.log;
    // Made here, so that an error is ours to report.
    drop(crate::logs::JsonLog::open(&path, options)?);
    let (out_read, out_write) = pipe2(OFlag::O_CLOEXEC)?;
    let (err_read, err_write) = pipe2(OFlag::O_CLOEXEC)?;
    assert_eq!(
        threads(),
        1,
        "the logger is forked while the monitor has one thread"
    );
    // SAFETY: one thread (asserted above): the child's copy of memory
    // holds no lock another thread took.
    match unsafe { nix::unistd::fork() }? {
        ForkResult::Child => {
            // The logger holds its two pipes and nothing else of ours:
            // not the caller's pipe, not the monitor's lock (which would
            // otherwise outlive the monitor here).
            // SAFETY: dup2 and close_range on descriptors; the pipes move
            // to 3 and 4, everything above goes, 0-2 become /dev/null.
            unsafe {
                libc::dup2(out_read.as_raw_fd(), 3);
                libc::dup2(err_read.as_raw_fd(), 4);
                libc::close_range(5, libc::c_uint::MAX, 0);
                let null = libc::open(c"/dev/null".as_ptr(), libc::O_RDWR);
                for fd in 0..3 {
                    libc::dup2(null, fd);
                }
                libc::close(null);
            }
            std::mem::forget((out_read, out_write, err_read, err_write));
            if let Ok(mut log) = crate::logs::JsonLog::open(&path, options) {
                // SAFETY: 3 and 4 are the pipes' read ends, ours alone now.
                let (out, err) = unsafe { (OwnedFd::from_raw_fd(3), OwnedFd::from_raw_fd(4)) };
                crate::logs::copy_to_log(out, err, &mut log);
            }
            // SAFETY: the logger's work is done; no destructor of the
            // monitor's state (copied by fork) must run in it.
            unsafe { libc::_exit(0) }
        }
        ForkResult::Parent { child } => {
            drop((out_read, err_read));
            // SAFETY: dup2 onto our stdout and stderr; the pipes' other
            // copies close with their OwnedFds.
            unsafe {
                libc::dup2(out_write.as_raw_fd(), 1);
                libc::dup2(err_write.as_raw_fd(), 2);
            }
            Ok(child)
        }
    }
}
// ANCHOR_END: logger

/// Ends the logger: closes our stdout and stderr (its pipes' last write
/// ends), so it reads end-of-file, writes what is left, and exits.
pub fn stop_logger(logger: Pid) {
    if let Ok(null) = File::options().write(true).open("/dev/null") {
        // SAFETY: dup2 onto our stdout and stderr.
        unsafe {
            libc::dup2(null.as_raw_fd(), 1);
            libc::dup2(null.as_raw_fd(), 2);
        }
    }
    let _ = nix::sys::wait::waitpid(logger, None);
}

/// How many threads this process has (/proc/self/task).
fn threads() -> usize {
    std::fs::read_dir("/proc/self/task").map_or(0, |d| d.count())
}
