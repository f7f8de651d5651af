//! Step 08, run as a learner runs it: what container root may still do,
//! read where the kernel keeps it (/proc/self/status) and tried for real
//! (chown, mount, kill), with the default set and with `--cap-add`,
//! `--cap-drop` and `--security-opt`.

use std::fs;
use std::process::Command;

use workshop_tests::{
    CommandExt, Run, collect, full_trace_redactions, run_step, step_command_in, test_rootfs,
};

const BIN: &str = env!("CARGO_BIN_EXE_08-security");

// What every step promises (exit codes, errors, stdin, signals, ...).
workshop_tests::step_contract_tests!(BIN);
workshop_tests::step_bad_input_tests!(BIN, [LIMITS, VOLUMES, NETWORK, SUBCOMMANDS, SECURITY]);
workshop_tests::step_escape_tests!(BIN, cgroups, mounts);
workshop_tests::step_fault_tests!(BIN, security: ["--network", "none"]);

/// Docker's default set, as /proc/PID/status prints it.
const DOCKER_DEFAULT: &str = "00000000a80425fb";

/// The value of `field` in the container's /proc/self/status.
fn status(extra: &[&str], field: &str) -> String {
    let mut args = vec!["-q"];
    args.extend_from_slice(extra);
    args.extend_from_slice(&["--", "/bin/cat", "/proc/self/status"]);
    let run = run_step(BIN, &args);
    assert_eq!(run.code, Some(0), "{run:?}");
    run.stdout
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .unwrap_or_else(|| panic!("no {field} in:\n{}", run.stdout))
        .trim()
        .to_string()
}

/// `script` run by the container's shell.
fn sh(extra: &[&str], script: &str) -> Run {
    let mut args = vec!["-q"];
    args.extend_from_slice(extra);
    args.extend_from_slice(&["--", "/bin/sh", "-c", script]);
    run_step(BIN, &args)
}

#[test]
fn container_root_keeps_dockers_default_set_and_cannot_gain_more() {
    for set in ["CapEff", "CapPrm", "CapBnd"] {
        assert_eq!(status(&[], set), DOCKER_DEFAULT, "{set}");
    }
    assert_eq!(status(&[], "CapInh"), "0000000000000000");
    assert_eq!(status(&[], "CapAmb"), "0000000000000000");
    assert_eq!(status(&[], "NoNewPrivs"), "1");
    assert_eq!(status(&[], "Seccomp"), "2");
}

#[test]
fn no_new_privileges_false_leaves_the_flag_off() {
    let off = ["--security-opt", "no-new-privileges=false"];
    assert_eq!(status(&off, "NoNewPrivs"), "0");
    // The capabilities are dropped all the same.
    assert_eq!(status(&off, "CapEff"), DOCKER_DEFAULT);
}

#[test]
fn cap_drop_all_then_cap_add_keeps_exactly_what_was_added() {
    let args = ["--cap-drop", "ALL", "--cap-add", "kill"];
    // CAP_KILL is number 5.
    assert_eq!(status(&args, "CapEff"), "0000000000000020");
    assert_eq!(status(&args, "CapBnd"), "0000000000000020");
}

#[test]
fn a_dropped_capability_is_a_power_gone() {
    let chown = "touch /tmp/f && chown 1:1 /tmp/f && echo chowned";
    let kept = sh(&[], chown);
    assert_eq!(
        kept.stdout, "chowned\n",
        "CAP_CHOWN is in the default set: {kept:?}"
    );
    let dropped = sh(&["--cap-drop", "CAP_CHOWN"], chown);
    assert_eq!(dropped.code, Some(1), "{dropped:?}");
    assert!(
        dropped.stderr.contains("Operation not permitted"),
        "{dropped:?}"
    );
}

#[test]
fn mounting_needs_cap_sys_admin_which_is_not_kept() {
    let mount = "mount -t tmpfs scratch /tmp && echo mounted";
    // Without the filter: the capability alone decides.
    let unconfined = ["--security-opt", "seccomp=unconfined"];
    let refused = sh(&unconfined, mount);
    assert_ne!(refused.code, Some(0), "{refused:?}");
    // (busybox's words for EPERM from mount(2))
    assert!(refused.stderr.contains("permission denied"), "{refused:?}");
    // Given back, container root mounts again (in its own namespaces).
    let added = sh(
        &["--cap-add", "SYS_ADMIN", unconfined[0], unconfined[1]],
        mount,
    );
    assert_eq!(added.stdout, "mounted\n", "{added:?}");
    // And with the default filter, whose mount rule asks for the same.
    let filtered = sh(&["--cap-add", "SYS_ADMIN"], mount);
    assert_eq!(filtered.stdout, "mounted\n", "{filtered:?}");
}

