//! `cargo xtask exercise`: write the heart of a step yourself, graded by
//! the step's own tests.
//!
//! ```text
//! cargo xtask exercise list          what there is to write, per step
//! cargo xtask exercise start 05      step 05's regions become todo!() (your working tree)
//! cargo xtask exercise check 05      run the tests that grade it: which requirement holds
//! cargo xtask exercise reset 05      start over (your work is dropped)
//! cargo xtask exercise solution 05   put the solution back
//! cargo xtask exercise verify        CI: each skeleton compiles and fails its checks
//! ```
//!
//! The solution is kept in `target/exercises/` when an exercise starts
//! (and is in git besides), so `solution` and `reset` work offline.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::regions::{self, Check, Region};

/// An exercise: its regions, in which files of which package.
#[derive(Debug)]
pub struct Exercise {
    /// `01`, `05`, ...
    pub id: String,
    /// The package the files belong to: `step05-pivot-root`.
    pub package: String,
    /// The files and their regions of this exercise.
    pub files: Vec<(PathBuf, Vec<Region>)>,
}

impl Exercise {
    /// Every check of the exercise, in order.
    pub fn checks(&self) -> impl Iterator<Item = &Check> {
        self.files
            .iter()
            .flat_map(|(_, r)| r)
            .flat_map(|r| &r.checks)
    }
}

/// Every exercise in the workshop at `top`, by id.
pub fn all(top: &Path) -> Result<Vec<Exercise>, String> {
    let mut found: Vec<Exercise> = Vec::new();
    let mut steps: Vec<PathBuf> = fs::read_dir(top.join("steps"))
        .map_err(|e| format!("steps/: {e}"))?
        .flatten()
        .map(|e| e.path())
        .collect();
    steps.sort();
    for step in steps {
        let package = package_name(&step)?;
        for file in rust_files(&step.join("src")) {
            let text = fs::read_to_string(&file).map_err(|e| format!("{}: {e}", file.display()))?;
            let here = regions::regions(&text)
                .map_err(|bad| format!("{}:{}: {}", file.display(), bad.line, bad.why))?;
            for region in here {
                let index = match found.iter().position(|e| e.id == region.exercise) {
                    Some(index) => index,
                    None => {
                        found.push(Exercise {
                            id: region.exercise.clone(),
                            package: package.clone(),
                            files: Vec::new(),
                        });
                        found.len() - 1
                    }
                };
                let exercise = &mut found[index];
                let relative = file.strip_prefix(top).unwrap_or(&file).to_path_buf();
                match exercise.files.iter_mut().find(|(f, _)| *f == relative) {
                    Some((_, regions)) => regions.push(region),
                    None => exercise.files.push((relative, vec![region])),
                }
            }
        }
    }
    found.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(found)
}

/// Exercise `id`, or an error that lists the ones there are.
pub fn find(top: &Path, id: &str) -> Result<Exercise, String> {
    let all = all(top)?;
    let ids: Vec<String> = all.iter().map(|e| e.id.clone()).collect();
    all.into_iter()
        .find(|e| e.id == id)
        .ok_or_else(|| format!("no exercise {id:?}; there are: {}", ids.join(", ")))
}

/// Where the solution of `file` is kept while an exercise is under way.
fn kept(top: &Path, file: &Path) -> PathBuf {
    top.join("target/exercises").join(file)
}

/// `start`: keeps each file's solution, then writes its skeleton.
pub fn start(top: &Path, exercise: &Exercise) -> Result<(), String> {
    for (file, _) in &exercise.files {
        let path = top.join(file);
        let text = fs::read_to_string(&path).map_err(|e| format!("{}: {e}", file.display()))?;
        if regions::is_skeleton(&text, &exercise.id) {
            return Err(format!(
                "exercise {} is under way already ({} has its todo!()): \
                 `reset` starts over, `solution` ends it",
                exercise.id,
                file.display()
            ));
        }
        let keep = kept(top, file);
        fs::create_dir_all(keep.parent().expect("a file has a directory"))
            .and_then(|()| fs::write(&keep, &text))
            .map_err(|e| format!("{}: {e}", keep.display()))?;
    }
    write_skeletons(top, exercise)
}

