//! Every wait in a test is bounded.
//!
//! `Command::output()`, `Child::wait()` and `TcpListener::accept()` wait
//! forever: a runtime that is broken (a missing iptables, a hung netlink
//! request, a container that never exits) would hang `cargo test` with no
//! word of what went wrong. The tests use these instead. When the time is
//! up they kill what they started (a step binary killed with SIGKILL takes
//! its container with it: PR_SET_PDEATHSIG) and fail the test with what
//! the command printed so far.
//!
//! The limit is [`LIMIT`] unless a test gives its own; `WORKSHOP_TEST_TIMEOUT`
//! (seconds) raises it on a slow machine.

use std::io::{self, Read};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How long a command in a test may take, unless the test says otherwise.
pub const LIMIT: Duration = Duration::from_secs(60);

/// [`LIMIT`], or `WORKSHOP_TEST_TIMEOUT` seconds when set.
pub fn limit() -> Duration {
    std::env::var("WORKSHOP_TEST_TIMEOUT")
        .ok()
        .and_then(|s| s.parse().ok())
        .map(Duration::from_secs)
        .unwrap_or(LIMIT)
}

/// `output()` and `status()` with a time limit.
pub trait CommandExt {
    /// Like `Command::output`, but kills the command and fails the test
    /// when it runs longer than [`limit`]. (Its stdin is what the command
    /// was given: [`crate::step_command`] gives `/dev/null`.)
    fn output_bounded(&mut self) -> io::Result<Output>;
    /// The same with a limit of its own.
    fn output_within(&mut self, limit: Duration) -> io::Result<Output>;
    /// Like `Command::status` (stdio inherited), with [`limit`].
    fn status_bounded(&mut self) -> io::Result<ExitStatus>;
}

impl CommandExt for Command {
    fn output_bounded(&mut self) -> io::Result<Output> {
        self.output_within(limit())
    }

    fn output_within(&mut self, limit: Duration) -> io::Result<Output> {
        let child = self.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn()?;
        finish_within(child, limit, &describe(self))
    }

    fn status_bounded(&mut self) -> io::Result<ExitStatus> {
        let mut child = self.spawn()?;
        wait_within(&mut child, limit(), &describe(self))
    }
}

/// `wait()` and `wait_with_output()` with a time limit.
pub trait ChildExt {
    /// Like `Child::wait`, with [`limit`].
    fn wait_bounded(&mut self) -> io::Result<ExitStatus>;
    /// Like `Child::wait_with_output`, with [`limit`].
    fn wait_with_output_bounded(self) -> io::Result<Output>;
}

impl ChildExt for Child {
    fn wait_bounded(&mut self) -> io::Result<ExitStatus> {
        let what = format!("process {}", self.id());
        wait_within(self, limit(), &what)
    }

    fn wait_with_output_bounded(self) -> io::Result<Output> {
        let what = format!("process {}", self.id());
        finish_within(self, limit(), &what)
    }
}

fn describe(cmd: &Command) -> String {
    let mut words = vec![cmd.get_program().to_string_lossy().into_owned()];
    words.extend(cmd.get_args().map(|a| a.to_string_lossy().into_owned()));
    words.join(" ")
}

/// Polls `child` until it exits or `limit` passes; then kills it and fails.
fn wait_within(child: &mut Child, limit: Duration, what: &str) -> io::Result<ExitStatus> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(status);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("`{what}` did not finish within {limit:?}: killed it");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A pipe read to its end on a thread, so that what arrived so far can be
/// shown even when the end never comes.
struct Drain {
    bytes: Arc<Mutex<Vec<u8>>>,
    thread: JoinHandle<()>,
}

impl Drain {
    fn start(pipe: Option<impl Read + Send + 'static>) -> Self {
        let bytes = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&bytes);
        let thread = std::thread::spawn(move || {
            let Some(mut pipe) = pipe else { return };
            let mut chunk = [0u8; 8192];
            while let Ok(n @ 1..) = pipe.read(&mut chunk) {
                sink.lock().unwrap().extend_from_slice(&chunk[..n]);
            }
        });
        Drain { bytes, thread }
    }

    fn so_far(&self) -> String {
        String::from_utf8_lossy(&self.bytes.lock().unwrap()).into_owned()
    }

    fn into_bytes(self) -> Vec<u8> {
        let _ = self.thread.join();
        std::mem::take(&mut self.bytes.lock().unwrap())
    }
}

