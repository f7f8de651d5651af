//! `-v HOST:CONTAINER[:ro]`: a host directory or file, bind-mounted into
//! the container. This is all a Docker volume is.
//!
//! The parent makes the mount point (container root may not write the
//! rootfs: it is not host root), the child mounts onto it.
//!
//! The container path is resolved **inside** the new root. The rootfs is
//! not ours to trust: `/data` in it may be a symlink to `/etc` or
//! `../../../../etc`, and following it naively from the host would mount
//! over the *host's* `/etc`. The safe-path crate (from Kata Containers)
//! resolves each component with the rootfs as `/`, so every symlink lands
//! inside it.

use std::path::{Path, PathBuf};

use colored::Color;
use step01_chroot::Layer;
use step01_chroot::error::{Error, Result};
use step01_chroot::layer::{ChildCx, ParentCx, Plan};
use step01_chroot::sys::Syscall;
use step01_chroot::trace::Trace;

use nix::mount::{MntFlags, umount2};
use step01_chroot::ExitStatus;

use crate::mounts::{bind, mkdir, read_only_recursive, touch};
use crate::volume_arg::{Volume, VolumeError};

/// The volumes layer.
#[derive(Debug, Default)]
pub struct Volumes {
    volumes: Vec<Volume>,
    /// Where each `:ro` volume is staged (by index in `volumes`), while
    /// it is mounted there.
    staged: Vec<(usize, PathBuf)>,
}

impl Volumes {
    /// Bind mounts for `volumes`.
    pub fn new(volumes: Vec<Volume>) -> Self {
        Volumes {
            volumes,
            staged: Vec::new(),
        }
    }

    /// `<state>/volumes/<id>/<n>`: where read-only volume `n` is mounted by
    /// the parent, for the container's lifetime. Nothing ever removes a
    /// directory there recursively: it may hold a host directory.
    fn staging(spec: &step01_chroot::spec::Spec, n: usize) -> PathBuf {
        staging_dir(&spec.state_dir, &spec.id).join(n.to_string())
    }

    /// Unmounts the staged volumes, once the container has exited.
    fn unstage(&self, trace: &Trace) {
        for (_, staging) in &self.staged {
            let target = staging.clone();
            let flags = MntFlags::MNT_DETACH;
            let _ = trace.sys(Syscall::Umount { target, flags });
        }
    }
}

fn staging_dir(state_dir: &Path, id: &str) -> PathBuf {
    state_dir.join("volumes").join(id)
}

/// Unmounts and removes what `<state>/volumes/<id>` holds: mount points,
/// then the owner file and the directory. Only ever rmdir: a mount point
/// that would not unmount keeps its directory, and its host files.
fn remove_staging(dir: &Path) {
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if entry.file_name() == "owner" {
            continue;
        }
        let _ = umount2(&path, MntFlags::MNT_DETACH);
        let _ = std::fs::remove_file(&path).or_else(|_| std::fs::remove_dir(&path));
    }
    let _ = std::fs::remove_file(dir.join("owner"));
    let _ = std::fs::remove_dir(dir);
}

