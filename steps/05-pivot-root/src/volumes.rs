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

use std::path::{Component, Path, PathBuf};
use std::str::FromStr;

use colored::Color;
use step01_chroot::Layer;
use step01_chroot::error::{Error, Result};
use step01_chroot::layer::{ChildCx, ParentCx, Plan};
use step01_chroot::sys::Syscall;
use step01_chroot::trace::Trace;

use nix::mount::{MntFlags, umount2};
use step01_chroot::ExitStatus;

use crate::mounts::{bind, mkdir, read_only_recursive, touch};

/// One `-v` argument.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Volume {
    /// The path on the host.
    pub host: PathBuf,
    /// The path in the container (absolute).
    pub container: PathBuf,
    /// `:ro`
    pub read_only: bool,
}

impl FromStr for Volume {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, String> {
        let parts: Vec<_> = s.split(':').collect();
        let colon = || {
            format!(
                "{s:?}: -v splits HOST:CONTAINER[:ro] at ':', so neither path may contain one \
                 (bind such a path somewhere without ':' first)"
            )
        };
        let (host, container, read_only) = match parts[..] {
            [host, container] => (host, container, false),
            [host, container, "ro"] => (host, container, true),
            [host, container, "rw"] => (host, container, false),
            [_, _, mode] if mode.starts_with('/') => return Err(colon()),
            [_, _, mode] => return Err(format!("{s:?}: the mode is ro or rw, not {mode:?}")),
            [_, _, _, ..] => return Err(colon()),
            _ => {
                return Err(format!(
                    "{s:?}: expected HOST:CONTAINER or HOST:CONTAINER:ro"
                ));
            }
        };
        let container = PathBuf::from(container);
        if !container.is_absolute() {
            return Err(format!(
                "{s:?}: the container path must be absolute (start with /)"
            ));
        }
        if container.components().any(|c| c == Component::ParentDir) {
            return Err(format!("{s:?}: the container path may not contain '..'"));
        }
        if container == Path::new("/") {
            return Err(format!(
                "{s:?}: a volume cannot replace the container's root"
            ));
        }
        // The runtime mounts /dev and /sys before the volumes (one may go
        // below them, e.g. /dev/shm), and /proc after them.
        if container.starts_with("/proc") {
            return Err(format!(
                "{s:?}: /proc is mounted after the volumes, and would hide this one; \
                 mount it elsewhere, e.g. /data"
            ));
        }
        if let Some(whole) = ["/dev", "/sys"].iter().find(|d| container == Path::new(d)) {
            return Err(format!(
                "{s:?}: this would replace the container's {whole}; \
                 mount below it, or elsewhere, e.g. /data"
            ));
        }
        // Docker reads a relative HOST as the name of a managed volume,
        // which this workshop has not; a path relative to wherever the
        // runtime happened to start would be a surprise.
        if !Path::new(host).is_absolute() {
            return Err(format!(
                "{s:?}: the host path must be absolute (e.g. $PWD/{host})"
            ));
        }
        Ok(Volume {
            host: PathBuf::from(host),
            container,
            read_only,
        })
    }
}

/// What is wrong with a volume.
#[derive(Debug, thiserror::Error)]
pub enum VolumeError {
    /// The host side is not there.
    #[error(
        "volume source {0} does not exist on the host\n  hint: create it first, or check the path (-v HOST:CONTAINER)"
    )]
    NoSource(PathBuf),
    /// Two volumes for one container path.
    #[error(
        "-v ...:{0}: two volumes for one container path (the second would hide the first)\n  \
         hint: give each container path once"
    )]
    SameTarget(String),
    /// The target could not be resolved inside the rootfs.
    #[error("volume target {target}: {source}")]
    Target {
        target: String,
        source: std::io::Error,
    },
}

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

    #[test]
    fn volumes_parse_and_refuse_nonsense() {
        let v: Volume = "/srv/data:/data:ro".parse().unwrap();
        assert_eq!(
            (v.host.as_path(), v.container.as_path(), v.read_only),
            (Path::new("/srv/data"), Path::new("/data"), true)
        );
        assert!(!"/a:/b".parse::<Volume>().unwrap().read_only);
        assert!("/a:b".parse::<Volume>().unwrap_err().contains("absolute"));
        assert!(
            "/a:/b/../../etc"
                .parse::<Volume>()
                .unwrap_err()
                .contains("..")
        );
        assert!(
            "/a:/b:rx"
                .parse::<Volume>()
                .unwrap_err()
                .contains("ro or rw")
        );
        assert!("/a".parse::<Volume>().is_err());
        assert!("/a:/".parse::<Volume>().is_err());
    }

    #[test]
    fn volumes_that_could_not_work_are_refused_with_the_reason() {
        let refused = |arg: &str| arg.parse::<Volume>().unwrap_err();
        assert!(refused("tmp:/data").contains("host path must be absolute"));
        assert!(refused("/a:b:/data").contains("neither path may contain one"));
        assert!(refused("/a:b:/data:ro").contains("neither path may contain one"));
        assert!(refused("/a:/proc/sys").contains("/proc is mounted after the volumes"));
        assert!(refused("/a:/dev").contains("replace the container's /dev"));
        assert!(refused("/a:/sys/").contains("replace the container's /sys"));
        // Below /dev is fine (/dev is mounted first), and so is a name
        // that only starts like one.
        for fine in ["/a:/dev/shm", "/a:/device", "/a:/proceed"] {
            assert!(fine.parse::<Volume>().is_ok(), "{fine}");
        }
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
