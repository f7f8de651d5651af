//! Step 02's flags: `--hostname` and `--init` (its command line is step
//! 01's and these: see step 01's flags.rs).

use step01_chroot::flags::{Has, RunFlags};

/// Step 02's own flags.
#[derive(Clone, Debug, clap::Args)]
pub struct PidNsArgs {
    /// The container's hostname (default: its short random id, as Docker does).
    #[arg(long, value_name = "NAME", value_parser = crate::uts::parse_hostname)]
    pub hostname: Option<String>,

    /// Run a tiny init as PID 1 that forwards signals and reaps zombies (like docker run --init).
    #[arg(long)]
    pub init: bool,
}

/// What step 02's layers read: step 01's flags and [`PidNsArgs`].
pub trait PidNsFlags: RunFlags + Has<PidNsArgs> {}

impl<T: RunFlags + Has<PidNsArgs>> PidNsFlags for T {}
