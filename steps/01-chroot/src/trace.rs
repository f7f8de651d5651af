//! The trace: every kernel call that builds the container is narrated here.
//!
//! Each call that creates isolation goes through [`Trace::sys`] (a
//! [`Syscall`] value, handed to the kernel of sys.rs), or [`Trace::call`]
//! (a closure, for calls not modelled yet), which
//!
//! * prints it as it happens, on **stderr** (stdout belongs to the container),
//!   with who makes it (`parent` or `child`), which layer asked for it, the
//!   real syscall name with its key arguments, and the result the kernel gave;
//! * does not make it in `--dry-run` mode (nor in a unit test's recording),
//!   so the whole plan can be printed without root;
//! * shows how long it took with `--timings`;
//! * with `--step`, waits for Enter before each call and says which process to
//!   look at from another terminal: the instructor's live-demo mode.
//!
//! A line looks like this:
//!
//! ```text
//! [child ] chroot  │ chroot("/home/ada/workshop/rootfs") = 0
//! ```
//!
//! Apart from pids, ids, paths and timings the output is deterministic, which
//! is what lets the snapshot tests hold it.

use std::fmt::Display;
use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use colored::{Color, Colorize};
use nix::errno::Errno;

use crate::error::SysError;
use crate::kernels::{Dry, Real, Recording};
use crate::sys::{Kernel, Syscall};

/// Which side of the `clone` makes a call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Who {
    /// The runtime process you started (`01-chroot`).
    Parent,
    /// The process that becomes the container.
    Child,
}

impl Display for Who {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Padded to the same width so the columns line up.
        f.write_str(match self {
            Who::Parent => "parent",
            Who::Child => "child ",
        })
    }
}

/// What the user asked of the trace on the command line.
#[derive(Clone, Debug, Default)]
pub struct TraceOptions {
    /// `-q/--quiet`: print nothing but errors.
    pub quiet: bool,
    /// `--dry-run`: print the plan, execute nothing.
    pub dry_run: bool,
    /// `--timings`: show how long each call took.
    pub timings: bool,
    /// `--step`: wait for Enter before each call.
    pub step: bool,
    /// `--step=NAMES`: only before these calls (`mount`, `pivot_root`) or
    /// these layers' (`cgroup`); empty: before every call.
    pub step_only: Vec<String>,
}

pub use crate::traced::Traced;

/// The narrator. Cheap to clone: each layer gets its own copy, tagged with
/// the layer's name and color.
#[derive(Clone, Debug)]
pub struct Trace {
    opts: TraceOptions,
    who: Who,
    layer: &'static str,
    color: Color,
    /// The host pid of the process a learner should look at with `--step`.
    focus: Option<i32>,
    /// Who carries out [`Trace::sys`] calls (sys.rs): the kernel, nobody
    /// (`--dry-run`), or a recording (unit tests).
    kernel: Arc<dyn Kernel>,
}

impl Trace {
    /// A trace for the parent, before any layer speaks.
    pub fn new(opts: TraceOptions) -> Self {
        init_colors();
        let kernel: Arc<dyn Kernel> = match opts.dry_run {
            true => Arc::new(Dry),
            false => Arc::new(Real),
        };
        Trace {
            opts,
            who: Who::Parent,
            layer: "engine",
            color: Color::White,
            focus: None,
            kernel,
        }
    }

    /// A quiet trace whose [`Trace::sys`] calls are written down, not made:
    /// a layer's unit test runs its hooks with it and reads the calls back.
    pub fn recording() -> (Self, Arc<Recording>) {
        Trace::recording_of(Recording::default())
    }

    /// [`Trace::recording`], following root's path whoever runs the test
    /// (a layer that mounts on the host acts only as root).
    pub fn recording_as_root() -> (Self, Arc<Recording>) {
        Trace::recording_of(Recording::as_root())
    }

    fn recording_of(recording: Recording) -> (Self, Arc<Recording>) {
        let recording = Arc::new(recording);
        let mut trace = Trace::quiet();
        trace.kernel = recording.clone();
        (trace, recording)
    }

    /// A trace that runs every call and prints none (unit tests use it).
    pub fn quiet() -> Self {
        Trace::new(TraceOptions {
            quiet: true,
            ..Default::default()
        })
    }

