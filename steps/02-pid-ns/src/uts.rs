//! The UTS namespace: a hostname of the container's own.
//!
//! UTS stands for "UNIX Time-sharing System", after the `struct utsname`
//! that uname(2) fills: the hostname and the NIS domain name. With
//! `CLONE_NEWUTS` the child gets its own copy, so `sethostname` inside
//! changes the container's name and leaves the host's alone. Docker names a
//! container's host after its short id; so do we, unless `--hostname` says
//! otherwise.
//!
//! Man pages: uts_namespaces(7), sethostname(2).

use colored::Color;
use nix::sched::CloneFlags;
use step01_chroot::Layer;
use step01_chroot::error::Result;
use step01_chroot::layer::ChildCx;
use step01_chroot::sys::Syscall;

/// The longest hostname the kernel takes (HOST_NAME_MAX).
pub const HOST_NAME_MAX: usize = 64;

/// The UTS namespace layer, with the hostname to set inside.
#[derive(Debug)]
pub struct Uts {
    hostname: String,
}

impl Uts {
    /// A UTS namespace whose hostname is `hostname`.
    pub fn new(hostname: impl Into<String>) -> Self {
        Uts {
            hostname: hostname.into(),
        }
    }
}

impl Layer for Uts {
    fn name(&self) -> &'static str {
        "uts"
    }

    fn color(&self) -> Color {
        Color::Blue
    }

    fn clone_flags(&self) -> CloneFlags {
        CloneFlags::CLONE_NEWUTS
    }

    // ANCHOR: enter
    fn enter(&self, cx: &ChildCx<'_>) -> Result<()> {
        cx.trace.sys(Syscall::Sethostname(self.hostname.clone()))?;
        Ok(())
    }
    // ANCHOR_END: enter
}

/// Checks a `--hostname`: what the kernel takes, in the characters RFC 1123
/// allows, so that the name also works in `/etc/hosts` and on a network.
pub fn parse_hostname(name: &str) -> std::result::Result<String, String> {
    if name.is_empty() || name.len() > HOST_NAME_MAX {
        return Err(format!(
            "a hostname has 1 to {HOST_NAME_MAX} characters, {name:?} has {}",
            name.len()
        ));
    }
    if name.starts_with(['-', '.']) || name.ends_with(['-', '.']) {
        return Err(format!("{name:?} may not start or end with '-' or '.'"));
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '-' || *c == '.'))
    {
        return Err(format!(
            "{name:?} contains {bad:?}: use letters, digits, '-' and '.'"
        ));
    }
    Ok(name.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostnames_are_checked() {
        assert_eq!(parse_hostname("web-1.local").unwrap(), "web-1.local");
        assert!(parse_hostname("").is_err());
        assert!(parse_hostname(&"a".repeat(65)).is_err());
        assert!(parse_hostname("-x").is_err());
        assert!(parse_hostname("a b").unwrap_err().contains("' '"));
    }
}
