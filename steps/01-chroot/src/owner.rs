//! Who owns what: a run's lock, held as long as the run lives.
//!
//! A runtime killed with SIGKILL cannot clean up. What it made (a cgroup,
//! a network namespace file, iptables rules, an address lease, an overlay
//! directory) stays, and the next run must tell it from what a *live* run
//! is using at that very moment. Every such thing is named after the run
//! that made it (its container id: `workshop/<id>`, `ws-<id>`, a rule's
//! comment, a lease, an `owner` file), so the question is: is run `<id>`
//! still alive?
//!
//! Asking whether its pid is alive is a guess: a pid is reused, and a new
//! process may have it by the time we look. A **lock** is a fact: each run
//! holds flock(2) on `/run/container-workshop/runs/<id>` from before it
//! makes anything until it exits, and the kernel releases it when the
//! process dies, however it dies. Whoever can take the lock knows that run
//! is gone, and may remove what it left.
//!
//! ```text
//! run a1b2…   open(O_TMPFILE), flock(LOCK_EX), linkat → runs/a1b2…  (locked)
//!             ... makes workshop/a1b2…, ws-a1b2…, …
//! (SIGKILL)   the kernel drops the lock
//! next run    flock(runs/a1b2…, LOCK_SH | LOCK_NB) succeeds: a1b2… is dead
//! ```
//!
//! (The next run asks with a *shared* lock, which the run's exclusive one
//! refuses, and which two runs asking at once both get.)
//!
//! The lock file appears under its name only once it is locked (made with
//! no name, O_TMPFILE, then linked), so a lock file that can be locked
//! always means a dead run. `/run` is a tmpfs: after a reboot there
//! are no lock files, and no run is alive, which is true.

use std::fs::{File, OpenOptions};
use std::io::ErrorKind;
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::PathBuf;

/// The runtime's directory for what its runs share, whatever their
/// `--state-dir`: for root, in /run (all runs meet there, as their cgroups
/// and rules do); for anyone else, in their own runtime directory.
pub fn shared_dir() -> PathBuf {
    let uid = nix::unistd::Uid::effective();
    match std::env::var_os("XDG_RUNTIME_DIR") {
        _ if uid.is_root() => PathBuf::from("/run/container-workshop"),
        Some(dir) => PathBuf::from(dir).join("container-workshop"),
        None => std::env::temp_dir().join(format!("container-workshop-{uid}")),
    }
}

/// Where runs keep their locks.
pub fn runs_dir() -> PathBuf {
    shared_dir().join("runs")
}

// ANCHOR: private_shared
/// Makes `<shared_dir>/<sub>` (mode 0700), once [`shared_dir`] is proved
/// ours. Without a runtime directory it is in /tmp, where any user may
/// have made `container-workshop-<uid>` first, or a symlink by that name:
/// whoever owns it could remove our lock files, and our next run would
/// take a live container's cgroup and rules for a dead one's. So it must
/// be a real directory, ours, that no one else may write.
pub fn private_shared(sub: &str) -> std::io::Result<PathBuf> {
    let top = shared_dir();
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&top)?;
    check_ours(&top)?;
    let dir = top.join(sub);
    std::fs::DirBuilder::new()
        .mode(0o700)
        .create(&dir)
        .or_else(|e| match e.kind() {
            ErrorKind::AlreadyExists => Ok(()),
            _ => Err(e),
        })?;
    Ok(dir)
}

/// Refuses `dir` unless it is a real directory of ours that no one else
/// may write.
fn check_ours(dir: &std::path::Path) -> std::io::Result<()> {
    let meta = std::fs::symlink_metadata(dir)?;
    let uid = nix::unistd::Uid::effective().as_raw();
    let why = if meta.file_type().is_symlink() {
        "it is a symlink".to_string()
    } else if meta.uid() != uid {
        format!("it belongs to uid {}", meta.uid())
    } else if meta.mode() & 0o022 != 0 {
        format!("others may write it (mode {:04o})", meta.mode() & 0o7777)
    } else {
        return Ok(());
    };
    let text = format!(
        "{}: {why}, so another user could take over this runtime's locks\n  \
         hint: remove it (the runtime makes it anew), or set XDG_RUNTIME_DIR \
         to a directory of your own",
        dir.display()
    );
    Err(std::io::Error::new(ErrorKind::PermissionDenied, text))
}
// ANCHOR_END: private_shared

