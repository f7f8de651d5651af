//! `features` (what this runtime does, runtime-spec features.md, for an
//! engine to ask before it writes a config.json) and `spec` (a config.json
//! this runtime runs, as `runc spec` writes one: a bundle to start from).

use std::path::Path;

use serde_json::json;

use super::error::OciError;
use step05_pivot_root::masks::{MASKED, READ_ONLY};
use step08_security::capset::DOCKER_DEFAULT;

/// The spec versions read here (bundle.rs reads 1.x).
const VERSION_MIN: &str = "1.0.0";
const VERSION_MAX: &str = "1.2.0";

/// Prints what bundle.rs honours, and nothing it refuses.
pub fn features() -> Result<(), OciError> {
    let all: Vec<String> = caps::all().iter().map(ToString::to_string).collect();
    let features = json!({
        "ociVersionMin": VERSION_MIN,
        "ociVersionMax": VERSION_MAX,
        "hooks": ["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"],
        "mountOptions": ["bind", "rbind", "ro", "rw", "private", "rprivate"],
        "linux": {
            "namespaces": ["pid", "mount", "ipc", "uts", "network", "cgroup"],
            "capabilities": all,
            "cgroup": { "v1": true, "v2": true, "systemd": false, "systemdUser": false },
            "seccomp": { "enabled": true },
            "apparmor": { "enabled": false },
            "selinux": { "enabled": false },
        },
    });
    let text = serde_json::to_string_pretty(&features).expect("features serialize");
    step01_chroot::cli::println_or_not(format_args!("{text}"));
    Ok(())
}

// ANCHOR: spec
/// Writes `<bundle>/config.json`: `command` in `rootfs`, as root, with Docker's
/// capabilities, no_new_privs, its own namespaces (network: only `lo`),
/// and the mounts and masked paths every step-05 container has. No
/// seccomp in it: the profile is the engine's to give (podman's is in
/// containers-common); without one the container has none.
pub fn spec(rootfs: &Path, bundle: &Path, command: &[String]) -> Result<(), OciError> {
    let caps: Vec<String> = DOCKER_DEFAULT.iter().map(ToString::to_string).collect();
    let mount = |dest: &str, typ: &str, options: &[&str]| json!({ "destination": dest, "type": typ, "source": typ, "options": options });
    let namespaces: Vec<_> = ["pid", "network", "ipc", "uts", "mount", "cgroup"]
        .iter()
        .map(|t| json!({ "type": t }))
        .collect();
    let config = json!({
        "ociVersion": "1.0.2",
        "process": {
            "terminal": false,
            "user": { "uid": 0, "gid": 0 },
            "args": command,
            "env": [
                format!("PATH={}", step01_chroot::spec::DEFAULT_PATH),
                "TERM=xterm",
            ],
            "cwd": "/",
            "capabilities": {
                "bounding": caps, "effective": caps, "permitted": caps,
            },
            "noNewPrivileges": true,
        },
        "root": { "path": rootfs, "readonly": false },
        "hostname": "oci",
        "mounts": [
            mount("/proc", "proc", &["nosuid", "noexec", "nodev"]),
            mount("/dev", "tmpfs", &["nosuid", "strictatime", "mode=755", "size=65536k"]),
            mount("/dev/pts", "devpts", &["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"]),
            mount("/dev/shm", "tmpfs", &["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]),
            mount("/sys", "sysfs", &["nosuid", "noexec", "nodev", "ro"]),
        ],
        "linux": {
            "namespaces": namespaces,
            "maskedPaths": MASKED,
            "readonlyPaths": READ_ONLY,
        },
    });
    let file = bundle.join("config.json");
    let text = serde_json::to_string_pretty(&config).expect("a config serializes");
    std::fs::write(&file, text + "\n").map_err(OciError::io("writing", &file))
}
// ANCHOR_END: spec
