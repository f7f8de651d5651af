//! The escapes of steps 04 and 05 on: cgroup limits, the image's symlinks,
//! read-only volumes, the state directory (the `cgroups` and `mounts`
//! groups of `step_escape_tests!`).

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use super::{Caller, sh};
use crate::bounded::CommandExt as _;
use crate::{RootfsCopy, as_nobody, collect, state_dir, step_command, temp_dir, test_rootfs};

/// Item 3: a container cannot raise its own memory limit by mounting the
/// cgroup hierarchy and writing to it (the files belong to host root). On
/// v1 the swap limit goes first: the kernel keeps memory <= memory+swap.
pub fn cgroup_limits_cannot_be_raised(bin: &str, caller: Caller) {
    let script = "mkdir -p /tmp/cg; \
        if mount -t cgroup -o memory none /tmp/cg 2>/dev/null; then f=/tmp/cg/memory.limit_in_bytes; \
          echo 335544320 > /tmp/cg/memory.memsw.limit_in_bytes 2>/dev/null; \
        elif mount -t cgroup2 none /tmp/cg 2>/dev/null; then f=/tmp/cg/memory.max; \
        else echo NOT-MOUNTED; exit 0; fi; \
        if echo 335544320 > $f; then echo RAISED; else echo REFUSED; fi; cat $f";
    let run = sh(&caller, bin, test_rootfs(), script, &["--memory", "64m"]);
    assert_eq!(run.code, Some(0), "{run:?}");
    assert!(!run.stdout.contains("RAISED"), "{run:?}");
    if !run.stdout.contains("NOT-MOUNTED") {
        assert!(run.stdout.contains("67108864"), "the limit stays: {run:?}");
    }
}

/// Item 5: an image whose /etc/hostname is a symlink to a host path gets
/// the file made inside the rootfs, never on the host.
pub fn image_symlinks_stay_in_the_rootfs(bin: &str, caller: Caller) {
    let host = temp_dir("escape");
    let planted = host.path().join("planted");
    let rootfs = RootfsCopy::new();
    let link = rootfs.path().join("etc/hostname");
    let _ = fs::remove_file(&link);
    std::os::unix::fs::symlink(&planted, &link).unwrap();
    let run = sh(
        &caller,
        bin,
        rootfs.path(),
        "cat /etc/hostname",
        &["--hostname", "inside"],
    );
    assert_eq!(run.code, Some(0), "{run:?}");
    assert_eq!(run.stdout, "inside\n");
    assert!(
        !planted.exists(),
        "the runtime made {} on the host",
        planted.display()
    );
}

/// Item 4: a `:ro` volume stays read-only, submounts included, whatever
/// container root does: remount it read-write, write below it, unmount it.
pub fn read_only_volumes_stay_read_only(bin: &str, caller: Caller) {
    let host = temp_dir("vol");
    let sub = host.path().join("sub");
    fs::create_dir(&sub).unwrap();
    let tmpfs = Command::new("mount")
        .args([
            "-t",
            "tmpfs",
            "-o",
            "mode=0777",
            "workshop-test",
            &sub.display().to_string(),
        ])
        .status_bounded()
        .unwrap();
    assert!(tmpfs.success(), "mount a tmpfs on {}", sub.display());
    fs::set_permissions(host.path(), fs::Permissions::from_mode(0o777)).unwrap();
    let volume = format!("{}:/data:ro", host.path().display());
    let script = "mount -o remount,rw,bind /data 2>/dev/null; touch /data/x /data/sub/y 2>/dev/null; \
                  umount -l /data 2>/dev/null; echo done";
    // A copy: the mount point /data is made in the rootfs.
    let rootfs = RootfsCopy::new();
    let run = sh(&caller, bin, rootfs.path(), script, &["-v", &volume]);
    let _ = Command::new("umount").arg(&sub).status_bounded();
    assert_eq!(run.code, Some(0), "{run:?}");
    for written in [host.path().join("x"), sub.join("y")] {
        assert!(
            !written.exists(),
            "the container wrote {}",
            written.display()
        );
    }
}

// ANCHOR: state_dir_closed
/// Item 6: while a container runs, no other host user can list the state
/// directory or read anything under it (layers, writable layers, the
/// container's /etc files), so no set-uid binary of an image is theirs.
pub fn the_state_directory_is_closed_to_others(bin: &str, caller: Caller) {
    let mut cmd = step_command(bin, test_rootfs());
    cmd.args(["-q", "--", "/bin/sleep", "30"]);
    let mut runtime = caller.command(cmd).spawn().unwrap();
    let state = state_dir();
    let found = crate::bounded::eventually(
        std::time::Duration::from_secs(20),
        "the container's files in the state directory",
        || {
            let entries = walk(state);
            entries
                .iter()
                .any(|p| p.ends_with("hostname"))
                .then_some(entries)
        },
    );
    let mut probe = Command::new("/bin/sh");
    probe.arg("-c").arg(
        "for p in \"$@\"; do \
           if [ -d \"$p\" ]; then ls \"$p\" >/dev/null 2>&1 && echo \"LISTED $p\"; \
           else cat \"$p\" >/dev/null 2>&1 && echo \"READ $p\"; fi; done",
    );
    probe.arg("sh").arg(state).args(&found);
    let seen = collect(as_nobody(&probe).output_bounded());
    runtime.kill().unwrap();
    let _ = crate::bounded::ChildExt::wait_bounded(&mut runtime);
    assert_eq!(seen.stdout, "", "another user reached: {seen:?}");
}
// ANCHOR_END: state_dir_closed

/// Every path under `dir`, not crossing into other file systems (an
/// overlay's merged view is checked at its mount point, not walked).
fn walk(dir: &Path) -> Vec<PathBuf> {
    let dev = fs::metadata(dir).map(|m| m.dev()).unwrap_or(0);
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for entry in fs::read_dir(&d).into_iter().flatten().flatten() {
            let path = entry.path();
            let Ok(meta) = fs::symlink_metadata(&path) else {
                continue;
            };
            if meta.is_dir() && meta.dev() == dev {
                todo.push(path.clone());
            }
            out.push(path);
        }
    }
    out
}
