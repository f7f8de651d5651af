//! `--privileged`: none of this step, and none of step 05's masks.
//!
//! Docker's `--privileged` is for containers that manage the machine (a
//! container that runs Docker, or loads a kernel module): every capability,
//! no seccomp filter, no masked paths, and every host device. Here it turns
//! off what this step adds and step 05's masks, and says so loudly; it does
//! not give the host's devices. Container root must not be host root
//! (`--userns host`): unmasked, `/proc/sys` would be the host's to change
//! (`kernel.core_pattern` runs a program as host root), so that is refused.
//! With step 03's user namespace, a privileged container here is as strong
//! as root in its own user namespace, and no stronger.

use colored::Color;
use step01_chroot::Layer;
use step01_chroot::error::Result;
use step01_chroot::layer::ParentCx;

/// `--privileged` where container root is host root.
#[derive(Debug, thiserror::Error)]
#[error(
    "--privileged with container root as host root would hand the container the host \
     (its kernel settings in /proc/sys, unmasked)\n  hint: leave out --userns host \
     (or --map-root-to 0), or --privileged"
)]
pub struct HostRoot;

/// The layer: it only speaks.
#[derive(Debug)]
pub struct Privileged {
    /// `--read-only` was given too: step 05's masks stay, for it.
    pub masks_kept: bool,
    /// `--cap-*` or `--security-opt` were given too, and are ignored.
    pub ignored: bool,
}

impl Layer for Privileged {
    fn name(&self) -> &'static str {
        "PRIVILEGED"
    }

    fn color(&self) -> Color {
        Color::BrightRed
    }

    fn prepare(&mut self, cx: &mut ParentCx<'_>) -> Result<()> {
        let trace = &cx.trace;
        trace.note(
            "!!! --privileged: every capability kept, no no_new_privs, no seccomp filter !!!",
        );
        match self.masks_kept {
            true => {
                trace.note("!!! /proc and /sys stay masked: --read-only is part of that layer !!!")
            }
            false => trace.note("!!! /proc and /sys are not masked (step 05's masks are off) !!!"),
        }
        trace.note("container root is not host root: the user namespace stays");
        if self.ignored {
            trace.note(
                "!!! --cap-add, --cap-drop and --security-opt are ignored with --privileged !!!",
            );
        }
        Ok(())
    }
}
