//! The image's process, as a layer: its command and environment go into
//! the spec before the child exists; its working directory and user are
//! set in the child, inside the container, last before the command.

use std::fmt;
use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use colored::Color;
use nix::errno::Errno;
use step01_chroot::layer::{ChildCx, Layer, ParentCx};
use step01_chroot::sys::{Call, Syscall};
use step01_chroot::{Error, Result};

use crate::config::Process;
use crate::user;

/// The most of `/etc/passwd` or `/etc/group` that is read.
const ID_FILE_MAX: u64 = 1 << 20;

/// The layer that makes the container's process the image's.
#[derive(Debug)]
pub struct ImageProcess {
    process: Process,
    /// The keys `-e` set: the image's value of those does not apply.
    given_env: Vec<String>,
    /// Whether to keep the capabilities across the uid change, for step
    /// 08 to cut down after it (and [`DropKept`] to drop).
    keep_caps: bool,
}

impl ImageProcess {
    /// The layer for `process`, under the `-e` keys `given_env`;
    /// `keep_caps` if step 08's capabilities follow it.
    pub fn new(process: Process, given_env: Vec<String>, keep_caps: bool) -> Self {
        ImageProcess {
            process,
            given_env,
            keep_caps,
        }
    }
}

impl Layer for ImageProcess {
    fn name(&self) -> &'static str {
        "image"
    }

    fn color(&self) -> Color {
        Color::BrightCyan
    }

    fn prepare(&mut self, cx: &mut ParentCx<'_>) -> Result<()> {
        cx.spec.command = self.process.argv.clone();
        // The image's environment under the command line's: `-e` wins, and
        // the image's PATH replaces our default one.
        for (key, value) in &self.process.env {
            if !self.given_env.contains(key) {
                cx.spec.set_env(key, value);
            }
        }
        cx.trace
            .note(format_args!("the image's command: {:?}", cx.spec.command));
        Ok(())
    }

    fn enter(&self, cx: &ChildCx<'_>) -> Result<()> {
        // Inside the container's root already (pivot_root or chroot came
        // first): a symlink in the image resolves inside it, and so does
        // every path below.
        // `..` and `.` taken out first, as Docker cleans the path: each
        // directory below is then made where the chdir will look.
        let workdir = clean(&self.process.workdir);
        // Docker makes a missing WorkingDir, as `mkdir -p` would.
        let mut dir = PathBuf::from("/");
        for part in workdir.components().skip(1) {
            dir.push(part);
            match cx.trace.sys(Syscall::Mkdir {
                path: dir.clone(),
                mode: 0o755,
            }) {
                Err(err) if err.errno != Errno::EEXIST => return Err(err.into()),
                _ => {}
            }
        }
        cx.trace.sys(Syscall::Chdir(workdir))?;
        if self.process.user.is_empty() {
            return Ok(());
        }
        // Looked up in the image's files, not the host's. In a dry run this
        // runs in the parent, where / is the host's: names stay unresolved.
        let (uid, gid) = if cx.trace.dry_run() {
            match user::resolve(&self.process.user, "", "") {
                Ok(ids) => ids,
                Err(_) => {
                    cx.trace.announce(format_args!(
                        "setgroups(0, []); setresgid(<{0}'s>); setresuid(<{0}'s>)",
                        self.process.user
                    ));
                    return Ok(());
                }
            }
        } else {
            let passwd = id_file("/etc/passwd");
            let group = id_file("/etc/group");
            user::resolve(&self.process.user, &passwd, &group).map_err(Error::layer)?
        };
        // ANCHOR: switch
        // Groups first: once the uid is not 0, setgid(2) is no longer allowed.
        let unmapped = |err: step01_chroot::error::SysError| match err.errno {
            Errno::EINVAL => Error::layer(user::UserError::Unmapped(uid, gid)),
            _ => err.into(),
        };
        cx.trace.sys(Syscall::DropGroups)?;
        cx.trace.sys(Syscall::Setresgid(gid)).map_err(unmapped)?;
        if uid == 0 || !self.keep_caps {
            return cx.trace.sys(Syscall::Setresuid(uid)).map_err(unmapped);
        }
        // Leaving uid 0 empties the permitted and effective capability sets
        // (capabilities(7), "Effect of user ID changes on capabilities"),
        // and step 08, which comes next, needs CAP_SETPCAP to shrink the
        // bounding set. So, as runc does: keep the permitted set across the
        // change, raise the effective set again, and let step 08 cut both
        // down. At execve(2) a process whose uid is not 0 keeps none of
        // them anyway (unless the program's file has capabilities).
        cx.trace.sys(Syscall::Other(Arc::new(Keep::Caps)))?;
        cx.trace.sys(Syscall::Setresuid(uid)).map_err(unmapped)?;
        cx.trace
            .sys(Syscall::Other(Arc::new(Keep::RaiseEffective)))?;
        Ok(())
        // ANCHOR_END: switch
    }
}

/// `path` made absolute and plain: no `.`, no `..` (which stops at `/`).
/// Public for step 10's `exec`, which enters the same directory without
/// making it.
pub fn clean(path: &str) -> PathBuf {
    let mut plain = PathBuf::from("/");
    for part in Path::new(path).components() {
        match part {
            Component::Normal(name) => plain.push(name),
            Component::ParentDir => {
                plain.pop();
            }
            _ => {}
        }
    }
    plain
}

/// The calls around the uid change, brought to step 01's seam.
#[derive(Debug)]
enum Keep {
    /// prctl(PR_SET_KEEPCAPS, 1): the permitted set survives the change
    /// (until the next execve, which clears the flag).
    Caps,
    /// capset(2): effective = permitted.
    RaiseEffective,
    /// After step 08: none kept (prctl(PR_SET_KEEPCAPS, 0); capset to
    /// nothing).
    Nothing,
}

