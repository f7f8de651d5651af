//! `--restart`: a container that starts again when it ends, as Docker's.
//!
//! The monitor decides, once its container has ended and everything is
//! cleaned up: `no` never; `on-failure[:N]` when the exit code is not 0
//! (N times at most); `always` and `unless-stopped` whatever the code. A
//! container that `stop` or `rm -f` ended is never started again: they
//! mark the record first (`stopped`). Between two runs the monitor waits,
//! 100 ms doubling at each restart up to 10 s (a command that fails at
//! once must not spin), then starts a new monitor for the container, as
//! `start` does (monitor.rs), and exits.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// `--restart`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Policy {
    #[default]
    No,
    /// At most this many restarts (none: no limit).
    OnFailure(Option<u32>),
    Always,
    UnlessStopped,
}

/// `no`, `on-failure`, `on-failure:N`, `always`, `unless-stopped`.
pub fn parse(text: &str) -> Result<Policy, String> {
    match text.split_once(':') {
        None if text == "no" => Ok(Policy::No),
        None if text == "on-failure" => Ok(Policy::OnFailure(None)),
        None if text == "always" => Ok(Policy::Always),
        None if text == "unless-stopped" => Ok(Policy::UnlessStopped),
        Some(("on-failure", n)) => n
            .parse()
            .map(|n| Policy::OnFailure(Some(n)))
            .map_err(|_| format!("{n:?} is no number of restarts")),
        _ => Err(format!(
            "{text:?}: no, on-failure[:N], always or unless-stopped"
        )),
    }
}

// ANCHOR: again
/// Whether a container that ended with `code`, restarted `count` times
/// already, starts again (`stopped`: by `stop` or `rm -f`).
pub fn again(policy: Policy, code: u8, count: u32, stopped: bool) -> bool {
    if stopped {
        return false;
    }
    match policy {
        Policy::No => false,
        Policy::OnFailure(max) => code != 0 && max.is_none_or(|max| count < max),
        Policy::Always | Policy::UnlessStopped => true,
    }
}
// ANCHOR_END: again

/// How long to wait before restart number `count + 1`.
pub fn backoff(count: u32) -> Duration {
    Duration::from_millis(100u64.saturating_mul(1 << count.min(7))).min(Duration::from_secs(10))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policies_read_and_decide_as_dockers() {
        assert_eq!(parse("on-failure:3"), Ok(Policy::OnFailure(Some(3))));
        assert_eq!(parse("always"), Ok(Policy::Always));
        assert!(parse("sometimes").is_err() && parse("on-failure:x").is_err());
        assert!(!again(Policy::No, 1, 0, false));
        assert!(again(Policy::OnFailure(Some(2)), 1, 1, false));
        assert!(
            !again(Policy::OnFailure(Some(2)), 1, 2, false),
            "two restarts were all"
        );
        assert!(
            !again(Policy::OnFailure(None), 0, 0, false),
            "success is not a failure"
        );
        assert!(again(Policy::Always, 0, 50, false));
        assert!(!again(Policy::Always, 0, 0, true), "stopped by the user");
        assert_eq!(backoff(0), Duration::from_millis(100));
        assert_eq!(backoff(3), Duration::from_millis(800));
        assert_eq!(backoff(30), Duration::from_secs(10));
    }
}
