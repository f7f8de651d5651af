//! Id maps: which user and group ids inside the container are which ids on
//! the host.
//!
//! A user namespace starts with no ids at all: every id reads as 65534, the
//! "overflow" id (`nobody`). The parent gives it ids by writing lines of
//! `INSIDE OUTSIDE COUNT` into `/proc/PID/uid_map` and `gid_map`, once:
//!
//! ```text
//! 0 1000 1          container root is host user 1000
//! 1 100000 65536    container ids 1..65536 are host ids 100000..165535
//! ```
//!
//! The kernel's rules (user_namespaces(7), "Defining user and group ID
//! mappings"): a map is written once, holds at most 340 lines whose ranges
//! may not overlap on either side, and an unprivileged writer may map only
//! its own id, one of it. Anything more goes through the set-uid helpers
//! newuidmap(1) and newgidmap(1), which allow the ranges the administrator
//! delegated in /etc/subuid and /etc/subgid (subuid(5)).

/// The most lines a map may have (since Linux 4.15).
/// (Linux 4.14 and earlier took 5; user_namespaces(7).)
pub const MAX_RANGES: usize = 340;

/// Users or groups: the maps and their error messages say which.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IdKind {
    /// User ids: `uid_map`, `/etc/subuid`, `newuidmap`.
    User,
    /// Group ids: `gid_map`, `/etc/subgid`, `newgidmap`.
    Group,
}

impl IdKind {
    /// `uid` or `gid`.
    pub fn short(self) -> &'static str {
        match self {
            IdKind::User => "uid",
            IdKind::Group => "gid",
        }
    }
    /// The command-line flag that sets this map.
    pub fn flag(self) -> &'static str {
        match self {
            IdKind::User => "--uid-map",
            IdKind::Group => "--gid-map",
        }
    }
    /// The set-uid helper for this kind.
    pub fn helper(self) -> &'static str {
        match self {
            IdKind::User => "newuidmap",
            IdKind::Group => "newgidmap",
        }
    }
    /// The file of delegated ranges.
    pub fn subid_file(self) -> &'static str {
        match self {
            IdKind::User => "/etc/subuid",
            IdKind::Group => "/etc/subgid",
        }
    }
}

pub use crate::range::IdRange;

/// What is wrong with a map, or with the right to write it.
#[derive(Debug, thiserror::Error)]
pub enum IdMapError {
    /// Two lines claim the same ids.
    #[error("{flag}: {a} and {b} overlap on the {side} side; each id may be mapped once")]
    Overlap {
        flag: &'static str,
        a: IdRange,
        b: IdRange,
        side: &'static str,
    },
    /// Container root has no host id.
    #[error(
        "{flag}: container {kind} 0 (root) is not mapped, so the command would run as 65534\n  \
         hint: add a range that starts at 0, e.g. {flag} 0:1000:1, or pass --no-map to see that on purpose"
    )]
    RootNotMapped {
        flag: &'static str,
        kind: &'static str,
    },
    /// More lines than the kernel takes.
    #[error("{flag}: {count} ranges; the kernel takes at most {MAX_RANGES}")]
    TooMany { flag: &'static str, count: usize },
    /// Host ids the caller may not map.
    #[error(
        "{flag}: host {kind}s {first}-{last} are not yours to map\n  hint: as {user} you may map your own \
         {kind} {own} and the ranges {file} gives you ({allowed}); an administrator adds ranges with \
         usermod --add-sub{kind}s START-END {user}"
    )]
    NotAllowed {
        flag: &'static str,
        kind: &'static str,
        first: u64,
        last: u64,
        user: String,
        own: u32,
        file: &'static str,
        allowed: String,
    },
    /// newuidmap or newgidmap is not installed.
    #[error(
        "{flag}: mapping more than your own {kind} needs {helper}, which is not installed\n  \
         hint: install it (Debian/Ubuntu: apt install uidmap; Fedora: dnf install shadow-utils), \
         or map only your own {kind}: {flag} 0:{own}:1"
    )]
    HelperMissing {
        flag: &'static str,
        kind: &'static str,
        helper: &'static str,
        own: u32,
    },
    /// Root's subordinate range could not be found or made (remap.rs's
    /// error; boxed, so that this module need not know remap.rs).
    #[error(transparent)]
    Remap(Box<dyn std::error::Error + Send + Sync>),
    /// The helper ran and refused.
    #[error("{helper} {args} failed: {stderr}")]
    HelperFailed {
        helper: &'static str,
        args: String,
        stderr: String,
    },
}

