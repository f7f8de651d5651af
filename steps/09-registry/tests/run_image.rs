//! Step 09, run as a learner runs it: pull an image from a real registry
//! (Debian's docker-registry, on 127.0.0.1), then run it as its config
//! says, or as the flags override it; `images`, `inspect`, `rmi`.

mod common;

use common::{BIN, config, container, pushed, sub};
use workshop_tests::registry::{multi_layer, single_layer};

// What every step promises (exit codes, errors, stdin, signals, ...).
workshop_tests::step_contract_tests!(BIN);
workshop_tests::step_bad_input_tests!(BIN, [LIMITS, VOLUMES, NETWORK, SUBCOMMANDS, SECURITY]);
workshop_tests::step_escape_tests!(BIN, cgroups, mounts);
workshop_tests::step_fault_tests!(BIN, registry: ["--network", "none"]);

/// What the probe script prints: argv, cwd, ids, and two variables.
const PROBE: &str = r#"echo "argv=$0 $*"; echo "cwd=$(pwd)"; echo "id=$(id -u):$(id -g)"; echo "FOO=$FOO"; echo "BAR=$BAR""#;

#[test]
fn the_images_entrypoint_cmd_env_workdir_and_user_make_the_process() {
    let image = config(|c| {
        c.entrypoint = Some(vec!["/bin/sh".into(), "-c".into(), PROBE.into()]);
        c.cmd = Some(vec!["from-cmd".into(), "arg".into()]);
        c.working_dir = Some("/srv/app".into());
        c.user = Some("65534:65534".into());
    });
    let p = pushed("app", |layout, tag| {
        single_layer(layout, tag, &image);
    });
    let state = p.state.path();
    let run = sub(state, &["pull", &p.reference]);
    assert_eq!(run.code, Some(0), "{run:?}");
    // As the image says: its entrypoint, with Cmd as arguments; its
    // variable; its working directory (made, as Docker does); its user.
    let run = container(state, &["-q", "--image", &p.reference]);
    assert_eq!(run.code, Some(0), "{run:?}");
    assert_eq!(
        run.stdout, "argv=from-cmd arg\ncwd=/srv/app\nid=65534:65534\nFOO=from-image\nBAR=\n",
        "{run:?}"
    );
    // A command replaces Cmd only; -e, -w and -u win over the image.
    let run = container(
        state,
        &[
            "-q",
            "-e",
            "FOO=from-flag",
            "-e",
            "BAR=b",
            "-w",
            "/tmp",
            "-u",
            "0",
            "--image",
            &p.reference,
            "mine",
        ],
    );
    assert_eq!(
        run.stdout, "argv=mine \ncwd=/tmp\nid=0:0\nFOO=from-flag\nBAR=b\n",
        "{run:?}"
    );
    // --entrypoint replaces the entrypoint and drops Cmd.
    let run = container(
        state,
        &["-q", "--entrypoint", "/bin/echo", "--image", &p.reference],
    );
    assert_eq!(run.stdout, "\n", "{run:?}");
    // Docker's shape: run [FLAGS] IMAGE [COMMAND]; the same container.
    let run = container(state, &["run", "-q", "-u", "0:0", &p.reference, "via-run"]);
    assert_eq!(run.code, Some(0), "{run:?}");
    assert!(
        run.stdout
            .starts_with("argv=via-run \ncwd=/srv/app\nid=0:0\n"),
        "{run:?}"
    );
}

