//! Workshop tooling, run as `cargo xtask ...` (the alias is in
//! `.cargo/config.toml`; the "xtask" pattern keeps project scripts in Rust).
//!
//! `cargo xtask doctor` is what a learner runs first: it checks what every
//! step needs from the host (kernel, user namespaces, id ranges, cgroups,
//! overlayfs, iptables, the tools in `scripts/host-requirements`, the
//! rootfs) and names the fix for each line that fails.
//!
//! | concern | file |
//! |---|---|
//! | the list of host tools | `requirements.rs` |
//! | reading the host | `facts.rs` |
//! | judging it | `checks.rs` |
//! | the table and JSON | `render.rs` |
//!
//! `cargo xtask exercise` turns the heart of a step into a `todo!()` for
//! the learner to write, and grades it with the step's tests:
//!
//! | concern | file |
//! |---|---|
//! | exercise regions in the sources, and their skeletons | `regions.rs` |
//! | the commands: list, start, check, reset, solution, verify | `exercise.rs` |
//!
//! `cargo xtask links` checks that every link in the built book leads to
//! a page and an anchor that exist (`links.rs`).

pub mod checks;
pub mod exercise;
pub mod facts;
pub mod links;
pub mod regions;
pub mod render;
pub mod requirements;

use std::path::{Path, PathBuf};

/// The workshop's top directory (where `scripts/` is).
pub fn workshop_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask/ lies in the workshop")
        .to_path_buf()
}
