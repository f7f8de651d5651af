//! The capabilities layer: container root keeps only the set it was given
//! (capset.rs), in every one of a process's five sets (capabilities(7)).
//!
//! ```text
//!  set          what it is                                  here
//!  bounding     the most a process may ever gain, also     the kept set
//!               through execve of a set-uid or file-caps
//!               program; it can only shrink
//!  permitted    what it may make effective                 the kept set
//!  effective    what the kernel checks now                 the kept set
//!  inheritable  what may pass execve to programs whose     empty
//!               file says it may
//!  ambient      what passes execve to any program          empty
//! ```
//!
//! The bounding set is what holds: at `execve` the kernel recomputes the
//! others, and for uid 0 the new permitted set is inheritable plus
//! bounding. So the command, container root, starts with exactly the kept
//! set, and nothing it runs can get more. The inheritable set stays empty,
//! as Docker has it since CVE-2022-24769: a kept inheritable set let a
//! program with inheritable file capabilities gain them when a non-root
//! user ran it.
//!
//! This happens in the child, after every mount (which needs CAP_SYS_ADMIN)
//! and just before the command: the last layers of the stack.

use std::fmt;
use std::sync::Arc;

use caps::CapSet;
use colored::Color;
use nix::errno::Errno;
use step01_chroot::Layer;
use step01_chroot::error::{Error, Result};
use step01_chroot::layer::{ChildCx, Plan};
use step01_chroot::sys::{Call, Syscall};

use crate::capset::{Capability, Names};

/// A capability the running kernel does not know.
#[derive(Debug, thiserror::Error)]
#[error(
    "--cap-add {0}: this kernel does not know it (see /proc/sys/kernel/cap_last_cap)\n  \
     hint: leave it out; a newer kernel has it"
)]
pub struct UnknownToKernel(String);

/// The layer.
#[derive(Debug)]
pub struct Capabilities {
    /// What container root keeps, sorted by number.
    keep: Vec<Capability>,
    /// What was asked for by `--cap-add`, to check against the kernel.
    added: Vec<Capability>,
    /// Every capability the kernel has (capset.rs's `kernel_caps`).
    all: Vec<Capability>,
}

impl Capabilities {
    /// Keeps `keep` of `all`, the kernel's; `added` are the ones
    /// `--cap-add` named.
    pub fn new(keep: Vec<Capability>, added: Vec<Capability>, all: Vec<Capability>) -> Self {
        Capabilities { keep, added, all }
    }
}

impl Layer for Capabilities {
    fn name(&self) -> &'static str {
        "caps"
    }

    fn color(&self) -> Color {
        Color::BrightRed
    }

    fn check(&self, _plan: &Plan<'_>) -> Result<()> {
        // The kernel's own list (cap_last_cap): a capability newer than
        // it cannot be kept, and asking for one should not pass silently.
        if let Some(cap) = self.added.iter().find(|c| !self.all.contains(c)) {
            return Err(Error::layer(UnknownToKernel(cap.to_string())));
        }
        Ok(())
    }

    // ANCHOR: enter
    fn enter(&self, cx: &ChildCx<'_>) -> Result<()> {
        let keep = self.keep.clone();
        cx.trace.note(format!(
            "container root keeps {} capabilities: {}",
            keep.len(),
            Names(&keep)
        ));
        // EXERCISE 08: shrink the capability sets to the kept ones, bounding set first
        // HINT: three calls through cx.trace.sys(Syscall::Other(Arc::new(CapsCall::...))).
        // HINT: the bounding set drops every capability of self.all that is not kept.
        // CHECK: --lib capabilities::tests::the_sets_shrink_to_the_kept_ones_in_order | bounding, then capset, then ambient cleared
        // CHECK: --test security container_root_keeps_dockers_default_set_and_cannot_gain_more | container root keeps Docker's 14
        // The bounding set first: dropping from it needs CAP_SETPCAP, which
        // the next call may take away.
        let drop = self
            .all
            .iter()
            .copied()
            .filter(|c| !keep.contains(c))
            .collect();
        let calls = [
            CapsCall::DropBounding(drop, keep.clone()),
            CapsCall::SetProcessSets(keep),
            CapsCall::ClearAmbient,
        ];
        for call in calls {
            cx.trace.sys(Syscall::Other(Arc::new(call)))?;
        }
        Ok(())
        // END EXERCISE
    }
    // ANCHOR_END: enter
}

/// The calls this step brings to step 01's seam (`Syscall::Other`).
#[derive(Debug)]
enum CapsCall {
    /// prctl(PR_CAPBSET_DROP) for each of the first; the second is kept.
    DropBounding(Vec<Capability>, Vec<Capability>),
    /// capset(2): effective and permitted to the kept set, inheritable empty.
    SetProcessSets(Vec<Capability>),
    /// prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL).
    ClearAmbient,
}

impl fmt::Display for CapsCall {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CapsCall::DropBounding(drop, keep) => write!(
                f,
                "prctl(PR_CAPBSET_DROP, cap) for each of {} /* bounding = {:#018x} */",
                drop.len(),
                crate::capset::mask(keep)
            ),
            CapsCall::SetProcessSets(keep) => write!(
                f,
                "capset({{ effective = permitted = {:#018x}, inheritable = 0 }})",
                crate::capset::mask(keep)
            ),
            CapsCall::ClearAmbient => {
                write!(
                    f,
                    "prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0)"
                )
            }
        }
    }
}

// ANCHOR: perform
impl Call for CapsCall {
    fn perform_real(&self) -> nix::Result<()> {
        // The caps crate's errors are text; the errno its failed call left
        // is the kernel's answer, for the trace.
        let errno = |_| Errno::last();
        match self {
            CapsCall::DropBounding(drop, _) => {
                for cap in drop {
                    caps::drop(None, CapSet::Bounding, *cap).map_err(errno)?;
                }
                Ok(())
            }
            CapsCall::SetProcessSets(keep) => {
                let keep = keep.iter().copied().collect();
                // Effective must stay within permitted: shrink it first.
                caps::set(None, CapSet::Effective, &keep).map_err(errno)?;
                caps::set(None, CapSet::Permitted, &keep).map_err(errno)?;
                caps::clear(None, CapSet::Inheritable).map_err(errno)
            }
            CapsCall::ClearAmbient => caps::clear(None, CapSet::Ambient).map_err(errno),
        }
    }
}
// ANCHOR_END: perform

#[cfg(test)]
mod tests {
    use super::*;
    use step01_chroot::spec::Spec;
    use step01_chroot::trace::Trace;

    /// The child's calls, recorded: bounding set, then the others, then
    /// ambient; the masks are the ones /proc/PID/status will show.
    #[test]
    fn the_sets_shrink_to_the_kept_ones_in_order() {
        let keep = vec![Capability::CAP_CHOWN, Capability::CAP_KILL];
        let all = vec![
            Capability::CAP_CHOWN,
            Capability::CAP_DAC_OVERRIDE,
            Capability::CAP_KILL,
        ];
        let layer = Capabilities::new(keep, vec![], all);
        let spec = Spec::new("t", "/r".into(), vec![], "/s".into());
        let (trace, kernel) = Trace::recording();
        layer.enter(&ChildCx::standalone(&spec, trace)).unwrap();
        assert_eq!(
            kernel.shown(),
            [
                "prctl(PR_CAPBSET_DROP, cap) for each of 1 /* bounding = 0x0000000000000021 */",
                "capset({ effective = permitted = 0x0000000000000021, inheritable = 0 })",
                "prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0)",
            ]
        );
    }
}
