//! Bad input, refused before anything changes.
//!
//! Each case runs the real binary with one mistake a learner makes, and
//! asserts what a learner needs: exit code 125 (as `docker run`), an
//! `error:` line that names the flag or path, a `hint:` with the fix, and
//! nothing left behind: no state directory, no cgroup, no mount, no link or
//! iptables rule (the cases that could make one run in a network namespace
//! of their own).
//!
//! Each step's tests call [`step_bad_input_tests!`](crate::step_bad_input_tests)
//! with the tables of the flags it has, its own and its predecessors'.

use std::fs;
use std::path::{Path, PathBuf};

use crate::fixtures::TestNetns;
use crate::{CommandExt, collect, step_command_in, test_cgroup_parent, test_rootfs};

/// The rootfs a case runs on.
#[derive(Clone, Copy, Debug)]
pub enum Rootfs {
    /// The shared test rootfs (a good one).
    Test,
    /// An empty directory.
    Empty,
    /// A symlink to itself.
    Loop,
    /// A regular file.
    File,
}

/// One mistake.
#[derive(Debug)]
pub struct Case {
    /// The arguments after `--rootfs` and `--state-dir`.
    pub args: &'static [&'static str],
    /// What `--rootfs` is.
    pub rootfs: Rootfs,
    /// What the error must say (part of its first line or its hint).
    pub says: &'static str,
}

const fn case(args: &'static [&'static str], says: &'static str) -> Case {
    Case {
        args,
        rootfs: Rootfs::Test,
        says,
    }
}

/// Every step: the shared command line and the rootfs.
pub const COMMON: &[Case] = &[
    case(&["--bogus", "/bin/true"], "unexpected argument '--bogus'"),
    case(&["-e", "=x", "/bin/true"], "expected KEY=VALUE"),
    Case {
        args: &["/bin/true"],
        rootfs: Rootfs::Empty,
        says: "is empty",
    },
    Case {
        args: &["/bin/true"],
        rootfs: Rootfs::Loop,
        says: "Too many levels of symbolic links",
    },
    Case {
        args: &["/bin/true"],
        rootfs: Rootfs::File,
        says: "is not a directory",
    },
];

/// Step 04's limits.
pub const LIMITS: &[Case] = &[
    case(&["--memory", "9999999999g", "/bin/true"], "too large"),
    case(&["--memory", "12XB", "/bin/true"], "unknown unit"),
    case(
        &["--pids-limit", "18446744073709551615", "/bin/true"],
        "PID_MAX_LIMIT",
    ),
    case(&["--pids-limit", "0", "/bin/true"], "give at least 1"),
];

/// Step 05's volumes.
pub const VOLUMES: &[Case] = &[
    case(
        &["-v", "/tmp/a:b:/data", "/bin/true"],
        "neither path may contain",
    ),
    case(
        &["-v", "/tmp:/dev", "/bin/true"],
        "this would replace the container's /dev",
    ),
    case(
        &["-v", "/tmp:/sys/", "/bin/true"],
        "this would replace the container's /sys",
    ),
    case(
        &["-v", "/tmp:/proc/sys", "/bin/true"],
        "/proc is mounted after the volumes",
    ),
    case(&["-v", "tmp:/data", "/bin/true"], "must be absolute"),
    case(
        &["-v", "/tmp:/data:ro", "-v", "/var:/data/", "/bin/true"],
        "two volumes for one container path",
    ),
    case(&["-v", "/no/such/dir:/data", "/bin/true"], "does not exist"),
];

/// Step 06's network.
pub const NETWORK: &[Case] = &[
    case(
        &["--bridge", "abcdefghijklmnop", "/bin/true"],
        "1 to 15 characters",
    ),
    case(
        &["--network", "bridge", "--bridge", "lo", "/bin/true"],
        "--bridge lo: that link exists and is not a bridge",
    ),
    case(
        &[
            "--network",
            "bridge",
            "-p",
            "8080:80",
            "-p",
            "8080:81",
            "/bin/true",
        ],
        "-p 8080/tcp: that host port is published twice",
    ),
    case(&["-p", "8080:80", "/bin/true"], "-p needs --network bridge"),
    case(
        &["--cleanup", "--bridge", "lo"],
        "--bridge lo: that link exists and is not a bridge",
    ),
];

