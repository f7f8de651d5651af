//! What a config.json asks that no workshop flag says, made by one layer
//! of its own, in the container, after the pivot and before step 05's
//! masks make `/proc/sys` read-only:
//!
//! - `process.rlimits`: setrlimit(2), which `execve` keeps;
//! - `linux.sysctl`: a write into the container's own `/proc/sys`, for the
//!   keys a namespace of its own holds (net.* in its network namespace,
//!   IPC keys in its IPC namespace: sysctl(8), namespaces(7)); a key of
//!   the whole host is refused by bundle.rs;
//! - `linux.maskedPaths` and `linux.readonlyPaths` beyond step 05's lists,
//!   hidden and made read-only as step 05 does it;
//! - the mounts engines list that steps 01 to 09 do not make: `mqueue` on
//!   /dev/mqueue, a read-only empty tmpfs on /sys/fs/cgroup (the
//!   container's cgroup tree there is not made yet: said in the book), and
//!   any other tmpfs, with its options (containerd's on /run).
//!
//! - `nodev` on every mount the container can write (its root, /dev, the
//!   binds and tmpfs mounts), whatever the config says. runc lets a
//!   container with CAP_MKNOD (containerd grants it) make device nodes,
//!   and a devices cgroup decides which it may open; there is no devices
//!   cgroup here, and with no user namespace (an engine asks for none) a
//!   node made for the host's disk would open it. With `nodev` a node
//!   made anywhere opens nothing; the devices step 05 binds into /dev are
//!   mounts of their own, and work.
//!
//! And [`Groups`], `process.user.additionalGids`, a layer of its own
//! because of when it acts: setgroups(2) right after step 09 has dropped
//! the groups and switched the user, before step 08 drops CAP_SETGID.

use std::path::Path;

use colored::Color;
use nix::mount::MsFlags;
use nix::sys::resource::Resource;
use step01_chroot::Layer;
use step01_chroot::error::Result;
use step01_chroot::layer::ChildCx;
use step05_pivot_root::mounts::{bind, mkdir, mount_fs, remount_read_only};

/// The config's part that this layer makes.
#[derive(Clone, Debug, Default)]
pub struct Extras {
    /// (`RLIMIT_NOFILE`, soft, hard), as the file names them.
    pub rlimits: Vec<(String, u64, u64)>,
    /// (`net.ipv4.ping_group_range`, `0 0`).
    pub sysctl: Vec<(String, String)>,
    pub masked: Vec<String>,
    pub read_only: Vec<String>,
    /// /dev/mqueue, and /sys/fs/cgroup.
    pub mqueue: bool,
    pub cgroup_fs: bool,
    /// Binds (step 05's volumes) and the flags to add to them: `nosuid`,
    /// `nodev`, `noexec`.
    pub hardened: Vec<(String, Vec<String>)>,
    /// Other tmpfs mounts: where, their flags, and their data (`size=`).
    pub tmpfs: Vec<(String, MsFlags, String)>,
    /// `nodev` on the root and /dev (a container's; not an exec's).
    pub nodev: bool,
}

/// `process.oomScoreAdj`: how willingly the OOM killer picks the process
/// (proc(5)). Written by the parent, into the host's /proc (an exec's
/// child, in the container's mount namespace but not its PID namespace,
/// has no /proc/self there), before the child goes on; what it forks
/// inherits it. Lower than now needs CAP_SYS_RESOURCE, which we have.
#[derive(Debug)]
pub struct OomScoreAdj(pub i32);

impl Layer for OomScoreAdj {
    fn name(&self) -> &'static str {
        "oom"
    }

    fn color(&self) -> Color {
        Color::BrightYellow
    }

    fn configure_child(
        &mut self,
        cx: &mut step01_chroot::layer::ParentCx<'_>,
        child: nix::unistd::Pid,
    ) -> Result<()> {
        let path = format!("/proc/{child}/oom_score_adj");
        let adj = self.0;
        cx.trace.call(format!("write({path:?}, \"{adj}\")"), || {
            std::fs::write(&path, adj.to_string()).map_err(step05_pivot_root::mounts::errno)
        })?;
        Ok(())
    }
}

/// A tmpfs's options, as mount(8) writes them: the flags, and the rest
/// for the filesystem (tmpfs(5)). An option neither is: `Err` with it.
pub fn tmpfs_options(options: &[String]) -> std::result::Result<(MsFlags, String), String> {
    let mut flags = MsFlags::empty();
    let mut data = Vec::new();
    for option in options {
        let (key, _) = option.split_once('=').unwrap_or((option, ""));
        match option.as_str() {
            "nosuid" => flags |= MsFlags::MS_NOSUID,
            "nodev" => flags |= MsFlags::MS_NODEV,
            "noexec" => flags |= MsFlags::MS_NOEXEC,
            "ro" => flags |= MsFlags::MS_RDONLY,
            "strictatime" => flags |= MsFlags::MS_STRICTATIME,
            "relatime" => flags |= MsFlags::MS_RELATIME,
            "noatime" => flags |= MsFlags::MS_NOATIME,
            "rw" | "suid" | "dev" | "exec" | "private" | "rprivate" => {}
            _ if ["mode", "size", "nr_inodes", "uid", "gid"].contains(&key) => {
                data.push(option.clone())
            }
            _ => return Err(option.clone()),
        }
    }
    Ok((flags, data.join(",")))
}

