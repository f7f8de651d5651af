//! Can container root reach the rootfs and the state directory?
//!
//! The child opens these paths itself, after it has become container root
//! (step 03's `enter` comes first), so it passes each directory on the way
//! as that host user, not as host root. A workshop cloned into `/root`
//! (mode 0700) is then out of its reach, and the kernel would only say
//! "Permission denied" in the middle of the set-up. Say it up front, with
//! the fix.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// A directory on the way that container root may not pass.
#[derive(Debug, thiserror::Error)]
#[error(
    "{flag} {path}: container root (host uid {uid}) cannot reach it: {blocker} is mode {mode:04o}\n  \
     hint: keep the workshop where others may pass through (e.g. /opt or /srv, not /root), \
     or allow passing through: chmod o+x {blocker}"
)]
pub struct Unreachable {
    flag: &'static str,
    path: PathBuf,
    uid: u32,
    blocker: PathBuf,
    mode: u32,
}

// ANCHOR: reachable
/// Checks that `uid`/`gid` may search (`x`) every existing directory from
/// `/` down to `path` (a part that does not exist yet ends the walk).
pub fn check(flag: &'static str, path: &Path, (uid, gid): (u32, u32)) -> Result<(), Unreachable> {
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let mut dirs: Vec<&Path> = absolute.ancestors().skip(1).collect();
    dirs.reverse();
    if absolute.is_dir() {
        dirs.push(&absolute);
    }
    for dir in dirs {
        let Ok(meta) = std::fs::metadata(dir) else {
            break;
        };
        let mode = meta.mode() & 0o7777;
        let bit = if meta.uid() == uid {
            0o100
        } else if meta.gid() == gid {
            0o010
        } else {
            0o001
        };
        if mode & bit == 0 {
            return Err(Unreachable {
                flag,
                path: path.into(),
                uid,
                blocker: dir.into(),
                mode,
            });
        }
    }
    Ok(())
}
// ANCHOR_END: reachable

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn a_closed_directory_on_the_way_is_named() {
        let tmp = tempfile::tempdir().unwrap();
        let inner = tmp.path().join("a/b");
        std::fs::create_dir_all(&inner).unwrap();
        std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let a = tmp.path().join("a");
        std::fs::set_permissions(&a, std::fs::Permissions::from_mode(0o700)).unwrap();
        let err = check("--rootfs", &inner, (100000, 100000))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(&format!("{} is mode 0700", a.display())),
            "{err}"
        );
        std::fs::set_permissions(&a, std::fs::Permissions::from_mode(0o711)).unwrap();
        assert!(check("--rootfs", &inner, (100000, 100000)).is_ok());
        assert!(check("--state-dir", &inner.join("not/yet"), (100000, 100000)).is_ok());
    }
}
