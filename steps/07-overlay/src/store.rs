//! The local image store, in the state directory:
//!
//! ```text
//! <state>/layers/<sha256>/     one unpacked layer, named by its tarball's sha256
//! <state>/images/<name>        an image: the digests of its layers, bottom first
//! ```
//!
//! Naming layers by content (their sha256) means the same tarball is
//! unpacked once, however many images or containers use it, which is what
//! makes an image store cheap. Docker and containerd name layers the same way.

use std::fs::{self, File};
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use step01_chroot::cli::eprintln_or_not;

use indicatif::{ProgressBar, ProgressStyle};
use sha2::{Digest, Sha256};

use crate::unpack::{Limits, UnpackError, Unpacked};

/// What can go wrong with the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A file of the store.
    #[error("{what} {}: {source}", path.display())]
    Io {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    /// No such image.
    #[error(
        "no image named {0:?}\n  hint: import one: {program} import ROOTFS.tar.gz --name {0}; list them: {program} images",
        program = step01_chroot::cli::program()
    )]
    NoImage(String),
    /// A name that is not a plain name.
    #[error("image name {0:?}: {NAME_RULE}\n  hint: e.g. --name alpine, --name my-app.v2")]
    BadName(String),
    /// The tarball to import is not there.
    #[error(
        "{}: {source}\n  hint: give the path of a rootfs tarball (.tar or .tar.gz), \
         e.g. one made with tar -C rootfs -czf rootfs.tar.gz .",
        path.display()
    )]
    NoTarball {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The state directory is not private.
    #[error(transparent)]
    StateDir(#[from] step01_chroot::state::StateDirError),
    /// A refused or failed tarball.
    #[error("importing {}: {source}", path.display())]
    Unpack { path: PathBuf, source: UnpackError },
    /// A layer of the image is under a container.
    #[error(
        "image {image:?}: its layer {layer} is under container {container:?}\n  \
         hint: remove the container first ({program} rm {container}), or wait for it to exit",
        program = step01_chroot::cli::program()
    )]
    InUse {
        image: String,
        layer: String,
        container: String,
    },
}

pub(crate) type Result<T> = std::result::Result<T, StoreError>;

/// For `map_err` on the store's files: the error says what was being
/// done, and to which path, not only the kernel's word for it.
pub(crate) fn io(what: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> StoreError {
    let path = path.to_path_buf();
    move |source| StoreError::Io { what, path, source }
}

/// The store under a state directory.
#[derive(Clone, Debug)]
pub struct Store {
    /// The state directory; `layers/` and `images/` are under it.
    pub(crate) root: PathBuf,
}

/// One image, as `images` lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Image {
    /// Its name.
    pub name: String,
    /// Its layers' digests, bottom first.
    pub layers: Vec<String>,
}

/// A progress bar over bytes on stderr, hidden when stderr is not a terminal.
pub(crate) fn progress(len: u64, what: &str) -> ProgressBar {
    // indicatif draws on stderr: stdout keeps only the command's report.
    let bar = ProgressBar::new(len);
    bar.set_style(
        ProgressStyle::with_template("{msg:>10} [{bar:30}] {bytes}/{total_bytes}")
            .expect("a valid template")
            .progress_chars("=> "),
    );
    bar.set_message(what.to_string());
    bar
}

impl Store {
    /// The store in `state_dir`.
    pub fn new(state_dir: &Path) -> Self {
        Store {
            root: state_dir.to_path_buf(),
        }
    }

    /// The directory of layer `digest`.
    pub fn layer(&self, digest: &str) -> PathBuf {
        self.root.join("layers").join(digest)
    }

    pub(crate) fn image_file(&self, name: &str) -> Result<PathBuf> {
        // The name becomes a file name: checked before it is part of a path.
        if !valid_name(name) {
            return Err(StoreError::BadName(name.into()));
        }
        Ok(self.root.join("images").join(name))
    }

    // ANCHOR: import
    /// Imports `tarballs` (plain or gzip) as the layers of image `name`,
    /// bottom first. A layer already in the store is not unpacked again.
    pub fn import(
        &self,
        tarballs: &[PathBuf],
        name: &str,
        limits: &Limits,
    ) -> Result<(Image, Vec<Unpacked>)> {
        // The name is checked before anything is touched.
        self.image_file(name)?;
        // The state directory is checked as every step checks it (step 01's
        // state.rs): ours, not shared, not a symlink someone planted.
        step01_chroot::state::ensure_private(&self.root)?;
        // This import's lock (step 01's owner.rs): its temporary files are
        // named after it, so an import killed half-way is told from one
        // still at work, and its leftovers removed by the next.
        let run = step01_chroot::spec::random_id();
        let runs = step01_chroot::owner::runs_dir();
        let _lock = step01_chroot::owner::RunLock::take(&run).map_err(io("locking", &runs))?;
        // Shared with other imports and starting containers, exclusive of
        // `rmi`: a layer found in the store below is still there when the
        // image that names it is written.
        let _layers = self.lock(false)?;
        // What killed imports left (their run's lock is free) goes first.
        self.sweep_unfinished();
        let mut digests = Vec::new();
        let mut reports = Vec::new();
        for tarball in tarballs {
            // The digest of the file as given, gzipped or not: the same file gets
            // the same name, on any machine.
            let digest = sha256_of(tarball)?;
            let layer = self.layer(&digest);
            // There only once whole (renamed into place): these very bytes,
            // unpacked already. Nothing to do.
            if layer.is_dir() {
                eprintln_or_not(format_args!(
                    "layer {} is in the store already",
                    &digest[..12]
                ));
            } else {
                reports.push(self.unpack_layer(tarball, &layer, &run, limits)?);
            }
            digests.push(digest);
        }
        let image = Image {
            name: name.into(),
            layers: digests,
        };
        self.record_image(&image, &run)?;
        Ok((image, reports))
    }
    // ANCHOR_END: import