/// `process.user.additionalGids`: the process's supplementary groups.
#[derive(Debug)]
pub struct Groups(pub Vec<u32>);

impl Layer for Groups {
    fn name(&self) -> &'static str {
        "groups"
    }

    fn color(&self) -> Color {
        Color::BrightYellow
    }

    fn enter(&self, cx: &ChildCx<'_>) -> Result<()> {
        let gids: Vec<nix::unistd::Gid> = self
            .0
            .iter()
            .map(|g| nix::unistd::Gid::from_raw(*g))
            .collect();
        cx.trace
            .call(format!("setgroups({}, {:?})", gids.len(), self.0), || {
                nix::unistd::setgroups(&gids)
            })?;
        Ok(())
    }
}

/// A resource limit by the name the spec gives it.
pub fn resource(name: &str) -> Option<Resource> {
    Some(match name {
        "RLIMIT_AS" => Resource::RLIMIT_AS,
        "RLIMIT_CORE" => Resource::RLIMIT_CORE,
        "RLIMIT_CPU" => Resource::RLIMIT_CPU,
        "RLIMIT_DATA" => Resource::RLIMIT_DATA,
        "RLIMIT_FSIZE" => Resource::RLIMIT_FSIZE,
        "RLIMIT_LOCKS" => Resource::RLIMIT_LOCKS,
        "RLIMIT_MEMLOCK" => Resource::RLIMIT_MEMLOCK,
        "RLIMIT_MSGQUEUE" => Resource::RLIMIT_MSGQUEUE,
        "RLIMIT_NICE" => Resource::RLIMIT_NICE,
        "RLIMIT_NOFILE" => Resource::RLIMIT_NOFILE,
        "RLIMIT_NPROC" => Resource::RLIMIT_NPROC,
        "RLIMIT_RSS" => Resource::RLIMIT_RSS,
        "RLIMIT_RTPRIO" => Resource::RLIMIT_RTPRIO,
        "RLIMIT_RTTIME" => Resource::RLIMIT_RTTIME,
        "RLIMIT_SIGPENDING" => Resource::RLIMIT_SIGPENDING,
        "RLIMIT_STACK" => Resource::RLIMIT_STACK,
        _ => return None,
    })
}

/// Whether a sysctl key belongs to a namespace the container has of its
/// own (runc's list): net.* with its network namespace, IPC's keys.
pub fn namespaced(key: &str, own_network: bool, own_ipc: bool) -> bool {
    let ipc = [
        "kernel.msgmax",
        "kernel.msgmnb",
        "kernel.msgmni",
        "kernel.sem",
        "kernel.shmall",
        "kernel.shmmax",
        "kernel.shmmni",
        "kernel.shm_rmid_forced",
    ];
    let ipc_key = ipc.contains(&key) || key.starts_with("fs.mqueue.");
    (own_ipc && ipc_key) || (own_network && key.starts_with("net."))
}

