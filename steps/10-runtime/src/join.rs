//! Into a running container: the namespaces and the cgroup of its first
//! process, for `exec`.
//!
//! A container is its namespaces and its cgroup; a new process is "in" it
//! once it is in those. setns(2) moves the caller into a namespace it has a
//! descriptor of. Since Linux 5.8 that descriptor may be a **pidfd**, with
//! several `CLONE_NEW*` flags at once: the kernel moves the caller into all
//! of that process's namespaces together, in the right order (the user
//! namespace first, which owns the others), or into none. And the pidfd
//! names the container's process itself, not a pid that may have been
//! reused since the record was written (pidfd.rs).
//!
//! Two namespaces do not take the caller along:
//!
//! * **PID**: setns(CLONE_NEWPID) puts the caller's *children* in it; the
//!   caller keeps its pid. So after the join, step 02's init layer forks:
//!   the new process is in the container's PID namespace, and this one
//!   waits for it, passing signals on, as `--init` does.
//! * **user**: in the container's user namespace we have every capability,
//!   but no uid: host root is not in its map, and shows as `nobody`. We
//!   become its root (`setresuid(0)`), which the map makes the host's
//!   subordinate uid, never host root (step 03).
//!
//! The cgroup is joined as step 04 joins it (its join.rs): the
//! directories are those of each hierarchy the container's process is in
//! (/proc/PID/cgroup). On v2 the parent writes the child's pid into
//! `cgroup.procs` before the child goes on; on v1 the child writes `0`
//! into `tasks` files the parent opened, first thing, which spares it a
//! wait of an RCU grace period (10 ms, most of an `exec`).

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use colored::Color;
use nix::sched::CloneFlags;
use nix::unistd::Pid;
use step01_chroot::layer::{ChildCx, Layer, ParentCx};
use step01_chroot::sys::{Call, Syscall};
use step01_chroot::{Error, Result};
use step04_cgroups::hierarchy::Hierarchy;
use step04_cgroups::join::Joining;

use crate::error::RuntimeError;
use crate::pidfd::Process;

/// The namespaces setns(2) may join, with /proc/PID/ns's names.
const NAMESPACES: [(&str, CloneFlags); 7] = [
    ("user", CloneFlags::CLONE_NEWUSER),
    ("mnt", CloneFlags::CLONE_NEWNS),
    ("pid", CloneFlags::CLONE_NEWPID),
    ("net", CloneFlags::CLONE_NEWNET),
    ("uts", CloneFlags::CLONE_NEWUTS),
    ("ipc", CloneFlags::CLONE_NEWIPC),
    ("cgroup", CloneFlags::CLONE_NEWCGROUP),
];

/// `exec`'s first layer: the container's namespaces and cgroup.
pub struct Join {
    process: Process,
    pid: i32,
    /// The namespaces the container has and we do not.
    namespaces: CloneFlags,
    /// Its cgroup directories, one per hierarchy.
    cgroups: Vec<PathBuf>,
    /// How the child gets into them (step 04's join.rs), from `prepare`.
    joining: Option<Joining>,
}

impl fmt::Debug for Join {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Join").field("pid", &self.pid).finish()
    }
}

impl Join {
    /// The container `name`, whose first process is `pid`, started at
    /// `start`; refused if that process is gone.
    pub fn new(name: &str, pid: i32, start: u64) -> std::result::Result<Join, RuntimeError> {
        let gone = || RuntimeError::NotRunning(name.into());
        let process = Process::open(pid, start).ok_or_else(gone)?;
        let mut namespaces = CloneFlags::empty();
        for (ns, flag) in NAMESPACES {
            let theirs = std::fs::read_link(format!("/proc/{pid}/ns/{ns}")).map_err(|_| gone())?;
            let ours = std::fs::read_link(format!("/proc/self/ns/{ns}")).ok();
            // Joining one's own user namespace is an error (EINVAL); the
            // others would be no-ops. Only what differs.
            if ours.as_ref() != Some(&theirs) {
                namespaces |= flag;
            }
        }
        let cgroups = cgroup_dirs(pid).map_err(|_| gone())?;
        Ok(Join {
            process,
            pid,
            namespaces,
            cgroups,
            joining: None,
        })
    }

