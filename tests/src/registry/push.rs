//! Pushing a layout into a registry, with skopeo (skopeo-copy(1)).
//!
//! skopeo copies between "transports": `oci:DIR:TAG` is a layout on disk,
//! `docker://HOST/REPO:TAG` a registry (Docker's name, any OCI registry).
//! `--all` copies an index with every image in it, not just this
//! machine's. `--dest-tls-verify=false` lets skopeo talk plain HTTP: it
//! tries HTTPS first, and the test registry has no certificate.
//!
//! skopeo remembers which blobs it has seen in which registry, in a
//! "blob info cache" (as root: /var/lib/containers/cache), and mounts a
//! blob it knows instead of uploading it again (the distribution spec's
//! cross-repository mount). That is quick, and it matters for
//! [`push_zstd`].

use std::path::Path;
use std::process::Command;

use super::layout::media_type;
use crate::bounded::limit;
use crate::{CommandExt, die_with_the_test, require};

/// Pushes the image (or index) tagged `tag` in the layout `layout` to
/// `registry` (`127.0.0.1:PORT`) as `REPO:TAG`, all platforms. `extra` is
/// more of skopeo's options: `["--dest-creds", "user:pass"]`, say.
/// Fails the test with skopeo's errors when it fails.
pub fn push(layout: &Path, tag: &str, registry: &str, repo: &str, extra: &[&str]) {
    skopeo_copy(layout, tag, registry, repo, extra);
}

/// [`push()`], with every layer compressed with zstd on the way
/// (`application/vnd.oci.image.layer.v1.tar+zstd`): skopeo 1.9 decompresses
/// gzip layers and recompresses them.
///
/// Except a layer this registry already holds: skopeo then mounts the
/// gzip blob it knows from its cache, as it is (skopeo 1.9 does not check
/// compression when it reuses a blob). So push zstd images to a registry
/// that has not seen their layers in gzip: a fresh [`Registry`], or
/// before the gzip pushes. This reads the pushed manifests back and fails
/// the test, saying so, when a layer is not zstd.
///
/// [`Registry`]: super::Registry
pub fn push_zstd(layout: &Path, tag: &str, registry: &str, repo: &str, extra: &[&str]) {
    let mut args = vec!["--dest-compress", "--dest-compress-format", "zstd"];
    args.extend_from_slice(extra);
    skopeo_copy(layout, tag, registry, repo, &args);
    // Read back by skopeo itself, which knows every way to log in.
    let creds = dest_creds(extra);
    let top = inspect_raw(&format!("{registry}/{repo}:{tag}"), creds);
    let manifests = match top["manifests"].as_array() {
        Some(entries) => entries
            .iter()
            .map(|entry| {
                let digest = entry["digest"].as_str().expect("a digest in the index");
                inspect_raw(&format!("{registry}/{repo}@{digest}"), creds)
            })
            .collect(),
        None => vec![top],
    };
    for manifest in manifests {
        for layer in manifest["layers"].as_array().into_iter().flatten() {
            assert_eq!(
                layer["mediaType"],
                media_type::LAYER_ZSTD,
                "skopeo pushed a layer of {repo}:{tag} uncompressed or as gzip: did \
                 {registry} hold it already? (see push_zstd)\n{manifest:#}"
            );
        }
    }
}

fn skopeo_copy(layout: &Path, tag: &str, registry: &str, repo: &str, extra: &[&str]) {
    require("skopeo");
    let source = format!("oci:{}:{tag}", layout.display());
    let dest = format!("docker://{registry}/{repo}:{tag}");
    let mut cmd = Command::new("skopeo");
    cmd.args(["copy", "--all", "--dest-tls-verify=false", "--quiet"])
        .args(extra)
        .arg(&source)
        .arg(&dest);
    run(cmd, &format!("skopeo copy {source} {dest}"));
}

/// The manifest (or index) at `reference` (`HOST/REPO:TAG` or `@DIGEST`),
/// as the registry stores it: `skopeo inspect --raw`.
fn inspect_raw(reference: &str, creds: Option<&str>) -> serde_json::Value {
    let mut cmd = Command::new("skopeo");
    cmd.args(["inspect", "--raw", "--tls-verify=false"]);
    if let Some(creds) = creds {
        cmd.args(["--creds", creds]);
    }
    cmd.arg(format!("docker://{reference}"));
    let out = run(cmd, &format!("skopeo inspect --raw {reference}"));
    serde_json::from_slice(&out).unwrap_or_else(|e| panic!("{reference}: not JSON ({e})"))
}

/// Runs skopeo (bounded), failing the test with its errors; its stdout.
fn run(mut cmd: Command, what: &str) -> Vec<u8> {
    die_with_the_test(&mut cmd);
    let out = cmd.output_within(limit()).expect("run skopeo");
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// The `USER:PASS` of `--dest-creds USER:PASS` (or `--dest-creds=...`).
fn dest_creds<'a>(extra: &[&'a str]) -> Option<&'a str> {
    extra.iter().enumerate().find_map(|(i, arg)| match *arg {
        "--dest-creds" => extra.get(i + 1).copied(),
        _ => arg.strip_prefix("--dest-creds="),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn creds_are_found_in_both_spellings() {
        assert_eq!(dest_creds(&["--dest-creds", "u:p"]), Some("u:p"));
        assert_eq!(dest_creds(&["-q", "--dest-creds=u:p:q"]), Some("u:p:q"));
        assert_eq!(dest_creds(&["--quiet"]), None);
    }
}
