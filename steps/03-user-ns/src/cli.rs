//! Step 03's flags: the id mapping options (its command line is step 02's
//! and these: see step 01's flags.rs).

use nix::unistd::{Gid, Uid, User};
use step01_chroot::flags::Has;
use step02_pid_ns::cli::PidNsFlags;

use crate::idmap::{IdKind, IdMapError, IdRange};
use crate::remap;
use crate::userns::Mapping;

/// Step 03's own flags.
#[derive(Clone, Debug, clap::Args)]
pub struct UserNsArgs {
    /// The host user (and group) container root is [default: as root, root's
    /// subordinate ids (/etc/subuid); through sudo, the user who ran it; else you].
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

    /// `host`: container ids are the host's, root is root (unsafe, for the lesson).
    #[arg(long, value_name = "MODE", value_parser = ["host"],
          conflicts_with_all = ["uid_map", "gid_map", "no_map", "map_root_to"])]
    pub userns: Option<String>,
}

/// What step 03's layers read: step 02's flags and [`UserNsArgs`].
pub trait UserNsFlags: PidNsFlags + Has<UserNsArgs> {}

impl<T: PidNsFlags + Has<UserNsArgs>> UserNsFlags for T {}

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
            return Mapping::maps(self.uid_map.clone(), self.gid_map.clone());
        }
        if self.userns.is_some() {
            // Every id is itself: 0..=4294967294, the whole id space.
            let all = IdRange {
                inside: 0,
                outside: 0,
                count: u32::MAX,
            };
            return Mapping::maps(vec![all], vec![all]);
        }
        let (uid, gid) = match self.map_root_to {
            Some((uid, Some(gid))) => (uid, gid),
            Some((uid, None)) => (uid, primary_group(uid).unwrap_or(uid)),
            None if Uid::effective().is_root() && sudo_user().is_none() && in_initial_userns() => {
                return remapped_root();
            }
            None => invoking_user(),
        };
        Mapping::maps(vec![IdRange::one(0, uid)], vec![IdRange::one(0, gid)])
    }
}

// ANCHOR: remapped_root
/// Real root's default: container ids 0..65535 are root's subordinate ids
/// (see `remap.rs`), so container root is an unused id on the host.
fn remapped_root() -> Result<Mapping, IdMapError> {
    let (uid, uid_grant) = remap::for_root(IdKind::User, IdKind::User.subid_file().as_ref())?;
    let (gid, gid_grant) = remap::for_root(IdKind::Group, IdKind::Group.subid_file().as_ref())?;
    let Mapping::Maps { uid, gid, .. } = Mapping::maps(vec![uid], vec![gid])? else {
        unreachable!("maps() makes maps")
    };
    Ok(Mapping::Maps {
        uid,
        gid,
        grants: uid_grant.into_iter().chain(gid_grant).collect(),
    })
}
// ANCHOR_END: remapped_root

/// Whether we are in the host's own user namespace, where uid 0 is host
/// root. In a nested one (`unshare --map-root-user`, a rootless runtime)
/// our uid 0 is already someone else outside, and maps only itself.
fn in_initial_userns() -> bool {
    let map = std::fs::read_to_string("/proc/self/uid_map").unwrap_or_default();
    map.split_whitespace().collect::<Vec<_>>() == ["0", "0", "4294967295"]
}

/// The user who ran us through sudo (SUDO_UID and SUDO_GID), if one did.
/// Root running sudo (a script, `sudo -i` then sudo) is not "a user": its
/// containers get root's subordinate ids like any root's.
fn sudo_user() -> Option<(u32, u32)> {
    let var = |name: &str| std::env::var(name).ok()?.parse::<u32>().ok();
    Some((var("SUDO_UID")?, var("SUDO_GID")?)).filter(|&(uid, _)| uid != 0)
}

// ANCHOR: invoking_user
/// Who ran us: through sudo, the user sudo names in SUDO_UID and SUDO_GID;
/// otherwise our own effective ids (root, or an ordinary user rootless).
pub fn invoking_user() -> (u32, u32) {
    if Uid::effective().is_root()
        && let Some(ids) = sudo_user()
    {
        return ids;
    }
    (Uid::effective().as_raw(), Gid::effective().as_raw())
}
// ANCHOR_END: invoking_user

fn primary_group(uid: u32) -> Option<u32> {
    Some(User::from_uid(Uid::from_raw(uid)).ok()??.gid.as_raw())
}