    /// Whether the container has a PID namespace of its own (then the
    /// joining process must fork).
    pub fn joins_pid_namespace(&self) -> bool {
        self.namespaces.contains(CloneFlags::CLONE_NEWPID)
    }
}

/// The cgroup directories of process `pid`, in the hierarchies step 04
/// uses: from /proc/PID/cgroup (`ID:CONTROLLERS:PATH` lines, cgroups(7)).
pub(crate) fn cgroup_dirs(pid: i32) -> std::io::Result<Vec<PathBuf>> {
    let hierarchy = Hierarchy::detect().map_err(std::io::Error::other)?;
    let text = std::fs::read_to_string(format!("/proc/{pid}/cgroup"))?;
    let mut dirs: Vec<PathBuf> = Vec::new();
    for controller in hierarchy.controllers() {
        let path = text.lines().find_map(|line| {
            let mut parts = line.splitn(3, ':');
            let (_, names, path) = (parts.next()?, parts.next()?, parts.next()?);
            let here = match hierarchy.version() {
                step04_cgroups::limits::Version::V2 => names.is_empty(),
                step04_cgroups::limits::Version::V1 => {
                    names.split(',').any(|n| n == controller.name())
                }
            };
            here.then(|| PathBuf::from(path))
        });
        if let Some(path) = path {
            let dir = hierarchy.dir(controller, &path);
            if !dirs.contains(&dir) {
                dirs.push(dir);
            }
        }
    }
    Ok(dirs)
}

impl Layer for Join {
    fn name(&self) -> &'static str {
        "join"
    }

    fn color(&self) -> Color {
        Color::BrightWhite
    }

    fn prepare(&mut self, cx: &mut ParentCx<'_>) -> Result<()> {
        let version = Hierarchy::detect().map_err(Error::layer)?.version();
        self.joining = Some(Joining::prepare(&cx.trace, version, &self.cgroups)?);
        Ok(())
    }

    fn configure_child(&mut self, cx: &mut ParentCx<'_>, child: Pid) -> Result<()> {
        if let Some(joining) = &self.joining {
            joining.from_parent(&cx.trace, child)?;
        }
        Ok(())
    }

    // ANCHOR: enter
    fn enter(&self, cx: &ChildCx<'_>) -> Result<()> {
        if let Some(joining) = &self.joining {
            joining.by_itself(&cx.trace)?;
        }
        let call = Setns {
            pidfd: self.process.raw_fd(),
            pid: self.pid,
            flags: self.namespaces,
        };
        cx.trace.sys(Syscall::Other(Arc::new(call)))?;
        if self.namespaces.contains(CloneFlags::CLONE_NEWUSER) {
            // Its root: every capability there, and host root nowhere.
            cx.trace.sys(Syscall::DropGroups)?;
            cx.trace.sys(Syscall::Setresgid(0))?;
            cx.trace.sys(Syscall::Setresuid(0))?;
        }
        Ok(())
    }
    // ANCHOR_END: enter
}

/// setns(2) with a pidfd and several namespaces at once.
#[derive(Debug)]
struct Setns {
    /// The pidfd, which the layer holds for as long as the call may come.
    pidfd: std::os::fd::RawFd,
    pid: i32,
    flags: CloneFlags,
}

impl fmt::Display for Setns {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let flags: Vec<String> = NAMESPACES
            .iter()
            .filter(|(_, flag)| self.flags.contains(*flag))
            .map(|(_, flag)| {
                format!("{flag:?}")
                    .replace("CloneFlags(", "")
                    .replace(')', "")
            })
            .collect();
        write!(f, "setns(pidfd of {}, {})", self.pid, flags.join(" | "))
    }
}

impl Call for Setns {
    fn perform_real(&self) -> nix::Result<()> {
        // SAFETY: setns on a pidfd we hold, with namespace flags.
        let rc = unsafe { libc::setns(self.pidfd, self.flags.bits()) };
        nix::errno::Errno::result(rc).map(drop)
    }
}
