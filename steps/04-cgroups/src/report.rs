//! After the container: what it used, read from the cgroup's own files
//! before the cgroup is removed. The kernel keeps these counters for us:
//!
//! | what | v1 | v2 |
//! |---|---|---|
//! | peak memory | `memory.max_usage_in_bytes` | `memory.peak` (Linux 5.19+) |
//! | OOM kills | `oom_kill` in `memory.oom_control` | `oom_kill` in `memory.events` |
//! | CPU time | `cpuacct.usage` (ns) | `usage_usec` in `cpu.stat` |
//! | pids limit hit | `max` in `pids.events` | `max` in `pids.events` |
//! | peak pids | - | `pids.peak` (Linux 6.1+) |

use std::fs;
use std::path::Path;
use std::time::Duration;
use step01_chroot::cli::eprintln_or_not;

use colored::Colorize;

use crate::limits::{Limits, Version};
use crate::values::Size;

/// What the container used, as far as the kernel told us.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Report {
    /// The memory limit, if there was one.
    pub memory_limit: Option<u64>,
    /// The most memory it used at once.
    pub memory_peak: Option<u64>,
    /// How many of its processes the OOM killer killed.
    pub oom_kills: u64,
    /// CPU time used, user and system together.
    pub cpu_time: Option<Duration>,
    /// The pids limit, if there was one.
    pub pids_limit: Option<u64>,
    /// How often a fork failed because of the pids limit.
    pub pids_limit_hits: u64,
    /// The most processes at once (v2's `pids.peak`, Linux 6.1+; v1 has none).
    pub pids_peak: Option<u64>,
}

/// The value of `key` in a flat-keyed file (`memory.events`, `cpu.stat`).
fn keyed(dir: &Path, file: &str, key: &str) -> Option<u64> {
    // A missing file (an older kernel, a controller not there) means no figure,
    // not an error: the report leaves that line out.
    let text = fs::read_to_string(dir.join(file)).ok()?;
    // One "KEY VALUE" a line ("Flat keyed" in the kernel's cgroup-v2.rst);
    // v1's memory.oom_control has the same shape.
    text.lines().find_map(|line| {
        let (k, v) = line.split_once(' ')?;
        (k == key).then(|| v.trim().parse().ok()).flatten()
    })
}

/// A file that holds one number.
fn number(dir: &Path, file: &str) -> Option<u64> {
    // trim(): the kernel ends the value with a newline.
    fs::read_to_string(dir.join(file)).ok()?.trim().parse().ok()
}

impl Report {
    /// Reads the counters from the container's cgroup directories:
    /// `memory`, `cpu` (with `cpuacct` on v1) and `pids` may be one
    /// directory (v2) or several (v1).
    pub fn read(version: Version, limits: &Limits, memory: &Path, cpu: &Path, pids: &Path) -> Self {
        // Same facts, different files and units per version (the table above).
        let (memory_peak, oom_kills, cpu_time) = match version {
            Version::V2 => (
                // Absent before Linux 5.19: then the report has no memory line.
                number(memory, "memory.peak"),
                // "oom_kill" counts processes killed; "oom" counts times the limit
                // was hit, which need not kill anyone (cgroup-v2.rst, memory.events).
                keyed(memory, "memory.events", "oom_kill").unwrap_or(0),
                // usage_usec is user and system time together, in microseconds.
                keyed(cpu, "cpu.stat", "usage_usec").map(Duration::from_micros),
            ),
            Version::V1 => (
                number(memory, "memory.max_usage_in_bytes"),
                keyed(memory, "memory.oom_control", "oom_kill").unwrap_or(0),
                // v1 counts CPU time in nanoseconds (cgroup-v1/cpuacct.rst).
                number(cpu, "cpuacct.usage").map(Duration::from_nanos),
            ),
        };
        Report {
            memory_limit: limits.memory,
            memory_peak,
            oom_kills,
            cpu_time,
            pids_limit: limits.pids,
            // pids.events has the same key on v1 and v2.
            pids_limit_hits: keyed(pids, "pids.events", "max").unwrap_or(0),
            // v2 only, Linux 6.1+: None elsewhere, and the line is left out.
            pids_peak: number(pids, "pids.peak"),
        }
    }

