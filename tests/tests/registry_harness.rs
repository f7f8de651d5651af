//! The registry harness step 09's tests stand on, checked on its own: a
//! real registry, images pushed into it by skopeo, and the proxy and token
//! server in front of it, all on 127.0.0.1.

use std::fs;
use std::io::Read;

use workshop_tests::registry::http::{self, ACCEPT_MANIFESTS, basic_auth, get, get_manifest};
use workshop_tests::registry::layout::sha256_digest;
use workshop_tests::registry::{
    ImageConfig, Layout, Mode, Proxy, Registry, TokenServer, media_type, multi_arch, multi_layer,
    push, push_zstd, single_layer,
};
use workshop_tests::{is_root, temp_dir};

fn needs_root() {
    assert!(
        is_root(),
        "the registry harness builds images from the test rootfs and needs root: \
         run it with `cargo test`, whose runner uses sudo"
    );
}

/// A layout with the three ready-made images, tagged `single`, `multi` and
/// `multiarch`.
fn three_images() -> (tempfile::TempDir, Layout) {
    let dir = temp_dir("image");
    let mut layout = Layout::new(dir.path());
    let config = ImageConfig::default();
    single_layer(&mut layout, "single", &config);
    multi_layer(&mut layout, "multi", &config);
    multi_arch(&mut layout, "multiarch", &config);
    (dir, layout)
}

#[test]
fn pushed_images_are_served_as_built() {
    needs_root();
    let registry = Registry::start();
    let dir = temp_dir("image");
    let mut layout = Layout::new(dir.path());
    let config = ImageConfig {
        entrypoint: Some(vec!["/usr/local/bin/probe".into()]),
        cmd: Some(vec!["env".into()]),
        user: Some("65534:65534".into()),
        ..ImageConfig::default()
    };
    let single = single_layer(&mut layout, "single", &config);
    let multi = multi_layer(&mut layout, "multi", &config);
    let arch = multi_arch(&mut layout, "multiarch", &config);
    for tag in ["single", "multi", "multiarch"] {
        push(
            layout.dir(),
            tag,
            registry.addr(),
            &format!("workshop/{tag}"),
            &[],
        );
    }
    let addr = registry.addr();

    let tags = get(addr, "/v2/workshop/multi/tags/list", &[]).json();
    assert_eq!(tags["tags"], serde_json::json!(["multi"]));

    // skopeo pushes the manifests byte for byte: same digests.
    let response = get_manifest(addr, "workshop/single", "single", None);
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(
        response.header("Docker-Content-Digest"),
        Some(single.manifest.digest.as_str())
    );
    assert_eq!(response.header("Content-Type"), Some(media_type::MANIFEST));
    assert_eq!(sha256_digest(&response.body), single.manifest.digest);

    let response = get_manifest(addr, "workshop/multi", "multi", None);
    assert_eq!(response.json()["layers"].as_array().map(Vec::len), Some(3));
    let config_blob = get(
        addr,
        &format!("/v2/workshop/multi/blobs/{}", multi.config.digest),
        &[],
    );
    let config_json = config_blob.json();
    assert_eq!(
        config_json["config"]["Entrypoint"][0],
        "/usr/local/bin/probe"
    );
    assert_eq!(config_json["config"]["User"], "65534:65534");
    assert_eq!(
        config_json["rootfs"]["diff_ids"].as_array().map(Vec::len),
        Some(3)
    );

    // The index, and each platform's manifest by digest.
    let response = get_manifest(addr, "workshop/multiarch", "multiarch", None);
    assert_eq!(response.header("Content-Type"), Some(media_type::INDEX));
    assert_eq!(sha256_digest(&response.body), arch.index.digest);
    let platforms: Vec<_> = response.json()["manifests"]
        .as_array()
        .expect("an index lists manifests")
        .iter()
        .map(|m| m["platform"].clone())
        .collect();
    assert_eq!(
        platforms,
        [
            serde_json::json!({"architecture": "amd64", "os": "linux"}),
            serde_json::json!({"architecture": "arm64", "os": "linux", "variant": "v8"}),
        ]
    );
    let arm = get_manifest(
        addr,
        "workshop/multiarch",
        &arch.arm64.manifest.digest,
        None,
    );
    assert_eq!(arm.status, 200);
    // Distribution never converts: an index asked for without index types
    // in Accept is "unknown" (what a client that forgets them sees).
    let narrow = get(
        addr,
        "/v2/workshop/multiarch/manifests/multiarch",
        &[("Accept", media_type::MANIFEST)],
    );
    assert_eq!(narrow.status, 404, "{}", narrow.text());

    // A blob: the layer's bytes, with its length, no redirect. The arm64
    // marker layer unpacks to /arch saying arm64.
    let marker = &arch.arm64.layers[1].descriptor;
    let path = format!("/v2/workshop/multiarch/blobs/{}", marker.digest);
    let blob = get(addr, &path, &[]);
    assert_eq!(blob.status, 200);
    assert_eq!(
        blob.header("Content-Length"),
        Some(marker.size.to_string().as_str())
    );
    assert_eq!(
        blob.body,
        fs::read(layout.blob_path(&marker.digest)).unwrap()
    );
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(&blob.body[..]));
    let mut entry = archive.entries().unwrap().next().unwrap().unwrap();
    assert_eq!(entry.path().unwrap().to_str(), Some("arch"));
    let mut text = String::new();
    entry.read_to_string(&mut text).unwrap();
    assert_eq!(text, "arm64\n");
    let head = http::request(addr, "HEAD", &path, &[], b"");
    assert_eq!((head.status, head.body.len()), (200, 0));

    // The base layer is stored once, whichever images share it.
    assert_eq!(single.layers[0], multi.layers[0]);
    assert!(
        registry
            .blob_path(&single.layers[0].descriptor.digest)
            .is_file()
    );
}

