//! The subcommands: `pull` and `inspect`, this step's `images` and `rmi`
//! (which know pulled images), and step 07's and 08's others.

use std::io::Read;
use std::path::Path;

use colored::Color;
use step01_chroot::cli::println_or_not;
use step01_chroot::error::{Error, Result};
use step01_chroot::trace::{Trace, TraceOptions};
use step07_overlay::cli::Command as StoreCommand;
use step08_security::cli::Command as SecurityCommand;

use crate::auth::Credentials;
use crate::cli::Command;
use crate::error::RegistryError;
use crate::platform::Platform;
use crate::reference::ImageRef;

/// Runs one subcommand; what it reports goes to stdout.
pub fn run(command: &Command, state_dir: &Path) -> Result<()> {
    match command {
        Command::Pull {
            reference,
            platform,
            username,
            password_stdin,
            quiet,
            limits,
        } => {
            let reference = ImageRef::parse(reference).map_err(Error::layer)?;
            let credentials = match (username, password_stdin) {
                (Some(username), true) => Some(Credentials {
                    username: username.clone(),
                    password: password_from_stdin().map_err(Error::layer)?,
                }),
                _ => None,
            };
            let platform = platform.clone().unwrap_or_else(Platform::host);
            let trace = pull_trace(*quiet);
            let pulled = crate::pull::pull(
                &reference,
                &platform,
                credentials,
                &limits.limits(),
                state_dir,
                &trace,
            )
            .map_err(Error::layer)?;
            if *quiet {
                println_or_not(format_args!("sha256:{}", pulled.id));
            } else {
                println_or_not(format_args!(
                    "pulled {} ({} of {} layers fetched)\n  digest:   {}\n  image id: sha256:{}",
                    pulled.reference, pulled.fetched, pulled.layers, pulled.digest, pulled.id
                ));
            }
        }
        // Not a subcommand like the others: its words are a command line
        // (run_line.rs), which main reads again.
        Command::Run { .. } => unreachable!("main reads `run`'s words itself"),
        Command::Inspect { image } => {
            let json = crate::images::inspect(state_dir, image).map_err(Error::layer)?;
            println_or_not(format_args!(
                "{}",
                serde_json::to_string_pretty(&json).expect("JSON prints")
            ));
        }
        Command::Earlier(SecurityCommand::SeccompProfile) => {
            print!("{}", step08_security::profile::DEFAULT);
        }
        // Pulled images are in step 07's store under their ids; these two
        // show and remove them by the names they were pulled under.
        Command::Earlier(SecurityCommand::Store(StoreCommand::Images)) => {
            for line in crate::images::list(state_dir).map_err(Error::layer)? {
                println_or_not(format_args!("{line}"));
            }
        }
        Command::Earlier(SecurityCommand::Store(StoreCommand::Rmi { name })) => {
            for line in crate::images::remove(state_dir, name).map_err(Error::layer)? {
                println_or_not(format_args!("{line}"));
            }
        }
        Command::Earlier(SecurityCommand::Store(command)) => {
            step07_overlay::commands::run(command, state_dir)?;
        }
    }
    Ok(())
}

/// The trace a pull speaks through: each request, and notes.
pub fn pull_trace(quiet: bool) -> Trace {
    Trace::new(TraceOptions {
        quiet,
        ..Default::default()
    })
    .for_layer("registry", Color::BrightBlue)
}

/// The password, from stdin: one line, its newline taken off (as
/// `docker login --password-stdin` reads it).
fn password_from_stdin() -> std::result::Result<String, RegistryError> {
    let mut text = String::new();
    std::io::stdin()
        .take(64 << 10)
        .read_to_string(&mut text)
        .map_err(|err| RegistryError::Password(err.to_string()))?;
    let password = text.trim_end_matches(['\n', '\r']).to_string();
    if password.is_empty() {
        return Err(RegistryError::Password("stdin was empty".into()));
    }
    Ok(password)
}
