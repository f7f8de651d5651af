//! The default mapping when the runtime is real root: a range of host ids
//! nobody uses, never host root itself.
//!
//! Mapping container root to host root would make the user namespace a
//! costume: every file the host's root owns (`/proc/sys/kernel/core_pattern`,
//! a cgroup's `memory.limit_in_bytes`) checks permissions by uid, and uid 0
//! would pass. So, like Docker's `--userns-remap=default` and Podman's
//! `--userns=auto`, root's containers get *subordinate* ids: the range
//! `/etc/subuid` and `/etc/subgid` delegate to `root` (subuid(5)). When root
//! has none, we add one, [`DEFAULT_COUNT`] ids at the first free place from
//! [`FIRST_START`] on, as useradd(8) does for a new user.
//!
//! Container id 0 is then host id START, 1 is START+1, and so on: a process
//! that leaves the container through some hole is an ordinary, unused user
//! on the host.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::idmap::{IdKind, IdRange};

/// How many ids a container gets: 0..=65535, as an image's files expect.
pub const DEFAULT_COUNT: u32 = 65536;

/// Where new ranges start, as SUB_UID_MIN in login.defs(5).
pub const FIRST_START: u32 = 100_000;

/// Ids to add to /etc/subuid (or subgid) for root, before the first run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Grant {
    /// The file to append to.
    pub file: PathBuf,
    /// The line to append, `root:START:COUNT`.
    pub line: String,
}

impl Grant {
    /// Appends the line, one run at a time (a lock of ours; useradd(8)
    /// takes its own, so do not add users while a first run starts), unless
    /// a run before us did. A file whose last line lacks its newline gets
    /// one first: `ada:100000:65536root:...` would break both entries.
    pub fn record(&self) -> std::io::Result<()> {
        let lock = std::fs::File::create("/run/lock/container-workshop-subid")
            .or_else(|_| std::fs::File::open("/"))?; // no /run/lock: unlocked
        let _held = nix::fcntl::Flock::lock(lock, nix::fcntl::FlockArg::LockExclusive)
            .map_err(|(_, errno)| std::io::Error::from(errno))?;
        let text = match std::fs::read_to_string(&self.file) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => return Err(e),
        };
        if root_range(&text).is_some() {
            return Ok(());
        }
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(&self.file)?;
        let newline = if text.is_empty() || text.ends_with('\n') {
            ""
        } else {
            "\n"
        };
        file.write_all(format!("{newline}{}\n", self.line).as_bytes())
    }
}

/// Root's range in the text of a subordinate id file: the first `root:`
/// (or `0:`) line, at most [`DEFAULT_COUNT`] ids of it. `None` if there is
/// none, so one must be granted.
pub fn root_range(text: &str) -> Option<(u32, u32)> {
    crate::idmap::subids_for(text, "root", 0)
        .into_iter()
        // A range from 0 would make container root host root again.
        .find(|&(start, count)| count > 0 && start > 0)
        .map(|(start, count)| (start, count.min(DEFAULT_COUNT)))
}

/// The first place from [`FIRST_START`] on, in steps of [`DEFAULT_COUNT`],
/// where a range of that size overlaps no line of `text` and none of the
/// `known` ids (users in /etc/passwd, groups in /etc/group).
pub fn free_range(text: &str, known: &[u32]) -> Option<u32> {
    let mut taken: Vec<(u64, u64)> = text
        .lines()
        .filter_map(|line| {
            let mut fields = line.trim().split(':').skip(1);
            let start: u64 = fields.next()?.parse().ok()?;
            let count: u64 = fields.next()?.parse().ok()?;
            Some((start, start + count))
        })
        .collect();
    taken.extend(known.iter().map(|&id| (id as u64, id as u64 + 1)));
    let mut start = FIRST_START as u64;
    let count = DEFAULT_COUNT as u64;
    while start + count < u32::MAX as u64 {
        if taken.iter().all(|&(a, b)| start + count <= a || b <= start) {
            return Some(start as u32);
        }
        start += count;
    }
    None
}

/// Root's range for `kind`, read from `file`: the one it has, or a new one
/// and the [`Grant`] that records it.
pub fn for_root(kind: IdKind, file: &Path) -> Result<(IdRange, Option<Grant>), RemapError> {
    let text = match std::fs::read_to_string(file) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(source) => {
            return Err(RemapError::Read {
                file: file.into(),
                source,
            });
        }
    };
    if let Some((start, count)) = root_range(&text) {
        return Ok((range(start, count), None));
    }
    let start = free_range(&text, &known_ids(kind)).ok_or_else(|| RemapError::Full {
        file: file.into(),
        kind: kind.short(),
    })?;
    let grant = Grant {
        file: file.into(),
        line: format!("root:{start}:{DEFAULT_COUNT}"),
    };
    Ok((range(start, DEFAULT_COUNT), Some(grant)))
}

/// The ids /etc/passwd (or /etc/group) gives out: a new range avoids them.
fn known_ids(kind: IdKind) -> Vec<u32> {
    let file = match kind {
        IdKind::User => "/etc/passwd",
        IdKind::Group => "/etc/group",
    };
    std::fs::read_to_string(file)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split(':').nth(2)?.parse().ok())
        .collect()
}

fn range(outside: u32, count: u32) -> IdRange {
    IdRange {
        inside: 0,
        outside,
        count,
    }
}

/// Why root's range could not be found or made.
#[derive(Debug, thiserror::Error)]
pub enum RemapError {
    /// The file is there but unreadable.
    #[error(
        "reading {file}: {source}\n  hint: fix its permissions, or pass --userns=host to map root to root (unsafe)"
    )]
    Read {
        file: PathBuf,
        source: std::io::Error,
    },
    /// No room for another range.
    #[error(
        "{file}: no free range of {DEFAULT_COUNT} {kind}s is left for root\n  \
         hint: add one yourself (usermod --add-sub{kind}s START-END root)"
    )]
    Full { file: PathBuf, kind: &'static str },
}

impl From<RemapError> for crate::idmap::IdMapError {
    fn from(err: RemapError) -> Self {
        crate::idmap::IdMapError::Remap(Box::new(err))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roots_own_range_is_used_when_there_is_one() {
        assert_eq!(
            root_range("ada:100000:65536\nroot:300000:70000\n"),
            Some((300000, 65536))
        );
        assert_eq!(root_range("0:400000:1000\n"), Some((400000, 1000)));
        assert_eq!(root_range("ada:100000:65536\n"), None);
    }

    #[test]
    fn a_new_range_overlaps_no_one() {
        assert_eq!(free_range("", &[]), Some(100000));
        assert_eq!(free_range("ada:100000:65536\n", &[]), Some(165536));
        assert_eq!(
            free_range("ada:100000:65536\nbob:200000:10\n", &[]),
            Some(231072)
        );
        assert_eq!(free_range("all:0:4294967295\n", &[]), None);
        assert_eq!(
            free_range("", &[1000, 120000]),
            Some(165536),
            "a user at 120000"
        );
        assert_eq!(root_range("root:0:65536\n"), None, "never from host root");
    }

    #[test]
    fn a_missing_file_gets_a_grant() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("subuid");
        let (range, grant) = for_root(IdKind::User, &file).unwrap();
        assert_eq!(
            (range.inside, range.outside, range.count),
            (0, 100000, 65536)
        );
        let grant = grant.expect("a grant");
        assert_eq!(grant.line, "root:100000:65536");
        grant.record().unwrap();
        let (again, none) = for_root(IdKind::User, &file).unwrap();
        assert_eq!(again, range);
        assert_eq!(none, None, "the range is recorded once");
    }
}
