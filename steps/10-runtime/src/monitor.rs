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
//! * its stdin, stdout and stderr, which the engine relays the container's
//!   stdio to, are pipes or a pty to a **console** (console.rs), which
//!   logs the output and lets `attach` in;
//! * it says how the start went over a pipe, as one line of JSON on
//!   descriptor 3, named by the variable `WORKSHOP_MONITOR_FD` (runc
//!   passes its init pipe the same way, `_LIBCONTAINER_INITPIPE`). `run
//!   -d` waits for that line only: the id, or the error, then exits.
//!
//! ```text
//! run -d ──fork──▶ (child) ──fork──▶ monitor ─── engine, as in steps 01-09
//!   │                exit               │ clone  ▶ container
//!   │                                   │ thread ▶ console: json.log, attach.sock
//!   │◀──── {"running":"3f2a…"} ─────────┤
//!   print 3f2a…, exit 0                 │ waitpid … cleanup, "exited" in state.json
//! ```

use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::os::fd::{AsRawFd, FromRawFd};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};

use nix::fcntl::OFlag;
use nix::unistd::pipe2;
use serde::{Deserialize, Serialize};

/// The variable that makes this program a monitor, and names the
/// descriptor of the pipe to its caller.
pub const MONITOR_FD: &str = "WORKSHOP_MONITOR_FD";

/// The variable that names the container a monitor starts again.
pub const AGAIN: &str = "WORKSHOP_START_AGAIN";

/// In a monitor: the container it starts again, if any.
pub fn again_from_env() -> Option<crate::Again> {
    let text = std::env::var(AGAIN).ok()?;
    // SAFETY: called first thing in main, with one thread.
    unsafe { std::env::remove_var(AGAIN) };
    let (how, id) = text.split_once(':')?;
    crate::record::is_id(id).then(|| crate::Again {
        id: id.into(),
        restart: how == "r",
        flag_env: Vec::new(), // (ours, already)
    })
}

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
    // SAFETY: called first thing in main, with one thread: nobody reads
    // the environment meanwhile. (Gone from ours, it reaches no helper.)
    unsafe { std::env::remove_var(MONITOR_FD) };
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
/// `run -d`: starts the monitor of the container `argv` (a whole command
/// line, the program's name first) describes, waits for its word, and
/// returns it. `again`: the id of a container that ran before, started
/// again (`start`), on its record and writable layer.
pub fn start(argv: &[String], again: Option<&crate::Again>) -> std::io::Result<Word> {
    let (from_monitor, to_us) = pipe2(OFlag::O_CLOEXEC)?;
    let writer = to_us.as_raw_fd();
    let mut monitor = Command::new("/proc/self/exe");
    if let Some(again) = again {
        // Its flags as they were: the variables that filled them in then,
        // and none of ours (`start` in a shell without
        // WORKSHOP_NETWORK=none must not put the container on a bridge).
        for (key, _) in std::env::vars().filter(|(k, _)| k.starts_with("WORKSHOP_")) {
            monitor.env_remove(key);
        }
        monitor.envs(again.flag_env.iter().cloned());
    }
    if let Some(again) = again {
        // `r:` by its restart policy, `s:` by `start`.
        let how = if again.restart { "r" } else { "s" };
        monitor.env(AGAIN, format!("{how}:{}", again.id));
    }
    // (The working directory stays ours: relative paths on the command
    // line, which the monitor reads again, mean what they meant here.)
    monitor
        .arg0(argv.first().cloned().unwrap_or_default())
        .args(argv.iter().skip(1))
        .env(MONITOR_FD, "3")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    // SAFETY: runs in the forked child before execve. Only raw system
    // calls, no allocation and no lock: the fork here is the system call
    // (glibc's fork() would run atfork handlers, which need not be
    // async-signal-safe), and std has made sure 0, 1 and 2 are open, so
    // `writer` is not one of them.
    unsafe {
        monitor.pre_exec(move || {
            // The second fork: the first child exits here, at once, and
            // the grandchild goes on to execve as the monitor, parentless.
            match libc::syscall(libc::SYS_fork) {
                -1 => return Err(std::io::Error::last_os_error()),
                0 => {}
                _ => libc::_exit(0),
            }
            if libc::setsid() == -1 {
                return Err(std::io::Error::last_os_error());
            }
            // Descriptor 3, without close-on-exec: it survives execve.
            if libc::dup2(writer, 3) == -1 {
                return Err(std::io::Error::last_os_error());
            }
            // Nothing else of our caller's: a descriptor it left open
            // (`5>&1`, a script's flock) would stay open for as long as
            // the container lives.
            libc::syscall(libc::SYS_close_range, 4u32, u32::MAX, 0u32);
            // A caller that ignores SIGCHLD would leave the monitor
            // ignoring it too (it survives execve), and the engine's
            // waitpid would find no child.
            libc::signal(libc::SIGCHLD, libc::SIG_DFL);
            Ok(())
        });
    }
    let mut first_child = monitor.spawn()?;
    drop(to_us);
    // ECHILD: our own caller ignores SIGCHLD, and the kernel reaped it.
    match first_child.wait() {
        Err(err) if err.raw_os_error() != Some(libc::ECHILD) => return Err(err),
        _ => {}
    }
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
