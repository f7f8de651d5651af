//! Step 07's concept: the container's root is an overlay of read-only image
//! layers and a writable layer of its own.
//!
//! overlayfs (Documentation/filesystems/overlayfs.rst) merges directories:
//!
//! ```text
//!   merged/   what the container sees: the union of all below
//!   upper/    the container's own writes          (read-write, per container)
//!   lower1/   the app layer                        (read-only, shared)
//!   lower0/   the base layer, e.g. Alpine          (read-only, shared)
//! ```
//!
//! * reading finds a file in the topmost layer that has it;
//! * writing a file of a lower layer first **copies it up** into `upper`;
//! * deleting one leaves a **whiteout** in `upper` (a 0:0 character device)
//!   that hides the lower file; a directory made **opaque** hides all of
//!   the lower directory's contents;
//! * `work/` is overlayfs's scratch space for atomic copy-ups, on the same
//!   file system as `upper/`.
//!
//! Many containers share one image's lower layers, and none of them can
//! change it. Mounting is instant whatever the image's size: nothing is
//! copied (see the measured table in the book, chapter 7).
//!
//! The parent mounts the overlay before the child exists (the child's mount
//! namespace starts as a copy, so it sees it) and sets it as the rootfs.
//! In the child it takes the place of step 05's `BindRoot`; step 05's other
//! layers then mount /dev, /proc and the rest under it and pivot into it.

use std::fs;
use std::path::{Path, PathBuf};

use colored::Color;
use nix::mount::{MntFlags, MsFlags};
use step01_chroot::ExitStatus;
use step01_chroot::Layer;
use step01_chroot::error::{Error, Result};
use step01_chroot::layer::{ChildCx, ParentCx, Plan};
use step01_chroot::sys::Syscall;
use step03_user_ns::idmap::IdMap;
use step05_pivot_root::mounts::{bind, mkdir};

use crate::idmap::IdmappedLowers;

/// What can go wrong with a container's overlay.
#[derive(Debug, thiserror::Error)]
pub enum OverlayError {
    /// A lower layer is missing.
    #[error(
        "layer {0} is not there\n  hint: import the image again ({program} import)",
        program = step01_chroot::cli::program()
    )]
    NoLayer(PathBuf),
    /// `resume`, and nothing is kept under that name.
    #[error(
        "no container {0:?} is kept here to start again\n  hint: `ps -a` lists them; a --rm container keeps nothing"
    )]
    NotKept(String),
    /// The name is taken.
    #[error(
        "a container named {0:?} exists (its changes are kept for `{program} diff {0}`)\n  \
         hint: remove it with `{program} rm {0}`, or choose another --name",
        program = step01_chroot::cli::program()
    )]
    NameTaken(String),
    /// A name that could name a path outside the state directory.
    #[error(
        "{flag} {name:?}: {}\n  hint: a name looks like web-1 (no slashes, no leading dot)",
        crate::store::NAME_RULE
    )]
    BadName {
        /// The flag or argument that gave it.
        flag: &'static str,
        /// The name given.
        name: String,
    },
}

/// `<state>/overlay/<name>`, for a name that passes [`crate::store::valid_name`]
/// (anything else is refused, naming `flag`).
pub fn named_container_dir(
    state_dir: &Path,
    flag: &'static str,
    name: &str,
) -> Result<PathBuf, OverlayError> {
    if !crate::store::valid_name(name) {
        return Err(OverlayError::BadName {
            flag,
            name: name.into(),
        });
    }
    Ok(container_dir(state_dir, name))
}

