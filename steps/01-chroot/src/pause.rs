//! `--step`, the instructor's live-demo mode: before each call, say what
//! comes next and which process to look at, and wait for Enter.
//!
//! We read Enter from the terminal (/dev/tty), not from stdin: stdin
//! belongs to the container.

use std::io::{BufRead, BufReader, Write};

use colored::Colorize;

/// Where `--step` waits for Enter, once the child has left our terminal.
static PAUSE_TERMINAL: std::sync::OnceLock<std::fs::File> = std::sync::OnceLock::new();

/// Says that `call` comes next, and how to look at host pid `pid` from
/// another terminal meanwhile; then waits for Enter.
pub(crate) fn pause(call: &str, pid: i32) {
    let mut err = std::io::stderr().lock();
    let _ = writeln!(
        err,
        "{}",
        format!(
            "  ⏸  next: {call}\n     look at host pid {pid} from another terminal: \
             ls -l /proc/{pid}/root /proc/{pid}/ns; lsns -p {pid}\n     press Enter to go on"
        )
        .dimmed()
    );
    drop(err);
    let tty = PAUSE_TERMINAL
        .get()
        .and_then(|t| t.try_clone().ok())
        .or_else(|| std::fs::File::open("/dev/tty").ok());
    if let Some(tty) = tty {
        let _ = BufReader::new(tty).read_line(&mut String::new());
    }
}

/// Keeps a handle on our terminal for the pauses, before the child leaves
/// it (a session of its own, see `stdio.rs`), after which /dev/tty is no
/// longer ours to open. It is close-on-exec: the command never gets it.
pub(crate) fn keep_terminal() {
    if let Ok(tty) = std::fs::File::open("/dev/tty") {
        let _ = PAUSE_TERMINAL.set(tty);
    }
}
