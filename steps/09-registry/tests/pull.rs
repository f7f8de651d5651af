//! Step 09's `pull`, against a real registry (Debian's docker-registry on
//! 127.0.0.1) and what a registry may do: ask for a login, ask for a
//! token as Docker Hub does, serve an index of platforms, serve bytes that
//! are not what their digest says, not be there at all.

mod common;

use std::time::Duration;

use common::{config, container, dot_entries, names, push_to, pushed, sub, sub_command};
use workshop_tests::registry::{
    Entry, Layout, Mode, Proxy, Registry, TokenServer, gzip, media_type, multi_arch, multi_layer,
    push, push_zstd, single_layer, tar_of,
};
use workshop_tests::{ChildExt, Run, collect};

/// Nothing of a failed pull is left: no layer, no image, no name, no
/// temporary file.
fn assert_nothing_stored(state: &std::path::Path, run: &Run) {
    for dir in ["layers", "images", "registry/configs"] {
        assert_eq!(
            names(&state.join(dir)),
            Vec::<String>::new(),
            "{dir} after {run:?}"
        );
    }
    let references =
        std::fs::read_to_string(state.join("registry/references.json")).unwrap_or_default();
    assert!(!references.contains("sha256"), "{references}");
}

#[test]
fn a_second_pull_fetches_no_layer_again() {
    let p = pushed("twice", |layout, tag| {
        multi_layer(layout, tag, &config(|_| {}));
    });
    let proxy = Proxy::start(p.registry.addr(), Mode::Forward);
    let reference = p.reference.replace(p.registry.addr(), proxy.addr());
    let state = p.state.path();
    let run = sub(state, &["pull", &reference]);
    assert_eq!(run.code, Some(0), "{run:?}");
    assert!(run.stdout.contains("(3 of 3 layers fetched)"), "{run:?}");
    // The config and three layers; each request is in the trace.
    assert_eq!(proxy.blob_gets(), 4, "{:?}", proxy.requests());
    assert_eq!(
        run.stderr.matches("/blobs/sha256:").count(),
        4,
        "{}",
        run.stderr
    );
    proxy.clear();
    let run = sub(state, &["pull", &reference]);
    assert!(run.stdout.contains("(0 of 3 layers fetched)"), "{run:?}");
    // The config again (it is small, and says whether the image changed).
    assert_eq!(proxy.blob_gets(), 1, "{:?}", proxy.requests());
}

#[test]
fn an_index_gives_this_platforms_image_or_the_one_asked_for() {
    let p = pushed("multi", |layout, tag| {
        multi_arch(layout, tag, &config(|_| {}));
    });
    let state = p.state.path();
    let run = container(state, &["-q", "--image", &p.reference, "/bin/cat", "/arch"]);
    assert_eq!(
        (run.code, run.stdout.as_str()),
        (Some(0), "amd64\n"),
        "{run:?}"
    );
    let run = sub(state, &["pull", "--platform", "linux/arm64", &p.reference]);
    assert_eq!(run.code, Some(0), "{run:?}");
    assert!(
        run.stderr.contains("this image is for linux/arm64/v8"),
        "{run:?}"
    );
    let inspect = sub(state, &["inspect", &p.reference]);
    let json: serde_json::Value = serde_json::from_str(&inspect.stdout).expect("JSON");
    assert_eq!(json["Config"]["architecture"], "arm64");
    let run = sub(state, &["pull", "--platform", "linux/s390x", &p.reference]);
    run.assert_error(
        125,
        "no linux/s390x in the index; available: linux/amd64, linux/arm64/v8",
    );
}

#[test]
fn zstd_layers_are_unpacked_too() {
    let registry = Registry::start();
    let dir = workshop_tests::temp_dir("layout");
    let mut layout = workshop_tests::registry::Layout::new(dir.path());
    single_layer(&mut layout, "v1", &config(|_| {}));
    push_zstd(dir.path(), "v1", registry.addr(), "zstd", &[]);
    let state = workshop_tests::temp_dir("state");
    let reference = format!("{}/zstd:v1", registry.addr());
    let run = container(
        state.path(),
        &["-q", "--image", &reference, "/bin/echo", "unzstd"],
    );
    assert_eq!(
        (run.code, run.stdout.as_str()),
        (Some(0), "unzstd\n"),
        "{run:?}"
    );
}

