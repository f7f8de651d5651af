//! The state directory: closed to every host user but the runtime's.
//!
//! Later steps keep records, leases, image layers and containers' writable
//! layers under `--state-dir`. Layers hold whole root file systems, set-uid
//! binaries included: if any host user could walk into them, such a binary
//! would be theirs to run (Docker's CVE-2021-41091 was exactly that).
//!
//! One wrinkle: from step 03 on, container root is not host root, and the
//! container's process still has to reach a few paths under the state
//! directory before pivot_root (its overlay root, its /etc files). So:
//!
//! ```text
//! <state>/             0711  others may pass through, not list
//!   layers/ ...        0700  the runtime's alone
//!   <kind>/<name>/     0710  group: container root's host group (Spec::root_on_host)
//! ```
//!
//! This is Docker's own fix for that CVE: a container's directory is
//! `root:<remapped root's group>`, mode 0710.

use std::fs::DirBuilder;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use nix::unistd::Uid;

use crate::trace::Trace;

/// Why the state directory cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum StateDirError {
    /// Creating or reading it failed.
    #[error("--state-dir {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// It is shared with others (sticky, like /tmp) or someone else's.
    #[error(
        "--state-dir {path}: {why}, so others could reach the containers' files\n  \
         hint: pass a directory of your own that others cannot enter, e.g. \
         --state-dir /var/lib/container-workshop (made so others may pass, not look)"
    )]
    NotPrivate { path: PathBuf, why: String },
}

/// The state directory's mode: pass through, no listing.
pub const TOP_MODE: u32 = 0o711;

// ANCHOR: ensure_private
/// Makes `dir` (and missing parents) with mode [`TOP_MODE`], or checks the
/// one that is there: one of ours gets that mode (an older run's may be
/// looser); one that is shared or someone else's is refused. Returns whether it had to be tightened, so the caller can say so.
pub fn ensure_private(dir: &Path) -> Result<bool, StateDirError> {
    let io = |source| StateDirError::Io {
        path: dir.into(),
        source,
    };
    DirBuilder::new()
        .recursive(true)
        .mode(TOP_MODE)
        .create(dir)
        .map_err(io)?;
    // Not followed: a symlink another user planted in /tmp would have us
    // change the mode of, and keep layers in, whatever it points to.
    let meta = std::fs::symlink_metadata(dir).map_err(io)?;
    let mode = meta.mode() & 0o7777;
    let refuse = |why: String| StateDirError::NotPrivate {
        path: dir.into(),
        why,
    };
    if meta.file_type().is_symlink() {
        return Err(refuse("it is a symlink".into()));
    }
    if meta.uid() != Uid::effective().as_raw() {
        return Err(refuse(format!("it belongs to uid {}", meta.uid())));
    }
    if mode & 0o1000 != 0 {
        return Err(refuse(format!("it is shared (mode {mode:04o}, sticky)")));
    }
    if mode == TOP_MODE {
        return Ok(false);
    }
    // 0700 (a fresh mktemp -d) is made 0711 too: container root must pass.
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(TOP_MODE)).map_err(io)?;
    Ok(mode & 0o066 != 0)
}
// ANCHOR_END: ensure_private

// ANCHOR: container_dir
/// Makes `<state>/<kind>/<name>` for one container: mode 0710, of group
/// `group` (container root's host group), so that only the runtime and the
/// container itself may pass through it. `<kind>` is made 0711.
pub fn container_dir(
    state_dir: &Path,
    kind: &str,
    name: &str,
    group: u32,
) -> std::io::Result<PathBuf> {
    let parent = state_dir.join(kind);
    DirBuilder::new()
        .recursive(true)
        .mode(TOP_MODE)
        .create(&parent)?;
    // (Set, not only created so: an older run may have left it looser.)
    std::fs::set_permissions(&parent, std::fs::Permissions::from_mode(TOP_MODE))?;
    let dir = parent.join(name);
    DirBuilder::new()
        .mode(0o710)
        .create(&dir)
        .or_else(|e| match e.kind() {
            std::io::ErrorKind::AlreadyExists => Ok(()),
            _ => Err(e),
        })?;
    nix::unistd::chown(&dir, None, Some(nix::unistd::Gid::from_raw(group)))?;
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o710))?;
    Ok(dir)
}
// ANCHOR_END: container_dir

// ANCHOR: claim
/// Makes [`container_dir`] `<state>/<kind>/<name>` with an `owner` file
/// naming run `run` (whose lock says whether it lives: owner.rs), and an
/// empty file for each of `marks`, in one step as others see it: made
/// under a temporary name, then renamed. A concurrent [`sweep`] never
/// finds it without its owner, and so never takes a live run's directory;
/// nor without its marks, whatever moment the run is killed at.
pub fn claim(
    state_dir: &Path,
    kind: &str,
    name: &str,
    group: u32,
    run: &str,
    marks: &[&str],
) -> std::io::Result<PathBuf> {
    let temporary = format!(".claim-{run}-{name}");
    let dir = container_dir(state_dir, kind, &temporary, group)?;
    std::fs::write(dir.join("owner"), run)?;
    for mark in marks {
        std::fs::write(dir.join(mark), "")?;
    }
    let claimed = state_dir.join(kind).join(name);
    std::fs::rename(&dir, &claimed)?;
    Ok(claimed)
}
// ANCHOR_END: claim