#[test]
fn layouts_are_the_same_at_every_build() {
    needs_root();
    let (_a, first) = three_images();
    let (_b, second) = three_images();
    let index = |layout: &Layout| fs::read(layout.dir().join("index.json")).unwrap();
    assert_eq!(index(&first), index(&second));
}

/// The names in a gzipped layer of `layout`, in order.
fn names_in(layout: &Layout, digest: &str) -> Vec<String> {
    let blob = fs::read(layout.blob_path(digest)).unwrap();
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(&blob[..]));
    let entries = archive.entries().unwrap();
    entries
        .map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned())
        .collect()
}

#[test]
fn the_layers_hold_the_rootfs_then_whiteouts() {
    needs_root();
    let dir = temp_dir("image");
    let mut layout = Layout::new(dir.path());
    let image = multi_layer(&mut layout, "multi", &ImageConfig::default());
    let digests: Vec<&str> = image
        .layers
        .iter()
        .map(|l| l.descriptor.digest.as_str())
        .collect();
    let base = names_in(&layout, digests[0]);
    for name in ["bin/busybox", "usr/local/bin/probe", "etc/hostname", "dev"] {
        assert!(
            base.iter().any(|n| n == name),
            "no {name} in the base layer"
        );
    }
    // Mount points only: a runtime fills them.
    assert!(
        !base
            .iter()
            .any(|n| n.starts_with("dev/") || n.starts_with("tmp/"))
    );
    assert_eq!(
        names_in(&layout, digests[1]),
        [
            "etc",
            "etc/layer2",
            "etc/.wh.os-release",
            "data",
            "data/from-layer2"
        ]
    );
    assert_eq!(
        names_in(&layout, digests[2]),
        ["data", "data/.wh..wh..opq", "data/from-layer3"]
    );
}

