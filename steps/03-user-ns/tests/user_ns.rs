//! Step 03, run as a learner runs it: as root mapped to the sudo user, and
//! as an ordinary user without root at all. Observed from inside (the probe,
//! `id`) and from the host (owners of files the container made).

use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::Command;

use workshop_tests::{
    ChildExt, CommandExt, PROBE, RootfsCopy, TestUser, as_user, collect, full_capability_set,
    own_ns, probe_field, redactions, run_step, step_command, test_rootfs,
};

const BIN: &str = env!("CARGO_BIN_EXE_03-user-ns");

// What every step promises (exit codes, errors, stdin, signals, ...).
workshop_tests::step_contract_tests!(BIN);
workshop_tests::step_bad_input_tests!(BIN, []);
workshop_tests::step_escape_tests!(BIN);

/// An unprivileged uid and gid with no passwd entry; setpriv needs none.
const ADA: (u32, u32) = (4242, 4343);

/// The step as `sudo` would run it for user ADA: root, with SUDO_UID/GID.
fn via_sudo(rootfs: &Path) -> Command {
    let mut cmd = step_command(BIN, rootfs);
    cmd.env("SUDO_UID", ADA.0.to_string())
        .env("SUDO_GID", ADA.1.to_string());
    cmd
}

/// The step run by ADA herself, without root.
fn rootless(rootfs: &Path) -> Command {
    as_user(&step_command(BIN, rootfs), ADA.0, ADA.1)
}

#[test]
fn container_root_is_the_sudo_user() {
    let run = collect(
        via_sudo(test_rootfs())
            .args(["-q", PROBE, "report"])
            .output_bounded(),
    );
    assert_eq!(run.code, Some(0), "{run:?}");
    let report = &run.stdout;
    assert_eq!(probe_field(report, "uid"), "0");
    assert_eq!(probe_field(report, "gid"), "0");
    assert_eq!(probe_field(report, "uid_map"), "0 4242 1");
    assert_eq!(probe_field(report, "gid_map"), "0 4343 1");
    assert_ne!(probe_field(report, "ns.user"), own_ns("user"));
    redactions(test_rootfs()).bind(|| insta::assert_snapshot!("probe_via_sudo", run.stdout));
}

#[test]
fn files_made_inside_belong_to_the_mapped_user() {
    // The container's /tmp is its own (reach.rs): look at it from the host
    // through the container process's root, while it runs.
    let mut runtime = via_sudo(test_rootfs())
        .args([
            "-q",
            "/bin/sh",
            "-c",
            "touch /tmp/made-inside; exec sleep 30",
        ])
        .spawn()
        .unwrap();
    let sleeper = workshop_tests::contract::container_process(runtime.id(), "sleep");
    let made = std::fs::metadata(format!("/proc/{sleeper}/root/tmp/made-inside"));
    runtime.kill().unwrap();
    let _ = runtime.wait_bounded();
    let made = made.expect("the file the container made");
    assert_eq!((made.uid(), made.gid()), ADA, "root inside is ADA outside");
}

#[test]
fn runs_without_root() {
    let rootfs = RootfsCopy::new().open_to_all();
    let run = collect(rootless(rootfs.path()).args(["-q", "id"]).output_bounded());
    assert_eq!(run.code, Some(0), "{run:?}");
    assert_eq!(run.stdout, "uid=0(root) gid=0(root)\n");

    let script = format!("touch /tmp/rootless && {PROBE} report");
    let run = collect(
        rootless(rootfs.path())
            .args(["-q", "/bin/sh", "-c", &script])
            .output_bounded(),
    );
    assert_eq!(run.code, Some(0), "{run:?}");
    assert_eq!(probe_field(&run.stdout, "uid"), "0");
    assert_eq!(
        probe_field(&run.stdout, "pid"),
        "1",
        "step 02's namespaces work rootless too"
    );
    assert_eq!(probe_field(&run.stdout, "uid_map"), "0 4242 1");
    let made = std::fs::metadata(rootfs.path().join("tmp/rootless")).unwrap();
    assert_eq!((made.uid(), made.gid()), ADA);
}

#[test]
fn rootless_trace_denies_setgroups_before_the_gid_map() {
    let run = collect(
        rootless(test_rootfs())
            .args(["--hostname", "rootless", "/bin/true"])
            .output_bounded(),
    );
    assert_eq!(run.code, Some(0), "{run:?}");
    let setgroups = run
        .stderr
        .find("/setgroups\", \"deny\")")
        .expect("setgroups denied");
    let gid_map = run.stderr.find("/gid_map\"").expect("gid map written");
    assert!(setgroups < gid_map, "{}", run.stderr);
    redactions(test_rootfs()).bind(|| insta::assert_snapshot!("trace_rootless", run.stderr));
}