impl Layer for Volumes {
    fn name(&self) -> &'static str {
        "volume"
    }

    fn color(&self) -> Color {
        Color::Cyan
    }

    fn check(&self, _plan: &Plan<'_>) -> Result<()> {
        for (i, volume) in self.volumes.iter().enumerate() {
            if !volume.host.exists() {
                return Err(Error::layer(VolumeError::NoSource(volume.host.clone())));
            }
            // Compared by components: /data and /data/ are one path.
            let target: Vec<_> = volume.container.components().collect();
            if self.volumes[..i]
                .iter()
                .any(|v| v.container.components().eq(target.iter().copied()))
            {
                let shown = volume.container.display().to_string();
                return Err(Error::layer(VolumeError::SameTarget(shown)));
            }
        }
        Ok(())
    }

    // ANCHOR: prepare
    /// The mount points are made by the parent, before the child exists:
    /// container root may not be able to (it is not host root, and the
    /// rootfs belongs to host root). Every path is resolved inside the
    /// rootfs, so a symlink in the image never leads to a host file.
    fn prepare(&mut self, cx: &mut ParentCx<'_>) -> Result<()> {
        let trace = &cx.trace;
        let rootfs = &cx.spec.rootfs;
        for volume in &self.volumes {
            let target = resolve(trace, rootfs, &volume.container)?;
            trace.note(format!(
                "{} resolves to {}",
                volume.container.display(),
                target.display()
            ));
            crate::mount_points::make(trace, cx.spec, &target, volume.host.is_dir())?;
        }
        self.stage_read_only(cx)
    }
    // ANCHOR_END: prepare

    // The staged mounts stay until the container exits: until the child
    // has made its mounts private, its copies are slaves of ours, and an
    // unmount here would take them away too (see step 03's reach.rs).

    fn cleanup(&mut self, cx: &mut ParentCx<'_>, _exit: Option<&ExitStatus>) -> Result<()> {
        self.unstage(&cx.trace);
        crate::mount_points::release(&cx.trace, cx.spec);
        if !cx.trace.dry_run() && !std::mem::take(&mut self.staged).is_empty() {
            remove_staging(&staging_dir(&cx.spec.state_dir, &cx.spec.id));
        }
        Ok(())
    }

    // ANCHOR: enter
    fn enter(&self, cx: &ChildCx<'_>) -> Result<()> {
        let trace = &cx.trace;
        for (n, volume) in self.volumes.iter().enumerate() {
            let target = resolve(trace, &cx.spec.rootfs, &volume.container)?;
            if volume.read_only {
                // The staged copy: read-only all the way down, and locked.
                bind(trace, &Self::staging(cx.spec, n), &target, true)?;
            } else {
                bind(trace, &volume.host, &target, true)?;
            }
        }
        Ok(())
    }
    // ANCHOR_END: enter
}

impl Volumes {
    // ANCHOR: stage
    /// Read-only means read-only. A bind mount the child made read-only
    /// could be made writable again by container root (`mount -o
    /// remount,rw`): it is root of the mount namespace the bind lives in.
    /// So the parent, in the host's namespace, mounts each `:ro` volume
    /// read-only, submounts included (mount_setattr(2) with AT_RECURSIVE),
    /// *before* the clone. The child's mount namespace is a copy made for a
    /// less privileged user namespace, and the kernel **locks** the flags
    /// of every mount it copies so (mount_namespaces(7), "Restrictions on
    /// mount namespaces"): `remount,rw` then fails with EPERM.
    fn stage_read_only(&mut self, cx: &mut ParentCx<'_>) -> Result<()> {
        let result = self.try_stage(cx);
        if result.is_err() {
            // prepare failed: undo it here (the engine will not call cleanup).
            let _ = self.cleanup(cx, None);
        }
        result
    }

    fn try_stage(&mut self, cx: &ParentCx<'_>) -> Result<()> {
        let trace = &cx.trace;
        if !trace.dry_run() {
            // What runs killed before their cleanup left, with or without
            // read-only volumes of our own.
            step01_chroot::state::sweep(&cx.spec.state_dir, "volumes", remove_staging);
        }
        if !self.volumes.iter().any(|v| v.read_only) {
            return Ok(());
        }
        let dir = staging_dir(&cx.spec.state_dir, &cx.spec.id);
        if !trace.dry_run() {
            // 0710, group container root's: the child must pass (state.rs).
            let (_, group) = cx.spec.root_on_host;
            step01_chroot::state::claim(
                &cx.spec.state_dir,
                "volumes",
                &cx.spec.id,
                group,
                &cx.spec.id,
                &[],
            )
            .map_err(|source| Error::Io {
                what: "creating",
                path: dir.clone(),
                source,
            })?;
        }
        for (n, volume) in self.volumes.iter().enumerate() {
            if !volume.read_only {
                continue;
            }
            let staging = Self::staging(cx.spec, n);
            if volume.host.is_dir() {
                mkdir(trace, &staging, 0o755)?;
            } else {
                touch(trace, &staging)?;
            }
            self.staged.push((n, staging.clone()));
            bind(trace, &volume.host, &staging, true)?;
            read_only_recursive(trace, &staging)?;
        }
        Ok(())
    }
    // ANCHOR_END: stage
}

