//! Mount points the runtime made in a rootfs, and takes away again.
//!
//! A volume's target (`-v /tmp:/host-tmp`) or `/etc/hosts` may be missing
//! from the image, and a bind mount needs something to mount on: the
//! parent makes it (inroot.rs). In steps 05 and 06 every container runs on
//! the *same* rootfs directory, so what one run makes there stays for every
//! later one: the image would grow a `/host-tmp` for good. (From step 07 on
//! it lands in the container's own layer instead.)
//!
//! So each run removes what it made when it ends. Not at once, though:
//! another container may be mounting on the same path right now, and
//! removing a directory that is a mount point in *another* mount namespace
//! succeeds, and detaches that container's mount with it (mount_namespaces(7),
//! since Linux 3.18). A path made by the runtime is removed only when no
//! live run mounts on it, and the lists of who uses what are changed by one
//! run at a time. They are kept where every run meets whatever its
//! `--state-dir` (step 01's owner.rs: `/run/container-workshop` for root),
//! as two runs with different state directories may share one rootfs;
//! paths are written canonical (symlinks resolved), so two spellings of one
//! rootfs meet too:
//!
//! ```text
//! /run/container-workshop/mount-points/     0700
//!   .lock                   flock(2)ed while the lists change
//!   made/<random id>        a path a run made, and its rootfs (in hex)
//!   uses/<run id>           the paths run <id> mounts on, one per line
//! ```
//!
//! Claimed before made: a path is recorded in `made/` before the `mkdir`,
//! so a run killed at any moment leaves a record, and a later run (which
//! sees, by its run lock, that the user is dead: step 01's owner.rs)
//! removes the path. Removal is `rmdir`, or `unlink` of an *empty* file:
//! whatever a container wrote there is never deleted, only forgotten.

use std::fs::File;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

use step01_chroot::error::{Error, Result};
use step01_chroot::spec::Spec;
use step01_chroot::trace::Trace;

use crate::inroot;

/// The lists (in `<shared>/mount-points`), locked for as long as this lives.
struct Locked {
    dir: PathBuf,
    _lock: File,
}

/// A made path, as recorded: where, under which rootfs, by which run, in
/// which file.
struct Made {
    path: PathBuf,
    rootfs: PathBuf,
    maker: String,
    record: PathBuf,
}

impl Locked {
    /// Locks the lists in `dir` (made if missing).
    fn take(dir: &Path) -> std::io::Result<Locked> {
        let dir = dir.to_path_buf();
        for sub in ["made", "uses"] {
            std::fs::create_dir_all(dir.join(sub))?;
        }
        let lock = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(dir.join(".lock"))?;
        // Held until dropped (or until the process dies: the kernel drops it).
        lock.lock()?;
        Ok(Locked { dir, _lock: lock })
    }

    fn uses_of(&self, run: &str) -> PathBuf {
        self.dir.join("uses").join(run)
    }

    /// Writes `file` whole or not at all: aside (a dot file, which every
    /// reader skips), then renamed over.
    fn write(&self, file: &Path, text: &str) -> std::io::Result<()> {
        let name = file.file_name().unwrap_or_default().to_string_lossy();
        let aside = file.with_file_name(format!(".{name}"));
        std::fs::write(&aside, text)?;
        std::fs::rename(aside, file)
    }

    /// Adds `target` to the paths `run` mounts on.
    fn add_use(&self, run: &str, target: &Path) -> std::io::Result<()> {
        let file = self.uses_of(run);
        let mut text = std::fs::read_to_string(&file).unwrap_or_default();
        text.push_str(&hex(target.as_os_str().as_bytes()));
        text.push('\n');
        self.write(&file, &text)
    }

