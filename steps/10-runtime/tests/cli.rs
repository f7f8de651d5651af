//! Step 10's command line beyond the lifecycle: `inspect` of a container
//! (or an image), published ports of a detached container (answering on
//! localhost, listed by `ps`), shell completions and the manual page.

mod common;

use std::io::Read;
use std::net::TcpStream;
use std::time::Duration;

use common::Host;
use workshop_tests::{CommandExt, TestNetns, collect, eventually};

#[test]
fn inspect_shows_a_containers_record_or_else_an_image() {
    let host = Host::new();
    let id = host.detach(&["--name", "seen", "sleep", "1000"]);
    let run = host.sub(&["inspect", "seen"]);
    assert_eq!(run.code, Some(0), "{run:?}");
    let json: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(json["Id"], id.as_str());
    assert_eq!(json["State"]["Status"], "running");
    assert_eq!(json["State"]["Pid"], host.state(&id)["pid"]);
    assert_eq!(json["Command"], serde_json::json!(["sleep", "1000"]));
    // A name no container has is an image's, as for docker inspect.
    host.sub(&["inspect", "no-such-thing"])
        .assert_error(1, "no such container or image: no-such-thing");
}

#[test]
fn a_detached_containers_published_port_answers_and_ps_shows_it() {
    let host = Host::new();
    let netns = TestNetns::new("d-ports");
    let cmd = host.run_command(&[
        "-d",
        "--name",
        "web",
        "--network",
        "bridge",
        "-p",
        "18090:80",
        "sh",
        "-c",
        "while :; do echo served | nc -l -p 80; done",
    ]);
    let run = collect(netns.command(&cmd).output_bounded());
    assert_eq!(run.code, Some(0), "{run:?}");
    // run -d has returned: the monitor keeps the rules, and it answers.
    let answer = netns
        .thread(|| {
            eventually(
                Duration::from_secs(20),
                "an answer on 127.0.0.1:18090",
                || {
                    let address = "127.0.0.1:18090".parse().unwrap();
                    let mut conn =
                        TcpStream::connect_timeout(&address, Duration::from_secs(1)).ok()?;
                    conn.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
                    let mut text = String::new();
                    conn.read_to_string(&mut text).ok()?;
                    (!text.is_empty()).then_some(text)
                },
            )
        })
        .join()
        .unwrap();
    assert_eq!(answer, "served\n");
    let ps = host.sub(&["ps"]);
    assert!(ps.stdout.contains("0.0.0.0:18090->80/tcp"), "{ps:?}");
    // Removed, its rules go with it (its monitor cleans up, in its netns).
    assert_eq!(host.sub(&["rm", "-f", "web"]).code, Some(0));
    let rules =
        String::from_utf8_lossy(&netns.run("iptables", &["-t", "nat", "-S"]).stdout).into_owned();
    assert!(!rules.contains("-j DNAT"), "{rules}");
}

#[test]
fn completions_and_the_manual_page_are_generated() {
    let host = Host::new();
    let bash = host.sub(&["completion", "bash"]);
    assert_eq!(bash.code, Some(0), "{bash:?}");
    for word in ["exec", "attach", "logs", "stop", "--detach", "--log-opt"] {
        assert!(
            bash.stdout.contains(word),
            "no {word} in the bash completion"
        );
    }
    // Sourced into bash, it completes as a person's Tab would: a
    // subcommand, then that subcommand's own flags.
    let script = workshop_tests::temp_dir("completion");
    let file = script.path().join("10-runtime.bash");
    std::fs::write(&file, &bash.stdout).unwrap();
    let tab = |words: &str| {
        let complete = format!(
            "source {}; COMP_WORDS=({words}); COMP_CWORD=$((${{#COMP_WORDS[@]}} - 1)); \
             _10__runtime 10-runtime \"${{COMP_WORDS[-1]}}\" \"${{COMP_WORDS[-2]}}\"; \
             echo \"${{COMPREPLY[*]}}\"",
            file.display()
        );
        let out = std::process::Command::new("bash")
            .args(["-c", &complete])
            .output_bounded()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    assert_eq!(tab("10-runtime ex"), "exec");
    assert_eq!(tab("10-runtime exec --w"), "--workdir");
    assert_eq!(tab("10-runtime logs --ta"), "--tail");
    let man = host.sub(&["man"]);
    assert!(
        man.stdout.starts_with(".ie") && man.stdout.contains(".TH 10-runtime 1"),
        "{man:?}"
    );
    // The pages the main one lists under SUBCOMMANDS, one per subcommand.
    assert!(man.stdout.contains("10\\-runtime\\-exec(1)"), "{man:?}");
    let exec = host.sub(&["man", "exec"]);
    assert!(
        exec.stdout.contains(".TH 10-runtime-exec 1") && exec.stdout.contains("workdir"),
        "{exec:?}"
    );
    host.sub(&["man", "nope"])
        .assert_error(125, "man \"nope\": no such subcommand");
    host.sub(&["completion", "tcsh"]).assert_error(125, "tcsh");
}
