//! The doctor's table, for people, and its JSON, for machines.

use std::fmt::Write;

use colored::Colorize;

use crate::checks::{Check, Status, all_steps_can_run};

/// The table: a mark, what was checked, what was found, the steps it is
/// for; a `fix:` line under each line that is not ✓. Colors follow the
/// terminal (`NO_COLOR` turns them off).
pub fn table(checks: &[Check]) -> String {
    let width = checks
        .iter()
        .map(|c| c.name.chars().count())
        .max()
        .unwrap_or(0);
    let mut out = String::new();
    for c in checks {
        let mark = match c.status {
            Status::Ok => "✓".green(),
            Status::Warn => "!".yellow(),
            Status::Fail => "✗".red(),
        };
        let steps = if c.steps.is_empty() {
            String::new()
        } else {
            format!("  [{}]", c.steps)
        };
        let _ = writeln!(
            out,
            "{mark} {:width$}  {}{}",
            c.name,
            c.found,
            steps.dimmed()
        );
        if let Some(fix) = &c.fix {
            let _ = writeln!(out, "  {:width$}  fix: {fix}", "");
        }
    }
    let failed = checks.iter().filter(|c| c.status == Status::Fail).count();
    let warned = checks.iter().filter(|c| c.status == Status::Warn).count();
    let _ = if all_steps_can_run(checks) {
        writeln!(
            out,
            "\nevery step can run here ({warned} to know: marked !)"
        )
    } else {
        writeln!(
            out,
            "\n{failed} to fix before every step can run (marked ✗)"
        )
    };
    out
}

/// The same as JSON: `{"ok": bool, "checks": [...]}`.
pub fn json(checks: &[Check]) -> String {
    let value = serde_json::json!({
        "ok": all_steps_can_run(checks),
        "checks": checks,
    });
    serde_json::to_string_pretty(&value).expect("checks are plain data")
}