    /// Records that `path` (under `rootfs`) is made by a run, once. (A
    /// record is named by a random id, the paths inside: a path in a file
    /// name would be limited to NAME_MAX, 255 bytes.)
    fn add_made(&self, rootfs: &Path, path: &Path, maker: &str) -> std::io::Result<()> {
        if self.made().iter().any(|m| m.path == path) {
            return Ok(());
        }
        let record = self.dir.join("made").join(step01_chroot::spec::random_id());
        let [rootfs, path] = [rootfs, path].map(|p| hex(p.as_os_str().as_bytes()));
        self.write(&record, &format!("{rootfs}\n{path}\n{maker}\n"))
    }

    /// Every made path recorded; a record that cannot be read (a kill
    /// while it was written aside) is removed on the way.
    fn made(&self) -> Vec<Made> {
        let mut made = Vec::new();
        for entry in read_dir(&self.dir.join("made")) {
            let text = std::fs::read_to_string(entry.path()).unwrap_or_default();
            let mut lines = text.lines();
            let mut path = || lines.next().and_then(unhex).map(PathBuf::from);
            match (path(), path(), lines.next()) {
                (Some(rootfs), Some(path), Some(maker))
                    if !entry.file_name().to_string_lossy().starts_with('.') =>
                {
                    made.push(Made {
                        path,
                        rootfs,
                        maker: maker.to_string(),
                        record: entry.path(),
                    });
                }
                _ => {
                    let _ = std::fs::remove_file(entry.path());
                }
            }
        }
        made
    }

    /// Drops the lists of dead runs, then removes every path made in
    /// `rootfs` that no live run mounts on (or under), deepest first. Run
    /// `run` is the one tidying: what another run made is said so.
    fn tidy(&self, trace: &Trace, run: &str, rootfs: &Path) {
        let mut used: Vec<PathBuf> = Vec::new();
        for entry in read_dir(&self.dir.join("uses")) {
            let run = entry.file_name().to_string_lossy().into_owned();
            let aside = run.starts_with('.');
            if aside || !step01_chroot::owner::alive(&run) {
                let _ = std::fs::remove_file(entry.path());
                continue;
            }
            let text = std::fs::read_to_string(entry.path()).unwrap_or_default();
            used.extend(text.lines().filter_map(unhex).map(PathBuf::from));
        }
        let mut made: Vec<Made> = self
            .made()
            .into_iter()
            .filter(|m| m.rootfs == rootfs)
            .collect();
        made.sort_by_key(|m| std::cmp::Reverse(m.path.components().count()));
        for Made {
            path,
            maker,
            record,
            ..
        } in made
        {
            if used.iter().any(|u| u.starts_with(&path)) {
                continue;
            }
            if maker != run {
                trace.note(format!(
                    "removing {}: a mount point another run left, now unused",
                    path.display()
                ));
            }
            if let Ok(inside) = path.strip_prefix(rootfs) {
                let shown =
                    format!("unlinkat(rootfs, {inside:?}) /* made for a mount, now unused */");
                let _ = trace.call(shown, || inroot::remove_if_empty(rootfs, inside));
            }
            let _ = std::fs::remove_file(record);
        }
    }
}

// ANCHOR: make
/// Makes the mount point `target` (under the spec's rootfs) for this run,
/// as [`inroot::make_mount_point`] does, with this run recorded as its
/// user, and what was missing recorded as made. (If making it fails, the
/// run stays recorded as a user until it exits; the next run's release
/// sees its lock free and drops it.)
pub fn make(trace: &Trace, spec: &Spec, target: &Path, dir: bool) -> Result<()> {
    // (The lock is held across the mkdir: no run removes the path between.)
    let _locked = match trace.dry_run() || own_rootfs(spec) {
        true => None,
        false => Some(
            step01_chroot::owner::private_shared("mount-points")
                .and_then(|lists| record(trace, &lists, spec, target))
                .map_err(|source| Error::Io {
                    what: "recording a mount point in",
                    path: step01_chroot::owner::shared_dir().join("mount-points"),
                    source,
                })?,
        ),
    };
    inroot::make_mount_point(trace, &spec.rootfs, target, dir)
}
// ANCHOR_END: make

