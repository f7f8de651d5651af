//! `07-overlay diff NAME`: what a container changed, read from its upper
//! layer, like `docker diff`.
//!
//! * a file in `upper/` that no lower layer has: **A**dded;
//! * a file in `upper/` that a lower layer has: **C**hanged (copied up);
//! * a 0:0 character device in `upper/`: a whiteout, **D**eleted.
//!
//! Directories that exist below are only walked through, and the three
//! files the runtime mounts over (/etc/hostname, hosts, resolv.conf) are
//! left out, as Docker does.

use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

/// Mount points the runtime makes, not changes the container made.
const NOT_CHANGES: [&str; 3] = ["/etc/hostname", "/etc/hosts", "/etc/resolv.conf"];

/// One change.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Change {
    /// The path in the container.
    pub path: String,
    /// `A`, `C` or `D`.
    pub kind: char,
}

impl std::fmt::Display for Change {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.kind, self.path)
    }
}

// ANCHOR: diff
/// The changes in `upper` over `lowers`, sorted by path.
pub fn diff(upper: &Path, lowers: &[PathBuf]) -> Vec<Change> {
    let mut changes = Vec::new();
    walk(upper, Path::new("/"), lowers, &mut changes);
    changes.retain(|c| !NOT_CHANGES.contains(&c.path.as_str()));
    changes.sort();
    changes
}

fn walk(dir: &Path, at: &Path, lowers: &[PathBuf], changes: &mut Vec<Change>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = at.join(entry.file_name());
        let inside = path.strip_prefix("/").unwrap_or(&path);
        let below = lowers
            .iter()
            .any(|l| fs::symlink_metadata(l.join(inside)).is_ok());
        let Ok(meta) = fs::symlink_metadata(entry.path()) else {
            continue;
        };
        let shown = path.display().to_string();
        if meta.file_type().is_char_device() && meta.rdev() == 0 {
            changes.push(Change {
                path: shown,
                kind: 'D',
            });
        } else if meta.is_dir() {
            if !below {
                changes.push(Change {
                    path: shown,
                    kind: 'A',
                });
            }
            walk(&entry.path(), &path, lowers, changes);
        } else {
            changes.push(Change {
                path: shown,
                kind: if below { 'C' } else { 'A' },
            });
        }
    }
}
// ANCHOR_END: diff
