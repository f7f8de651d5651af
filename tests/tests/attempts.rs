//! The same attempts (the probe's `attempts`: mount, unshare, keyctl,
//! reboot, bpf, ...) under step 07 and step 08, side by side: what
//! capabilities, no_new_privs and seccomp take away. Chapter 8 shows both
//! tables.

use std::path::PathBuf;
use std::process::Command;

use workshop_tests::{CommandExt, PROBE, collect, step_command, test_rootfs};

/// A step's binary, built beside this test's (a workspace `cargo test`
/// builds every step).
fn binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().unwrap().parent().unwrap(); // deps/ -> debug/
    let bin = dir.join(name);
    assert!(
        bin.exists(),
        "{} is not built: run the tests with `cargo test` (every package), or \
         `cargo build --bins` first",
        bin.display()
    );
    bin
}

fn attempts(step: &str, extra: &[&str]) -> String {
    let bin = binary(step);
    let mut cmd = step_command(bin.to_str().unwrap(), test_rootfs());
    cmd.arg("-q").args(extra).args(["--", PROBE, "attempts"]);
    let run = collect(cmd.output_bounded());
    assert_eq!(run.code, Some(0), "{step}: {run:?}");
    run.stdout
}

#[test]
fn what_step_08_takes_away() {
    let before = attempts("07-overlay", &[]);
    let after = attempts("08-security", &[]);
    let result = |table: &str, name: &str| -> String {
        let prefix = format!("attempt {name}: ");
        table
            .lines()
            .find_map(|l| l.strip_prefix(&prefix))
            .unwrap_or_else(|| panic!("no {name} in:\n{table}"))
            .to_string()
    };
    // Step 07's root may do these in its own namespaces (whether it may
    // also make user namespaces and trace is the host's to say: Yama,
    // unprivileged_userns_clone)...
    for name in ["mount", "keyctl", "add_key", "setuid-root"] {
        assert_eq!(result(&before, name), "ok", "step 07, {name}:\n{before}");
    }
    // ...and step 08's none: every one is refused before the kernel acts.
    for line in after.lines() {
        let name = line
            .trim_start_matches("attempt ")
            .split(':')
            .next()
            .unwrap();
        let expected = match name {
            // Docker's default set keeps these three.
            "raw-socket" | "chown" | "bind-port-80" => "ok",
            // no_new_privs: the set-uid bit gives nothing.
            "setuid-root" => "not gained",
            _ => "EPERM",
        };
        assert_eq!(result(&after, name), expected, "step 08, {name}:\n{after}");
    }
    // Kept as the chapter shows them. What step 07 gets for the calls a
    // user namespace does not decide depends on the host's kernel and its
    // settings (kernel.unprivileged_bpf_disabled, perf_event_paranoid,
    // vm.unprivileged_userfaultfd, module and kexec support, Yama's ptrace
    // scope, whether user namespaces may nest).
    let mut settings = insta::Settings::clone_current();
    // In words, in parentheses: chapter 8 shows this table inside an HTML
    // <pre>, where an <...> placeholder would be read as a tag.
    settings.add_filter(
        r"(?m)^(attempt (unshare-user|kexec_load|init_module|ptrace|bpf|perf_event_open|userfaultfd)): .*$",
        "$1: (the host's policy)",
    );
    settings.bind(|| insta::assert_snapshot!("step07", before));
    insta::assert_snapshot!("step08", after);
    // The lesson of no-new-privileges=false: a set-uid program makes an
    // unprivileged user root again.
    let nnp_off = attempts(
        "08-security",
        &["--security-opt", "no-new-privileges=false"],
    );
    assert_eq!(result(&nnp_off, "setuid-root"), "ok", "{nnp_off}");
}

#[test]
fn a_profile_in_dockers_format_decides_the_table() {
    let step08 = binary("08-security");
    let out = Command::new(&step08)
        .arg("seccomp-profile")
        .output_bounded()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let dir = workshop_tests::temp_dir("profiles");
    let write = |name: &str, profile: &serde_json::Value| {
        let path = dir.path().join(name);
        std::fs::write(&path, serde_json::to_vec_pretty(profile).unwrap()).unwrap();
        format!("seccomp={}", path.display())
    };
    let mut profile: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    // The default, exported and loaded back: the same table.
    let exported = write("exported.json", &profile);
    let default = attempts("08-security", &[]);
    assert_eq!(
        attempts("08-security", &["--security-opt", &exported]),
        default
    );
    // The tests' own: the default, and the keyring (which needs no
    // capability: only the filter kept it out).
    let keyring = serde_json::json!({
        "names": ["keyctl", "add_key"], "action": "SCMP_ACT_ALLOW"
    });
    profile["syscalls"].as_array_mut().unwrap().push(keyring);
    let own = write("keyring.json", &profile);
    let table = attempts("08-security", &["--security-opt", &own]);
    let expected: String = default
        .lines()
        .map(|l| match l {
            "attempt keyctl: EPERM" => "attempt keyctl: ok".to_string(),
            "attempt add_key: EPERM" => "attempt add_key: ok".to_string(),
            other => other.to_string(),
        })
        .map(|l| l + "\n")
        .collect();
    assert_eq!(table, expected);
}
