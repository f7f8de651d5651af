//! Namespaces an engine made, joined by path (`linux.namespaces[].path`).
//!
//! Podman and containerd make the network namespace themselves: they
//! create it (a bind mount of /proc/self/ns/net at /run/netns/NAME), wire
//! it with CNI (a veth pair, an address, port-forwarding rules), and only
//! then ask the runtime to put the container in it. The container must
//! not get a fresh one: its published ports would lead nowhere.
//!
//! The child is cloned with a new network namespace (step 06's `--network
//! none`), then moves into the engine's with setns(2), before step 05
//! mounts /sys (sysfs shows the network devices of the namespace that
//! mounts it) and before the extras layer writes `net.*` sysctls. The
//! path is opened by the parent, before the child leaves the host's
//! mount namespace for its own root, where the path no longer exists.
//! Only a namespace is opened (a file of nsfs, checked when the bundle is
//! read and again on the descriptor), and setns(2) checks its kind: a
//! namespace of another kind fails with EINVAL, named by the trace.
//!
//! Kubernetes goes further: a pod's containers share its sandbox's (the
//! "pause" container's) network, IPC and UTS namespaces, and containerd
//! gives each container those three by path (/proc/PID/ns/...). The same
//! layer joins them: an IPC one before /dev/mqueue is mounted (the extras
//! layer, after the pivot), a UTS one after step 02 named the namespace
//! the clone made, which is left behind.

use std::collections::BTreeSet;
use std::os::fd::OwnedFd;
use std::path::PathBuf;

use colored::Color;
use nix::fcntl::OFlag;
use nix::sched::CloneFlags;
use nix::sys::stat::Mode;
use nix::sys::statfs::NSFS_MAGIC;
use oci_spec::runtime::LinuxNamespaceType;
use step01_chroot::Layer;
use step01_chroot::error::Result;
use step01_chroot::layer::{ChildCx, ParentCx};

use super::error::OciError;

/// One namespace to join: its kind (`CLONE_NEWNET`, `CLONE_NEWIPC`,
/// `CLONE_NEWUTS`) and the path the engine gave.
#[derive(Debug)]
pub struct Join {
    pub kind: CloneFlags,
    pub path: PathBuf,
    /// For a UTS namespace: the config's `hostname`, set in it once joined
    /// (as runc does; step 02 set it in the one the clone made, which is
    /// left behind).
    pub hostname: Option<String>,
    fd: Option<OwnedFd>,
}

impl Join {
    pub fn new(kind: CloneFlags, path: PathBuf, hostname: Option<String>) -> Self {
        Join {
            kind,
            path,
            hostname: hostname.filter(|_| kind == CloneFlags::CLONE_NEWUTS),
            fd: None,
        }
    }
}

// ANCHOR: join
impl Layer for Join {
    fn name(&self) -> &'static str {
        "join"
    }

    fn color(&self) -> Color {
        Color::BrightYellow
    }

    fn prepare(&mut self, cx: &mut ParentCx<'_>) -> Result<()> {
        let path = &self.path;
        // O_CLOEXEC: the child uses it before execve(2), and the program
        // it runs never sees it. O_NONBLOCK and O_NOCTTY: if the path is
        // not what bundle.rs saw (a FIFO, a terminal now), opening it
        // neither waits nor takes a terminal; and then it is refused.
        let flags = OFlag::O_RDONLY | OFlag::O_CLOEXEC | OFlag::O_NONBLOCK | OFlag::O_NOCTTY;
        let fd = cx.trace.call(format!("open({path:?}, O_RDONLY)"), || {
            nix::fcntl::open(path, flags, Mode::empty()).map(Some)
        })?;
        if let Some(fd) = &fd {
            cx.trace.call(
                "fstatfs() /* nsfs? */",
                || match nix::sys::statfs::fstatfs(fd)?.filesystem_type() {
                    NSFS_MAGIC => Ok(()),
                    _ => Err(nix::errno::Errno::EINVAL),
                },
            )?;
        }
        self.fd = fd;
        Ok(())
    }

    fn enter(&self, cx: &ChildCx<'_>) -> Result<()> {
        let Some(fd) = &self.fd else {
            return Ok(()); // a dry run opened nothing
        };
        let kind = self.kind;
        cx.trace
            .call(format!("setns({:?}, {kind:?})", self.path), || {
                nix::sched::setns(fd, kind)
            })?;
        if let Some(name) = &self.hostname {
            cx.trace
                .sys(step01_chroot::sys::Syscall::Sethostname(name.clone()))?;
        }
        Ok(())
    }
}
// ANCHOR_END: join

/// What `linux.namespaces` asks.
#[derive(Debug)]
pub struct Namespaces {
    /// A network namespace of the container's own: made new (step 06's
    /// `--network none`) or the engine's, joined. False: the host's.
    pub network: bool,
    /// Its IPC and UTS namespaces are not the host's (made, or joined).
    pub ipc: bool,
    pub uts: bool,
    /// A user namespace of its own, made (never joined, here).
    pub user: bool,
    /// The ones to join: (kind, path).
    pub joins: Vec<(CloneFlags, PathBuf)>,
}

