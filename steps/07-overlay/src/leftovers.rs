//! What a killed run of step 07 leaves, and who removes it.
//!
//! A runtime killed with SIGKILL leaves its container's overlay mounted and
//! its directory in place. Whether that run is gone is its lock (step 01's
//! owner.rs); the next run, or `rm NAME`, unmounts what a dead run left,
//! and removes its directory if it was `--rm` (a kept container stays, for
//! `diff`, until `rm`).

use std::fs;
use std::path::Path;

use nix::mount::MntFlags;
use step01_chroot::sys::Syscall;
use step01_chroot::trace::Trace;

fn is_mount_point(dir: &Path) -> bool {
    let table = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let dir = dir.display().to_string();
    table
        .lines()
        .any(|l| l.split(' ').nth(4) == Some(dir.as_str()))
}

/// Unmounts the overlays of containers whose runtime was killed (SIGKILL
/// leaves no chance to clean up), and removes the ones that had `--rm`.
pub fn sweep_stale(trace: &Trace, state_dir: &Path) {
    for entry in fs::read_dir(state_dir.join("overlay"))
        .into_iter()
        .flatten()
        .flatten()
    {
        let base = entry.path();
        if entry
            .file_name()
            .to_string_lossy()
            .starts_with(".removing-")
        {
            // A removal under way (`.removing-RUN-NAME`), or cut short:
            // unmounted and renamed already, never reused.
            let name = entry.file_name().to_string_lossy().into_owned();
            let run = name.trim_start_matches(".removing-").split('-').next();
            if !run.is_some_and(step01_chroot::owner::alive) {
                let _ = fs::remove_dir_all(&base);
            }
            continue;
        }
        release_if_dead(trace, state_dir, &base);
    }
}

// ANCHOR: remove
/// Removes container directory `base` for run `run` (which holds its run
/// lock): renamed to `.removing-RUN-NAME` first, in one step, then removed.
/// Whatever moment the run is killed at, another run finds either the
/// whole directory under its name, or one whose name says it is doomed and
/// whose run says whether it is still at work: never a half-removed
/// container that looks whole. Gone already (another run's sweep of a
/// dead run's): as good.
pub fn remove(base: &Path, run: &str) -> std::io::Result<()> {
    let name = base.file_name().unwrap_or_default().to_string_lossy();
    let doomed = base.with_file_name(format!(".removing-{run}-{name}"));
    fs::rename(base, &doomed)
        .and_then(|()| fs::remove_dir_all(&doomed))
        .or_else(|err| match err.kind() {
            std::io::ErrorKind::NotFound => Ok(()),
            _ => Err(err),
        })
}
// ANCHOR_END: remove

/// If the run that owns container directory `base` is gone (its lock is
/// free: step 01's owner.rs), undoes what it left mounted, and removes the
/// directory if it was `--rm` (or never finished its claim); a kept
/// container stays, owned by no one. Returns whether it was dead.
pub fn release_if_dead(trace: &Trace, state_dir: &Path, base: &Path) -> bool {
    let Some(run) = step01_chroot::state::owner_of(base) else {
        return true; // kept: nobody's
    };
    if step01_chroot::owner::alive(&run) {
        return false;
    }
    let name = base.file_name().unwrap_or_default();
    crate::idmap::sweep(trace, state_dir, name);
    let merged = base.join("merged");
    if is_mount_point(&merged) {
        trace.note(format!(
            "unmounting the overlay a killed run left: {}",
            merged.display()
        ));
        let _ = trace.sys(Syscall::Umount {
            target: merged.clone(),
            flags: MntFlags::MNT_DETACH,
        });
    }
    let unfinished = name.to_string_lossy().starts_with(".claim-");
    let _ = fs::remove_file(base.join("owner"));
    if (unfinished || base.join("rm").exists()) && !is_mount_point(&merged) {
        let _ = fs::remove_dir_all(base);
    }
    true
}
