//! Killed at every step of the timeline: nothing is left.
//!
//! The trace names every call a run makes, in order. For each `k`, a run is
//! killed with SIGKILL right after its `k`-th trace line (a little later,
//! in truth: the runtime goes on while the signal is on its way), the next
//! run of the same step goes through, and then everything a run makes is
//! counted: mounts, cgroups, links, network namespace files, iptables rules,
//! address leases, entries of the state directory, run locks, processes.
//! Expected: nothing, after every kill. Each run happens in a network
//! namespace of the test's own, with a cgroup parent and a state directory
//! of its own.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::bounded::{ChildExt, CommandExt, Lines};
use crate::fixtures::TestNetns;
use crate::{RootfsCopy, collect, step_command_in, test_cgroup_parent};

/// One way to run a step, killed at each event.
#[derive(Debug)]
pub struct Scenario {
    /// For messages, and the names of what the scenario makes.
    pub name: &'static str,
    /// The flags of the run (the command is added).
    pub args: &'static [&'static str],
}

/// What one scenario saw.
#[derive(Debug)]
pub struct Tally {
    /// How many runs were killed.
    pub kills: usize,
    /// What was left, after which kill.
    pub leftovers: Vec<String>,
}

/// The container's command: long enough that every kill lands while the
/// runtime lives, and a mark to find its processes by.
const SLEEP: &str = "31337";

/// Kills a run of `bin` with `scenario`'s flags after each of its trace
/// events in turn, and counts what is left after the next run.
pub fn kill_at_every_event(bin: &str, scenario: &Scenario) -> Tally {
    let rootfs = RootfsCopy::new();
    let state = crate::temp_dir("state");
    let volume = crate::temp_dir("tmp");
    let netns = TestNetns::new(&format!("f-{}", scenario.name));
    let parent = format!("{}/faults-{}", test_cgroup_parent(), scenario.name);
    let args: Vec<String> = scenario
        .args
        .iter()
        .map(|a| a.replace("{volume}", &volume.path().display().to_string()))
        .collect();
    let command = |extra: &[&str]| {
        let mut cmd = step_command_in(bin, rootfs.path(), state.path());
        cmd.env("WORKSHOP_CGROUP_PARENT", &parent)
            .args(&args)
            .args(extra);
        netns.command(&cmd)
    };
    let baseline = Baseline::of(&netns, rootfs.path());
    let events = count_events(command(&["--", "/bin/sleep", SLEEP]));
    let mut tally = Tally {
        kills: 0,
        leftovers: Vec::new(),
    };
    for k in 1..=events {
        let (id, seen) = kill_after(command(&["--", "/bin/sleep", SLEEP]), k);
        tally.kills += 1;
        // (--rm is in the environment: step_command_in.)
        let next = collect(command(&["-q", "--", "/bin/true"]).output_bounded());
        if next.code != Some(0) {
            tally
                .leftovers
                .push(format!("after event {k}: the next run failed: {next:?}"));
        }
        if let Some(survivor) = container_outlived_its_run() {
            tally.leftovers.push(format!(
                "after event {k}: a container process outlived its run and the next:\n{survivor}\n\
                 the run's last lines:\n{}",
                seen[seen.len().saturating_sub(8)..].join("\n")
            ));
        }
        for left in leftovers(&baseline, &netns, state.path(), rootfs.path(), &parent, &id) {
            tally.leftovers.push(format!("after event {k}: {left}"));
        }
    }
    crate::remove_test_cgroups(parent.rsplit('/').next().unwrap());
    tally
}

/// The number of trace lines of a run, up to its execve.
fn count_events(cmd: Command) -> usize {
    let (_, lines) = kill_after(cmd, usize::MAX);
    assert!(lines.len() > 10, "a run narrates its calls: {lines:?}");
    lines.len()
}

/// Runs `cmd`, SIGKILLs it after its `k`-th trace line (or its execve,
/// whichever comes first), and returns the run's id (from its first line,
/// the run lock's path) and the trace lines it read.
fn kill_after(mut cmd: Command, k: usize) -> (String, Vec<String>) {
    let mut child = cmd
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let lines = Lines::of(child.stderr.take().unwrap());
    let mut id = String::new();
    let mut seen = 0;
    let mut read = Vec::new();
    while seen < k {
        let Some(line) = lines.next_within(Duration::from_secs(30)) else {
            break; // it ended on its own (an error): nothing more to kill
        };
        if !line.starts_with('[') {
            continue;
        }
        seen += 1;
        read.push(line.clone());
        if id.is_empty()
            && let Some(rest) = line.split("/runs/").nth(1)
        {
            id = rest.chars().take_while(char::is_ascii_hexdigit).collect();
        }
        if line.contains("execve(") {
            // The last event (this run may have had fewer than the first:
            // no parent cgroup to make, say).
            std::thread::sleep(Duration::from_millis(20));
            break;
        }
    }
    // (nsenter entered the namespace and became the runtime: no fork.)
    let _ = child.kill();
    let _ = child.wait_bounded();
    (id, read)
}