    /// The same trace, speaking for another layer.
    pub fn for_layer(&self, layer: &'static str, color: Color) -> Self {
        Trace {
            layer,
            color,
            ..self.clone()
        }
    }

    /// The same trace, speaking from the child.
    pub fn in_child(&self) -> Self {
        Trace {
            who: Who::Child,
            ..self.clone()
        }
    }

    /// The same trace, pointing `--step` hints at `pid` (a host pid).
    pub fn focused_on(&self, pid: i32) -> Self {
        Trace {
            focus: Some(pid),
            ..self.clone()
        }
    }

    /// The same trace, but `--step` does not pause before its calls. For
    /// calls made while the container runs: the container may be reading
    /// the terminal then, and must not have to share it with us.
    pub fn without_pause(&self) -> Self {
        let mut trace = self.clone();
        trace.opts.step = false;
        trace
    }

    /// Options this trace was made with.
    pub fn options(&self) -> &TraceOptions {
        &self.opts
    }

    /// Whether this is a dry run (nothing is executed).
    pub fn dry_run(&self) -> bool {
        // (A recording is not the real kernel either: nothing real happens.)
        !self.kernel.is_real()
    }

    /// Whether we run as root (the kernel says: sys.rs).
    pub fn runs_as_root(&self) -> bool {
        self.kernel.runs_as_root()
    }

    /// Runs `f`, the system call described by `call`, and narrates it.
    ///
    /// `call` is what the learner reads, e.g. `chroot("/rootfs")`; write it
    /// as the C call looks in its man page. The error, if any, carries the
    /// same description, so a failure reads `chroot("/x"): No such file ...`.
    pub fn call<T: Traced>(
        &self,
        call: impl Display,
        f: impl FnOnce() -> nix::Result<T>,
    ) -> Result<T, SysError> {
        let call = call.to_string();
        self.narrate(&call, f, |e| errno_shown(*e))
            .map_err(|errno| SysError { call, errno })
    }

    // ANCHOR: sys
    /// Narrates `call` and hands it to this trace's kernel (sys.rs): made
    /// in a real run, not in a dry run, written down in a unit test. Every
    /// layer's request to the kernel goes this way.
    pub fn sys(&self, call: Syscall) -> Result<(), SysError> {
        let shown = call.to_string();
        if let Syscall::Execve { .. } = call {
            // Printed before: when it works, nothing comes after it.
            self.show_ahead(&shown);
            return self
                .kernel
                .perform(&call)
                .map_err(|errno| SysError { call: shown, errno });
        }
        self.pause_before(&shown);
        if self.dry_run() {
            self.line(&format!("{shown}   (dry run: not executed)"));
        }
        let kernel = self.kernel.clone();
        let perform = || kernel.perform(&call);
        match self.dry_run() {
            true => perform(),
            false => self.run_and_show(&shown, perform, |e| errno_shown(*e)),
        }
        .map_err(|errno| SysError { call: shown, errno })
    }
    // ANCHOR_END: sys

    /// Like [`Trace::call`], for calls that are not one system call and
    /// have an error type of their own (a netlink request, a helper
    /// program): success prints `= 0`, failure `= error: ...`.
    pub fn call_any<T: Traced, E: Display>(
        &self,
        call: impl Display,
        f: impl FnOnce() -> Result<T, E>,
    ) -> Result<T, E> {
        self.narrate(&call.to_string(), f, |err| format!("error: {err}"))
    }

    /// Pauses (`--step`), runs `f` unless this is a dry run, and prints the
    /// call with its result (`shown_err` tells how to print a failure).
    fn narrate<T: Traced, E>(
        &self,
        call: &str,
        f: impl FnOnce() -> Result<T, E>,
        shown_err: impl Fn(&E) -> String,
    ) -> Result<T, E> {
        self.pause_before(call);
        if self.dry_run() {
            self.kernel.not_made(call);
            self.line(&format!("{call}   (dry run: not executed)"));
            return Ok(T::dry().unwrap_or_else(|| {
                panic!("bug: {call} cannot be simulated; narrate it with announce() in a dry run")
            }));
        }
        self.run_and_show(call, f, shown_err)
    }