#[test]
fn a_user_with_no_uid_0_has_no_capabilities() {
    let p = pushed("nobody", |layout, tag| {
        single_layer(layout, tag, &config(|c| c.user = Some("nobody".into())));
    });
    let state = p.state.path();
    let run = container(
        state,
        &[
            "-q",
            "--image",
            &p.reference,
            "/bin/cat",
            "/proc/self/status",
        ],
    );
    assert_eq!(run.code, Some(0), "{run:?}");
    let field = |name: &str| {
        run.stdout
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .unwrap_or_else(|| panic!("no {name} in {}", run.stdout))
            .trim()
            .to_string()
    };
    // The test rootfs's /etc/passwd says nobody is 65534.
    assert!(field("Uid:").starts_with("65534"), "{run:?}");
    assert_eq!(field("CapEff:"), "0000000000000000");
    assert_eq!(field("CapPrm:"), "0000000000000000");
    // Without a capability of its own to change ids (as runc, the user is
    // switched before step 08 cuts the set down).
    let run = container(
        state,
        &[
            "-q",
            "--cap-drop",
            "ALL",
            "--image",
            &p.reference,
            "id",
            "-u",
        ],
    );
    assert_eq!(
        (run.code, run.stdout.as_str()),
        (Some(0), "65534\n"),
        "{run:?}"
    );
    // With --init, process 1 (the init, which never calls execve) keeps
    // none either.
    let run = container(
        state,
        &[
            "-q",
            "--init",
            "--image",
            &p.reference,
            "cat",
            "/proc/1/status",
        ],
    );
    let pid1 = run
        .stdout
        .lines()
        .filter(|l| l.starts_with("CapPrm:") || l.starts_with("CapEff:"));
    assert_eq!(
        pid1.map(|l| l.split_whitespace().nth(1).unwrap_or(""))
            .collect::<Vec<_>>(),
        ["0000000000000000"; 2],
        "{run:?}"
    );
    // Through sudo, step 03 maps container root alone (to the user who ran
    // sudo): there is no uid 65534 inside to switch to, and the error says
    // what to do.
    let mut via_sudo = workshop_tests::step_command_in(BIN, workshop_tests::test_rootfs(), state);
    via_sudo.env("SUDO_UID", "4242").env("SUDO_GID", "4242");
    via_sudo.args(["-q", "--image", &p.reference, "true"]);
    let run = workshop_tests::collect(workshop_tests::CommandExt::output_bounded(&mut via_sudo));
    run.assert_error(125, "no such id in this container");
    // A user the image does not have: refused before the command runs.
    let run = container(
        state,
        &["-q", "-u", "ghost", "--image", &p.reference, "true"],
    );
    run.assert_error(125, "user \"ghost\": not in the image's /etc/passwd");
}

#[test]
fn layers_with_whiteouts_unpack_into_the_image_their_order_says() {
    let p = pushed("layered", |layout, tag| {
        multi_layer(layout, tag, &config(|_| {}));
    });
    let state = p.state.path();
    let script = "cat /etc/layer2; ls /etc/os-release 2>&1 || true; ls /data";
    let run = container(
        state,
        &["-q", "--image", &p.reference, "/bin/sh", "-c", script],
    );
    assert_eq!(run.code, Some(0), "{run:?}");
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines[0], "layer 2", "{run:?}");
    assert!(lines[1].contains("No such file"), "{run:?}");
    assert_eq!(lines[2..], ["from-layer3"], "{run:?}");
}

#[test]
fn images_inspect_and_rmi_know_pulled_images_by_name_and_id() {
    let p = pushed("listed", |layout, tag| {
        single_layer(layout, tag, &config(|_| {}));
    });
    let state = p.state.path();
    let pulled = sub(state, &["pull", "-q", &p.reference]);
    assert_eq!(pulled.code, Some(0), "{pulled:?}");
    let id = pulled.stdout.trim().to_string();
    assert!(id.starts_with("sha256:") && id.len() == 71, "{pulled:?}");
    let short = &id[7..19];
    let images = sub(state, &["images"]);
    let line = images
        .stdout
        .lines()
        .find(|l| l.contains("/listed"))
        .unwrap_or_else(|| panic!("not listed: {images:?}"));
    let words: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(
        words[..3],
        [
            format!("{}/listed", p.registry.addr()).as_str(),
            "v1",
            short
        ],
        "{line}"
    );
    // The config's created time (the harness's: 2024-01-01).
    assert!(line.contains("months ago"), "{line}");
    let inspect = sub(state, &["inspect", short]);
    let json: serde_json::Value = serde_json::from_str(&inspect.stdout).expect("JSON");
    assert_eq!(json["Id"], id.as_str());
    assert_eq!(json["Config"]["config"]["Env"][1], "FOO=from-image");
    assert_eq!(json["RepoTags"][0], p.reference.as_str());
    // By id: the image, its config, its layer and its name go.
    let rmi = sub(state, &["rmi", short]);
    assert_eq!(rmi.code, Some(0), "{rmi:?}");
    assert!(
        rmi.stdout.contains(&format!("untagged {}", p.reference)),
        "{rmi:?}"
    );
    assert!(rmi.stdout.contains("deleted layer"), "{rmi:?}");
    assert!(
        common::names(&state.join("layers"))
            .iter()
            .all(|n| n.starts_with('.'))
    );
    assert!(common::names(&state.join("registry/configs")).is_empty());
    let run = container(
        state,
        &["-q", "--pull", "never", "--image", &p.reference, "true"],
    );
    run.assert_error(125, &format!("no image {} here", p.reference));
}