#[test]
fn basic_auth_takes_the_password_on_stdin_and_refuses_a_wrong_one() {
    let registry = Registry::with_htpasswd("learner", "s3cret");
    push_to(
        &registry,
        "private",
        |l, t| drop(single_layer(l, t, &config(|_| {}))),
        &["--dest-creds", "learner:s3cret"],
    );
    let reference = format!("{}/private:v1", registry.addr());
    let state = workshop_tests::temp_dir("state");
    let state = state.path();
    let run = sub(state, &["pull", &reference]);
    run.assert_error(
        125,
        "the registry refused anonymous access (401 Unauthorized)",
    );
    assert!(
        run.stderr.contains("--username NAME --password-stdin"),
        "{run:?}"
    );
    let run = with_password(state, &reference, "learner", "wrong");
    run.assert_error(125, "the registry refused these credentials");
    assert!(
        !run.stderr.contains("wrong"),
        "the password is never printed: {run:?}"
    );
    assert_nothing_stored(state, &run);
    let run = with_password(state, &reference, "learner", "s3cret");
    assert_eq!(run.code, Some(0), "{run:?}");
    assert!(!run.stderr.contains("s3cret"), "{run:?}");
}

#[test]
fn a_bearer_challenge_is_met_with_a_token_from_its_realm() {
    let p = pushed("hub", |layout, tag| {
        single_layer(layout, tag, &config(|_| {}));
    });
    let tokens = TokenServer::anonymous("t0ken");
    let proxy = Proxy::start(p.registry.addr(), Mode::bearer(&tokens));
    let reference = p.reference.replace(p.registry.addr(), proxy.addr());
    let run = sub(p.state.path(), &["pull", &reference]);
    assert_eq!(run.code, Some(0), "{run:?}");
    // The dance, in the trace: 401 with the challenge, the token, then 200.
    let trace: Vec<&str> = run.stderr.lines().filter(|l| l.contains("GET ")).collect();
    assert!(
        trace[0].contains("= 401") && trace[0].contains("Bearer realm="),
        "{trace:#?}"
    );
    assert!(
        trace[1].contains("/token?service=test-registry&scope=repository%3Ahub%3Apull"),
        "{trace:#?}"
    );
    assert!(trace[2].contains("/manifests/v1 = 200"), "{trace:#?}");
    let asked = tokens.requests();
    assert_eq!(asked.len(), 1, "one token for the whole pull: {asked:?}");
    assert_eq!(asked[0].service.as_deref(), Some("test-registry"));
    assert_eq!(asked[0].scopes, ["repository:hub:pull"]);
    // A realm that wants a login: anonymous is refused; the password from
    // stdin goes to the realm (Basic), never to the registry.
    let tokens = TokenServer::with_login("t1", "learner", "pw");
    let proxy = Proxy::start(p.registry.addr(), Mode::bearer(&tokens));
    let reference = p.reference.replace(p.registry.addr(), proxy.addr());
    let state = workshop_tests::temp_dir("state");
    let run = sub(state.path(), &["pull", &reference]);
    run.assert_error(125, "the registry refused anonymous access");
    let run = with_password(state.path(), &reference, "learner", "pw");
    assert_eq!(run.code, Some(0), "{run:?}");
    let basic = tokens
        .requests()
        .into_iter()
        .filter_map(|r| r.authorization)
        .collect::<Vec<_>>();
    assert_eq!(basic, ["Basic bGVhcm5lcjpwdw=="], "base64 of learner:pw");
}

/// A pull with `--username USER --password-stdin`, the password written
/// to its stdin.
fn with_password(state: &std::path::Path, reference: &str, user: &str, password: &str) -> Run {
    let mut cmd = sub_command(
        state,
        &["pull", "--username", user, "--password-stdin", reference],
    );
    let mut child = cmd
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start the pull");
    use std::io::Write;
    writeln!(child.stdin.take().expect("a pipe"), "{password}").expect("write the password");
    collect(child.wait_with_output_bounded())
}

#[test]
fn a_tampered_blob_is_refused_and_nothing_is_stored() {
    let p = pushed("tampered", |layout, tag| {
        single_layer(layout, tag, &config(|_| {}));
    });
    let proxy = Proxy::start(p.registry.addr(), Mode::TamperBlob);
    let reference = p.reference.replace(p.registry.addr(), proxy.addr());
    let state = p.state.path();
    let run = sub(state, &["pull", &reference]);
    run.assert_error(125, "the bytes received hash to sha256:");
    assert!(run.stderr.contains("refused, nothing stored"), "{run:?}");
    assert_nothing_stored(state, &run);
    assert_eq!(dot_entries(&state.join("layers")), Vec::<String>::new());
}

