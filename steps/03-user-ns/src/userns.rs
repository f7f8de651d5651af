//! The user namespace: root inside, an ordinary user outside.
//!
//! With `CLONE_NEWUSER` the child gets a user namespace of its own, and a
//! full set of capabilities *in it*. Every other namespace made by the same
//! `clone` is **owned** by the new user namespace; that is why this one
//! comes first: its root may then mount, set the hostname and chroot inside
//! its own namespaces, without being root on the host. This is how rootless
//! containers (Podman, `docker --userns-remap`, unprivileged LXC) work.
//!
//! Ids are translated at the namespace's border by the id maps (`idmap.rs`),
//! which the *parent* writes while the child waits on the sync pipe: a
//! process cannot write its own maps, and the child needs them before it
//! acts as root. The child then becomes root of its namespace with
//! setresgid/setresuid(0, 0, 0).
//!
//! What root inside cannot do: anything that needs a capability on the host
//! (set the clock, load modules, read a host file it has no permission for).
//! The kernel checks host-owned resources against the *host's* user
//! namespace, where this process is an ordinary user.
//!
//! Man pages: user_namespaces(7), capabilities(7), setresuid(2), setgroups(2).

use std::path::Path;

use colored::Color;
use nix::sched::CloneFlags;
use nix::unistd::{Gid, Pid, Uid, User};
use step01_chroot::Layer;
use step01_chroot::cli::eprintln_or_not;
use step01_chroot::error::{Error, Result};
use step01_chroot::layer::{ChildCx, ParentCx, Plan};
use step01_chroot::sys::Syscall;

use crate::idmap::{IdKind, IdMap, IdMapError, IdRange, subids_for};
use crate::remap::Grant;

/// Which ids the container gets.
#[derive(Clone, Debug)]
pub enum Mapping {
    /// No maps: every id inside reads as 65534 (the overflow id).
    Unmapped,
    /// These maps.
    Maps {
        /// The uid map.
        uid: IdMap,
        /// The gid map.
        gid: IdMap,
        /// Subordinate ranges to record first (root's first run, `remap.rs`).
        grants: Vec<Grant>,
    },
}

impl Mapping {
    /// Checked maps from uid and gid ranges.
    pub fn maps(uid: Vec<IdRange>, gid: Vec<IdRange>) -> Result<Self, IdMapError> {
        Ok(Mapping::Maps {
            uid: IdMap::new(IdKind::User, uid)?,
            gid: IdMap::new(IdKind::Group, gid)?,
            grants: Vec::new(),
        })
    }

    /// The maps, when they move container root away from host root: then
    /// host-owned files need an idmapped mount (`idmapped.rs`) to read as
    /// the container's.
    pub fn moves_root(&self) -> Option<(&IdMap, &IdMap)> {
        match self {
            Mapping::Maps { uid, gid, .. } if self.root_outside() != Some((0, 0)) => {
                Some((uid, gid))
            }
            _ => None,
        }
    }

    /// The host uid and gid of container root, if it is mapped to one.
    pub fn root_outside(&self) -> Option<(u32, u32)> {
        match self {
            Mapping::Maps { uid, gid, .. } => Some((uid.outside(0)?, gid.outside(0)?)),
            Mapping::Unmapped => None,
        }
    }
}

/// The user namespace layer. Put it first: it owns the other namespaces.
#[derive(Debug)]
pub struct UserNamespace {
    mapping: Mapping,
    /// Whether the runtime is root on the host. Root (CAP_SETUID and
    /// CAP_SETGID in the parent namespace) may write any map itself.
    privileged: bool,
}

impl UserNamespace {
    /// A user namespace with `mapping`.
    pub fn new(mapping: Mapping) -> Self {
        UserNamespace {
            mapping,
            privileged: Uid::effective().is_root(),
        }
    }
}

