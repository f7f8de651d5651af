//! The one seam between the layers and the kernel.
//!
//! A layer does not call mount(2) itself: it describes the call as a
//! [`Syscall`], a plain value, and hands it to the trace
//! (`trace.sys(Syscall::Mount { .. })`), which narrates it and passes it to
//! a [`Kernel`]. Who that kernel is decides what happens:
//!
//! | kernel (kernels.rs) | does | used by |
//! |---|---|---|
//! | [`Real`](crate::kernels::Real) | the system call | every real run |
//! | [`Dry`](crate::kernels::Dry) | nothing (the trace says "dry run: not executed") | `--dry-run` |
//! | [`Recording`](crate::kernels::Recording) | writes the call down | unit tests, as any user |
//!
//! So `--dry-run` runs the same layer code as a real run, with the kernel
//! swapped, and shows the calls it makes with their real arguments; and a
//! layer's unit test checks exactly which calls it makes, in order, without
//! root, without namespaces, on any laptop. What a dry run cannot know, it
//! cannot show: its child's hooks run in the runtime's own process, so
//! what a hook reads from the host (/proc/self, the mount table) is the
//! runtime's, not a container's; and the engine narrates the clone and the
//! pipes itself. (youki's `Syscall` trait is the model; ours
//! is a value rather than a method per call, so that recording and
//! narrating need no code per call.)

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use nix::mount::{MntFlags, MsFlags};
use nix::sched::CloneFlags;

/// One request to the kernel, as data.
#[derive(Clone, Debug)]
pub enum Syscall {
    /// mount(2).
    Mount {
        /// What to mount: a device, a file system's name, or a path to bind.
        source: Option<PathBuf>,
        /// Where.
        target: PathBuf,
        /// The file system type (`None` for a bind or a change of flags).
        fstype: Option<String>,
        /// `MS_*` flags.
        flags: MsFlags,
        /// File system options (`size=64k`).
        data: Option<String>,
    },
    /// umount2(2).
    Umount {
        /// The mount point.
        target: PathBuf,
        /// `MNT_DETACH` and friends.
        flags: MntFlags,
    },
    /// chroot(2).
    Chroot(PathBuf),
    /// chdir(2).
    Chdir(PathBuf),
    /// pivot_root(2): `new_root` becomes `/`, the old root is put at
    /// `put_old`.
    PivotRoot {
        /// The new root.
        new_root: PathBuf,
        /// Where the old root goes.
        put_old: PathBuf,
    },
    /// sethostname(2).
    Sethostname(String),
    /// unshare(2): new namespaces for the caller (`CLONE_NEWCGROUP`).
    Unshare(CloneFlags),
    /// setresuid(2), all three ids to this one.
    Setresuid(u32),
    /// setresgid(2), all three ids to this one.
    Setresgid(u32),
    /// setgroups(2) with an empty list: no supplementary groups.
    DropGroups,
    /// chown(2).
    Chown {
        /// The file.
        path: PathBuf,
        /// Its new owner.
        uid: u32,
        /// Its new group.
        gid: u32,
    },
    /// rmdir(2).
    Rmdir(PathBuf),
    /// open(2) with O_CREAT of an empty file (one that is there is kept):
    /// a mount point for a file.
    CreateFile(PathBuf),
    /// symlink(2): `link` points at `target`.
    Symlink {
        /// What the link says.
        target: PathBuf,
        /// The link itself.
        link: PathBuf,
    },
    /// mkdir(2).
    Mkdir {
        /// The directory.
        path: PathBuf,
        /// Its mode, e.g. 0o555.
        mode: u32,
    },
    /// execve(2): the process becomes `program`. It does not come back when
    /// it works; a kernel that does not make it (a dry run, a recording)
    /// returns `Ok`, and the plan has reached its end.
    Execve {
        /// The program's path.
        program: String,
        /// Its arguments, `argv[0]` first.
        argv: Vec<String>,
        /// Its environment, `KEY=VALUE` each.
        env: Vec<String>,
    },
    /// A call a later step brings, with its own text and its own way to be
    /// made: the seam grows without a change here.
    Other(Arc<dyn Call>),
    /// write(2) of `contents` to the file at `path` (opened, written,
    /// closed): much of the kernel's configuration is files (id maps in
    /// /proc, cgroup limits in /sys/fs/cgroup).
    WriteFile {
        /// The file.
        path: PathBuf,
        /// What is written.
        contents: String,
    },
}

