//! Step 04's concept: a control group per container, and limits that hold.
//!
//! A cgroup is a directory in a special file system. Making the directory
//! makes the group; writing a number into one of its files sets a limit;
//! writing a pid into `cgroup.procs` moves that process (and its future
//! children) in; removing the empty directory removes the group. Every one
//! of those writes is in the trace.
//!
//! The timeline of this layer:
//!
//! 1. `prepare` (parent, no child yet): find the hierarchies, clean up
//!    cgroups that crashed runs left behind, make the container's cgroup and
//!    write its limits. Nothing runs in it yet, so no limit can be too late.
//! 2. `configure_child` (parent, child waiting): write the child's pid into
//!    `cgroup.procs`. Everything it starts is in the cgroup from then on.
//!    On v1 the child moves itself instead, first thing in `enter`, through
//!    descriptors `prepare` opened: ten times faster, and join.rs says why.
//! 3. `enter` (child): `unshare(CLONE_NEWCGROUP)`, a cgroup namespace whose
//!    root is the cgroup the child is now in, so `/proc/self/cgroup` says
//!    `/` inside, and the host's tree stays hidden.
//! 4. `cleanup` (parent, child gone): read what it used, print the report,
//!    remove the cgroup. Always, also after errors.
//!
//! Man pages: cgroups(7), cgroup_namespaces(7); the kernel's
//! Documentation/admin-guide/cgroup-v2.rst and cgroup-v1/*.

use std::collections::BTreeMap;
use std::path::PathBuf;

use colored::Color;
use nix::sched::CloneFlags;
use nix::unistd::{Pid, Uid};
use step01_chroot::ExitStatus;
use step01_chroot::Layer;
use step01_chroot::error::{Error, Result};
use step01_chroot::layer::{ChildCx, ParentCx, Plan};
use step01_chroot::sys::Syscall;

use crate::dirs::{make_dirs, make_v2_parents, remove};
use crate::hierarchy::Hierarchy;
use crate::join::Joining;
use crate::limits::{Controller, Limits, Version};
use crate::report::Report;

/// The default parent of container cgroups, at the root of each hierarchy
/// (Docker uses `/docker`).
pub const DEFAULT_PARENT: &str = "/workshop";

pub use crate::errors::CgroupError;

/// The cgroup layer.
#[derive(Debug)]
pub struct Cgroup {
    limits: Limits,
    /// `--cgroup-parent`: absolute (from each hierarchy's root) or
    /// relative (to the runtime's own cgroup).
    parent: String,
    swap_given: bool,
    made: Option<Made>,
}

/// What `prepare` made, for the later hooks.
#[derive(Debug)]
struct Made {
    hierarchy: Hierarchy,
    /// The container's directories: one on v2, one per hierarchy on v1.
    dirs: Vec<PathBuf>,
    /// The directory that serves each controller.
    by_controller: BTreeMap<Controller, PathBuf>,
    /// How the child gets in (join.rs); None until the directories are made.
    joining: Option<Joining>,
}

impl Cgroup {
    /// A cgroup with `limits`, below `parent` (default [`DEFAULT_PARENT`]).
    pub fn new(limits: Limits, parent: Option<String>) -> Self {
        Cgroup {
            swap_given: limits.memory_swap.is_some(),
            limits,
            parent: parent.unwrap_or_else(|| DEFAULT_PARENT.into()),
            made: None,
        }
    }
}

impl Made {
    /// The directory of `controller` (empty if there is none).
    fn dir(&self, controller: Controller) -> PathBuf {
        self.by_controller
            .get(&controller)
            .cloned()
            .unwrap_or_default()
    }
}

/// Where a cgroup named `name` below `parent` is, in `controller`'s
/// hierarchy: an absolute parent from the hierarchy's root, a relative one
/// from our own cgroup.
pub fn cgroup_path(
    hierarchy: &Hierarchy,
    controller: Controller,
    parent: &str,
    name: &str,
) -> PathBuf {
    let base = if parent.starts_with('/') {
        PathBuf::from(parent)
    } else {
        hierarchy.own(controller).join(parent)
    };
    if name.is_empty() {
        base
    } else {
        base.join(name)
    }
}

fn check_parent(parent: &str) -> std::result::Result<(), CgroupError> {
    let ok = parent
        .split('/')
        .all(|part| part != ".." && part != "." && !part.contains(char::is_whitespace));
    if parent.is_empty() || !ok {
        return Err(CgroupError::BadParent(parent.into()));
    }
    Ok(())
}

