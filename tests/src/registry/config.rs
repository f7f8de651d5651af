//! An image's config (image-spec `config.md`): what a runtime needs to
//! run it (environment, command, working directory, user) and which
//! platform its binaries are for. A pull turns these into the container's
//! spec; a test sets them to see that it does.

use serde_json::{Value, json};

use super::layout::Layer;

/// The platform an image is for (image-spec `image-index.md`), in Go's
/// names: `amd64`, `arm64` (with variant `v8`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Platform {
    /// `amd64`, `arm64`, ...
    pub architecture: String,
    /// `linux`.
    pub os: String,
    /// `v8` for arm64, `v7` for 32-bit arm; usually none.
    pub variant: Option<String>,
}

impl Platform {
    /// `linux/ARCH[/VARIANT]`.
    pub fn linux(architecture: &str, variant: Option<&str>) -> Self {
        Platform {
            architecture: architecture.into(),
            os: "linux".into(),
            variant: variant.map(String::from),
        }
    }

    /// This machine's platform, as a registry client would pick it (Rust
    /// says `x86_64` and `aarch64`, OCI says what Go's GOARCH says).
    pub fn host() -> Self {
        match std::env::consts::ARCH {
            "x86_64" => Self::linux("amd64", None),
            "aarch64" => Self::linux("arm64", Some("v8")),
            other => Self::linux(other, None),
        }
    }

    /// The platform as JSON, as an index's descriptor embeds it.
    pub fn to_json(&self) -> Value {
        let mut platform = json!({"architecture": self.architecture, "os": self.os});
        if let Some(variant) = &self.variant {
            platform["variant"] = json!(variant);
        }
        platform
    }
}

/// What the image config says about running a container (image-spec
/// `config.md`, the `config` object), and which platform it is for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageConfig {
    /// The platform (`architecture`, `os`, `variant` of the config).
    pub platform: Platform,
    /// `Env`: `KEY=VALUE` strings.
    pub env: Vec<String>,
    /// `Entrypoint`.
    pub entrypoint: Option<Vec<String>>,
    /// `Cmd`: the arguments to the entrypoint, or the command.
    pub cmd: Option<Vec<String>>,
    /// `WorkingDir`.
    pub working_dir: Option<String>,
    /// `User`: `name`, `uid`, `uid:gid`, ...
    pub user: Option<String>,
}

impl Default for ImageConfig {
    /// This machine's platform; a shell; PATH and one variable of the
    /// image's own (`FOO=from-image`), to tell image settings from others.
    fn default() -> Self {
        ImageConfig {
            platform: Platform::host(),
            env: vec![
                "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into(),
                "FOO=from-image".into(),
            ],
            entrypoint: None,
            cmd: Some(vec!["/bin/sh".into()]),
            working_dir: Some("/".into()),
            user: None,
        }
    }
}

/// When every image here was "created": a fixed time, so that building the
/// same image twice gives the same digests.
pub const CREATED: &str = "2024-01-01T00:00:00Z";

impl ImageConfig {
    /// The config blob's JSON for `layers`, with a history entry each.
    pub fn to_json(&self, layers: &[Layer]) -> Value {
        let mut config = json!({"Env": self.env});
        let optional = [
            ("Entrypoint", self.entrypoint.as_ref().map(|v| json!(v))),
            ("Cmd", self.cmd.as_ref().map(|v| json!(v))),
            ("WorkingDir", self.working_dir.as_ref().map(|v| json!(v))),
            ("User", self.user.as_ref().map(|v| json!(v))),
        ];
        for (key, value) in optional {
            if let Some(value) = value {
                config[key] = value;
            }
        }
        let mut json = json!({
            "created": CREATED,
            "architecture": self.platform.architecture,
            "os": self.platform.os,
            "config": config,
            "rootfs": {
                "type": "layers",
                "diff_ids": layers.iter().map(|l| l.diff_id.as_str()).collect::<Vec<_>>(),
            },
            "history": layers.iter().enumerate().map(|(n, _)| json!({
                "created": CREATED,
                "created_by": format!("workshop-tests: layer {}", n + 1),
            })).collect::<Vec<_>>(),
        });
        if let Some(variant) = &self.platform.variant {
            json["variant"] = json!(variant);
        }
        json
    }
}