/// The overlay layer. It takes the place of step 05's `BindRoot`.
#[derive(Debug)]
pub struct Overlay {
    /// Lower layers, bottom first.
    lowers: Vec<PathBuf>,
    /// The one lower is `--rootfs` (no `--image`).
    from_rootfs: bool,
    /// Bind the merged directory onto itself (not with `--pivot-without-bind`).
    bind: bool,
    /// The container's name (its directory under <state>/overlay/).
    name: Option<String>,
    /// `--rm`: remove the upper layer after the container exits.
    remove: bool,
    /// The container's id maps, when container root is not host root: the
    /// lower layers are then idmapped (`idmap.rs`).
    idmap: Option<(IdMap, IdMap)>,
    /// The idmapped views, from the overlay mount until the child is on
    /// its way (see `released`).
    views: Option<IdmappedLowers>,
    base: Option<PathBuf>,
    mounted: bool,
    /// On the writable layer kept under `name`, again (`resumed`).
    resume: bool,
}

impl Overlay {
    /// An overlay of `lowers` (bottom first).
    pub fn new(
        lowers: Vec<PathBuf>,
        from_rootfs: bool,
        bind: bool,
        name: Option<String>,
        remove: bool,
        idmap: Option<(IdMap, IdMap)>,
    ) -> Self {
        Overlay {
            lowers,
            from_rootfs,
            bind,
            name,
            remove,
            idmap,
            views: None,
            base: None,
            mounted: false,
            resume: false,
        }
    }

    /// The same overlay, on the writable layer a container kept under its
    /// name: the container starts again where it stopped (step 10's
    /// `start`; Docker's). Its directory is adopted (step 01's state.rs),
    /// not claimed anew.
    pub fn resumed(mut self) -> Self {
        self.resume = true;
        self
    }
}

/// `<state>/overlay/<name>`: upper/, work/, merged/ and the owner's pid.
pub fn container_dir(state_dir: &Path, name: &str) -> PathBuf {
    state_dir.join("overlay").join(name)
}

// ANCHOR: options
/// The overlay mount's options. In `lowerdir` the *first* directory is the
/// top layer, so the bottom-first list is reversed.
///
/// The option string is split at `,` (between options) and `:` (between
/// lowers), so a path containing one is written with a backslash before it,
/// as overlayfs expects (and a backslash itself doubled): `--rootfs /srv/a,b`
/// must not become an option `b`.
pub fn mount_options(lowers: &[PathBuf], upper: &Path, work: &Path) -> String {
    // EXERCISE 07: the overlay's mount options: lowerdir (top layer first), upperdir, workdir
    // HINT: lowers come bottom first; overlayfs wants the top one first, separated by ':'.
    // HINT: a ',' or ':' (or a backslash) in a path gets a backslash before it.
    // CHECK: --lib an_image_becomes_a_root_of_its_own | the overlay is mounted with the layers in order
    // CHECK: --test overlay whiteouts_and_opaque_directories_hide_what_is_below | whiteouts hide what is below
    let escaped = |path: &Path| {
        let mut out = String::new();
        for c in path.display().to_string().chars() {
            if matches!(c, '\\' | ',' | ':') {
                out.push('\\');
            }
            out.push(c);
        }
        out
    };
    let lower: Vec<String> = lowers.iter().rev().map(|l| escaped(l)).collect();
    format!(
        "lowerdir={},upperdir={},workdir={}",
        lower.join(":"),
        escaped(upper),
        escaped(work)
    )
    // END EXERCISE
}
// ANCHOR_END: options

