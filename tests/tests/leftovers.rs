//! A test run killed half-way leaves things on the host; the next run
//! removes them first, and never what a live run still uses.
//!
//! These tests play both runs: they make the leftovers of a "run" whose pid
//! they choose (a process of theirs, alive and holding its liveness lock, or
//! one that has ended), then sweep, and look at the host.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use workshop_tests::host::sweep_dead_runs;
use workshop_tests::{ChildExt, CommandExt, eventually, is_root, require};

/// What a test run makes, named for the run `pid`.
struct Leftovers {
    user: String,
    netns: String,
    cgroup: PathBuf,
    state: PathBuf,
}

impl Leftovers {
    fn make(pid: u32) -> Self {
        require("ip");
        require("useradd");
        let user = format!("wsk-sweep-{pid}");
        let ok = Command::new("useradd")
            .args(["--no-create-home", "--comment"])
            .args([workshop_tests::host::TEST_USER_COMMENT, &user])
            .status_bounded()
            .unwrap();
        assert!(ok.success(), "useradd {user}");
        let netns = format!("wsk-sweep-{pid}");
        let ok = Command::new("ip")
            .args(["netns", "add", &netns])
            .status_bounded()
            .unwrap();
        assert!(ok.success(), "ip netns add {netns}");
        // Below our own cgroup in the pids hierarchy (v1), or at the root (v2).
        let cgroup = own_pids_cgroup().join(format!("workshop-tests-{pid}"));
        fs::create_dir_all(cgroup.join("some-container")).unwrap();
        // A state directory with something mounted in it, as step 07 leaves.
        let state = std::env::temp_dir().join(format!("workshop-state-{pid}-sweep"));
        fs::create_dir_all(state.join("mnt")).unwrap();
        nix::mount::mount(
            Some("tmpfs"),
            &state.join("mnt"),
            Some("tmpfs"),
            nix::mount::MsFlags::empty(),
            None::<&str>,
        )
        .unwrap();
        Leftovers {
            user,
            netns,
            cgroup,
            state,
        }
    }

    /// Which of them are still there.
    fn present(&self) -> Vec<String> {
        let mut left = Vec::new();
        let passwd = fs::read_to_string("/etc/passwd").unwrap();
        if passwd
            .lines()
            .any(|l| l.starts_with(&format!("{}:", self.user)))
        {
            left.push(format!("user {}", self.user));
        }
        if Path::new("/run/netns").join(&self.netns).exists() {
            left.push(format!("netns {}", self.netns));
        }
        if self.cgroup.exists() {
            left.push(format!("cgroup {}", self.cgroup.display()));
        }
        if self.state.exists() {
            left.push(format!("dir {}", self.state.display()));
        }
        let mounts = fs::read_to_string("/proc/self/mountinfo").unwrap();
        if mounts.contains(&self.state.display().to_string()) {
            left.push("a mount in the state dir".into());
        }
        left
    }
}

fn own_pids_cgroup() -> PathBuf {
    if Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
        return PathBuf::from("/sys/fs/cgroup");
    }
    let own = fs::read_to_string("/proc/self/cgroup").unwrap();
    let path = own
        .lines()
        .find_map(|l| l.split_once(":pids:").map(|(_, p)| p.to_string()))
        .expect("a pids hierarchy");
    Path::new("/sys/fs/cgroup/pids").join(path.trim_start_matches('/'))
}

/// A process that holds its liveness lock as a test process does.
fn live_run() -> Child {
    let mut child = Command::new("sh")
        .args([
            "-c",
            "exec 9>/run/workshop-tests/$$.lock && flock 9 && echo locked && exec sleep 30",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let lines = workshop_tests::Lines::of(child.stdout.take().unwrap());
    assert_eq!(
        lines.next_within(Duration::from_secs(10)).as_deref(),
        Some("locked")
    );
    child
}

#[test]
fn a_dead_runs_leftovers_are_removed_and_a_live_runs_are_kept() {
    assert!(
        is_root(),
        "these tests make namespaces and cgroups: run them as root"
    );
    require("flock");
    sweep_dead_runs(); // also takes our own lock, and makes /run/workshop-tests
    let mut alive = live_run();
    let live = Leftovers::make(alive.id());
    // A run that has ended: a process of ours, waited for. (Its pid may be
    // reused later; its lock cannot be held by anyone then.)
    let mut ended = Command::new("true").spawn().unwrap();
    ended.wait_bounded().unwrap();
    let dead = Leftovers::make(ended.id());
    fs::write(format!("/run/workshop-tests/{}.lock", ended.id()), "").unwrap();

    sweep_dead_runs();
    assert_eq!(
        dead.present(),
        Vec::<String>::new(),
        "the dead run's things"
    );
    assert_eq!(
        live.present().len(),
        5,
        "the live run's things stay: {:?}",
        live.present()
    );

    // When the live run dies (its lock goes with it), the next sweep takes them.
    alive.kill().unwrap();
    alive.wait_bounded().unwrap();
    sweep_dead_runs();
    eventually(
        Duration::from_secs(5),
        "the ended run's things removed",
        || live.present().is_empty().then_some(()),
    );
    assert!(!Path::new(&format!("/run/workshop-tests/{}.lock", alive.id())).exists());
}

/// A user whose name looks like a test's but who was not made by a test
/// (no test comment) is never removed.
#[test]
fn a_real_user_with_a_test_like_name_is_kept() {
    require("useradd");
    let mut ended = Command::new("true").spawn().unwrap();
    ended.wait_bounded().unwrap();
    let name = format!("wsk-real-{}", ended.id());
    let ok = Command::new("useradd")
        .args(["--no-create-home", &name])
        .status_bounded()
        .unwrap();
    assert!(ok.success(), "useradd {name}");
    sweep_dead_runs();
    let kept = fs::read_to_string("/etc/passwd")
        .unwrap()
        .lines()
        .any(|l| l.starts_with(&format!("{name}:")));
    let _ = Command::new("userdel").arg(&name).status_bounded();
    assert!(kept, "the sweep removed {name}, a user no test made");
}
