//! One line of an id map, `CONTAINER:HOST:COUNT`, as `--uid-map` takes it
//! and /proc/PID/uid_map wants it (user_namespaces(7)).

use std::fmt;
use std::str::FromStr;

/// One line of a map: `count` ids from `inside` are `outside` on the host.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IdRange {
    /// The first id in the container.
    pub inside: u32,
    /// The first id on the host.
    pub outside: u32,
    /// How many ids.
    pub count: u32,
}

impl IdRange {
    /// One id: `inside` is `outside` on the host.
    pub fn one(inside: u32, outside: u32) -> Self {
        IdRange {
            inside,
            outside,
            count: 1,
        }
    }

    /// One past the last container id. A u64, because `inside + count` may be
    /// 2^32, one more than a u32 holds.
    pub(crate) fn inside_end(&self) -> u64 {
        self.inside as u64 + self.count as u64
    }

    /// One past the last host id (a u64, as above).
    pub(crate) fn outside_end(&self) -> u64 {
        self.outside as u64 + self.count as u64
    }
}

/// Back in the form the user typed, for errors that name a range.
impl fmt::Display for IdRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.inside, self.outside, self.count)
    }
}

/// `CONTAINER:HOST:COUNT`, as `--uid-map` and `--gid-map` take it.
impl FromStr for IdRange {
    // Just a message: clap prints it after the flag and the value it refused.
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let parts: Vec<_> = s.split(':').collect();
        // The order of a uid_map line's fields: `--uid-map 0:1000:1` becomes
        // the line `0 1000 1`.
        let [inside, outside, count] = parts[..] else {
            return Err(format!(
                "expected CONTAINER:HOST:COUNT (e.g. 0:1000:1), got {s:?}"
            ));
        };
        let number = |what: &str, text: &str| {
            // Ids are 32-bit (uid_t): a negative number or a larger one is
            // refused here, with the field's name, not by the kernel later.
            text.parse::<u32>()
                .map_err(|_| format!("{what} in {s:?} is not a number from 0 to 4294967295"))
        };
        let range = IdRange {
            inside: number("CONTAINER", inside)?,
            outside: number("HOST", outside)?,
            count: number("COUNT", count)?,
        };
        // The kernel refuses a line whose COUNT is 0 (user_namespaces(7):
        // "the last field must be greater than 0").
        if range.count == 0 {
            return Err(format!("COUNT in {s:?} must be at least 1"));
        }
        // Id 4294967295 (-1) means "no id" to the kernel and cannot be mapped.
        // (setreuid(2), for one, takes -1 as "leave this id unchanged".)
        // The ends are u64, so a range cannot wrap around to 0 and pass.
        if range.inside_end() > u32::MAX as u64 || range.outside_end() > u32::MAX as u64 {
            return Err(format!("{s:?} reaches past the largest id, 4294967294"));
        }
        Ok(range)
    }
}
