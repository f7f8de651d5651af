//! The three kernels behind the seam (sys.rs): the real one, nobody (a
//! dry run), and a recording (unit tests).

use std::ffi::CString;
use std::sync::Mutex;

use nix::errno::Errno;

use crate::sys::{Kernel, Syscall};

/// The kernel itself.
#[derive(Debug, Default)]
pub struct Real;

// ANCHOR: real
impl Kernel for Real {
    fn is_real(&self) -> bool {
        true
    }

    fn perform(&self, call: &Syscall) -> nix::Result<()> {
        match call {
            Syscall::Mount {
                source,
                target,
                fstype,
                flags,
                data,
            } => nix::mount::mount(
                source.as_deref(),
                target,
                fstype.as_deref(),
                *flags,
                data.as_deref(),
            ),
            Syscall::Umount { target, flags } => nix::mount::umount2(target, *flags),
            Syscall::Chroot(path) => nix::unistd::chroot(path),
            Syscall::Chdir(path) => nix::unistd::chdir(path),
            Syscall::PivotRoot { new_root, put_old } => nix::unistd::pivot_root(new_root, put_old),
            Syscall::Sethostname(name) => nix::unistd::sethostname(name),
            Syscall::Unshare(flags) => nix::sched::unshare(*flags),
            Syscall::Setresuid(id) => {
                let id = nix::unistd::Uid::from_raw(*id);
                nix::unistd::setresuid(id, id, id)
            }
            Syscall::Setresgid(id) => {
                let id = nix::unistd::Gid::from_raw(*id);
                nix::unistd::setresgid(id, id, id)
            }
            Syscall::DropGroups => nix::unistd::setgroups(&[]),
            Syscall::Chown { path, uid, gid } => {
                nix::unistd::chown(path, Some((*uid).into()), Some((*gid).into()))
            }
            Syscall::Rmdir(path) => std::fs::remove_dir(path).map_err(errno),
            Syscall::CreateFile(path) => std::fs::OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(path)
                .map(drop)
                .map_err(errno),
            Syscall::Symlink { target, link } => {
                std::os::unix::fs::symlink(target, link).map_err(errno)
            }
            Syscall::Mkdir { path, mode } => {
                nix::unistd::mkdir(path, nix::sys::stat::Mode::from_bits_truncate(*mode))
            }
            Syscall::WriteFile { path, contents } => std::fs::write(path, contents).map_err(errno),
            Syscall::Execve { program, argv, env } => {
                let c = |s: &String| CString::new(s.as_bytes()).map_err(|_| Errno::EINVAL);
                let argv = argv.iter().map(c).collect::<nix::Result<Vec<_>>>()?;
                let env = env.iter().map(c).collect::<nix::Result<Vec<_>>>()?;
                // Only comes back if it failed.
                let Err(errno) = nix::unistd::execve(&c(program)?, &argv, &env);
                Err(errno)
            }
            Syscall::Other(call) => call.perform_real(),
        }
    }
}
// ANCHOR_END: real

/// The errno of an `io::Error` (EIO if it has none).
fn errno(err: std::io::Error) -> Errno {
    Errno::from_raw(err.raw_os_error().unwrap_or(libc::EIO))
}

/// `--dry-run`: nothing happens.
#[derive(Debug, Default)]
pub struct Dry;

impl Kernel for Dry {
    fn perform(&self, _call: &Syscall) -> nix::Result<()> {
        Ok(())
    }
}

/// Writes every call down, and does nothing: for unit tests.
#[derive(Debug, Default)]
pub struct Recording {
    shown: Mutex<Vec<String>>,
    /// Whether to follow root's path ([`Kernel::runs_as_root`]), whoever
    /// runs the test.
    as_root: bool,
}

impl Recording {
    /// A recording that follows root's path, whoever runs the test.
    pub fn as_root() -> Self {
        Recording {
            as_root: true,
            ..Default::default()
        }
    }

    /// The calls so far, in order, as the trace shows them.
    pub fn shown(&self) -> Vec<String> {
        self.shown.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn keep(&self, shown: String) {
        self.shown
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(shown);
    }
}

impl Kernel for Recording {
    fn perform(&self, call: &Syscall) -> nix::Result<()> {
        self.keep(call.to_string());
        Ok(())
    }

    fn not_made(&self, shown: &str) {
        self.keep(shown.to_string());
    }

    fn runs_as_root(&self) -> bool {
        self.as_root
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_recording_keeps_the_calls_in_order() {
        let recording = Recording::default();
        recording.perform(&Syscall::Chroot("/r".into())).unwrap();
        recording.perform(&Syscall::Chdir("/".into())).unwrap();
        assert_eq!(recording.shown(), [r#"chroot("/r")"#, r#"chdir("/")"#]);
    }
}
