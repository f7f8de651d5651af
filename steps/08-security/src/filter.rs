//! From a profile to the BPF programs the kernel runs (seccomp(2)).
//!
//! A seccomp filter is a small program in classic BPF: the kernel runs it
//! at every system call, on the call's number, architecture and arguments,
//! and it answers allow, fail with an errno, or kill. seccompiler compiles
//! one such program from rules and *two* actions: one for a call that
//! matches, one for a call that does not. A profile has more: most rules
//! allow, some fail with their own errno (`clone3`: ENOSYS). So each
//! action gets a program of its own, and the kernel, which runs every
//! installed filter, takes the strictest answer (kill, then trap, then
//! errno, then trace, then log, then allow; between two errnos, the
//! filter installed last):
//!
//! ```text
//!  program 1   a call any rule names (its args matching)  → allow, else the default
//!  program 2   a call an ERRNO(38) rule names             → ERRNO(38), else allow
//! ```
//!
//! (In program 1 the calls allowed whatever their arguments are found by a
//! search tree in front of seccompiler's list: tree.rs.)
//!
//! Rules apply only where their `includes` hold (capabilities the
//! container keeps, this machine's architecture) and their `excludes` do
//! not: the same profile gives a container with `--cap-add SYS_ADMIN`
//! `mount`, and one without it not.

use std::collections::BTreeMap;
use std::str::FromStr;

use seccompiler::{
    BpfProgram, SeccompAction, SeccompCondition, SeccompFilter, SeccompRule, TargetArch,
    sock_filter,
};

use crate::capset::Capability;
use crate::profile::{Filter, Profile, Rule};
use crate::terms::{action, conditions};

/// What is wrong with a profile, for this machine and these capabilities.
#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    /// A field has a value this step does not know.
    #[error("--security-opt seccomp=...: {field}: {message}")]
    Field {
        /// `syscalls[3].action`.
        field: String,
        /// What is wrong.
        message: String,
    },
    /// The profile is for other machines.
    #[error(
        "--security-opt seccomp=...: the profile is for {listed}, not for this machine \
         ({native})\n  hint: add {native} to its architectures (or archMap)"
    )]
    NoArch {
        /// `SCMP_ARCH_X86_64`.
        native: &'static str,
        /// What the profile lists.
        listed: String,
    },
    /// The runtime could not finish starting the container.
    #[error(
        "--security-opt seccomp=...: the profile does not allow {call}, which the runtime \
         itself makes after the filter is installed (its last call is execve, which starts \
         your command)\n  hint: allow {call} in the profile"
    )]
    BlocksRuntime {
        /// The system call.
        call: &'static str,
    },
    /// This machine is not one seccompiler compiles for.
    #[error("seccomp: this machine ({0}) is not one the filter compiler knows")]
    Machine(&'static str),
}

pub(crate) fn field(field: String, message: impl Into<String>) -> ProfileError {
    ProfileError::Field {
        field,
        message: message.into(),
    }
}

/// Classic BPF (linux/bpf_common.h): load a 32-bit word of seccomp_data,
/// jump if equal, if greater or equal, return.
const BPF_LD_W_ABS: u16 = 0x20;
const BPF_JEQ_K: u16 = 0x15;
const BPF_JGE_K: u16 = 0x35;
const BPF_RET_K: u16 = 0x06;
/// `__X32_SYSCALL_BIT` (asm/unistd.h).
const X32_SYSCALL_BIT: u32 = 0x4000_0000;

/// This machine, in seccompiler's, libseccomp's and Docker's names.
struct Native {
    target: TargetArch,
    /// AUDIT_ARCH_* (linux/audit.h): what seccomp_data.arch says.
    audit: u32,
    scmp: &'static str,
    docker: &'static str,
}

fn native() -> Result<Native, ProfileError> {
    match std::env::consts::ARCH {
        "x86_64" => Ok(Native {
            target: TargetArch::x86_64,
            audit: 0xc000_003e,
            scmp: "SCMP_ARCH_X86_64",
            docker: "amd64",
        }),
        "aarch64" => Ok(Native {
            target: TargetArch::aarch64,
            audit: 0xc000_00b7,
            scmp: "SCMP_ARCH_AARCH64",
            docker: "arm64",
        }),
        other => Err(ProfileError::Machine(other)),
    }
}

/// The calls the runtime makes after the filter is in place, whatever the
/// flags: the next program's install, the capability drop (when the filter
/// goes first), step 01's last calls (child.rs), its error report if they
/// fail, and memory. (With `-t` and `--init` it makes more; a profile that
/// refuses one of those fails at start, with the call in the trace.)
pub const RUNTIME_CALLS: [&str; 14] = [
    "seccomp",
    "prctl",
    "capget",
    "capset",
    "close_range",
    "poll",
    "rt_sigaction",
    "rt_sigprocmask",
    "execve",
    "write",
    "exit_group",
    "brk",
    "mmap",
    "munmap",
];

/// Rules by call number: `None` when any rule names the call without
/// conditions (then its other rules add nothing).
type ByCall = BTreeMap<i64, Option<Vec<SeccompRule>>>;

