//! Signalling a container that this process did not start.
//!
//! `stop` and `kill` find the container's pid in its record, written by a
//! monitor that may be long gone. Between that write and our kill(2) the
//! container may have exited and its pid been given to another process,
//! which would get our SIGKILL. Two things close that gap:
//!
//! * the record holds the pid **and its start time** (field 22 of
//!   /proc/PID/stat, in clock ticks after boot): the pair names one
//!   process for the life of the machine;
//! * a **pidfd** (pidfd_open(2), Linux 5.3) refers to a process, not to a
//!   number. Open it first, *then* check the start time: if it matches,
//!   the pidfd is the container's, and a signal sent through it
//!   (pidfd_send_signal(2)) reaches that process or, once it has exited,
//!   fails with ESRCH. It never reaches another.
//!
//! A pidfd also says when its process ends: it polls readable (poll(2)),
//! which is how `stop` waits without a busy loop.

use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::time::Duration;

use nix::errno::Errno;
use nix::sys::signal::Signal;

/// A process, held by a pidfd.
#[derive(Debug)]
pub struct Process {
    fd: OwnedFd,
}

impl Process {
    /// The process `pid` if it is the one that started at `start` (from
    /// [`start_time`]); `None` if it has exited (and perhaps its pid was
    /// reused since).
    pub fn open(pid: i32, start: u64) -> Option<Process> {
        // SAFETY: pidfd_open takes a pid and flags, and returns a new
        // descriptor that we own, or -1.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
        if fd < 0 {
            return None;
        }
        // SAFETY: the kernel just gave us this descriptor.
        let fd = unsafe { OwnedFd::from_raw_fd(fd as i32) };
        (start_time(pid) == Some(start)).then_some(Process { fd })
    }

    /// Its pidfd, for setns(2).
    pub fn raw_fd(&self) -> std::os::fd::RawFd {
        self.fd.as_raw_fd()
    }

    /// Sends `signal` to it; ESRCH once it has exited.
    pub fn signal(&self, signal: Signal) -> nix::Result<()> {
        // SAFETY: a pidfd we own, a signal number, no siginfo, no flags.
        let rc = unsafe {
            libc::syscall(
                libc::SYS_pidfd_send_signal,
                self.fd.as_raw_fd(),
                signal as i32,
                std::ptr::null::<libc::siginfo_t>(),
                0,
            )
        };
        Errno::result(rc).map(drop)
    }

    /// Waits at most `limit` for it to exit; whether it did.
    pub fn wait_exit(&self, limit: Duration) -> bool {
        use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
        // No deadline for a limit past the end of time (`stop -t` huge).
        let deadline = std::time::Instant::now().checked_add(limit);
        loop {
            let timeout = match deadline {
                Some(deadline) => {
                    let left = deadline.saturating_duration_since(std::time::Instant::now());
                    PollTimeout::try_from(left).unwrap_or(PollTimeout::MAX)
                }
                None => PollTimeout::NONE,
            };
            let mut fds = [PollFd::new(self.fd.as_fd(), PollFlags::POLLIN)];
            match poll(&mut fds, timeout) {
                Ok(0) => return false,
                Ok(_) => return true,
                Err(Errno::EINTR) => continue,
                Err(_) => return false,
            }
        }
    }
}

/// When process `pid` started, in clock ticks after boot (proc(5),
/// /proc/PID/stat, field 22). `None` if there is no such process.
pub fn start_time(pid: i32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may hold spaces or
    // parentheses itself: count fields after the *last* ')'.
    let after = &stat[stat.rfind(')')? + 1..];
    after.split_whitespace().nth(19)?.parse().ok()
}

/// A signal by name or number, as `kill -s` and Docker's StopSignal take
/// it: `TERM`, `SIGTERM`, `15`.
pub fn parse_signal(text: &str) -> Result<Signal, String> {
    if let Ok(n) = text.parse::<i32>() {
        return Signal::try_from(n).map_err(|_| format!("no signal has the number {n}"));
    }
    let upper = text.to_ascii_uppercase();
    let name = match upper.starts_with("SIG") {
        true => upper,
        false => format!("SIG{upper}"),
    };
    name.parse()
        .map_err(|_| format!("{text:?} is not a signal's name (TERM, KILL, HUP, USR1, ...)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_are_read_by_name_or_number() {
        assert_eq!(parse_signal("TERM"), Ok(Signal::SIGTERM));
        assert_eq!(parse_signal("sigkill"), Ok(Signal::SIGKILL));
        assert_eq!(parse_signal("1"), Ok(Signal::SIGHUP));
        assert!(parse_signal("NOPE").is_err());
        assert!(parse_signal("99").is_err());
    }

    #[test]
    fn a_process_is_its_pid_and_start_time() {
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        let pid = child.id() as i32;
        let start = start_time(pid).expect("a live child has a start time");
        assert!(
            Process::open(pid, start + 1).is_none(),
            "another start: not it"
        );
        let process = Process::open(pid, start).expect("it is the one");
        assert!(!process.wait_exit(Duration::from_millis(50)));
        process.signal(Signal::SIGKILL).unwrap();
        // Exited (a zombie until reaped): the pidfd polls readable.
        assert!(process.wait_exit(Duration::from_secs(10)));
        child.wait().unwrap();
        assert_eq!(process.signal(Signal::SIGKILL), Err(Errno::ESRCH));
    }
}