/// This run's lock; released (and its file removed) on drop, or by the
/// kernel when the process dies.
#[derive(Debug)]
pub struct RunLock {
    path: PathBuf,
    _file: File,
}

impl RunLock {
    /// Takes the lock of run `id`, which must be new.
    pub fn take(id: &str) -> std::io::Result<RunLock> {
        let dir = private_shared("runs")?;
        let path = dir.join(id);
        // A file with no name yet (O_TMPFILE), locked, then given its name
        // with linkat(2), which fails if the name is taken: nobody ever
        // sees the file unlocked. Close-on-exec: the container's command
        // must not hold our lock (flock(2) locks belong to the open file,
        // which a fork shares).
        let file = OpenOptions::new()
            .write(true)
            .mode(0o600)
            .custom_flags(libc::O_TMPFILE | libc::O_CLOEXEC)
            .open(&dir)?;
        file.try_lock().map_err(std::io::Error::from)?;
        let unnamed = std::ffi::CString::new(format!("/proc/self/fd/{}", file.as_raw_fd()))?;
        let name = std::ffi::CString::new(path.as_os_str().as_bytes())?;
        // SAFETY: two C strings; AT_SYMLINK_FOLLOW makes the magic link
        // /proc/self/fd/N name the file itself.
        let linked = unsafe {
            libc::linkat(
                libc::AT_FDCWD,
                unnamed.as_ptr(),
                libc::AT_FDCWD,
                name.as_ptr(),
                libc::AT_SYMLINK_FOLLOW,
            )
        };
        if linked != 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(RunLock { path, _file: file })
    }
}

impl RunLock {
    /// The lock's descriptor, for a forked child to close its copy.
    pub fn raw_fd(&self) -> std::os::fd::RawFd {
        self._file.as_raw_fd()
    }
}

impl crate::trace::Traced for Option<RunLock> {
    fn shown(&self) -> String {
        self.as_ref()
            .map_or("0".into(), |lock| lock._file.as_raw_fd().to_string())
    }
    fn dry() -> Option<Self> {
        Some(None)
    }
}

impl Drop for RunLock {
    fn drop(&mut self) {
        // Removed while still locked: whoever finds it missing knows the
        // run is over, and whoever found it a moment ago still finds it
        // locked.
        let _ = std::fs::remove_file(&self.path);
    }
}

// ANCHOR: alive
/// Whether run `id` is alive: its lock file is there and locked. A lock
/// file left by a dead run is removed on the way.
pub fn alive(id: &str) -> bool {
    let path = runs_dir().join(id);
    let file = match File::open(&path) {
        Ok(file) => file,
        Err(err) if err.kind() == ErrorKind::NotFound => return false,
        // Cannot tell: say alive, so that nothing of a live run is taken.
        Err(_) => return true,
    };
    // A *shared* lock to ask: the run holds its lock exclusively, which
    // refuses it; other askers' shared locks do not. (Asking with an
    // exclusive lock, two askers at once would each see the other's for a
    // live run's, and a dead run's leftovers would stay.)
    match file.try_lock_shared() {
        Ok(()) => {
            remove_if_same(&path, &file);
            false
        }
        Err(std::fs::TryLockError::WouldBlock) => true,
        Err(std::fs::TryLockError::Error(_)) => true,
    }
}
// ANCHOR_END: alive

/// Whether a run whose id starts with `prefix` is alive: for names too
/// short for a whole id (a network link's has 15 characters at most).
pub fn alive_prefix(prefix: &str) -> bool {
    std::fs::read_dir(runs_dir())
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().into_string().ok())
        .any(|id| id.starts_with(prefix) && alive(&id))
}

