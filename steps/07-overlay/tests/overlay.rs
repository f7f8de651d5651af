//! Step 07, run as a learner runs it: images imported into the store,
//! containers on overlays of their layers, whiteouts, diff, and what
//! overlay buys at start time (`import`'s refusals: import.rs).

use std::fs;
use std::process::Command;
use std::time::{Duration, Instant};

use workshop_tests::tarballs::{entry, tar_of_dir, tarball};
use workshop_tests::{
    CommandExt, collect, full_trace_redactions, state_dir, step_command, test_rootfs,
};

mod common;

use common::{BIN, busybox_image, layers_dir, on_image, store};

// What every step promises (exit codes, errors, stdin, signals, ...).
workshop_tests::step_contract_tests!(BIN);
workshop_tests::step_bad_input_tests!(BIN, [LIMITS, VOLUMES, NETWORK, SUBCOMMANDS]);
workshop_tests::step_escape_tests!(BIN, cgroups, mounts);
workshop_tests::step_fault_tests!(
    BIN,
    overlay: ["--network", "none"],
    overlay_bridge: ["--network", "bridge", "-p", "18081:80"],
);

#[test]
fn containers_on_one_image_do_not_see_each_others_writes() {
    let image = busybox_image("shared");
    let layer_files_before = fs::read_dir(layers_dir()).unwrap().count();
    let a = on_image(
        &image,
        &["/bin/sh", "-c", "echo a > /written-by-a; cat /written-by-a"],
    );
    assert_eq!(a.stdout, "a\n", "{a:?}");
    let b = on_image(
        &image,
        &[
            "/bin/sh",
            "-c",
            "ls /written-by-a; echo b > /etc/written-by-b",
        ],
    );
    assert!(
        b.stderr.contains("No such file or directory"),
        "b does not see a's file: {b:?}"
    );
    // The image's layers are untouched.
    for layer in fs::read_dir(layers_dir()).unwrap().flatten() {
        assert!(!layer.path().join("written-by-a").exists());
        assert!(!layer.path().join("etc/written-by-b").exists());
    }
    assert_eq!(
        fs::read_dir(layers_dir()).unwrap().count(),
        layer_files_before
    );
}

#[test]
fn whiteouts_and_opaque_directories_hide_what_is_below() {
    let base = tarball(|b| {
        entry(b, tar::EntryType::Directory, "data/", b"", "");
        entry(b, tar::EntryType::Regular, "data/keep", b"kept", "");
        entry(b, tar::EntryType::Regular, "data/gone", b"gone", "");
        entry(b, tar::EntryType::Directory, "opaque/", b"", "");
        entry(b, tar::EntryType::Regular, "opaque/old", b"old", "");
    });
    let upper = tarball(|b| {
        entry(b, tar::EntryType::Regular, "data/.wh.gone", b"", ""); // deletes data/gone
        entry(b, tar::EntryType::Regular, "opaque/.wh..wh..opq", b"", ""); // hides opaque/*
        entry(b, tar::EntryType::Regular, "opaque/new", b"new", "");
    });
    let os = tar_of_dir(test_rootfs());
    let tarballs = [os.path(), base.path(), upper.path()].map(|p| p.to_str().unwrap().to_string());
    let run = store(&[
        "import",
        &tarballs[0],
        &tarballs[1],
        &tarballs[2],
        "--name",
        "layered",
    ]);
    assert_eq!(run.code, Some(0), "{run:?}");
    assert!(
        run.stdout.contains("1 whiteouts, 1 opaque directories"),
        "{}",
        run.stdout
    );
    let run = on_image(
        "layered",
        &["/bin/sh", "-c", "ls /data; echo --; ls /opaque"],
    );
    assert_eq!(run.stdout, "keep\n--\nnew\n", "{run:?}");
}

