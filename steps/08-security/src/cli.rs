//! Step 08's flags: capabilities and no_new_privs (its command line is
//! step 07's and these: see step 01's flags.rs).

use step01_chroot::flags::Has;
use step07_overlay::cli::OverlayFlags;

use crate::capset::CapName;
use crate::security_opt::SecurityOpt;

/// Step 08's own flags.
#[derive(Clone, Debug, clap::Args)]
pub struct SecurityArgs {
    /// Add a capability to the default set (NET_ADMIN or CAP_NET_ADMIN; ALL for every one).
    #[arg(long = "cap-add", value_name = "CAP")]
    pub cap_add: Vec<CapName>,

    /// Drop a capability from the set (ALL for every one; then --cap-add what is needed).
    #[arg(long = "cap-drop", value_name = "CAP")]
    pub cap_drop: Vec<CapName>,

    /// Turn all of this off: every capability, no no_new_privs, no seccomp, /proc and /sys unmasked.
    #[arg(long)]
    pub privileged: bool,

    /// Security options: seccomp=PROFILE.json (Docker's format) or seccomp=unconfined; no-new-privileges=false;
    /// apparmor=PROFILE; label=type:TYPE (SELinux).
    #[arg(long = "security-opt", value_name = "OPT")]
    pub security_opt: Vec<SecurityOpt>,
}

impl SecurityArgs {
    /// Whether no_new_privs is set: yes, unless the last
    /// `no-new-privileges` option says false.
    pub fn no_new_privileges(&self) -> bool {
        let said = self.security_opt.iter().rev().find_map(|opt| match opt {
            SecurityOpt::NoNewPrivileges(on) => Some(*on),
            _ => None,
        });
        said.unwrap_or(true)
    }

    /// The seccomp profile: the last `seccomp=` option's, or the default.
    pub fn seccomp(&self) -> Profile<'_> {
        let said = self.security_opt.iter().rev().find_map(|opt| match opt {
            SecurityOpt::Seccomp(Some(path)) => Some(Profile::File(path)),
            SecurityOpt::Seccomp(None) => Some(Profile::Unconfined),
            _ => None,
        });
        said.unwrap_or(Profile::Default)
    }
}

/// Which seccomp profile a container gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Profile<'a> {
    /// This step's (profile.rs).
    Default,
    /// One in Docker's format, from a file.
    File(&'a std::path::Path),
    /// None: `seccomp=unconfined`.
    Unconfined,
}

/// What step 08's layers read: step 07's flags and [`SecurityArgs`].
pub trait SecurityFlags: OverlayFlags + Has<SecurityArgs> {}

impl<T: OverlayFlags + Has<SecurityArgs>> SecurityFlags for T {}

/// Step 07's subcommands, and this step's one.
#[derive(Clone, Debug, clap::Subcommand)]
pub enum Command {
    /// The image store and kept containers (step 07's).
    #[command(flatten)]
    Store(step07_overlay::cli::Command),
    /// Print the default seccomp profile in Docker's JSON format (edit it, load it with --security-opt seccomp=FILE).
    SeccompProfile,
}
