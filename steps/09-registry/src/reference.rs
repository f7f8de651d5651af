//! An image reference, as `docker pull` reads one:
//!
//! ```text
//! alpine                          docker.io/library/alpine:latest
//! python:3-alpine                 docker.io/library/python:3-alpine
//! 127.0.0.1:5000/tools/sh@sha256:…  a digest: these exact bytes, forever
//! ```
//!
//! The grammar is the distribution project's (`reference/regexp.go`,
//! written there as one long regular expression):
//!
//! ```text
//! reference  := name [ ":" tag ] [ "@" digest ]
//! name       := [ domain "/" ] path
//! domain     := host [ ":" port ]        host: DNS labels joined by ".", or [IPv6]
//! path       := component { "/" component }
//! component  := [a-z0-9]+ { separator [a-z0-9]+ }   separator: "." "_" "__" "-"…
//! tag        := [A-Za-z0-9_] [A-Za-z0-9_.-]{0,127}
//! digest     := algorithm ":" hex{32,}
//! ```
//!
//! with Docker Hub's defaults (no domain: `docker.io`; no slash:
//! `library/`; no tag: `latest`). The first part of a name is a domain
//! only if it looks like one: it has a `.` or a `:`, is `localhost`, or
//! has capitals (which a path never does).
//!
//! We read it by hand rather than with a regular expression. oci-spec's
//! `Reference` uses one, and building it (Unicode classes and all) took
//! 20 ms of every `run`, which is longer than the rest of a container's
//! start (chapter 10 measured it).
//!
//! What this file adds beyond the grammar is where to send the requests:
//! Docker Hub's API lives at another host than its name, and a registry
//! on this machine speaks plain HTTP.

use std::fmt;

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
    registry: String,
    repository: String,
    tag: Option<String>,
    digest: Option<String>,
}

/// Docker Hub, as references name it.
const DOCKER_HUB: &str = "docker.io";

/// The longest name the distribution project takes.
const NAME_MAX: usize = 255;

impl ImageRef {
    /// Parses `text` with Docker's defaults.
    pub fn parse(text: &str) -> Result<Self, ReferenceError> {
        let invalid = |reason: &str| ReferenceError::Invalid {
            text: text.into(),
            reason: reason.into(),
        };
        // The digest is all after the one `@`; the tag is after the last
        // `:` unless a `/` follows it (then that `:` was a port's).
        let (rest, digest) = match text.split_once('@') {
            Some((rest, digest)) => (rest, Some(digest)),
            None => (text, None),
        };
        let (name, tag) = match rest.rfind(':') {
            Some(at) if !rest[at..].contains('/') => (&rest[..at], Some(&rest[at + 1..])),
            _ => (rest, None),
        };
        if name.is_empty() {
            return Err(invalid("the name is empty"));
        }
        if name.len() > NAME_MAX {
            return Err(invalid("the name is longer than 255 characters"));
        }
        if let Some(tag) = tag
            && !is_tag(tag)
        {
            return Err(invalid(
                "a tag is 1 to 128 of A-Z a-z 0-9 _ . -, not starting with . or -",
            ));
        }
        if let Some(digest) = digest {
            let Some((algorithm, hex)) = digest.split_once(':') else {
                return Err(invalid("a digest is ALGORITHM:HEX"));
            };
            if !is_algorithm(algorithm) || hex.len() < 32 || !is_hex(hex) {
                return Err(invalid("a digest is ALGORITHM:HEX, at least 32 hex digits"));
            }
            // sha384 and sha512 are in the grammar; our store names layers
            // by sha256 (step 07), the only algorithm registries use in
            // practice.
            if algorithm != "sha256" {
                return Err(ReferenceError::Algorithm(text.into()));
            }
            // The distribution project takes sha256 hex in lowercase only,
            // as registries and our store write it.
            if hex.len() != 64 || hex.bytes().any(|b| b.is_ascii_uppercase()) {
                return Err(invalid("a sha256 digest has 64 lowercase hex digits"));
            }
        }
        // A domain only if the first part looks like one (the
        // distribution project's splitDomain).
        let (registry, path) = match name.split_once('/') {
            Some((first, path))
                if first.contains(['.', ':'])
                    || first == "localhost"
                    || first.bytes().any(|b| b.is_ascii_uppercase()) =>
            {
                if !is_domain(first) {
                    return Err(invalid("the registry is not HOST[:PORT]"));
                }
                (first, path)
            }
            _ => (DOCKER_HUB, name),
        };
        if !path.split('/').all(is_component) {
            let reason = if path.bytes().any(|b| b.is_ascii_uppercase()) {
                "repository names are lowercase"
            } else {
                "a repository is lowercase words joined by / . _ __ or -"
            };
            return Err(invalid(reason));
        }
        let registry = match registry {
            "index.docker.io" => DOCKER_HUB,
            other => other,
        };
        let repository = if registry == DOCKER_HUB && !path.contains('/') {
            format!("library/{path}")
        } else {
            path.to_string()
        };
        Ok(ImageRef {
            registry: registry.into(),
            repository,
            // No tag and no digest: `latest`.
            tag: tag.or(digest.is_none().then_some("latest")).map(Into::into),
            digest: digest.map(Into::into),
        })
    }

