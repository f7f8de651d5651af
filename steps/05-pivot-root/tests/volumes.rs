//! Step 05's volumes: shared with the host, `:ro` locked read-only,
//! resolved inside the rootfs, and their mount points gone again when no
//! container uses them.

use std::fs;
use std::os::unix::fs::PermissionsExt;

use workshop_tests::{CommandExt, RootfsCopy, collect, step_command};

const BIN: &str = env!("CARGO_BIN_EXE_05-pivot-root");

#[test]
fn volumes_are_shared_and_ro_ones_are_read_only() {
    let rootfs = RootfsCopy::new();
    let rw = tempfile::Builder::new()
        .prefix("workshop-vol-")
        .tempdir()
        .unwrap();
    let ro = tempfile::Builder::new()
        .prefix("workshop-vol-")
        .tempdir()
        .unwrap();
    fs::write(rw.path().join("from-host"), "host says hi").unwrap();
    fs::write(ro.path().join("file"), "read me").unwrap();
    // Container root is an unprivileged host user: it gets what the
    // directories allow everyone (or `chown 100000 DIR`, see chapter 3).
    fs::set_permissions(rw.path(), fs::Permissions::from_mode(0o777)).unwrap();
    fs::set_permissions(ro.path(), fs::Permissions::from_mode(0o755)).unwrap();
    let rw_arg = format!("{}:/data", rw.path().display());
    let ro_arg = format!("{}:/config:ro", ro.path().display());
    let script = "cat /data/from-host; echo; echo container says hi > /data/from-container; cat /config/file; echo; touch /config/nope";
    let run = collect(
        step_command(BIN, rootfs.path())
            .args(["-q", "-v", &rw_arg, "-v", &ro_arg, "/bin/sh", "-c", script])
            .output_bounded(),
    );
    assert_eq!(run.stdout, "host says hi\nread me\n", "{run:?}");
    assert!(
        run.stderr.contains("/config/nope: Read-only file system"),
        "{}",
        run.stderr
    );
    assert_eq!(
        fs::read_to_string(rw.path().join("from-container")).unwrap(),
        "container says hi\n"
    );
    assert!(!ro.path().join("nope").exists());
}

#[test]
fn a_volume_target_symlinked_out_of_the_rootfs_stays_inside() {
    let rootfs = RootfsCopy::new();
    let outside = tempfile::Builder::new()
        .prefix("workshop-outside-")
        .tempdir()
        .unwrap();
    // /evil in the rootfs points at a directory on the host.
    std::os::unix::fs::symlink(outside.path(), rootfs.path().join("evil")).unwrap();
    let source = tempfile::Builder::new()
        .prefix("workshop-vol-")
        .tempdir()
        .unwrap();
    fs::write(source.path().join("payload"), "x").unwrap();
    fs::set_permissions(source.path(), fs::Permissions::from_mode(0o755)).unwrap();
    let arg = format!("{}:/evil/mnt", source.path().display());
    let run = collect(
        step_command(BIN, rootfs.path())
            .args(["-v", &arg, "/bin/ls", "/evil/mnt"])
            .output_bounded(),
    );
    assert_eq!(run.code, Some(0), "{run:?}");
    assert_eq!(run.stdout, "payload\n");
    // The mount point was made inside (in the container's own /tmp, where
    // the symlink leads when resolved in the rootfs); the host's directory
    // stays untouched.
    assert_eq!(
        fs::read_dir(outside.path()).unwrap().count(),
        0,
        "nothing made outside the rootfs"
    );
}

/// A volume's target the image does not have is made for the run, and
/// removed after it: the shared rootfs is as it was (mount_points.rs).
#[test]
fn a_mount_point_made_for_a_volume_goes_with_the_run() {
    let rootfs = RootfsCopy::new();
    let volume = tempfile::Builder::new()
        .prefix("workshop-vol-")
        .tempdir()
        .unwrap();
    let target = rootfs.path().join("made-for-this-run");
    assert!(!target.exists());
    let arg = format!("{}:/made-for-this-run/deeper", volume.path().display());
    let run = collect(
        step_command(BIN, rootfs.path())
            .args(["-v", &arg, "/bin/ls", "-d", "/made-for-this-run/deeper"])
            .output_bounded(),
    );
    assert_eq!(run.code, Some(0), "{run:?}");
    assert!(
        run.stderr.contains("made for this mount"),
        "said in the trace: {run:?}"
    );
    assert!(!target.exists(), "removed after the run, parents included");
}