impl fmt::Display for Keep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Keep::Caps => write!(f, "prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0)"),
            Keep::RaiseEffective => write!(f, "capset({{ effective = permitted }})"),
            Keep::Nothing => write!(
                f,
                "prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0); capset({{ effective = permitted = 0 }})"
            ),
        }
    }
}

/// The layer after step 08's capabilities, for a user who is not root:
/// what the uid change kept goes now. A command loses it at `execve`
/// anyway; `--init`'s process 1 never calls `execve`, and would keep it.
#[derive(Debug)]
pub struct DropKept;

impl Layer for DropKept {
    fn name(&self) -> &'static str {
        "image"
    }

    fn color(&self) -> Color {
        Color::BrightCyan
    }

    fn enter(&self, cx: &ChildCx<'_>) -> Result<()> {
        // Only if the uid did change (in a dry run, the plan says so).
        if cx.trace.dry_run() || !nix::unistd::geteuid().is_root() {
            cx.trace.sys(Syscall::Other(Arc::new(Keep::Nothing)))?;
        }
        Ok(())
    }
}

impl Call for Keep {
    fn perform_real(&self) -> nix::Result<()> {
        // The caps crate keeps the errno only in its message; it is still
        // the thread's last one (as step 08 reads it).
        let errno = |_| nix::errno::Errno::last();
        match self {
            Keep::Caps => caps::securebits::set_keepcaps(true).map_err(errno),
            Keep::RaiseEffective => {
                let permitted = caps::read(None, caps::CapSet::Permitted).map_err(errno)?;
                caps::set(None, caps::CapSet::Effective, &permitted).map_err(errno)
            }
            Keep::Nothing => {
                caps::securebits::set_keepcaps(false).map_err(errno)?;
                caps::clear(None, caps::CapSet::Effective).map_err(errno)?;
                caps::clear(None, caps::CapSet::Permitted).map_err(errno)
            }
        }
    }
}

/// An image's `/etc/passwd` or `/etc/group`, or nothing if it has none.
/// Opened without blocking (a FIFO planted there must not stall the
/// start) and read only if it is a regular file, up to [`ID_FILE_MAX`].
fn id_file(path: &str) -> String {
    let Ok(file) = std::fs::File::options()
        .read(true)
        .custom_flags(libc_flags())
        .open(path)
    else {
        return String::new();
    };
    if !file.metadata().is_ok_and(|m| m.is_file()) {
        return String::new();
    }
    let mut text = String::new();
    let _ = file.take(ID_FILE_MAX).read_to_string(&mut text);
    text
}

fn libc_flags() -> i32 {
    nix::fcntl::OFlag::O_NONBLOCK.bits()
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use step01_chroot::layer::{ChildCx, Layer, ParentCx};
    use step01_chroot::spec::Spec;
    use step01_chroot::trace::Trace;

    use super::ImageProcess;
    use crate::config::Process;

    fn layer(workdir: &str, user: &str) -> ImageProcess {
        let process = Process {
            argv: vec!["/bin/app".into(), "--serve".into()],
            env: vec![
                ("PATH".into(), "/app/bin".into()),
                ("MODE".into(), "image".into()),
            ],
            workdir: workdir.into(),
            user: user.into(),
        };
        ImageProcess::new(process, vec!["MODE".into()], true)
    }

    fn spec() -> Spec {
        Spec::new(
            "test",
            PathBuf::from("/rootfs"),
            vec!["/bin/sh".into()],
            PathBuf::from("/state"),
        )
    }

    #[test]
    fn the_images_command_and_env_go_into_the_spec_under_the_flags() {
        let mut spec = spec();
        spec.set_env("MODE", "flag");
        let (trace, _) = Trace::recording();
        layer("/", "")
            .prepare(&mut ParentCx {
                spec: &mut spec,
                trace,
            })
            .unwrap();
        assert_eq!(spec.command, ["/bin/app", "--serve"]);
        // The image's PATH replaces the default; -e MODE stays.
        assert_eq!(spec.env_var("PATH"), Some("/app/bin"));
        assert_eq!(spec.env_var("MODE"), Some("flag"));
    }

    #[test]
    fn the_workdir_is_made_and_entered_then_the_ids_change_groups_first() {
        let spec = spec();
        let (trace, kernel) = Trace::recording();
        layer("/srv/app", "1000:50")
            .enter(&ChildCx::standalone(&spec, trace))
            .unwrap();
        assert_eq!(
            kernel.shown(),
            [
                "mkdir(\"/srv\", 0755)",
                "mkdir(\"/srv/app\", 0755)",
                "chdir(\"/srv/app\")",
                "setgroups(0, [])",
                "setresgid(50, 50, 50)",
                "prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0)",
                "setresuid(1000, 1000, 1000)",
                "capset({ effective = permitted })",
            ]
        );
    }

    #[test]
    fn a_workdir_is_cleaned_before_it_is_made() {
        assert_eq!(super::clean("/a/../b/./c"), PathBuf::from("/b/c"));
        assert_eq!(super::clean("/../../x"), PathBuf::from("/x"));
        assert_eq!(super::clean("/"), PathBuf::from("/"));
    }

    #[test]
    fn root_in_the_root_directory_changes_nothing_but_the_directory() {
        let spec = spec();
        let (trace, kernel) = Trace::recording();
        layer("/", "")
            .enter(&ChildCx::standalone(&spec, trace))
            .unwrap();
        assert_eq!(kernel.shown(), ["chdir(\"/\")"]);
    }
}
