//! Step 04's trace: every cgroup file the runtime writes, with its value,
//! kept as a snapshot for each cgroup version. Version 1 is checked on
//! this host, where CI runs, which has cgroup v1. Version 2, the version
//! most learners have, is checked in the VM lane (tests/vm): a guest with
//! a cgroup v2 kernel runs [`TRACED`], and run.sh gives its trace to
//! [`the_v2_trace_made_in_the_vm_lane`].

use std::path::Path;

use step04_cgroups::hierarchy::Hierarchy;
use step04_cgroups::limits::Version;
use workshop_tests::{redactions, regex_escape, run_step, test_cgroup_parent, test_rootfs};

const BIN: &str = env!("CARGO_BIN_EXE_04-cgroups");

/// The traced run's arguments. tests/vm/guest.sh runs the same ones: keep
/// the two in step.
const TRACED: &[&str] = &[
    "--hostname",
    "traced",
    "--memory",
    "64m",
    "--cpus",
    "0.5",
    "--pids-limit",
    "20",
    "/bin/true",
];

/// The writes each version must show, whatever the snapshot says.
fn expected_writes(version: Version) -> &'static [&'static str] {
    match version {
        Version::V1 => &[
            "memory.limit_in_bytes\", \"67108864\") = 0",
            "cpu.cfs_quota_us\", \"50000\") = 0",
            "pids.max\", \"20\") = 0",
            // The child moves itself (join.rs): the parent opens, it writes.
            "tasks\", O_WRONLY | O_CLOEXEC) = ",
            "tasks\", \"0\") /* opened by the parent; 0: this thread moves itself */ = 0",
        ],
        Version::V2 => &[
            "memory.max\", \"67108864\") = 0",
            "cpu.max\", \"50000 100000\") = 0",
            "pids.max\", \"20\") = 0",
            "cgroup.procs\"",
        ],
    }
}

/// What differs between runs and machines and says nothing about the
/// layer: times, sizes, the kernel's counters.
fn redacted(mut settings: insta::Settings) -> insta::Settings {
    settings.add_filter(r"cpu time: [\d.]+ s", "cpu time: <time> s");
    // (pids.peak exists only on newer kernels)
    settings.add_filter(r"(?m)^  pids: peak \d+\n", "");
    settings.add_filter(r"memory: peak [\d.]+ [KMG]?i?B", "memory: peak <size>");
    settings
}

#[test]
fn the_trace_shows_every_cgroup_file_written() {
    // A first run makes the parent cgroups, so the traced one below shows
    // only the container's own (as on a machine where /workshop exists).
    assert_eq!(
        run_step(BIN, &["-q", "--pids-limit", "20", "/bin/true"]).code,
        Some(0)
    );
    let run = run_step(BIN, TRACED);
    assert_eq!(run.code, Some(0), "{run:?}");
    let hierarchy = Hierarchy::detect().expect("cgroups on this host");
    for write in expected_writes(hierarchy.version()) {
        assert!(
            run.stderr.contains(write),
            "no write of {write}:\n{}",
            run.stderr
        );
    }
    assert!(run.stderr.contains("unshare(CLONE_NEWCGROUP) = 0"));
    if hierarchy.version() == Version::V2 {
        // Said, not skipped silently: the v2 snapshot is made where the
        // machine is known (which controllers and files a host has varies).
        eprintln!(
            "cgroup v2 host: the writes are checked; the v2 trace snapshot is checked by \
             the VM lane (tests/vm/run.sh)"
        );
        return;
    }
    let mut settings = redactions(test_rootfs());
    // Where this test process's own cgroup is differs between machines.
    for c in hierarchy.controllers() {
        let own = hierarchy.dir(c, hierarchy.own(c));
        let own = format!("{}/", own.display().to_string().trim_end_matches('/'));
        settings.add_filter(&regex_escape(&own), format!("[OWN {} CGROUP]/", c.name()));
    }
    settings.add_filter(&regex_escape(test_cgroup_parent()), "<test parent>");
    redacted(settings).bind(|| {
        insta::assert_snapshot!(
            "trace_v1",
            workshop_tests::without_others_leftovers(&run.stderr)
        )
    });
}

/// What tests/vm/guest.sh names things in the guest (run.sh passes the
/// trace in `WORKSHOP_VM_TRACE`).
const VM_ROOTFS: &str = "/srv/vm-rootfs";
const VM_CGROUP_PARENT: &str = "/workshop-tests-vm";

#[test]
#[ignore = "needs a cgroup v2 guest's trace: tests/vm/run.sh runs it with WORKSHOP_VM_TRACE"]
fn the_v2_trace_made_in_the_vm_lane() {
    let file = std::env::var_os("WORKSHOP_VM_TRACE")
        .expect("WORKSHOP_VM_TRACE names the trace a cgroup v2 guest printed; run tests/vm/run.sh");
    let trace = std::fs::read_to_string(&file)
        .unwrap_or_else(|e| panic!("{}: {e}", Path::new(&file).display()));
    assert!(
        trace.contains("# cgroup v2: one unified hierarchy"),
        "not a cgroup v2 trace:\n{trace}"
    );
    for write in expected_writes(Version::V2) {
        assert!(trace.contains(write), "no write of {write}:\n{trace}");
    }
    let mut settings = redactions(Path::new(VM_ROOTFS));
    settings.add_filter(&regex_escape(VM_CGROUP_PARENT), "/<test parent>");
    redacted(settings).bind(|| insta::assert_snapshot!("trace_v2", trace));
}