    /// Runs `f` and prints `call = result` (and how long it took, with
    /// `--timings`).
    fn run_and_show<T: Traced, E>(
        &self,
        call: &str,
        f: impl FnOnce() -> Result<T, E>,
        shown_err: impl Fn(&E) -> String,
    ) -> Result<T, E> {
        let started = Instant::now();
        let result = f();
        let took = started.elapsed();
        let shown = match &result {
            Ok(value) => value.shown(),
            Err(err) => shown_err(err),
        };
        let timing = if self.opts.timings {
            format!("   <{took:.1?}>")
        } else {
            String::new()
        };
        self.line(&format!("{call} = {shown}{timing}"));
        result
    }

    /// Writes `contents` to the file at `path`, narrated as the `write(2)` it
    /// is. Much of the kernel's configuration is files: id maps under /proc,
    /// cgroup limits under /sys/fs/cgroup.
    pub fn write_file(&self, path: impl AsRef<Path>, contents: &str) -> Result<(), SysError> {
        self.sys(Syscall::WriteFile {
            path: path.as_ref().to_path_buf(),
            contents: contents.into(),
        })
    }

    /// Narrates a call that is made elsewhere, or not at all in a dry run
    /// (where a recording notes it, as it does every call).
    pub fn announce(&self, call: impl Display) {
        let call = call.to_string();
        if self.dry_run() {
            self.kernel.not_made(&call);
        }
        self.show_ahead(&call);
    }

    /// Prints `call` before it is made: `call ...`, as for a call that
    /// does not come back when it works (`execve`).
    fn show_ahead(&self, call: &str) {
        self.pause_before(call);
        let suffix = if self.dry_run() {
            "   (dry run: not executed)"
        } else {
            " ..."
        };
        self.line(&format!("{call}{suffix}"));
    }

    /// An explanation between the calls, printed as a `#` comment.
    pub fn note(&self, text: impl Display) {
        self.line(&format!("# {text}"));
    }

    /// Prints one trace line, colored by layer, unless `--quiet`.
    fn line(&self, text: &str) {
        if self.opts.quiet {
            return;
        }
        let line = format!("[{}] {:<7} │ {text}", self.who, self.layer);
        // One write call per line, so parent and child lines never mix.
        let _ = writeln!(std::io::stderr().lock(), "{}", line.color(self.color));
    }

    /// `--step`: say what comes next and wait for Enter (pause.rs).
    fn pause_before(&self, call: &str) {
        let named = crate::pause::named(&self.opts.step_only, self.layer, call);
        if self.opts.step && !self.opts.quiet && named {
            let pid = self.focus.unwrap_or_else(|| std::process::id() as i32);
            crate::pause::pause(call, pid);
        }
    }

    /// `--step` in the child: keeps a handle on our terminal for the
    /// pauses, before the child leaves it (pause.rs).
    pub fn keep_terminal_for_pauses(&self) {
        if self.opts.step {
            crate::pause::keep_terminal();
        }
    }
}

/// Colors only on a terminal: piped into a file or a test, the trace is
/// plain text. `NO_COLOR` and `CLICOLOR_FORCE` still win (the colored crate
/// reads them).
pub fn init_colors() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        use std::io::IsTerminal;
        let decided =
            std::env::var_os("NO_COLOR").is_some() || std::env::var_os("CLICOLOR_FORCE").is_some();
        if !decided {
            colored::control::set_override(std::io::stderr().is_terminal());
        }
    });
}

/// A failed call's result, as strace prints it: `-1 ENOENT (No such file or directory)`.
fn errno_shown(errno: Errno) -> String {
    format!("-1 {} ({})", errno_name(errno), errno.desc())
}

/// The symbolic name of an errno, as strace prints it (`ENOENT`).
pub fn errno_name(errno: Errno) -> String {
    // nix's Debug output for Errno is exactly the C name.
    format!("{errno:?}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dry_run_executes_nothing() {
        let trace = Trace::new(TraceOptions {
            dry_run: true,
            quiet: true,
            ..Default::default()
        });
        let mut ran = false;
        trace
            .call("chroot(\"/nowhere\")", || {
                ran = true;
                Ok(())
            })
            .unwrap();
        assert!(!ran, "a dry run must not execute the call");
    }

    #[test]
    fn errors_carry_the_call() {
        let trace = Trace::new(TraceOptions {
            quiet: true,
            ..Default::default()
        });
        let err = trace
            .call("chroot(\"/x\")", || Err::<(), _>(Errno::ENOENT))
            .unwrap_err();
        assert_eq!(err.to_string(), "chroot(\"/x\"): No such file or directory");
    }
}