#[test]
fn the_bearer_proxy_challenges_and_lets_its_token_through() {
    needs_root();
    let registry = Registry::start();
    let (_dir, layout) = three_images();
    push(
        layout.dir(),
        "single",
        registry.addr(),
        "workshop/single",
        &[],
    );
    let tokens = TokenServer::anonymous("secret-token");
    let proxy = Proxy::start(registry.addr(), Mode::bearer(&tokens));

    let version = get(proxy.addr(), "/v2/", &[]);
    assert_eq!(version.status, 401);
    let realm = tokens.realm();
    let expected = format!(r#"Bearer realm="{realm}",service="test-registry""#);
    assert_eq!(version.header("WWW-Authenticate"), Some(expected.as_str()));

    let denied = get_manifest(proxy.addr(), "workshop/single", "single", None);
    assert_eq!(denied.status, 401);
    let challenge = denied.header("WWW-Authenticate").unwrap();
    assert!(
        challenge.ends_with(r#",scope="repository:workshop/single:pull""#),
        "{challenge}"
    );

    // What a client does with the challenge: ask the realm.
    let query = "/token?service=test-registry&scope=repository%3Aworkshop%2Fsingle%3Apull";
    let token = get(tokens.addr(), query, &[]).json();
    assert_eq!(token["token"], "secret-token");
    assert_eq!(token["access_token"], "secret-token");
    let seen = tokens.requests();
    assert_eq!(seen[0].service.as_deref(), Some("test-registry"));
    assert_eq!(seen[0].scopes, ["repository:workshop/single:pull"]);

    let bearer = "Bearer secret-token";
    let allowed = get_manifest(proxy.addr(), "workshop/single", "single", Some(bearer));
    assert_eq!(allowed.status, 200, "{}", allowed.text());
    let wrong = get_manifest(
        proxy.addr(),
        "workshop/single",
        "single",
        Some("Bearer nope"),
    );
    assert_eq!(wrong.status, 401);
    let statuses: Vec<u16> = proxy.requests().iter().map(|s| s.status).collect();
    assert_eq!(statuses, [401, 401, 200, 401]);
}

#[test]
fn skopeo_logs_in_at_the_token_server_and_pushes_through_the_proxy() {
    needs_root();
    let registry = Registry::start();
    let (_dir, layout) = three_images();
    let tokens = TokenServer::with_login("pushed-token", "alice", "wonderland");
    let proxy = Proxy::start(registry.addr(), Mode::bearer(&tokens));
    // Uploads go through the proxy: chunked PATCH bodies, and Location
    // headers that must point back at the proxy.
    let creds = ["--dest-creds", "alice:wonderland"];
    push(layout.dir(), "multi", proxy.addr(), "via/proxy", &creds);
    let seen = tokens.requests();
    let basic = basic_auth("alice", "wonderland");
    assert!(
        seen.iter()
            .all(|r| r.authorization.as_deref() == Some(basic.as_str())),
        "{seen:?}"
    );
    assert!(
        seen.iter().any(|r| r
            .scopes
            .iter()
            .any(|s| s == "repository:via/proxy:pull,push")),
        "{seen:?}"
    );
    assert!(proxy.count("PUT", "/v2/via/proxy/manifests/multi") >= 1);
    let direct = get_manifest(registry.addr(), "via/proxy", "multi", None);
    assert_eq!(direct.status, 200);

    let wrong = get(
        tokens.addr(),
        "/token?service=x",
        &[("Authorization", &basic_auth("alice", "x"))],
    );
    assert_eq!(wrong.status, 401);
}

#[test]
fn the_tamper_proxy_flips_one_byte_of_each_blob() {
    needs_root();
    let registry = Registry::start();
    let (_dir, layout) = three_images();
    push(
        layout.dir(),
        "multi",
        registry.addr(),
        "workshop/multi",
        &[],
    );
    let proxy = Proxy::start(registry.addr(), Mode::TamperBlob);
    let manifest = get_manifest(proxy.addr(), "workshop/multi", "multi", None);
    assert_eq!(manifest.status, 200, "manifests pass untouched");
    let layer = manifest.json()["layers"][1]["digest"]
        .as_str()
        .unwrap()
        .to_string();
    let path = format!("/v2/workshop/multi/blobs/{layer}");
    let honest = get(registry.addr(), &path, &[]).body;
    let tampered = get(proxy.addr(), &path, &[]);
    assert_eq!(
        tampered.header("Content-Length"),
        Some(honest.len().to_string().as_str())
    );
    let differ = honest
        .iter()
        .zip(&tampered.body)
        .filter(|(a, b)| a != b)
        .count();
    assert_eq!((tampered.body.len(), differ), (honest.len(), 1));
    assert_ne!(sha256_digest(&tampered.body), layer);
    assert_eq!(proxy.blob_gets(), 1);
    assert_eq!(proxy.count("GET", "/manifests/multi"), 1);
}

#[test]
fn an_htpasswd_registry_wants_its_login() {
    needs_root();
    let registry = Registry::with_htpasswd("bob", "builder");
    let (_dir, layout) = three_images();
    push(
        layout.dir(),
        "single",
        registry.addr(),
        "private/single",
        &["--dest-creds", "bob:builder"],
    );
    let anonymous = get_manifest(registry.addr(), "private/single", "single", None);
    assert_eq!(anonymous.status, 401);
    let challenge = anonymous.header("WWW-Authenticate").unwrap();
    assert!(challenge.starts_with("Basic realm="), "{challenge}");
    let basic = basic_auth("bob", "builder");
    let logged_in = get_manifest(registry.addr(), "private/single", "single", Some(&basic));
    assert_eq!(logged_in.status, 200, "{}", logged_in.text());
}

#[test]
fn push_zstd_recompresses_every_layer() {
    needs_root();
    // A registry of its own: one that holds the gzip layers already gets
    // them mounted as they are (see push_zstd).
    let registry = Registry::start();
    let (_dir, layout) = three_images();
    push_zstd(
        layout.dir(),
        "multiarch",
        registry.addr(),
        "zstd/multiarch",
        &[],
    );
    let index = get_manifest(registry.addr(), "zstd/multiarch", "multiarch", None).json();
    let amd64 = index["manifests"][0]["digest"].as_str().unwrap();
    let manifest = get(
        registry.addr(),
        &format!("/v2/zstd/multiarch/manifests/{amd64}"),
        &[("Accept", ACCEPT_MANIFESTS)],
    )
    .json();
    let layer = &manifest["layers"][0];
    assert_eq!(layer["mediaType"], media_type::LAYER_ZSTD);
    let blob = get(
        registry.addr(),
        &format!(
            "/v2/zstd/multiarch/blobs/{}",
            layer["digest"].as_str().unwrap()
        ),
        &[],
    );
    // The zstd frame's magic number (RFC 8878 §3.1.1).
    assert_eq!(blob.body[..4], [0x28, 0xb5, 0x2f, 0xfd]);
}
