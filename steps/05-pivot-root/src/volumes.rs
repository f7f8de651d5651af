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
use step01_chroot::trace::Trace;

use crate::mounts::{bind, mkdir, remount_read_only, touch};

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
        let (host, container, read_only) = match parts[..] {
            [host, container] => (host, container, false),
            [host, container, "ro"] => (host, container, true),
            [host, container, "rw"] => (host, container, false),
            [_, _, mode] => return Err(format!("{s:?}: the mode is ro or rw, not {mode:?}")),
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
}

impl Volumes {
    /// Bind mounts for `volumes`.
    pub fn new(volumes: Vec<Volume>) -> Self {
        Volumes { volumes }
    }
}

impl Layer for Volumes {
    fn name(&self) -> &'static str {
        "volume"
    }

    fn color(&self) -> Color {
        Color::Cyan
    }

    fn check(&self, _plan: &Plan<'_>) -> Result<()> {
        for volume in &self.volumes {
            if !volume.host.exists() {
                return Err(Error::layer(VolumeError::NoSource(volume.host.clone())));
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
            make_mount_point(trace, rootfs, &target, volume.host.is_dir())?;
        }
        Ok(())
    }
    // ANCHOR_END: prepare

    // ANCHOR: enter
    fn enter(&self, cx: &ChildCx<'_>) -> Result<()> {
        let trace = &cx.trace;
        for volume in &self.volumes {
            let target = resolve(trace, &cx.spec.rootfs, &volume.container)?;
            bind(trace, &volume.host, &target, true)?;
            if volume.read_only {
                remount_read_only(trace, &target)?;
            }
        }
        Ok(())
    }
    // ANCHOR_END: enter
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

/// Makes `target` (resolved under `rootfs`) and the directories above it,
/// a directory or an empty file, unless it is there.
pub fn make_mount_point(trace: &Trace, rootfs: &Path, target: &Path, dir: bool) -> Result<()> {
    for above in target
        .ancestors()
        .skip(1)
        .take_while(|d| d.starts_with(rootfs))
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
    {
        mkdir(trace, above, 0o755)?;
    }
    if dir {
        mkdir(trace, target, 0o755)?;
    } else if trace.dry_run() || !target.exists() {
        touch(trace, target)?;
    }
    Ok(())
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
