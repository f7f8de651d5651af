//! Tarballs for the tests of step 07's `import`: a rootfs as an image
//! layer, hostile entries written raw (names no honest `tar` makes), and
//! a gzip bomb.

use std::fs;
use std::path::Path;

use tempfile::NamedTempFile;

/// A tarball of `dir`, written to a temporary file.
pub fn tar_of_dir(dir: &Path) -> NamedTempFile {
    tarball(|builder| {
        builder.follow_symlinks(false);
        builder.append_dir_all(".", dir).unwrap();
    })
}

/// A tarball of the entries `build` appends.
pub fn tarball(build: impl FnOnce(&mut tar::Builder<fs::File>)) -> NamedTempFile {
    let file = NamedTempFile::new().unwrap();
    let mut builder = tar::Builder::new(file.reopen().unwrap());
    build(&mut builder);
    builder.finish().unwrap();
    file
}

/// A tarball of the entries `build` appends, in memory.
pub fn in_memory(build: impl FnOnce(&mut tar::Builder<Vec<u8>>)) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    build(&mut builder);
    builder.into_inner().unwrap()
}

/// Appends an entry of `kind` with `body`, its `name` and `link` written
/// raw into the header: the tar crate's own setters refuse `..` and
/// absolute paths, and a hostile tarball is exactly what a test needs.
pub fn entry<W: std::io::Write>(
    builder: &mut tar::Builder<W>,
    kind: tar::EntryType,
    name: &str,
    body: &[u8],
    link: &str,
) {
    let mut header = tar::Header::new_gnu();
    header.set_size(body.len() as u64);
    header.set_mode(if kind == tar::EntryType::Directory {
        0o755
    } else {
        0o644
    });
    header.set_entry_type(kind);
    header.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
    header.as_old_mut().linkname[..link.len()].copy_from_slice(link.as_bytes());
    header.set_uid(0);
    header.set_gid(0);
    header.set_mtime(0);
    header.set_cksum();
    builder.append(&header, body).unwrap();
}

/// A .tar.gz of four files of 1 MiB of zeros: 4 MiB from a few KiB, a
/// ratio far past any real image's.
pub fn gzip_bomb() -> NamedTempFile {
    let bomb = NamedTempFile::new().unwrap();
    let gz = flate2::write::GzEncoder::new(bomb.reopen().unwrap(), flate2::Compression::best());
    let mut builder = tar::Builder::new(gz);
    for n in 0..4 {
        let zeros = vec![0u8; 1 << 20];
        let mut header = tar::Header::new_gnu();
        header.set_size(zeros.len() as u64);
        header.set_mode(0o644);
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(0);
        header.set_cksum();
        builder
            .append_data(&mut header, format!("zeros{n}"), &zeros[..])
            .unwrap();
    }
    builder.into_inner().unwrap().finish().unwrap();
    bomb
}
