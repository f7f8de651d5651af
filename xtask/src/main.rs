//! `cargo xtask`: the workshop's tooling. See `lib.rs`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use xtask::exercise::{self, Verdict};
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
    /// Check that every link in the built book (book/book, after `mdbook build book`) leads to a page and anchor that exist.
    Links,
    /// Write the heart of a step yourself, graded by its tests:
    /// list, start NN, check NN, reset NN, solution NN (and verify, for CI).
    Exercise {
        #[command(subcommand)]
        action: Action,
    },
}

#[derive(Debug, Subcommand)]
enum Action {
    /// What there is to write, per step.
    List,
    /// Replace step NN's regions with todo!() in your working tree (the solution is kept).
    Start { id: String },
    /// Run the tests that grade exercise NN: which requirement holds.
    Check {
        id: String,
        /// Show the tests' own output.
        #[arg(short, long)]
        verbose: bool,
    },
    /// Start exercise NN over: your changes to its regions are dropped.
    Reset { id: String },
    /// Put exercise NN's solution back.
    Solution { id: String },
    /// For CI: each skeleton compiles and fails every one of its checks; each solution passes them.
    Verify {
        /// Only these exercises (default: all).
        ids: Vec<String>,
    },
}

fn main() -> ExitCode {
    let (json, state_dir) = match Cli::parse().command {
        Command::Doctor { json, state_dir } => (json, state_dir),
        Command::Exercise { action } => return exercise_main(action),
        Command::Links => return links_main(),
    };
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

/// `cargo xtask exercise ...`.
fn exercise_main(action: Action) -> ExitCode {
    let top = workshop_dir();
    let result = match action {
        Action::List => exercise::all(&top).map(|all| {
            for e in all {
                let title = e
                    .files
                    .iter()
                    .flat_map(|(_, r)| r)
                    .map(|r| r.title.as_str())
                    .next();
                let files: Vec<String> = e
                    .files
                    .iter()
                    .map(|(f, _)| f.display().to_string())
                    .collect();
                println!(
                    "{}  {}  ({})",
                    e.id,
                    title.unwrap_or_default(),
                    files.join(", ")
                );
            }
            true
        }),
        Action::Start { id } => exercise::find(&top, &id).and_then(|e| {
            exercise::start(&top, &e)?;
            for (file, regions) in &e.files {
                for r in regions {
                    println!("{}:{}: {}", file.display(), r.lines.0 + 1, r.title);
                    for hint in &r.hints {
                        println!("    hint: {hint}");
                    }
                }
            }
            println!("write the todo!()s, then: cargo xtask exercise check {id}");
            Ok(true)
        }),
        Action::Check { id, verbose } => exercise::find(&top, &id).map(|e| {
            let mut all = true;
            for (_, regions) in &e.files {
                for r in regions {
                    let mut region_ok = true;
                    for check in &r.checks {
                        let verdict = exercise::run_check(&top, &e.package, check, verbose);
                        let mark = match verdict {
                            Verdict::Passed => "ok  ",
                            Verdict::Failed => "FAIL",
                            Verdict::NoTest => "NONE",
                        };
                        println!("{mark} {}", check.shows);
                        if verdict != Verdict::Passed {
                            region_ok = false;
                            println!(
                                "     run it: cargo test -p {} {}",
                                e.package,
                                check.args.join(" ")
                            );
                        }
                    }
                    if !region_ok {
                        all = false;
                        for hint in &r.hints {
                            println!("hint: {hint}");
                        }
                    }
                }
            }
            all
        }),
        Action::Reset { id } => exercise::find(&top, &id)
            .and_then(|e| exercise::reset(&top, &e))
            .map(|()| true),
        Action::Solution { id } => exercise::find(&top, &id)
            .and_then(|e| exercise::solution(&top, &e))
            .map(|()| true),
        Action::Verify { ids } => verify(&top, &ids),
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

/// Each exercise's skeleton compiles, and fails every one of its checks
/// (so an exercise never rots: a check that passes without the code does
/// not grade it); then the solution, put back, passes them all.
fn verify(top: &std::path::Path, ids: &[String]) -> Result<bool, String> {
    let mut good = true;
    for e in exercise::all(top)? {
        if !ids.is_empty() && !ids.contains(&e.id) {
            continue;
        }
        exercise::start(top, &e)?;
        // A skeleton warns (unused variables, unreachable code): its
        // compiler's words are shown only if it does not compile.
        let build = std::process::Command::new(env!("CARGO"))
            .current_dir(top)
            .args(["build", "--quiet", "--all-targets", "-p", &e.package])
            .output();
        let built = build.as_ref().is_ok_and(|out| out.status.success());
        if let (false, Ok(out)) = (built, &build) {
            eprint!("{}", String::from_utf8_lossy(&out.stderr));
        }
        let mut line = format!(
            "exercise {}: skeleton {}",
            e.id,
            if built {
                "compiles"
            } else {
                "DOES NOT COMPILE"
            }
        );
        good &= built;
        for check in e.checks() {
            let verdict = exercise::run_check(top, &e.package, check, false);
            let fine = verdict == Verdict::Failed;
            good &= fine;
            line.push_str(&format!(
                "; {} {}",
                check.shows,
                if fine { "fails" } else { "DOES NOT FAIL" }
            ));
        }
        exercise::solution(top, &e)?;
        // And the solution passes them: `check` says ok for each.
        for check in e.checks() {
            let verdict = exercise::run_check(top, &e.package, check, false);
            let fine = verdict == Verdict::Passed;
            good &= fine;
            if !fine {
                line.push_str(&format!(
                    "; with the solution, {} DOES NOT PASS",
                    check.shows
                ));
            }
        }
        println!("{line}; the solution passes");
    }
    Ok(good)
}

/// `cargo xtask links`.
fn links_main() -> ExitCode {
    let built = workshop_dir().join("book/book");
    match xtask::links::check(&built) {
        Ok(broken) if broken.is_empty() => ExitCode::SUCCESS,
        Ok(broken) => {
            for b in &broken {
                eprintln!("{}: {} ({})", b.page, b.link, b.why);
            }
            eprintln!("error: {} broken links in the book", broken.len());
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}
