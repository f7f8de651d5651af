//! What the command line's definition generates: shell completions
//! (`completion SHELL`, clap_complete) and manual pages (`man [COMMAND]`,
//! clap_mangen). Both are made from the same clap definition that parses
//! the command line, so they cannot fall behind it.

use std::io::Write;

use clap_complete::Shell;
use step01_chroot::{Error, Result};

use crate::error::RuntimeError;

/// The completion script for `shell`, for the binary `bin`.
pub fn completion(shell: Shell, definition: &mut clap::Command, bin: &str) -> Vec<u8> {
    let mut script = Vec::new();
    clap_complete::generate(shell, definition, bin, &mut script);
    if shell != Shell::Bash {
        return script;
    }
    // clap_complete 4.6's bash script spells a subcommand's state two
    // ways when the binary's name has a hyphen: the loop that reads the
    // words arrives at `10__runtime__subcmd__exec`, the branch that lists
    // exec's flags is labelled `10__subcmd__runtime__subcmd__exec`, and no
    // subcommand's flags ever complete (clap issue #6421). The branches
    // are put right here, until a release of clap_complete fixes it.
    let fixed = bin.replace('-', "__");
    let broken = bin.replace('-', "__subcmd__");
    String::from_utf8_lossy(&script)
        .replace(
            &format!("{broken}__subcmd__"),
            &format!("{fixed}__subcmd__"),
        )
        .into_bytes()
}

/// The manual page of the whole command line, or of one of its
/// subcommands (`10-runtime-exec(1)`, which the main page lists).
pub fn manual(definition: clap::Command, command: Option<&str>) -> Result<Vec<u8>> {
    // Built, each subcommand knows its page's name (`10-runtime-exec`).
    let mut definition = definition.disable_help_subcommand(true);
    definition.build();
    let page = match command {
        None => definition,
        Some(name) => definition.find_subcommand(name).cloned().ok_or_else(|| {
            Error::layer(RuntimeError::Flag {
                flag: "man",
                value: name.to_string(),
                why: "no such subcommand".into(),
                hint: "10-runtime --help lists them",
            })
        })?,
    };
    let mut roff = Vec::new();
    clap_mangen::Man::new(page)
        .render(&mut roff)
        .expect("rendering into memory cannot fail");
    Ok(roff)
}

/// Writes `bytes` to stdout; a reader that went away (`| head`) is no
/// error of ours.
pub fn print(bytes: &[u8]) {
    let _ = std::io::stdout().write_all(bytes);
}
