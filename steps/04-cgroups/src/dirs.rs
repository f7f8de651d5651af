//! Cgroup directories: made (with v2's `cgroup.subtree_control` on the
//! way down), and removed once empty.
//!
//! A cgroup *is* a directory: mkdir(2) in a cgroup file system makes one,
//! with its control files already in it, and rmdir(2) removes it, but only
//! when no process is left inside (EBUSY until then).

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use step01_chroot::cli::eprintln_or_not;
use step01_chroot::error::{Error, Result};
use step01_chroot::sys::Syscall;
use step01_chroot::trace::Trace;

use crate::errors::CgroupError;
use crate::limits::Controller;

/// `mkdir -p`, narrating each directory it makes. Another run may make the
/// same parent at the same moment: EEXIST is fine here.
pub(crate) fn make_dirs(trace: &Trace, dir: &Path) -> Result<()> {
    // ancestors() starts at `dir` and climbs; reversed, each parent comes
    // before its child, as mkdir(2) makes no parents (ENOENT).
    let missing: Vec<_> = dir.ancestors().take_while(|d| !d.exists()).collect();
    for d in missing.into_iter().rev() {
        make_dir(trace, d)?;
    }
    Ok(())
}

/// mkdir(2), narrated; EEXIST is fine (another run made it meanwhile).
fn make_dir(trace: &Trace, dir: &Path) -> Result<()> {
    let (path, mode) = (dir.to_path_buf(), 0o755);
    match trace.sys(Syscall::Mkdir { path, mode }) {
        Err(err) if err.errno != Errno::EEXIST => Err(err.into()),
        _ => Ok(()),
    }
}

// ANCHOR: subtree_control
/// v2: every cgroup from the root down to `parent` must hand the
/// controllers to its children, in `cgroup.subtree_control`.
pub(crate) fn make_v2_parents(
    trace: &Trace,
    root: &Path,
    parent: &Path,
    controllers: &[Controller],
) -> Result<()> {
    // Top-down constraint (cgroup-v2.rst): a cgroup may enable only what its
    // parent enabled for it, so the walk starts at the root and goes down.
    let wanted: Vec<_> = controllers.iter().map(|c| c.name()).collect();
    let below = parent.strip_prefix(root).unwrap_or(Path::new(""));
    let mut dir = root.to_path_buf();
    let mut parts = below.components();
    loop {
        let enabled = fs::read_to_string(dir.join("cgroup.subtree_control")).unwrap_or_default();
        let missing: Vec<_> = wanted
            .iter()
            .filter(|c| !enabled.split_whitespace().any(|e| e == **c))
            // "+memory" enables, "-memory" disables; one write may hold several.
            .map(|c| format!("+{c}"))
            .collect();
        if !missing.is_empty() {
            let file = dir.join("cgroup.subtree_control");
            trace.write_file(&file, &missing.join(" ")).map_err(|err| {
                // The no-internal-process rule: a cgroup with processes of its own
                // cannot hand controllers down. Say which cgroup, and what to do.
                if err.errno == Errno::EBUSY {
                    Error::layer(CgroupError::InternalProcesses(dir.clone()))
                } else {
                    err.into()
                }
            })?;
        }
        match parts.next() {
            Some(part) => {
                // Parents that are missing (the first run's /workshop) are made
                // on the way down, and stay, as Docker's /docker does.
                dir.push(part);
                if !dir.exists() {
                    make_dir(trace, &dir)?;
                }
            }
            None => return Ok(()),
        }
    }
}
// ANCHOR_END: subtree_control

// ANCHOR: remove
/// Removes the container's cgroup directories. A cgroup can only be removed
/// when no process is left in it: after the container's PID 1 exits, the
/// kernel kills the rest, which takes a moment; stragglers get SIGKILL.
pub(crate) fn remove(trace: &Trace, dirs: &[PathBuf]) {
    for dir in dirs.iter().rev() {
        // A bound, so that a stuck process cannot hang the runtime's exit;
        // whatever is left, the next run's sweep removes (sweep.rs).
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            if trace.dry_run() {
                // A dry run made nothing: show the call, and stop.
                trace.announce(format!("rmdir({dir:?})"));
                break;
            }
            // Each pass: kill what is in it, without a pid race (sweep.rs).
            crate::sweep::kill_members(dir);
            match trace.sys(Syscall::Rmdir(dir.clone())) {
                // EBUSY: a killed process stays in the cgroup until it has exited,
                // which takes a moment after SIGKILL; try again shortly.
                Err(err) if err.errno == Errno::EBUSY && Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(20));
                }
                // Anything but ENOENT (gone already: fine) leaves it behind.
                Err(err) if err.errno != Errno::ENOENT => {
                    eprintln_or_not(format_args!(
                        "warning: {err}: the cgroup is left behind; the next run removes it"
                    ));
                    break;
                }
                _ => break,
            }
        }
    }
}
// ANCHOR_END: remove