/// Reads `linux.namespaces`: pid, mount, ipc and uts always (as every step
/// makes them); network made new, joined by path, or the host's (absent);
/// ipc and uts joined by path too (a Kubernetes pod's containers join its
/// sandbox's network, IPC and UTS namespaces); no user namespace (yet).
pub(super) fn namespaces(linux: &oci_spec::runtime::Linux) -> Result<Namespaces, OciError> {
    use LinuxNamespaceType as T;
    let mut types = BTreeSet::new();
    let mut joins = Vec::new();
    let mut hosts = CloneFlags::empty();
    for (at, ns) in linux.namespaces().iter().flatten().enumerate() {
        let kind = match ns.typ() {
            T::Network => CloneFlags::CLONE_NEWNET,
            T::Ipc => CloneFlags::CLONE_NEWIPC,
            T::Uts => CloneFlags::CLONE_NEWUTS,
            T::Pid | T::Mount | T::Cgroup | T::User => CloneFlags::empty(),
            other => {
                return Err(OciError::unsupported(
                    format!("linux.namespaces[{at}]"),
                    format!("{other:?}: not here yet"),
                ));
            }
        };
        if let Some(path) = ns.path() {
            let field = format!("linux.namespaces[{at}].path");
            if kind.is_empty() {
                return Err(OciError::unsupported(
                    field,
                    format!("joining a {:?} namespace is not here yet", ns.typ()),
                ));
            }
            // Named now, before anything is made, not by a failed open:
            // a namespace is a file of nsfs (/proc/PID/ns/*, or a bind
            // mount of one), and nothing else is opened.
            let nsfs = nix::sys::statfs::statfs(path.as_path())
                .is_ok_and(|fs| fs.filesystem_type() == NSFS_MAGIC);
            if !nsfs {
                return Err(OciError::unsupported(
                    field,
                    format!("{}: not a namespace (no nsfs file there)", path.display()),
                ));
            }
            // The runtime's own (the host's): the container does not own
            // what is in it (its sysctls, its hostname).
            if same_file(path, &format!("/proc/self/ns/{}", proc_name(kind))) {
                hosts |= kind;
            }
            joins.push((kind, path.clone()));
        }
        types.insert(format!("{:?}", ns.typ()));
    }
    for (typ, name) in [
        (T::Pid, "pid"),
        (T::Mount, "mount"),
        (T::Ipc, "ipc"),
        (T::Uts, "uts"),
    ] {
        if !types.contains(&format!("{typ:?}")) {
            return Err(OciError::unsupported(
                "linux.namespaces",
                format!("{name} is always made here: list it"),
            ));
        }
    }
    Ok(Namespaces {
        user: types.contains(&format!("{:?}", T::User)),
        network: types.contains(&format!("{:?}", T::Network))
            && !hosts.contains(CloneFlags::CLONE_NEWNET),
        ipc: !hosts.contains(CloneFlags::CLONE_NEWIPC),
        uts: !hosts.contains(CloneFlags::CLONE_NEWUTS),
        joins,
    })
}

/// The user namespace as step 03's flags: with `user`, each of
/// `linux.uidMappings` and `gidMappings` a `--uid-map` / `--gid-map`
/// (CONTAINER:HOST:COUNT, as the file says them); without, `--userns host`
/// (no user namespace at all: step 03's `host`). Maps without a user
/// namespace, or a user namespace without both, are refused.
pub(super) fn user_flags(
    linux: &oci_spec::runtime::Linux,
    user: bool,
) -> Result<Vec<String>, OciError> {
    let uids = linux.uid_mappings().clone().unwrap_or_default();
    let gids = linux.gid_mappings().clone().unwrap_or_default();
    match (user, uids.is_empty(), gids.is_empty()) {
        (false, true, true) => return Ok(vec!["--userns".into(), "host".into()]),
        (false, _, _) => {
            return Err(OciError::unsupported(
                "linux.uidMappings",
                "maps without a user namespace (list one in linux.namespaces)",
            ));
        }
        (true, false, false) => {}
        (true, _, _) => {
            return Err(OciError::unsupported(
                "linux.namespaces",
                "a user namespace needs both linux.uidMappings and linux.gidMappings",
            ));
        }
    }
    let mut argv = Vec::new();
    for (flag, maps) in [("--uid-map", &uids), ("--gid-map", &gids)] {
        for map in maps {
            argv.push(flag.to_string());
            argv.push(format!(
                "{}:{}:{}",
                map.container_id(),
                map.host_id(),
                map.size()
            ));
        }
    }
    Ok(argv)
}

/// /proc/PID/ns's name of a namespace kind.
fn proc_name(kind: CloneFlags) -> &'static str {
    match kind {
        CloneFlags::CLONE_NEWNET => "net",
        CloneFlags::CLONE_NEWIPC => "ipc",
        _ => "uts",
    }
}

/// Whether two paths are one file (device and inode).
fn same_file(a: &std::path::Path, b: &str) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(a), Ok(b)) => (a.dev(), a.ino()) == (b.dev(), b.ino()),
        _ => false,
    }
}