impl Layer for Extras {
    fn name(&self) -> &'static str {
        "oci"
    }

    fn color(&self) -> Color {
        Color::BrightYellow
    }

    // ANCHOR: enter
    fn enter(&self, cx: &ChildCx<'_>) -> Result<()> {
        let trace = &cx.trace;
        for (name, soft, hard) in &self.rlimits {
            let Some(resource) = resource(name) else {
                continue; // (bundle.rs refused it)
            };
            trace.call(format!("setrlimit({name}, {soft}, {hard})"), || {
                nix::sys::resource::setrlimit(resource, *soft, *hard)
            })?;
        }
        for (key, value) in &self.sysctl {
            let path = Path::new("/proc/sys").join(key.replace('.', "/"));
            trace.call(format!("write({path:?}, {value:?})"), || {
                std::fs::write(&path, value).map_err(step05_pivot_root::mounts::errno)
            })?;
        }
        if self.mqueue {
            mkdir(trace, Path::new("/dev/mqueue"), 0o755)?;
            let flags = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
            mount_fs(trace, "mqueue", Path::new("/dev/mqueue"), flags, None)?;
        }
        if self.cgroup_fs {
            let flags = MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_NODEV;
            mount_fs(
                trace,
                "tmpfs",
                Path::new("/sys/fs/cgroup"),
                flags,
                Some("size=0"),
            )?;
        }
        // As step 05's masks: a directory under an empty read-only tmpfs,
        // a file under /dev/null; what this kernel lacks needs no hiding.
        for path in self.masked.iter().map(Path::new).filter(|p| p.exists()) {
            match path.is_dir() {
                true => mount_fs(trace, "tmpfs", path, MsFlags::MS_RDONLY, Some("size=0"))?,
                false => bind(trace, Path::new("/dev/null"), path, false)?,
            }
        }
        for path in self.read_only.iter().map(Path::new).filter(|p| p.exists()) {
            bind(trace, path, path, true)?;
            remount_read_only(trace, path)?;
        }
        for (dest, options) in &self.hardened {
            harden(trace, Path::new(dest), options)?;
        }
        // Made where the container's root says: we are inside it, so a
        // symlink on the way resolves inside it too.
        for (dest, flags, data) in &self.tmpfs {
            let mut dir = std::path::PathBuf::from("/");
            for part in Path::new(dest).components().skip(1) {
                dir.push(part);
                mkdir(trace, &dir, 0o755)?;
            }
            let data = (!data.is_empty()).then_some(data.as_str());
            let flags = *flags | MsFlags::MS_NODEV;
            mount_fs(trace, "tmpfs", Path::new(dest), flags, data)?;
        }
        if self.nodev {
            nodev_everywhere(trace)?;
        }
        Ok(())
    }
    // ANCHOR_END: enter
}

/// `nodev` on every mount of the container's (its mount points, in
/// /proc/self/mountinfo: submounts of a recursive bind too) where a
/// device node could be made or found; not on devpts (its terminals are
/// devices), the kernel's own file systems, or binds of a single file
/// (step 05's devices, and the masks' /dev/null).
fn nodev_everywhere(trace: &step01_chroot::trace::Trace) -> Result<()> {
    let table = std::fs::read_to_string("/proc/self/mountinfo").map_err(|err| {
        step01_chroot::error::SysError {
            call: "read(\"/proc/self/mountinfo\")".into(),
            errno: step05_pivot_root::mounts::errno(err),
        }
    })?;
    let kernels = ["proc", "sysfs", "devpts", "mqueue", "cgroup", "cgroup2"];
    for line in table.lines() {
        let Some((fields, fs)) = line.split_once(" - ") else {
            continue;
        };
        let fstype = fs.split(' ').next().unwrap_or_default();
        let Some(point) = fields.split(' ').nth(4).map(super::lifecycle::unescape) else {
            continue;
        };
        let has_nodev = nix::sys::statvfs::statvfs(&point)
            .is_ok_and(|s| s.flags().contains(nix::sys::statvfs::FsFlags::ST_NODEV));
        if kernels.contains(&fstype) || !point.is_dir() || has_nodev {
            continue;
        }
        harden(trace, &point, &["nodev".to_string()])?;
    }
    Ok(())
}

/// Adds `nosuid`, `nodev` or `noexec` to the bind at `target`: a remount
/// of that mount alone (MS_BIND), which sets exactly the flags it is
/// given, so the ones it has (read-only, ...) are given again (statvfs(3)).
fn harden(trace: &step01_chroot::trace::Trace, target: &Path, options: &[String]) -> Result<()> {
    use nix::sys::statvfs::{FsFlags, statvfs};
    let mut flags = MsFlags::MS_REMOUNT | MsFlags::MS_BIND;
    for option in options {
        flags |= match option.as_str() {
            "nosuid" => MsFlags::MS_NOSUID,
            "nodev" => MsFlags::MS_NODEV,
            _ => MsFlags::MS_NOEXEC,
        };
    }
    let has = statvfs(target)
        .map(|s| s.flags())
        .unwrap_or(FsFlags::empty());
    for (kept, flag) in [
        (FsFlags::ST_RDONLY, MsFlags::MS_RDONLY),
        (FsFlags::ST_NOSUID, MsFlags::MS_NOSUID),
        (FsFlags::ST_NODEV, MsFlags::MS_NODEV),
        (FsFlags::ST_NOEXEC, MsFlags::MS_NOEXEC),
        (FsFlags::ST_NOATIME, MsFlags::MS_NOATIME),
        (FsFlags::ST_NODIRATIME, MsFlags::MS_NODIRATIME),
        (FsFlags::ST_RELATIME, MsFlags::MS_RELATIME),
    ] {
        if has.contains(kept) {
            flags |= flag;
        }
    }
    trace.call(
        format!("mount(NULL, {target:?}, NULL, {flags:?}, NULL)"),
        || nix::mount::mount(None::<&str>, target, None::<&str>, flags, None::<&str>),
    )?;
    Ok(())
}
