//! `clone(2)`'s flags as strace shows them, and the ways the host itself
//! can refuse a clone with namespace flags.

use nix::errno::Errno;
use nix::sched::CloneFlags;

use crate::error::{Error, SysError};

/// Explains the ways the host itself can refuse `clone(2)` with namespace
/// flags (see the ERRORS of clone(2) and namespaces(7)).
pub(crate) fn clone_refused(err: SysError) -> Error {
    let hint = match err.errno {
        // Each kind of namespace has a per-user limit, in
        // /proc/sys/user/max_*_namespaces; 0 switches that kind off.
        Errno::ENOSPC | Errno::EUSERS => {
            "a namespace limit is reached or set to 0 (/proc/sys/user/max_*_namespaces)"
        }
        // Some distributions restrict user namespaces: Debian's
        // kernel.unprivileged_userns_clone, Ubuntu's AppArmor setting.
        Errno::EPERM => "this host does not let this user make these namespaces",
        Errno::EINVAL => "this kernel does not know one of these namespace kinds",
        _ => return err.into(),
    };
    Error::HostRefused { source: err, hint }
}

/// `CLONE_NEWNS | CLONE_NEWPID | SIGCHLD`, as strace shows clone flags.
pub fn clone_flags_str(flags: CloneFlags) -> String {
    flags
        .iter_names()
        .map(|(name, _)| name)
        .chain(std::iter::once("SIGCHLD"))
        .collect::<Vec<_>>()
        .join(" | ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clone_flags_are_named() {
        assert_eq!(clone_flags_str(CloneFlags::empty()), "SIGCHLD");
        assert_eq!(
            clone_flags_str(CloneFlags::CLONE_NEWNS | CloneFlags::CLONE_NEWPID),
            "CLONE_NEWNS | CLONE_NEWPID | SIGCHLD"
        );
    }
}