impl Layer for UserNamespace {
    fn name(&self) -> &'static str {
        "user"
    }

    fn color(&self) -> Color {
        Color::BrightCyan
    }

    fn clone_flags(&self) -> CloneFlags {
        CloneFlags::CLONE_NEWUSER
    }

    /// An unprivileged caller may map its own id, and what /etc/subuid and
    /// /etc/subgid delegate to it through newuidmap/newgidmap. Say so now,
    /// before anything is made, rather than with a bare EPERM later.
    fn check(&self, plan: &Plan<'_>) -> Result<()> {
        let Mapping::Maps { uid, gid, .. } = &self.mapping else {
            return Ok(());
        };
        let _ = plan;
        if self.privileged {
            return Ok(());
        }
        let user = User::from_uid(Uid::effective())
            .ok()
            .flatten()
            .map(|u| u.name)
            .unwrap_or_else(|| Uid::effective().to_string());
        for (map, own) in [
            (uid, Uid::effective().as_raw()),
            (gid, Gid::effective().as_raw()),
        ] {
            if map.is_only(own) {
                continue;
            }
            if find_in_path(map.kind().helper()).is_none() {
                return Err(Error::layer(IdMapError::HelperMissing {
                    flag: map.kind().flag(),
                    kind: map.kind().short(),
                    helper: map.kind().helper(),
                    own,
                }));
            }
            let delegated = std::fs::read_to_string(map.kind().subid_file()).unwrap_or_default();
            map.check_allowed(&user, own, &subids_for(&delegated, &user, own))
                .map_err(Error::layer)?;
        }
        Ok(())
    }

    /// Says who container root is on the host, for the layers that make
    /// its files; and on root's first run, records its subordinate range
    /// (`remap.rs`).
    fn prepare(&mut self, cx: &mut ParentCx<'_>) -> Result<()> {
        if let Some(ids) = self.mapping.root_outside() {
            cx.spec.root_on_host = ids;
            if ids == (0, 0) && self.privileged {
                // A warning, not a trace note: -q must not hide it.
                eprintln_or_not(format_args!(
                    "UNSAFE: container root is host root (--userns=host or --map-root-to 0): \
                     a file host root owns (a sysctl, a cgroup limit) is the container's to \
                     change. A lesson, not a way to run"
                ));
            }
        }
        let Mapping::Maps { grants, .. } = &self.mapping else {
            return Ok(());
        };
        for grant in grants {
            cx.trace.note(format!(
                "root has no range in {} yet: adding {:?} (subuid(5))",
                grant.file.display(),
                grant.line
            ));
            if !cx.trace.dry_run() {
                grant.record().map_err(|source| Error::Io {
                    what: "adding root's subordinate ids to",
                    path: grant.file.clone(),
                    source,
                })?;
            }
        }
        Ok(())
    }

    // ANCHOR: configure_child
    fn configure_child(&mut self, cx: &mut ParentCx<'_>, child: Pid) -> Result<()> {
        let Mapping::Maps { uid, gid, .. } = &self.mapping else {
            cx.trace
                .note("no id maps: inside, every uid and gid reads as 65534 (nobody)");
            return Ok(());
        };
        // EXERCISE 03: map the child's ids: its uid map, setgroups if need be, its gid map
        // HINT: self.write_map(cx, child, map) writes one map (directly, or through newuidmap).
        // HINT: unprivileged, the kernel takes a gid map only after "deny" is written to /proc/PID/setgroups.
        // CHECK: --lib userns::tests::maps_are_written_then_root_is_taken | the maps are written, then the child becomes root
        // CHECK: --test user_ns container_root_is_the_sudo_user | container root is the user who ran sudo
        // CHECK: --test user_ns root_inside_is_not_root_on_the_host | root inside is not root on the host
        self.write_map(cx, child, uid)?;
        if !self.privileged && gid.is_only(Gid::effective().as_raw()) {
            // Without this, an unprivileged user could drop a group with
            // setgroups(2) inside, and so get past a file whose mode denies
            // access to that group ("negative" permissions). The kernel
            // refuses the gid map until setgroups is denied.
            cx.trace
                .write_file(format!("/proc/{child}/setgroups"), "deny")?;
        }
        self.write_map(cx, child, gid)?;
        Ok(())
        // END EXERCISE
    }
    // ANCHOR_END: configure_child

    // ANCHOR: enter
    fn enter(&self, cx: &ChildCx<'_>) -> Result<()> {
        if let Mapping::Unmapped = self.mapping {
            return Ok(());
        }
        // Our ids are still the creator's, which may be unmapped in here.
        // Become root of the namespace: its uid 0 and gid 0.
        cx.trace.sys(Syscall::Setresgid(0))?;
        // Drop the supplementary groups we inherited from the host, where
        // setgroups is allowed. (It is denied when an unprivileged parent
        // wrote the gid map, and inherited as denied in nested namespaces;
        // then the groups stay, and read as 65534 inside.)
        let setgroups_allowed =
            std::fs::read_to_string("/proc/self/setgroups").is_ok_and(|s| s.trim() == "allow");
        if setgroups_allowed {
            cx.trace.sys(Syscall::DropGroups)?;
        }
        cx.trace.sys(Syscall::Setresuid(0))?;
        Ok(())
    }
    // ANCHOR_END: enter
}

