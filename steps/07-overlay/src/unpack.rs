//! Unpacking a layer tarball, safely, into a directory overlayfs can use.
//!
//! A tarball is not to be trusted: an entry may be named `../../etc/x` or
//! `/etc/x`, a symlink in it may point at `/etc` and a later entry be
//! written *through* it, a hard link may name a file outside. Each of those
//! would write outside the layer, on the host, as root. So every entry is
//! checked before the tar crate writes it, and a refused entry stops the
//! import with its name in the error.
//!
//! Images mark deletions with **whiteouts** (the OCI image spec): an entry
//! `.wh.NAME` means "NAME of the layers below is deleted", and
//! `.wh..wh..opq` in a directory means "hide everything below in this
//! directory". overlayfs has its own marks for the same: a character device
//! 0:0 named NAME, and the xattr `trusted.overlay.opaque=y` on the
//! directory. We translate when unpacking, so the layer can be stacked as is.

use std::fs;
use std::io::Read;
use std::path::{Component, Path, PathBuf};
use step01_chroot::cli::eprintln_or_not;

use nix::sys::stat::{Mode, SFlag, makedev, mknod};

/// The OCI whiteout prefix.
pub const WHITEOUT: &str = ".wh.";
/// The OCI opaque-directory marker.
pub const OPAQUE: &str = ".wh..wh..opq";
/// overlayfs's opaque-directory xattr.
pub const OPAQUE_XATTR: &str = "trusted.overlay.opaque";

/// An entry the unpacker refused, or a failure while writing.
#[derive(Debug, thiserror::Error)]
pub enum UnpackError {
    /// `/etc/x`
    #[error("refused entry {0:?}: an absolute path would be written outside the layer")]
    Absolute(String),
    /// `../x`
    #[error("refused entry {0:?}: '..' would leave the layer")]
    Traversal(String),
    /// `link/x` where `link` is a symlink.
    #[error(
        "refused entry {entry:?}: it would be written through the symlink {link:?} (-> {target:?})"
    )]
    ThroughSymlink {
        entry: String,
        link: String,
        target: String,
    },
    /// A hard link to a file outside.
    #[error(
        "refused entry {entry:?}: a hard link to {target:?}, which is not a file inside the layer"
    )]
    HardLink { entry: String, target: String },
    /// Reading or writing failed.
    #[error("unpacking {entry:?}: {source}")]
    Io {
        entry: String,
        source: std::io::Error,
    },
}

/// The checked, relative path of an entry: no root, no `..`.
fn relative(name: &str) -> Result<PathBuf, UnpackError> {
    let path = Path::new(name);
    let mut clean = PathBuf::new();
    for part in path.components() {
        match part {
            Component::Normal(p) => clean.push(p),
            Component::CurDir => {}
            Component::RootDir | Component::Prefix(_) => {
                return Err(UnpackError::Absolute(name.into()));
            }
            Component::ParentDir => return Err(UnpackError::Traversal(name.into())),
        }
    }
    Ok(clean)
}

/// Refuses a path whose parent directories, in the layer so far, include a
/// symlink: writing through it could land anywhere.
fn check_parents(layer: &Path, name: &str, path: &Path) -> Result<(), UnpackError> {
    let mut at = layer.to_path_buf();
    for part in path.parent().into_iter().flat_map(Path::components) {
        at.push(part);
        if let Ok(meta) = fs::symlink_metadata(&at)
            && meta.file_type().is_symlink()
        {
            let target = fs::read_link(&at)
                .map(|t| t.display().to_string())
                .unwrap_or_default();
            return Err(UnpackError::ThroughSymlink {
                entry: name.into(),
                link: at.strip_prefix(layer).unwrap_or(&at).display().to_string(),
                target,
            });
        }
    }
    Ok(())
}

/// What unpacking did, for the learner.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Unpacked {
    /// Entries written.
    pub entries: u64,
    /// Whiteouts turned into overlayfs whiteouts.
    pub whiteouts: u64,
    /// Directories made opaque.
    pub opaque: u64,
    /// Device nodes skipped (unprivileged).
    pub skipped_devices: Vec<String>,
}

