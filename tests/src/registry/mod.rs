//! A registry to pull from, for step 09's tests: a real one, images to
//! put in it, and what stands between it and the client under test.
//!
//! ```text
//!   images.rs, layout.rs,         push.rs            server.rs
//!   config.rs
//!   an OCI layout on disk  --(skopeo copy)-->  docker-registry, 127.0.0.1
//!                                                      ^
//!                      proxy.rs (challenge, tamper, count)  <--  the client
//!                      token.rs (the realm a challenge names)      under test
//! ```
//!
//! - [`Registry`]: Distribution (`docker-registry`), with or without an
//!   htpasswd login; storage in a temporary directory.
//! - [`Layout`] and the ready-made images ([`single_layer`],
//!   [`multi_layer`], [`multi_arch`]): OCI image layouts built in Rust
//!   from the test rootfs, byte for byte the same at every build, with the
//!   [`ImageConfig`] a test asks for.
//! - [`push()`] and [`push_zstd`]: skopeo copies a layout into a registry.
//! - [`Proxy`]: forwards to the registry, and on request asks for a bearer
//!   token as Docker Hub does, or corrupts blobs; it logs every request.
//! - [`TokenServer`]: the realm that gives the token.
//! - [`http`]: the few HTTP/1.1 requests a test makes itself (`wire.rs`:
//!   the message format it shares with the proxy and the token server).
//!
//! Everything listens on 127.0.0.1 only, on ports the kernel picks, and is
//! stopped when dropped; every wait is bounded.

pub mod config;
pub mod http;
pub mod images;
pub mod layout;
mod listen;
pub mod proxy;
pub mod push;
pub mod server;
pub mod token;
mod wire;

pub use config::{ImageConfig, Platform};
pub use images::{Entry, MultiArch, gzip, multi_arch, multi_layer, single_layer, tar_of};
pub use layout::{Descriptor, Image, Layer, Layout, media_type};
pub use proxy::{Mode, Proxy, Seen};
pub use push::{push, push_zstd};
pub use server::Registry;
pub use token::{TokenRequest, TokenServer};
