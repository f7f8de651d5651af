//! Which image of a multi-platform index runs here.
//!
//! One tag (`alpine:latest`) names an *index*: a list of manifests, one per
//! `os/architecture[/variant]` (image-spec's image-index.md). A client
//! picks the one for its machine, as `docker pull` does; `--platform`
//! picks another (it will not run here without an emulator, but it can be
//! pulled and inspected).

use std::fmt;

/// A platform, in OCI's words (Go's GOOS and GOARCH names).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Platform {
    /// `linux`.
    pub os: String,
    /// `amd64`, `arm64`, `arm`, `riscv64`, …
    pub architecture: String,
    /// For ARM: `v8`, `v7`, `v6`; empty when not said.
    pub variant: String,
}

impl Platform {
    /// This machine's platform. Rust names architectures as LLVM does
    /// (`x86_64`, `aarch64`); images use Go's names (`amd64`, `arm64`).
    pub fn host() -> Self {
        let (architecture, variant) = match std::env::consts::ARCH {
            "x86_64" => ("amd64", ""),
            "aarch64" => ("arm64", "v8"),
            "x86" => ("386", ""),
            "arm" => ("arm", "v7"),
            "powerpc64" => ("ppc64le", ""),
            other => (other, ""),
        };
        Platform {
            os: std::env::consts::OS.into(),
            architecture: architecture.into(),
            variant: variant.into(),
        }
    }

    /// Parses `os/architecture[/variant]`, as `--platform` takes it.
    pub fn parse(text: &str) -> Result<Self, String> {
        let parts: Vec<&str> = text.split('/').collect();
        let ok = |s: &&str| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric());
        match parts.as_slice() {
            [os, arch] if ok(os) && ok(arch) => Ok(Platform {
                os: os.to_string(),
                architecture: arch.to_string(),
                variant: String::new(),
            }),
            [os, arch, variant] if ok(os) && ok(arch) && ok(variant) => Ok(Platform {
                os: os.to_string(),
                architecture: arch.to_string(),
                variant: variant.to_string(),
            }),
            _ => Err(format!(
                "{text:?} is not os/architecture[/variant] (e.g. linux/amd64, linux/arm64/v8)"
            )),
        }
    }

    /// Whether an index entry for `other` is an image for this platform.
    /// A variant we did not ask for does not matter; one we asked for
    /// must be there, except arm64's only variant, v8, often left out.
    pub fn accepts(&self, other: &Platform) -> bool {
        let variant_ok = self.variant.is_empty()
            || self.variant == other.variant
            || (self.architecture == "arm64" && self.variant == "v8" && other.variant.is_empty());
        self.os == other.os && self.architecture == other.architecture && variant_ok
    }
}

/// `linux/arm64/v8`, `linux/amd64`.
impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if !self.variant.is_empty() {
            write!(f, "/{}", self.variant)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platforms_parse_and_print_back() {
        for text in ["linux/amd64", "linux/arm64/v8", "linux/arm/v6"] {
            assert_eq!(Platform::parse(text).unwrap().to_string(), text);
        }
        for bad in [
            "linux",
            "linux/",
            "/amd64",
            "linux/amd64/v1/x",
            "linux/am d64",
        ] {
            assert!(Platform::parse(bad).is_err(), "{bad:?} was taken");
        }
    }

    #[test]
    fn a_variant_matters_only_when_asked_for() {
        let arm64 = Platform::parse("linux/arm64/v8").unwrap();
        assert!(arm64.accepts(&Platform::parse("linux/arm64").unwrap()));
        assert!(!arm64.accepts(&Platform::parse("linux/amd64").unwrap()));
        let arm = Platform::parse("linux/arm").unwrap();
        assert!(arm.accepts(&Platform::parse("linux/arm/v7").unwrap()));
        let v6 = Platform::parse("linux/arm/v6").unwrap();
        assert!(!v6.accepts(&Platform::parse("linux/arm/v7").unwrap()));
    }
}
