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

    /// Security options: no-new-privileges=false lets set-uid programs gain privileges.
    #[arg(long = "security-opt", value_name = "OPT")]
    pub security_opt: Vec<SecurityOpt>,
}

impl SecurityArgs {
    /// Whether no_new_privs is set: yes, unless the last
    /// `no-new-privileges` option says false.
    pub fn no_new_privileges(&self) -> bool {
        self.security_opt
            .iter()
            .rev()
            .map(|SecurityOpt::NoNewPrivileges(on)| *on)
            .next()
            .unwrap_or(true)
    }
}

/// What step 08's layers read: step 07's flags and [`SecurityArgs`].
pub trait SecurityFlags: OverlayFlags + Has<SecurityArgs> {}

impl<T: OverlayFlags + Has<SecurityArgs>> SecurityFlags for T {}
