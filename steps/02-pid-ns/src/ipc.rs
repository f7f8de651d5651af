//! The IPC namespace: System V IPC objects and POSIX message queues of the
//! container's own.
//!
//! Shared memory segments, semaphores and message queues are named by
//! global numeric keys: without isolation a container could attach to a
//! host's segment by guessing its key. With `CLONE_NEWIPC` the container
//! sees none of the host's objects (`ipcs` is empty inside), and the ones
//! it makes are destroyed with the namespace. Nothing to do in the child:
//! the flag is all.
//!
//! Man pages: ipc_namespaces(7), sysvipc(7), ipcs(1), ipcmk(1).

use colored::Color;
use nix::sched::CloneFlags;
use step01_chroot::Layer;

/// The IPC namespace layer.
#[derive(Debug, Default)]
pub struct Ipc;

impl Layer for Ipc {
    fn name(&self) -> &'static str {
        "ipc"
    }

    fn color(&self) -> Color {
        Color::Yellow
    }

    fn clone_flags(&self) -> CloneFlags {
        CloneFlags::CLONE_NEWIPC
    }
}
