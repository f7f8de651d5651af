//! What the tests need from the host, and what an earlier test run left.
//!
//! **Set-up.** The first test to need the host runs `scripts/host-setup`
//! (the one list of host tools is `scripts/host-requirements`): as root with
//! a known package manager it installs what is missing, printing each
//! package and why. A test that needs a tool calls [`require`], which fails
//! at once with the fix when the tool is still missing — never a hang,
//! never a silent skip.
//!
//! **Leftovers.** A test run can be killed at any moment (Ctrl-C, SIGKILL,
//! a CI timeout) before its exit handlers run. Everything a test process
//! makes on the host carries its pid in the name: network namespaces
//! `wsk-TAG-PID`, users `wsk-TAG-PID`, cgroups `workshop-tests-PID`,
//! temporary directories `/tmp/workshop-KIND-PID-*`. Each test process holds
//! an `flock(2)` on `/run/workshop-tests/PID.lock` for its whole life; the
//! kernel drops the lock when the process dies, however it dies. So the next
//! test process can tell a dead run from a live one without trusting pids
//! (which are reused), and removes what the dead one left before it starts.

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use crate::bounded::CommandExt;
use crate::workshop_dir;

/// What `scripts/host-setup` said: empty when everything was there.
fn setup_report() -> &'static str {
    static REPORT: OnceLock<String> = OnceLock::new();
    REPORT.get_or_init(|| {
        sweep_dead_runs();
        let script = workshop_dir().join("scripts/host-setup");
        // Installing packages can take minutes on a slow mirror; apt's own
        // timeouts (set by host-setup) keep it from waiting forever.
        let out = Command::new(&script)
            .args(["rootfs", "steps", "tests"])
            .output_within(Duration::from_secs(900))
            .unwrap_or_else(|e| panic!("run {}: {e}", script.display()));
        let report = String::from_utf8_lossy(&out.stderr).into_owned();
        // What was installed, or what is missing, shown as it happens:
        // written to stderr itself, which the test harness does not capture.
        use std::io::Write;
        let _ = std::io::stderr().write_all(report.as_bytes());
        report
    })
}

/// Makes sure the host has what the tests need (see the module docs).
pub fn ensure_host() {
    setup_report();
}

/// Fails the test at once, with the fix, unless `program` is on the PATH.
#[track_caller]
pub fn require(program: &str) {
    let report = setup_report();
    if find_program(program).is_some() {
        return;
    }
    let said: Vec<&str> = report
        .lines()
        .filter(|l| l.contains(&format!("missing {program}:")))
        .collect();
    panic!(
        "this test needs `{program}`, which is not installed, and scripts/host-setup could \
         not install it:\n{}\n(`cargo xtask doctor` checks the whole host)",
        if said.is_empty() {
            report.to_string()
        } else {
            said.join("\n")
        }
    );
}

/// `program`'s path on the PATH (or in the sbin directories root has).
pub fn find_program(program: &str) -> Option<PathBuf> {
    let path = std::env::var("PATH").unwrap_or_default();
    path.split(':')
        .chain(["/usr/local/sbin", "/usr/sbin", "/sbin"])
        .map(|dir| Path::new(dir).join(program))
        .find(|p| p.is_file())
}

/// The comment (GECOS field) of every user a test makes: the sweep removes
/// only users that have it, never a real user whose name happens to fit.
pub const TEST_USER_COMMENT: &str = "workshop test user";

/// Where test processes keep their liveness locks.
const OWNERS: &str = "/run/workshop-tests";

/// This process's lock (taken on first use, held until it exits).
fn own_lock() -> &'static File {
    static LOCK: OnceLock<File> = OnceLock::new();
    LOCK.get_or_init(|| {
        fs::create_dir_all(OWNERS).unwrap_or_else(|e| panic!("create {OWNERS}: {e}"));
        let path = Path::new(OWNERS).join(format!("{}.lock", std::process::id()));
        let file = File::create(&path).unwrap_or_else(|e| panic!("create {}: {e}", path.display()));
        file.lock()
            .unwrap_or_else(|e| panic!("lock {}: {e}", path.display()));
        extern "C" fn remove_at_exit() {
            let _ = fs::remove_file(format!("{OWNERS}/{}.lock", std::process::id()));
        }
        // SAFETY: registers a plain function to run at exit(3).
        unsafe { libc::atexit(remove_at_exit) };
        file
    })
}

