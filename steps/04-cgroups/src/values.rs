//! The values of step 04's flags, as Docker reads them: sizes with units
//! (`64m`), numbers of CPUs (`0.5`), shares, a number of processes. Each
//! is checked as it is parsed, so a value the kernel would refuse (or that
//! would overflow on the way) is a one-line error naming the flag, before
//! anything is made.

use std::fmt;

/// The smallest memory limit we accept: below it a container cannot even
/// start its first process (Docker's minimum is 6 MiB).
pub const MIN_MEMORY: u64 = 4 * 1024 * 1024;

/// The swap part of `--memory-swap`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Swap {
    /// `-1`: as much swap as the host has.
    Unlimited,
    /// Memory plus swap, in bytes (Docker's meaning of `--memory-swap`).
    Total(u64),
}

/// A size in bytes that prints the way people write it (`64 MiB`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Size(pub u64);

impl fmt::Display for Size {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Largest unit first, so that 2048 MiB prints as 2 GiB.
        let units = [("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)];
        for (unit, scale) in units {
            if self.0 >= scale {
                let value = self.0 as f64 / scale as f64;
                // Whole when it divides evenly (16 MiB), one decimal otherwise
                // (1.5 MiB): a limit reads back as it was given.
                return if self.0.is_multiple_of(scale) {
                    write!(f, "{} {unit}", self.0 / scale)
                } else {
                    write!(f, "{value:.1} {unit}")
                };
            }
        }
        write!(f, "{} B", self.0)
    }
}

// ANCHOR: parse_size
/// Parses a size as Docker does: a number with an optional unit `b`, `k`,
/// `m` or `g` (powers of 1024), e.g. `64m`. `12XB` is refused.
pub fn parse_size(text: &str) -> Result<u64, String> {
    // Units in either case, as Docker takes them: 1G is 1g.
    let lower = text.trim().to_ascii_lowercase();
    // Digits only, so a sign falls into the unit and is refused: "-5m"
    // is no size, and no negative number ever reaches a limit file.
    let (digits, scale) = match lower.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        None => (lower.as_str(), 1),
        Some((i, _)) => {
            let scale = match &lower[i..] {
                "b" => 1,
                // Powers of 1024 however spelled: "64mb" is 64 MiB, as in Docker.
                "k" | "kb" => 1 << 10,
                "m" | "mb" => 1 << 20,
                "g" | "gb" => 1 << 30,
                unit => {
                    return Err(format!(
                        "{text:?}: unknown unit {unit:?}; use a number with b, k, m or g (e.g. 64m)"
                    ));
                }
            };
            (&lower[..i], scale)
        }
    };
    let number: u64 = digits.parse().map_err(|_| {
        format!("{text:?} is not a size; use a number with b, k, m or g (e.g. 64m)")
    })?;
    // The kernel counts memory in a signed 64-bit number of bytes at most;
    // more would wrap (or panic here, as 9999999999g once did).
    number
        .checked_mul(scale)
        .filter(|&bytes| bytes <= MAX_SIZE)
        .ok_or_else(|| format!("{text:?} is too large: at most {}", Size(MAX_SIZE)))
}

/// The largest size the flags take: 2^62 bytes (4 EiB), far above any
/// machine, and small enough to double for `memory.memsw` without overflow.
pub const MAX_SIZE: u64 = 1 << 62;
// ANCHOR_END: parse_size

/// `--memory`: a size of at least [`MIN_MEMORY`].
pub fn parse_memory(text: &str) -> Result<u64, String> {
    let bytes = parse_size(text)?;
    if bytes < MIN_MEMORY {
        return Err(format!(
            "{text:?} is too little: a container needs at least {}",
            Size(MIN_MEMORY)
        ));
    }
    Ok(bytes)
}

/// `--memory-swap`: a size, or -1 for unlimited swap.
pub fn parse_swap(text: &str) -> Result<Swap, String> {
    // Before parse_size, whose digits-only rule would refuse the sign.
    if text.trim() == "-1" {
        return Ok(Swap::Unlimited);
    }
    parse_size(text).map(Swap::Total)
}