impl Layer for Cgroup {
    fn name(&self) -> &'static str {
        "cgroup"
    }

    fn color(&self) -> Color {
        Color::BrightGreen
    }

    fn check(&self, plan: &Plan<'_>) -> Result<()> {
        self.limits
            .check()
            .map_err(|e| Error::layer(CgroupError::from(e)))?;
        check_parent(&self.parent).map_err(Error::layer)?;
        if !plan.dry_run && !Uid::effective().is_root() && self.limits.any() {
            return Err(Error::layer(CgroupError::NeedsRoot));
        }
        Ok(())
    }

    // ANCHOR: prepare
    fn prepare(&mut self, cx: &mut ParentCx<'_>) -> Result<()> {
        if !cx.trace.dry_run() && !cx.trace.runs_as_root() {
            cx.trace
                .note("rootless: no cgroup (making one needs root, or a delegated cgroup)");
            return Ok(());
        }
        let hierarchy = Hierarchy::detect().map_err(Error::layer)?;
        cx.trace.note(hierarchy.describe());
        let mut made = Made {
            hierarchy,
            dirs: Vec::new(),
            by_controller: BTreeMap::new(),
            joining: None,
        };
        // Whatever fails from here on, undo what was made so far.
        let result = self.make(cx, &mut made);
        if let Err(err) = result {
            remove(&cx.trace, &made.dirs);
            return Err(err);
        }
        self.made = Some(made);
        Ok(())
    }
    // ANCHOR_END: prepare

    // ANCHOR: configure_child
    fn configure_child(&mut self, cx: &mut ParentCx<'_>, child: Pid) -> Result<()> {
        let Some(made) = &self.made else {
            return Ok(());
        };
        if let Some(joining) = &made.joining {
            joining.from_parent(&cx.trace, child)?;
        }
        Ok(())
    }
    // ANCHOR_END: configure_child

    // ANCHOR: enter
    fn enter(&self, cx: &ChildCx<'_>) -> Result<()> {
        let Some(made) = &self.made else {
            return Ok(());
        };
        // v1: in by itself, before anything else (join.rs).
        if let Some(joining) = &made.joining {
            joining.by_itself(&cx.trace)?;
        }
        // Now that we are in the container's cgroup, make it our root.
        cx.trace
            .sys(Syscall::Unshare(CloneFlags::CLONE_NEWCGROUP))?;
        Ok(())
    }
    // ANCHOR_END: enter

    // ANCHOR: cleanup
    fn cleanup(&mut self, cx: &mut ParentCx<'_>, exit: Option<&ExitStatus>) -> Result<()> {
        let Some(made) = self.made.take() else {
            return Ok(());
        };
        // Read the counters while the cgroup still exists.
        if exit.is_some() && !cx.trace.options().quiet {
            let version = made.hierarchy.version();
            let cpu = match version {
                Version::V1 => made.dir(Controller::CpuAcct),
                Version::V2 => made.dir(Controller::Cpu),
            };
            let memory = made.dir(Controller::Memory);
            let pids = made.dir(Controller::Pids);
            Report::read(version, &self.limits, &memory, &cpu, &pids).print(version);
        }
        remove(&cx.trace, &made.dirs);
        Ok(())
    }
    // ANCHOR_END: cleanup
}

