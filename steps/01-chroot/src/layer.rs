//! A layer is one kind of isolation, plugged into the engine's timeline.
//!
//! The engine (see `engine.rs`) runs a container as a parent and a child
//! process. Every layer may add clone flags and hook into fixed points of
//! that timeline:
//!
//! ```text
//!  parent                                   child
//!  ──────                                   ─────
//!  check()          nothing changed yet
//!  prepare()        before the child exists  (create a cgroup, a veth)
//!  before_clone()   every layer prepared     (seal what the child copies)
//!  clone(flags) ──────────────────────────▶ waits on the sync pipe
//!  configure_child() child exists, waits     (write uid_map, join a cgroup)
//!  release ───────────────────────────────▶ enter()  (mounts, hostname, chroot)
//!  released()       child is on its way      execve(command)
//!                   (tidy what it no longer needs, in parallel with it)
//!  wait for the child to exit
//!  cleanup()        in reverse layer order, always, also after errors
//! ```
//!
//! Step 01 has one layer, [`crate::chroot::Chroot`]. Later steps add layers;
//! they never change this trait or the engine.

use std::os::fd::BorrowedFd;

use colored::Color;
use nix::sched::CloneFlags;
use nix::unistd::Pid;

use crate::engine::ExitStatus;
use crate::error::Result;
use crate::spec::Spec;
use crate::trace::Trace;

/// What a layer may look at in [`Layer::check`].
#[derive(Debug)]
pub struct Plan<'a> {
    /// The container to run.
    pub spec: &'a Spec,
    /// All layers' clone flags together.
    pub clone_flags: CloneFlags,
    /// Whether this is a dry run (then nothing needs privileges).
    pub dry_run: bool,
}

/// What a layer gets in the parent's hooks.
#[derive(Debug)]
pub struct ParentCx<'a> {
    /// The container; a layer may change it before the child exists.
    pub spec: &'a mut Spec,
    /// The narrator, already tagged with this layer's name and color.
    pub trace: Trace,
}

/// What a layer gets in the child, before the command is executed.
///
/// Everything with a side effect must go through `trace.call`, so that a
/// dry run (which runs these hooks in the parent, executing nothing) shows
/// the whole plan and changes nothing.
#[derive(Debug)]
pub struct ChildCx<'a> {
    /// The container.
    pub spec: &'a Spec,
    /// The narrator, speaking for the child.
    pub trace: Trace,
    /// The child's pid as the host sees it (the parent sends it over the
    /// sync pipe: from inside a new PID namespace the child cannot know it).
    pub host_pid: Pid,
    /// The write end of the close-on-exec error pipe (`None` in a dry run).
    /// A layer that forks and stays behind as a process of its own (step
    /// 02's init) must close its copy, or the parent would wait for
    /// end-of-file forever.
    pub error_pipe: Option<BorrowedFd<'a>>,
}

/// One kind of isolation. Every hook has a default that does nothing, so a
/// layer implements only the points of the timeline it cares about.
pub trait Layer {
    /// A short name for the trace and for error messages, e.g. `chroot`.
    fn name(&self) -> &'static str;

    /// The color of this layer's lines in the trace.
    fn color(&self) -> Color {
        Color::White
    }

    /// Flags this layer adds to `clone(2)`, e.g. `CLONE_NEWPID`.
    fn clone_flags(&self) -> CloneFlags {
        CloneFlags::empty()
    }

    /// Checks made before anything changes: bad input is refused here,
    /// with a message that says what to do.
    fn check(&self, _plan: &Plan<'_>) -> Result<()> {
        Ok(())
    }

    /// In the parent, before the child exists.
    ///
    /// If this fails, the layer must undo what it did itself (the engine
    /// only cleans up layers whose `prepare` succeeded).
    fn prepare(&mut self, _cx: &mut ParentCx<'_>) -> Result<()> {
        Ok(())
    }

    /// In the parent, after every layer's `prepare`, right before the
    /// clone: the last look at what the child's namespaces will copy. (Step
    /// 03 makes the rootfs read-only here, after step 05's layers have made
    /// their mount points in it.) A failure here is cleaned up like one in
    /// `prepare`, by each prepared layer's `cleanup`.
    fn before_clone(&mut self, _cx: &mut ParentCx<'_>) -> Result<()> {
        Ok(())
    }

    /// In the parent, after the child exists but before it may go on.
    /// In a dry run `child` is pid 0.
    fn configure_child(&mut self, _cx: &mut ParentCx<'_>, _child: Pid) -> Result<()> {
        Ok(())
    }

    /// In the parent, right after the release, while the child sets itself
    /// up on another CPU: work nobody waits for, such as taking down what
    /// only the set-up needed (step 07 detaches helper mounts here, whose
    /// unmount would otherwise hold up the start). It cannot fail the run,
    /// the child is already on its way; what it cannot undo, the next run's
    /// sweep finds.
    /// The child's trace waits in its pipe until these hooks are done, so
    /// the two never interleave.
    fn released(&mut self, _cx: &mut ParentCx<'_>) {}

    /// In the child, before the command is executed.
    fn enter(&self, _cx: &ChildCx<'_>) -> Result<()> {
        Ok(())
    }

    /// In the parent, after the child has exited (`exit` is `None` when it
    /// never ran: an error came first, or this is a dry run). Called in
    /// reverse layer order, for every layer whose `prepare` succeeded.
    fn cleanup(&mut self, _cx: &mut ParentCx<'_>, _exit: Option<&ExitStatus>) -> Result<()> {
        Ok(())
    }
}

/// A list of layers, as steps build and pass them on.
pub type Layers = Vec<Box<dyn Layer>>;

/// Replaces the layer named `name` with `with` (in that order). A later step
/// uses this to swap one idea for a better one, e.g. step 05 puts
/// pivot_root where step 01's chroot was. Panics if there is no such layer:
/// that is a mistake in the step, not in the user's input.
pub fn replace_layer(layers: &mut Layers, name: &str, with: Layers) {
    let at = position(layers, name);
    layers.splice(at..=at, with);
}

/// Inserts `layer` right after the layer named `name`.
pub fn insert_after(layers: &mut Layers, name: &str, layer: Box<dyn Layer>) {
    let at = position(layers, name);
    layers.insert(at + 1, layer);
}

fn position(layers: &Layers, name: &str) -> usize {
    layers
        .iter()
        .position(|l| l.name() == name)
        .unwrap_or_else(|| panic!("no layer named {name:?}"))
}