/// Removes the lock files of dead runs (their lock is free). A missing lock file says "dead" as well as a free one does, so this is
/// safe at any time, before or after what the dead run left is swept.
pub fn sweep_dead() {
    for entry in std::fs::read_dir(runs_dir())
        .into_iter()
        .flatten()
        .flatten()
    {
        if let Ok(file) = File::open(entry.path())
            && file.try_lock_shared().is_ok()
        {
            remove_if_same(&entry.path(), &file);
        }
    }
}

/// Removes `path` if it still names the dead run's `file`. Between our
/// open and this unlink, another sweeper may have removed that file and a
/// new run linked its own lock under the same name (ids are random, so
/// only in theory, but a wrong unlink would make a live run look dead).
fn remove_if_same(path: &std::path::Path, file: &File) {
    let same = match (file.metadata(), std::fs::symlink_metadata(path)) {
        (Ok(ours), Ok(now)) => ours.dev() == now.dev() && ours.ino() == now.ino(),
        _ => false,
    };
    if same {
        let _ = std::fs::remove_file(path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    /// A fresh id for each test (they share the runs directory).
    fn new_id(tag: &str) -> String {
        format!("test-{tag}-{}", std::process::id())
    }

    #[test]
    fn a_shared_directory_someone_else_could_write_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("container-workshop-1000");
        std::fs::DirBuilder::new().mode(0o700).create(&dir).unwrap();
        check_ours(&dir).unwrap();
        std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o777))
            .unwrap();
        let err = check_ours(&dir).unwrap_err().to_string();
        assert!(err.contains("others may write it (mode 0777)"), "{err}");
        let link = tmp.path().join("planted");
        std::os::unix::fs::symlink(&dir, &link).unwrap();
        let err = check_ours(&link).unwrap_err().to_string();
        assert!(err.contains("symlink") && err.contains("hint:"), "{err}");
    }

    #[test]
    fn a_live_run_is_alive_and_a_finished_one_is_not() {
        let id = new_id("live");
        assert!(!alive(&id), "never started");
        let lock = RunLock::take(&id).unwrap();
        assert!(alive(&id));
        assert!(RunLock::take(&id).is_err(), "an id is taken once");
        drop(lock);
        assert!(!alive(&id));
        assert!(!runs_dir().join(&id).exists());
    }

    #[test]
    fn a_killed_runs_lock_is_free_and_its_file_goes() {
        let id = new_id("killed");
        let path = runs_dir().join(&id);
        std::fs::create_dir_all(runs_dir()).unwrap();
        // Another process takes the lock as a run does, and is killed: a
        // shell opens a temporary file, flock(1) locks that open file, the
        // file takes its final name, and the shell becomes `sleep`,
        // holding it.
        let script = format!(
            "exec 9>'{0}.new'; flock 9; mv '{0}.new' '{0}'; exec sleep 30",
            path.display()
        );
        let mut holder = std::process::Command::new("sh")
            .args(["-c", &script])
            .spawn()
            .expect("sh, and flock(1) from util-linux");
        let deadline = Instant::now() + Duration::from_secs(10);
        while !alive(&id) {
            assert!(Instant::now() < deadline, "flock(1) never took the lock");
            std::thread::sleep(Duration::from_millis(10));
        }
        holder.kill().unwrap();
        holder.wait().unwrap();
        assert!(!alive(&id), "the kernel dropped the lock with the process");
        assert!(!path.exists(), "and the dead run's file is removed");
    }

    /// Another sweeper asking about the same dead run at the same moment
    /// does not make it look alive (it once did: a killed import's
    /// leftovers stayed, now and then, while other tests swept).
    #[test]
    fn a_dead_run_stays_dead_while_another_asks_about_it() {
        let id = new_id("asked");
        let path = runs_dir().join(&id);
        std::fs::create_dir_all(runs_dir()).unwrap();
        // A dead run's file (nobody holds it), and the other asker,
        // mid-question. (Another sweeper may remove the file meanwhile:
        // the answer is the same.)
        let other = File::create(&path).unwrap();
        other.try_lock_shared().unwrap();
        assert!(!alive(&id));
        drop(other);
        assert!(!path.exists());
    }
}
