//! Step 09's flags: how the image's process is overridden, and where the
//! image comes from (its command line is step 08's and these: see step
//! 01's flags.rs); and its subcommands.

use step01_chroot::flags::Has;
use step08_security::cli::SecurityFlags;

use crate::platform::Platform;

/// Step 09's own flags.
#[derive(Clone, Debug, clap::Args)]
pub struct RegistryArgs {
    /// Run COMMAND instead of the image's entrypoint ("" clears it); the image's Cmd is dropped.
    #[arg(long, value_name = "COMMAND")]
    pub entrypoint: Option<String>,

    /// The working directory in the container (default: the image's WorkingDir, or /).
    #[arg(short = 'w', long, value_name = "DIR", value_parser = absolute_in_container)]
    pub workdir: Option<String>,

    /// Run as USER: name, uid, name:group or uid:gid, from the image's /etc/passwd (default: the image's User, or root).
    #[arg(short = 'u', long, value_name = "USER")]
    pub user: Option<String>,

    /// When --image is pulled from its registry: missing (if not here), always, never.
    #[arg(long, value_enum, value_name = "WHEN", default_value_t = PullPolicy::Missing)]
    pub pull: PullPolicy,

    /// The platform to pull for --image (default: this machine's), e.g. linux/arm64.
    #[arg(long, value_name = "OS/ARCH[/VARIANT]", value_parser = Platform::parse)]
    pub platform: Option<Platform>,

    /// The image as the command line named it (`--image` holds its name in
    /// step 07's store once it is found), for messages.
    #[arg(skip)]
    pub image_asked: Option<String>,

    /// Whether a command was given after the flags (set from clap's
    /// matches: the default, /bin/sh, must not hide the image's Cmd).
    #[arg(skip)]
    pub command_given: bool,
}

/// `--pull`, as Docker's.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum PullPolicy {
    /// Pull if the image is not here.
    Missing,
    /// Pull every time (a tag may have moved).
    Always,
    /// Never pull: use what is here, or fail.
    Never,
}

/// A working directory must be absolute: it is the container's, and the
/// container has no "current directory" of ours to be relative to.
/// Public for step 10's `exec -w`.
pub fn absolute_in_container(text: &str) -> Result<String, String> {
    match text.starts_with('/') {
        true => Ok(text.to_string()),
        false => Err(format!(
            "{text:?} is not an absolute path in the container (e.g. /app)"
        )),
    }
}

/// What step 09's layers read: step 08's flags and [`RegistryArgs`].
pub trait RegistryFlags: SecurityFlags + Has<RegistryArgs> {}

impl<T: SecurityFlags + Has<RegistryArgs>> RegistryFlags for T {}

/// Step 08's subcommands, and this step's.
#[derive(Clone, Debug, clap::Subcommand)]
pub enum Command {
    /// Pull an image from a registry: alpine, alpine:3.20, 127.0.0.1:5000/my/app@sha256:...
    Pull {
        /// The image reference.
        reference: String,
        /// The platform to pull (default: this machine's), e.g. linux/arm64/v8.
        #[arg(long, value_name = "OS/ARCH[/VARIANT]", value_parser = Platform::parse)]
        platform: Option<Platform>,
        /// Log in as NAME (with --password-stdin).
        #[arg(long, value_name = "NAME", requires = "password_stdin")]
        username: Option<String>,
        /// Read the password (or token) from stdin, so it is in no command line or shell history.
        #[arg(long, requires = "username")]
        password_stdin: bool,
        /// Print only the image id.
        #[arg(short, long)]
        quiet: bool,
        /// Step 07's limits, for each layer.
        #[command(flatten)]
        limits: step07_overlay::cli::LimitArgs,
    },
    /// Run a container: run [FLAGS] IMAGE [COMMAND]... (the same as [FLAGS] --image IMAGE [COMMAND]...).
    #[command(disable_help_flag = true)]
    Run {
        /// The flags, the image, and the command, read again by run_line.rs.
        #[arg(
            trailing_var_arg = true,
            allow_hyphen_values = true,
            value_name = "[FLAGS] IMAGE [COMMAND]"
        )]
        words: Vec<String>,
    },
    /// Print an image's id, names, layers and config as JSON.
    Inspect {
        /// A reference, or an image id (or its first digits).
        image: String,
    },
    /// The image store, kept containers, the seccomp profile (steps 07 and 08).
    /// `images` and `rmi` know pulled images too.
    #[command(flatten)]
    Earlier(step08_security::cli::Command),
}
