//! no_new_privs: nothing the container runs can gain privileges by execve.
//!
//! A set-uid program runs as its file's owner, and a program with file
//! capabilities gains them: that is how `passwd` or `ping` work. In a
//! container, the same mechanism lets an unprivileged process become
//! container root through any set-uid binary in the image (or one it
//! planted in a writable layer). `prctl(PR_SET_NO_NEW_PRIVS, 1)` makes the
//! kernel ignore the set-uid and set-gid bits and file capabilities at
//! every `execve` from then on, for this process and all it starts, and it
//! can never be turned off again (prctl(2), and the kernel's
//! Documentation/userspace-api/no_new_privs.rst).
//!
//! Docker sets it only when asked (`--security-opt no-new-privileges`):
//! images that switch users with `su` or `sudo` need set-uid to work. This
//! workshop sets it unless asked not to (`no-new-privileges=false`), safe by
//! default, and the flag shows the difference. It is also what lets an
//! unprivileged process install a seccomp filter (seccomp(2)).

use std::fmt;
use std::sync::Arc;

use colored::Color;
use step01_chroot::Layer;
use step01_chroot::error::Result;
use step01_chroot::layer::ChildCx;
use step01_chroot::sys::{Call, Syscall};

/// The layer.
#[derive(Debug)]
pub struct NoNewPrivs;

impl Layer for NoNewPrivs {
    fn name(&self) -> &'static str {
        "nnp"
    }

    fn color(&self) -> Color {
        Color::BrightRed
    }

    fn enter(&self, cx: &ChildCx<'_>) -> Result<()> {
        cx.trace.sys(Syscall::Other(Arc::new(SetNoNewPrivs)))?;
        Ok(())
    }
}

/// prctl(PR_SET_NO_NEW_PRIVS, 1), brought to step 01's seam.
#[derive(Debug)]
struct SetNoNewPrivs;

impl fmt::Display for SetNoNewPrivs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)")
    }
}

impl Call for SetNoNewPrivs {
    fn perform_real(&self) -> nix::Result<()> {
        nix::sys::prctl::set_no_new_privs()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use step01_chroot::spec::Spec;
    use step01_chroot::trace::Trace;

    #[test]
    fn the_child_sets_no_new_privs() {
        let spec = Spec::new("t", "/r".into(), vec![], "/s".into());
        let (trace, kernel) = Trace::recording();
        NoNewPrivs
            .enter(&ChildCx::standalone(&spec, trace))
            .unwrap();
        assert_eq!(kernel.shown(), ["prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)"]);
    }
}