// ANCHOR: compile
/// What a profile compiles to.
#[derive(Debug)]
pub struct Compiled {
    /// The programs to install, in order.
    pub programs: Vec<BpfProgram>,
    /// The names of calls this machine does not have.
    pub skipped: Vec<String>,
}

/// Compiles `profile` for this machine and a container keeping `keep`.
pub fn compile(profile: &Profile, keep: &[Capability]) -> Result<Compiled, ProfileError> {
    compile_with(profile, keep, true)
}

/// [`compile`], with or without the search tree in front.
fn compile_with(
    profile: &Profile,
    keep: &[Capability],
    tree: bool,
) -> Result<Compiled, ProfileError> {
    let native = native()?;
    check_arch(profile, &native)?;
    let errno = profile.default_errno_ret.unwrap_or(libc::EPERM as u32);
    let default = action(&profile.default_action, Some(errno), "defaultAction".into())?;
    // Every call a rule names, and for each action other than allow, its own.
    let mut named = ByCall::new();
    let mut skipped = Vec::new();
    let mut by_action: Vec<(SeccompAction, ByCall)> = Vec::new();
    for (i, rule) in profile.syscalls.iter().enumerate() {
        let at = |what: &str| format!("syscalls[{i}].{what}");
        if !applies(rule, keep, &native, &at)? {
            continue;
        }
        // (A rule's ERRNO without errnoRet is EPERM, as in runc; the
        // profile's defaultErrnoRet is for its default action.)
        let act = action(&rule.action, rule.errno_ret, at("action"))?;
        let conditions = conditions(rule, act == SeccompAction::Allow, &at)?;
        let numbers = numbers(rule, &mut skipped);
        if act != SeccompAction::Allow {
            let at = match by_action.iter().position(|(a, _)| *a == act) {
                Some(at) => at,
                None => {
                    by_action.push((act, ByCall::new()));
                    by_action.len() - 1
                }
            };
            add(&mut by_action[at].1, &numbers, &conditions)?;
        }
        add(&mut named, &numbers, &conditions)?;
    }
    for call in RUNTIME_CALLS {
        let number = syscalls::Sysno::from_str(call).map(|s| i64::from(s.id()));
        // Allowed whatever its arguments: by a rule, or by a default of
        // allow; and named by no rule of another action.
        let allowed = number.is_ok_and(|n| {
            let by_rule = matches!(named.get(&n), Some(None));
            (by_rule || default == SeccompAction::Allow)
                && by_action.iter().all(|(_, m)| !m.contains_key(&n))
        });
        if !allowed {
            return Err(ProfileError::BlocksRuntime { call });
        }
    }
    let mut programs = Vec::new();
    if default != SeccompAction::Allow {
        programs.push(program(
            named,
            default,
            SeccompAction::Allow,
            &native,
            tree,
        )?);
    }
    for (act, calls) in by_action {
        programs.push(program(calls, SeccompAction::Allow, act, &native, tree)?);
    }
    Ok(Compiled { programs, skipped })
}
// ANCHOR_END: compile

fn check_arch(profile: &Profile, native: &Native) -> Result<(), ProfileError> {
    let mut listed: Vec<&str> = profile.architectures.iter().map(String::as_str).collect();
    for map in &profile.arch_map {
        listed.push(&map.architecture);
        listed.extend(map.sub_architectures.iter().map(String::as_str));
    }
    // None listed: the machine's own (as libseccomp does).
    if listed.is_empty() || listed.contains(&native.scmp) {
        return Ok(());
    }
    Err(ProfileError::NoArch {
        native: native.scmp,
        listed: listed.join(", "),
    })
}

/// Whether `rule` applies here: its `includes` hold, its `excludes` not.
fn applies(
    rule: &Rule,
    keep: &[Capability],
    native: &Native,
    at: &dyn Fn(&str) -> String,
) -> Result<bool, ProfileError> {
    let caps = |f: &Filter, what: &str| -> Result<Vec<bool>, ProfileError> {
        f.caps
            .iter()
            .map(|name| {
                name.parse::<Capability>()
                    .map(|cap| keep.contains(&cap))
                    .map_err(|_| field(at(what), format!("{name:?} is not a capability")))
            })
            .collect()
    };
    let arch = |f: &Filter| f.arches.iter().any(|a| a == native.docker);
    let included = caps(&rule.includes, "includes.caps")?
        .iter()
        .all(|kept| *kept)
        && (rule.includes.arches.is_empty() || arch(&rule.includes))
        && rule
            .includes
            .min_kernel
            .as_deref()
            .is_none_or(kernel_at_least);
    let excluded = caps(&rule.excludes, "excludes.caps")?
        .iter()
        .any(|kept| *kept)
        || arch(&rule.excludes)
        || rule
            .excludes
            .min_kernel
            .as_deref()
            .is_some_and(kernel_at_least);
    Ok(included && !excluded)
}

