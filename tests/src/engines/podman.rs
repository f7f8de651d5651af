//! Podman (with conmon), as a user runs it, with its images, containers
//! and run-time files in a temporary directory (`--root`, `--runroot`,
//! `--tmpdir`), a containers.conf of the test's (CONTAINERS_CONF: the
//! cgroupfs manager, as this host has no systemd; events in a file; modest
//! ulimits), inside a network namespace of the test's, so that the bridge,
//! veths and iptables rules that CNI makes for `-p` never touch the host's
//! network.

use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;

use super::{engine_cgroup_parent, sweep_dead_containers};
use crate::{CommandExt, Run, TestNetns, collect, host, require, temp_dir};

/// A podman of the test's own.
pub struct Podman {
    dir: tempfile::TempDir,
    netns: TestNetns,
    /// Each container's cgroup goes below this (`--cgroup-parent`).
    pub cgroup_parent: String,
    /// The OCI runtime podman calls (`--runtime`, an absolute path).
    runtime: String,
}

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
                // iptables, in our namespace: never firewalld, which is
                // the host's (over D-Bus) when it runs.
                { "type": "firewall", "backend": "iptables" },
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

    /// `podman rm -f -t 0 ID`, and once more if podman 4.3 lost the race
    /// between it and conmon's own cleanup ("unlinkat …/userdata/shm:
    /// device or resource busy": podman's issue 11594, fixed after 4.3).
    /// The second must work: what stays then is a leak of ours.
    pub fn remove(&self, id: &str) -> Run {
        let rm = self.podman(&["rm", "-f", "-t", "0", id]);
        if rm.code == Some(0) || !rm.stderr.contains("device or resource busy") {
            return rm;
        }
        std::thread::sleep(std::time::Duration::from_millis(500));
        self.podman(&["rm", "-f", "-t", "0", id])
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
