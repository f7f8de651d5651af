//! How the child gets into its cgroup, and why it is different on v1.
//!
//! The plain way, and v2's: while the child waits on the sync pipe, the
//! parent writes its pid into `cgroup.procs` (`configure_child`). The
//! child runs nothing of its own before it is in.
//!
//! That write is slow, and not because of the cgroup. Moving a process
//! takes a machine-wide lock, `cgroup_threadgroup_rwsem`, for writing:
//! every fork, exec and exit on the machine takes it for reading. It is a
//! per-CPU semaphore (percpu_rw_semaphore), whose readers are cheap
//! because a writer first waits out an **RCU grace period** (rcu_sync):
//! about 10 ms here, most of a container's start. `--timings` shows it on
//! the first write; the other hierarchies' writes, which come within the
//! same grace period, take microseconds.
//!
//! A thread that moves only *itself* needs no such lock: it cannot exit
//! or exec while it is in the middle of a write (the kernel says so in
//! `cgroup_procs_write_start`, kernel/cgroup/cgroup.c, since Linux 5.16;
//! an older kernel takes the lock anyway, and this way is then merely no
//! slower). On v1 each hierarchy has a `tasks` file that moves one
//! thread, and `0` means "the writer". The child is one thread, so
//! `write(tasks, "0")` moves the whole child, in microseconds.
//!
//! But container root is not host root (step 03), and the cgroup files
//! belong to host root: the child cannot open `tasks`. It need not. The
//! file's permissions are checked when it is *opened*; at the write, v1
//! checks that whoever opened it (the writer, before 5.16) is host root or
//! owns the task being moved, which a task moving itself always does. So
//! the parent opens each `tasks` file in `prepare` (close-on-exec), the
//! child gets copies of those descriptors at clone, and the first thing
//! its cgroup layer does is write `0` into each and close them. Before
//! that it has run only the runtime's own code.
//!
//! Those descriptors are dangerous to leave about: opened by host root,
//! they move any task their holder can name into the container's cgroup.
//! So they are closed before anything of the container's runs, and the
//! parent closes its own copies as soon as the child has them.
//!
//! v2 has no such shortcut: there `cgroup.procs` moves whole processes,
//! whatever is written, and `cgroup.threads` moves threads only inside a
//! threaded subtree. v2's way to skip the move is clone3(2) with
//! CLONE_INTO_CGROUP, which starts the child in its cgroup. We don't do
//! that yet, so on v2 the parent writes `cgroup.procs`.
//!
//! Man pages: cgroups(7) ("tasks", "cgroup.procs"), clone(2)
//! (CLONE_INTO_CGROUP); the kernel's Documentation/RCU/rcu_sync.

use std::fmt;
use std::fs::File;
use std::os::fd::OwnedFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use nix::unistd::Pid;
use step01_chroot::error::SysError;
use step01_chroot::sys::{Call, Syscall};
use step01_chroot::trace::Trace;

use crate::limits::Version;

/// The way into a container's cgroup directories.
#[derive(Debug)]
pub enum Joining {
    /// v2: the parent writes the child's pid into each `cgroup.procs`.
    Parent(Vec<PathBuf>),
    /// v1: each hierarchy's `tasks`, opened by the parent for the child to
    /// move itself with. The child takes and closes them (`by_itself`):
    /// nothing it runs later, step 02's init included, keeps one.
    Child {
        tasks: Mutex<Vec<(PathBuf, Option<OwnedFd>)>>,
        /// How many there are: a child that finds fewer is not in its
        /// cgroup, and must not go on as if it were.
        count: usize,
    },
}

impl Joining {
    /// In the parent, before clone: on v1, opens each directory's `tasks`
    /// file (in a dry run, nothing is opened).
    pub fn prepare(trace: &Trace, version: Version, dirs: &[PathBuf]) -> Result<Self, SysError> {
        if version == Version::V2 {
            return Ok(Joining::Parent(dirs.to_vec()));
        }
        let mut tasks = Vec::new();
        for dir in dirs {
            let path = dir.join("tasks");
            let call = format!("open({path:?}, O_WRONLY | O_CLOEXEC)");
            let fd = trace.call(call, || {
                File::options()
                    .write(true)
                    .custom_flags(libc::O_CLOEXEC)
                    .open(&path)
                    .map(|file| Some(OwnedFd::from(file)))
                    .map_err(|err| nix::errno::Errno::from_raw(err.raw_os_error().unwrap_or(0)))
            })?;
            tasks.push((path, fd));
        }
        Ok(Joining::Child {
            count: tasks.len(),
            tasks: Mutex::new(tasks),
        })
    }

