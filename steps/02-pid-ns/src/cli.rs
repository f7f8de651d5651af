//! Step 02's command line: step 01's, plus `--hostname` and `--init`.

use step01_chroot::cli::RunArgs;

/// The arguments of step 02, which every later step includes.
#[derive(Clone, Debug, clap::Args)]
pub struct PidNsArgs {
    #[command(flatten)]
    pub run: RunArgs,

    /// The container's hostname (default: its short random id, as Docker does).
    #[arg(long, value_name = "NAME", value_parser = crate::uts::parse_hostname)]
    pub hostname: Option<String>,

    /// Run a tiny init as PID 1 that forwards signals and reaps zombies (like docker run --init).
    #[arg(long)]
    pub init: bool,
}