#[test]
fn the_trace_shows_the_sets_shrink_last_before_the_command() {
    let run = run_step(BIN, &["--hostname", "held", "/bin/true"]);
    assert_eq!(run.code, Some(0), "{run:?}");
    let child: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| l.starts_with("[child ]"))
        .collect();
    let at = |needle: &str| {
        child
            .iter()
            .position(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("no {needle} in:\n{}", run.stderr))
    };
    // After every mount and the pivot, before the engine's last calls.
    assert!(at("pivot_root(") < at("PR_CAPBSET_DROP"));
    assert!(at("PR_CAPBSET_DROP") < at("capset("));
    assert!(at("capset(") < at("PR_SET_NO_NEW_PRIVS"));
    assert!(at("PR_SET_NO_NEW_PRIVS") < at("SECCOMP_SET_MODE_FILTER"));
    assert!(at("SECCOMP_SET_MODE_FILTER") < at("execve("));
    let ours: String = run
        .stderr
        .lines()
        .filter(|l| {
            l.contains("] caps ") || l.contains("] nnp ") || l.starts_with("[child ] seccomp")
        })
        .map(|l| format!("{l}\n"))
        .collect();
    let mut settings = full_trace_redactions(test_rootfs());
    // (How long the program is depends on the machine: x86_64, aarch64.)
    settings.add_filter(r"len = \d+", "len = <n>");
    // (How many capabilities there are to drop depends on the kernel.)
    settings.add_filter(r"for each of \d+", "for each of <n>");
    settings.bind(|| insta::assert_snapshot!("trace_security", ours));
}

#[test]
fn the_default_filter_is_on_and_unconfined_turns_it_off() {
    assert_eq!(status(&[], "Seccomp"), "2");
    let off = ["--security-opt", "seccomp=unconfined"];
    assert_eq!(status(&off, "Seccomp"), "0");
    // Creating a user namespace needs no capability at all: only the
    // filter stops it (where the host allows them in the first place).
    let unshare = "unshare -U true && echo unshared";
    let blocked = sh(&[], unshare);
    assert!(
        blocked.stderr.contains("Operation not permitted"),
        "{blocked:?}"
    );
    let setting = |path: &str| fs::read_to_string(path).map(|v| v.trim().to_string());
    let host_allows = setting("/proc/sys/user/max_user_namespaces").is_ok_and(|n| n != "0")
        && setting("/proc/sys/kernel/apparmor_restrict_unprivileged_userns")
            .map_or(true, |v| v == "0");
    let unconfined = sh(&off, unshare);
    match host_allows {
        true => assert_eq!(unconfined.stdout, "unshared\n", "{unconfined:?}"),
        false => assert_ne!(unconfined.code, Some(0), "the host refuses: {unconfined:?}"),
    }
}

/// The default profile as `08-security seccomp-profile` prints it.
fn exported() -> serde_json::Value {
    let out = Command::new(BIN)
        .arg("seccomp-profile")
        .output_bounded()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    serde_json::from_slice(&out.stdout).unwrap()
}

/// `profile` written to a file, as `--security-opt seccomp=FILE`.
fn profile_file(profile: &serde_json::Value) -> (tempfile::TempDir, String) {
    let dir = workshop_tests::temp_dir("seccomp");
    let path = dir.path().join("profile.json");
    fs::write(&path, serde_json::to_string_pretty(profile).unwrap()).unwrap();
    let opt = format!("seccomp={}", path.display());
    (dir, opt)
}

