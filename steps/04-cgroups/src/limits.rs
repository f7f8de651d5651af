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

use crate::values::Size;
pub use crate::values::Swap;

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
        // EXERCISE 04: which file of which controller gets which value, on cgroup v2 and on v1
        // HINT: v2: memory.max, memory.swap.max (total minus memory), memory.low, cpu.max ("QUOTA PERIOD"), cpu.weight.
        // HINT: v1: memory.limit_in_bytes, memory.memsw.limit_in_bytes (memory plus swap), cpu.cfs_period_us/cfs_quota_us, cpu.shares.
        // HINT: pids.max is the same file on both; quota_us() and shares_to_weight() are below.
        // CHECK: --lib limits::tests::v2_files_and_values | the v2 files and values
        // CHECK: --lib limits::tests::v1_files_and_values | the v1 files and values
        // CHECK: --lib limits::tests::v2_swap_follows_docker | swap on v2 as Docker sets it
        // CHECK: --test cgroups a_memory_hog_is_oom_killed_and_reported | a container over its memory limit is killed
        // CHECK: --test cgroups reservation_and_shares_land_in_the_right_files | reservation and shares land in the right files
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
        // END EXERCISE
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
}
