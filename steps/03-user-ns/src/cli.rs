//! Step 03's command line: step 02's, plus the id mapping options.

use nix::unistd::{Gid, Uid, User};
use step02_pid_ns::cli::PidNsArgs;

use crate::idmap::{IdKind, IdMap, IdMapError, IdRange};
use crate::userns::Mapping;

/// The arguments of step 03, which every later step includes.
#[derive(Clone, Debug, clap::Args)]
pub struct UserNsArgs {
    #[command(flatten)]
    pub pid_ns: PidNsArgs,

    /// The host user (and group) container root is [default: the user who ran sudo, or you].
    #[arg(long, value_name = "UID[:GID]", value_parser = parse_root_to,
          conflicts_with_all = ["uid_map", "gid_map", "no_map"])]
    pub map_root_to: Option<(u32, Option<u32>)>,

    /// Map a range of user ids (repeatable): container CONTAINER.. is host HOST.., COUNT ids.
    #[arg(long, value_name = "CONTAINER:HOST:COUNT", requires = "gid_map")]
    pub uid_map: Vec<IdRange>,

    /// Map a range of group ids (repeatable), like --uid-map.
    #[arg(long, value_name = "CONTAINER:HOST:COUNT", requires = "uid_map")]
    pub gid_map: Vec<IdRange>,

    /// Write no id maps: see a user namespace without them (every id is 65534).
    #[arg(long, conflicts_with_all = ["uid_map", "gid_map"])]
    pub no_map: bool,
}

fn parse_root_to(s: &str) -> Result<(u32, Option<u32>), String> {
    let number = |t: &str| {
        t.parse::<u32>()
            .map_err(|_| format!("{t:?} is not a numeric id"))
    };
    match s.split_once(':') {
        Some((uid, gid)) => Ok((number(uid)?, Some(number(gid)?))),
        None => Ok((number(s)?, None)),
    }
}

impl UserNsArgs {
    /// The id mapping these arguments ask for.
    pub fn mapping(&self) -> Result<Mapping, IdMapError> {
        if self.no_map {
            return Ok(Mapping::Unmapped);
        }
        if !self.uid_map.is_empty() {
            return Ok(Mapping::Maps {
                uid: IdMap::new(IdKind::User, self.uid_map.clone())?,
                gid: IdMap::new(IdKind::Group, self.gid_map.clone())?,
            });
        }
        let (uid, gid) = match self.map_root_to {
            Some((uid, Some(gid))) => (uid, gid),
            Some((uid, None)) => (uid, primary_group(uid).unwrap_or(uid)),
            None => invoking_user(),
        };
        Ok(Mapping::Maps {
            uid: IdMap::new(IdKind::User, vec![IdRange::one(0, uid)])?,
            gid: IdMap::new(IdKind::Group, vec![IdRange::one(0, gid)])?,
        })
    }
}

// ANCHOR: invoking_user
/// Who ran us: through sudo, the user sudo names in SUDO_UID and SUDO_GID;
/// otherwise our own effective ids (root, or an ordinary user rootless).
pub fn invoking_user() -> (u32, u32) {
    let from_sudo = |var: &str| std::env::var(var).ok()?.parse::<u32>().ok();
    if Uid::effective().is_root()
        && let (Some(uid), Some(gid)) = (from_sudo("SUDO_UID"), from_sudo("SUDO_GID"))
    {
        return (uid, gid);
    }
    (Uid::effective().as_raw(), Gid::effective().as_raw())
}
// ANCHOR_END: invoking_user

fn primary_group(uid: u32) -> Option<u32> {
    Some(User::from_uid(Uid::from_raw(uid)).ok()??.gid.as_raw())
}