// ANCHOR: display
/// As the man page (and strace) writes the call: `mount("proc", "/proc",
/// "proc", MS_NOSUID, NULL)`.
impl fmt::Display for Syscall {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let quoted = |s: Option<String>| s.map_or("NULL".into(), |s| format!("{s:?}"));
        match self {
            Syscall::Mount {
                source,
                target,
                fstype,
                flags,
                data,
            } => {
                let source = quoted(source.as_ref().map(|p| p.display().to_string()));
                let (fstype, data) = (quoted(fstype.clone()), quoted(data.clone()));
                let flags = flags_str(*flags);
                write!(f, "mount({source}, {target:?}, {fstype}, {flags}, {data})")
            }
            Syscall::Umount { target, flags } => {
                let flags = match *flags {
                    MntFlags::MNT_DETACH => "MNT_DETACH".to_string(),
                    other => format!("{:#x}", other.bits()),
                };
                write!(f, "umount2({target:?}, {flags})")
            }
            Syscall::Chroot(path) => write!(f, "chroot({path:?})"),
            Syscall::Chdir(path) => write!(f, "chdir({path:?})"),
            Syscall::PivotRoot { new_root, put_old } => {
                write!(f, "pivot_root({new_root:?}, {put_old:?})")
            }
            Syscall::Sethostname(name) => write!(f, "sethostname({name:?})"),
            Syscall::Unshare(flags) => {
                let names: Vec<_> = flags.iter_names().map(|(name, _)| name).collect();
                write!(f, "unshare({})", names.join(" | "))
            }
            Syscall::Setresuid(id) => write!(f, "setresuid({id}, {id}, {id})"),
            Syscall::Setresgid(id) => write!(f, "setresgid({id}, {id}, {id})"),
            Syscall::DropGroups => write!(f, "setgroups(0, [])"),
            Syscall::Chown { path, uid, gid } => write!(f, "chown({path:?}, {uid}, {gid})"),
            Syscall::Rmdir(path) => write!(f, "rmdir({path:?})"),
            Syscall::CreateFile(path) => write!(f, "open({path:?}, O_CREAT | O_WRONLY, 0644)"),
            Syscall::Symlink { target, link } => write!(f, "symlink({target:?}, {link:?})"),
            Syscall::Mkdir { path, mode } => write!(f, "mkdir({path:?}, {mode:04o})"),
            Syscall::WriteFile { path, contents } => write!(f, "write({path:?}, {contents:?})"),
            Syscall::Execve { program, argv, env } => {
                write!(f, "execve({program:?}, {argv:?}, [{} vars])", env.len())
            }
            Syscall::Other(call) => write!(f, "{call}"),
        }
    }
}
// ANCHOR_END: display

/// `MS_BIND | MS_REC`, as the man page writes flags (`0` for none).
pub fn flags_str(flags: MsFlags) -> String {
    if flags.is_empty() {
        return "0".into();
    }
    flags
        .iter_names()
        .map(|(name, _)| name)
        .collect::<Vec<_>>()
        .join(" | ")
}

/// A system call a later step brings to the seam ([`Syscall::Other`]):
/// shown as the man page writes it (`Display`), made by `perform_real`
/// only when the kernel is the real one. (Calls that return a value, a
/// descriptor say, still go through `Trace::call` for now.)
pub trait Call: fmt::Debug + fmt::Display + Send + Sync {
    /// Makes the call.
    fn perform_real(&self) -> nix::Result<()>;
}

/// Who carries out a [`Syscall`].
pub trait Kernel: fmt::Debug + Send + Sync {
    /// Performs `call`, or does what stands in for it.
    fn perform(&self, call: &Syscall) -> nix::Result<()>;

    /// Whether calls really happen. When not (a dry run, a recording), the
    /// layers' other side effects (files in the state directory, locks,
    /// sweeps) must not happen either: `Trace::dry_run` says so.
    fn is_real(&self) -> bool {
        false
    }

    /// A narrated call that is not (yet) a [`Syscall`]: not made, but
    /// noted (a recording keeps its text, in order with the others).
    fn not_made(&self, _shown: &str) {}

    /// Whether we run as root (geteuid(2) is 0). Some hooks act only then:
    /// a mount in the host's mount namespace needs it, and rootless, the
    /// container's root is you anyway. A recording may say either, so that
    /// a unit test, run as any user, can follow root's path where a hook
    /// asks this alone (step 03's rootfs bind); hooks that first ask
    /// `Trace::dry_run` follow root's path in any recording.
    fn runs_as_root(&self) -> bool {
        nix::unistd::Uid::effective().is_root()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_read_as_the_man_page_writes_them() {
        let proc = Syscall::Mount {
            source: Some("proc".into()),
            target: "/proc".into(),
            fstype: Some("proc".into()),
            flags: MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
            data: None,
        };
        assert_eq!(
            proc.to_string(),
            r#"mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL)"#
        );
        let private = Syscall::Mount {
            source: None,
            target: "/".into(),
            fstype: None,
            flags: MsFlags::MS_REC | MsFlags::MS_PRIVATE,
            data: None,
        };
        assert_eq!(
            private.to_string(),
            r#"mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL)"#
        );
        let mkdir = Syscall::Mkdir {
            path: "/proc".into(),
            mode: 0o555,
        };
        assert_eq!(mkdir.to_string(), r#"mkdir("/proc", 0555)"#);
        let detach = Syscall::Umount {
            target: "/old".into(),
            flags: MntFlags::MNT_DETACH,
        };
        assert_eq!(detach.to_string(), r#"umount2("/old", MNT_DETACH)"#);
    }
}