/// Waits for `child` to exit and for its output pipes to close, both by
/// the deadline. A process the command left behind that still holds a
/// pipe open (a container that outlived its runtime) fails the test too.
fn finish_within(mut child: Child, limit: Duration, what: &str) -> io::Result<Output> {
    let deadline = Instant::now() + limit;
    let stdout = Drain::start(child.stdout.take());
    let stderr = Drain::start(child.stderr.take());
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "`{what}` did not finish within {limit:?}: killed it\n\
                 --- stdout so far ---\n{}\n--- stderr so far ---\n{}",
                stdout.so_far(),
                stderr.so_far()
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    while !(stdout.thread.is_finished() && stderr.thread.is_finished()) {
        if Instant::now() >= deadline {
            panic!(
                "`{what}` exited ({status}), but something it started still holds its \
                 output open after {limit:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
                stdout.so_far(),
                stderr.so_far()
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    Ok(Output {
        status,
        stdout: stdout.into_bytes(),
        stderr: stderr.into_bytes(),
    })
}

/// `listener.accept()`, failing the test after `limit` with `why` (what
/// should have connected).
pub fn accept_within(
    listener: &TcpListener,
    limit: Duration,
    why: &str,
) -> (TcpStream, SocketAddr) {
    listener
        .set_nonblocking(true)
        .expect("a non-blocking listener");
    let deadline = Instant::now() + limit;
    loop {
        match listener.accept() {
            Ok((conn, peer)) => {
                conn.set_nonblocking(false).expect("a blocking connection");
                // Reads on it are bounded too.
                conn.set_read_timeout(Some(limit)).expect("a read timeout");
                return (conn, peer);
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                assert!(
                    Instant::now() < deadline,
                    "no connection within {limit:?}: {why}"
                );
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) => panic!("accept: {e}"),
        }
    }
}

/// The lines of a pipe (a runtime's trace on stderr, a container's
/// stdout), read on a thread so that each can be awaited with a limit.
pub struct Lines {
    rx: std::sync::mpsc::Receiver<String>,
}

impl Lines {
    /// Starts reading `pipe` line by line.
    pub fn of(pipe: impl Read + Send + 'static) -> Self {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            use std::io::BufRead;
            for line in io::BufReader::new(pipe).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Lines { rx }
    }

    /// The next line, or `None` at the end of the stream; fails the test
    /// when neither comes within `limit`.
    #[track_caller]
    pub fn next_within(&self, limit: Duration) -> Option<String> {
        match self.rx.recv_timeout(limit) {
            Ok(line) => Some(line),
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => None,
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                panic!("no line within {limit:?}")
            }
        }
    }

    /// Reads lines until `f` returns `Some` for one, for up to `limit`;
    /// fails the test with `what` (and the lines seen) otherwise.
    #[track_caller]
    pub fn find<T>(&self, limit: Duration, what: &str, mut f: impl FnMut(&str) -> Option<T>) -> T {
        let deadline = Instant::now() + limit;
        let mut seen = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = match self.rx.recv_timeout(left) {
                Ok(line) => line,
                Err(_) => panic!("{what}: not seen within {limit:?} in:\n{}", seen.join("\n")),
            };
            if let Some(value) = f(&line) {
                return value;
            }
            seen.push(line);
        }
    }
}

/// Runs `f` until it returns `Some`, for up to `limit`; then fails with
/// `what` (what was awaited).
#[track_caller]
pub fn eventually<T>(limit: Duration, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(value) = f() {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {limit:?}: {what}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_within_returns_what_the_command_printed() {
        let out = Command::new("sh")
            .args(["-c", "echo out; echo err >&2; exit 3"])
            .output_within(Duration::from_secs(10))
            .unwrap();
        assert_eq!(out.status.code(), Some(3));
        assert_eq!(out.stdout, b"out\n");
        assert_eq!(out.stderr, b"err\n");
    }

    #[test]
    #[should_panic(expected = "did not finish within")]
    fn output_within_kills_a_command_that_hangs() {
        let _ = Command::new("sh")
            .args(["-c", "echo started; exec sleep 30"])
            .output_within(Duration::from_millis(300));
    }

    #[test]
    #[should_panic(expected = "still holds its output open")]
    fn output_within_fails_when_a_leftover_holds_the_pipe() {
        // The shell exits at once; the sleep it started keeps stdout open
        // (for a second: then it ends by itself).
        let _ = Command::new("sh")
            .args(["-c", "sleep 1 & echo bye"])
            .output_within(Duration::from_millis(300));
    }

    #[test]
    #[should_panic(expected = "no connection within")]
    fn accept_within_gives_up() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        accept_within(&listener, Duration::from_millis(200), "nobody calls");
    }
}
