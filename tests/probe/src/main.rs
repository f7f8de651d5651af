//! The probe: run inside a container, it reports what the container sees.
//!
//! The tests copy a statically linked build of it into the rootfs (a busybox
//! rootfs has no libc to load a dynamic one) and run it as the container's
//! command. It prints stable `key: value` lines that tests assert on and
//! snapshot:
//!
//! ```text
//! probe report [--see PATH]...   identity, namespaces, root, mounts, cgroup,
//!                                id maps, capabilities, seccomp; and whether
//!                                each PATH is visible
//! probe attempts                 a table of calls a container should not make
//! probe escape [-- CMD ARGS...]  the classic chroot escape, then CMD
//! probe shm-create KEY           make a System V shared memory segment
//! probe eat SIZE                 use SIZE of memory (e.g. 64m), like eatmemory
//! probe spin SECONDS             keep one CPU busy
//! ```
//!
//! It uses only std and libc, so the static build stays quick.

mod attempts;
mod escape;
mod inject;
mod load;
mod report;
mod shm;

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        None | Some("report") => report::run(args.get(1..).unwrap_or_default()),
        Some("attempts") => attempts::run(args.get(1..).unwrap_or_default()),
        // (for attempts' set-uid copy: exit 0 if running as root)
        // SAFETY: geteuid cannot fail.
        Some("euid") => ExitCode::from(u8::from(unsafe { libc::geteuid() } != 0)),
        Some("escape") => escape::run(args.get(1..).unwrap_or_default()),
        Some("inject") => inject::run(args.get(1..).unwrap_or_default()),
        Some("shm-create") => shm::create(args.get(1..).unwrap_or_default()),
        Some("eat") => load::eat(args.get(1..).unwrap_or_default()),
        Some("spin") => load::spin(args.get(1..).unwrap_or_default()),
        Some(other) => {
            eprintln!(
                "probe: unknown command {other:?}; use report, attempts, escape, shm-create, eat or spin"
            );
            ExitCode::from(2)
        }
    }
}