#[test]
fn trace_shows_the_map_writes() {
    let run = collect(
        via_sudo(test_rootfs())
            .args(["--hostname", "mapped", "/bin/true"])
            .output_bounded(),
    );
    assert_eq!(run.code, Some(0), "{run:?}");
    assert!(
        run.stderr.contains("uid_map\", \"0 4242 1\\n\") = 0"),
        "{}",
        run.stderr
    );
    redactions(test_rootfs()).bind(|| {
        insta::assert_snapshot!(
            "trace",
            workshop_tests::without_others_leftovers(&run.stderr)
        )
    });
}

#[test]
fn map_root_to_chooses_the_host_user() {
    let run = run_step(BIN, &["-q", "--map-root-to", "5000:6000", PROBE, "report"]);
    assert_eq!(run.code, Some(0), "{run:?}");
    assert_eq!(probe_field(&run.stdout, "uid_map"), "0 5000 1");
    assert_eq!(probe_field(&run.stdout, "gid_map"), "0 6000 1");
}

#[test]
fn without_maps_everyone_is_nobody() {
    let run = run_step(BIN, &["-q", "--no-map", "id"]);
    assert_eq!(run.code, Some(0), "{run:?}");
    assert_eq!(run.stdout, "uid=65534(nobody) gid=65534(nogroup)\n");
}

#[test]
fn bad_maps_are_refused_with_a_reason() {
    let run = run_step(
        BIN,
        &[
            "--uid-map",
            "0:1000:10",
            "--uid-map",
            "5:2000:1",
            "--gid-map",
            "0:1000:1",
            "/bin/true",
        ],
    );
    run.assert_error(
        125,
        "--uid-map: 0:1000:10 and 5:2000:1 overlap on the container side",
    );
    let run = run_step(
        BIN,
        &[
            "--uid-map",
            "1:1000:1",
            "--gid-map",
            "0:1000:1",
            "/bin/true",
        ],
    );
    run.assert_error(125, "container uid 0 (root) is not mapped");
    let run = run_step(
        BIN,
        &["--uid-map", "0:1000", "--gid-map", "0:1000:1", "/bin/true"],
    );
    run.assert_error(125, "expected CONTAINER:HOST:COUNT");
    let run = run_step(BIN, &["--uid-map", "0:1000:1", "/bin/true"]);
    run.assert_error(125, "--gid-map");

    // Unprivileged, and without newuidmap on the PATH.
    let mut cmd = rootless(test_rootfs());
    cmd.env("PATH", "/nonexistent");
    cmd.args([
        "--uid-map",
        "0:4242:1",
        "--uid-map",
        "1:100000:10",
        "--gid-map",
        "0:4343:1",
        "/bin/true",
    ]);
    collect(cmd.output_bounded()).assert_error(125, "needs newuidmap, which is not installed");
}

#[test]
fn delegated_ranges_go_through_newuidmap() {
    workshop_tests::require("newuidmap");
    workshop_tests::require("newgidmap");
    let user = TestUser::create("userns");
    let (sub_uid, _) = user.subids("/etc/subuid");
    let (sub_gid, _) = user.subids("/etc/subgid");
    let maps = |own: u32, sub: u32| [format!("0:{own}:1"), format!("1:{sub}:1000")];
    let [u0, u1] = maps(user.uid, sub_uid);
    let [g0, g1] = maps(user.gid, sub_gid);
    let step = step_command(BIN, test_rootfs());
    let mut cmd = user.command(&step);
    cmd.args([
        "--uid-map",
        &u0,
        "--uid-map",
        &u1,
        "--gid-map",
        &g0,
        "--gid-map",
        &g1,
    ]);
    let run = collect(cmd.args(["--", PROBE, "report"]).output_bounded());
    assert_eq!(run.code, Some(0), "{run:?}");
    let uid_map: Vec<_> = run
        .stdout
        .lines()
        .filter(|l| l.starts_with("uid_map: "))
        .collect();
    assert_eq!(
        uid_map,
        [
            format!("uid_map: 0 {} 1", user.uid),
            format!("uid_map: 1 {sub_uid} 1000")
        ]
    );
    assert!(
        run.stderr.contains("running the set-uid helper: newuidmap"),
        "{}",
        run.stderr
    );

    // A range that is not the user's is refused before anything is made.
    let mut cmd = user.command(&step);
    let beyond = format!("1:{}:10", sub_uid as u64 + 70000);
    cmd.args([
        "--uid-map",
        &u0,
        "--uid-map",
        &beyond,
        "--gid-map",
        &g0,
        "/bin/true",
    ]);
    collect(cmd.output_bounded()).assert_error(125, "are not yours to map");
}

