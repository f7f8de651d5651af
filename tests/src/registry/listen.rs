//! A listening socket on the loopback with a thread per connection: what
//! the proxy and the token server have in common.
//!
//! Only ever `127.0.0.1`, on a port the kernel picks (port 0): the tests
//! never listen where another machine could connect, and two test runs
//! never fight over a port. Every wait is bounded: the accept loop polls a
//! stop flag (so dropping the server ends it), and each connection has
//! read and write timeouts (so a client that goes quiet ends its thread).

use std::io;
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use super::http::IO_TIMEOUT;

/// A server that runs `handle` on each connection, until dropped.
#[derive(Debug)]
pub struct Listener {
    addr: String,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Listener {
    /// Listens on `127.0.0.1:0`; `name` names the threads (for a panic's
    /// message).
    pub fn start(
        name: &str,
        handle: impl Fn(TcpStream) -> io::Result<()> + Send + Sync + 'static,
    ) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .unwrap_or_else(|e| panic!("{name}: listen on 127.0.0.1: {e}"));
        let addr = listener.local_addr().expect("a bound address").to_string();
        listener
            .set_nonblocking(true)
            .expect("a non-blocking listener");
        let stop = Arc::new(AtomicBool::new(false));
        let handle = Arc::new(handle);
        let (name, stopped) = (name.to_string(), Arc::clone(&stop));
        let thread = std::thread::Builder::new()
            .name(name.clone())
            .spawn(move || accept_loop(&listener, &stopped, &name, handle))
            .expect("start a listener thread");
        Listener {
            addr,
            stop,
            thread: Some(thread),
        }
    }

    /// `127.0.0.1:PORT`.
    pub fn addr(&self) -> &str {
        &self.addr
    }
}

type Handler = Arc<dyn Fn(TcpStream) -> io::Result<()> + Send + Sync>;

fn accept_loop(listener: &TcpListener, stop: &AtomicBool, name: &str, handle: Handler) {
    while !stop.load(Ordering::Relaxed) {
        match listener.accept() {
            Ok((conn, _)) => {
                let handle = Arc::clone(&handle);
                let name = name.to_string();
                // Connections are not joined: each ends by itself, at the
                // latest when a read or write times out.
                let _ = std::thread::Builder::new()
                    .name(format!("{name} connection"))
                    .spawn(move || {
                        let result = prepare(&conn).and_then(|()| handle(conn));
                        // A client that hangs up early is its own business;
                        // anything else is worth a line in the test's output.
                        if let Err(e) = result
                            && !matches!(
                                e.kind(),
                                io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset
                            )
                        {
                            eprintln!("{name}: {e}");
                        }
                    });
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(e) => {
                eprintln!("{name}: accept: {e}");
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }
}

/// A connection accepted from a non-blocking listener may inherit that
/// mode on some systems; make it blocking with bounded waits.
fn prepare(conn: &TcpStream) -> io::Result<()> {
    conn.set_nonblocking(false)?;
    conn.set_read_timeout(Some(IO_TIMEOUT))?;
    conn.set_write_timeout(Some(IO_TIMEOUT))
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            // The loop sees the flag within one poll (5 ms).
            let _ = thread.join();
        }
    }
}
