//! `/etc/hostname`, `/etc/hosts` and `/etc/resolv.conf`, made for the
//! container.
//!
//! Like Docker, we do not change the image: the parent writes the three
//! files into the container's state directory, and the child bind-mounts
//! them over the rootfs's. `resolv.conf` is the host's (the Gocker article
//! copies it too), so names resolve as they do on the host; when the host
//! uses systemd-resolved's stub at 127.0.0.53, which is unreachable from a
//! container with its own network, the real upstream servers are used.

use std::path::{Path, PathBuf};

use colored::Color;
use step01_chroot::Layer;
use step01_chroot::error::Result;
use step01_chroot::layer::{ChildCx, ParentCx};
use step01_chroot::sys::Syscall;

use crate::mounts::bind;
use crate::volumes::resolve;

/// The three files, by name under /etc.
pub const FILES: [&str; 3] = ["hostname", "hosts", "resolv.conf"];

/// The `/etc` files layer.
#[derive(Debug)]
pub struct EtcFiles {
    /// Written to `/etc/hostname`, and given an address in `/etc/hosts`.
    hostname: String,
}

impl EtcFiles {
    /// Files for a container named `hostname`.
    pub fn new(hostname: impl Into<String>) -> Self {
        EtcFiles {
            hostname: hostname.into(),
        }
    }
}

/// Where the container's own copies live: `<state>/containers/<id>/`.
/// Outside the rootfs: a run writes nothing into the image.
pub fn files_dir(state_dir: &Path, id: &str) -> PathBuf {
    state_dir.join("containers").join(id)
}

/// The host's resolver configuration, past systemd-resolved's stub.
fn host_resolv_conf() -> String {
    let main = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    // The stub listens on the host's loopback; a container with a network
    // of its own (step 06) has its own loopback, where nothing answers.
    if main.contains("127.0.0.53")
        && let Ok(upstream) = std::fs::read_to_string("/run/systemd/resolve/resolv.conf")
    {
        return upstream;
    }
    main
}

impl Layer for EtcFiles {
    fn name(&self) -> &'static str {
        "etc"
    }

    fn color(&self) -> Color {
        Color::Blue
    }

    fn prepare(&mut self, cx: &mut ParentCx<'_>) -> Result<()> {
        // The state directory first, closed to other host users (state.rs):
        // what is written below it is bound into the container.
        step01_chroot::state::prepare(&cx.trace, &cx.spec.state_dir)?;
        let dir = files_dir(&cx.spec.state_dir, &cx.spec.id);
        if !cx.trace.dry_run() {
            // What runs killed before their cleanup left (plain files only).
            step01_chroot::state::sweep(&cx.spec.state_dir, "containers", |dir| {
                let _ = std::fs::remove_dir_all(dir);
            });
            // Mode 0710, group container root's: the child, no longer host
            // root, must reach these files to bind them (see state.rs).
            let (_, group) = cx.spec.root_on_host;
            let (state, id) = (&cx.spec.state_dir, &cx.spec.id);
            step01_chroot::state::claim(state, "containers", id, group, id, &[]).map_err(
                |source| step01_chroot::Error::Io {
                    what: "creating the container's state directory",
                    path: dir.clone(),
                    source,
                },
            )?;
        }
        let name = &self.hostname;
        // localhost for IPv4 and IPv6, and the container's own name, so that
        // it resolves with no DNS at all.
        let hosts = format!(
            "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n127.0.1.1\t{name}\n"
        );
        cx.trace
            .write_file(dir.join("hostname"), &format!("{name}\n"))?;
        cx.trace.write_file(dir.join("hosts"), &hosts)?;
        cx.trace
            .write_file(dir.join("resolv.conf"), &host_resolv_conf())?;
        // Container root's to change, as in Docker (`echo ... >> /etc/hosts`).
        // Rootless, we may give away only to ids we have: with another
        // container root, the files stay ours, readable, not writable
        // inside (the trace shows the EPERM).
        let (uid, gid) = cx.spec.root_on_host;
        for file in FILES {
            let path = dir.join(file);
            if let Err(err) = cx.trace.sys(Syscall::Chown { path, uid, gid })
                && cx.trace.runs_as_root()
            {
                return Err(err.into());
            }
        }
        // The mount points, made here (container root may not write the
        // rootfs) and resolved inside it: an image whose /etc/hosts is a
        // symlink to /tmp/x gets <rootfs>/tmp/x, never the host's /tmp/x.
        for file in FILES {
            let target = resolve(&cx.trace, &cx.spec.rootfs, &Path::new("/etc").join(file))?;
            crate::mount_points::make(&cx.trace, cx.spec, &target, false)?;
        }
        Ok(())
    }

    fn enter(&self, cx: &ChildCx<'_>) -> Result<()> {
        let dir = files_dir(&cx.spec.state_dir, &cx.spec.id);
        for file in FILES {
            // Resolved as the parent did, inside the rootfs (still at its
            // host path: this runs before the pivot).
            let target = resolve(&cx.trace, &cx.spec.rootfs, &Path::new("/etc").join(file))?;
            // What the container writes there goes to its own copy.
            bind(&cx.trace, &dir.join(file), &target, false)?;
        }
        Ok(())
    }

    fn cleanup(
        &mut self,
        cx: &mut ParentCx<'_>,
        _exit: Option<&step01_chroot::ExitStatus>,
    ) -> Result<()> {
        // The mount points made in the rootfs go once no live run mounts on
        // them (mount_points.rs); this run's files go in any case.
        crate::mount_points::release(&cx.trace, cx.spec);
        if !cx.trace.dry_run() {
            let _ = std::fs::remove_dir_all(files_dir(&cx.spec.state_dir, &cx.spec.id));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use step01_chroot::spec::Spec;
    use step01_chroot::trace::Trace;

    /// The child binds the container's own three files over the image's
    /// (recorded); the image is never written.
    #[test]
    fn the_containers_own_files_are_bound_over_the_images() {
        let (trace, kernel) = Trace::recording();
        let mut spec = Spec::new("t", "/r".into(), vec!["sh".into()], "/s".into());
        spec.id = "abc".into();
        EtcFiles::new("box")
            .enter(&ChildCx::standalone(&spec, trace))
            .unwrap();
        let expected: Vec<String> = FILES
            .iter()
            .map(|f| {
                format!(r#"mount("/s/containers/abc/{f}", "/r/etc/{f}", NULL, MS_BIND, NULL)"#)
            })
            .collect();
        assert_eq!(kernel.shown(), expected);
    }
}
