//! What a killed run of step 07 leaves, and who removes it.
//!
//! A runtime killed with SIGKILL leaves its container's overlay mounted and
//! its directory in place. Whether that run is gone is its lock (step 01's
//! owner.rs); the next run, or `rm NAME`, unmounts what a dead run left,
//! and removes its directory if it was `--rm` (a kept container stays, for
//! `diff`, until `rm`).

use std::fs;
use std::path::Path;

use nix::mount::{MntFlags, umount2};
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
            // A --rm under way (its owner file moved with it), or cut short:
            // unmounted and renamed already, never reused.
            let owner = step01_chroot::state::owner_of(&base);
            if !owner.is_some_and(|run| step01_chroot::owner::alive(&run)) {
                let _ = fs::remove_dir_all(&base);
            }
            continue;
        }
        release_if_dead(trace, state_dir, &base);
    }
}

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
        let _ = trace.call(format!("umount2({merged:?}, MNT_DETACH)"), || {
            umount2(&merged, MntFlags::MNT_DETACH)
        });
    }
    let unfinished = name.to_string_lossy().starts_with(".claim-");
    let _ = fs::remove_file(base.join("owner"));
    if (unfinished || base.join("rm").exists()) && !is_mount_point(&merged) {
        let _ = fs::remove_dir_all(base);
    }
    true
}