#[test]
fn diff_lists_exactly_what_the_container_changed() {
    let image = busybox_image("diffed");
    let name = format!("diff-{}", std::process::id());
    let mut cmd = step_command(BIN, test_rootfs());
    cmd.env_remove("WORKSHOP_RM"); // keep its writable layer
    let script = "echo new > /new-file; echo more >> /etc/os-release; rm /etc/passwd";
    let run = collect(
        cmd.args([
            "-q", "--image", &image, "--name", &name, "/bin/sh", "-c", script,
        ])
        .output_bounded(),
    );
    assert_eq!(run.code, Some(0), "{run:?}");
    let diff = store(&["diff", &name]);
    assert_eq!(
        diff.stdout, "C /etc/os-release\nD /etc/passwd\nA /new-file\n",
        "{diff:?}"
    );
    insta::assert_snapshot!("diff", diff.stdout);
    // The name is taken while it is kept; rm frees it.
    let again = collect(
        step_command(BIN, test_rootfs())
            .args(["--image", &image, "--name", &name, "/bin/true"])
            .output_bounded(),
    );
    again.assert_error(125, &format!("a container named {name:?} exists"));
    assert_eq!(store(&["rm", &name]).code, Some(0));
    assert!(!state_dir().join("overlay").join(&name).exists());
}

