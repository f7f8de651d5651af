//! A detached container's lifecycle, killed at moments along the way: the
//! monitor with SIGKILL while it starts the container, at increasing
//! delays; then `ps` must tell the truth, `rm` and the next run must
//! leave the host as it was (no mount, no record, no writable layer, no
//! process of the container).

mod common;

use std::time::{Duration, Instant};

use common::{Host, process_alive};

/// A mark to find the container's processes by.
const MARK: &str = "31338";

/// The processes whose command line names `needle`, but ours.
fn processes_naming(needle: &str) -> Vec<i64> {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i64>().ok())
        .filter(|pid| *pid != std::process::id() as i64)
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|c| String::from_utf8_lossy(&c).contains(needle))
        })
        .collect()
}

#[test]
fn a_monitor_killed_while_it_starts_the_container_leaves_nothing_behind() {
    let host = Host::new();
    let state = host.path().display().to_string();
    let mut kills = 0;
    for delay_ms in [0u64, 2, 5, 10, 20, 40, 80, 160, 320] {
        let mut cli = host.run_command(&["-d", "--name", "victim", "sleep", MARK]);
        let mut child = cli
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let started = Instant::now();
        // The monitor: this program again, on our state directory, which
        // is not the `run -d` we spawned (nor its short-lived child).
        let mut killed = false;
        while started.elapsed() < Duration::from_millis(delay_ms + 2000) {
            let monitors: Vec<i64> = processes_naming(&state)
                .into_iter()
                .filter(|p| *p != child.id() as i64)
                .filter(|p| common::parent_of(*p) != Some(child.id() as i64))
                .filter(|p| {
                    !std::fs::read(format!("/proc/{p}/cmdline"))
                        .is_ok_and(|c| c.starts_with(b"sleep"))
                })
                .collect();
            if !monitors.is_empty() && started.elapsed() >= Duration::from_millis(delay_ms) {
                for pid in monitors {
                    let _ = nix::sys::signal::kill(
                        nix::unistd::Pid::from_raw(pid as i32),
                        nix::sys::signal::Signal::SIGKILL,
                    );
                }
                killed = true;
                kills += 1;
                break;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        // (run -d ends when its monitor speaks or dies: bounded all the same.)
        let _ = workshop_tests::ChildExt::wait_bounded(&mut child);
        // `ps` says what happened: no container "Up" without a monitor.
        let ps = host.sub(&["ps", "-a"]);
        assert!(
            !ps.stdout.contains(" Up "),
            "after {delay_ms} ms ({killed}): {ps:?}"
        );
        // rm, then a run (which sweeps what a dead run left).
        for id in host.ids() {
            let rm = host.sub(&["rm", "-f", &id]);
            assert_eq!(rm.code, Some(0), "after {delay_ms} ms: {rm:?}");
        }
        let _ = host.sub(&["rm", "-f", "victim"]);
        let next = host.run(&["-q", "--rm", "true"]);
        assert_eq!(next.code, Some(0), "after {delay_ms} ms: {next:?}");
        // Nothing is left.
        host.wait_until("the container's processes to be gone", || {
            processes_naming(MARK).iter().all(|p| !process_alive(*p))
        });
        assert!(
            host.ids().is_empty(),
            "after {delay_ms} ms: records {:?}",
            host.ids()
        );
        let overlay: Vec<_> = std::fs::read_dir(host.path().join("overlay"))
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert!(
            overlay.is_empty(),
            "after {delay_ms} ms: writable layers {overlay:?}"
        );
        let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
        assert!(
            !mounts.contains(&state),
            "after {delay_ms} ms: a mount is left:\n{mounts}"
        );
    }
    assert!(
        kills >= 5,
        "the monitor was found and killed only {kills} times"
    );
}
