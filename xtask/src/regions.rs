//! Exercise regions in the steps' sources, and the skeletons that replace
//! them.
//!
//! A region is the heart of a step's concept, marked in its library:
//!
//! ```text
//!     fn enter(&self, cx: &ChildCx<'_>) -> Result<()> {
//!         // EXERCISE 01: change the root, then the working directory
//!         // HINT: chroot(2) changes what / means, not where you are.
//!         // CHECK: --lib chroot::tests::enter_is_chroot_then_chdir | chroot, then chdir("/")
//!         // CHECK: --test chroot contract::the_rootfs_is_another_system | the container sees the rootfs
//!         cx.trace.sys(Syscall::Chroot(cx.spec.rootfs.clone()))?;
//!         ...
//!         // END EXERCISE
//!     }
//! ```
//!
//! The region ends a block whose value is the function's: its skeleton is
//! the marker lines as they are, then `todo!("…")`, which compiles for any
//! return type. Each `CHECK` is one requirement: the arguments of `cargo
//! test -p PACKAGE` that run the test showing it, and what it shows.

/// One requirement of an exercise: a test, and what it shows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Check {
    /// What follows `cargo test -p PACKAGE`: `--test chroot NAME`.
    pub args: Vec<String>,
    /// What it shows, for the learner.
    pub shows: String,
}

/// One exercise region in a file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Region {
    /// The exercise it belongs to: `01`, `05`.
    pub exercise: String,
    /// Its title: what to write.
    pub title: String,
    /// Hints, one a line.
    pub hints: Vec<String>,
    /// The tests that show it works.
    pub checks: Vec<Check>,
    /// Its lines in the file, 0-based: the `EXERCISE` line and the `END
    /// EXERCISE` line, both included.
    pub lines: (usize, usize),
}

/// Why a file's regions do not parse.
#[derive(Debug, PartialEq, Eq)]
pub struct BadRegion {
    /// The line, 1-based.
    pub line: usize,
    /// What is wrong.
    pub why: String,
}

/// The marker that opens a region.
const OPEN: &str = "// EXERCISE ";
/// The marker that closes it.
const CLOSE: &str = "// END EXERCISE";

/// The regions in `text`, in order.
pub fn regions(text: &str) -> Result<Vec<Region>, BadRegion> {
    let mut found = Vec::new();
    let mut open: Option<Region> = None;
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        let bad = |why: &str| BadRegion {
            line: i + 1,
            why: why.into(),
        };
        if let Some(rest) = line.strip_prefix(OPEN) {
            if open.is_some() {
                return Err(bad("a region opens inside another"));
            }
            let (exercise, title) = rest.split_once(':').ok_or_else(|| bad("no `NN: title`"))?;
            open = Some(Region {
                exercise: exercise.trim().to_string(),
                title: title.trim().to_string(),
                hints: Vec::new(),
                checks: Vec::new(),
                lines: (i, i),
            });
        } else if line == CLOSE {
            let mut region = open
                .take()
                .ok_or_else(|| bad("END EXERCISE with no region open"))?;
            if region.checks.is_empty() {
                return Err(bad("a region with no CHECK: nothing would grade it"));
            }
            region.lines.1 = i;
            found.push(region);
        } else if let Some(region) = open.as_mut() {
            if let Some(hint) = line.strip_prefix("// HINT:") {
                region.hints.push(hint.trim().to_string());
            } else if let Some(check) = line.strip_prefix("// CHECK:") {
                let (args, shows) = check
                    .split_once('|')
                    .ok_or_else(|| bad("CHECK with no `| what it shows`"))?;
                region.checks.push(Check {
                    args: args.split_whitespace().map(String::from).collect(),
                    shows: shows.trim().to_string(),
                });
            }
        }
    }
    match open {
        Some(region) => Err(BadRegion {
            line: region.lines.0 + 1,
            why: "a region with no END EXERCISE".into(),
        }),
        None => Ok(found),
    }
}