/// A checked uid or gid map.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdMap {
    /// Which map: it names the file, the flag and the set-uid helper.
    kind: IdKind,
    /// The lines, in the order given: the kernel takes them in any order.
    ranges: Vec<IdRange>,
}

impl IdMap {
    /// Checks `ranges` as the kernel will: no overlaps on either side, at
    /// most [`MAX_RANGES`] lines; and container root must be mapped.
    pub fn new(kind: IdKind, ranges: Vec<IdRange>) -> Result<Self, IdMapError> {
        let flag = kind.flag();
        // The kernel refuses these two with a bare EINVAL, and only once the child
        // exists; checked here, the error names the lines before anything runs.
        if ranges.len() > MAX_RANGES {
            return Err(IdMapError::TooMany {
                flag,
                count: ranges.len(),
            });
        }
        for (i, a) in ranges.iter().enumerate() {
            for b in &ranges[i + 1..] {
                // Both sides, as the kernel checks them: ids are translated in both
                // directions, and each id must have one answer. Ranges are half-open,
                // [first, end): two meet when each starts before the other ends.
                let overlap = |a0: u64, a1: u64, b0: u64, b1: u64| a0 < b1 && b0 < a1;
                let side = if overlap(
                    a.inside as u64,
                    a.inside_end(),
                    b.inside as u64,
                    b.inside_end(),
                ) {
                    "container"
                } else if overlap(
                    a.outside as u64,
                    a.outside_end(),
                    b.outside as u64,
                    b.outside_end(),
                ) {
                    "host"
                } else {
                    continue;
                };
                return Err(IdMapError::Overlap {
                    flag,
                    a: *a,
                    b: *b,
                    side,
                });
            }
        }
        let map = IdMap { kind, ranges };
        // Ours, not the kernel's: the child's setresuid(0) (userns.rs) fails with
        // EINVAL when uid 0 is not valid in its namespace (setresuid(2)).
        if map.outside(0).is_none() {
            return Err(IdMapError::RootNotMapped {
                flag,
                kind: kind.short(),
            });
        }
        Ok(map)
    }

    /// The lines to write into `/proc/PID/uid_map` (or `gid_map`).
    ///
    /// All of it goes in one write(2) at offset 0, each line ended by a newline:
    /// the kernel reads a map from a single write (user_namespaces(7)).
    pub fn file_contents(&self) -> String {
        self.ranges
            .iter()
            .map(|r| format!("{} {} {}\n", r.inside, r.outside, r.count))
            .collect()
    }

    /// The arguments newuidmap/newgidmap take after the pid.
    /// The same triples, flattened: `newuidmap PID UID LOWERUID COUNT ...`,
    /// as newuidmap(1) and newgidmap(1) take them.
    pub fn helper_args(&self) -> Vec<String> {
        self.ranges
            .iter()
            .flat_map(|r| [r.inside, r.outside, r.count])
            .map(|n| n.to_string())
            .collect()
    }

    /// The host id of container id `inside`, if it is mapped.
    pub fn outside(&self, inside: u32) -> Option<u32> {
        self.ranges
            .iter()
            .find(|r| (r.inside as u64..r.inside_end()).contains(&(inside as u64)))
            .map(|r| r.outside + (inside - r.inside))
    }

    /// Whether this map is one an unprivileged process may write itself:
    /// one line, one id, its own.
    ///
    /// The kernel's own rule (user_namespaces(7)): without CAP_SETUID in the
    /// parent namespace, a map is one line mapping the writer's effective id.
    pub fn is_only(&self, own: u32) -> bool {
        matches!(self.ranges[..], [IdRange { outside, count: 1, .. }] if outside == own)
    }

    /// Checks that every host id in the map is `own` or delegated to the
    /// caller in `subids` (the caller's ranges from /etc/subuid or subgid).
    pub fn check_allowed(
        &self,
        user: &str,
        own: u32,
        subids: &[(u32, u32)],
    ) -> Result<(), IdMapError> {
        // newuidmap(1)'s test, made first so that the error can say what is
        // allowed: the caller's own id alone, or within a range delegated to it.
        let covered = |first: u64, end: u64| {
            (first == own as u64 && end == own as u64 + 1)
                || subids.iter().any(|&(start, count)| {
                    first >= start as u64 && end <= start as u64 + count as u64
                })
        };
        for r in &self.ranges {
            if !covered(r.outside as u64, r.outside_end()) {
                let allowed = if subids.is_empty() {
                    "none".to_string()
                } else {
                    subids
                        .iter()
                        .map(|(s, c)| format!("{s}-{}", *s as u64 + *c as u64 - 1))
                        .collect::<Vec<_>>()
                        .join(", ")
                };
                return Err(IdMapError::NotAllowed {
                    flag: self.kind.flag(),
                    kind: self.kind.short(),
                    first: r.outside as u64,
                    last: r.outside_end() - 1,
                    user: user.to_string(),
                    own,
                    file: self.kind.subid_file(),
                    allowed,
                });
            }
        }
        Ok(())
    }

