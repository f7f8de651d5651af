//! The PID namespace: a process tree of the container's own.
//!
//! With `CLONE_NEWPID` the child is process 1 of a new PID namespace. Inside,
//! it and its descendants get pids 1, 2, 3...; the host still sees them, with
//! ordinary host pids (the trace prints both). A process has one pid in each
//! namespace from its own up to the host's.
//!
//! Tools like `ps` read `/proc`, and a proc file system shows the PID
//! namespace of whoever *mounted* it. The host's `/proc` would show the
//! host's processes, so this layer mounts a fresh one at `/proc` once the
//! child is inside its root (thanks to the mount namespace, that mount is
//! the container's alone).
//!
//! PID 1 has duties no other process has (see `init.rs` and the book):
//! orphans are re-parented to it and it must reap them; signals it has no
//! handler for do not reach it; when it dies, the kernel kills every other
//! process in the namespace.
//!
//! Man pages: pid_namespaces(7), proc(5).

use std::path::PathBuf;

use colored::Color;
use nix::mount::MsFlags;
use nix::sched::CloneFlags;
use nix::unistd::getpid;
use step01_chroot::Layer;
use step01_chroot::error::Result;
use step01_chroot::layer::ChildCx;
use step01_chroot::sys::Syscall;

/// The PID namespace layer. Put it after the layer that changes the root
/// (its `/proc` is mounted inside the new root) and after the mount
/// namespace (so that the mount is the container's own).
#[derive(Debug, Default)]
pub struct PidNamespace {
    /// Mount `/proc` at `<rootfs>/proc` instead, before the root changes
    /// (step 05: after pivot_root no host /proc is left, and in a user
    /// namespace the kernel lets a new proc be mounted only where a
    /// fully visible one already exists in the mount namespace).
    under_rootfs: bool,
}

impl PidNamespace {
    /// The layer for steps 02 to 04: `/proc` inside the new root.
    pub fn new() -> Self {
        Self::default()
    }

    /// The layer for step 05 on: `/proc` at `<rootfs>/proc`, before pivot_root.
    pub fn mounting_under_rootfs() -> Self {
        PidNamespace { under_rootfs: true }
    }
}

impl Layer for PidNamespace {
    fn name(&self) -> &'static str {
        "pid"
    }

    fn color(&self) -> Color {
        Color::Magenta
    }

    fn clone_flags(&self) -> CloneFlags {
        CloneFlags::CLONE_NEWPID
    }

    // ANCHOR: enter
    fn enter(&self, cx: &ChildCx<'_>) -> Result<()> {
        if !cx.trace.dry_run() {
            cx.trace.note(format!(
                "getpid() = {} in here; the host knows this process as host pid {}",
                getpid(),
                cx.host_pid
            ));
        }
        let target = if self.under_rootfs {
            cx.spec.rootfs.join("proc")
        } else {
            PathBuf::from("/proc")
        };
        if !target.is_dir() {
            let mode = 0o555;
            let path = target.clone();
            cx.trace.sys(Syscall::Mkdir { path, mode })?;
        }
        // EXERCISE 02: give the new PID namespace a /proc of its own, at `target`
        // HINT: one mount(2) of a "proc" file system, through cx.trace.sys(Syscall::Mount { .. }).
        // HINT: the proc mounted inside a PID namespace shows that namespace's processes.
        // CHECK: --lib pid::tests::enter_mounts_a_proc_of_its_own | the child mounts proc, nosuid, nodev, noexec
        // CHECK: --test pid_ns ps_lists_only_the_containers_processes | ps in the container lists only its processes
        // A proc file system for this PID namespace. nosuid, nodev, noexec:
        // nothing in /proc needs them, as in every container runtime.
        cx.trace.sys(Syscall::Mount {
            source: Some("proc".into()),
            target,
            fstype: Some("proc".into()),
            flags: MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
            data: None,
        })?;
        Ok(())
        // END EXERCISE
    }
    // ANCHOR_END: enter
}

#[cfg(test)]
mod tests {
    use super::*;
    use step01_chroot::spec::Spec;
    use step01_chroot::trace::Trace;

    #[test]
    fn enter_mounts_a_proc_of_its_own() {
        let spec = Spec::new("t", "/r".into(), vec![], "/s".into());
        let (trace, kernel) = Trace::recording();
        // Under the rootfs (step 02 mounts before the chroot): /r/proc.
        let target = spec.rootfs.join("proc");
        let made = target.is_dir();
        PidNamespace::mounting_under_rootfs()
            .enter(&ChildCx::standalone(&spec, trace))
            .unwrap();
        let shown = kernel.shown();
        let mount = shown.last().expect("a call");
        assert!(
            mount.starts_with(
                r#"mount("proc", "/r/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC"#
            ),
            "{shown:?}"
        );
        assert_eq!(shown.len(), if made { 1 } else { 2 }, "{shown:?}");
    }
}
