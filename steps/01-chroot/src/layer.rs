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
//!  released()       child is on its way      [launched: waits at its gate,
//!                                             then gate_opened()]
//!                                            execve(command)
//!                   (tidy what it no longer needs, in parallel with it)
//!  running()        the command runs         (record it: step 10's state)
//!  wait for the child to exit
//!  cleanup()        in reverse layer order, always, also after errors
//! ```
//!
//! Step 01 has one layer, [`crate::chroot::Chroot`]. Later steps add layers
//! to a [`Layers`] stack, placing each by the *type* of another; they never
//! change this trait or the engine.

use std::os::fd::BorrowedFd;

use colored::Color;
use nix::sched::CloneFlags;
use nix::unistd::Pid;

use crate::error::Result;
use crate::spec::Spec;
use crate::status::ExitStatus;
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
/// Every call to the kernel goes through `trace.sys` (sys.rs; `trace.call`
/// for what is not a `Syscall` yet), so that a dry run (which runs these
/// hooks in the parent, with a kernel that does nothing) shows the whole
/// plan and changes nothing, and a unit test can record the calls.
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

impl<'a> ChildCx<'a> {
    /// A context for `enter` with no parent behind it: no host pid, no
    /// error pipe. For unit tests, with [`Trace::recording`].
    pub fn standalone(spec: &'a Spec, trace: Trace) -> Self {
        ChildCx {
            spec,
            trace,
            host_pid: Pid::from_raw(0),
            error_pipe: None,
        }
    }
}

/// One kind of isolation. Every hook has a default that does nothing, so a
/// layer implements only the points of the timeline it cares about.
pub trait Layer: std::any::Any {
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

    /// In the parent, once the command runs: the child's `execve`
    /// worked (the error pipe closed with nothing in it). From here on the
    /// container is up, and only its exit is left to wait for. Step 10
    /// records it here (its pid, its start time) and tells the command
    /// line, which waits for no more than this, that the container is
    /// running. It cannot fail the run: the command is already running.
    fn running(&mut self, _cx: &mut ParentCx<'_>, _child: Pid) {}

    /// In the child, before the command is executed.
    fn enter(&self, _cx: &ChildCx<'_>) -> Result<()> {
        Ok(())
    }

    /// Launched containers only (launch.rs): in the child, once `start`
    /// has opened its gate, right before `execve`; inside the container,
    /// as its user, with every layer's `enter` done. The parent is gone:
    /// an error goes to the child's stderr and ends it. (Step 10's OCI
    /// face runs an engine's `startContainer` hooks here.)
    fn gate_opened(&self, _cx: &ChildCx<'_>) -> Result<()> {
        Ok(())
    }

    /// In the parent, after the child has exited (`exit` is `None` when it
    /// never ran: an error came first, or this is a dry run). Called in
    /// reverse layer order, for every layer whose `prepare` succeeded.
    fn cleanup(&mut self, _cx: &mut ParentCx<'_>, _exit: Option<&ExitStatus>) -> Result<()> {
        Ok(())
    }
}

// ANCHOR: layers
/// A container's layers, in the order they act (and cleaned up in reverse).
///
/// Each step builds on the previous step's `Layers`: it adds its own, and
/// may put one before or after another, or in place of one, naming it by
/// its **type**: `layers.insert_after::<PivotRoot>(Masks::new(..))?`. A typo
/// is a compile error; a layer that is not in the stack (steps composed in
/// the wrong order) is a [`StackError`] that names it, when the stack is
/// built, before anything runs.
#[derive(Default)]
pub struct Layers(Vec<Box<dyn Layer>>);

impl Layers {
    /// No layers yet.
    pub fn new() -> Self {
        Layers::default()
    }

    /// Adds `layer` last.
    pub fn push(&mut self, layer: impl Layer) -> &mut Self {
        self.0.push(Box::new(layer));
        self
    }

    /// Adds `more`, in their order, last.
    pub fn append(&mut self, more: Layers) -> &mut Self {
        self.0.extend(more.0);
        self
    }

    /// Whether a layer of type `L` is in the stack.
    pub fn contains<L: Layer>(&self) -> bool {
        self.0.iter().any(|l| is::<L>(l.as_ref()))
    }

    /// Puts `layer` right before the layer of type `L`.
    pub fn insert_before<L: Layer>(&mut self, layer: impl Layer) -> Result<&mut Self, StackError> {
        let at = self.position::<L>("insert a layer before")?;
        self.0.insert(at, Box::new(layer));
        Ok(self)
    }

    /// Puts `layer` right after the layer of type `L`.
    pub fn insert_after<L: Layer>(&mut self, layer: impl Layer) -> Result<&mut Self, StackError> {
        let at = self.position::<L>("insert a layer after")?;
        self.0.insert(at + 1, Box::new(layer));
        Ok(self)
    }

