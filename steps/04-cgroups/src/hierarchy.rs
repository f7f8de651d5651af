//! Where the cgroup file systems are, and where we are in them.
//!
//! **cgroup v1** mounts one hierarchy per controller (or per group of
//! controllers): `/sys/fs/cgroup/memory`, `/sys/fs/cgroup/cpu`, ... Each has
//! its own tree, and a process has a place in each (`/proc/self/cgroup` has
//! one line per hierarchy).
//!
//! **cgroup v2** has one unified tree at `/sys/fs/cgroup`; a process has one
//! place in it (`0::/user.slice/...`), and controllers are switched on per
//! subtree by writing `+memory` into a parent's `cgroup.subtree_control`.
//!
//! Finding the mounts and our own paths is bookkeeping the cgroups-rs crate
//! (maintained by the Kata Containers project) does well; we use it here.
//! The writes that set up a cgroup we do ourselves, in `cgroup.rs`, so that
//! the trace can show each one: they are this step's lesson.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use cgroups_rs::fs::Controllers;
use cgroups_rs::fs::cgroup::get_cgroups_relative_paths;
use cgroups_rs::fs::hierarchies::{self, V1};

use crate::limits::{Controller, Version};

/// Where v2's unified hierarchy is mounted.
pub const UNIFIED: &str = "/sys/fs/cgroup";

/// The cgroup hierarchies of this host, and our place in them.
#[derive(Clone, Debug)]
pub struct Hierarchy {
    /// v1 or v2: which files hold the limits (limits.rs), and how many dirs.
    version: Version,
    /// For each controller: its mount point, and the path in the hierarchy
    /// that is mounted there (`/` except inside a container).
    ///
    /// A BTreeMap, so that the controllers come out in the same order on
    /// every run, and the trace with them.
    mounts: BTreeMap<Controller, (PathBuf, PathBuf)>,
    /// For each controller: our own cgroup, a path in its hierarchy.
    own: BTreeMap<Controller, PathBuf>,
}

/// What can go wrong when looking for the hierarchies.
#[derive(Debug, thiserror::Error)]
pub enum HierarchyError {
    /// A v1 controller we need is not mounted.
    #[error(
        "cgroup v1: the {0} controller is not mounted (see /proc/self/mountinfo)\n  \
         hint: mount it (mount -t cgroup -o {0} cgroup /sys/fs/cgroup/{0}) or boot with cgroup v2"
    )]
    NotMounted(&'static str),
    /// /proc/self/cgroup could not be read.
    #[error("reading /proc/self/cgroup: {0}")]
    OwnCgroup(String),
}

impl Hierarchy {
    /// Looks at this host: v2 when `/sys/fs/cgroup` is a cgroup2 file
    /// system, otherwise v1 (also on "hybrid" hosts, whose v2 tree at
    /// /sys/fs/cgroup/unified holds no controllers).
    pub fn detect() -> Result<Self, HierarchyError> {
        // /proc/self/cgroup: one `ID:CONTROLLERS:PATH` line per hierarchy
        // (cgroups(7)). cgroups-rs keys each path by controller name, splitting
        // co-mounted ones ("cpu,cpuacct"); v2's single line `0::PATH` gets "".
        let own_paths =
            get_cgroups_relative_paths().map_err(|e| HierarchyError::OwnCgroup(e.to_string()))?;
        let controllers = [
            (Controller::Memory, Controllers::Mem),
            (Controller::Cpu, Controllers::Cpu),
            // v1 keeps CPU time in a controller of its own, for the report.
            (Controller::CpuAcct, Controllers::CpuAcct),
            (Controller::Pids, Controllers::Pids),
        ];
        let mut mounts = BTreeMap::new();
        let mut own = BTreeMap::new();
        // statfs(2) on /sys/fs/cgroup: CGROUP2_SUPER_MAGIC means a pure v2
        // host; v1 and hybrid hosts usually have a tmpfs there, with the
        // hierarchies mounted inside it.
        if hierarchies::is_cgroup2_unified_mode() {
            // v2: one line `0::/path` in /proc/self/cgroup, one mount.
            let path = own_paths.get("").cloned().unwrap_or_else(|| "/".into());
            for (controller, _) in controllers {
                if controller == Controller::CpuAcct {
                    continue; // v2 accounts CPU time in cpu.stat
                }
                mounts.insert(controller, (PathBuf::from(UNIFIED), PathBuf::from("/")));
                own.insert(controller, PathBuf::from(&path));
            }
            return Ok(Hierarchy {
                version: Version::V2,
                mounts,
                own,
            });
        }
        let v1 = V1::new();
        for (controller, theirs) in controllers {
            // The cgroup mount whose options name the controller, from
            // /proc/self/mountinfo, with its root (mountinfo's 4th field).
            // Missing, it is an error now, before anything is made.
            let mount = v1
                .get_mount_point(theirs)
                .ok_or(HierarchyError::NotMounted(controller.name()))?;
            let path = own_paths
                .get(controller.name())
                .cloned()
                .unwrap_or_else(|| "/".into());
            mounts.insert(controller, mount);
            own.insert(controller, PathBuf::from(path));
        }
        Ok(Hierarchy {
            version: Version::V1,
            mounts,
            own,
        })
    }