/// Takes this process's liveness lock. Every helper that makes something on
/// the host calls this first, so nothing of ours exists unclaimed.
pub fn claim() {
    own_lock();
}

/// Whether the test process `pid` is alive: it holds its lock. A pid with
/// no lock file is from a run older than the locks: alive if it exists.
fn alive(pid: u32) -> bool {
    if pid == std::process::id() {
        return true;
    }
    let path = Path::new(OWNERS).join(format!("{pid}.lock"));
    match File::open(&path) {
        // Asked with a shared lock: the owner's is exclusive, and another
        // asker's shared one must not look like an owner (owner.rs, alive).
        Ok(file) => match file.try_lock_shared() {
            Ok(()) => false, // nobody holds it: its process is gone
            Err(_) => true,
        },
        Err(_) => Path::new(&format!("/proc/{pid}")).exists(),
    }
}

/// The pid at the end of `name` after `prefix` (`wsk-nat-host-1234` → 1234).
fn trailing_pid(name: &str, prefix: &str) -> Option<u32> {
    name.strip_prefix(prefix)?.rsplit('-').next()?.parse().ok()
}

/// The pid after `prefix` in a temporary directory's name
/// (`workshop-state-1234-abcdef` → 1234).
fn leading_pid(name: &str, prefix: &str) -> Option<u32> {
    name.strip_prefix(prefix)?.split('-').next()?.parse().ok()
}

/// Removes what dead test runs left: their temporary directories (after
/// unmounting what is mounted in them), network namespaces, cgroups, users
/// and lock files.
pub fn sweep_dead_runs() {
    claim();
    let dead = |pid: Option<u32>| pid.is_some_and(|pid| !alive(pid));
    // Temporary directories: state directories (with step 07's overlays
    // mounted in them), rootfs copies, test registries' storage and the
    // image layouts pushed into them.
    for entry in fs::read_dir(std::env::temp_dir())
        .into_iter()
        .flatten()
        .flatten()
    {
        let name = entry.file_name().to_string_lossy().into_owned();
        let pid = [
            "workshop-state-",
            "workshop-rootfs-",
            "workshop-tmp-",
            "workshop-registry-",
            "workshop-image-",
        ]
        .iter()
        .find_map(|prefix| leading_pid(&name, prefix));
        if dead(pid) {
            remove_mounted_dir(&entry.path());
        }
    }
    // Network namespaces the tests made (`ip netns del` also removes the
    // bridges, veths and iptables rules in them).
    for entry in fs::read_dir("/run/netns").into_iter().flatten().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if dead(trailing_pid(&name, "wsk-")) {
            let _ = Command::new("ip")
                .args(["netns", "del", &name])
                .output_within(Duration::from_secs(30));
        }
    }
    // Test users (with their /etc/subuid and /etc/subgid ranges).
    let passwd = fs::read_to_string("/etc/passwd").unwrap_or_default();
    for fields in passwd.lines().map(|l| l.split(':').collect::<Vec<_>>()) {
        let [name, _, _, _, comment, ..] = fields[..] else {
            continue;
        };
        if comment == TEST_USER_COMMENT && dead(trailing_pid(name, "wsk-")) {
            let _ = Command::new("userdel")
                .arg(name)
                .output_within(Duration::from_secs(30));
        }
    }
    // Cgroups: kill what a dead run left in them, then remove them.
    for dir in find_dirs(Path::new("/sys/fs/cgroup"), 6, &|name| {
        dead(trailing_pid(name, "workshop-tests-"))
    }) {
        remove_cgroup_tree(&dir);
    }
    // The cgroups an engine made above a dead run's (note_made_cgroups),
    // then the lock files of dead runs.
    for entry in fs::read_dir(OWNERS).into_iter().flatten().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if dead(name.strip_suffix(".cgroups").and_then(|p| p.parse().ok())) {
            remove_made_cgroups(&entry.path());
        }
    }
    for entry in fs::read_dir(OWNERS).into_iter().flatten().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if dead(name.strip_suffix(".lock").and_then(|p| p.parse().ok())) {
            let _ = fs::remove_file(entry.path());
        }
    }
}