    /// Writes `image`'s file: its layers, which are in the store already.
    /// `run` is the caller's run (its lock is held): a file it leaves half
    /// written is swept by the next import.
    pub fn record_image(&self, image: &Image, run: &str) -> Result<()> {
        let image_file = self.image_file(&image.name)?;
        let dir = image_file.parent().expect("images/ is a directory");
        // Mode 0700 (state.rs): for the runtime's eyes only.
        step01_chroot::state::private_dir(&self.root, "images").map_err(io("creating", dir))?;
        // Whole or not at all: written aside, then renamed over.
        // rename(2) replaces the name in one step: a reader finds the old image
        // or the new, never half a file. The dot keeps `images` from listing
        // it; the run id says whose it is, for the sweep.
        let aside = dir.join(format!(".{}.{run}", image.name));
        fs::write(&aside, image.layers.join("\n") + "\n").map_err(io("writing", &aside))?;
        fs::rename(&aside, &image_file).map_err(io("writing", &image_file))
    }

    /// Image `name`.
    pub fn image(&self, name: &str) -> Result<Image> {
        let file = self.image_file(name)?;
        let text = fs::read_to_string(&file).map_err(|_| StoreError::NoImage(name.into()))?;
        Ok(Image {
            name: name.into(),
            layers: text
                .lines()
                // The file ends with a newline: no empty digest from that.
                .filter(|l| !l.is_empty())
                .map(String::from)
                .collect(),
        })
    }

    /// All images, by name.
    pub fn images(&self) -> Result<Vec<Image>> {
        let dir = self.root.join("images");
        let mut names: Vec<String> = match fs::read_dir(&dir) {
            Ok(entries) => entries
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                // Not an import's file being written (`.NAME.RUN`).
                .filter(|name| !name.starts_with('.'))
                .collect(),
            Err(_) => Vec::new(),
        };
        // read_dir's order is the file system's: sorted, the list is the
        // same every time.
        names.sort();
        names.iter().map(|n| self.image(n)).collect()
    }

    /// What killed imports and `rmi`s left: temporary layers, layers half
    /// removed, and image files, of runs that are gone.
    pub fn sweep_unfinished(&self) {
        let kinds = [
            ("layers", ".unpacking-"),
            ("layers", ".removing-"),
            ("images", "."),
        ];
        for (kind, prefix) in kinds {
            for entry in fs::read_dir(self.root.join(kind))
                .into_iter()
                .flatten()
                .flatten()
            {
                let name = entry.file_name().to_string_lossy().into_owned();
                let Some(rest) = name.strip_prefix(prefix) else {
                    continue;
                };
                // `.unpacking-RUN-DIGEST`, `.removing-RUN-DIGEST`, `.NAME.RUN`.
                let run = match kind {
                    "layers" => rest.split('-').next().unwrap_or(rest),
                    // From the right: a name may hold dots (my-app.v2); the run id
                    // (twelve hex digits) has none, nor any '-'.
                    _ => rest.rsplit('.').next().unwrap_or(rest),
                };
                // A live run is still at work on it: only a dead run's go.
                if !step01_chroot::owner::alive(run) {
                    let _ =
                        // Layers are directories, image files are files.
                        fs::remove_dir_all(entry.path()).or_else(|_| fs::remove_file(entry.path()));
                }
            }
        }
    }
}

/// The sha256 of a file, in hex, with a progress bar.
pub fn sha256_of(path: &Path) -> Result<String> {
    let file = File::open(path).map_err(|source| StoreError::NoTarball {
        path: path.into(),
        source,
    })?;
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    let bar = progress(len, "hashing");
    let mut reader = bar.wrap_read(file);
    let mut hasher = Sha256::new();
    // 64 KiB at a time: a tarball of gigabytes is never in memory whole.
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = reader.read(&mut buf).map_err(io("reading", path))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    bar.finish_and_clear();
    // 64 lowercase hex digits: the layer directory's name.
    Ok(format!("{:x}", hasher.finalize()))
}

/// The size of a directory tree, in bytes (for `images`).
pub fn du(dir: &Path) -> u64 {
    let Ok(entries) = fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.file_type() {
            // file_type() does not follow symlinks: a link to / is not walked.
            Ok(t) if t.is_dir() => du(&e.path()),
            // What it takes on disk: a sparse file's holes take nothing.
            // st_blocks counts 512-byte units, whatever the file system's
            // block size (inode(7)).
            Ok(t) if t.is_file() => e.metadata().map(|m| m.blocks() * 512).unwrap_or(0),
            // Symlinks and whiteouts (devices): no file data to count.
            _ => 0,
        })
        .sum()
}

/// What a name may look like, as Docker says it.
pub const NAME_RULE: &str = "a name starts with a letter or digit, then letters, digits, \
                             '_', '.' or '-', 128 at most";

/// Image and container names become directory names in the state
/// directory: `../../etc` or `/tmp/x` must never be one. Docker's rule,
/// `[a-zA-Z0-9][a-zA-Z0-9_.-]*`, leaves no way out of the directory.
pub fn valid_name(name: &str) -> bool {
    // (At most 128: the directory's name gets a prefix and a run id when
    // it is claimed or removed, and must stay under NAME_MAX, 255 bytes.)
    let mut chars = name.chars();
    name.len() <= 128
        && chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
}
