//! What the tests of step 07 share: its binary, the store's subcommands,
//! runs on an image.
#![allow(dead_code)] // each test binary uses some of these

use std::path::{Path, PathBuf};
use std::process::Command;

use workshop_tests::tarballs::tar_of_dir;
use workshop_tests::{CommandExt, Run, collect, state_dir, step_command, test_rootfs};

pub const BIN: &str = env!("CARGO_BIN_EXE_07-overlay");

/// `07-overlay SUBCOMMAND ARGS... --state-dir STATE`.
pub fn store_in(state: &Path, args: &[&str]) -> Run {
    collect(
        Command::new(BIN)
            .args(args)
            .arg("--state-dir")
            .arg(state)
            .env("NO_COLOR", "1")
            .output_bounded(),
    )
}

/// `07-overlay SUBCOMMAND ARGS... --state-dir <the tests' state dir>`.
pub fn store(args: &[&str]) -> Run {
    store_in(state_dir(), args)
}

/// A run on image `image` (plus `args`), writable layer removed after.
pub fn on_image(image: &str, args: &[&str]) -> Run {
    collect(
        step_command(BIN, test_rootfs())
            .args(["-q", "--image", image])
            .args(args)
            .output_bounded(),
    )
}

/// The busybox test rootfs, imported once per test process as `name`.
pub fn busybox_image(name: &str) -> String {
    let tar = tar_of_dir(test_rootfs());
    let run = store(&["import", tar.path().to_str().unwrap(), "--name", name]);
    assert_eq!(run.code, Some(0), "{run:?}");
    name.to_string()
}

pub fn layers_dir() -> PathBuf {
    state_dir().join("layers")
}
