//! Which capabilities a container keeps: Docker's default set, changed by
//! `--cap-add` and `--cap-drop` with Docker's rules.
//!
//! Root's power is split into about forty capabilities (capabilities(7)):
//! `CAP_SYS_ADMIN` mounts, `CAP_NET_ADMIN` configures interfaces,
//! `CAP_SYS_MODULE` loads kernel modules, `CAP_CHOWN` gives a file away.
//! A process has five sets of them; what it may use now is its effective
//! set. Container root needs only a few to behave like root for ordinary
//! programs (chown its files, bind port 80, switch users), so Docker keeps
//! 14 and drops the rest. A user namespace (step 03) already makes every
//! capability act only on what that namespace owns; dropping them as well
//! closes what a kernel bug in one of them would open.

use std::fmt;
use std::str::FromStr;

pub use caps::Capability;

// ANCHOR: default
/// Docker's default set (moby's `oci/caps/defaults.go`): what a container's
/// root keeps unless told otherwise. Each lets ordinary programs work as
/// root: own files (CHOWN, DAC_OVERRIDE, FOWNER, FSETID), make device nodes
/// (MKNOD: in a user namespace the kernel still refuses real devices), ping
/// (NET_RAW), switch users (SETUID, SETGID, SETPCAP, SETFCAP), bind ports
/// below 1024 (NET_BIND_SERVICE), chroot, signal its own processes (KILL),
/// write audit records (AUDIT_WRITE, which login programs want).
pub const DOCKER_DEFAULT: [Capability; 14] = [
    Capability::CAP_CHOWN,
    Capability::CAP_DAC_OVERRIDE,
    Capability::CAP_FSETID,
    Capability::CAP_FOWNER,
    Capability::CAP_MKNOD,
    Capability::CAP_NET_RAW,
    Capability::CAP_SETGID,
    Capability::CAP_SETUID,
    Capability::CAP_SETFCAP,
    Capability::CAP_SETPCAP,
    Capability::CAP_NET_BIND_SERVICE,
    Capability::CAP_SYS_CHROOT,
    Capability::CAP_KILL,
    Capability::CAP_AUDIT_WRITE,
];
// ANCHOR_END: default

/// One `--cap-add` or `--cap-drop` value: a capability, or `ALL`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CapName {
    /// Every capability.
    All,
    /// One capability.
    One(Capability),
}

/// As Docker reads them: any case, with or without `CAP_` (`net_admin`,
/// `CAP_NET_ADMIN`), or `ALL`.
impl FromStr for CapName {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let upper = s.trim().to_ascii_uppercase();
        let bare = upper.strip_prefix("CAP_").unwrap_or(&upper);
        if bare == "ALL" {
            return Ok(CapName::All);
        }
        format!("CAP_{bare}")
            .parse()
            .map(CapName::One)
            .map_err(|_| {
                format!(
                    "{s:?} is not a capability; names are as in capabilities(7), \
                     with or without CAP_ (e.g. NET_ADMIN), or ALL"
                )
            })
    }
}

impl CapName {
    /// The capabilities `names` name one by one (not `ALL`).
    pub fn named(names: &[CapName]) -> Vec<Capability> {
        names
            .iter()
            .filter_map(|name| match name {
                CapName::One(cap) => Some(*cap),
                CapName::All => None,
            })
            .collect()
    }
}

// ANCHOR: kept
/// The capabilities a container keeps, by Docker's rules (moby's
/// `TweakCapabilities`): `--cap-add ALL` keeps all but the drops;
/// `--cap-drop ALL` keeps only the adds; otherwise the default set minus
/// the drops, plus the adds (a capability both added and dropped is kept).
/// `all` is every capability the kernel knows. Sorted by number.
pub fn kept(adds: &[CapName], drops: &[CapName], all: &[Capability]) -> Vec<Capability> {
    let named = |list: &[CapName], cap: Capability| list.contains(&CapName::One(cap));
    let mut keep: Vec<Capability> = if adds.contains(&CapName::All) {
        all.iter().copied().filter(|c| !named(drops, *c)).collect()
    } else if drops.contains(&CapName::All) {
        all.iter().copied().filter(|c| named(adds, *c)).collect()
    } else {
        all.iter()
            .copied()
            .filter(|c| (DOCKER_DEFAULT.contains(c) && !named(drops, *c)) || named(adds, *c))
            .collect()
    };
    keep.sort_by_key(Capability::index);
    keep
}
// ANCHOR_END: kept