/// `--cpus`: a positive number, at most the CPUs this machine has.
pub fn parse_cpus(text: &str) -> Result<f64, String> {
    let cpus: f64 = text
        .parse()
        .map_err(|_| format!("{text:?} is not a number of CPUs (e.g. 0.5)"))?;
    // The CPUs this process may use (its affinity mask, capped by its own
    // cgroup's quota), which may be fewer than the machine has.
    let available = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
    // "inf" and "NaN" parse as f64, and are no number of CPUs. 0.01 CPUs
    // is 1 ms per 100 ms period, the smallest quota the kernel takes
    // (Documentation/scheduler/sched-bwc.rst).
    if !(cpus.is_finite() && cpus >= 0.01) {
        return Err(format!("{text:?}: give at least 0.01 CPUs"));
    }
    // A quota above what the machine has could never bind; Docker refuses
    // it too.
    if cpus > available {
        return Err(format!("{text:?}: this machine has only {available} CPUs"));
    }
    Ok(cpus)
}

/// `--cpu-shares`: 2 to 262144, as the kernel takes for cpu.shares.
pub fn parse_shares(text: &str) -> Result<u64, String> {
    match text.parse::<u64>() {
        // MIN_SHARES and MAX_SHARES (1 << 18) in kernel/sched: the kernel
        // clamps anything else silently, so it is refused here instead.
        Ok(shares @ 2..=262_144) => Ok(shares),
        _ => Err(format!(
            "{text:?}: cpu shares go from 2 to 262144 (the default is 1024)"
        )),
    }
}

/// The most processes Linux allows at all (PID_MAX_LIMIT, see proc(5)'s
/// pid_max); `pids.max` refuses more.
pub const MAX_PIDS: u64 = 4 * 1024 * 1024;

/// `--pids-limit`: at least 1 (0 would not even allow the container's own process).
pub fn parse_pids(text: &str) -> Result<u64, String> {
    match text.parse::<u64>() {
        Ok(0) => {
            Err("0 would not allow even the container's first process; give at least 1".into())
        }
        Ok(pids) if pids > MAX_PIDS => Err(format!(
            "{text:?} is more than a system can have ({MAX_PIDS}, the kernel's PID_MAX_LIMIT); \
             leave --pids-limit out for no limit"
        )),
        Ok(pids) => Ok(pids),
        Err(_) => Err(format!("{text:?} is not a number of processes")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1 << 20;

    #[test]
    fn sizes_parse_like_docker() {
        assert_eq!(parse_size("64m"), Ok(64 * MIB));
        assert_eq!(parse_size("1G"), Ok(1 << 30));
        assert_eq!(parse_size("512k"), Ok(512 << 10));
        assert_eq!(parse_size("100"), Ok(100));
        assert_eq!(parse_size("15mb"), Ok(15 * MIB));
        assert!(
            parse_size("12XB")
                .unwrap_err()
                .contains("unknown unit \"xb\"")
        );
        assert!(parse_size("m").is_err());
        assert!(parse_size("-5m").is_err());
        assert!(parse_memory("1m").unwrap_err().contains("at least 4 MiB"));
    }

    #[test]
    fn bad_values_are_refused() {
        assert!(parse_cpus("-1").is_err());
        assert!(parse_cpus("0").is_err());
        assert!(parse_cpus("abc").is_err());
        assert!(
            parse_cpus("1000")
                .unwrap_err()
                .contains("this machine has only")
        );
        assert_eq!(parse_cpus("0.5"), Ok(0.5));
        assert!(parse_pids("0").is_err());
        assert_eq!(parse_pids("10"), Ok(10));
        assert!(parse_shares("1").is_err());
        assert_eq!(parse_shares("512"), Ok(512));
        assert_eq!(parse_swap("-1"), Ok(Swap::Unlimited));
    }

    #[test]
    fn sizes_print_for_people() {
        assert_eq!(Size(16 * MIB).to_string(), "16 MiB");
        assert_eq!(Size(1536 * 1024).to_string(), "1.5 MiB");
        assert_eq!(Size(100).to_string(), "100 B");
    }
}