    /// In the parent, the child waiting: v2's write of its pid. (On v1 the
    /// child has its own copies of the descriptors now: ours close.)
    pub fn from_parent(&self, trace: &Trace, child: Pid) -> Result<(), SysError> {
        match self {
            Joining::Parent(dirs) => {
                for dir in dirs {
                    trace.write_file(dir.join("cgroup.procs"), &child.to_string())?;
                }
            }
            Joining::Child { tasks, .. } => {
                trace.note("v1: the child moves itself in, first thing, through the descriptors opened above");
                // (A dry run's child is this process, later: they stay.)
                if !trace.dry_run() {
                    drop(take(tasks));
                }
            }
        }
        Ok(())
    }

    // ANCHOR: by_itself
    /// In the child, first: v1's write of `0` into each `tasks`, each
    /// descriptor closed after.
    pub fn by_itself(&self, trace: &Trace) -> Result<(), SysError> {
        let Joining::Child { tasks, count } = self else {
            return Ok(());
        };
        let tasks = take(tasks);
        if tasks.len() != *count {
            let call = format!("writing \"0\" into {count} tasks files");
            return Err(SysError {
                call: format!("{call}: {} of their descriptors are here", tasks.len()),
                errno: nix::errno::Errno::EBADF,
            });
        }
        // `tasks` moves the writer's thread alone: enough, because the
        // child is one thread (clone(2) copies only the one that calls it,
        // and no layer before this one starts another).
        for (path, fd) in tasks {
            let call = MoveSelf { path, fd };
            trace.sys(Syscall::Other(Arc::new(call)))?;
        }
        Ok(())
    }
    // ANCHOR_END: by_itself
}

/// The descriptors, out of the lock: whoever takes them closes them.
fn take(tasks: &Mutex<Vec<(PathBuf, Option<OwnedFd>)>>) -> Vec<(PathBuf, Option<OwnedFd>)> {
    std::mem::take(&mut *tasks.lock().unwrap_or_else(|e| e.into_inner()))
}

/// write(2) of `0` into a `tasks` file the parent opened: the calling
/// thread moves itself.
#[derive(Debug)]
struct MoveSelf {
    path: PathBuf,
    /// None in a dry run, where the call is only shown.
    fd: Option<OwnedFd>,
}

impl fmt::Display for MoveSelf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "write({:?}, \"0\") /* opened by the parent; 0: this thread moves itself */",
            self.path
        )
    }
}

impl Call for MoveSelf {
    fn perform_real(&self) -> nix::Result<()> {
        let fd = self.fd.as_ref().ok_or(nix::errno::Errno::EBADF)?;
        // One byte, written whole or not at all (a cgroup file takes a
        // write as one command).
        nix::unistd::write(fd, b"0").map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// v1 without root: ordinary files stand in for the `tasks` files. The
    /// parent opens them; the child's writes go through those descriptors
    /// and close them; the parent's own copies close once it is done.
    #[test]
    fn on_v1_the_child_moves_itself_through_descriptors_the_parent_opened() {
        let dir = tempfile::tempdir().unwrap();
        let dirs: Vec<PathBuf> = ["memory", "pids"]
            .iter()
            .map(|d| dir.path().join(d))
            .collect();
        for d in &dirs {
            std::fs::create_dir(d).unwrap();
            std::fs::write(d.join("tasks"), "").unwrap();
        }
        let trace = Trace::quiet();
        let joining = Joining::prepare(&trace, Version::V1, &dirs).unwrap();
        // The child's half: no path is opened here, only the descriptors.
        for d in &dirs {
            std::fs::rename(d.join("tasks"), d.join("was-tasks")).unwrap();
        }
        joining.by_itself(&trace).unwrap();
        for d in &dirs {
            assert_eq!(std::fs::read_to_string(d.join("was-tasks")).unwrap(), "0");
        }
        let Joining::Child { tasks: left, .. } = &joining else {
            panic!("v1 is the child's way")
        };
        assert!(left.lock().unwrap().is_empty(), "the child keeps none");
        // And the parent writes nothing on v1.
        joining.from_parent(&trace, Pid::from_raw(42)).unwrap();
        assert!(!dirs[0].join("cgroup.procs").exists());
        // A child without the descriptors does not go on as if it were in.
        let err = joining.by_itself(&trace).unwrap_err();
        assert!(err.call.contains("0 of their descriptors"), "{err:?}");
    }

    #[test]
    fn on_v2_the_parent_writes_the_pid() {
        let dir = tempfile::tempdir().unwrap();
        let trace = Trace::quiet();
        let joining = Joining::prepare(&trace, Version::V2, &[dir.path().into()]).unwrap();
        joining.by_itself(&trace).unwrap();
        assert!(!dir.path().join("cgroup.procs").exists(), "not by itself");
        joining.from_parent(&trace, Pid::from_raw(42)).unwrap();
        let written = std::fs::read_to_string(dir.path().join("cgroup.procs")).unwrap();
        assert_eq!(written, "42");
    }
}