/// Step 07's subcommands: run flags do not mix with them.
pub const SUBCOMMANDS: &[Case] = &[
    case(
        &["images"],
        "--rootfs is for running a container, not for `images`",
    ),
    case(
        &["import", "/no/such.tgz", "--name", "x"],
        "--rootfs is for running a container, not for `import`",
    ),
];

/// Step 08's capabilities and security options.
pub const SECURITY: &[Case] = &[
    case(
        &["--cap-add", "NET_ADMINN", "/bin/true"],
        "\"NET_ADMINN\" is not a capability",
    ),
    case(
        &["--cap-drop", "chown,kill", "/bin/true"],
        "is not a capability",
    ),
    case(
        &["--security-opt", "colour=red", "/bin/true"],
        "\"colour\" is not an option this step knows",
    ),
    case(
        &["--security-opt", "no-new-privileges=maybe", "/bin/true"],
        "the value is true or false",
    ),
];

/// Runs `case` with step binary `bin` and asserts that it was refused,
/// clearly, and that nothing was made.
#[track_caller]
pub fn assert_refused(bin: &str, case: &Case) {
    let dir = crate::temp_dir("tmp");
    let rootfs = match case.rootfs {
        Rootfs::Test => test_rootfs().to_path_buf(),
        Rootfs::Empty => {
            fs::create_dir(dir.path().join("empty")).unwrap();
            dir.path().join("empty")
        }
        Rootfs::Loop => {
            std::os::unix::fs::symlink("loop", dir.path().join("loop")).unwrap();
            dir.path().join("loop")
        }
        Rootfs::File => {
            fs::write(dir.path().join("file"), "").unwrap();
            dir.path().join("file")
        }
    };
    let state = dir.path().join("state");
    // Its own cgroup parent, to see that no cgroup was made.
    let parent = format!("{}/bad-input-{}", test_cgroup_parent(), std::process::id());
    let netns = TestNetns::new("bad");
    let links = netns.ip(&["-o", "link"]);
    let rules = iptables_rules(&netns);

    let mut cmd = step_command_in(bin, &rootfs, &state);
    cmd.env("WORKSHOP_CGROUP_PARENT", &parent);
    cmd.args(case.args);
    let run = collect(netns.command(&cmd).output_bounded());

    let shown = format!("{bin} {:?} on {:?}: {run:?}", case.args, case.rootfs);
    assert_eq!(run.code, Some(125), "{shown}");
    let mut lines = run.stderr.lines().filter(|l| !l.starts_with('['));
    let first = lines.next().unwrap_or_default();
    assert!(first.starts_with("error: "), "{shown}");
    assert!(run.stderr.contains(case.says), "{shown}");
    assert!(
        lines
            .next()
            .is_some_and(|l| l.trim_start().starts_with("hint: ")),
        "a hint with the fix follows the error: {shown}"
    );
    assert!(!state.exists(), "no state directory: {shown}");
    assert_eq!(cgroups_named(&parent), Vec::<PathBuf>::new(), "{shown}");
    let mounts = fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(
        !mounts.contains(&dir.path().display().to_string()),
        "no mount: {shown}"
    );
    assert_eq!(netns.ip(&["-o", "link"]), links, "no link: {shown}");
    assert_eq!(iptables_rules(&netns), rules, "no iptables rule: {shown}");
}

fn iptables_rules(netns: &TestNetns) -> String {
    let out = netns.run("iptables-save", &[]);
    // The header and footer carry the time of day.
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.starts_with('#'))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Every cgroup directory named like `parent`'s last part, in every
/// hierarchy.
fn cgroups_named(parent: &str) -> Vec<PathBuf> {
    let name = parent.rsplit('/').next().unwrap_or(parent);
    crate::host::find_dirs(Path::new("/sys/fs/cgroup"), 7, &|n| n == name)
}

/// One test that runs every case of the tables given, in turn (they share
/// the host's cgroup tree and mount table, which they check).
#[macro_export]
macro_rules! step_bad_input_tests {
    ($bin:expr, [$($table:ident),* $(,)?]) => {
        #[test]
        fn bad_input_is_refused_before_anything_changes() {
            use $crate::bad_input::*;
            for case in COMMON.iter()$(.chain($table.iter()))* {
                assert_refused($bin, case);
            }
        }
    };
}