/// Records run `spec.id` as a user of `target`, and what is missing as
/// made, in the lists in `lists`; returns them locked.
///
/// Recorded by their path in `--rootfs` itself, not in the container's
/// bind of it (step 03's reach.rs): two containers on one rootfs must
/// meet in the lists, and the bind is read-only when the time to remove
/// comes.
fn record(trace: &Trace, lists: &Path, spec: &Spec, target: &Path) -> std::io::Result<Locked> {
    // Canonical: `/srv/link` and `/srv/rootfs` may be one rootfs, and two
    // runs that spell it differently must still meet in the lists.
    let rootfs = canonical_rootfs(spec)?;
    let target = rootfs.join(target.strip_prefix(&spec.rootfs).unwrap_or(target));
    let locked = Locked::take(lists)?;
    locked.add_use(&spec.id, &target)?;
    for missing in missing_parts(&rootfs, &target) {
        trace.note(format!(
            "{} is not in the rootfs: made for this mount, removed when no container uses it",
            missing.display()
        ));
        locked.add_made(&rootfs, &missing, &spec.id)?;
    }
    Ok(locked)
}

/// This run mounts on nothing any more (its container has exited): what
/// it made, and no one else uses, is removed. Also what dead runs left.
pub fn release(trace: &Trace, spec: &Spec) {
    let lists = step01_chroot::owner::shared_dir().join("mount-points");
    if trace.dry_run() || own_rootfs(spec) || !lists.exists() {
        return;
    }
    // Proved ours first (owner.rs): its records say what to remove.
    if let Ok(lists) = step01_chroot::owner::private_shared("mount-points") {
        release_in(
            trace,
            &lists,
            &spec.id,
            canonical_rootfs(spec).ok().as_deref(),
        );
    }
}

/// Drops run `run`'s uses, and tidies what was made in `rootfs` (a run
/// tidies only its own rootfs: another rootfs's are for its own runs).
fn release_in(trace: &Trace, lists: &Path, run: &str, rootfs: Option<&Path>) {
    if let Ok(locked) = Locked::take(lists) {
        let _ = std::fs::remove_file(locked.uses_of(run));
        if let Some(rootfs) = rootfs {
            locked.tidy(trace, run, rootfs);
        }
    }
}

/// Whether the container's rootfs is its own, made by the runtime under
/// the state directory (step 07's overlay): what is made there goes with
/// it, and no other container mounts on it. Nothing to record.
fn own_rootfs(spec: &Spec) -> bool {
    step03_user_ns::reach::image_rootfs(spec).starts_with(&spec.state_dir)
}

/// `--rootfs` itself (not the container's bind of it), canonical.
fn canonical_rootfs(spec: &Spec) -> std::io::Result<PathBuf> {
    std::fs::canonicalize(step03_user_ns::reach::image_rootfs(spec))
}

/// `target` and the directories above it (up to `rootfs`) that are not
/// there yet, outermost first.
fn missing_parts(rootfs: &Path, target: &Path) -> Vec<PathBuf> {
    let mut missing: Vec<PathBuf> = target
        .ancestors()
        .take_while(|p| p.starts_with(rootfs) && *p != rootfs)
        .take_while(|p| std::fs::symlink_metadata(p).is_err())
        .map(Path::to_path_buf)
        .collect();
    missing.reverse();
    missing
}

fn read_dir(dir: &Path) -> impl Iterator<Item = std::fs::DirEntry> {
    std::fs::read_dir(dir).into_iter().flatten().flatten()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Option<std::ffi::OsString> {
    let text = text.trim();
    if !text.len().is_multiple_of(2) {
        return None;
    }
    let bytes: Option<Vec<u8>> = (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect();
    bytes.map(std::ffi::OsString::from_vec)
}

#[cfg(test)]
#[path = "mount_points_tests.rs"]
mod tests;
