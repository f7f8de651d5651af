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

pub mod checks;
pub mod facts;
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