/// A process of the scenario's containers still there a moment after the
/// next run (a killed one dies with its runtime, PR_SET_PDEATHSIG, or is
/// killed by the next run's sweep of its cgroup), with its status.
fn container_outlived_its_run() -> Option<String> {
    let deadline = std::time::Instant::now() + Duration::from_secs(2);
    loop {
        let pid = *container_processes().first()?;
        if std::time::Instant::now() > deadline {
            let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid as i32),
                nix::sys::signal::Signal::SIGKILL,
            );
            return Some(status.lines().take(8).collect::<Vec<_>>().join("\n"));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Processes running the scenario's `sleep`.
fn container_processes() -> Vec<u32> {
    let mark = format!("sleep\0{SLEEP}");
    fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|c| String::from_utf8_lossy(&c).contains(&mark))
        })
        .collect()
}

/// What is there before any run: the namespace's links, the rootfs's files.
struct Baseline {
    links: Vec<String>,
    files: Vec<PathBuf>,
}

impl Baseline {
    fn of(netns: &TestNetns, rootfs: &Path) -> Self {
        Baseline {
            links: link_names(netns),
            files: files_in(rootfs),
        }
    }
}

/// Every path in the rootfs (a mount point a run made must go again).
fn files_in(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for entry in fs::read_dir(dir).into_iter().flatten().flatten() {
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            found.extend(files_in(&entry.path()));
        }
        found.push(entry.path());
    }
    found
}

fn link_names(netns: &TestNetns) -> Vec<String> {
    netns
        .ip(&["-o", "link"])
        .lines()
        .filter_map(|l| l.split(':').nth(1))
        .map(|n| n.trim().split('@').next().unwrap_or("").to_string())
        .collect()
}

/// Everything a run of the scenario may have left.
fn leftovers(
    baseline: &Baseline,
    netns: &TestNetns,
    state: &Path,
    rootfs: &Path,
    parent: &str,
    id: &str,
) -> Vec<String> {
    let mut left = Vec::new();
    for path in files_in(rootfs) {
        if !baseline.files.contains(&path) {
            left.push(format!("rootfs {}", path.display()));
        }
    }
    let mounts = fs::read_to_string("/proc/self/mountinfo").unwrap();
    for line in mounts.lines() {
        let ours = [state, rootfs]
            .iter()
            .any(|p| line.contains(&p.display().to_string()));
        if ours {
            left.push(format!("mount {line}"));
        }
    }
    let name = parent.rsplit('/').next().unwrap();
    for dir in crate::host::find_dirs(Path::new("/sys/fs/cgroup"), 7, &|n| n == name) {
        for cgroup in crate::host::find_dirs(&dir, 0, &|_| true) {
            left.push(format!("cgroup {}", cgroup.display()));
        }
    }
    // Links: the bridge a first run made stays (as docker0 does); no veth.
    for link in link_names(netns) {
        if !baseline.links.contains(&link) && !link.starts_with("wsbr") {
            left.push(format!("link {link}"));
        }
    }
    if !id.is_empty() {
        if Path::new("/run/netns").join(format!("ws-{id}")).exists() {
            left.push(format!("network namespace file ws-{id}"));
        }
        let rules = String::from_utf8_lossy(&netns.run("iptables-save", &[]).stdout).into_owned();
        for rule in rules.lines().filter(|r| r.contains(id)) {
            left.push(format!("iptables rule {rule}"));
        }
        if step_runs_dir().join(id).exists() {
            left.push(format!("run lock {id}"));
        }
        if step_runs_dir()
            .join("../mount-points/uses")
            .join(id)
            .exists()
        {
            left.push(format!("mount point record of {id}"));
        }
    }
    for lease in fs::read_dir(state.join("ipam"))
        .into_iter()
        .flatten()
        .flatten()
    {
        let text = fs::read_to_string(lease.path()).unwrap_or_default();
        if !text.trim().is_empty() {
            left.push(format!("leases {text:?}"));
        }
    }
    // (records: step 10's, of containers that were --rm.)
    for kind in [
        "overlay",
        "roots",
        "volumes",
        "containers",
        "idmapped",
        "records",
    ] {
        for entry in fs::read_dir(state.join(kind))
            .into_iter()
            .flatten()
            .flatten()
        {
            left.push(format!("state {}", entry.path().display()));
        }
    }
    left
}

/// The runtime's run locks (step 01's owner.rs), as root.
fn step_runs_dir() -> PathBuf {
    PathBuf::from("/run/container-workshop/runs")
}

/// Asserts that `tally` found nothing, and says how many kills it took.
#[track_caller]
pub fn assert_nothing_left(scenario: &Scenario, tally: &Tally) {
    eprintln!("{}: {} kills", scenario.name, tally.kills);
    assert!(
        tally.leftovers.is_empty(),
        "{}: {} kills, {} leftovers:\n{}",
        scenario.name,
        tally.kills,
        tally.leftovers.len(),
        tally.leftovers.join("\n")
    );
}

/// One test per scenario: `$name` killed at every event of a run of
/// `$bin` with flags `$args`.
#[macro_export]
macro_rules! step_fault_tests {
    ($bin:expr, $($name:ident: [$($arg:expr),* $(,)?]),* $(,)?) => {
        mod faults {
            #[allow(unused_imports)]
            use super::*;
            $(
                #[test]
                fn $name() {
                    let scenario = $crate::faults::Scenario {
                        name: stringify!($name),
                        args: &[$($arg),*],
                    };
                    let tally = $crate::faults::kill_at_every_event($bin, &scenario);
                    $crate::faults::assert_nothing_left(&scenario, &tally);
                }
            )*
        }
    };
}
