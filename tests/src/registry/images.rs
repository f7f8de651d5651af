//! Ready-made test images, from the test rootfs (busybox and the probe),
//! and the deterministic tars their layers are made of.
//!
//! Deterministic: entries sorted by name, owner 0:0, mtime 0, gzip with no
//! timestamp. The same image built twice has the same digests, so a test can
//! push it again and see the registry (and a pull's cache) recognize it.
//!
//! The layer changes follow the image-spec's `layer.md`: a file is deleted by
//! a *whiteout*, an empty file `.wh.NAME` beside it; a directory is made
//! *opaque* (everything below it in lower layers hidden) by an empty file
//! `.wh..wh..opq` in it.

use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::OnceLock;

use super::config::{ImageConfig, Platform};
use super::layout::{Descriptor, Image, Layout};
use crate::test_rootfs;

/// One entry of a layer's tar.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Entry {
    /// A directory (mode 0755).
    Dir(String),
    /// A regular file with its contents (mode 0644).
    File(String, Vec<u8>),
    /// A symbolic link to the target.
    Symlink(String, String),
    /// Deletes `PATH` from the layers below: `DIR/.wh.NAME`.
    Whiteout(String),
    /// Hides everything the layers below have in the directory:
    /// `DIR/.wh..wh..opq`.
    Opaque(String),
}

impl Entry {
    /// A regular file with text contents.
    pub fn file(path: &str, contents: &str) -> Self {
        Entry::File(path.into(), contents.as_bytes().to_vec())
    }
}

/// A tar of `entries`, in their order (paths relative, without a leading
/// `/`: that is how image layers name files).
pub fn tar_of(entries: &[Entry]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for entry in entries {
        match entry {
            Entry::Dir(path) => append(&mut builder, tar::EntryType::Directory, path, 0o755, b""),
            Entry::File(path, body) => {
                append(&mut builder, tar::EntryType::Regular, path, 0o644, body)
            }
            Entry::Symlink(path, target) => append_symlink(&mut builder, path, target, 0o777),
            Entry::Whiteout(path) => {
                let (dir, name) = path.rsplit_once('/').unwrap_or(("", path));
                let marker = join(dir, &format!(".wh.{name}"));
                append(&mut builder, tar::EntryType::Regular, &marker, 0o644, b"");
            }
            Entry::Opaque(dir) => {
                let marker = join(dir, ".wh..wh..opq");
                append(&mut builder, tar::EntryType::Regular, &marker, 0o644, b"");
            }
        }
    }
    builder.into_inner().expect("a tar in memory")
}

fn join(dir: &str, name: &str) -> String {
    let dir = dir.trim_matches('/');
    if dir.is_empty() {
        name.to_string()
    } else {
        format!("{dir}/{name}")
    }
}

/// A header with nothing of this machine in it: root's, at the epoch.
fn header(kind: tar::EntryType, mode: u32, size: u64) -> tar::Header {
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(kind);
    header.set_mode(mode);
    header.set_size(size);
    header.set_uid(0);
    header.set_gid(0);
    header.set_mtime(0);
    header
}

fn append(
    builder: &mut tar::Builder<Vec<u8>>,
    kind: tar::EntryType,
    path: &str,
    mode: u32,
    body: &[u8],
) {
    let mut header = header(kind, mode, body.len() as u64);
    let path = path.trim_start_matches('/');
    // append_data writes long names as GNU extensions, and the checksum.
    builder
        .append_data(&mut header, path, body)
        .unwrap_or_else(|e| panic!("tar entry {path}: {e}"));
}

fn append_symlink(builder: &mut tar::Builder<Vec<u8>>, path: &str, target: &str, mode: u32) {
    let mut header = header(tar::EntryType::Symlink, mode, 0);
    let path = path.trim_start_matches('/');
    builder
        .append_link(&mut header, path, target)
        .unwrap_or_else(|e| panic!("tar symlink {path}: {e}"));
}

/// `bytes` gzipped (RFC 1952), with no name and no time in the header.
pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    // Fast: the test rootfs is megabytes, and unoptimized miniz_oxide is slow.
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(bytes).expect("gzip in memory");
    gz.finish().expect("gzip in memory")
}

/// The test rootfs as one layer's tar, made once per test process.
///
/// As in a real base image, `/dev`, `/proc`, `/sys` and `/tmp` are empty
/// directories (a runtime mounts them; other tests leave files in the
/// shared rootfs's /tmp), and the rootfs's build marker is left out.
pub fn rootfs_tar() -> &'static [u8] {
    static TAR: OnceLock<Vec<u8>> = OnceLock::new();
    TAR.get_or_init(|| {
        let root = test_rootfs();
        let mut builder = tar::Builder::new(Vec::new());
        add_tree(&mut builder, root, "");
        builder.into_inner().expect("a tar in memory")
    })
}

/// The rootfs layer gzipped (made once: every image here shares it, so the
/// registry stores it once, as it would a common base image).
pub fn rootfs_tar_gz() -> &'static [u8] {
    static GZ: OnceLock<Vec<u8>> = OnceLock::new();
    GZ.get_or_init(|| gzip(rootfs_tar()))
}

