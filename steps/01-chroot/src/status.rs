//! How the container's command ended, and the exit code the runtime
//! passes on: the command's own, or 128 + a signal's number, as a shell
//! and `docker run` do.

use nix::errno::Errno;
use nix::sys::signal::Signal;
use nix::sys::wait::{WaitStatus, waitpid};
use nix::unistd::Pid;

use crate::error::{Result, exit_code};
use crate::trace::Trace;

/// How the container's command ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExitStatus {
    /// It called `exit(code)`.
    Exited(i32),
    /// A signal killed it.
    Signaled(Signal),
}

impl ExitStatus {
    /// The exit code a shell would report: the code itself, or 128 + the
    /// signal number (`kill -9` gives 137), as `docker run` does too.
    pub fn code(&self) -> u8 {
        match self {
            ExitStatus::Exited(code) => *code as u8,
            ExitStatus::Signaled(sig) => (exit_code::SIGNAL_BASE + *sig as i32) as u8,
        }
    }

    /// One line for the learner about how the container ended.
    pub fn explain(&self) -> String {
        match self {
            ExitStatus::Exited(code) => format!("the container exited with status {code}"),
            ExitStatus::Signaled(sig) => format!(
                "the container was killed by {}: exit code {} (128 + {})",
                sig.as_str(),
                self.code(),
                *sig as i32
            ),
        }
    }
}

/// Waits for the child to end, and narrates how it ended.
pub(crate) fn wait_for(trace: &Trace, child: Pid, mut exited: impl FnMut()) -> Result<ExitStatus> {
    // No --step pause here: the container owns the terminal while it runs.
    let trace = trace.without_pause();
    loop {
        let wait = || {
            let status = waitpid(child, None);
            if matches!(
                status,
                Ok(WaitStatus::Exited(..) | WaitStatus::Signaled(..))
            ) {
                exited();
            }
            status
        };
        match trace.call(format!("waitpid({child}, 0)"), wait) {
            Ok(WaitStatus::Exited(_, code)) => return Ok(ExitStatus::Exited(code)),
            Ok(WaitStatus::Signaled(_, sig, _)) => return Ok(ExitStatus::Signaled(sig)),
            Ok(_) => continue, // stopped or continued: not the end yet
            Err(err) if err.errno == Errno::EINTR => continue,
            Err(err) => return Err(err.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_follow_the_shell() {
        assert_eq!(ExitStatus::Exited(7).code(), 7);
        assert_eq!(ExitStatus::Signaled(Signal::SIGKILL).code(), 137);
        assert_eq!(ExitStatus::Signaled(Signal::SIGTERM).code(), 143);
        assert_eq!(
            ExitStatus::Signaled(Signal::SIGKILL).explain(),
            "the container was killed by SIGKILL: exit code 137 (128 + 9)"
        );
    }
}