// ANCHOR: fill
impl Overlay {
    /// The rest of `prepare`, once the container's directory is claimed:
    /// its layers' directories, the idmapped views, the mount.
    fn fill(
        &mut self,
        cx: &mut ParentCx<'_>,
        base: &Path,
        store_lock: Option<std::fs::File>,
    ) -> Result<()> {
        let trace = &cx.trace;
        let name = base
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        let (upper, work, merged) = (base.join("upper"), base.join("work"), base.join("merged"));
        for dir in [&upper, &work, &merged] {
            mkdir(trace, dir, 0o755)?;
        }
        if !trace.dry_run() {
            // For `diff`, which must tell changed files from added ones.
            let lowers: Vec<String> = self
                .lowers
                .iter()
                .map(|l| l.display().to_string())
                .collect();
            // And for `rmi`, which must not take a layer from under us.
            let file = base.join("lowers");
            fs::write(&file, lowers.join("\n") + "\n").map_err(|source| Error::Io {
                what: "writing",
                path: file,
                source,
            })?;
        }
        drop(store_lock);
        // Idmapped views of the lowers, needed only until the overlay is
        // mounted: overlayfs keeps private copies of its layers.
        let idmapped = match &self.idmap {
            Some((uid, gid)) => {
                IdmappedLowers::attach(trace, &cx.spec.state_dir, &name, &self.lowers, uid, gid)?
            }
            None => IdmappedLowers::none(&self.lowers),
        };
        if let Some((uid, gid)) = idmapped.upper_owner() {
            // The writable layer belongs to container root, as the lowers
            // now appear to.
            let path = upper.clone();
            trace.sys(Syscall::Chown { path, uid, gid })?;
        }
        let options = mount_options(idmapped.paths(), &upper, &work);
        trace.sys(Syscall::Mount {
            source: Some("overlay".into()),
            target: merged.clone(),
            fstype: Some("overlay".into()),
            flags: MsFlags::empty(),
            data: Some(options),
        })?;
        // Detached once the child is on its way (`released`): an unmount
        // waits for an RCU grace period, which the start need not wait for.
        self.views = Some(idmapped);
        self.mounted = true;
        // From here on, the container's root is the merged view.
        cx.spec.rootfs = merged;
        Ok(())
    }
}
// ANCHOR_END: fill