#[test]
fn root_inside_is_not_root_on_the_host() {
    let rootfs = RootfsCopy::new();
    // A file of the host's root, readable by nobody else.
    let secret = rootfs.path().join("root-only");
    std::fs::write(&secret, "host root's secret").unwrap();
    std::os::unix::fs::chown(&secret, Some(0), Some(0)).unwrap();
    std::fs::set_permissions(&secret, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();

    let script = format!(
        "{PROBE} report | grep CapEff; ls -ln /root-only | cut -c1-35; cat /root-only; date -s 2001-01-01"
    );
    let run = collect(
        via_sudo(rootfs.path())
            .args(["-q", "/bin/sh", "-c", &script])
            .output_bounded(),
    );
    // Every capability, even ones this test process lacks on the host:
    // a new user namespace starts with the full set, valid only inside it.
    let full = full_capability_set().unwrap();
    assert!(
        run.stdout.contains(&format!("status.CapEff: {full}")),
        "all capabilities, in its own namespace: {}",
        run.stdout
    );
    assert!(
        run.stdout.contains("65534    65534"),
        "host root is unmapped: {}",
        run.stdout
    );
    assert!(!run.stdout.contains("secret"), "{}", run.stdout);
    assert!(run.stderr.contains("Permission denied"), "{}", run.stderr);
    assert!(
        run.stderr.contains("Operation not permitted"),
        "{}",
        run.stderr
    );
}

/// Our container inside a user namespace that unshare(1) made: ids map
/// level by level, each map relative to the namespace above it.
#[test]
fn user_namespaces_nest() {
    let step = step_command(BIN, test_rootfs());
    let mut cmd = Command::new("unshare");
    cmd.args(["--user", "--map-root-user", "--"])
        .arg(step.get_program())
        .args(step.get_args());
    cmd.args(["-q", "/bin/sh", "-c", "cat /proc/self/uid_map"]);
    let run = collect(cmd.output_bounded());
    assert_eq!(run.code, Some(0), "{run:?}");
    // unshare mapped its root to our uid (0); ours maps its root to that.
    let map: Vec<_> = run.stdout.split_whitespace().collect();
    assert_eq!(map, ["0", "0", "1"], "relative to the parent namespace");
}

/// EXPECTED TO FAIL under chroot: the kernel refuses to create a user
/// namespace from a process whose root is not its mount namespace's root
/// (unshare(2), EPERM), because chroot could then be escaped with the new
/// namespace's capabilities. Step 05's pivot_root makes it work.
#[test]
fn a_nested_user_namespace_is_refused_inside_a_chroot() {
    let run = run_step(
        BIN,
        &["-q", "/bin/sh", "-c", "unshare -r cat /proc/self/uid_map"],
    );
    assert_eq!(run.code, Some(1), "{run:?}");
    assert!(
        run.stderr.contains("Operation not permitted"),
        "{}",
        run.stderr
    );
}

/// A host that switched user namespaces off (here: a user namespace of the
/// test's own whose limit is 0, as `sysctl user.max_user_namespaces=0`
/// does for the whole host) gets the reason and the way to check it.
#[test]
fn a_host_without_user_namespaces_is_told_why() {
    let mut step = step_command(BIN, test_rootfs());
    step.args(["-q", "--", "id"]);
    let limit_zero = "echo 0 > /proc/sys/user/max_user_namespaces && exec \"$@\"";
    let mut cmd = workshop_tests::wrapped_in(
        "unshare",
        &[
            "--user",
            "--map-root-user",
            "--",
            "sh",
            "-c",
            limit_zero,
            "sh",
        ],
        &step,
    );
    let run = collect(cmd.output_bounded());
    run.assert_error(125, "a namespace limit is reached or set to 0");
    assert!(run.stderr.contains("cargo xtask doctor"), "{}", run.stderr);
}

/// `--userns=host` is the lesson the default avoids: container root is
/// host root, the trace says UNSAFE, and the host's sysctl the escape suite
/// guards is writable (the container writes back the value that is there).
/// The same script as `escapes::host_sysctls_stay_out_of_reach`, which
/// therefore can fail.
#[test]
fn userns_host_is_the_unsafe_lesson() {
    let file = "/proc/sys/kernel/core_pattern";
    let script = format!(
        "cat /proc/self/uid_map; v=$(cat {file}); \
         if echo \"$v\" > {file}; then echo WROTE; else echo REFUSED; fi"
    );
    let run = run_step(BIN, &["--userns", "host", "--", "/bin/sh", "-c", &script]);
    assert_eq!(run.code, Some(0), "{run:?}");
    let map: Vec<_> = run.stdout.split_whitespace().take(3).collect();
    assert_eq!(map, ["0", "0", "4294967295"], "{}", run.stdout);
    assert!(run.stdout.contains("WROTE"), "{}", run.stdout);
    assert!(run.stderr.contains("UNSAFE"), "{}", run.stderr);
    let refused = run_step(
        BIN,
        &["--userns", "host", "--map-root-to", "1", "--", "/bin/true"],
    );
    refused.assert_error(125, "--map-root-to");
}
