//! What step 09's tests share: a registry with an image pushed to it, a
//! state directory of the test's own, and the binary run on both.

#![allow(dead_code)] // each test file uses its part

use std::path::Path;
use std::process::{Command, Stdio};

use workshop_tests::registry::{ImageConfig, Layout, Registry, push};
use workshop_tests::{CommandExt, Run, collect, step_command_in, test_rootfs};

pub const BIN: &str = env!("CARGO_BIN_EXE_09-registry");

/// A registry with one image pushed to it as `REPO:v1`.
pub struct Pushed {
    /// The registry (stopped on drop).
    pub registry: Registry,
    /// `127.0.0.1:PORT/REPO:v1`.
    pub reference: String,
    /// This test's state directory.
    pub state: tempfile::TempDir,
}

/// Starts a registry and pushes the image `build` makes (in an OCI layout,
/// tagged `v1`) as `repo:v1`.
pub fn pushed(repo: &str, build: impl FnOnce(&mut Layout, &str)) -> Pushed {
    let registry = Registry::start();
    push_to(&registry, repo, build, &[]);
    Pushed {
        reference: format!("{}/{repo}:v1", registry.addr()),
        registry,
        state: workshop_tests::temp_dir("state"),
    }
}

/// Pushes the image `build` makes to `registry` as `repo:v1`.
pub fn push_to(
    registry: &Registry,
    repo: &str,
    build: impl FnOnce(&mut Layout, &str),
    extra: &[&str],
) {
    let dir = workshop_tests::temp_dir("layout");
    let mut layout = Layout::new(dir.path());
    build(&mut layout, "v1");
    push(dir.path(), "v1", registry.addr(), repo, extra);
}

/// A subcommand (`pull`, `images`, ...) in `state`, no stdin.
pub fn sub(state: &Path, args: &[&str]) -> Run {
    collect(
        sub_command(state, args)
            .stdin(Stdio::null())
            .output_bounded(),
    )
}

/// The command for a subcommand in `state`: only `--state-dir` may go
/// with a subcommand.
pub fn sub_command(state: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.arg("--state-dir")
        .arg(state)
        .args(args)
        .env("NO_COLOR", "1");
    cmd
}

/// A container, as the tests run every step's (see workshop_tests).
pub fn container(state: &Path, args: &[&str]) -> Run {
    collect(
        step_command_in(BIN, test_rootfs(), state)
            .args(args)
            .output_bounded(),
    )
}

/// The default image config with `change` made to it.
pub fn config(change: impl FnOnce(&mut ImageConfig)) -> ImageConfig {
    let mut config = ImageConfig::default();
    change(&mut config);
    config
}

/// What is in `dir` whose name starts with a dot: what a run writes
/// aside and renames into place, or removes.
pub fn dot_entries(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.') && !n.ends_with(".lock"))
        .collect()
}

/// The names in `dir`, sorted (none if it is not there).
pub fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}
