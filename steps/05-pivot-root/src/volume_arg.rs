//! The `-v HOST:CONTAINER[:ro]` argument: what it may say, and what is
//! refused before anything is made (with the reason, and what to do).

use std::path::{Component, Path, PathBuf};
use std::str::FromStr;

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

    /// Parses one `-v`. clap calls it as it reads the command line, so a
    /// volume that could not work is refused before any layer runs.
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        let parts: Vec<_> = s.split(':').collect();
        let colon = || {
            format!(
                "{s:?}: -v splits HOST:CONTAINER[:ro] at ':', so neither path may contain one \
                 (bind such a path somewhere without ':' first)"
            )
        };
        let (host, container, read_only) = match parts[..] {
            // Read-write unless told, as in Docker.
            [host, container] => (host, container, false),
            [host, container, "ro"] => (host, container, true),
            [host, container, "rw"] => (host, container, false),
            // A third part that is a path: one of the two had a ':' in it.
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
        // The checks below compare components: /x/../proc would pass them
        // as a path outside /proc.
        if container.components().any(|c| c == Component::ParentDir) {
            return Err(format!("{s:?}: the container path may not contain '..'"));
        }
        if container == Path::new("/") {
            return Err(format!(
                "{s:?}: a volume cannot replace the container's root"
            ));
        }
        // The runtime mounts /dev and /sys before the volumes (one may go
        // below them, e.g. /dev/shm), and /proc after them. starts_with
        // compares whole components: /proceed is not in /proc.
        if container.starts_with("/proc") {
            return Err(format!(
                "{s:?}: /proc is mounted after the volumes, and would hide this one; \
                 mount it elsewhere, e.g. /data"
            ));
        }
        // Paths compare by components too: /sys/ is /sys.
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
        /// The container path, as given.
        target: String,
        /// Why it did not resolve (safe-path's `scoped_join`).
        source: std::io::Error,
    },
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
}
