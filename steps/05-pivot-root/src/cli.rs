//! Step 05's command line: step 04's, plus `-v`, `--read-only` and the
//! pivot_root lesson flag.

use step04_cgroups::cli::CgroupArgs;

use crate::volumes::Volume;

/// The arguments of step 05, which every later step includes.
#[derive(Clone, Debug, clap::Args)]
pub struct PivotArgs {
    #[command(flatten)]
    pub cgroups: CgroupArgs,

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
