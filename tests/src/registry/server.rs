//! A real OCI registry for the tests: Distribution (Docker's reference
//! registry, Debian's `docker-registry` package) on the loopback, storing
//! blobs in a temporary directory.
//!
//! Configuration: <https://distribution.github.io/distribution/about/configuration/>
//! (Debian ships version 2.8; its example is /etc/docker/registry/config.yml).
//! The API it serves: the OCI distribution spec,
//! <https://github.com/opencontainers/distribution-spec/blob/main/spec.md>.

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use super::http::try_request;
use crate::host::find_program;
use crate::{CommandExt, die_with_the_test, require, temp_dir};

/// How long a registry may take to answer its first request.
const START_LIMIT: Duration = Duration::from_secs(10);
/// How long it may take to exit on SIGTERM before it gets SIGKILL.
const STOP_LIMIT: Duration = Duration::from_secs(5);
/// Tries at a free port: between our look and the registry's bind another
/// process may take it.
const PORT_TRIES: usize = 5;

/// A running registry, stopped and removed (storage and all) on drop.
#[derive(Debug)]
pub struct Registry {
    child: Child,
    addr: String,
    dir: tempfile::TempDir,
}

impl Registry {
    /// A registry anyone may pull from and push to.
    pub fn start() -> Self {
        Self::start_with(None)
    }

    /// A registry that asks for `user` and `password` (HTTP Basic, from an
    /// htpasswd file) for every request, `GET /v2/` included.
    pub fn with_htpasswd(user: &str, password: &str) -> Self {
        Self::start_with(Some((user, password)))
    }

    fn start_with(login: Option<(&str, &str)>) -> Self {
        require("docker-registry");
        let dir = temp_dir("registry");
        let auth = match login {
            Some((user, password)) => {
                let path = dir.path().join("htpasswd");
                fs::write(&path, htpasswd_line(user, password))
                    .unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
                format!(
                    "auth:\n  htpasswd:\n    realm: workshop-test-registry\n    path: {}\n",
                    path.display()
                )
            }
            None => String::new(),
        };
        let mut failures = Vec::new();
        for _ in 0..PORT_TRIES {
            let port = free_port();
            let config = dir.path().join("config.yml");
            fs::write(&config, config_yml(dir.path(), port, &auth))
                .unwrap_or_else(|e| panic!("write {}: {e}", config.display()));
            match launch(dir.path(), &config, port) {
                Ok(child) => {
                    let addr = format!("127.0.0.1:{port}");
                    return Registry { child, addr, dir };
                }
                // Someone took the port: pick another.
                Err(log) if log.contains("address already in use") => failures.push(log),
                Err(log) => panic!("docker-registry did not start:\n{log}"),
            }
        }
        panic!(
            "docker-registry found no free port in {PORT_TRIES} tries:\n{}",
            failures.join("\n")
        );
    }

    /// `127.0.0.1:PORT`, for `docker://` references and HTTP requests.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// The registry's storage (`storage.filesystem.rootdirectory`): a test
    /// may change a blob behind its back (see [`Registry::blob_path`]).
    pub fn storage_dir(&self) -> PathBuf {
        self.dir.path().join("storage")
    }

    /// Where the registry keeps the blob `sha256:HEX`: Distribution's
    /// storage layout, `docker/registry/v2/blobs/sha256/HE/HEX/data` (the
    /// first two hex digits fan the directory out). The registry reads it
    /// on every request (no cache is configured), so a byte changed here is
    /// served as is, under the old digest.
    pub fn blob_path(&self, digest: &str) -> PathBuf {
        let hex = digest
            .strip_prefix("sha256:")
            .unwrap_or_else(|| panic!("not a sha256 digest: {digest}"));
        self.storage_dir()
            .join("docker/registry/v2/blobs/sha256")
            .join(&hex[..2])
            .join(hex)
            .join("data")
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let pid = Pid::from_raw(self.child.id() as i32);
        // SIGTERM first: the registry closes its listener and exits.
        let _ = kill(pid, Signal::SIGTERM);
        let deadline = Instant::now() + STOP_LIMIT;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return; // reaped; the TempDir goes next
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        // The child is ours and not yet reaped, so its pid is still its own.
        let _ = kill(pid, Signal::SIGKILL);
        let _ = self.child.wait();
    }
}

/// The registry's configuration, YAML as the docs above describe it.
fn config_yml(dir: &Path, port: u16, auth: &str) -> String {
    format!(
        "version: 0.1\n\
         log:\n  level: warn\n  accesslog:\n    disabled: true\n\
         storage:\n  filesystem:\n    rootdirectory: {storage}\n  delete:\n    enabled: true\n\
         http:\n  addr: 127.0.0.1:{port}\n  \
         # Signs upload state; without one the registry warns, and makes one up.\n  \
         secret: workshop-tests-only\n\
         {auth}",
        storage = dir.join("storage").display(),
    )
}

