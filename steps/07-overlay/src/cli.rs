//! Step 07's flags: images (its command line is step 06's and these: see
//! step 01's flags.rs); and subcommands for the image store and kept
//! containers.

use std::path::PathBuf;

use step01_chroot::flags::Has;
use step06_netns_veth::cli::NetFlags;

/// Step 07's own flags.
#[derive(Clone, Debug, clap::Args)]
pub struct OverlayArgs {
    /// Run on image NAME from the store (07-overlay import); without it, --rootfs is the only layer.
    #[arg(long, value_name = "NAME")]
    pub image: Option<String>,

    /// Stack image NAME's layers on top (repeatable: base image, then app layers).
    #[arg(long = "layer", value_name = "NAME")]
    pub layers: Vec<String>,

    /// A name for the container (default: its id); its changes are kept under it.
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,

    /// Remove the container's writable layer when it exits.
    #[arg(long, env = "WORKSHOP_RM", value_parser = clap::builder::BoolishValueParser::new())]
    pub rm: bool,

    /// Start the container kept under --name again, on its writable layer
    /// (not a flag: set by a later step, step 10's `start`).
    #[arg(skip)]
    pub resume: bool,
}

/// What step 07's layers read: step 06's flags and [`OverlayArgs`].
pub trait OverlayFlags: NetFlags + Has<OverlayArgs> {}

impl<T: NetFlags + Has<OverlayArgs>> OverlayFlags for T {}

/// An unpack's limits (bombs.rs), for every command that unpacks layers.
#[derive(Clone, Debug, clap::Args)]
pub struct LimitArgs {
    /// The most a layer may hold unpacked (e.g. 8g).
    #[arg(long, value_name = "SIZE", default_value = "8g", value_parser = step04_cgroups::values::parse_size)]
    pub max_size: u64,
    /// The most entries a layer may have.
    #[arg(long, value_name = "N", default_value_t = 1_000_000)]
    pub max_entries: u64,
    /// The most bytes a compressed byte may unpack to (a gzip of zeros gives ~1000).
    #[arg(long, value_name = "N", default_value_t = 100)]
    pub max_ratio: u64,
}

impl LimitArgs {
    /// The limits these flags say.
    pub fn limits(&self) -> crate::unpack::Limits {
        crate::unpack::Limits {
            max_bytes: self.max_size,
            max_entries: self.max_entries,
            max_ratio: self.max_ratio,
        }
    }
}

/// The image store and kept containers.
#[derive(Clone, Debug, clap::Subcommand)]
pub enum Command {
    /// Import root filesystem tarballs (plain or gzip) as an image, one layer each, bottom first.
    Import {
        /// The tarballs, bottom layer first.
        #[arg(required = true)]
        tarballs: Vec<PathBuf>,
        /// The image's name.
        #[arg(long)]
        name: String,
        #[command(flatten)]
        limits: LimitArgs,
    },
    /// List the images in the store.
    Images,
    /// Remove an image, and its layers no other image uses.
    Rmi {
        /// The image's name.
        name: String,
    },
    /// List what a kept container changed: A(dded), C(hanged), D(eleted).
    Diff {
        /// The container's name.
        name: String,
    },
    /// Remove a kept container's writable layer.
    Rm {
        /// The container's name.
        name: String,
    },
}