/// Directories left empty in the rootfs layer, and files left out.
const EMPTIED: [&str; 4] = ["dev", "proc", "sys", "tmp"];
const LEFT_OUT: [&str; 1] = [".workshop-rootfs"];

fn add_tree(builder: &mut tar::Builder<Vec<u8>>, dir: &Path, prefix: &str) {
    let mut names: Vec<_> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .map(|entry| entry.expect("a directory entry").file_name())
        .collect();
    names.sort();
    for name in names {
        let name = name.to_str().expect("the test rootfs has UTF-8 names");
        let rel = join(prefix, name);
        if LEFT_OUT.contains(&rel.as_str()) {
            continue;
        }
        let path = dir.join(name);
        let meta =
            fs::symlink_metadata(&path).unwrap_or_else(|e| panic!("stat {}: {e}", path.display()));
        let mode = meta.permissions().mode() & 0o7777;
        let kind = meta.file_type();
        if kind.is_symlink() {
            let target = fs::read_link(&path).expect("read a symlink");
            append_symlink(builder, &rel, &target.to_string_lossy(), mode);
        } else if kind.is_dir() {
            append(builder, tar::EntryType::Directory, &rel, mode, b"");
            if !EMPTIED.contains(&rel.as_str()) {
                add_tree(builder, &path, &rel);
            }
        } else if kind.is_file() {
            let body = fs::read(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
            append(builder, tar::EntryType::Regular, &rel, mode, &body);
        }
        // Device nodes, sockets, fifos: none outside /dev in the test rootfs.
    }
}

/// One layer: the whole test rootfs. The config is the caller's (a shell by
/// default: see [`ImageConfig::default`]).
pub fn single_layer(layout: &mut Layout, tag: &str, config: &ImageConfig) -> Image {
    let base = layout.add_layer(rootfs_tar_gz());
    let image = layout.add_image(config, &[base]);
    layout.tag(tag, &image.manifest);
    image
}

/// Three layers, for the whiteout rules of a pull:
///
/// 1. the test rootfs;
/// 2. adds `/etc/layer2` ("layer 2\n") and `/data/from-layer2`, and deletes
///    `/etc/os-release` (a whiteout; not `/etc/hostname`, which the runtime mounts);
/// 3. makes `/data` opaque and adds `/data/from-layer3` ("layer 3\n").
///
/// Unpacked: `/etc/layer2` is there, `/etc/os-release` is not, and `/data`
/// holds `from-layer3` only.
pub fn multi_layer(layout: &mut Layout, tag: &str, config: &ImageConfig) -> Image {
    let base = layout.add_layer(rootfs_tar_gz());
    let second = tar_of(&[
        Entry::Dir("etc".into()),
        Entry::file("etc/layer2", "layer 2\n"),
        Entry::Whiteout("etc/os-release".into()),
        Entry::Dir("data".into()),
        Entry::file("data/from-layer2", "layer 2\n"),
    ]);
    let third = tar_of(&[
        Entry::Dir("data".into()),
        Entry::Opaque("data".into()),
        Entry::file("data/from-layer3", "layer 3\n"),
    ]);
    let layers = [
        base,
        layout.add_layer(&gzip(&second)),
        layout.add_layer(&gzip(&third)),
    ];
    let image = layout.add_image(config, &layers);
    layout.tag(tag, &image.manifest);
    image
}

/// An image for two platforms, as most of Docker Hub's are.
#[derive(Clone, Debug)]
pub struct MultiArch {
    /// The image index the tag names.
    pub index: Descriptor,
    /// linux/amd64.
    pub amd64: Image,
    /// linux/arm64/v8.
    pub arm64: Image,
}

/// linux/amd64 and linux/arm64/v8 under one tag: an image index (tagged in
/// the layout's `index.json`, which skopeo's `copy --all` pushes whole).
///
/// Both share the rootfs layer (x86 binaries both: nothing here runs the
/// arm64 one) and add a layer of their own, `/arch`, saying `amd64\n` or
/// `arm64\n`, so a test can tell which one a pull picked. Their configs
/// are `config` with the platform set.
pub fn multi_arch(layout: &mut Layout, tag: &str, config: &ImageConfig) -> MultiArch {
    let mut image_for = |platform: Platform| {
        let base = layout.add_layer(rootfs_tar_gz());
        let marker = tar_of(&[Entry::file("arch", &format!("{}\n", platform.architecture))]);
        let marker = layout.add_layer(&gzip(&marker));
        let config = ImageConfig {
            platform,
            ..config.clone()
        };
        layout.add_image(&config, &[base, marker])
    };
    let amd64 = image_for(Platform::linux("amd64", None));
    let arm64 = image_for(Platform::linux("arm64", Some("v8")));
    let index = layout.add_index(&[amd64.manifest.clone(), arm64.manifest.clone()]);
    layout.tag(tag, &index);
    MultiArch {
        index,
        amd64,
        arm64,
    }
}
