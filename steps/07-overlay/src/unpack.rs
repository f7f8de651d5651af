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

use crate::bombs::check_limits;
pub use crate::bombs::{Counted, Limits};

/// The OCI whiteout prefix.
pub const WHITEOUT: &str = ".wh.";
/// The OCI opaque-directory marker.
pub const OPAQUE: &str = ".wh..wh..opq";
/// overlayfs's opaque-directory xattr.
///
/// A `trusted.*` xattr: only CAP_SYS_ADMIN may set or read it (xattr(7)),
/// so an ordinary user cannot forge one.
pub const OPAQUE_XATTR: &str = "trusted.overlay.opaque";

pub use crate::refusals::UnpackError;

/// The checked, relative path of an entry: no root, no `..`.
fn relative(name: &str) -> Result<PathBuf, UnpackError> {
    let path = Path::new(name);
    let mut clean = PathBuf::new();
    for part in path.components() {
        match part {
            Component::Normal(p) => clean.push(p),
            // `tar -C rootfs .` names every entry `./etc/...`: a `.` means nothing.
            Component::CurDir => {}
            // The tar crate would quietly strip a leading `/` and skip `..`;
            // refused instead, since either says the tarball was not made as a
            // layer. (Prefix, a Windows drive, never occurs on Linux.)
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
    // Followed now, on the host, a symlink resolves against the host's
    // `/`, not the layer's: `evil -> /etc` is the host's /etc.
    // So any symlink on the way is refused, wherever it points.
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
    /// Device nodes skipped: a container's /dev is its own (step 05), and
    /// a device node in a layer would open the host's device.
    pub skipped_devices: Vec<String>,
    /// Bytes of file content written.
    pub bytes: u64,
}

// ANCHOR: unpack
/// Unpacks the tar stream `archive` into `layer`, an empty directory,
/// within `limits`; `compressed`, if the stream is decompressed, counts the
/// compressed bytes read so far.
pub fn unpack(
    archive: impl Read,
    layer: &Path,
    limits: &Limits,
    compressed: Option<&std::sync::atomic::AtomicU64>,
) -> Result<Unpacked, UnpackError> {
    let mut done = Unpacked::default();
    let mut archive = tar::Archive::new(archive);
    // Modes as the image has them, set-uid and sticky bits included
    // (an image's /tmp is 1777).
    archive.set_preserve_permissions(true);
    // Owners as the tarball says: only root may give files away. Rootless,
    // every file is yours (as with `tar x` run as you).
    archive.set_preserve_ownerships(nix::unistd::Uid::effective().is_root());
    archive.set_preserve_mtime(true);
    // xattrs too: file capabilities (capabilities(7): `security.capability`,
    // e.g. ping's cap_net_raw) are kept there.
    archive.set_unpack_xattrs(true);
    let io = |entry: &str| {
        let entry = entry.to_string();
        move |source| UnpackError::Io { entry, source }
    };
    let mut seen = 0;
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
        let size = entry.size();
        let read = compressed.map(|c| c.load(std::sync::atomic::Ordering::Relaxed));
        // Checked before the entry is written: a bomb stops before the disk
        // fills (bombs.rs).
        check_limits(limits, &name, size, (seen, done.bytes), read)?;
        // Every entry counts, whiteouts and skipped devices too: a million
        // of them are a million inodes, or a million lines of report.
        seen += 1;
        check_parents(layer, &name, &path)?;
        let file_name = path
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_default();
        let dir = layer.join(path.parent().unwrap_or(Path::new("")));
        // Whiteouts: OCI's names become overlayfs's marks.
        if file_name == OPAQUE {
            // Made here if the tarball has not made it yet.
            fs::create_dir_all(&dir).map_err(io(&name))?;
            xattr::set(&dir, OPAQUE_XATTR, b"y").map_err(io(&name))?;
            done.opaque += 1;
            continue;
        }
        if let Some(deleted) = file_name.strip_prefix(WHITEOUT) {
            fs::create_dir_all(&dir).map_err(io(&name))?;
            let at = dir.join(deleted);
            // mknod(2) replaces nothing (EEXIST): an entry of that name earlier
            // in this layer goes first.
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
        // A hard link names an inode, not a path: one to a host file would put
        // that very file in the layer, for a container to write.
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
        if kind.is_block_special() || kind.is_character_special() {
            eprintln_or_not(format_args!(
                "skipped device node {name:?}: a container's /dev is its own (step 05)"
            ));
            done.skipped_devices.push(name);
            continue;
        }
        // The tar crate writes it, with its own check that nothing lands
        // outside `layer`, and applies mode, owner, times and xattrs.
        entry.unpack_in(layer).map_err(io(&name))?;
        done.entries += 1;
        done.bytes += size;
    }
    Ok(done)
}
// ANCHOR_END: unpack

#[cfg(test)]
mod tests {
    use super::*;

    use workshop_tests::tarballs::{entry, in_memory as tarball};

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
            let err = unpack(&archive[..], &layer, &Limits::default(), None)
                .unwrap_err()
                .to_string();
            assert!(err.contains(says), "{err}");
            // Nothing was written next to the layer.
            assert_eq!(fs::read_dir(outer.path()).unwrap().count(), 1);
        }
    }

    #[test]
    fn limits_refuse_bombs_naming_the_entry_and_the_flag() {
        let many = tarball(|b| {
            for n in 0..5 {
                file(b, &format!("f{n}"), b"x");
            }
        });
        let big = tarball(|b| file(b, "big", &vec![0u8; 3 << 20]));
        let zeros = {
            use std::io::Write;
            let layer = tarball(|b| {
                for n in 0..4 {
                    file(b, &format!("zeros{n}"), &vec![0u8; 1 << 20]);
                }
            });
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
            gz.write_all(&layer).unwrap();
            gz.finish().unwrap()
        };
        let few = Limits {
            max_entries: 3,
            ..Limits::default()
        };
        let small = Limits {
            max_bytes: 1 << 20,
            ..Limits::default()
        };
        let layer = || tempfile::tempdir().unwrap();
        let err = unpack(&many[..], layer().path(), &few, None).unwrap_err();
        assert!(
            err.to_string().contains("\"f3\": more than 3 entries"),
            "{err}"
        );
        assert!(err.to_string().contains("--max-entries"), "{err}");
        let err = unpack(&big[..], layer().path(), &small, None).unwrap_err();
        assert!(
            err.to_string().contains("\"big\": the layer would pass"),
            "{err}"
        );
        // 4 MiB of zeros gzip to a few KiB: far past 100 to 1, which is
        // seen after the second file.
        let read = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let stream = flate2::read::GzDecoder::new(Counted::new(&zeros[..], read.clone()));
        let err = unpack(stream, layer().path(), &Limits::default(), Some(&read)).unwrap_err();
        assert!(err.to_string().contains("a gzip bomb?"), "{err}");
        assert!(err.to_string().contains("--max-ratio"), "{err}");
    }

    #[test]
    fn device_nodes_are_skipped_and_said() {
        let archive = tarball(|b| {
            entry(b, tar::EntryType::Char, "dev/sda", b"", "");
            file(b, "etc/motd", b"hi");
        });
        let layer = tempfile::tempdir().unwrap();
        let done = unpack(&archive[..], layer.path(), &Limits::default(), None).unwrap();
        assert_eq!(done.skipped_devices, ["dev/sda"]);
        assert!(!layer.path().join("dev/sda").exists());
        assert_eq!(done.entries, 1);
    }

    #[test]
    fn files_and_links_inside_are_fine() {
        let archive = tarball(|b| {
            file(b, "etc/motd", b"hello");
            link(b, tar::EntryType::Link, "etc/motd2", "etc/motd");
            link(b, tar::EntryType::Symlink, "etc/os", "motd");
        });
        let layer = tempfile::tempdir().unwrap();
        let done = unpack(&archive[..], layer.path(), &Limits::default(), None).unwrap();
        assert_eq!(done.entries, 3);
        assert_eq!(
            fs::read_to_string(layer.path().join("etc/motd2")).unwrap(),
            "hello"
        );
    }
}