    /// Users or groups.
    pub fn kind(&self) -> IdKind {
        self.kind
    }
}

/// The ranges delegated to `user` (or to its numeric id) in the text of
/// /etc/subuid or /etc/subgid: lines of `NAME:START:COUNT`.
pub fn subids_for(text: &str, user: &str, id: u32) -> Vec<(u32, u32)> {
    text.lines()
        .filter_map(|line| {
            let mut fields = line.trim().split(':');
            let (who, start, count) = (fields.next()?, fields.next()?, fields.next()?);
            // shadow's helpers accept a line that names the user or its numeric id.
            (who == user || who == id.to_string())
                .then(|| Some((start.parse().ok()?, count.parse().ok()?)))
                .flatten()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(s: &str) -> IdRange {
        s.parse().unwrap()
    }

    #[test]
    fn ranges_parse_and_refuse_nonsense() {
        assert_eq!(range("0:1000:1"), IdRange::one(0, 1000));
        assert!(
            "0:1000"
                .parse::<IdRange>()
                .unwrap_err()
                .contains("CONTAINER:HOST:COUNT")
        );
        assert!("0:x:1".parse::<IdRange>().unwrap_err().contains("HOST"));
        assert!(
            "0:1000:0"
                .parse::<IdRange>()
                .unwrap_err()
                .contains("at least 1")
        );
        assert!("0:4294967295:1".parse::<IdRange>().is_err());
    }

    #[test]
    fn overlaps_are_refused_on_either_side() {
        let err =
            IdMap::new(IdKind::User, vec![range("0:1000:10"), range("5:2000:10")]).unwrap_err();
        assert!(
            err.to_string().contains("overlap on the container side"),
            "{err}"
        );
        let err =
            IdMap::new(IdKind::User, vec![range("0:1000:10"), range("10:1005:10")]).unwrap_err();
        assert!(
            err.to_string().contains("overlap on the host side"),
            "{err}"
        );
        assert!(IdMap::new(IdKind::User, vec![range("0:1000:10"), range("10:1010:10")]).is_ok());
    }

    #[test]
    fn root_must_be_mapped() {
        let err = IdMap::new(IdKind::Group, vec![range("1:1000:1")]).unwrap_err();
        assert!(
            err.to_string().contains("--gid-map: container gid 0"),
            "{err}"
        );
    }

    #[test]
    fn map_file_and_lookups() {
        let map = IdMap::new(
            IdKind::User,
            vec![range("0:1000:1"), range("1:100000:65536")],
        )
        .unwrap();
        assert_eq!(map.file_contents(), "0 1000 1\n1 100000 65536\n");
        assert_eq!(
            map.helper_args(),
            ["0", "1000", "1", "1", "100000", "65536"]
        );
        assert_eq!(map.outside(0), Some(1000));
        assert_eq!(map.outside(2), Some(100001));
        assert_eq!(map.outside(65537), None);
        assert!(!map.is_only(1000));
        assert!(
            IdMap::new(IdKind::User, vec![range("0:1000:1")])
                .unwrap()
                .is_only(1000)
        );
    }

    #[test]
    fn only_own_and_delegated_ids_are_allowed() {
        let subids = subids_for(
            "ada:100000:65536\nbob:165536:65536\n1000:300000:10\n",
            "ada",
            1000,
        );
        assert_eq!(subids, [(100000, 65536), (300000, 10)]);
        let ok = IdMap::new(
            IdKind::User,
            vec![range("0:1000:1"), range("1:100000:65536")],
        )
        .unwrap();
        assert!(ok.check_allowed("ada", 1000, &subids).is_ok());
        let bad = IdMap::new(IdKind::User, vec![range("0:1000:1"), range("1:165536:10")]).unwrap();
        let err = bad
            .check_allowed("ada", 1000, &subids)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("host uids 165536-165545 are not yours"),
            "{err}"
        );
        assert!(err.contains("100000-165535"), "{err}");
    }
}