#[test]
fn a_tampered_layer_is_refused_though_its_config_is_right() {
    let mut layer_digest = String::new();
    let p = pushed("layer", |layout, tag| {
        let image = single_layer(layout, tag, &config(|_| {}));
        layer_digest = image.layers[0].descriptor.digest.clone();
    });
    // gzip stops reading at its trailer; the digest check waits for the
    // end of the stream: the pull must read to it.
    let proxy = Proxy::start(p.registry.addr(), Mode::TamperBlobOf(layer_digest.clone()));
    let reference = p.reference.replace(p.registry.addr(), proxy.addr());
    let state = p.state.path();
    let run = sub(state, &["pull", &reference]);
    run.assert_error(125, &format!("layer {layer_digest}"));
    assert_nothing_stored(state, &run);
    assert_eq!(dot_entries(&state.join("layers")), Vec::<String>::new());
}

#[test]
fn a_config_paired_with_other_layers_is_refused() {
    // Image one; then, in another repository, a manifest that names one's
    // config (so one's id) with another layer: had the pull believed it,
    // `run` of one would run the other's files.
    let registry = Registry::start();
    let dir = workshop_tests::temp_dir("layout");
    let mut layout = Layout::new(dir.path());
    let one = single_layer(&mut layout, "v1", &config(|_| {}));
    let evil = layout.add_layer(&gzip(&tar_of(&[Entry::file("evil", "pwned\n")])));
    let forged = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": media_type::MANIFEST,
        "config": one.config.to_json(),
        "layers": [evil.descriptor.to_json()],
    });
    let forged = layout.add_blob(&serde_json::to_vec(&forged).unwrap(), media_type::MANIFEST);
    layout.tag("forged", &forged);
    // The same layer, honestly, in an image of its own.
    let honest = layout.add_image(&config(|_| {}), &[evil]);
    layout.tag("honest", &honest.manifest);
    push(dir.path(), "v1", registry.addr(), "one", &[]);
    push(dir.path(), "forged", registry.addr(), "other", &[]);
    push(dir.path(), "honest", registry.addr(), "honest", &[]);
    let state = workshop_tests::temp_dir("state");
    let state = state.path();
    let one_ref = format!("{}/one:v1", registry.addr());
    let forged_ref = format!("{}/other:forged", registry.addr());
    // Fetched: its tar is not what one's config lists.
    let run = sub(state, &["pull", &forged_ref]);
    run.assert_error(125, "not the diff_id the config lists");
    assert_nothing_stored(state, &run);
    // The honest image stores the evil layer under its own diff_id, one
    // under its own: layers are named by what they unpack to.
    for reference in [
        format!("{}/honest:honest", registry.addr()),
        one_ref.clone(),
    ] {
        let run = sub(state, &["pull", &reference]);
        assert_eq!(run.code, Some(0), "{run:?}");
    }
    // So the forged manifest now gets one's config and one's layer: the
    // name it gives its layer is not looked at, nor fetched.
    let run = sub(state, &["pull", &forged_ref]);
    assert!(run.stdout.contains("(0 of 1 layers fetched)"), "{run:?}");
    for image in [&one_ref, &forged_ref] {
        let run = container(
            state,
            &[
                "-q",
                "--image",
                image,
                "/bin/sh",
                "-c",
                "cat /evil 2>&1; true",
            ],
        );
        assert!(run.stdout.contains("No such file"), "{image}: {run:?}");
    }
}

#[test]
fn bad_references_and_missing_images_are_one_line_errors() {
    let p = pushed("there", |layout, tag| {
        single_layer(layout, tag, &config(|_| {}));
    });
    let addr = p.registry.addr();
    let state = p.state.path();
    // A port nobody listens on: bound, then let go.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let cases: &[(String, &str)] = &[
        (format!("{addr}/Upper:v1"), "repository names are lowercase"),
        (format!("{addr}/there:bad tag"), "a tag is 1 to 128 of"),
        (
            format!("{addr}/missing:v1"),
            "manifest not found in the registry",
        ),
        (
            format!("{addr}/there:v2"),
            "manifest not found in the registry",
        ),
        (
            format!("{addr}/there@sha256:{}", "0".repeat(64)),
            "manifest not found",
        ),
        (format!("{closed}/there:v1"), "cannot reach the registry"),
    ];
    for (reference, expected) in cases {
        let run = sub(state, &["pull", reference]);
        run.assert_error(125, expected);
        assert_eq!(
            run.stderr
                .lines()
                .filter(|l| l.starts_with("error:"))
                .count(),
            1,
            "{run:?}"
        );
        assert!(run.stderr.contains("hint:"), "{run:?}");
        assert_nothing_stored(state, &run);
    }
}