/// `reset`: the skeleton again, from the kept solution.
pub fn reset(top: &Path, exercise: &Exercise) -> Result<(), String> {
    solution(top, exercise)?;
    start(top, exercise)
}

/// `solution`: the kept solution back (or git's, if none was kept).
pub fn solution(top: &Path, exercise: &Exercise) -> Result<(), String> {
    for (file, _) in &exercise.files {
        let keep = kept(top, file);
        let text = match fs::read_to_string(&keep) {
            Ok(text) => text,
            Err(_) => git_show(top, file)?,
        };
        fs::write(top.join(file), text).map_err(|e| format!("{}: {e}", file.display()))?;
        let _ = fs::remove_file(&keep);
    }
    Ok(())
}

fn write_skeletons(top: &Path, exercise: &Exercise) -> Result<(), String> {
    for (file, _) in &exercise.files {
        let path = top.join(file);
        let text = fs::read_to_string(&path).map_err(|e| format!("{}: {e}", file.display()))?;
        let skeleton = regions::skeleton(&text, &exercise.id)
            .map_err(|bad| format!("{}:{}: {}", file.display(), bad.line, bad.why))?;
        fs::write(&path, skeleton).map_err(|e| format!("{}: {e}", file.display()))?;
    }
    Ok(())
}

/// The file as the last commit has it.
fn git_show(top: &Path, file: &Path) -> Result<String, String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(top)
        .arg("show")
        .arg(format!("HEAD:{}", file.display()))
        .output()
        .map_err(|e| format!("git: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "no kept solution of {} and git has none: {}",
            file.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// What one check gave.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Its tests ran and passed.
    Passed,
    /// They ran, and one failed (or the build did).
    Failed,
    /// The filter matched no test: the exercise is broken, not the learner.
    NoTest,
}

/// Runs one check: `cargo test -p PACKAGE ARGS`, its output kept out of
/// sight unless `verbose`.
pub fn run_check(top: &Path, package: &str, check: &Check, verbose: bool) -> Verdict {
    let out = Command::new(env!("CARGO"))
        .current_dir(top)
        .args(["test", "--quiet", "-p", package])
        .args(&check.args)
        .output();
    let Ok(out) = out else {
        return Verdict::Failed;
    };
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    if verbose {
        print!("{text}");
    }
    // Each test binary ends with `test result: ok. N passed; M failed; ...`.
    let ran: u64 = text
        .lines()
        .filter_map(|l| l.strip_prefix("test result: "))
        .map(|l| {
            let count = |word: &str| {
                l.split(';')
                    .find_map(|part| {
                        part.trim()
                            .trim_start_matches("ok. ")
                            .trim_start_matches("FAILED. ")
                            .strip_suffix(word)
                    })
                    .and_then(|n| n.trim().parse::<u64>().ok())
                    .unwrap_or(0)
            };
            count("passed") + count("failed")
        })
        .sum();
    match (out.status.success(), ran) {
        (true, 0) => Verdict::NoTest,
        (true, _) => Verdict::Passed,
        (false, _) => Verdict::Failed,
    }
}

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
    files.sort();
    files
}

/// The `name = "…"` of a step's Cargo.toml.
fn package_name(step: &Path) -> Result<String, String> {
    let manifest = step.join("Cargo.toml");
    let text = fs::read_to_string(&manifest).map_err(|e| format!("{}: {e}", manifest.display()))?;
    text.lines()
        .find_map(|l| {
            l.strip_prefix("name = \"")?
                .strip_suffix('"')
                .map(String::from)
        })
        .ok_or_else(|| format!("{}: no package name", manifest.display()))
}
