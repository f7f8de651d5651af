//! `--step`, the instructor's live-demo mode: before each call, say what
//! comes next and which process to look at, and wait for Enter.
//!
//! We read Enter from the terminal (/dev/tty), not from stdin: stdin
//! belongs to the container.

use std::io::{BufRead, BufReader, Write};

use colored::Colorize;

/// Where `--step` waits for Enter, once the child has left our terminal.
static PAUSE_TERMINAL: std::sync::OnceLock<std::fs::File> = std::sync::OnceLock::new();

/// Set when the instructor typed `c`: this process pauses no more.
static RUN_TO_THE_END: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Says that `call` comes next, and how to look at host pid `pid` from
/// another terminal meanwhile; then waits for Enter (`c` and Enter: run
/// to the end, with no more pauses in this process).
pub(crate) fn pause(call: &str, pid: i32) {
    use std::sync::atomic::Ordering;
    if RUN_TO_THE_END.load(Ordering::Relaxed) {
        return;
    }
    let mut err = std::io::stderr().lock();
    let _ = writeln!(
        err,
        "{}",
        format!(
            "  ⏸  next: {call}\n     look at host pid {pid} from another terminal: \
             ls -l /proc/{pid}/root /proc/{pid}/ns; lsns -p {pid}\n     \
             press Enter to go on (c and Enter: no more pauses in this process)"
        )
        .dimmed()
    );
    drop(err);
    let tty = PAUSE_TERMINAL
        .get()
        .and_then(|t| t.try_clone().ok())
        .or_else(|| std::fs::File::open("/dev/tty").ok());
    if let Some(tty) = tty {
        let mut answer = String::new();
        let _ = BufReader::new(tty).read_line(&mut answer);
        if answer.trim() == "c" {
            RUN_TO_THE_END.store(true, Ordering::Relaxed);
        }
    }
}

/// Whether `--step=NAMES` (`only`; empty: every call) names `call` (the
/// word before its `(` or its first space: `mount`, `RTM_NEWLINK`), or
/// the layer that makes it.
pub(crate) fn named(only: &[String], layer: &str, call: &str) -> bool {
    let name = call.split(['(', ' ']).next().unwrap_or(call);
    only.is_empty() || only.iter().any(|o| o == name || o == layer)
}

/// Keeps a handle on our terminal for the pauses, before the child leaves
/// it (a session of its own, see `stdio.rs`), after which /dev/tty is no
/// longer ours to open. It is close-on-exec: the command never gets it.
pub(crate) fn keep_terminal() {
    if let Ok(tty) = std::fs::File::open("/dev/tty") {
        let _ = PAUSE_TERMINAL.set(tty);
    }
}

#[cfg(test)]
mod tests {
    use super::named;

    #[test]
    fn a_filter_names_calls_or_layers() {
        let only = ["mount".to_string(), "cgroup".to_string()];
        assert!(named(
            &only,
            "pid",
            r#"mount("proc", "/proc", "proc", 0, NULL)"#
        ));
        assert!(named(&only, "cgroup", r#"mkdir("/sys/fs/cgroup/x", 0755)"#));
        assert!(!named(&only, "pivot", r#"pivot_root(".", ".")"#));
        assert!(
            !named(&only, "pid", "mount_setattr(...)"),
            "a whole name, not a prefix"
        );
        assert!(
            named(&[], "pivot", r#"pivot_root(".", ".")"#),
            "no filter: every call"
        );
    }
}