    /// The registry's name, as written: `docker.io`, `127.0.0.1:5000`.
    pub fn registry(&self) -> &str {
        &self.registry
    }

    /// The repository in the registry: `library/alpine`.
    pub fn repository(&self) -> &str {
        &self.repository
    }

    /// The tag, if the reference has one (a reference by digest alone has none).
    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    /// The digest, if the reference pins one.
    pub fn digest(&self) -> Option<&str> {
        self.digest.as_deref()
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
        write!(f, "{}/{}", self.registry, self.repository)?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
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

/// `[a-z0-9]+` runs joined by one separator each: `.`, `_`, `__`, or
/// any number of `-`.
fn is_component(part: &str) -> bool {
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    let bytes = part.as_bytes();
    let (Some(&first), Some(&last)) = (bytes.first(), bytes.last()) else {
        return false;
    };
    if !alnum(first) || !alnum(last) {
        return false;
    }
    // Between two runs: the separator, whole.
    let mut separator = String::new();
    for &b in bytes {
        if alnum(b) {
            if !matches!(separator.as_str(), "" | "." | "_" | "__") && !is_dashes(&separator) {
                return false;
            }
            separator.clear();
        } else {
            separator.push(b as char);
        }
    }
    true
}

fn is_dashes(text: &str) -> bool {
    !text.is_empty() && text.bytes().all(|b| b == b'-')
}

/// `HOST[:PORT]`: DNS labels (letters, digits, inner `-`) joined by `.`,
/// or an IPv6 address in brackets.
fn is_domain(domain: &str) -> bool {
    let (host, port) = if let Some(inside) = domain.strip_prefix('[') {
        let Some((address, after)) = inside.split_once(']') else {
            return false;
        };
        if address.parse::<std::net::Ipv6Addr>().is_err() {
            return false;
        }
        match after.strip_prefix(':') {
            Some(port) => ("", Some(port)),
            None if after.is_empty() => ("", None),
            None => return false,
        }
    } else {
        match domain.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (domain, None),
        }
    };
    let label = |l: &str| {
        !l.is_empty()
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    (host.is_empty() && domain.starts_with('[') || host.split('.').all(label))
        && port.is_none_or(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
}

/// `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`.
fn is_tag(tag: &str) -> bool {
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    tag.len() <= 128
        && tag.bytes().next().is_some_and(word)
        && tag.bytes().all(|b| word(b) || b == b'.' || b == b'-')
}

/// `[A-Za-z][A-Za-z0-9]*` parts joined by one of `+ . - _`.
fn is_algorithm(algorithm: &str) -> bool {
    algorithm.split(['+', '.', '-', '_']).all(|part| {
        part.bytes().next().is_some_and(|b| b.is_ascii_alphabetic())
            && part.bytes().all(|b| b.is_ascii_alphanumeric())
    })
}

fn is_hex(text: &str) -> bool {
    text.bytes().all(|b| b.is_ascii_hexdigit())
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
        for bad in [
            "Alpine",
            "alpine:",
            "a b",
            "alpine@sha256:12",
            "",
            "a--b_.c",
            "-a",
            "a/",
            "a//b",
            "alpine:-x",
            "alpine:ü",
            "my.registry:/a",
            "bad-.host/a",
            "a@sha256",
            &format!("a@sha256:{}", "AB".repeat(32)),
        ] {
            assert!(ImageRef::parse(bad).is_err(), "{bad:?} was taken");
        }
        let err = ImageRef::parse(&format!("x@sha512:{}", "a".repeat(128))).unwrap_err();
        assert!(matches!(err, ReferenceError::Algorithm(_)));
        let err = ImageRef::parse("me/Alpine").unwrap_err();
        assert!(err.to_string().contains("lowercase"), "{err}");
    }

    #[test]
    fn the_grammar_takes_what_docker_takes() {
        let digest = format!("sha256:{}", "0f".repeat(32));
        for (text, whole) in [
            ("a_b__c-d---e.f", "docker.io/library/a_b__c-d---e.f:latest"),
            ("me/app:V1.0_rc-2", "docker.io/me/app:V1.0_rc-2"),
            ("index.docker.io/me/app", "docker.io/me/app:latest"),
            ("localhost/app", "localhost/app:latest"),
            ("Registry.Example/x/y/z", "Registry.Example/x/y/z:latest"),
            ("[::1]:5000/app:v1", "[::1]:5000/app:v1"),
        ] {
            let r = ImageRef::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(r.to_string(), whole);
        }
        let r = ImageRef::parse(&format!("app@{digest}")).unwrap();
        assert_eq!((r.tag(), r.digest()), (None, Some(digest.as_str())));
        assert_eq!(r.to_string(), format!("docker.io/library/app@{digest}"));
        assert!(ImageRef::parse(&format!("app:{}", "t".repeat(128))).is_ok());
        assert!(ImageRef::parse(&format!("app:{}", "t".repeat(129))).is_err());
    }
}