impl UserNamespace {
    /// Writes one map: directly when the kernel allows it, through the
    /// set-uid helper (newuidmap/newgidmap) otherwise.
    fn write_map(&self, cx: &ParentCx<'_>, child: Pid, map: &IdMap) -> Result<()> {
        let own = match map.kind() {
            IdKind::User => Uid::effective().as_raw(),
            IdKind::Group => Gid::effective().as_raw(),
        };
        if self.privileged || map.is_only(own) {
            let file = format!("/proc/{child}/{}_map", map.kind().short());
            cx.trace.write_file(file, &map.file_contents())?;
            return Ok(());
        }
        let helper = map.kind().helper();
        let args = map.helper_args();
        let shown = format!("{helper} {child} {}", args.join(" "));
        cx.trace
            .note(format!("running the set-uid helper: {shown}"));
        if cx.trace.dry_run() {
            return Ok(());
        }
        let output = std::process::Command::new(helper)
            .arg(child.to_string())
            .args(&args)
            .output()
            .map_err(|e| {
                Error::layer(IdMapError::HelperFailed {
                    helper,
                    args: args.join(" "),
                    stderr: e.to_string(),
                })
            })?;
        if !output.status.success() {
            return Err(Error::layer(IdMapError::HelperFailed {
                helper,
                args: format!("{child} {}", args.join(" ")),
                stderr: String::from_utf8_lossy(&output.stderr).trim().to_string(),
            }));
        }
        Ok(())
    }
}

/// The path of `program` in `$PATH`, if it is there.
fn find_in_path(program: &str) -> Option<std::path::PathBuf> {
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join(program))
        .find(|p| Path::new(p).is_file())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::idmap::IdRange;
    use step01_chroot::spec::Spec;
    use step01_chroot::trace::Trace;

    /// The parent writes the maps, then the child takes root of the
    /// namespace: recorded, so any user can run it.
    #[test]
    fn maps_are_written_then_root_is_taken() {
        let (uid, gid) = (Uid::effective().as_raw(), Gid::effective().as_raw());
        let maps = Mapping::maps(vec![IdRange::one(0, uid)], vec![IdRange::one(0, gid)]);
        let mut layer = UserNamespace::new(maps.unwrap());
        let (trace, kernel) = Trace::recording();
        let mut spec = Spec::new("t", "/r".into(), vec!["sh".into()], "/s".into());
        let mut cx = ParentCx {
            spec: &mut spec,
            trace: trace.clone(),
        };
        layer.configure_child(&mut cx, Pid::from_raw(4242)).unwrap();
        layer.enter(&ChildCx::standalone(&spec, trace)).unwrap();

        let mut expected = vec![format!(r#"write("/proc/4242/uid_map", "0 {uid} 1\n")"#)];
        if !Uid::effective().is_root() {
            expected.push(r#"write("/proc/4242/setgroups", "deny")"#.into());
        }
        expected.push(format!(r#"write("/proc/4242/gid_map", "0 {gid} 1\n")"#));
        expected.push("setresgid(0, 0, 0)".into());
        // (Dropped where this process may: the test reads what enter reads.)
        let groups = std::fs::read_to_string("/proc/self/setgroups").unwrap_or_default();
        if groups.trim() == "allow" {
            expected.push("setgroups(0, [])".into());
        }
        expected.push("setresuid(0, 0, 0)".into());
        assert_eq!(kernel.shown(), expected);
    }
}
