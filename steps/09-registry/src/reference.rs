//! An image reference, as `docker pull` reads one:
//!
//! ```text
//! alpine                          docker.io/library/alpine:latest
//! python:3-alpine                 docker.io/library/python:3-alpine
//! 127.0.0.1:5000/tools/sh@sha256:…  a digest: these exact bytes, forever
//! ```
//!
//! The grammar is the distribution project's (`reference/regexp.go`);
//! oci-spec's [`Reference`] implements it, with Docker Hub's defaults (no
//! domain: `docker.io`; no slash: `library/`; no tag: `latest`). What this
//! file adds is where to send the requests: Docker Hub's API lives at
//! another host than its name, and a registry on this machine speaks
//! plain HTTP.

use std::fmt;

use oci_spec::distribution::Reference;

/// What is wrong with a reference.
#[derive(Debug, thiserror::Error)]
pub enum ReferenceError {
    /// Not in the grammar.
    #[error(
        "image reference {text:?}: {reason}\n  hint: e.g. alpine, alpine:3.20, \
         127.0.0.1:5000/my/app:v1 or NAME@sha256:<64 hex digits>; names are lowercase"
    )]
    Invalid { text: String, reason: String },
    /// A digest of another algorithm than sha256.
    #[error(
        "image reference {0:?}: only sha256 digests are checked here\n  hint: name the image by its tag, or by its sha256 digest"
    )]
    Algorithm(String),
}

/// A parsed image reference, with Docker's defaults filled in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageRef {
    inner: Reference,
}

impl ImageRef {
    /// Parses `text` with Docker's defaults.
    pub fn parse(text: &str) -> Result<Self, ReferenceError> {
        let inner: Reference =
            text.parse()
                .map_err(|err: oci_spec::distribution::ParseError| {
                    // The grammar only says "invalid"; the usual cause is worth naming.
                    let reason = match text.to_lowercase().parse::<Reference>() {
                        Ok(_) => "repository names are lowercase".to_string(),
                        Err(_) => err.to_string(),
                    };
                    ReferenceError::Invalid {
                        text: text.into(),
                        reason,
                    }
                })?;
        // sha384 and sha512 are in the grammar; our store names layers by
        // sha256 (step 07), the only algorithm registries use in practice.
        if inner.digest().is_some_and(|d| !d.starts_with("sha256:")) {
            return Err(ReferenceError::Algorithm(text.into()));
        }
        Ok(ImageRef { inner })
    }

    /// The registry's name, as written: `docker.io`, `127.0.0.1:5000`.
    pub fn registry(&self) -> &str {
        self.inner.registry()
    }

    /// The repository in the registry: `library/alpine`.
    pub fn repository(&self) -> &str {
        self.inner.repository()
    }

    /// The tag, if the reference has one (a reference by digest alone has none).
    pub fn tag(&self) -> Option<&str> {
        self.inner.tag()
    }

    /// The digest, if the reference pins one.
    pub fn digest(&self) -> Option<&str> {
        self.inner.digest()
    }

    /// What to ask the registry for: the digest if pinned (then the tag
    /// is only a label), else the tag.
    pub fn manifest_reference(&self) -> &str {
        self.digest().or(self.tag()).unwrap_or("latest")
    }

    // ANCHOR: api_base
    /// The URL the API is under: `https://HOST/v2/`.
    ///
    /// Docker Hub's name is `docker.io`, but its API answers at
    /// `registry-1.docker.io`. A registry on the loopback interface gets
    /// plain HTTP, as Docker allows for 127.0.0.0/8 and `localhost`
    /// without an `insecure-registries` entry: the bytes never leave this
    /// machine, and the digests check them anyway.
    pub fn api_base(&self) -> String {
        let host = match self.registry() {
            "docker.io" | "index.docker.io" => "registry-1.docker.io",
            other => other,
        };
        let scheme = if is_loopback(host) { "http" } else { "https" };
        format!("{scheme}://{host}/v2/")
    }
    // ANCHOR_END: api_base

    /// The name `images` shows: `alpine`, not `docker.io/library/alpine`,
    /// as Docker shortens names on its own registry.
    pub fn short_name(&self) -> String {
        match self.registry() {
            "docker.io" | "index.docker.io" => self
                .repository()
                .strip_prefix("library/")
                .unwrap_or(self.repository())
                .to_string(),
            registry => format!("{registry}/{}", self.repository()),
        }
    }
}

/// The whole reference, defaults written out:
/// `docker.io/library/alpine:latest`.
impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.inner.whole())
    }
}

/// Whether `host` (with or without a port) is this machine's loopback.
pub fn is_loopback(host: &str) -> bool {
    // `[::1]:5000`, `127.0.0.1:5000`, `localhost`: the port goes first.
    let name = match host.rsplit_once(':') {
        Some((name, port)) if port.chars().all(|c| c.is_ascii_digit()) => name,
        _ => host,
    };
    let name = name.trim_start_matches('[').trim_end_matches(']');
    name == "localhost"
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_hub_defaults_are_filled_in() {
        let r = ImageRef::parse("alpine").unwrap();
        assert_eq!(r.to_string(), "docker.io/library/alpine:latest");
        assert_eq!(r.api_base(), "https://registry-1.docker.io/v2/");
        assert_eq!(r.short_name(), "alpine");
        let r = ImageRef::parse("python:3-alpine").unwrap();
        assert_eq!(
            (r.repository(), r.tag()),
            ("library/python", Some("3-alpine"))
        );
    }

    #[test]
    fn a_registry_on_loopback_speaks_http() {
        let r = ImageRef::parse("127.0.0.1:5000/tools/sh:v1").unwrap();
        assert_eq!(r.api_base(), "http://127.0.0.1:5000/v2/");
        assert_eq!(r.short_name(), "127.0.0.1:5000/tools/sh");
        assert_eq!(r.manifest_reference(), "v1");
        let r = ImageRef::parse("localhost:5000/sh").unwrap();
        assert!(r.api_base().starts_with("http://localhost:5000"));
        let r = ImageRef::parse("example.com:5000/sh").unwrap();
        assert!(r.api_base().starts_with("https://"));
    }

    #[test]
    fn a_digest_is_what_is_asked_for() {
        let digest = format!("sha256:{}", "ab".repeat(32));
        let r = ImageRef::parse(&format!("127.0.0.1:5000/sh:v1@{digest}")).unwrap();
        assert_eq!(r.manifest_reference(), digest);
    }

    #[test]
    fn bad_references_are_refused_with_the_reason() {
        for bad in ["Alpine", "alpine:", "a b", "alpine@sha256:12", ""] {
            assert!(ImageRef::parse(bad).is_err(), "{bad:?} was taken");
        }
        let err = ImageRef::parse(&format!("x@sha512:{}", "a".repeat(128))).unwrap_err();
        assert!(matches!(err, ReferenceError::Algorithm(_)));
    }
}
