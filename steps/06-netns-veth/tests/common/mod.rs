//! What the tests of step 06 share: its binary, run inside a test's own
//! network namespace, and patience with bounds.
#![allow(dead_code)] // each test binary uses some of these

use std::net::Ipv4Addr;
use std::process::Command;
use std::time::Duration;

use workshop_tests::{CommandExt, TestNetns, collect, step_command, test_rootfs};

pub const BIN: &str = env!("CARGO_BIN_EXE_06-netns-veth");

/// The step, in the test's "host" namespace, with `args`.
pub fn in_host(host: &TestNetns, args: &[&str]) -> Command {
    let mut cmd = step_command(BIN, test_rootfs());
    cmd.args(args);
    host.command(&cmd)
}

/// The IPv4 address on eth0 in `ip -4 -o addr` output.
pub fn eth0_address(output: &str) -> Ipv4Addr {
    output
        .lines()
        .find(|l| l.contains("eth0") && l.contains("inet "))
        .and_then(|l| l.split("inet ").nth(1)?.split('/').next()?.parse().ok())
        .unwrap_or_else(|| panic!("no eth0 address in:\n{output}"))
}

/// How long a test waits for a connection, an answer or a rule.
pub const PATIENCE: Duration = Duration::from_secs(15);

/// Runs `f` until it returns Some, for up to [`PATIENCE`].
#[track_caller]
pub fn eventually<T>(what: &str, f: impl FnMut() -> Option<T>) -> T {
    workshop_tests::eventually(PATIENCE, what, f)
}

/// Runs `script` in a container on the bridge, in `host`.
pub fn bridged_sh(host: &TestNetns, script: &str) -> workshop_tests::Run {
    collect(
        in_host(
            host,
            &["-q", "--network", "bridge", "/bin/sh", "-c", script],
        )
        .output_bounded(),
    )
}
