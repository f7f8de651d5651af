//! Removing images (`rmi`), and the lock that keeps it from taking a layer
//! someone is about to use.
//!
//! Three kinds of users of a layer: an image that names it, a container
//! whose overlay stands on it (running, or kept for `diff`), and an
//! `import` that found it in the store and is about to name it. One lock
//! file, `<state>/layers.lock`, orders them: imports and starting
//! containers hold it *shared* (any number at once), `rmi` holds it
//! *exclusive*, so that what it checks stays true while it removes.
//!
//! A layer is removed in two steps: renamed to `.removing-RUN-DIGEST` (one
//! atomic step), then deleted. Whatever moment `rmi` is killed at, the next
//! import finds a whole layer under its digest, or a name that says it is
//! doomed (store.rs sweeps it) — never half a layer that looks whole. A layer
//! no image names any more (an `rmi` killed between its two steps, or an
//! import killed before it wrote its image) is swept by the next `rmi`.

use std::fs::{self, File};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use crate::store::{Result, Store, StoreError, io};

impl Store {
    /// The lock that orders `rmi` against imports and containers starting
    /// on layers: shared for them, exclusive for `rmi`.
    pub fn lock(&self, exclusive: bool) -> Result<File> {
        step01_chroot::state::ensure_private(&self.root)?;
        let path = self.root.join("layers.lock");
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600) // the state directory is passable, not readable
            .open(&path)
            .map_err(io("opening", &path))?;
        if exclusive {
            file.lock().map_err(io("locking", &path))?;
        } else {
            file.lock_shared().map_err(io("locking", &path))?;
        }
        Ok(file)
    }

    // ANCHOR: remove
    /// Removes image `name`, and its layers that no other image uses,
    /// unless a container (running, or kept for `diff`) stands on one.
    pub fn remove(&self, name: &str) -> Result<Vec<String>> {
        let _lock = self.lock(true)?;
        let image = self.image(name)?;
        // The layers that go with it: those no other image has.
        let others: Vec<String> = self
            .images()?
            .into_iter()
            .filter(|i| i.name != name)
            .flat_map(|i| i.layers)
            .collect();
        let mut doomed: Vec<String> = Vec::new();
        for digest in image.layers {
            if !others.contains(&digest) && !doomed.contains(&digest) {
                doomed.push(digest);
            }
        }
        for digest in &doomed {
            if let Some(container) = self.user_of(digest) {
                return Err(StoreError::InUse {
                    image: name.into(),
                    layer: digest[..12].into(),
                    container,
                });
            }
        }
        let run = step01_chroot::spec::random_id();
        let _run = step01_chroot::owner::RunLock::take(&run)
            .map_err(io("locking", &step01_chroot::owner::runs_dir()))?;
        let file = self.image_file(name)?;
        fs::remove_file(&file).map_err(io("removing", &file))?;
        for digest in &doomed {
            self.remove_layer(digest, &run)?;
        }
        // What killed runs left: layers that nothing names.
        for digest in self.orphans(&others) {
            self.remove_layer(&digest, &run)?;
        }
        Ok(doomed)
    }
    // ANCHOR_END: remove

    /// Renames layer `digest` out of the way, then deletes it.
    fn remove_layer(&self, digest: &str, run: &str) -> Result<()> {
        let layer = self.layer(digest);
        let doomed = layer.with_file_name(format!(".removing-{run}-{digest}"));
        fs::rename(&layer, &doomed)
            .and_then(|()| fs::remove_dir_all(&doomed))
            .map_err(io("removing", &layer))
    }

    /// Layers no image in `named` and no container names (only asked under
    /// the exclusive lock: no import is half-way).
    fn orphans(&self, named: &[String]) -> Vec<String> {
        fs::read_dir(self.root.join("layers"))
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|d| !d.starts_with('.') && !named.contains(d))
            .filter(|d| self.user_of(d).is_none())
            .collect()
    }

    /// A container whose overlay has layer `digest` among its lowers (by
    /// digest, the lower's directory name: the same layer may be written
    /// as another path, through a symlink or a relative `--state-dir`).
    fn user_of(&self, digest: &str) -> Option<String> {
        fs::read_dir(self.root.join("overlay"))
            .into_iter()
            .flatten()
            .flatten()
            .find(|entry| {
                fs::read_to_string(entry.path().join("lowers")).is_ok_and(|lowers| {
                    lowers
                        .lines()
                        .any(|l| Path::new(l).file_name().is_some_and(|n| n == digest))
                })
            })
            .map(|entry| entry.file_name().to_string_lossy().into_owned())
    }
}