    /// The report as the learner reads it, one fact a line.
    pub fn lines(&self) -> Vec<String> {
        let mut lines = Vec::new();
        match (self.memory_peak, self.memory_limit) {
            (Some(peak), Some(limit)) => lines.push(format!(
                "memory: peak {}, limit {}",
                Size(peak),
                Size(limit)
            )),
            (Some(peak), None) => lines.push(format!("memory: peak {}, no limit", Size(peak))),
            (None, _) => {}
        }
        if let Some(cpu) = self.cpu_time {
            lines.push(format!("cpu time: {:.3} s", cpu.as_secs_f64()));
        }
        if let Some(peak) = self.pids_peak {
            lines.push(format!("pids: peak {peak}"));
        }
        if let Some(limit) = self.pids_limit {
            if self.pids_limit_hits > 0 {
                lines.push(format!(
                    "pids: the limit of {limit} was hit {} times: those forks failed",
                    self.pids_limit_hits
                ));
            } else {
                lines.push(format!("pids: limit {limit}, never reached"));
            }
        }
        // A process the OOM killer hit dies of SIGKILL (137 for PID 1),
        // with no word of why: this line says who sent it.
        if self.oom_kills > 0 {
            let limit = self
                .memory_limit
                .map_or("its memory limit".to_string(), |l| {
                    format!("memory limit {}", Size(l))
                });
            lines.push(format!("killed by the OOM killer ({limit})"));
        }
        lines
    }

    /// Prints the report on stderr, the OOM kill loudly.
    pub fn print(&self, version: Version) {
        let name = match version {
            Version::V1 => "v1",
            Version::V2 => "v2",
        };
        // On stderr, like the trace: the command's stdout stays its own.
        eprintln_or_not(format_args!(
            "{}",
            format!("── cgroup report ({name}) ──").bold()
        ));
        for line in self.lines() {
            // Red: these two explain a failure the command shows only as an
            // exit code or a "can't fork".
            if line.starts_with("killed by the OOM killer") || line.starts_with("pids: the limit") {
                eprintln_or_not(format_args!("  {}", line.red().bold()));
            } else {
                eprintln_or_not(format_args!("  {line}"));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_are_read_from_v2_files() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path();
        fs::write(p.join("memory.peak"), "16777216\n").unwrap();
        fs::write(
            p.join("memory.events"),
            "low 0\nhigh 0\nmax 12\noom 1\noom_kill 1\n",
        )
        .unwrap();
        fs::write(p.join("cpu.stat"), "usage_usec 612000\nuser_usec 600000\n").unwrap();
        fs::write(p.join("pids.events"), "max 42\n").unwrap();
        fs::write(p.join("pids.peak"), "10\n").unwrap();
        let limits = Limits {
            memory: Some(16 << 20),
            pids: Some(10),
            ..Default::default()
        };
        let report = Report::read(Version::V2, &limits, p, p, p);
        assert_eq!(
            report.lines(),
            [
                "memory: peak 16 MiB, limit 16 MiB",
                "cpu time: 0.612 s",
                "pids: peak 10",
                "pids: the limit of 10 was hit 42 times: those forks failed",
                "killed by the OOM killer (memory limit 16 MiB)",
            ]
        );
    }

    #[test]
    fn counters_are_read_from_v1_files() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path();
        fs::write(p.join("memory.max_usage_in_bytes"), "1048576\n").unwrap();
        fs::write(
            p.join("memory.oom_control"),
            "oom_kill_disable 0\nunder_oom 0\noom_kill 0\n",
        )
        .unwrap();
        fs::write(p.join("cpuacct.usage"), "2500000000\n").unwrap();
        let report = Report::read(Version::V1, &Limits::default(), p, p, p);
        assert_eq!(
            report.lines(),
            ["memory: peak 1 MiB, no limit", "cpu time: 2.500 s"]
        );
    }
}
