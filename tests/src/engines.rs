//! The engines that drive an OCI runtime, run by the tests as a user runs
//! them, with everything of theirs in a temporary directory: podman (with
//! conmon) here, and the images they run.
//!
//! Podman keeps its images, containers and run-time files where it is told
//! (`--root`, `--runroot`, `--tmpdir`), reads a containers.conf of the
//! test's (CONTAINERS_CONF: the cgroupfs manager, as this host has no
//! systemd; events in a file; modest ulimits), and runs inside a network
//! namespace of the test's, so that the bridge, veths and iptables rules
//! that CNI makes for `-p` never touch the host's network.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use crate::{
    CommandExt, Run, TestNetns, collect, host, require, target_dir, temp_dir, test_cgroup_parent,
};

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

/// A podman of the test's own.
pub struct Podman {
    dir: tempfile::TempDir,
    netns: TestNetns,
    /// Each container's cgroup goes below this (`--cgroup-parent`).
    pub cgroup_parent: String,
    /// The OCI runtime podman calls (`--runtime`, an absolute path).
    runtime: String,
}

/// Where our OCI runtime keeps its containers by default (its `--root`).
/// Podman is not asked to pass another (`--runtime-flag root=`): podman
/// 4.3 leaves runtime flags out of the cleanup it runs when a container
/// ends, which would then look in the default root.
pub const OCI_ROOT: &str = "/run/10-runtime-oci";

impl Podman {
    /// Podman, with the OCI runtime at `runtime` (an absolute path), in a
    /// network namespace named after `tag`.
    pub fn new(tag: &str, runtime: &str) -> Self {
        for program in ["podman", "conmon"] {
            require(program);
        }
        let dir = temp_dir("tmp");
        let netns = TestNetns::new(&format!("pm-{tag}"));
        let conf = dir.path().join("containers.conf");
        // The CNI network's configuration goes in our directory too (its
        // bridge and rules go in our network namespace).
        std::fs::write(
            &conf,
            format!(
                "[engine]\n\
                 cgroup_manager = \"cgroupfs\"\n\
                 events_logger = \"file\"\n\
                 [containers]\n\
                 # podman raises the open-files and process limits high, which a\n\
                 # host without CAP_SYS_RESOURCE refuses (EPERM): modest ones.\n\
                 default_ulimits = [\"nofile=1024:1024\", \"nproc=1024:1024\"]\n\
                 [network]\n\
                 network_config_dir = \"{}\"\n",
                dir.path().join("net").display()
            ),
        )
        .expect("write containers.conf");
        // Podman's default network ("podman", CNI's bridge plugin), as
        // podman makes it, but with the addresses handed out recorded in
        // our directory (host-local's dataDir), not in /var/lib/cni.
        let net = dir.path().join("net");
        std::fs::create_dir_all(&net).expect("mkdir net");
        let ipam = dir.path().join("cni-ipam");
        let conflist = serde_json::json!({
            "cniVersion": "0.4.0",
            "name": "podman",
            "plugins": [
                {
                    "type": "bridge", "bridge": "cni-podman0", "isGateway": true,
                    "ipMasq": true, "hairpinMode": true,
                    "ipam": {
                        "type": "host-local", "dataDir": ipam,
                        "routes": [{ "dst": "0.0.0.0/0" }],
                        "ranges": [[{ "subnet": "10.88.0.0/16", "gateway": "10.88.0.1" }]]
                    }
                },
                { "type": "portmap", "capabilities": { "portMappings": true } },
                { "type": "firewall" },
                { "type": "tuning" }
            ]
        });
        std::fs::write(net.join("87-podman.conflist"), conflist.to_string())
            .expect("write the network's conflist");
        let podman = Podman {
            cgroup_parent: format!("{}/podman-{tag}", engine_cgroup_parent()),
            runtime: runtime.to_string(),
            dir,
            netns,
        };
        static SWEPT: OnceLock<()> = OnceLock::new();
        SWEPT.get_or_init(|| sweep_dead_containers(runtime));
        podman
    }

    /// `podman GLOBALS ARGS...`, in our network namespace.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new("nsenter");
        crate::die_with_the_test(&mut cmd);
        let d = self.dir.path();
        cmd.arg(format!("--net=/run/netns/{}", self.netns.name))
            .arg("podman")
            .env("CONTAINERS_CONF", d.join("containers.conf"))
            .arg("--root")
            .arg(d.join("root"))
            .arg("--runroot")
            .arg(d.join("run"))
            .arg("--tmpdir")
            .arg(d.join("tmp"))
            .args(["--storage-driver", "vfs", "--runtime", &self.runtime])
            .args(args);
        cmd
    }

    /// Runs `podman ARGS...` and collects what it printed.
    pub fn podman(&self, args: &[&str]) -> Run {
        collect(self.command(args).output_bounded())
    }

    /// `podman run --cgroup-parent OURS ARGS...`.
    pub fn run(&self, args: &[&str]) -> Run {
        let parent = ["run", "--cgroup-parent", &self.cgroup_parent];
        self.podman(&[&parent[..], args].concat())
    }

    /// `podman import` of a root filesystem tarball as `name`.
    pub fn import(&self, tar: &Path, name: &str) {
        let import = self.podman(&["import", tar.to_str().unwrap(), name]);
        assert_eq!(import.code, Some(0), "podman import: {import:?}");
    }

    /// The network namespace podman runs in (to reach published ports).
    pub fn netns(&self) -> &TestNetns {
        &self.netns
    }

    /// The test's directory (for volumes).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Podman {
    fn drop(&mut self) {
        // Every container (stopped at once), then podman's own mounts.
        let _ = self
            .command(&["rm", "-a", "-f", "-t", "0"])
            .output_bounded();
        let _ = self.command(&["system", "reset", "-f"]).output_bounded();
        host::remove_mounted_dir(&self.dir.path().join("run"));
    }
}

/// Deletes the containers that podmans of killed test runs left in our
/// runtime's root: those whose bundle was in a temporary directory of the
/// tests that is gone (the sweep of dead runs, at set-up, removed it).
fn sweep_dead_containers(runtime: &str) {
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
            let aside = tar.with_extension("tar.part");
            // A few hundred packages' worth of downloads: minutes, not 60 s.
            let run = collect(
                Command::new("mmdebstrap")
                    .args(["--variant=minbase", "--mode=root", "bookworm"])
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