#[test]
fn a_profile_in_dockers_format_decides_which_calls_work() {
    let mount = "mount -t tmpfs scratch /tmp && echo mounted";
    // The default, exported and loaded back: the same rules.
    let (_dir, default) = profile_file(&exported());
    let admin = sh(
        &["--security-opt", &default, "--cap-add", "SYS_ADMIN"],
        mount,
    );
    assert_eq!(
        admin.stdout, "mounted\n",
        "includes.caps: CAP_SYS_ADMIN: {admin:?}"
    );
    // With mount taken out of its CAP_SYS_ADMIN rule, mount is refused
    // with the capability kept: the filter answers before the kernel asks.
    let mut profile = exported();
    for rule in profile["syscalls"].as_array_mut().unwrap() {
        if rule["includes"]["caps"] == serde_json::json!(["CAP_SYS_ADMIN"]) {
            let names = rule["names"].as_array_mut().unwrap();
            names.retain(|n| n != "mount");
        }
    }
    let (_dir, no_admin) = profile_file(&profile);
    let refused = sh(
        &["--security-opt", &no_admin, "--cap-add", "SYS_ADMIN"],
        mount,
    );
    assert!(refused.stderr.contains("permission denied"), "{refused:?}");
    // A deny-list with a condition on an argument: kill(pid, 0) only.
    let deny = serde_json::json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_AARCH64"],
        "syscalls": [{ "names": ["kill"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1,
                       "args": [{ "index": 1, "value": 0, "op": "SCMP_CMP_EQ" }] }]
    });
    let (_dir, deny) = profile_file(&deny);
    let probe = sh(
        &["--security-opt", &deny],
        "kill -0 $$ || echo refused; kill -CONT $$ && echo sent",
    );
    assert_eq!(probe.stdout, "refused\nsent\n", "{probe:?}");
    assert_eq!(status(&["--security-opt", &deny], "Seccomp"), "2");
}

#[test]
fn a_profile_that_cannot_work_is_refused_before_anything_is_made() {
    let state = workshop_tests::temp_dir("state");
    let refused = |profile: &str, says: &str| {
        let dir = workshop_tests::temp_dir("seccomp");
        let path = dir.path().join("p.json");
        fs::write(&path, profile).unwrap();
        let run = collect(
            step_command_in(BIN, test_rootfs(), state.path())
                .args([
                    "--security-opt",
                    &format!("seccomp={}", path.display()),
                    "/bin/true",
                ])
                .output_bounded(),
        );
        assert_eq!(run.code, Some(125), "{run:?}");
        assert!(run.stderr.contains(says), "expected {says:?} in {run:?}");
        assert!(run.stderr.contains("hint:"), "{run:?}");
        assert!(
            !state.path().join("overlay").exists(),
            "nothing made: {run:?}"
        );
    };
    refused(
        "{\n  \"defaultAction\": \"SCMP_ACT_ERRNO\",\n  \"syscalls\": [\n    { \"names\": [\"read\"], \"action\": 7 }\n  ]\n}\n",
        "line 4, syscalls[0].action: invalid type",
    );
    refused(
        r#"{ "defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_S390X"] }"#,
        "the profile is for SCMP_ARCH_S390X, not for this machine",
    );
    refused(
        r#"{ "defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{ "names": ["read"], "action": "SCMP_ACT_ALLOW" }] }"#,
        "the profile does not allow seccomp",
    );
    refused(
        r#"{ "defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{ "names": ["execve"], "action": "SCMP_ACT_ERRNO" }] }"#,
        "the profile does not allow execve, which the runtime itself makes",
    );
    let run = collect(
        step_command_in(BIN, test_rootfs(), state.path())
            .args([
                "--security-opt",
                "seccomp=/no/such/profile.json",
                "/bin/true",
            ])
            .output_bounded(),
    );
    assert_eq!(run.code, Some(125), "{run:?}");
    assert!(
        run.stderr
            .contains("seccomp=/no/such/profile.json: No such file"),
        "{run:?}"
    );
}

#[test]
fn privileged_turns_all_of_it_off_and_says_so() {
    let script = "grep -E '^(CapEff|NoNewPrivs|Seccomp):' /proc/self/status; \
                  grep -c ' /proc/timer_list ' /proc/self/mountinfo";
    let run = run_step(BIN, &["--privileged", "--", "/bin/sh", "-c", script]);
    assert_eq!(
        run.code,
        Some(1),
        "grep -c finds no mount on /proc/timer_list: {run:?}"
    );
    assert!(run.stderr.contains("!!! --privileged"), "{run:?}");
    let all = fs::read_to_string("/proc/sys/kernel/cap_last_cap").unwrap();
    let all: u32 = all.trim().parse().unwrap();
    let mask = format!("CapEff:\t{:016x}", (1u64 << (all + 1)) - 1);
    assert!(run.stdout.contains(&mask), "{mask} in {run:?}");
    assert!(
        run.stdout.contains("NoNewPrivs:\t0\nSeccomp:\t0\n0\n"),
        "{run:?}"
    );
    // Not where container root is host root: refused before anything.
    let host = run_step(BIN, &["--privileged", "--userns", "host", "/bin/true"]);
    assert_eq!(host.code, Some(125), "{host:?}");
    assert!(
        host.stderr.contains("would hand the container the host"),
        "{host:?}"
    );
    // Without it, /proc/timer_list is masked (step 05): a mount covers it.
    let masked = sh(&[], "grep -c ' /proc/timer_list ' /proc/self/mountinfo");
    assert_eq!(masked.stdout, "1\n", "{masked:?}");
}

