//! A seccomp profile in Docker's JSON format, as moby's `default.json` and
//! the profiles people write for `docker run --security-opt seccomp=FILE`
//! have it:
//!
//! ```json
//! { "defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 1,
//!   "archMap": [{ "architecture": "SCMP_ARCH_X86_64", "subArchitectures": [] }],
//!   "syscalls": [
//!     { "names": ["read", "write"], "action": "SCMP_ACT_ALLOW" },
//!     { "names": ["personality"], "action": "SCMP_ACT_ALLOW",
//!       "args": [{ "index": 0, "value": 8, "op": "SCMP_CMP_EQ" }] },
//!     { "names": ["mount"], "action": "SCMP_ACT_ALLOW",
//!       "includes": { "caps": ["CAP_SYS_ADMIN"] } } ] }
//! ```
//!
//! Every system call not named by a rule that applies gets the default
//! action; a rule's `args` must all hold (and several rules for one call:
//! any of them); `includes` and `excludes` make a rule apply only with (or
//! without) some capabilities or on some architectures. The names of the
//! fields are Docker's, so its own profile loads as it is.

use std::path::Path;

use serde::{Deserialize, Serialize};

/// A whole profile.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Profile {
    /// What happens to a call no rule allows (`SCMP_ACT_ERRNO`).
    pub default_action: String,
    /// The errno of `SCMP_ACT_ERRNO` rules that give none (EPERM if unset).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_errno_ret: Option<u32>,
    /// The architectures the profile is for (the older form).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub architectures: Vec<String>,
    /// The architectures the profile is for, each with its 32-bit
    /// companions (Docker's form).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub arch_map: Vec<ArchMap>,
    /// The rules.
    #[serde(default)]
    pub syscalls: Vec<Rule>,
    /// Flags for seccomp(2) (`SECCOMP_FILTER_FLAG_LOG`); none are used here.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub flags: Vec<String>,
    /// moby's notes on the profile.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

/// One architecture and the ones that run on it.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ArchMap {
    /// `SCMP_ARCH_X86_64`.
    pub architecture: String,
    /// `SCMP_ARCH_X86`, `SCMP_ARCH_X32` (moby writes `null` for none).
    #[serde(default, deserialize_with = "null_as_empty")]
    pub sub_architectures: Vec<String>,
}

/// A list that may be `null` in the JSON: empty.
fn null_as_empty<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    Ok(Option::<Vec<String>>::deserialize(d)?.unwrap_or_default())
}

/// One rule: calls by name, what happens to them, and when.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Rule {
    /// The calls, by name (`openat`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub names: Vec<String>,
    /// The older form: one call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `SCMP_ACT_ALLOW`, `SCMP_ACT_ERRNO`, ...
    pub action: String,
    /// The errno for `SCMP_ACT_ERRNO`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub errno_ret: Option<u32>,
    /// Conditions on the arguments, all of which must hold.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<Arg>,
    /// The rule applies only if all of these hold.
    #[serde(default, skip_serializing_if = "Filter::is_empty")]
    pub includes: Filter,
    /// The rule does not apply if any of these holds.
    #[serde(default, skip_serializing_if = "Filter::is_empty")]
    pub excludes: Filter,
    /// Why the rule is there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

/// A condition on one argument (seccomp's `seccomp_data.args[index]`).
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Arg {
    /// Which argument, 0 to 5.
    pub index: u32,
    /// The value compared with (for `SCMP_CMP_MASKED_EQ`: the mask).
    pub value: u64,
    /// For `SCMP_CMP_MASKED_EQ`: what the masked argument must be.
    #[serde(default)]
    pub value_two: u64,
    /// `SCMP_CMP_EQ`, `SCMP_CMP_NE`, `SCMP_CMP_MASKED_EQ`, ...
    pub op: String,
}

/// When a rule applies: with these capabilities, on these architectures,
/// from this kernel on.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Filter {
    /// Capabilities (`CAP_SYS_ADMIN`) the container keeps.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub caps: Vec<String>,
    /// Docker's architecture names (`amd64`, `arm64`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub arches: Vec<String>,
    /// The oldest kernel (`5.8`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_kernel: Option<String>,
}

impl Filter {
    fn is_empty(&self) -> bool {
        self.caps.is_empty() && self.arches.is_empty() && self.min_kernel.is_none()
    }
}

/// A profile that does not parse.
#[derive(Debug, thiserror::Error)]
#[error(
    "--security-opt seccomp={path}: line {line}, {field}: {message}\n  \
     hint: a profile is in Docker's JSON format ({program} seccomp-profile prints one)",
    program = step01_chroot::cli::program()
)]
pub struct BadProfile {
    path: String,
    line: usize,
    field: String,
    message: String,
}

// ANCHOR: parse
/// Reads a profile from `text` (the file at `path`), naming the line and
/// the field of the first thing that is wrong: `syscalls[3].args[0].op`.
pub fn parse(path: &Path, text: &str) -> Result<Profile, BadProfile> {
    let mut reader = serde_json::Deserializer::from_str(text);
    serde_path_to_error::deserialize(&mut reader).map_err(|err| {
        let field = err.path().to_string();
        let inner = err.into_inner();
        BadProfile {
            path: path.display().to_string(),
            line: inner.line(),
            field: if field == "." {
                "the top".into()
            } else {
                field
            },
            message: inner
                .to_string()
                .split(" at line ")
                .next()
                .unwrap_or("")
                .into(),
        }
    })
}
// ANCHOR_END: parse

/// The profile this step uses unless told otherwise: our own, in Docker's
/// format (default.json next to this file; `08-security seccomp-profile`
/// prints it).
pub const DEFAULT: &str = include_str!("default.json");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_profile_parses() {
        let profile = parse(Path::new("default.json"), DEFAULT).unwrap();
        assert_eq!(profile.default_action, "SCMP_ACT_ERRNO");
        assert!(
            profile
                .syscalls
                .iter()
                .any(|r| r.names.contains(&"execve".into()))
        );
    }

    #[test]
    fn a_mistake_is_named_by_line_and_field() {
        let text = "{\n  \"defaultAction\": \"SCMP_ACT_ERRNO\",\n  \"syscalls\": [\n    \
                    { \"names\": [\"read\"], \"action\": \"SCMP_ACT_ALLOW\",\n      \
                    \"args\": [{ \"index\": 0, \"value\": \"x\", \"op\": \"SCMP_CMP_EQ\" }] }\n  ]\n}\n";
        let err = parse(Path::new("p.json"), text).unwrap_err().to_string();
        assert!(
            err.starts_with("--security-opt seccomp=p.json: line 5, syscalls[0].args[0].value:"),
            "{err}"
        );
        let err = parse(Path::new("p.json"), "{ \"defaultAction\": 1 }")
            .unwrap_err()
            .to_string();
        assert!(err.contains("line 1, defaultAction: invalid type"), "{err}");
        let err = parse(Path::new("p.json"), "{ \"syscall\": [] }")
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown field `syscall`"), "{err}");
    }
}
