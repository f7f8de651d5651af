//! `start` and `--restart`: a container that ran starts again on its
//! writable layer, by hand or by its policy; `stop` ends it for good.

mod common;

use std::time::Duration;

use common::Host;

/// Each run adds a line to a file in the container's writable layer and
/// prints how many there are.
const COUNT: &str = "echo run >> /count; wc -l < /count";

#[test]
fn start_runs_a_container_again_on_its_writable_layer() {
    let host = Host::new();
    let id = host.detach(&["--name", "again", "sh", "-c", COUNT]);
    let exited = || host.state(&id)["status"] == "exited";
    host.wait_until("the first run to end", exited);
    let start = host.sub(&["start", "again"]);
    assert_eq!(
        (start.code, start.stdout.as_str()),
        (Some(0), "again\n"),
        "{start:?}"
    );
    host.wait_until("the second run to end", || {
        host.sub(&["logs", "again"]).stdout == "1\n2\n"
    });
    host.wait_until("the second run to end", exited);
    assert_eq!(
        host.state(&id)["restarts"],
        0,
        "started by hand, not restarted"
    );
    // Started again by a shell whose environment differs (no
    // WORKSHOP_NETWORK=none, which made it `--network none`): its flags
    // are as they were, so it gets no network now either.
    let quiet = host.detach(&["--name", "quiet", "sleep", "1000"]);
    assert_eq!(host.sub(&["stop", "-t", "0", "quiet"]).code, Some(0));
    // (In a network namespace of the test's own: were the flags lost, the
    // bridge this would make must not be the host's.)
    let netns = workshop_tests::TestNetns::new("start-env");
    let start = workshop_tests::collect(workshop_tests::CommandExt::output_bounded(
        &mut netns.command(&host.sub_command(&["start", "quiet"])),
    ));
    assert_eq!(start.code, Some(0), "{start:?}");
    let links = host.sub(&["exec", "-q", &quiet, "cat", "/proc/net/dev"]);
    assert!(
        links.stdout.contains("lo:") && !links.stdout.contains("eth0"),
        "{links:?}"
    );
    // Not while it runs; not a container that is not there.
    let id = host.detach(&["--name", "busy", "sleep", "1000"]);
    host.sub(&["start", "busy"]).assert_error(1, "is running");
    host.sub(&["start", "nope"])
        .assert_error(1, "no such container");
    assert_eq!(host.state(&id)["status"], "running");
}

#[test]
fn a_restart_policy_starts_it_again_until_its_limit_or_a_stop() {
    let host = Host::new();
    // on-failure:2: three runs, then it stays exited.
    let id = host.detach(&["--restart", "on-failure:2", "sh", "-c", "echo try; exit 3"]);
    host.wait_until("three tries", || {
        host.state(&id)["restarts"] == 2 && host.state(&id)["status"] == "exited"
    });
    std::thread::sleep(Duration::from_millis(800));
    assert_eq!(host.sub(&["logs", &id]).stdout, "try\ntry\ntry\n");
    let ps = host.sub(&["ps", "-a"]).stdout;
    assert!(ps.contains("Exited (3)"), "{ps}");
    // always: again and again, until `stop`, which ends it for good.
    let id = host.detach(&["--restart", "always", "sh", "-c", "echo up; sleep 0.2"]);
    host.wait_until("a restart", || {
        host.state(&id)["restarts"].as_u64() >= Some(2)
    });
    let stop = host.sub(&["stop", &id]);
    assert_eq!(stop.code, Some(0), "{stop:?}");
    let after = host.state(&id)["restarts"].clone();
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(host.state(&id)["restarts"], after, "restarted after stop");
    assert_eq!(host.state(&id)["status"], "exited");
}

#[test]
fn restart_policies_are_checked_before_anything_is_made() {
    let host = Host::new();
    for (args, needle) in [
        (vec!["-d", "--restart", "sometimes", "true"], "--restart"),
        (vec!["--restart", "always", "true"], "add -d"),
        (
            vec!["-d", "--rm", "--restart", "always", "true"],
            "--restart and --rm",
        ),
    ] {
        host.run(&args).assert_error(125, needle);
    }
    assert!(host.ids().is_empty());
}