#[test]
fn no_overlay_or_writable_layer_is_left_after_rm_runs() {
    let image = busybox_image("cleaned");
    let overlays = || {
        fs::read_dir(state_dir().join("overlay"))
            .map(|d| d.count())
            .unwrap_or(0)
    };
    let mounts = || {
        fs::read_to_string("/proc/self/mountinfo")
            .unwrap()
            .lines()
            .filter(|l| l.contains(" overlay ") && l.contains("workshop-state"))
            .count()
    };
    for (args, code) in [
        (&["/bin/true"][..], 0),
        (&["/nope"][..], 127),
        (&["--pivot-without-bind", "/bin/true"][..], 125), // pivot_root refuses the locked overlay
        (&["/bin/sh", "-c", "exit 3"][..], 3),
    ] {
        let run = on_image(&image, args);
        assert_eq!(run.code, Some(code), "{args:?}: {run:?}");
    }
    // Runs of other tests may be going on: wait for all to end.
    let deadline = Instant::now() + Duration::from_secs(20);
    while overlays() > 0 || mounts() > 0 {
        assert!(
            Instant::now() < deadline,
            "{} writable layers, {} overlay mounts left",
            overlays(),
            mounts()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn images_can_be_listed_and_removed() {
    let image = busybox_image("listed");
    let run = store(&["images"]);
    assert!(
        run.stdout
            .lines()
            .any(|l| l.starts_with(&format!("{image} "))),
        "{}",
        run.stdout
    );
    let run = store(&["rmi", &image]);
    assert_eq!(run.code, Some(0), "{run:?}");
    assert!(
        !store(&["images"])
            .stdout
            .lines()
            .any(|l| l.starts_with(&format!("{image} ")))
    );
    store(&["rmi", "no-such-image"]).assert_error(125, "no image named \"no-such-image\"");
    on_image("no-such-image", &["/bin/true"]).assert_error(125, "07-overlay import");
}

#[test]
fn trace_and_images_snapshots() {
    let image = busybox_image("snap");
    let run = collect(
        step_command(BIN, test_rootfs())
            .args(["--hostname", "layered", "--image", &image, "/bin/true"])
            .output_bounded(),
    );
    assert_eq!(run.code, Some(0), "{run:?}");
    assert!(run.stderr.contains("mount(\"overlay\""), "{}", run.stderr);
    let mut settings = full_trace_redactions(test_rootfs());
    settings.add_filter(r"[0-9a-f]{64}", "<layer sha256>");
    // Only the overlay's part of the trace: the rest is chapter 5's and 6's.
    // Not the sweep of what another test's killed run left in the shared
    // state directory (a note, and the unmount after it): that is theirs.
    let mut lines = run.stderr.lines();
    let mut overlay_lines = String::new();
    while let Some(l) = lines.next() {
        if l.contains("unmounting the overlay a killed run left") {
            lines.next(); // its umount2
        } else if l.contains("a killed run left") {
            // (a note alone)
        } else if l.contains("rootfs  │") || l.contains("[child ] pivot") {
            overlay_lines.push_str(&format!("{l}\n"));
        }
    }
    settings.bind(|| insta::assert_snapshot!("trace_overlay", overlay_lines));
    let listing = store(&["images"]).stdout;
    let ours: String = listing
        .lines()
        .filter(|l| l.starts_with("NAME") || l.starts_with("snap "))
        .map(|l| format!("{l}\n"))
        .collect();
    let mut settings = insta::Settings::clone_current();
    settings.add_filter(r"\d+ KiB", "<size> KiB");
    settings.add_filter(r"\b[0-9a-f]{12}\b", "<layer>");
    settings.bind(|| insta::assert_snapshot!("images", ours));
}

/// Names and ids are never paths: `rm /tmp/x`, `rm ../../x` and
/// `--name ../x` are refused before anything is touched, and the
/// directories they point at are still there.
#[test]
fn names_cannot_reach_outside_the_state_directory() {
    let victim = workshop_tests::temp_dir("tmp");
    let inside = victim.path().join("precious");
    fs::create_dir(&inside).unwrap();
    let state = state_dir().display().to_string();
    let up = "../".repeat(state.matches('/').count() + 2);
    let as_relative = format!(
        "{up}{}",
        inside.display().to_string().trim_start_matches('/')
    );
    let absolute = inside.display().to_string();
    for (args, flag) in [
        (vec!["rm", absolute.as_str()], "rm"),
        (vec!["rm", as_relative.as_str()], "rm"),
        (vec!["diff", as_relative.as_str()], "diff"),
    ] {
        let run = store(&args);
        run.assert_error(125, &format!("{flag} \""));
        assert!(
            run.stderr.contains("a name starts with a letter or digit"),
            "{}",
            run.stderr
        );
        assert!(inside.is_dir(), "{args:?} removed {}", inside.display());
    }
    let run = collect(
        step_command(BIN, test_rootfs())
            .args(["-q", "--name", &as_relative, "--", "/bin/true"])
            .output_bounded(),
    );
    run.assert_error(125, "--name \"");
    assert!(inside.is_dir());
    assert_eq!(
        fs::read_dir(&inside).unwrap().count(),
        0,
        "nothing made in it"
    );
}

/// `,` and `:` separate overlay's mount options and lower layers: a rootfs
/// or state directory whose path has them still works (the paths are
/// escaped), idmapped or not.
#[test]
fn paths_with_commas_and_colons_work() {
    let dir = workshop_tests::temp_dir("tmp");
    let rootfs = dir.path().join("root,fs:1");
    std::os::unix::fs::symlink(test_rootfs(), &rootfs).unwrap();
    let state = dir.path().join("state,dir:1");
    for userns in [&[][..], &["--userns", "host"][..]] {
        let run = collect(
            workshop_tests::step_command_in(BIN, &rootfs, &state)
                .args(userns)
                .args(["--", "/bin/cat", "/etc/os-release"])
                .output_bounded(),
        );
        assert_eq!(run.code, Some(0), "{userns:?}: {run:?}");
        assert!(run.stdout.contains("BusyBox"), "{run:?}");
        // The trace quotes the option string, so each backslash shows doubled.
        assert!(
            run.stderr.contains(r"state\\,dir\\:1"),
            "escaped: {}",
            run.stderr
        );
    }
}

/// A global flag goes before or after the subcommand, as with docker; a
/// run flag with a subcommand is refused (tested with the bad input).
#[test]
fn state_dir_goes_before_or_after_a_subcommand() {
    let state = state_dir().display().to_string();
    for args in [
        vec!["--state-dir", &state, "images"],
        vec!["images", "--state-dir", &state],
    ] {
        let run = collect(Command::new(BIN).args(&args).output_bounded());
        assert_eq!(run.code, Some(0), "{args:?}: {run:?}");
        assert!(run.stdout.starts_with("NAME"), "{args:?}: {run:?}");
    }
}
