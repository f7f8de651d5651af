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
//! stops there if it is missing. Step 09's layer comes after and finds it
//! there: its mkdir(2)s get EEXIST, which it takes as done.

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
                config
                    .and_then(|config| process(image, &config, &overrides).ok())
                    .map(|p| p.workdir)
            }
            (None, None) => None,
        };
        Ok(dir.map(|dir| ExistingWorkdir { dir: dir.into() }))
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
                     (exec CONTAINER mkdir -p DIR), or give another with -w",
                    self.dir,
                    err.errno.desc().to_lowercase()
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