impl Layer for Overlay {
    fn name(&self) -> &'static str {
        "rootfs"
    }

    fn color(&self) -> Color {
        Color::Green
    }

    fn check(&self, plan: &Plan<'_>) -> Result<()> {
        // The overlay is mounted by the parent, in the host's mount
        // namespace: a mount there needs root. (The dry run and the
        // contract's dry-run-as-nobody need nothing.)
        if !plan.dry_run && !nix::unistd::Uid::effective().is_root() {
            return Err(Error::NeedsRoot {
                what: "step 07's overlay",
                why: "the parent mounts it in the host's mount namespace; rootless, step 06 \
                      runs on a plain --rootfs",
                program: plan.spec.program.clone(),
            });
        }
        for lower in &self.lowers {
            if self.from_rootfs {
                step01_chroot::chroot::check_rootfs(lower)?;
            } else if !lower.is_dir() {
                return Err(Error::layer(OverlayError::NoLayer(lower.clone())));
            }
        }
        if let Some(name) = &self.name {
            let kept = named_container_dir(&plan.spec.state_dir, "--name", name)
                .map_err(Error::layer)?
                .exists();
            match (kept, self.resume) {
                (true, false) => return Err(Error::layer(OverlayError::NameTaken(name.clone()))),
                (false, true) => return Err(Error::layer(OverlayError::NotKept(name.clone()))),
                _ => {}
            }
        }
        Ok(())
    }

    // ANCHOR: prepare
    fn prepare(&mut self, cx: &mut ParentCx<'_>) -> Result<()> {
        let trace = &cx.trace;
        step01_chroot::state::prepare(trace, &cx.spec.state_dir)?;
        if !trace.dry_run() {
            crate::leftovers::sweep_stale(trace, &cx.spec.state_dir);
        }
        let name = self.name.clone().unwrap_or_else(|| cx.spec.id.clone());
        let base = container_dir(&cx.spec.state_dir, &name);
        // Only the runtime and container root's group may pass (state.rs):
        // the child must reach `merged`, no other host user may reach `upper`.
        // Made with its owner file in one step (state.rs's claim): another
        // run's sweep must never find it without one, and take it.
        let (_, group) = cx.spec.root_on_host;
        // Image layers are ours from here until `lowers` names them: `rmi`
        // waits, or we find its work done (store.rs's lock).
        let store_lock = if self.from_rootfs || trace.dry_run() {
            None
        } else {
            let lock = crate::store::Store::new(&cx.spec.state_dir)
                .lock(false)
                .map_err(Error::layer)?;
            if let Some(gone) = self.lowers.iter().find(|l| !l.is_dir()) {
                return Err(Error::layer(OverlayError::NoLayer(gone.clone())));
            }
            Some(lock)
        };
        if self.resume {
            // EBUSY: a live run has it (it runs already).
            let run = &cx.spec.id;
            let adopted = trace.call(format!("link(\"{run}\", {base:?}/owner)"), || {
                match step01_chroot::state::adopt(&base, run) {
                    Ok(true) => Ok(()),
                    Ok(false) => Err(nix::errno::Errno::EBUSY),
                    Err(e) => Err(nix::errno::Errno::from_raw(e.raw_os_error().unwrap_or(0))),
                }
            });
            match adopted {
                Err(err) if err.errno == nix::errno::Errno::EBUSY => {
                    return Err(Error::layer(OverlayError::NameTaken(name)));
                }
                other => other?,
            }
        } else {
            trace.call(
                format!("mkdir({base:?}, 0710); chown(-1, {group}); owner"),
                || {
                    step01_chroot::state::claim(
                        &cx.spec.state_dir,
                        "overlay",
                        &name,
                        group,
                        &cx.spec.id,
                        // --rm, said at once: a run killed any time after this
                        // is not taken for a kept container.
                        if self.remove { &["rm"] } else { &[] },
                    )
                    .map(drop)
                    .map_err(|e| nix::errno::Errno::from_raw(e.raw_os_error().unwrap_or(0)))
                },
            )?;
        }
        self.base = Some(base.clone());
        let result = self.fill(cx, &base, store_lock);
        if result.is_err() {
            // A container that never started is not kept (one started
            // again keeps what it had).
            self.remove = !self.resume;
            let _ = self.cleanup(cx, None);
        }
        result
    }
    // ANCHOR_END: prepare

    // ANCHOR: released
    fn released(&mut self, cx: &mut ParentCx<'_>) {
        // The overlay holds its own copies of its layers: the idmapped
        // views can go, while the child sets itself up. (The merged view
        // stays until cleanup: unmounted now, the overlay's teardown would
        // move into the container's exit, which we wait for anyway.)
        if let Some(views) = self.views.take() {
            views.detach(&cx.trace);
        }
    }
    // ANCHOR_END: released

    // ANCHOR: enter
    fn enter(&self, cx: &ChildCx<'_>) -> Result<()> {
        // The overlay was mounted in the host's mount namespace; our copy of
        // it is *locked* (a user namespace may not take apart what a more
        // privileged one mounted), and pivot_root refuses a locked mount.
        // A bind mount of it made in here is ours, and not locked.
        if self.bind {
            let rootfs = &cx.spec.rootfs;
            bind(&cx.trace, rootfs, rootfs, true)?;
        }
        Ok(())
    }
    // ANCHOR_END: enter

    fn cleanup(&mut self, cx: &mut ParentCx<'_>, _exit: Option<&ExitStatus>) -> Result<()> {
        // Still here if the run failed before the release.
        if let Some(views) = self.views.take() {
            views.detach(&cx.trace);
        }
        let Some(base) = self.base.take() else {
            return Ok(());
        };
        let trace = &cx.trace;
        if std::mem::take(&mut self.mounted) {
            let merged = base.join("merged");
            let flags = MntFlags::MNT_DETACH;
            trace.sys(Syscall::Umount {
                target: merged,
                flags,
            })?;
        }
        if trace.dry_run() {
            return Ok(());
        }
        if self.remove {
            trace.note(format!("--rm: removing {}", base.display()));
            crate::leftovers::remove(&base, &cx.spec.id).map_err(|source| Error::Io {
                what: "removing",
                path: base.clone(),
                source,
            })?;
        } else {
            let _ = fs::remove_file(base.join("owner"));
            let name = base
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned();
            let program = step01_chroot::cli::program();
            trace.note(format!(
                "its changes are kept: {program} diff {name}; {program} rm {name}"
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
#[path = "overlay_recorded.rs"]
mod tests;