/// `path` (absolute, in the container) as a host path under `rootfs`,
/// every symlink on the way resolved with the rootfs as "/". (A dry run
/// only shows the path: its rootfs may not be mounted.)
pub fn resolve(trace: &Trace, rootfs: &Path, path: &Path) -> Result<PathBuf> {
    if trace.dry_run() {
        return Ok(rootfs.join(path.strip_prefix("/").unwrap_or(path)));
    }
    safe_path::scoped_join(rootfs, path).map_err(|source| {
        Error::layer(VolumeError::Target {
            target: path.display().to_string(),
            source,
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use step01_chroot::spec::Spec;

    /// Every hook, recorded: the parent makes the mount points and stages
    /// the `:ro` volume read-only before the clone; the child binds; the
    /// parent unmounts the stage at the end.
    #[test]
    fn a_read_only_volume_is_staged_by_the_parent_and_bound_by_the_child() {
        let host = tempfile::tempdir().unwrap();
        let (data, file) = (host.path().join("data"), host.path().join("notes"));
        std::fs::create_dir(&data).unwrap();
        std::fs::write(&file, "").unwrap();
        let mut spec = Spec::new("t", "/r".into(), vec![], "/s".into());
        spec.id = "0123456789ab".into();
        let (trace, kernel) = Trace::recording();
        let mut layer = Volumes::new(vec![
            format!("{}:/data:ro", data.display()).parse().unwrap(),
            format!("{}:/notes", file.display()).parse().unwrap(),
        ]);
        let mut cx = ParentCx {
            spec: &mut spec,
            trace: trace.clone(),
        };
        layer
            .check(&Plan {
                spec: cx.spec,
                clone_flags: nix::sched::CloneFlags::empty(),
                dry_run: true,
            })
            .unwrap();
        layer.prepare(&mut cx).unwrap();
        let made = |inside: &str| {
            format!(
                "openat2(rootfs, {inside:?}, RESOLVE_IN_ROOT | RESOLVE_NO_SYMLINKS); \
                 mkdirat/openat(O_CREAT | O_NOFOLLOW) for what is missing"
            )
        };
        let stage = "/s/volumes/0123456789ab/0";
        assert_eq!(
            kernel.shown(),
            [
                made("data"),
                made("notes"),
                format!("mkdir({stage:?}, 0755)"),
                format!("mount({data:?}, {stage:?}, NULL, MS_BIND | MS_REC, NULL)"),
                format!(
                    "mount_setattr({stage:?}, AT_RECURSIVE, {{ attr_set: MOUNT_ATTR_RDONLY }})"
                ),
            ]
        );
        let (child_trace, child) = Trace::recording();
        layer
            .enter(&ChildCx::standalone(cx.spec, child_trace))
            .unwrap();
        assert_eq!(
            child.shown(),
            [
                format!("mount({stage:?}, \"/r/data\", NULL, MS_BIND | MS_REC, NULL)"),
                format!("mount({file:?}, \"/r/notes\", NULL, MS_BIND | MS_REC, NULL)"),
            ],
            "the child binds the stage, not the host directory"
        );
        layer.cleanup(&mut cx, None).unwrap();
        assert_eq!(
            kernel.shown().last().unwrap(),
            &format!("umount2({stage:?}, MNT_DETACH)")
        );
    }

    #[test]
    fn symlinks_in_the_rootfs_stay_inside_it() {
        let root = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink("/etc", root.path().join("evil")).unwrap();
        std::os::unix::fs::symlink("../../../../etc", root.path().join("climb")).unwrap();
        let resolved = safe_path::scoped_join(root.path(), "/evil/passwd").unwrap();
        assert_eq!(resolved, root.path().join("etc/passwd"));
        let resolved = safe_path::scoped_join(root.path(), "/climb").unwrap();
        assert_eq!(resolved, root.path().join("etc"));
    }
}
