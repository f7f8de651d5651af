//! An exec's working directory is the container's to have, not ours to
//! make.
//!
//! `run -w DIR` makes DIR if the image lacks it (step 09's process layer,
//! as Docker does). `exec` does not: Docker's exec hands the directory to
//! runc, which chdir(2)s into it and fails if it is not there ("chdir to
//! cwd ... set in config.json failed", exit 126). A directory that went
//! away is news about the container, and an exec is a look inside it; it
//! should not change what it looks at.
//!
//! So an exec enters the directory itself, right after the join (inside
//! the container's mount namespace, whose root setns(2) made ours), and
//! stops there if it is missing. It enters the path as step 09 will, made
//! plain first (`/a/../b` is `/b`, whatever `/a` links to), so the
//! directory checked is the one step 09 then enters: its mkdir(2)s get
//! EEXIST, which it takes as done. (Docker's exec hands runc the path as
//! given; the workshop cleans it for `exec` as for `run`.)
//!
//! This covers the container's own directory too (`run -w`, or the
//! image's WorkingDir): if the container removed it, an exec without `-w`
//! stops as Docker's does, and `exec -w / CONTAINER mkdir -p DIR` puts it
//! back.

use std::path::PathBuf;

use colored::Color;
use step01_chroot::cli::RunArgs;
use step01_chroot::error::exit_code;
use step01_chroot::flags::FlagGroups;
use step01_chroot::layer::{ChildCx, Layer};
use step01_chroot::spec::Spec;
use step01_chroot::sys::Syscall;
use step01_chroot::{Error, Result};
use step07_overlay::cli::OverlayArgs;
use step09_registry::cli::{RegistryArgs, RegistryFlags};
use step09_registry::config::{Overrides, process};
use step09_registry::local::Local;
use step09_registry::process::clean;

/// The layer that enters an exec's working directory, or stops.
#[derive(Debug)]
pub struct ExistingWorkdir {
    dir: PathBuf,
}

impl ExistingWorkdir {
    /// The layer for the process `args` make: in `-w`'s directory, or the
    /// image's WorkingDir. None if neither is set: the process starts in
    /// the container's root, which is there.
    pub fn of(args: &impl RegistryFlags, spec: &Spec) -> Result<Option<Self>> {
        let own: &RegistryArgs = args.group();
        let dir = match (&own.workdir, &args.group::<OverlayArgs>().image) {
            (Some(dir), _) => Some(dir.clone()),
            (None, Some(image)) => {
                let config = Local::new(&spec.state_dir)
                    .config(image)
                    .map_err(Error::layer)?;
                // Step 09's rule for which directory, not a copy of it.
                let overrides = Overrides {
                    command: Some(args.group::<RunArgs>().command.clone()),
                    ..Overrides::default()
                };
                match config {
                    Some(config) => Some(
                        process(image, &config, &overrides)
                            .map_err(Error::layer)?
                            .workdir,
                    ),
                    None => None,
                }
            }
            (None, None) => None,
        };
        Ok(dir.map(|dir| ExistingWorkdir { dir: clean(&dir) }))
    }
}

impl Layer for ExistingWorkdir {
    fn name(&self) -> &'static str {
        "workdir"
    }

    fn color(&self) -> Color {
        Color::BrightCyan
    }

    fn enter(&self, cx: &ChildCx<'_>) -> Result<()> {
        match cx.trace.sys(Syscall::Chdir(self.dir.clone())) {
            Ok(()) => Ok(()),
            // As Docker's exec: 126, the command was there but could not
            // be started.
            Err(err) => Err(Error::InContainer {
                message: format!(
                    "the working directory {:?} cannot be entered in the container: {}\n  \
                     hint: exec does not make it, as run -w does: make it first \
                     (exec -w / CONTAINER mkdir -p {}), or give another with -w",
                    self.dir,
                    err.errno.desc().to_lowercase(),
                    self.dir.display(),
                ),
                exit_code: exit_code::CANNOT_EXECUTE,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use step01_chroot::layer::{ChildCx, Layer};
    use step01_chroot::spec::Spec;
    use step01_chroot::trace::Trace;

    use super::ExistingWorkdir;

    #[test]
    fn the_directory_is_entered_and_nothing_is_made() {
        let spec = Spec::new("t", "/rootfs".into(), vec!["true".into()], "/state".into());
        let (trace, kernel) = Trace::recording();
        let layer = ExistingWorkdir {
            dir: "/srv/app".into(),
        };
        layer.enter(&ChildCx::standalone(&spec, trace)).unwrap();
        assert_eq!(kernel.shown(), ["chdir(\"/srv/app\")"]);
    }
}
