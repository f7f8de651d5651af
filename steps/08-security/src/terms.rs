//! A profile's terms in seccompiler's: its actions (`SCMP_ACT_ERRNO`) and
//! its comparisons of arguments (`SCMP_CMP_MASKED_EQ`), as libseccomp
//! reads them.

use seccompiler::{SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition};

use crate::filter::{ProfileError, field};
use crate::profile::Rule;

/// A profile's action as seccompiler's.
pub(crate) fn action(
    name: &str,
    errno: Option<u32>,
    at: String,
) -> Result<SeccompAction, ProfileError> {
    Ok(match name {
        "SCMP_ACT_ALLOW" => SeccompAction::Allow,
        "SCMP_ACT_ERRNO" => SeccompAction::Errno(errno.unwrap_or(libc::EPERM as u32)),
        "SCMP_ACT_KILL" | "SCMP_ACT_KILL_THREAD" => SeccompAction::KillThread,
        "SCMP_ACT_KILL_PROCESS" => SeccompAction::KillProcess,
        "SCMP_ACT_TRAP" => SeccompAction::Trap,
        "SCMP_ACT_LOG" => SeccompAction::Log,
        "SCMP_ACT_TRACE" => SeccompAction::Trace(errno.unwrap_or(0)),
        "SCMP_ACT_NOTIFY" => {
            return Err(field(
                at,
                "SCMP_ACT_NOTIFY needs a program listening for the container's calls; \
                 this runtime has none",
            ));
        }
        other => return Err(field(at, format!("{other:?} is not a seccomp action"))),
    })
}

/// The conditions of `rule` on the arguments, all of which must hold.
pub(crate) fn conditions(
    rule: &Rule,
    allows: bool,
    at: &dyn Fn(&str) -> String,
) -> Result<Vec<SeccompCondition>, ProfileError> {
    rule.args
        .iter()
        .enumerate()
        .map(|(j, arg)| {
            let at = at(&format!("args[{j}]"));
            let (op, value) = match arg.op.as_str() {
                "SCMP_CMP_EQ" => (SeccompCmpOp::Eq, arg.value),
                "SCMP_CMP_NE" => (SeccompCmpOp::Ne, arg.value),
                "SCMP_CMP_LT" => (SeccompCmpOp::Lt, arg.value),
                "SCMP_CMP_LE" => (SeccompCmpOp::Le, arg.value),
                "SCMP_CMP_GT" => (SeccompCmpOp::Gt, arg.value),
                "SCMP_CMP_GE" => (SeccompCmpOp::Ge, arg.value),
                // Docker's value is the mask, valueTwo what the masked bits must be.
                "SCMP_CMP_MASKED_EQ" => (SeccompCmpOp::MaskedEq(arg.value), arg.value_two),
                other => {
                    return Err(field(
                        format!("{at}.op"),
                        format!("{other:?} is not a comparison"),
                    ));
                }
            };
            let index = u8::try_from(arg.index).ok().filter(|i| *i < 6);
            let index =
                index.ok_or_else(|| field(format!("{at}.index"), "a call has arguments 0 to 5"))?;
            // Compared as 64 bits, except "not equal" in a rule that allows:
            // many arguments are C ints (socket's family), whose upper 32
            // bits the kernel throws away; socket(0x1_0000_0028) is
            // AF_VSOCK to the kernel, and not 40 to a 64-bit compare. On
            // the low 32 bits it is 40, and refused. (A 32-bit "not equal"
            // never allows more than the 64-bit one.)
            let len = match (&op, allows, u32::try_from(value)) {
                (SeccompCmpOp::Ne, true, Ok(_)) => SeccompCmpArgLen::Dword,
                _ => SeccompCmpArgLen::Qword,
            };
            SeccompCondition::new(index, len, op, value).map_err(|e| field(at, e.to_string()))
        })
        .collect()
}