    /// A hierarchy as given, for tests of the path logic.
    pub fn new_for_test(version: Version, root: &Path, own: &str) -> Self {
        let controllers: &[Controller] = match version {
            Version::V1 => &[
                Controller::Memory,
                Controller::Cpu,
                Controller::CpuAcct,
                Controller::Pids,
            ],
            Version::V2 => &[Controller::Memory, Controller::Cpu, Controller::Pids],
        };
        let mount = |c: &Controller| match version {
            Version::V1 => root.join(c.name()),
            Version::V2 => root.to_path_buf(),
        };
        Hierarchy {
            version,
            mounts: controllers
                .iter()
                .map(|c| (*c, (mount(c), "/".into())))
                .collect(),
            own: controllers
                .iter()
                .map(|c| (*c, PathBuf::from(own)))
                .collect(),
        }
    }

    /// v1 or v2.
    pub fn version(&self) -> Version {
        self.version
    }

    /// The controllers we use on this host.
    pub fn controllers(&self) -> Vec<Controller> {
        self.mounts.keys().copied().collect()
    }

    /// Our own cgroup in `controller`'s hierarchy.
    pub fn own(&self, controller: Controller) -> &Path {
        &self.own[&controller]
    }

    /// The mount point of `controller`'s hierarchy (its root directory).
    pub fn root(&self, controller: Controller) -> &Path {
        &self.mounts[&controller].0
    }

    /// The directory of cgroup `path` (a path in the hierarchy, like
    /// `/workshop/1a2b`) in `controller`'s hierarchy.
    pub fn dir(&self, controller: Controller, path: &Path) -> PathBuf {
        let (mount_point, mount_root) = &self.mounts[&controller];
        // Paths in /proc/self/cgroup start at the hierarchy's root, but a mount
        // may show only a subtree of it (its root in mountinfo): take that off.
        let inside = path.strip_prefix(mount_root).unwrap_or(path);
        // Relative, or join() would replace the mount point with it.
        let inside = inside.strip_prefix("/").unwrap_or(inside);
        mount_point.join(inside)
    }

    /// One line for the trace: which version, and where.
    pub fn describe(&self) -> String {
        // Said before the first mkdir: every path in the trace depends on it.
        match self.version {
            Version::V2 => format!("cgroup v2: one unified hierarchy at {UNIFIED}"),
            Version::V1 => {
                let mounts: Vec<_> = self
                    .mounts
                    .iter()
                    .map(|(c, (point, _))| format!("{} at {}", c.name(), point.display()))
                    .collect();
                format!(
                    "cgroup v1: one hierarchy per controller: {}",
                    mounts.join(", ")
                )
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dirs_are_found_per_hierarchy() {
        let v1 = Hierarchy::new_for_test(Version::V1, Path::new("/sys/fs/cgroup"), "/");
        assert_eq!(
            v1.dir(Controller::Memory, Path::new("/workshop/ab")),
            Path::new("/sys/fs/cgroup/memory/workshop/ab")
        );
        let v2 = Hierarchy::new_for_test(Version::V2, Path::new("/sys/fs/cgroup"), "/user.slice");
        assert_eq!(
            v2.dir(Controller::Pids, Path::new("/workshop/ab")),
            Path::new("/sys/fs/cgroup/workshop/ab")
        );
        assert_eq!(
            v2.controllers(),
            [Controller::Memory, Controller::Cpu, Controller::Pids]
        );
        assert_eq!(v2.own(Controller::Cpu), Path::new("/user.slice"));
    }
}