/// Whether the running kernel is `version` (`5.8`) or newer.
fn kernel_at_least(version: &str) -> bool {
    let parse = |v: &str| -> Vec<u32> {
        v.split(['.', '-'])
            .take(2)
            .map(|n| n.parse().unwrap_or(0))
            .collect()
    };
    let release = nix::sys::utsname::uname()
        .map(|u| u.release().to_string_lossy().into_owned())
        .unwrap_or_default();
    parse(&release) >= parse(version)
}

/// The numbers of the calls `rule` names, on this machine. A name this
/// machine does not have (`open` on aarch64, `socketcall` on x86_64, a
/// call newer than this table, or a typo) is skipped, as runc does, and
/// put in `skipped` for the trace to show.
fn numbers(rule: &Rule, skipped: &mut Vec<String>) -> Vec<i64> {
    let mut numbers = Vec::new();
    for name in rule.names.iter().chain(&rule.name) {
        match syscalls::Sysno::from_str(name) {
            Ok(sysno) => numbers.push(i64::from(sysno.id())),
            Err(_) => skipped.push(name.clone()),
        }
    }
    numbers
}

/// Adds `numbers` with `conditions` (none: the call, whatever its arguments).
fn add(
    calls: &mut ByCall,
    numbers: &[i64],
    conditions: &[SeccompCondition],
) -> Result<(), ProfileError> {
    for number in numbers {
        let entry = calls.entry(*number).or_insert_with(|| Some(Vec::new()));
        match (entry.as_mut(), conditions.is_empty()) {
            (_, true) => *entry = None,
            (Some(rules), false) => rules.push(
                SeccompRule::new(conditions.to_vec())
                    .map_err(|e| field("args".into(), e.to_string()))?,
            ),
            (None, false) => {} // already allowed whatever its arguments
        }
    }
    Ok(())
}

/// One program: `calls` get `matched`, every other call `mismatch`. In
/// an allowing program, the calls allowed whatever their arguments go in a
/// search tree in front (tree.rs), unless `tree` is off (the tests compare).
fn program(
    calls: ByCall,
    mismatch: SeccompAction,
    matched: SeccompAction,
    native: &Native,
    tree: bool,
) -> Result<BpfProgram, ProfileError> {
    let searched = tree && matched == SeccompAction::Allow;
    let (unconditional, rest): (ByCall, ByCall) = match searched {
        true => calls.into_iter().partition(|(_, rules)| rules.is_none()),
        false => (ByCall::new(), calls),
    };
    // seccompiler's program, without its architecture check (ours below).
    let body = match rest.is_empty() {
        true => vec![insn(BPF_RET_K, 0, 0, mismatch.into())],
        false => {
            let rules = rest.into_iter().map(|(n, r)| (n, r.unwrap_or_default()));
            let program = SeccompFilter::new(rules.collect(), mismatch, matched, native.target)
                .and_then(BpfProgram::try_from)
                .map_err(|e| field("syscalls".into(), e.to_string()))?;
            // seccompiler 0.5 starts with its architecture check (three
            // instructions), then loads the number: what we replace, and
            // what we rely on. A version that does otherwise is refused.
            let ours = [
                insn(BPF_LD_W_ABS, 0, 0, 4),
                insn(BPF_JEQ_K, 1, 0, native.audit),
            ];
            if program.get(..2) != Some(&ours[..])
                || program.get(3) != Some(&insn(BPF_LD_W_ABS, 0, 0, 0))
            {
                return Err(ProfileError::Machine(
                    "a seccompiler whose programs start otherwise",
                ));
            }
            program[3..].to_vec()
        }
    };
    // Another architecture's call (a 32-bit program on x86_64) is judged by
    // none of these rules: killed.
    let kill = libc::SECCOMP_RET_KILL_PROCESS;
    let mut code = vec![
        insn(BPF_LD_W_ABS, 0, 0, 4), // seccomp_data.arch
        insn(BPF_JEQ_K, 1, 0, native.audit),
        insn(BPF_RET_K, 0, 0, kill),
    ];
    if native.target == TargetArch::x86_64 {
        // The x32 ABI's calls carry x86_64's architecture, with bit 30 set
        // in their number: they match no rule, so a deny-list would let
        // them through. Killed, as libseccomp does.
        code.push(insn(BPF_LD_W_ABS, 0, 0, 0)); // seccomp_data.nr
        code.push(insn(BPF_JGE_K, 0, 1, X32_SYSCALL_BIT));
        code.push(insn(BPF_RET_K, 0, 0, kill));
    }
    if !unconditional.is_empty() {
        let numbers: Vec<u32> = unconditional.keys().map(|n| *n as u32).collect();
        code.extend(crate::tree::allow_tree(
            &numbers,
            SeccompAction::Allow.into(),
        ));
    }
    code.extend(body);
    // The kernel takes at most BPF_MAXINSNS instructions (linux/bpf_common.h).
    if code.len() > 4096 {
        let message = format!(
            "{} BPF instructions, more than the kernel takes (4096)",
            code.len()
        );
        return Err(field("syscalls".into(), message));
    }
    Ok(code)
}

const fn insn(code: u16, jt: u8, jf: u8, k: u32) -> sock_filter {
    sock_filter { code, jt, jf, k }
}

#[cfg(test)]
#[path = "filter_tests.rs"]
mod tests;
