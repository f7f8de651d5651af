//! The subcommands: the image store, and containers kept for `diff`.

use std::fs;

use step01_chroot::error::{Error, Result};

use crate::cli::Command;
use crate::diff::diff;
use crate::overlay::named_container_dir;
use crate::store::{Store, du};

/// Why a subcommand failed.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    /// No kept container of that name.
    #[error("no kept container named {0:?} (containers run with --rm are not kept)")]
    NoContainer(String),
    /// It still runs.
    #[error("container {0:?} is running: stop it first")]
    Running(String),
}

/// Runs one subcommand; what it reports goes to stdout.
pub fn run(command: &Command) -> Result<()> {
    match command {
        Command::Import {
            tarballs,
            name,
            store,
        } => {
            let (image, reports) = Store::new(&store.state_dir)
                .import(tarballs, name)
                .map_err(Error::layer)?;
            for report in reports {
                println!(
                    "unpacked {} entries ({} whiteouts, {} opaque directories{})",
                    report.entries,
                    report.whiteouts,
                    report.opaque,
                    if report.skipped_devices.is_empty() {
                        String::new()
                    } else {
                        format!(", {} devices skipped", report.skipped_devices.len())
                    }
                );
            }
            let layers: Vec<_> = image.layers.iter().map(|d| &d[..12]).collect();
            println!("imported {} with layers {}", image.name, layers.join(" "));
        }
        Command::Images { store } => {
            let store = Store::new(&store.state_dir);
            println!("{:<20} {:<8} {:>10}  LAYERS", "NAME", "LAYERS", "SIZE");
            for image in store.images().map_err(Error::layer)? {
                let size: u64 = image.layers.iter().map(|d| du(&store.layer(d))).sum();
                let layers: Vec<_> = image.layers.iter().map(|d| &d[..12]).collect();
                println!(
                    "{:<20} {:<8} {:>7} KiB  {}",
                    image.name,
                    image.layers.len(),
                    size / 1024,
                    layers.join(" ")
                );
            }
        }
        Command::Rmi { name, store } => {
            for digest in Store::new(&store.state_dir)
                .remove(name)
                .map_err(Error::layer)?
            {
                println!("deleted layer {}", &digest[..12]);
            }
            println!("removed image {name}");
        }
        Command::Diff { name, store } => {
            let base = named_container_dir(&store.state_dir, "diff", name).map_err(Error::layer)?;
            let lowers = fs::read_to_string(base.join("lowers"))
                .map_err(|_| Error::layer(CommandError::NoContainer(name.clone())))?;
            let lowers: Vec<_> = lowers.lines().map(std::path::PathBuf::from).collect();
            for change in diff(&base.join("upper"), &lowers) {
                println!("{change}");
            }
        }
        Command::Rm { name, store } => {
            let base = named_container_dir(&store.state_dir, "rm", name).map_err(Error::layer)?;
            if !base.exists() {
                return Err(Error::layer(CommandError::NoContainer(name.clone())));
            }
            if base.join("owner").exists() {
                return Err(Error::layer(CommandError::Running(name.clone())));
            }
            fs::remove_dir_all(&base).map_err(|source| Error::Io {
                what: "removing",
                path: base,
                source,
            })?;
            println!("removed {name}");
        }
    }
    Ok(())
}
