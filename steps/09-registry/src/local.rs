//! The pulled images, beside step 07's store:
//!
//! ```text
//! <state>/images/<ID>                   the image's layers (step 07's store; ID: the config's sha256)
//! <state>/layers/<DIFF_ID>               a pulled layer, named by the sha256 of its tar (pull.rs)
//! <state>/registry/configs/<ID>.json    its config, as pulled (its sha256 is ID)
//! <state>/registry/references.json      which reference names which ID
//! ```
//!
//! An image's id is the digest of its config, as in Docker: the config
//! lists the layers' own digests (`rootfs.diff_ids`), so the id pins the
//! whole image. Tags move (`alpine:latest` today is not last year's); ids
//! do not.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::path::{Path, PathBuf};

use oci_spec::image::ImageConfiguration;

use crate::error::{RegistryError, Result, io};

/// What a reference names.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Entry {
    /// The image id: `sha256:` and the config's digest.
    pub id: String,
    /// The digest of what the registry sent for the reference (the index,
    /// for a multi-platform tag): `NAME@DIGEST` pulls these bytes again.
    pub digest: String,
    /// When it was pulled, in seconds since 1970.
    pub pulled: u64,
}

/// The pulled images of a state directory.
#[derive(Clone, Debug)]
pub struct Local {
    dir: PathBuf,
}

impl Local {
    /// The images under `state_dir`.
    pub fn new(state_dir: &Path) -> Self {
        Local {
            dir: state_dir.join("registry"),
        }
    }

    fn references_file(&self) -> PathBuf {
        self.dir.join("references.json")
    }

    /// The config file of image `hex` (checked: 64 hex digits).
    pub fn config_file(&self, hex: &str) -> PathBuf {
        self.dir.join("configs").join(format!("{hex}.json"))
    }

    /// Every reference and what it names, sorted by reference.
    pub fn references(&self) -> Result<BTreeMap<String, Entry>> {
        let file = self.references_file();
        match fs::read(&file) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|err| RegistryError::Json {
                url: file.display().to_string(),
                what: "the list of pulled images",
                reason: err.to_string(),
            }),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(BTreeMap::new()),
            Err(err) => Err(io("reading", &file)(err)),
        }
    }

    /// The config of image `hex`, if it was pulled (an image imported by
    /// step 07 has none).
    pub fn config(&self, hex: &str) -> Result<Option<ImageConfiguration>> {
        let file = self.config_file(hex);
        match File::open(&file) {
            Ok(f) => {
                ImageConfiguration::from_reader(f)
                    .map(Some)
                    .map_err(|err| RegistryError::Json {
                        url: file.display().to_string(),
                        what: "the image config",
                        reason: err.to_string(),
                    })
            }
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(err) => Err(io("reading", &file)(err)),
        }
    }

    /// Writes image `hex`'s config, whole or not at all.
    pub fn write_config(&self, hex: &str, bytes: &[u8], run: &str) -> Result<()> {
        self.private("registry")?;
        self.private("registry/configs")?;
        write_whole(&self.config_file(hex), bytes, run)
    }

    /// Changes the reference list under its lock: `change` gets the list
    /// as it is now, and what it leaves is written back whole.
    pub fn update<T>(
        &self,
        run: &str,
        change: impl FnOnce(&mut BTreeMap<String, Entry>) -> T,
    ) -> Result<T> {
        self.private("registry")?;
        let lock_path = self.dir.join("references.lock");
        let lock = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(io("opening", &lock_path))?;
        // Two pulls that finish together must not each write the list
        // they read, and lose the other's line: read, change and write
        // happen under an exclusive lock (flock(2)), one pull at a time.
        lock.lock().map_err(io("locking", &lock_path))?;
        let mut references = self.references()?;
        let answer = change(&mut references);
        let json = serde_json::to_vec_pretty(&references).expect("plain data serializes");
        write_whole(&self.references_file(), &json, run)?;
        Ok(answer)
    }

    /// Removes what is left of runs that are gone: files written aside.
    pub fn sweep(&self) {
        for dir in [self.dir.clone(), self.dir.join("configs")] {
            for entry in fs::read_dir(&dir).into_iter().flatten().flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                // `.NAME.RUN`: the run id is after the last dot.
                let Some(run) = name.strip_prefix('.').and_then(|n| n.rsplit('.').next()) else {
                    continue;
                };
                if !step01_chroot::owner::alive(run) {
                    let _ = fs::remove_file(entry.path());
                }
            }
        }
    }

    /// `registry/` or `registry/configs/`, mode 0700, in a checked state
    /// directory (step 01's state.rs: ours, not shared, not a symlink).
    fn private(&self, kind: &str) -> Result<()> {
        let state = self
            .dir
            .parent()
            .expect("registry/ is in the state directory");
        step01_chroot::state::ensure_private(state)?;
        step01_chroot::state::private_dir(state, kind)
            .map_err(io("creating", &state.join(kind)))?;
        Ok(())
    }
}

/// Writes `path` whole: aside (`.NAME.RUN`), then renamed over it, so a
/// reader finds the old file or the new one, never half of one.
fn write_whole(path: &Path, bytes: &[u8], run: &str) -> Result<()> {
    let name = path.file_name().expect("a file name").to_string_lossy();
    let aside = path.with_file_name(format!(".{name}.{run}"));
    fs::write(&aside, bytes).map_err(io("writing", &aside))?;
    fs::rename(&aside, path).map_err(io("writing", path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_are_written_whole_and_read_back() {
        let state = tempfile::tempdir().unwrap();
        let local = Local::new(state.path());
        assert!(local.references().unwrap().is_empty());
        let entry = Entry {
            id: format!("sha256:{}", "a".repeat(64)),
            digest: format!("sha256:{}", "b".repeat(64)),
            pulled: 1,
        };
        local
            .update("0123456789ab", |refs| {
                refs.insert("x/y:1".into(), entry.clone())
            })
            .unwrap();
        assert_eq!(local.references().unwrap()["x/y:1"], entry);
        // Nothing aside is left: the file was renamed into place.
        let names: Vec<_> = fs::read_dir(state.path().join("registry"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert!(
            names.iter().all(|n| !n.to_string_lossy().starts_with('.')),
            "{names:?}"
        );
    }
}