/// Notes cgroup directories that a tool of the tests is about to make
/// above the tests' own cgroup parent (podman takes one absolute path for
/// every hierarchy, so where ours is the root it makes our memory cgroup's
/// path): removed at exit, or by the sweep after a killed run.
pub fn note_made_cgroups(dirs: &[PathBuf]) {
    claim();
    let path = made_cgroups_file(std::process::id());
    let list: String = dirs.iter().map(|d| format!("{}\n", d.display())).collect();
    fs::write(&path, list).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    extern "C" fn remove_at_exit() {
        // The tests' own cgroups first (they are inside the made ones),
        // whichever exit handler runs first.
        let pid = std::process::id();
        for dir in find_dirs(Path::new("/sys/fs/cgroup"), 6, &|name| {
            trailing_pid(name, "workshop-tests-") == Some(pid)
        }) {
            remove_cgroup_tree(&dir);
        }
        remove_made_cgroups(&made_cgroups_file(pid));
    }
    // SAFETY: registers a plain function to run at exit(3).
    unsafe { libc::atexit(remove_at_exit) };
}

fn made_cgroups_file(pid: u32) -> PathBuf {
    Path::new(OWNERS).join(format!("{pid}.cgroups"))
}

/// Removes the cgroups listed in `file`, deepest first (each only when
/// empty: rmdir(2) of a cgroup with children fails), then the file.
fn remove_made_cgroups(file: &Path) {
    let list = fs::read_to_string(file).unwrap_or_default();
    let mut dirs: Vec<&str> = list.lines().collect();
    dirs.sort_by_key(|d| std::cmp::Reverse(d.len()));
    for dir in dirs {
        let _ = fs::remove_dir(dir);
    }
    let _ = fs::remove_file(file);
}

/// Unmounts everything mounted at or below `dir` (deepest first), then
/// removes it.
pub fn remove_mounted_dir(dir: &Path) {
    let table = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let mut mounted: Vec<&str> = table
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .filter(|p| Path::new(p).starts_with(dir))
        .collect();
    mounted.sort_by_key(|p| std::cmp::Reverse(p.len()));
    for point in mounted {
        let _ = nix::mount::umount2(point, nix::mount::MntFlags::MNT_DETACH);
    }
    let _ = fs::remove_dir_all(dir);
}

/// The directories below `top` (up to `depth` levels) whose name `matches`.
pub fn find_dirs(top: &Path, depth: usize, matches: &dyn Fn(&str) -> bool) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for entry in fs::read_dir(top).into_iter().flatten().flatten() {
        if !entry.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        if matches(&entry.file_name().to_string_lossy()) {
            found.push(entry.path());
        } else if depth > 0 {
            found.extend(find_dirs(&entry.path(), depth - 1, matches));
        }
    }
    found
}

/// Removes the cgroup `dir` and every cgroup below it, deepest first,
/// killing the processes still in them (a container whose runtime was
/// killed with its test). A cgroup that will not go stays, for the
/// before-stop check to find.
pub fn remove_cgroup_tree(dir: &Path) {
    let children: Vec<PathBuf> = find_dirs(dir, 0, &|_| true);
    for child in &children {
        remove_cgroup_tree(child);
    }
    let procs = fs::read_to_string(dir.join("cgroup.procs")).unwrap_or_default();
    for pid in procs.lines().filter_map(|p| p.parse::<i32>().ok()) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
    // A killed process leaves its cgroup a moment later.
    for _ in 0..100 {
        match fs::remove_dir(dir) {
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) => {
                std::thread::sleep(Duration::from_millis(20))
            }
            _ => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pids_are_read_from_names() {
        assert_eq!(trailing_pid("wsk-nat-host-1234", "wsk-"), Some(1234));
        assert_eq!(trailing_pid("wsk-x", "wsk-"), None);
        assert_eq!(
            trailing_pid("workshop-tests-77", "workshop-tests-"),
            Some(77)
        );
        assert_eq!(
            leading_pid("workshop-state-42-ab3", "workshop-state-"),
            Some(42)
        );
        assert_eq!(leading_pid("workshop-state-ab3", "workshop-state-"), None);
    }
}