impl Cgroup {
    /// Makes the cgroup: stale sweep, parents, directory, limits. (It is
    /// named after the run, whose lock says whether it is alive: owner.rs.)
    fn make(&self, cx: &ParentCx<'_>, made: &mut Made) -> Result<()> {
        let trace = &cx.trace;
        let hierarchy = made.hierarchy.clone();
        let version = hierarchy.version();
        let controllers = hierarchy.controllers();
        for &controller in &controllers {
            let parent = hierarchy.dir(
                controller,
                &cgroup_path(&hierarchy, controller, &self.parent, ""),
            );
            let dir = parent.join(&cx.spec.id);
            made.by_controller.insert(controller, dir.clone());
            if made.dirs.contains(&dir) {
                continue; // co-mounted controllers (v2, or cpu,cpuacct on v1)
            }
            crate::sweep::sweep_stale(trace, &parent, &cx.spec.id);
            match version {
                Version::V1 => make_dirs(trace, &parent)?,
                Version::V2 => {
                    make_v2_parents(trace, hierarchy.root(controller), &parent, &controllers)?
                }
            }
            let (path, mode) = (dir.clone(), 0o755);
            trace.sys(Syscall::Mkdir { path, mode })?;
            made.dirs.push(dir);
        }
        for (controller, file, value) in self.limits.files(version) {
            let path = made.dir(controller).join(file);
            if file == "memory.memsw.limit_in_bytes" && !trace.dry_run() && !path.exists() {
                if self.swap_given {
                    return Err(Error::layer(CgroupError::NoSwapAccounting));
                }
                trace.note("no swap accounting on this kernel: memory.memsw.* left alone");
                continue;
            }
            trace.write_file(&path, &value)?;
        }
        made.joining = Some(Joining::prepare(trace, version, &made.dirs)?);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The child's one call, once it is in its cgroup (recorded).
    #[test]
    fn enter_makes_the_cgroup_the_root_of_its_namespace() {
        let (trace, kernel) = step01_chroot::trace::Trace::recording();
        let spec = step01_chroot::spec::Spec::new("t", "/r".into(), vec![], "/s".into());
        let mut cgroup = Cgroup::new(Limits::default(), None);
        cgroup
            .enter(&ChildCx::standalone(&spec, trace.clone()))
            .unwrap();
        assert_eq!(
            kernel.shown(),
            Vec::<String>::new(),
            "no cgroup made: nothing to enter"
        );
        cgroup.made = Some(Made {
            hierarchy: Hierarchy::new_for_test(Version::V2, Path::new("/sys/fs/cgroup"), "/"),
            dirs: vec![],
            by_controller: BTreeMap::new(),
            joining: None,
        });
        cgroup.enter(&ChildCx::standalone(&spec, trace)).unwrap();
        assert_eq!(kernel.shown(), ["unshare(CLONE_NEWCGROUP)"]);
    }
    use std::fs;
    use std::path::Path;
    use step01_chroot::spec::Spec;
    use step01_chroot::trace::Trace;

    use crate::limits::Swap;

    /// The whole v2 setup, run against an ordinary directory that stands in
    /// for /sys/fs/cgroup: every file the kernel would get, with its value.
    #[test]
    fn v2_cgroup_files_are_written_as_the_kernel_expects() {
        let fake = tempfile::tempdir().unwrap();
        let root = fake.path().join("cgroup");
        fs::create_dir(&root).unwrap();
        fs::write(root.join("cgroup.subtree_control"), "cpu io").unwrap();
        let mut spec = Spec::new(
            "t",
            "/".into(),
            vec!["true".into()],
            fake.path().join("state"),
        );
        spec.id = "0123456789ab".into();
        let trace = Trace::quiet();
        let cx = ParentCx {
            spec: &mut spec,
            trace,
        };
        let limits = Limits {
            memory: Some(64 << 20),
            memory_swap: Some(Swap::Total(64 << 20)),
            cpus: Some(1.5),
            pids: Some(10),
            ..Default::default()
        };
        let layer = Cgroup::new(limits, None);
        let mut made = Made {
            hierarchy: Hierarchy::new_for_test(Version::V2, &root, "/"),
            dirs: Vec::new(),
            by_controller: BTreeMap::new(),
            joining: None,
        };
        layer.make(&cx, &mut made).unwrap();

        let read = |p: &str| fs::read_to_string(root.join(p)).unwrap();
        // Controllers handed down from the root, then from /workshop.
        assert_eq!(read("cgroup.subtree_control"), "+memory +pids");
        assert_eq!(
            read("workshop/cgroup.subtree_control"),
            "+memory +cpu +pids"
        );
        let dir = "workshop/0123456789ab";
        assert_eq!(read(&format!("{dir}/memory.max")), "67108864");
        assert_eq!(read(&format!("{dir}/memory.swap.max")), "0");
        assert_eq!(read(&format!("{dir}/cpu.max")), "150000 100000");
        assert_eq!(read(&format!("{dir}/pids.max")), "10");
        assert_eq!(
            made.dirs,
            [root.join(dir)],
            "one directory for every controller"
        );
    }

    #[test]
    fn parents_are_absolute_or_relative_to_our_own_cgroup() {
        let h = Hierarchy::new_for_test(Version::V1, Path::new("/sys/fs/cgroup"), "/user/ada");
        assert_eq!(
            cgroup_path(&h, Controller::Memory, "/workshop", "ab12"),
            Path::new("/workshop/ab12")
        );
        assert_eq!(
            cgroup_path(&h, Controller::Memory, "tests/t1", "ab12"),
            Path::new("/user/ada/tests/t1/ab12")
        );
        assert!(check_parent("../escape").is_err());
        assert!(check_parent("a/./b").is_err());
        assert!(check_parent("").is_err());
        assert!(check_parent("/workshop").is_ok());
    }
}