    /// Puts `with` (any number of layers, none included) where the layer of
    /// type `L` was: a later step swaps one idea for a better one, e.g. step
    /// 05 puts pivot_root where step 01's chroot was.
    pub fn replace<L: Layer>(&mut self, with: Layers) -> Result<&mut Self, StackError> {
        let at = self.position::<L>("replace")?;
        self.0.splice(at..=at, with.0);
        Ok(self)
    }

    /// Takes the layer of type `L` out.
    pub fn remove<L: Layer>(&mut self) -> Result<&mut Self, StackError> {
        self.replace::<L>(Layers::new())
    }

    /// Keeps only the layers `keep` says yes to, in their order: a later
    /// step may use part of a stack, as step 10's `exec` applies a
    /// container's process layers (user, capabilities, seccomp) to a new
    /// process, and none of those that make its mounts or its network.
    /// [`is`] tells a layer's type.
    pub fn retain(&mut self, mut keep: impl FnMut(&dyn Layer) -> bool) -> &mut Self {
        self.0.retain(|layer| keep(layer.as_ref()));
        self
    }

    /// The layers' names, in order (for messages and `Debug`).
    pub fn names(&self) -> Vec<&'static str> {
        self.0.iter().map(|l| l.name()).collect()
    }

    /// Puts `layer` where the layer of type `L` was.
    pub fn replace_with<L: Layer>(&mut self, layer: impl Layer) -> Result<&mut Self, StackError> {
        let mut one = Layers::new();
        one.push(layer);
        self.replace::<L>(one)
    }

    /// Where the one layer of type `L` is. None, or two (which would be
    /// meant?), is the step's mistake, said before anything runs.
    fn position<L: Layer>(&self, action: &'static str) -> Result<usize, StackError> {
        let mut found = self
            .0
            .iter()
            .enumerate()
            .filter(|(_, l)| is::<L>(l.as_ref()));
        let error = |why| StackError {
            action,
            wanted: std::any::type_name::<L>(),
            why,
            have: self.names().join(", "),
        };
        match (found.next(), found.next()) {
            (Some((at, _)), None) => Ok(at),
            (None, _) => Err(error("no such layer in the stack")),
            (Some(_), Some(_)) => Err(error("more than one layer of that type in the stack")),
        }
    }
}
// ANCHOR_END: layers

/// Whether `layer` is of type `L`: its type, seen through `Any`.
pub fn is<L: Layer>(layer: &dyn Layer) -> bool {
    let layer: &dyn std::any::Any = layer;
    layer.is::<L>()
}

impl std::fmt::Debug for Layers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.names()).finish()
    }
}

impl std::ops::Deref for Layers {
    type Target = [Box<dyn Layer>];
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl std::ops::DerefMut for Layers {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.0
    }
}

/// A step put its layers in relation to one that is not in the stack: a
/// mistake in the step (the order in which it composes), not in the input.
#[derive(Debug, thiserror::Error)]
#[error(
    "bug in this step's layers: cannot {action} {wanted}: {why} ({have})\n  \
     hint: each step builds on the previous step's layers(); check the order in its lib.rs"
)]
pub struct StackError {
    action: &'static str,
    wanted: &'static str,
    why: &'static str,
    have: String,
}

impl From<StackError> for crate::Error {
    fn from(err: StackError) -> Self {
        crate::Error::layer(err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct A;
    #[derive(Debug)]
    struct B;
    #[derive(Debug)]
    struct C;
    impl Layer for A {
        fn name(&self) -> &'static str {
            "a"
        }
    }
    impl Layer for B {
        fn name(&self) -> &'static str {
            "b"
        }
    }
    impl Layer for C {
        fn name(&self) -> &'static str {
            "c"
        }
    }

    #[test]
    fn layers_are_placed_by_type() {
        let mut layers = Layers::new();
        layers.push(A).push(C);
        layers.insert_before::<C>(B).unwrap();
        assert_eq!(layers.names(), ["a", "b", "c"]);
        layers.remove::<B>().unwrap().insert_after::<C>(B).unwrap();
        assert_eq!(layers.names(), ["a", "c", "b"]);
        let mut two = Layers::new();
        two.push(B).push(B);
        layers.replace::<A>(two).unwrap();
        assert_eq!(layers.names(), ["b", "b", "c", "b"]);
        assert!(!layers.contains::<A>());
    }

    #[test]
    fn a_missing_layer_is_an_error_that_names_it() {
        let mut layers = Layers::new();
        layers.push(A);
        let err = layers.insert_after::<B>(C).unwrap_err().to_string();
        assert!(err.contains("cannot insert a layer after"), "{err}");
        assert!(err.contains("layer::tests::B"), "{err}");
        assert!(err.contains("(a)"), "{err}");
        layers.push(A);
        let err = layers.remove::<A>().unwrap_err().to_string();
        assert!(err.contains("more than one layer of that type"), "{err}");
    }
}
