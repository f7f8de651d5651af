//! Step 05's flags: `-v`, `--read-only` and the pivot_root lesson flag
//! (its command line is step 04's and these: see step 01's flags.rs).

use step01_chroot::flags::Has;
use step04_cgroups::cli::CgroupFlags;

use crate::volume_arg::Volume;

/// Step 05's own flags.
#[derive(Clone, Debug, clap::Args)]
pub struct PivotArgs {
    /// Bind-mount a host path into the container (repeatable): HOST:CONTAINER[:ro].
    #[arg(short = 'v', long = "volume", value_name = "HOST:CONTAINER[:ro]")]
    pub volumes: Vec<Volume>,

    /// Make the container's root file system read-only.
    #[arg(long)]
    pub read_only: bool,

    /// Lesson: skip the bind mount of the rootfs onto itself, and see pivot_root fail.
    #[arg(long)]
    pub pivot_without_bind: bool,
}

/// What step 05's layers read: step 04's flags and [`PivotArgs`].
pub trait PivotFlags: CgroupFlags + Has<PivotArgs> {}

// Nothing to write by hand: any command line with both is one, step 06's too.
impl<T: CgroupFlags + Has<PivotArgs>> PivotFlags for T {}