// ANCHOR: adopt
/// Makes run `run` the owner of `dir`, a container directory that was
/// kept and is nobody's now (its run ended, or was killed): for a later
/// step that starts a kept container again (step 10's `start`). The owner
/// file is written aside, then hard-linked into place, which fails if one
/// is there: of two runs adopting at once, one wins. An owner that is dead
/// (its lock is free: owner.rs) is taken over. Returns false if a live run
/// owns it.
pub fn adopt(dir: &Path, run: &str) -> std::io::Result<bool> {
    let owner = dir.join("owner");
    let aside = dir.join(format!(".owner-{run}"));
    std::fs::write(&aside, run)?;
    let adopted = loop {
        match std::fs::hard_link(&aside, &owner) {
            Ok(()) => break true,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                let other = std::fs::read_to_string(&owner).unwrap_or_default();
                if crate::owner::alive(other.trim()) {
                    break false;
                }
                // Dead: its owner file goes (unless another adopter's
                // took its place meanwhile), and we try again.
                if std::fs::read_to_string(&owner).is_ok_and(|now| now == other) {
                    let _ = std::fs::remove_file(&owner);
                }
            }
            Err(e) => {
                let _ = std::fs::remove_file(&aside);
                return Err(e);
            }
        }
    };
    std::fs::remove_file(&aside)?;
    Ok(adopted)
}
// ANCHOR_END: adopt

/// The run that owns `<state>/<kind>/<entry>`: named in its `owner` file,
/// or in the name of a claim that a run was killed in the middle of.
pub fn owner_of(dir: &Path) -> Option<String> {
    let name = dir.file_name()?.to_string_lossy().into_owned();
    match name.strip_prefix(".claim-") {
        Some(rest) => rest.split('-').next().map(str::to_owned),
        None => std::fs::read_to_string(dir.join("owner"))
            .ok()
            .map(|run| run.trim().to_owned()),
    }
}

/// Calls `remove` on every directory of `<state>/<kind>` whose owner is
/// gone: a run killed before its cleanup.
pub fn sweep(state_dir: &Path, kind: &str, remove: impl Fn(&Path)) {
    for entry in std::fs::read_dir(state_dir.join(kind))
        .into_iter()
        .flatten()
        .flatten()
    {
        let alive = owner_of(&entry.path()).is_some_and(|run| crate::owner::alive(&run));
        if !alive {
            remove(&entry.path());
        }
    }
}

/// Makes `<state>/<kind>`, for the runtime's eyes only (mode 0700).
pub fn private_dir(state_dir: &Path, kind: &str) -> std::io::Result<PathBuf> {
    let dir = state_dir.join(kind);
    DirBuilder::new().recursive(true).mode(0o700).create(&dir)?;
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))?;
    Ok(dir)
}

/// [`ensure_private`] for the `prepare` of each layer that keeps state:
/// skipped in a dry run, and a tightening is noted in the trace.
pub fn prepare(trace: &Trace, dir: &Path) -> crate::Result<()> {
    if trace.dry_run() {
        return Ok(());
    }
    if ensure_private(dir).map_err(crate::Error::layer)? {
        trace.note(format!(
            "{} was open to other users: made it mode {TOP_MODE:04o}",
            dir.display()
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(dir: &Path) -> u32 {
        std::fs::metadata(dir).unwrap().mode() & 0o7777
    }

    #[test]
    fn a_new_directory_can_be_passed_through_not_listed() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("a/b");
        assert!(!ensure_private(&dir).unwrap());
        assert_eq!(mode(&dir), 0o711);
        assert_eq!(mode(&tmp.path().join("a")), 0o711);
        let layers = private_dir(&dir, "layers").unwrap();
        assert_eq!(mode(&layers), 0o700);
        let gid = nix::unistd::Gid::effective().as_raw();
        let one = container_dir(&dir, "overlay", "web", gid).unwrap();
        assert_eq!(mode(&one), 0o710);
        assert_eq!(mode(&dir.join("overlay")), 0o711);
        assert_eq!(std::fs::metadata(&one).unwrap().gid(), gid);
    }

    #[test]
    fn a_loose_one_of_ours_is_tightened_and_a_shared_one_refused() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        assert!(ensure_private(tmp.path()).unwrap());
        assert_eq!(mode(tmp.path()), 0o711);
        std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o1777)).unwrap();
        let err = ensure_private(tmp.path()).unwrap_err().to_string();
        assert!(err.contains("sticky"), "{err}");
        assert_eq!(mode(tmp.path()), 0o1777, "left as it was");
    }
}
