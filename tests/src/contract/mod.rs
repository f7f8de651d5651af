//! The contract every step keeps, whatever it adds: the command runs in the
//! rootfs, its exit code comes back exactly, errors say what to do, stdin
//! and the terminal are the container's, signals reach it, and killing the
//! runtime kills the container.
//!
//! Each function takes the path of a step's binary. A step runs them all
//! with one line, `workshop_tests::step_contract_tests!(BIN);`, so step 07
//! is checked against what step 01 promised.

mod process;
mod stdio;

pub use process::*;
pub use stdio::*;

use std::os::unix::process::CommandExt;
use std::path::Path;

use crate::bounded::CommandExt as _;
use crate::{RootfsCopy, as_nobody, collect, run_step, step_command, test_rootfs};

pub fn the_rootfs_is_another_system(bin: &str) {
    let run = run_step(bin, &["-q", "--", "/bin/cat", "/etc/os-release"]);
    assert_eq!(run.code, Some(0), "{run:?}");
    let rootfs_release = std::fs::read_to_string(test_rootfs().join("etc/os-release")).unwrap();
    assert_eq!(
        run.stdout, rootfs_release,
        "the rootfs's file, not the host's"
    );
    assert!(run.stdout.contains("Workshop BusyBox"), "{}", run.stdout);
}

pub fn timings_show_how_long_each_call_took(bin: &str) {
    let run = run_step(bin, &["--timings", "--", "/bin/true"]);
    assert_eq!(run.code, Some(0), "{run:?}");
    let timed = run
        .stderr
        .lines()
        .filter(|l| l.contains("prctl(PR_SET_PDEATHSIG") && l.ends_with("s>"));
    assert!(timed.count() >= 1, "{}", run.stderr);
}

pub fn exit_codes_propagate_exactly(bin: &str) {
    for (script, code) in [("exit 0", 0), ("exit 7", 7), ("exit 255", 255)] {
        let run = run_step(bin, &["-q", "--", "/bin/sh", "-c", script]);
        assert_eq!(run.code, Some(code), "{script}: {run:?}");
    }
    let run = run_step(bin, &["--", "/bin/sh", "-c", "exit 7"]);
    assert!(
        run.stderr.contains("the container exited with status 7"),
        "{}",
        run.stderr
    );
}

pub fn non_executable_command_exits_126(bin: &str) {
    let rootfs = RootfsCopy::new();
    std::fs::write(rootfs.path().join("not-executable"), "#!/bin/sh\necho hi\n").unwrap();
    let run = collect(
        step_command(bin, rootfs.path())
            .args(["-q", "/not-executable"])
            .output_bounded(),
    );
    run.assert_error(126, "chmod +x");
}

pub fn missing_rootfs_says_to_fetch_one(bin: &str) {
    let missing = std::env::temp_dir().join("workshop-no-such-rootfs");
    let run = collect(
        step_command(bin, &missing)
            .args(["/bin/sh"])
            .output_bounded(),
    );
    run.assert_error(125, "./rootfs-fetch.sh");
    assert!(
        run.stderr.contains(&missing.display().to_string()),
        "{}",
        run.stderr
    );
}

pub fn step_mode_without_a_terminal_is_refused_not_hung(bin: &str) {
    let run = collect(
        step_command(bin, test_rootfs())
            .args(["--step", "--", "/bin/true"])
            .process_group(0) // no controlling terminal to fall back on
            .output_bounded(),
    );
    run.assert_error(125, "--step needs a terminal");
}

pub fn environment_is_the_containers_own(bin: &str) {
    let run = run_step(bin, &["-q", "-e", "GREETING=hello", "--", "/usr/bin/env"]);
    assert_eq!(run.code, Some(0), "{run:?}");
    let mut vars: Vec<_> = run
        .stdout
        .lines()
        .filter(|l| !l.starts_with("TERM="))
        .collect();
    vars.sort();
    assert_eq!(
        vars,
        [
            "GREETING=hello",
            "HOME=/root",
            "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        ]
    );
}

/// A dry run works as nobody, and executes nothing.
pub fn dry_run_needs_no_root_and_runs_nothing(bin: &str) {
    let cmd = step_command(bin, test_rootfs());
    let mut cmd = as_nobody(&cmd);
    cmd.args(["--dry-run", "--", "/bin/sh", "-c", "echo ran"]);
    let run = collect(cmd.output_bounded());
    assert_eq!(run.code, Some(0), "{run:?}");
    assert_eq!(run.stdout, "", "nothing may run in a dry run");
    assert!(run.stderr.contains("execve(\"/bin/sh\""), "{}", run.stderr);
}

/// A missing command: 127, and the message names it. Without a slash the
/// command is looked up in the container's PATH.
pub fn missing_command_exits_127_naming_it(bin: &str) {
    let run = run_step(bin, &["-q", "--", "/nope"]);
    run.assert_error(127, "/nope");
    let run = run_step(bin, &["-q", "--", "ls", "/bin/sh"]);
    assert_eq!(run.code, Some(0), "{run:?}");
    let run = run_step(bin, &["-q", "--", "no-such-command"]);
    run.assert_error(127, "no-such-command: command not found");
}

/// `--state-dir state`, relative: made absolute against the working
/// directory (the mount table and other processes see absolute paths).
pub fn a_relative_state_dir_works(bin: &str) {
    let dir = crate::temp_dir("tmp");
    let mut cmd = crate::step_command_in(bin, test_rootfs(), Path::new("state"));
    cmd.current_dir(dir.path())
        .args(["-q", "--", "/bin/echo", "hi"]);
    let run = collect(cmd.output_bounded());
    assert_eq!(run.code, Some(0), "{run:?}");
    assert_eq!(run.stdout, "hi\n");
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(
        !mounts.contains(&dir.path().display().to_string()),
        "{mounts}"
    );
}

/// Expands to one `#[test]` per contract function, for the binary `$bin`.
#[macro_export]
macro_rules! step_contract_tests {
    ($bin:expr) => {
        mod contract {
            #[allow(unused_imports)]
            use super::*;
            $crate::step_contract_tests!(@tests $bin;
                the_rootfs_is_another_system,
                an_interactive_shell_works_on_a_terminal,
                timings_show_how_long_each_call_took,
                dry_run_needs_no_root_and_runs_nothing,
                exit_codes_propagate_exactly,
                death_by_signal_gives_128_plus_n,
                missing_command_exits_127_naming_it,
                non_executable_command_exits_126,
                missing_rootfs_says_to_fetch_one,
                step_mode_without_a_terminal_is_refused_not_hung,
                environment_is_the_containers_own,
                stdin_is_the_containers,
                end_of_input_reaches_the_container,
                it_without_a_terminal_is_refused,
                sigterm_to_the_runtime_reaches_the_container,
                killing_the_runtime_kills_the_container,
                the_callers_descriptors_stay_outside,
                signal_state_is_the_default,
                a_closed_output_neither_panics_nor_leaks,
                stderr_flows_while_stdout_is_not_read,
                a_relative_state_dir_works,
            );
        }
    };
    (@tests $bin:expr; $($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                $crate::contract::$name($bin)
            }
        )*
    };
}
