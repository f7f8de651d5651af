//! Step 08, run as a learner runs it: what container root may still do,
//! read where the kernel keeps it (/proc/self/status) and tried for real
//! (chown, mount, kill), with the default set and with `--cap-add`,
//! `--cap-drop` and `--security-opt`.

use workshop_tests::{Run, full_trace_redactions, run_step, test_rootfs};

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
    let refused = sh(&[], mount);
    assert_ne!(refused.code, Some(0), "{refused:?}");
    // (busybox's words for EPERM from mount(2))
    assert!(refused.stderr.contains("permission denied"), "{refused:?}");
    // Given back, container root mounts again (in its own namespaces).
    let added = sh(&["--cap-add", "SYS_ADMIN"], mount);
    assert_eq!(added.stdout, "mounted\n", "{added:?}");
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
    assert!(at("PR_SET_NO_NEW_PRIVS") < at("execve("));
    let ours: String = run
        .stderr
        .lines()
        .filter(|l| l.contains("] caps ") || l.contains("] nnp "))
        .map(|l| format!("{l}\n"))
        .collect();
    full_trace_redactions(test_rootfs()).bind(|| insta::assert_snapshot!("trace_security", ours));
}
