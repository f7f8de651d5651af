//! The subcommands: the image store, and containers kept for `diff`.

use std::fs;
use std::path::Path;
use step01_chroot::cli::println_or_not;

use step01_chroot::error::{Error, Result};

use crate::cli::Command;
use crate::diff::diff;
use crate::overlay::named_container_dir;
use crate::store::{Store, du};

/// Why a subcommand failed.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    /// No kept container of that name.
    /// (`diff` and `rm` work on kept containers: without `--rm`, the writable
    /// layer stays, under the name, until `rm`.)
    #[error("no kept container named {0:?} (containers run with --rm are not kept)")]
    NoContainer(String),
    /// It still runs.
    /// Its overlay is mounted and in use: removing its upper layer would
    /// delete the container's files from under it.
    #[error("container {0:?} is running: stop it first")]
    Running(String),
}

/// Runs one subcommand; what it reports goes to stdout.
pub fn run(command: &Command, state_dir: &Path) -> Result<()> {
    match command {
        Command::Import {
            tarballs,
            name,
            limits,
        } => {
            // The same limits for every layer of this import, each checked
            // before the entry that would pass it is written (bombs.rs).
            let limits = limits.limits();
            // import takes the run lock and the store's shared lock itself
            // (store.rs): an `rmi` cannot take a layer from under it.
            let (image, reports) = Store::new(state_dir)
                .import(tarballs, name, &limits)
                .map_err(Error::layer)?;
            // One line per layer unpacked (a layer already in the store has
            // none): what the OCI whiteouts became in overlayfs's terms.
            for report in reports {
                println_or_not(format_args!(
                    "unpacked {} entries ({} whiteouts, {} opaque directories{})",
                    report.entries,
                    report.whiteouts,
                    report.opaque,
                    // Said, not hidden: a layer with device nodes is not quite the
                    // image it was (unpack.rs says why they are left out).
                    if report.skipped_devices.is_empty() {
                        String::new()
                    } else {
                        format!(", {} devices skipped", report.skipped_devices.len())
                    }
                ));
            }
            // Twelve hex digits of the sha256, as Docker shortens ids: plenty
            // to tell layers apart, short enough to read.
            let layers: Vec<_> = image.layers.iter().map(|d| &d[..12]).collect();
            println_or_not(format_args!(
                "imported {} with layers {}",
                image.name,
                layers.join(" ")
            ));
        }
        Command::Images => {
            let store = Store::new(state_dir);
            println_or_not(format_args!(
                "{:<20} {:<8} {:>11}  LAYER IDS",
                "NAME", "LAYERS", "SIZE"
            ));
            for image in store.images().map_err(Error::layer)? {
                // What the layers take on disk; a layer two images share counts
                // in both lines, though it is stored once.
                let size: u64 = image.layers.iter().map(|d| du(&store.layer(d))).sum();
                let layers: Vec<_> = image.layers.iter().map(|d| &d[..12]).collect();
                println_or_not(format_args!(
                    "{:<20} {:<8} {:>7} KiB  {}",
                    image.name,
                    image.layers.len(),
                    size / 1024,
                    layers.join(" ")
                ));
            }
        }
        Command::Rmi { name } => {
            // rmi.rs decides, under the store's exclusive lock: the layers no
            // other image names go, unless a container stands on one.
            for digest in Store::new(state_dir).remove(name).map_err(Error::layer)? {
                println_or_not(format_args!("deleted layer {}", &digest[..12]));
            }
            println_or_not(format_args!("removed image {name}"));
        }
        Command::Diff { name } => {
            // The name is checked before it becomes a path: `diff ../../etc`
            // must not read outside the state directory.
            let base = named_container_dir(state_dir, "diff", name).map_err(Error::layer)?;
            // The lowers it ran on, written at its start (overlay.rs): a file
            // in upper/ that one of them has is changed, not added. rmi leaves
            // them in place while a kept container stands on them.
            let lowers = fs::read_to_string(base.join("lowers"))
                // No lowers file: nothing ran under that name, or it had --rm.
                .map_err(|_| Error::layer(CommandError::NoContainer(name.clone())))?;
            let lowers: Vec<_> = lowers.lines().map(std::path::PathBuf::from).collect();
            // upper/ holds exactly what the container wrote (or copied up to
            // change): the container need not be running.
            for change in diff(&base.join("upper"), &lowers) {
                println_or_not(format_args!("{change}"));
            }
        }
        Command::Rm { name } => {
            // Checked as for `diff`: `rm` removes a whole directory tree.
            let base = named_container_dir(state_dir, "rm", name).map_err(Error::layer)?;
            // Checked first: for a directory that is not there, every step
            // below would succeed, and say "removed".
            if !base.exists() {
                return Err(Error::layer(CommandError::NoContainer(name.clone())));
            }
            // A container whose runtime was killed is not running: what
            // it left mounted goes first.
            // A trace with the default options (not quiet): an unmount that
            // a dead run left to do is said, as every run says it.
            let trace = step01_chroot::trace::Trace::new(Default::default());
            if !crate::leftovers::release_if_dead(&trace, state_dir, &base) {
                return Err(Error::layer(CommandError::Running(name.clone())));
            }
            // Removed as a run removes it (leftovers.rs), under a lock of
            // its own: an `rm` killed half-way leaves nothing that looks whole.
            let run = step01_chroot::spec::random_id();
            let io = |what, path, source| Error::Io { what, path, source };
            let _lock = step01_chroot::owner::RunLock::take(&run)
                .map_err(|e| io("locking", step01_chroot::owner::runs_dir(), e))?;
            crate::leftovers::remove(&base, &run).map_err(|e| io("removing", base.clone(), e))?;
            println_or_not(format_args!("removed {name}"));
        }
    }
    Ok(())
}
