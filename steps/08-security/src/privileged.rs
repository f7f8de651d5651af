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
use step01_chroot::error::{Error, Result};
use step01_chroot::flags::FlagGroups;
use step01_chroot::layer::{Layers, ParentCx};
use step03_user_ns::cli::UserNsArgs;
use step05_pivot_root::cli::PivotArgs;
use step05_pivot_root::masks::Masks;

use crate::cli::{SecurityArgs, SecurityFlags};

/// Step 07's `layers` made privileged: no masks (unless `--read-only`,
/// which is part of that layer), and this layer to say so. Refused where
/// container root is host root, before anything is made.
pub fn privileged(args: &impl SecurityFlags, layers: &mut Layers) -> Result<()> {
    let mapping = args.group::<UserNsArgs>().mapping().map_err(Error::layer)?;
    let euid = nix::unistd::geteuid().as_raw();
    if mapping.root_outside().map_or(euid, |(uid, _)| uid) == 0 {
        return Err(Error::layer(HostRoot));
    }
    let masks_kept = args.group::<PivotArgs>().read_only;
    if !masks_kept {
        layers.remove::<Masks>()?;
    }
    let own: &SecurityArgs = args.group();
    let ignored =
        !own.cap_add.is_empty() || !own.cap_drop.is_empty() || !own.security_opt.is_empty();
    crate::last(
        layers,
        Privileged {
            masks_kept,
            ignored,
        },
    )
}

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
