//! AppArmor and SELinux: a label the kernel checks on top of everything
//! else (a Linux Security Module, LSM).
//!
//! Capabilities and seccomp are the process's own limits. An LSM is the
//! host's policy: a profile (AppArmor: which paths a program may read and
//! write, which mounts it may make) or a type (SELinux: `container_t`, which
//! may touch only files labelled for containers) that the administrator
//! loaded, and that the kernel enforces even on root. Docker starts every
//! container under AppArmor's `docker-default`, or SELinux's `container_t`;
//! `ps -eZ` on Fedora shows it beside each containerized process:
//!
//! ```text
//! system_u:system_r:container_t:s0:c123,c456  4242 ?  00:00:00 sh
//! ```
//!
//! The two MCS categories (`c123,c456`) are the container's own, so two
//! containers cannot touch each other's files either. A process asks for
//! its next program's label by writing it to `/proc/self/attr/exec` (for
//! AppArmor, `/proc/self/attr/apparmor/exec` on newer kernels); the kernel
//! applies it at `execve`. This layer does that in the child, when the host
//! has the module; where it has neither (as this workshop's CI machine),
//! the option is refused before anything is made, saying so. Two limits:
//! with `--init`, the label applies to the command, not to the init process
//! (which never calls `execve`); and with no_new_privs (on by default here,
//! not in Docker) the kernel allows only a transition the policy marks as
//! safe for it (SELinux's `nnp_transition`; AppArmor's stacking), so a
//! host's policy may refuse the `execve` until `no-new-privileges=false`.

use std::path::Path;

use colored::Color;
use step01_chroot::Layer;
use step01_chroot::error::Result;
use step01_chroot::layer::ChildCx;

use crate::security_opt::SecurityOpt;

/// Why a label cannot be used here.
#[derive(Debug, thiserror::Error)]
pub enum LsmError {
    /// The host has no such module.
    #[error(
        "--security-opt {opt}: this host has no {module} ({probe} says so)\n  \
         hint: leave the option out here; on a host with {module} it applies"
    )]
    NoModule {
        /// The option given.
        opt: String,
        /// `AppArmor`, `SELinux`.
        module: &'static str,
        /// What was looked at.
        probe: &'static str,
    },
    /// The AppArmor profile is not loaded.
    #[error(
        "--security-opt apparmor={0}: no profile of that name is loaded\n  \
         hint: `aa-status` lists them; load one with `apparmor_parser -r FILE`"
    )]
    NotLoaded(String),
    /// A label option this step does not know.
    #[error(
        "--security-opt label={0}: give type:TYPE, user:USER, role:ROLE, level:LEVEL or disable"
    )]
    BadLabel(String),
}

/// What to ask the kernel for.
#[derive(Debug, PartialEq, Eq)]
pub enum Label {
    /// An AppArmor profile, by name.
    AppArmor(String),
    /// The SELinux context to run in.
    SeLinux(String),
}

const APPARMOR_ENABLED: &str = "/sys/module/apparmor/parameters/enabled";
const APPARMOR_PROFILES: &str = "/sys/kernel/security/apparmor/profiles";
const SELINUX: &str = "/sys/fs/selinux/enforce";

/// The labels `--security-opt` asks for (`apparmor=`, `label=`), each
/// checked against the host, for the container `id`.
pub fn labels(options: &[SecurityOpt], id: &str) -> std::result::Result<Vec<Label>, LsmError> {
    let mut labels = Vec::new();
    for option in options {
        match option {
            SecurityOpt::AppArmor(profile) => labels.push(apparmor(profile)?),
            SecurityOpt::Label(label) => labels.extend(selinux(label, id)?),
            _ => {}
        }
    }
    Ok(labels)
}

/// `apparmor=PROFILE`: checked against the host's loaded profiles.
pub fn apparmor(profile: &str) -> std::result::Result<Label, LsmError> {
    let enabled = std::fs::read_to_string(APPARMOR_ENABLED).is_ok_and(|v| v.trim() == "Y");
    if !enabled {
        return Err(LsmError::NoModule {
            opt: format!("apparmor={profile}"),
            module: "AppArmor",
            probe: APPARMOR_ENABLED,
        });
    }
    // Lines `NAME (MODE)`.
    let loaded = std::fs::read_to_string(APPARMOR_PROFILES).unwrap_or_default();
    if !loaded
        .lines()
        .any(|l| l.rsplit_once(" (").is_some_and(|(name, _)| name == profile))
    {
        return Err(LsmError::NotLoaded(profile.into()));
    }
    Ok(Label::AppArmor(profile.into()))
}