#[test]
fn a_label_is_refused_where_the_host_has_no_such_module() {
    let state = workshop_tests::temp_dir("state");
    let run_with = |opt: &str| {
        collect(
            step_command_in(BIN, test_rootfs(), state.path())
                .args(["--dry-run", "--security-opt", opt, "/bin/true"])
                .output_bounded(),
        )
    };
    // No host has a profile of this name loaded.
    let run = run_with("apparmor=workshop-no-such-profile");
    assert_eq!(run.code, Some(125), "{run:?}");
    assert!(
        run.stderr.contains("this host has no AppArmor")
            || run.stderr.contains("no profile of that name is loaded"),
        "{run:?}"
    );
    let run = run_with("label=type:container_t");
    if std::path::Path::new("/sys/fs/selinux/enforce").exists() {
        // An SELinux host: the child asks for the type at its execve.
        assert_eq!(run.code, Some(0), "{run:?}");
        assert!(run.stderr.contains(":container_t:"), "{run:?}");
    } else {
        assert_eq!(run.code, Some(125), "{run:?}");
        assert!(run.stderr.contains("this host has no SELinux"), "{run:?}");
    }
    let run = run_with("label=colour:red");
    assert_eq!(run.code, Some(125), "{run:?}");
    assert!(run.stderr.contains("give type:TYPE"), "{run:?}");
}

/// The classic escapes that need a capability (the step 05 escape suite
/// runs here too, above): each tried, each refused.
#[test]
fn the_classic_capability_escapes_are_refused() {
    // The host's disk through a device node of our own (8:0 is sda): the
    // kernel refuses device nodes to any user namespace but the host's.
    let disk = sh(&[], "mknod /tmp/sda b 8 0 && head -c 512 /tmp/sda | wc -c");
    assert!(
        disk.stderr.contains("Operation not permitted") && disk.stdout.is_empty(),
        "{disk:?}"
    );
    // /proc/sys made writable again, to change the host's kernel settings:
    // refused without CAP_SYS_ADMIN.
    let remount = "mount -o remount,rw /proc/sys && echo remounted";
    let run = sh(&[], remount);
    assert!(
        run.stderr.contains("permission denied") && run.stdout.is_empty(),
        "{run:?}"
    );
    // With it, the remount works (step 05 made that read-only mount inside
    // the container's own namespaces, so its flag is not locked: that is
    // why --cap-add SYS_ADMIN is a risk), but the host's own settings still
    // belong to host root, which container root is not (step 03).
    let write =
        "mount -o remount,rw /proc/sys && echo 3 > /proc/sys/vm/drop_caches && echo written";
    let run = sh(&["--cap-add", "SYS_ADMIN"], write);
    assert!(
        !run.stdout.contains("written") && run.stderr.contains("Permission denied"),
        "{run:?}"
    );
    // The kernel's memory, where the kernel has a /proc/kcore: masked (a
    // mount covers it), as step 05 does.
    if std::path::Path::new("/proc/kcore").exists() {
        let masked = sh(&[], "grep -c ' /proc/kcore ' /proc/self/mountinfo");
        assert_eq!(masked.stdout, "1\n", "{masked:?}");
    }
}

/// The probe's view of the process's limits (its `status.` lines: the
/// capability sets, no_new_privs, seccomp's mode and filter count).
#[test]
fn the_probe_sees_the_limits() {
    let run = run_step(BIN, &["-q", "--", workshop_tests::PROBE, "report"]);
    assert_eq!(run.code, Some(0), "{run:?}");
    let status: String = run
        .stdout
        .lines()
        .filter(|l| l.starts_with("status."))
        .map(|l| format!("{l}\n"))
        .collect();
    insta::assert_snapshot!("probe_status", status);
    // How many filters (Linux 5.9 on): ours, two.
    let filters = sh(&[], "grep Seccomp_filters /proc/self/status || echo none");
    assert!(
        filters.stdout == "Seccomp_filters:\t2\n" || filters.stdout == "none\n",
        "{filters:?}"
    );
}
