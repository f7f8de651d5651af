//! `cargo xtask`: the workshop's tooling. See `lib.rs`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use xtask::{checks, facts, render, requirements, workshop_dir};

#[derive(Debug, Parser)]
#[command(name = "cargo xtask", about = "The workshop's tooling")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Check what the steps need from this host, and say how to fix what is
    /// missing. Exits 0 when every step can run here.
    Doctor {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
        /// The state directory to check (as the steps' --state-dir).
        #[arg(
            long,
            value_name = "DIR",
            env = "WORKSHOP_STATE_DIR",
            default_value = "/var/lib/container-workshop"
        )]
        state_dir: PathBuf,
    },
}

fn main() -> ExitCode {
    let Command::Doctor { json, state_dir } = Cli::parse().command;
    let top = workshop_dir();
    let list_path = top.join("scripts/host-requirements");
    let list = match std::fs::read_to_string(&list_path)
        .map_err(|e| e.to_string())
        .and_then(|text| requirements::parse(&text))
    {
        Ok(list) => list,
        Err(e) => {
            eprintln!("error: {}: {e}", list_path.display());
            return ExitCode::from(2);
        }
    };
    let facts = facts::gather(&top, &state_dir, &list);
    let checks = checks::checks(&facts);
    if json {
        println!("{}", render::json(&checks));
    } else {
        print!("{}", render::table(&checks));
    }
    if checks::all_steps_can_run(&checks) {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