/// One line of an htpasswd file, by `htpasswd -B` (Apache's tool): the
/// registry reads only bcrypt hashes (its docs: "Only bcrypt format passwords
/// are supported").
fn htpasswd_line(user: &str, password: &str) -> Vec<u8> {
    require("htpasswd");
    // -b: the password from the command line (fine for a test password),
    // -n: print the line instead of editing a file.
    let out = Command::new("htpasswd")
        .args(["-Bbn", user, password])
        .output_within(Duration::from_secs(30))
        .expect("run htpasswd");
    assert!(
        out.status.success(),
        "htpasswd failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// A port nobody listens on now: the kernel's pick for port 0.
fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a port on 127.0.0.1");
    listener.local_addr().expect("a bound address").port()
}

/// Starts the registry and waits until it answers `GET /v2/` (any status:
/// with auth it is 401) as a registry does, with its API version header:
/// should another process have taken the port first, that one answers
/// differently, or the registry exits saying so. On failure: what it
/// logged.
fn launch(dir: &Path, config: &Path, port: u16) -> Result<Child, String> {
    let log_path = dir.join("registry.log");
    let log = fs::File::create(&log_path).expect("create the registry's log");
    let program = find_program("docker-registry").expect("required above");
    let mut cmd = Command::new(&program);
    cmd.arg("serve").arg(config);
    // REGISTRY_* variables override the file (REGISTRY_HTTP_ADDR=...): a
    // developer's environment must not move the test registry elsewhere.
    cmd.env_clear().env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin");
    cmd.stdin(Stdio::null())
        .stdout(log.try_clone().expect("dup the log"))
        .stderr(log);
    die_with_the_test(&mut cmd);
    let mut child = spawn_from_lasting_thread(cmd)
        .unwrap_or_else(|e| panic!("start {}: {e}", program.display()));
    let addr = format!("127.0.0.1:{port}");
    let deadline = Instant::now() + START_LIMIT;
    loop {
        let exited = child.try_wait().ok().flatten();
        let answer = try_request(&addr, "GET", "/v2/", &[], b"");
        if exited.is_none()
            && answer.is_ok_and(|r| r.header("Docker-Distribution-Api-Version").is_some())
        {
            return Ok(child);
        }
        if exited.is_some() || Instant::now() >= deadline {
            if exited.is_none() {
                let _ = child.kill();
                let _ = child.wait();
            }
            let mut text = String::new();
            let _ = fs::File::open(&log_path).and_then(|mut f| f.read_to_string(&mut text));
            return Err(match exited {
                Some(status) => format!("it exited ({status}):\n{text}"),
                None => format!("no answer on {addr} within {START_LIMIT:?}:\n{text}"),
            });
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Spawns `cmd` from a thread that lives as long as the test process.
///
/// `die_with_the_test` asks the kernel to kill the child when its parent
/// dies (PR_SET_PDEATHSIG), and for the kernel the parent is the *thread*
/// that forked (prctl(2): "the parent thread"). `cargo test` runs each test
/// on a thread of its own: a registry started there would be killed when
/// that test ends, even if a static kept it for the next test. Forked from
/// this thread instead, it dies only with the whole process.
fn spawn_from_lasting_thread(cmd: Command) -> std::io::Result<Child> {
    type Job = (Command, mpsc::Sender<std::io::Result<Child>>);
    static SPAWNER: Mutex<Option<mpsc::Sender<Job>>> = Mutex::new(None);
    let (reply, answer) = mpsc::channel();
    {
        let mut spawner = SPAWNER.lock().unwrap_or_else(|e| e.into_inner());
        let tx = spawner.get_or_insert_with(|| {
            let (tx, rx) = mpsc::channel::<Job>();
            std::thread::Builder::new()
                .name("registry spawner".into())
                .spawn(move || {
                    for (mut cmd, reply) in rx {
                        let _ = reply.send(cmd.spawn());
                    }
                })
                .expect("start the spawner thread");
            tx
        });
        tx.send((cmd, reply))
            .expect("the spawner thread lives as long as the process");
    }
    answer
        .recv_timeout(Duration::from_secs(30))
        .expect("the spawner thread answers")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_registry_listens_on_the_loopback_only() {
        let yml = config_yml(Path::new("/tmp/x"), 5000, "");
        assert!(yml.contains("\n  addr: 127.0.0.1:5000\n"), "{yml}");
        assert!(
            yml.contains("\n    rootdirectory: /tmp/x/storage\n"),
            "{yml}"
        );
    }
}
