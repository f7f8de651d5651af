//! `--security-opt KEY[=VALUE]`, Docker's one flag for the security
//! settings that have no flag of their own.

use std::path::PathBuf;
use std::str::FromStr;

/// One `--security-opt` value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SecurityOpt {
    /// `no-new-privileges[=true|false]` (no_new_privs.rs).
    NoNewPrivileges(bool),
    /// `seccomp=PROFILE.json` (seccomp.rs), or `seccomp=unconfined`: none.
    Seccomp(Option<PathBuf>),
    /// `apparmor=PROFILE` (lsm.rs).
    AppArmor(String),
    /// `label=type:TYPE` and the like, SELinux's (lsm.rs).
    Label(String),
}

/// As Docker reads them: `KEY=VALUE`, or the older `KEY:VALUE`; a flag
/// without a value is `true`.
impl FromStr for SecurityOpt {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let (key, value) = match s.split_once(['=', ':']) {
            Some((key, value)) => (key, Some(value)),
            None => (s, None),
        };
        match key {
            "no-new-privileges" => {
                let on = match value.map(str::to_ascii_lowercase).as_deref() {
                    None | Some("true") => true,
                    Some("false") => false,
                    Some(other) => {
                        return Err(format!(
                            "no-new-privileges={other}: the value is true or false"
                        ));
                    }
                };
                Ok(SecurityOpt::NoNewPrivileges(on))
            }
            "seccomp" => match value {
                None | Some("") => Err("seccomp=PROFILE.json, or seccomp=unconfined".into()),
                Some("unconfined") => Ok(SecurityOpt::Seccomp(None)),
                Some(path) => Ok(SecurityOpt::Seccomp(Some(path.into()))),
            },
            "apparmor" => match value {
                Some(profile) if !profile.is_empty() => Ok(SecurityOpt::AppArmor(profile.into())),
                _ => Err("apparmor=PROFILE: name a loaded profile".into()),
            },
            // (`label=type:container_t`: the value holds a colon itself.)
            "label" => match s.split_once(['=', ':']).map(|(_, v)| v) {
                Some(label) if !label.is_empty() => Ok(SecurityOpt::Label(label.into())),
                _ => Err("label=type:TYPE (or user:, role:, level:, disable)".into()),
            },
            _ => Err(format!(
                "{key:?} is not an option this step knows; it knows no-new-privileges[=false], \
                 seccomp=PROFILE.json|unconfined, apparmor=PROFILE and label=type:TYPE"
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_are_read_as_docker_reads_them() {
        let nnp = |s: &str| s.parse::<SecurityOpt>();
        assert_eq!(
            nnp("no-new-privileges"),
            Ok(SecurityOpt::NoNewPrivileges(true))
        );
        assert_eq!(
            nnp("no-new-privileges=true"),
            Ok(SecurityOpt::NoNewPrivileges(true))
        );
        assert_eq!(
            nnp("no-new-privileges:false"),
            Ok(SecurityOpt::NoNewPrivileges(false))
        );
        assert_eq!(
            nnp("no-new-privileges=FALSE"),
            Ok(SecurityOpt::NoNewPrivileges(false))
        );
        assert!(
            nnp("no-new-privileges=maybe")
                .unwrap_err()
                .contains("true or false")
        );
        assert!(
            nnp("colour=red")
                .unwrap_err()
                .contains("\"colour\" is not an option")
        );
        let label = SecurityOpt::Label("type:container_t".into());
        assert_eq!(nnp("label=type:container_t"), Ok(label));
        let profile = SecurityOpt::AppArmor("docker-default".into());
        assert_eq!(nnp("apparmor=docker-default"), Ok(profile));
        assert_eq!(nnp("seccomp=unconfined"), Ok(SecurityOpt::Seccomp(None)));
    }
}
