//! The one list of host tools, `scripts/host-requirements`, read in Rust.
//!
//! `scripts/host-setup` reads the same file to install what is missing;
//! the doctor reads it to check. The format is described at the top of the
//! file: `need | apt | dnf | pacman | groups | why`.

use serde::Serialize;

/// What to look for on the host.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", content = "name", rename_all = "lowercase")]
pub enum Need {
    /// A program on the PATH.
    Cmd(String),
    /// A statically linked program (it is copied into a rootfs).
    Static(String),
    /// A kernel module (a file system, listed in /proc/filesystems).
    Module(String),
}

impl Need {
    /// The name of the program or module.
    pub fn name(&self) -> &str {
        match self {
            Need::Cmd(n) | Need::Static(n) | Need::Module(n) => n,
        }
    }
}

/// One line of the list.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Requirement {
    /// What to look for.
    pub need: Need,
    /// Debian's package (the name shown in a fix).
    pub apt: String,
    /// Who needs it: rootfs, steps, tests, vm.
    pub groups: Vec<String>,
    /// Why, in one line.
    pub why: String,
}

/// Parses the list; a malformed line is an error naming its number.
pub fn parse(text: &str) -> Result<Vec<Requirement>, String> {
    let mut list = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let fields: Vec<&str> = line.split('|').map(str::trim).collect();
        let [need, apt, _dnf, _pacman, groups, why] = fields[..] else {
            return Err(format!(
                "line {}: expected 6 fields separated by '|'",
                number + 1
            ));
        };
        let need = match need.split_once(':') {
            Some(("cmd", name)) => Need::Cmd(name.into()),
            Some(("static", name)) => Need::Static(name.into()),
            Some(("module", name)) => Need::Module(name.into()),
            _ => return Err(format!("line {}: unknown need {need:?}", number + 1)),
        };
        list.push(Requirement {
            need,
            apt: apt.into(),
            groups: groups.split(',').map(|g| g.trim().to_string()).collect(),
            why: why.into(),
        });
    }
    Ok(list)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_workshops_list_parses() {
        let text = include_str!("../../scripts/host-requirements");
        let list = parse(text).unwrap();
        assert!(list.iter().any(|r| r.need == Need::Cmd("iptables".into())));
        assert!(
            list.iter()
                .all(|r| !r.why.is_empty() && !r.groups.is_empty())
        );
    }

    #[test]
    fn a_bad_line_is_named() {
        assert_eq!(
            parse("# c\ncmd:x | a | b\n").unwrap_err(),
            "line 2: expected 6 fields separated by '|'"
        );
        assert!(
            parse("tool:x|a|b|c|d|e")
                .unwrap_err()
                .contains("unknown need")
        );
    }
}