// ANCHOR: unpack
/// Unpacks the tar stream `archive` into `layer`, an empty directory.
pub fn unpack(archive: impl Read, layer: &Path) -> Result<Unpacked, UnpackError> {
    let mut done = Unpacked::default();
    let mut archive = tar::Archive::new(archive);
    archive.set_preserve_permissions(true);
    archive.set_preserve_ownerships(true);
    archive.set_preserve_mtime(true);
    archive.set_unpack_xattrs(true);
    let io = |entry: &str| {
        let entry = entry.to_string();
        move |source| UnpackError::Io { entry, source }
    };
    let privileged = nix::unistd::Uid::effective().is_root();
    for entry in archive.entries().map_err(io("the archive"))? {
        let mut entry = entry.map_err(io("the archive"))?;
        let name = entry
            .path()
            .map_err(io("an entry name"))?
            .display()
            .to_string();
        let path = relative(&name)?;
        if path.as_os_str().is_empty() {
            continue; // "./" itself
        }
        check_parents(layer, &name, &path)?;
        let file_name = path
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_default();
        let dir = layer.join(path.parent().unwrap_or(Path::new("")));
        // Whiteouts: OCI's names become overlayfs's marks.
        if file_name == OPAQUE {
            fs::create_dir_all(&dir).map_err(io(&name))?;
            xattr::set(&dir, OPAQUE_XATTR, b"y").map_err(io(&name))?;
            done.opaque += 1;
            continue;
        }
        if let Some(deleted) = file_name.strip_prefix(WHITEOUT) {
            fs::create_dir_all(&dir).map_err(io(&name))?;
            let at = dir.join(deleted);
            let _ = fs::remove_file(&at);
            mknod(&at, SFlag::S_IFCHR, Mode::empty(), makedev(0, 0)).map_err(|e| {
                UnpackError::Io {
                    entry: name.clone(),
                    source: e.into(),
                }
            })?;
            done.whiteouts += 1;
            continue;
        }
        let kind = entry.header().entry_type();
        if kind.is_hard_link() {
            let target = entry
                .link_name()
                .map_err(io(&name))?
                .map(|t| t.display().to_string())
                .unwrap_or_default();
            let inside = relative(&target).ok().map(|t| layer.join(t));
            if !inside.as_ref().is_some_and(|t| t.is_file()) {
                return Err(UnpackError::HardLink {
                    entry: name,
                    target,
                });
            }
        }
        if (kind.is_block_special() || kind.is_character_special()) && !privileged {
            eprintln_or_not(format_args!(
                "warning: skipped device node {name:?}: making devices needs root"
            ));
            done.skipped_devices.push(name);
            continue;
        }
        entry.unpack_in(layer).map_err(io(&name))?;
        done.entries += 1;
    }
    Ok(done)
}
// ANCHOR_END: unpack

#[cfg(test)]
mod tests {
    use super::*;

    fn tarball(build: impl FnOnce(&mut tar::Builder<Vec<u8>>)) -> Vec<u8> {
        let mut builder = tar::Builder::new(Vec::new());
        build(&mut builder);
        builder.into_inner().unwrap()
    }

    /// An entry with a raw name (set_path would refuse the hostile ones).
    fn entry(
        builder: &mut tar::Builder<Vec<u8>>,
        kind: tar::EntryType,
        name: &str,
        body: &[u8],
        link: &str,
    ) {
        let mut header = tar::Header::new_gnu();
        header.set_size(body.len() as u64);
        header.set_entry_type(kind);
        header.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
        header.as_old_mut().linkname[..link.len()].copy_from_slice(link.as_bytes());
        header.set_mode(0o644);
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(0);
        header.set_cksum();
        builder.append(&header, body).unwrap();
    }

    fn file(builder: &mut tar::Builder<Vec<u8>>, name: &str, body: &[u8]) {
        entry(builder, tar::EntryType::Regular, name, body, "");
    }

    fn link(builder: &mut tar::Builder<Vec<u8>>, kind: tar::EntryType, name: &str, target: &str) {
        entry(builder, kind, name, b"", target);
    }

    #[test]
    fn hostile_entries_are_refused_by_name() {
        let cases: [(Vec<u8>, &str); 4] = [
            (
                tarball(|b| file(b, "../../etc/x", b"x")),
                "\"../../etc/x\": '..' would leave the layer",
            ),
            (
                tarball(|b| file(b, "/etc/x", b"x")),
                "\"/etc/x\": an absolute path",
            ),
            (
                tarball(|b| {
                    link(b, tar::EntryType::Symlink, "evil", "/etc");
                    file(b, "evil/passwd", b"x");
                }),
                "\"evil/passwd\": it would be written through the symlink \"evil\" (-> \"/etc\")",
            ),
            (
                tarball(|b| link(b, tar::EntryType::Link, "shadow", "/etc/shadow")),
                "\"shadow\": a hard link to \"/etc/shadow\"",
            ),
        ];
        for (archive, says) in cases {
            let outer = tempfile::tempdir().unwrap();
            let layer = outer.path().join("layer");
            fs::create_dir(&layer).unwrap();
            let err = unpack(&archive[..], &layer).unwrap_err().to_string();
            assert!(err.contains(says), "{err}");
            // Nothing was written next to the layer.
            assert_eq!(fs::read_dir(outer.path()).unwrap().count(), 1);
        }
    }

    #[test]
    fn files_and_links_inside_are_fine() {
        let archive = tarball(|b| {
            file(b, "etc/motd", b"hello");
            link(b, tar::EntryType::Link, "etc/motd2", "etc/motd");
            link(b, tar::EntryType::Symlink, "etc/os", "motd");
        });
        let layer = tempfile::tempdir().unwrap();
        let done = unpack(&archive[..], layer.path()).unwrap();
        assert_eq!(done.entries, 3);
        assert_eq!(
            fs::read_to_string(layer.path().join("etc/motd2")).unwrap(),
            "hello"
        );
    }
}