/// The capabilities the running kernel has: 0 to the number in
/// /proc/sys/kernel/cap_last_cap. One newer than this runtime knows could
/// not be dropped, and container root would keep it: refused.
pub fn kernel_caps() -> std::io::Result<Vec<Capability>> {
    let text = std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")?;
    let last: u8 = text.trim().parse().map_err(std::io::Error::other)?;
    let mut known: Vec<Capability> = caps::all().into_iter().collect();
    known.sort_by_key(Capability::index);
    let newest = known.last().map_or(0, Capability::index);
    if last > newest {
        return Err(std::io::Error::other(format!(
            "this kernel has capabilities up to number {last}, and this runtime knows them \
             up to {newest}: it could not drop the newer ones (update the caps crate)"
        )));
    }
    known.retain(|c| c.index() <= last);
    Ok(known)
}

/// A set as /proc/PID/status prints it (`CapEff: 00000000a80425fb`).
pub fn mask(caps: &[Capability]) -> u64 {
    caps.iter().map(Capability::bitmask).fold(0, |a, b| a | b)
}

/// The set's names without `CAP_`, for the trace: `CHOWN DAC_OVERRIDE ...`.
pub struct Names<'a>(pub &'a [Capability]);

impl fmt::Display for Names<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<String> = self
            .0
            .iter()
            .map(|c| c.to_string().trim_start_matches("CAP_").to_string())
            .collect();
        match names.is_empty() {
            true => write!(f, "none"),
            false => write!(f, "{}", names.join(" ")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all() -> Vec<Capability> {
        let mut all: Vec<_> = caps::all().into_iter().collect();
        all.sort_by_key(Capability::index);
        all
    }

    fn name(s: &str) -> CapName {
        s.parse().unwrap()
    }

    #[test]
    fn names_are_read_as_docker_reads_them() {
        let admin = CapName::One(Capability::CAP_NET_ADMIN);
        for spelling in [
            "NET_ADMIN",
            "net_admin",
            "CAP_NET_ADMIN",
            "cap_net_admin",
            " Net_Admin",
        ] {
            assert_eq!(name(spelling), admin, "{spelling}");
        }
        assert_eq!(name("all"), CapName::All);
        assert_eq!(name("CAP_ALL"), CapName::All);
        let err = "NET_ADMINN".parse::<CapName>().unwrap_err();
        assert!(err.contains("\"NET_ADMINN\" is not a capability"), "{err}");
    }

    #[test]
    fn the_default_is_dockers_14() {
        let keep = kept(&[], &[], &all());
        assert_eq!(keep.len(), 14);
        // What `grep CapEff /proc/self/status` shows in a Docker container.
        assert_eq!(mask(&keep), 0xa80425fb);
    }

    #[test]
    fn adds_and_drops_follow_dockers_rules() {
        let all = all();
        let admin = Capability::CAP_SYS_ADMIN;
        let chown = Capability::CAP_CHOWN;
        let added = kept(&[name("SYS_ADMIN")], &[], &all);
        assert!(added.contains(&admin) && added.len() == 15);
        let dropped = kept(&[], &[name("chown")], &all);
        assert!(!dropped.contains(&chown) && dropped.len() == 13);
        assert_eq!(kept(&[], &[CapName::All], &all), []);
        assert_eq!(
            kept(&[name("KILL")], &[CapName::All], &all),
            [Capability::CAP_KILL]
        );
        let everything_but = kept(&[CapName::All], &[name("SYS_ADMIN")], &all);
        assert_eq!(everything_but.len(), all.len() - 1);
        // Both added and dropped: kept, as Docker does.
        assert!(kept(&[name("CHOWN")], &[name("CHOWN")], &all).contains(&chown));
        // Only what the kernel knows.
        assert_eq!(kept(&[CapName::All], &[], &[chown]), [chown]);
    }

    #[test]
    fn sets_read_as_the_kernel_and_the_trace_write_them() {
        assert_eq!(
            mask(&[Capability::CAP_CHOWN, Capability::CAP_KILL]),
            0b100001
        );
        let names = Names(&[Capability::CAP_CHOWN, Capability::CAP_KILL]).to_string();
        assert_eq!(names, "CHOWN KILL");
        assert_eq!(Names(&[]).to_string(), "none");
    }
}