/// `label=KEY:VALUE`: the container's SELinux context, Docker's default
/// (`system_u:system_r:container_t:s0` with two categories of the
/// container's own, from its `id`) with one field changed
/// (`type:spc_t`); `None` for `label=disable`.
pub fn selinux(option: &str, id: &str) -> std::result::Result<Option<Label>, LsmError> {
    if option == "disable" {
        return Ok(None);
    }
    let field = match option.split_once(':') {
        Some(("user", v)) => (0, v),
        Some(("role", v)) => (1, v),
        Some(("type", v)) => (2, v),
        Some(("level", v)) => (3, v),
        _ => return Err(LsmError::BadLabel(option.into())),
    };
    if !Path::new(SELINUX).exists() {
        return Err(LsmError::NoModule {
            opt: format!("label={option}"),
            module: "SELinux",
            probe: SELINUX,
        });
    }
    Ok(Some(Label::SeLinux(with_field(
        &default_context(id),
        field,
    ))))
}

/// `system_u:system_r:container_t:s0:cA,cB`, two categories (0 to 1023)
/// taken from the container's id: another container's files, labelled with
/// other categories, are not this one's to touch.
fn default_context(id: &str) -> String {
    let n = u64::from_str_radix(id.get(..8).unwrap_or("0"), 16).unwrap_or(0);
    let (a, b) = ((n % 1024) as u16, ((n >> 10) % 1024) as u16);
    let (a, b) = if a == b { (a, (b + 1) % 1024) } else { (a, b) };
    let (low, high) = (a.min(b), a.max(b));
    format!("system_u:system_r:container_t:s0:c{low},c{high}")
}

/// `user:role:type:level` with field `n` replaced (the level may itself
/// hold colons: `s0:c1,c2`).
fn with_field(context: &str, (n, value): (usize, &str)) -> String {
    let mut parts: Vec<&str> = context.splitn(4, ':').collect();
    parts.resize(4, "s0");
    parts[n] = value;
    parts.join(":")
}

/// The layer: the label for the command's `execve`.
#[derive(Debug)]
pub struct Lsm(pub Label);

impl Layer for Lsm {
    fn name(&self) -> &'static str {
        "lsm"
    }

    fn color(&self) -> Color {
        Color::BrightRed
    }

    // ANCHOR: enter
    fn enter(&self, cx: &ChildCx<'_>) -> Result<()> {
        let (path, contents) = match &self.0 {
            // The newer, per-module file where the kernel has it.
            Label::AppArmor(profile) => {
                let per_module = Path::new("/proc/self/attr/apparmor/exec");
                let path = match per_module.exists() {
                    true => per_module,
                    false => Path::new("/proc/self/attr/exec"),
                };
                (path, format!("exec {profile}"))
            }
            Label::SeLinux(context) => (Path::new("/proc/self/attr/exec"), context.clone()),
        };
        cx.trace.write_file(path, &contents)?;
        Ok(())
    }
    // ANCHOR_END: enter
}

#[cfg(test)]
mod tests {
    use super::*;
    use step01_chroot::spec::Spec;
    use step01_chroot::trace::Trace;

    #[test]
    fn the_label_is_asked_for_the_next_execve() {
        let spec = Spec::new("t", "/r".into(), vec![], "/s".into());
        let (trace, kernel) = Trace::recording();
        let context = "system_u:system_r:container_t:s0:c1,c2".to_string();
        Lsm(Label::SeLinux(context))
            .enter(&ChildCx::standalone(&spec, trace))
            .unwrap();
        assert_eq!(
            kernel.shown(),
            [r#"write("/proc/self/attr/exec", "system_u:system_r:container_t:s0:c1,c2")"#]
        );
    }

    #[test]
    fn one_field_of_the_context_changes() {
        let context = default_context("0123456789ab");
        assert!(
            context.starts_with("system_u:system_r:container_t:s0:c"),
            "{context}"
        );
        assert_ne!(
            context,
            default_context("ba9876543210"),
            "each its own categories"
        );
        assert_eq!(
            with_field(&context, (2, "spc_t")),
            context.replace("container_t", "spc_t")
        );
        assert_eq!(
            with_field(&context, (3, "s0:c1,c2")),
            "system_u:system_r:container_t:s0:c1,c2"
        );
        assert!(matches!(
            selinux("colour:red", "x"),
            Err(LsmError::BadLabel(_))
        ));
        assert_eq!(selinux("disable", "x").unwrap(), None);
    }
}
