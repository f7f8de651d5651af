//! Resource limits: the flags Docker users know, checked, and turned into
//! the cgroup files that enforce them, for cgroup v1 and for v2.
//!
//! This module only *computes*: which file gets which value. It runs
//! nowhere near a cgroup, so every mapping is unit-tested without root.
//!
//! | flag | v1 file | v2 file |
//! |---|---|---|
//! | `--memory` | `memory.limit_in_bytes` | `memory.max` |
//! | `--memory-swap` (memory + swap) | `memory.memsw.limit_in_bytes` | `memory.swap.max` (swap alone) |
//! | `--memory-reservation` | `memory.soft_limit_in_bytes` | `memory.low` |
//! | `--cpus` | `cpu.cfs_quota_us` + `cpu.cfs_period_us` | `cpu.max` |
//! | `--cpu-shares` | `cpu.shares` | `cpu.weight` |
//! | `--pids-limit` | `pids.max` | `pids.max` |

use std::fmt;

/// The smallest memory limit we accept: below it a container cannot even
/// start its first process (Docker's minimum is 6 MiB).
pub const MIN_MEMORY: u64 = 4 * 1024 * 1024;

/// The CFS period: quotas are "microseconds of CPU per 100 ms".
pub const CPU_PERIOD_US: u64 = 100_000;

/// A controller, as the kernel names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Controller {
    /// memory
    Memory,
    /// cpu
    Cpu,
    /// cpuacct (v1 only: CPU time accounting)
    CpuAcct,
    /// pids
    Pids,
}

impl Controller {
    /// The kernel's name for it (`memory`, `cpu`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Controller::Memory => "memory",
            Controller::Cpu => "cpu",
            Controller::CpuAcct => "cpuacct",
            Controller::Pids => "pids",
        }
    }
}

/// Which cgroup interface the host has.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Version {
    /// One hierarchy per controller (`/sys/fs/cgroup/memory/...`).
    V1,
    /// One unified hierarchy (`/sys/fs/cgroup/...`).
    V2,
}

/// The swap part of `--memory-swap`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Swap {
    /// `-1`: as much swap as the host has.
    Unlimited,
    /// Memory plus swap, in bytes (Docker's meaning of `--memory-swap`).
    Total(u64),
}

/// The limits asked for on the command line, already checked.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Limits {
    /// `--memory`, in bytes.
    pub memory: Option<u64>,
    /// `--memory-swap`.
    pub memory_swap: Option<Swap>,
    /// `--memory-reservation`, in bytes.
    pub memory_reservation: Option<u64>,
    /// `--cpus`: how many CPUs' worth of time per period.
    pub cpus: Option<f64>,
    /// `--cpu-shares`: relative weight, 2 to 262144 (v1 units).
    pub cpu_shares: Option<u64>,
    /// `--pids-limit`: the most processes and threads at once.
    pub pids: Option<u64>,
}

/// A limit that makes no sense, found before anything was created.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum LimitError {
    /// `--memory-swap` without `--memory`.
    #[error("--memory-swap needs --memory: it is the total of memory and swap")]
    SwapWithoutMemory,
    /// `--memory-swap` below `--memory`.
    #[error(
        "--memory-swap ({swap}) is less than --memory ({memory}); it is memory plus swap, \
         so give at least {memory} (equal means: no swap)"
    )]
    SwapBelowMemory { swap: Size, memory: Size },
    /// `--memory-reservation` above `--memory`.
    #[error("--memory-reservation ({reservation}) must not exceed --memory ({memory})")]
    ReservationAboveMemory { reservation: Size, memory: Size },
}

/// A size in bytes that prints the way people write it (`64 MiB`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Size(pub u64);

