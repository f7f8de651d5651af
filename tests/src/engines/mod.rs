//! The engines that drive an OCI runtime, run by the tests as a user runs
//! them, with everything of theirs in a temporary directory: podman (with
//! conmon) and containerd (with `ctr` and its runc shim), and the images
//! they run.

mod containerd;
mod podman;

pub use containerd::Containerd;
pub use podman::Podman;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use crate::{CommandExt, collect, host, require, target_dir, test_cgroup_parent};

/// Where our OCI runtime keeps its containers by default (its `--root`).
/// Podman is not asked to pass another (`--runtime-flag root=`): podman
/// 4.3 leaves runtime flags out of the cleanup it runs when a container
/// ends, which would then look in the default root.
pub const OCI_ROOT: &str = "/run/10-runtime-oci";

/// The tests' cgroup parent as one absolute path that is the same in
/// every hierarchy, for tools that take one (podman's cgroupfs manager,
/// conmon). On cgroup v1 each hierarchy has our own cgroup at its own
/// path (here the memory one is deep, the others are the root): the path
/// is the deepest of them (each other is an ancestor of it, or this
/// panics) with ours below. The directories a tool will make above ours
/// in the other hierarchies are noted, for the exit (or the sweep of a
/// killed run) to remove.
pub fn engine_cgroup_parent() -> &'static str {
    static PARENT: OnceLock<String> = OnceLock::new();
    PARENT.get_or_init(|| {
        let parent = test_cgroup_parent();
        if parent.starts_with('/') {
            return parent.to_string(); // cgroup v2: already absolute
        }
        let own = std::fs::read_to_string("/proc/self/cgroup").expect("read /proc/self/cgroup");
        // "4:memory:/process_api/abc" → (memory, /process_api/abc)
        let paths: Vec<(&str, &str)> = own
            .lines()
            .filter_map(|l| {
                let mut f = l.splitn(3, ':');
                let (_, names, path) = (f.next()?, f.next()?, f.next()?);
                (!names.is_empty() && !names.starts_with("name=")).then_some((names, path))
            })
            .collect();
        let deepest = paths
            .iter()
            .map(|(_, p)| *p)
            .max_by_key(|p| p.len())
            .unwrap_or("/");
        for (names, path) in &paths {
            let under = path.trim_end_matches('/');
            assert!(
                deepest.starts_with(&format!("{under}/")) || deepest == *path,
                "our {names} cgroup {path} is not on the way to {deepest}: no one path is \
                 below ours in every hierarchy"
            );
        }
        let absolute = format!("{}/{parent}", deepest.trim_end_matches('/'));
        // What does not exist yet on the way, in each hierarchy.
        let mut made = Vec::new();
        for (names, _) in &paths {
            let mount = Path::new("/sys/fs/cgroup").join(names);
            let mut dir = mount.clone();
            for part in deepest.split('/').filter(|p| !p.is_empty()) {
                dir.push(part);
                if mount.exists() && !dir.exists() {
                    made.push(dir.clone());
                }
            }
        }
        host::note_made_cgroups(&made);
        absolute
    })
}

/// Deletes the containers that podmans of killed test runs left in our
/// runtime's root: those whose bundle was in a temporary directory of the
/// tests that is gone (the sweep of dead runs, at set-up, removed it).
pub(super) fn sweep_dead_containers(runtime: &str) {
    let ours = std::env::temp_dir().join("workshop-tmp-");
    for entry in std::fs::read_dir(OCI_ROOT).into_iter().flatten().flatten() {
        let state = std::fs::read_to_string(entry.path().join("state.json")).unwrap_or_default();
        let bundle = serde_json::from_str::<serde_json::Value>(&state)
            .ok()
            .and_then(|s| s["bundle"].as_str().map(PathBuf::from));
        if let Some(bundle) = bundle
            && bundle
                .to_string_lossy()
                .starts_with(&*ours.to_string_lossy())
            && !bundle.exists()
        {
            let _ = Command::new(runtime)
                .args(["--root", OCI_ROOT, "delete", "--force"])
                .arg(entry.file_name())
                .output_bounded();
        }
    }
}

/// A tarball of a minimal Debian (bookworm) root filesystem, made on first
/// use by mmdebstrap from Debian's mirror and kept in target/ for the next
/// run. Tests that need "a real distribution's image" use it.
pub fn debian_rootfs_tar() -> &'static Path {
    static TAR: OnceLock<PathBuf> = OnceLock::new();
    TAR.get_or_init(|| {
        require("mmdebstrap");
        let tar = target_dir().join("debian-rootfs.tar");
        let lock =
            std::fs::File::create(target_dir().join("debian-rootfs.lock")).expect("create lock");
        lock.lock().expect("lock the Debian rootfs");
        if !tar.exists() {
            // (mmdebstrap picks its output's format by the name's ending
            // too: said outright, and the name still ends in .tar.)
            let aside = target_dir().join("debian-rootfs.part.tar");
            // A few hundred packages' worth of downloads: minutes, not 60 s.
            let run = collect(
                Command::new("mmdebstrap")
                    .args([
                        "--variant=minbase",
                        "--mode=root",
                        "--format=tar",
                        "bookworm",
                    ])
                    .arg(&aside)
                    .output_within(std::time::Duration::from_secs(600)),
            );
            assert_eq!(
                run.code,
                Some(0),
                "mmdebstrap (a Debian rootfs from deb.debian.org): {run:?}"
            );
            std::fs::rename(&aside, &tar).expect("rename the Debian rootfs into place");
        }
        tar
    })
}