#[test]
fn a_registry_that_sends_too_much_or_stops_sending_is_an_error_not_a_hang() {
    let p = pushed("odd", |layout, tag| {
        single_layer(layout, tag, &config(|_| {}));
    });
    let state = p.state.path();
    let huge = Proxy::start(p.registry.addr(), Mode::HugeManifest);
    let run = sub(
        state,
        &["pull", &p.reference.replace(p.registry.addr(), huge.addr())],
    );
    run.assert_error(125, "the manifest is larger than 4194304 bytes: refused");
    assert_nothing_stored(state, &run);
    // A blob's headers, then silence: the read times out (30 s).
    let stall = Proxy::start(p.registry.addr(), Mode::StallBlob);
    let started = std::time::Instant::now();
    let run = sub(
        state,
        &[
            "pull",
            &p.reference.replace(p.registry.addr(), stall.addr()),
        ],
    );
    run.assert_error(125, "timeout");
    assert!(
        started.elapsed() >= Duration::from_secs(25),
        "{:?}",
        started.elapsed()
    );
    assert_nothing_stored(state, &run);
}

#[test]
fn a_pull_killed_at_any_moment_leaves_what_the_next_one_removes() {
    let p = pushed("killed", |layout, tag| {
        multi_layer(layout, tag, &config(|_| {}));
    });
    let state = p.state.path();
    // Killed at moments from the start to past the end of a pull.
    for delay_ms in [5, 20, 40, 60, 80, 100, 150, 200, 300, 500] {
        let mut child = sub_command(state, &["pull", &p.reference])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start a pull");
        std::thread::sleep(Duration::from_millis(delay_ms));
        let _ = child.kill();
        child.wait_bounded().expect("reap the pull");
    }
    let run = sub(state, &["pull", &p.reference]);
    assert_eq!(run.code, Some(0), "{run:?}");
    // Whatever the killed pulls left, the last one swept.
    for dir in ["layers", "images", "registry", "registry/configs"] {
        assert_eq!(dot_entries(&state.join(dir)), Vec::<String>::new(), "{dir}");
    }
    assert_eq!(names(&state.join("images")).len(), 1);
    assert_eq!(names(&state.join("layers")).len(), 3);
    let run = container(
        state,
        &["-q", "--image", &p.reference, "/bin/cat", "/etc/layer2"],
    );
    assert_eq!(run.stdout, "layer 2\n", "{run:?}");
}

#[test]
fn a_dry_run_and_pull_never_do_not_pull() {
    let p = pushed("notyet", |layout, tag| {
        single_layer(layout, tag, &config(|_| {}));
    });
    let state = p.state.path();
    for flags in [
        ["--dry-run", "--pull", "missing"],
        ["-q", "--pull", "never"],
    ] {
        let mut args = flags.to_vec();
        args.extend(["--image", &p.reference, "true"]);
        let run = container(state, &args);
        run.assert_error(125, &format!("no image {} here", p.reference));
        assert_nothing_stored(state, &run);
    }
}

/// The trace of a pull through a token realm, as chapter 9 shows it.
#[test]
fn trace_of_a_pull() {
    let p = pushed("library/busybox", |layout, tag| {
        multi_layer(layout, tag, &config(|_| {}));
    });
    let tokens = TokenServer::anonymous("t0ken");
    let proxy = Proxy::start(p.registry.addr(), Mode::bearer(&tokens));
    let reference = p.reference.replace(p.registry.addr(), proxy.addr());
    let run = sub(p.state.path(), &["pull", &reference]);
    assert_eq!(run.code, Some(0), "{run:?}");
    let mut settings = insta::Settings::clone_current();
    // Ports the kernel picked, and digests of a rootfs built on this machine.
    for (addr, name) in [(proxy.addr(), "<registry>"), (tokens.addr(), "<realm>")] {
        settings.add_filter(&workshop_tests::regex_escape(addr), name);
    }
    settings.add_filter(r"sha256:[0-9a-f]{64}", "sha256:<digest>");
    settings.add_filter(
        r"(?m)^(\[parent\] registry │ # layer )[0-9a-f]{12}: \d+ bytes; unpacked \d+",
        "$1<digest>: <size> bytes; unpacked <n>",
    );
    settings.add_filter(r"(?m)^skipped device node.*\n", "");
    // Three layers come in parallel, their lines in the order of the
    // moment: here, the requests first, then what each unpacked, bottom
    // layer first (it has the most entries).
    let lines: Vec<&str> = run.stderr.lines().collect();
    let config = lines
        .iter()
        .position(|l| l.contains("/blobs/"))
        .expect("a blob request")
        + 1;
    let (mut gets, mut notes): (Vec<&str>, Vec<&str>) =
        lines[config..].iter().partition(|l| l.contains(" GET "));
    notes.sort_by_key(|l| (!l.contains("(0 whiteouts, 0 opaque"), l.to_string()));
    gets.sort();
    let trace = [&lines[..config], &gets, &notes].concat().join("\n") + "\n" + &run.stdout;
    settings.bind(|| insta::assert_snapshot!("trace_of_a_pull", trace));
}