/// `text` with every region of `exercise` replaced by its skeleton: its
/// marker lines (title, hints, checks) kept, its code replaced by
/// `todo!()`, and its end marker kept.
pub fn skeleton(text: &str, exercise: &str) -> Result<String, BadRegion> {
    let regions = regions(text)?;
    let lines: Vec<&str> = text.lines().collect();
    let mut out: Vec<String> = Vec::new();
    let mut i = 0;
    for region in regions.iter().filter(|r| r.exercise == exercise) {
        let (start, end) = region.lines;
        out.extend(lines[i..start].iter().map(|l| l.to_string()));
        let indent: String = lines[start]
            .chars()
            .take_while(|c| c.is_whitespace())
            .collect();
        // The markers, and the solution's comments at the region's own
        // depth (they say why; those deeper in its code would say how).
        for line in &lines[start..end] {
            let same_depth = line
                .strip_prefix(indent.as_str())
                .is_some_and(|l| l.starts_with("//"));
            if same_depth {
                out.push(line.to_string());
            }
        }
        let title = region.title.replace('\\', "\\\\").replace('"', "\\\"");
        out.push(format!("{indent}todo!(\"exercise {exercise}: {title}\")"));
        out.push(lines[end].to_string());
        i = end + 1;
    }
    out.extend(lines[i..].iter().map(|l| l.to_string()));
    let mut result = out.join("\n");
    if text.ends_with('\n') {
        result.push('\n');
    }
    Ok(result)
}

/// Whether `text` holds a skeleton of `exercise` (a learner's work in
/// progress), not its solution.
pub fn is_skeleton(text: &str, exercise: &str) -> bool {
    let marker = format!("todo!(\"exercise {exercise}:");
    text.contains(&marker)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SOURCE: &str = "fn enter() -> Result<()> {
    // EXERCISE 01: change the root
    // HINT: chroot(2), then chdir(2).
    // CHECK: --lib chroot::tests::enter | chroot, then chdir
    // CHECK: --test chroot the_rootfs | the container sees the rootfs
    // Why this matters (a comment of the solution, kept).
    chroot()?;
    chdir()?;
    Ok(())
    // END EXERCISE
}
";

    #[test]
    fn a_region_is_read_with_its_hints_and_checks() {
        let found = regions(SOURCE).unwrap();
        assert_eq!(found.len(), 1);
        let r = &found[0];
        assert_eq!(
            (r.exercise.as_str(), r.title.as_str()),
            ("01", "change the root")
        );
        assert_eq!(r.hints, ["chroot(2), then chdir(2)."]);
        assert_eq!(r.checks[1].args, ["--test", "chroot", "the_rootfs"]);
        assert_eq!(r.checks[1].shows, "the container sees the rootfs");
        assert_eq!(r.lines, (1, 9));
    }

    #[test]
    fn the_skeleton_keeps_the_markers_and_drops_the_code() {
        let skeleton = skeleton(SOURCE, "01").unwrap();
        assert!(is_skeleton(&skeleton, "01"));
        assert!(!is_skeleton(SOURCE, "01"));
        assert!(!skeleton.contains("chroot()?"));
        assert!(
            skeleton
                .contains("    todo!(\"exercise 01: change the root\")\n    // END EXERCISE\n}\n")
        );
        // Another exercise's regions are left alone.
        assert_eq!(super::skeleton(SOURCE, "02").unwrap(), SOURCE);
    }

    #[test]
    fn broken_markers_are_named_by_line() {
        let unclosed = "// EXERCISE 01: x\n// CHECK: --lib a | b\n";
        assert_eq!(regions(unclosed).unwrap_err().line, 1);
        let unchecked = "// EXERCISE 01: x\ncode\n// END EXERCISE\n";
        assert_eq!(regions(unchecked).unwrap_err().line, 3);
        let stray = "// END EXERCISE\n";
        assert_eq!(regions(stray).unwrap_err().line, 1);
    }
}