impl fmt::Display for Size {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let units = [("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)];
        for (unit, scale) in units {
            if self.0 >= scale {
                let value = self.0 as f64 / scale as f64;
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
    let lower = text.trim().to_ascii_lowercase();
    let (digits, scale) = match lower.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        None => (lower.as_str(), 1),
        Some((i, _)) => {
            let scale = match &lower[i..] {
                "b" => 1,
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
    let available = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
    if !(cpus.is_finite() && cpus >= 0.01) {
        return Err(format!("{text:?}: give at least 0.01 CPUs"));
    }
    if cpus > available {
        return Err(format!("{text:?}: this machine has only {available} CPUs"));
    }
    Ok(cpus)
}

/// `--cpu-shares`: 2 to 262144, as the kernel takes for cpu.shares.
pub fn parse_shares(text: &str) -> Result<u64, String> {
    match text.parse::<u64>() {
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

impl Limits {
    /// Checks how the limits fit together.
    pub fn check(&self) -> Result<(), LimitError> {
        match (self.memory, self.memory_swap) {
            (None, Some(_)) => return Err(LimitError::SwapWithoutMemory),
            (Some(memory), Some(Swap::Total(total))) if total < memory => {
                return Err(LimitError::SwapBelowMemory {
                    swap: Size(total),
                    memory: Size(memory),
                });
            }
            _ => {}
        }
        if let (Some(memory), Some(reservation)) = (self.memory, self.memory_reservation)
            && reservation > memory
        {
            return Err(LimitError::ReservationAboveMemory {
                reservation: Size(reservation),
                memory: Size(memory),
            });
        }
        Ok(())
    }

    /// Whether any limit was asked for.
    pub fn any(&self) -> bool {
        *self != Limits::default()
    }

    // ANCHOR: files
    /// The files to write, in order, and their contents.
    pub fn files(&self, version: Version) -> Vec<(Controller, &'static str, String)> {
        use Controller::*;
        let mut files = Vec::new();
        let mut add = |c, file, value: String| files.push((c, file, value));
        match version {
            Version::V2 => {
                if let Some(memory) = self.memory {
                    add(Memory, "memory.max", memory.to_string());
                    // v2 counts swap on its own: the total minus the memory.
                    // Docker's default (no --memory-swap) is as much swap as memory.
                    let swap = match self.memory_swap {
                        Some(Swap::Unlimited) => "max".to_string(),
                        Some(Swap::Total(total)) => total.saturating_sub(memory).to_string(),
                        None => memory.to_string(),
                    };
                    add(Memory, "memory.swap.max", swap);
                }
                if let Some(reservation) = self.memory_reservation {
                    add(Memory, "memory.low", reservation.to_string());
                }
                if let Some(cpus) = self.cpus {
                    add(
                        Cpu,
                        "cpu.max",
                        format!("{} {CPU_PERIOD_US}", quota_us(cpus)),
                    );
                }
                if let Some(shares) = self.cpu_shares {
                    add(Cpu, "cpu.weight", shares_to_weight(shares).to_string());
                }
            }
            Version::V1 => {
                if let Some(memory) = self.memory {
                    add(Memory, "memory.limit_in_bytes", memory.to_string());
                    // v1 limits memory and swap *together* (memsw).
                    let total = match self.memory_swap {
                        Some(Swap::Unlimited) => "-1".to_string(),
                        Some(Swap::Total(total)) => total.to_string(),
                        None => memory.saturating_mul(2).to_string(),
                    };
                    add(Memory, "memory.memsw.limit_in_bytes", total);
                }
                if let Some(reservation) = self.memory_reservation {
                    add(
                        Memory,
                        "memory.soft_limit_in_bytes",
                        reservation.to_string(),
                    );
                }
                if let Some(cpus) = self.cpus {
                    add(Cpu, "cpu.cfs_period_us", CPU_PERIOD_US.to_string());
                    add(Cpu, "cpu.cfs_quota_us", quota_us(cpus).to_string());
                }
                if let Some(shares) = self.cpu_shares {
                    add(Cpu, "cpu.shares", shares.to_string());
                }
            }
        }
        if let Some(pids) = self.pids {
            add(Pids, "pids.max", pids.to_string());
        }
        files
    }
    // ANCHOR_END: files
}

/// CPU time per period for `cpus` CPUs: 0.5 CPUs is 50 ms of every 100 ms.
fn quota_us(cpus: f64) -> u64 {
    (cpus * CPU_PERIOD_US as f64).round() as u64
}

/// v1 shares (2..262144, default 1024) to v2 weight (1..10000, default
/// 100), the conversion runc and crun use.
pub fn shares_to_weight(shares: u64) -> u64 {
    1 + ((shares.clamp(2, 262_144) - 2) * 9999) / 262_142
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
    fn limits_must_fit_together() {
        let swap_only = Limits {
            memory_swap: Some(Swap::Total(64 * MIB)),
            ..Default::default()
        };
        assert_eq!(swap_only.check(), Err(LimitError::SwapWithoutMemory));
        let below = Limits {
            memory: Some(64 * MIB),
            memory_swap: Some(Swap::Total(32 * MIB)),
            ..Default::default()
        };
        assert!(
            below
                .check()
                .unwrap_err()
                .to_string()
                .contains("less than --memory (64 MiB)")
        );
        let reservation = Limits {
            memory: Some(64 * MIB),
            memory_reservation: Some(128 * MIB),
            ..Default::default()
        };
        assert!(reservation.check().is_err());
    }

    fn every_limit() -> Limits {
        Limits {
            memory: Some(64 * MIB),
            memory_swap: Some(Swap::Total(96 * MIB)),
            memory_reservation: Some(32 * MIB),
            cpus: Some(0.5),
            cpu_shares: Some(512),
            pids: Some(10),
        }
    }

    #[test]
    fn v2_files_and_values() {
        let files = every_limit().files(Version::V2);
        let expected = [
            (Controller::Memory, "memory.max", "67108864"),
            (Controller::Memory, "memory.swap.max", "33554432"),
            (Controller::Memory, "memory.low", "33554432"),
            (Controller::Cpu, "cpu.max", "50000 100000"),
            (Controller::Cpu, "cpu.weight", "20"),
            (Controller::Pids, "pids.max", "10"),
        ];
        let files: Vec<_> = files.iter().map(|(c, f, v)| (*c, *f, v.as_str())).collect();
        assert_eq!(files, expected);
    }

    #[test]
    fn v2_swap_follows_docker() {
        let mem = |swap| Limits {
            memory: Some(16 * MIB),
            memory_swap: swap,
            ..Default::default()
        };
        let swap_max = |l: Limits| l.files(Version::V2)[1].2.clone();
        // --memory-swap equal to --memory: no swap at all (Gocker's --swap=0).
        assert_eq!(swap_max(mem(Some(Swap::Total(16 * MIB)))), "0");
        assert_eq!(swap_max(mem(Some(Swap::Unlimited))), "max");
        assert_eq!(swap_max(mem(None)), (16 * MIB).to_string());
    }

    #[test]
    fn v1_files_and_values() {
        let files = every_limit().files(Version::V1);
        let expected = [
            (Controller::Memory, "memory.limit_in_bytes", "67108864"),
            (
                Controller::Memory,
                "memory.memsw.limit_in_bytes",
                "100663296",
            ),
            (Controller::Memory, "memory.soft_limit_in_bytes", "33554432"),
            (Controller::Cpu, "cpu.cfs_period_us", "100000"),
            (Controller::Cpu, "cpu.cfs_quota_us", "50000"),
            (Controller::Cpu, "cpu.shares", "512"),
            (Controller::Pids, "pids.max", "10"),
        ];
        let files: Vec<_> = files.iter().map(|(c, f, v)| (*c, *f, v.as_str())).collect();
        assert_eq!(files, expected);
    }

    #[test]
    fn shares_map_to_weights_like_runc() {
        assert_eq!(shares_to_weight(2), 1);
        assert_eq!(shares_to_weight(1024), 39);
        assert_eq!(shares_to_weight(262_144), 10_000);
    }

    #[test]
    fn sizes_print_for_people() {
        assert_eq!(Size(16 * MIB).to_string(), "16 MiB");
        assert_eq!(Size(1536 * 1024).to_string(), "1.5 MiB");
        assert_eq!(Size(100).to_string(), "100 B");
    }
}
