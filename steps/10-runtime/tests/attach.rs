//! `run -dit` and `attach`: a terminal the monitor's console owns, your
//! terminal attached to it again (with its size), Ctrl-P Ctrl-Q to leave
//! it running, and the container's exit code when it ends.

mod common;

use std::io::Write;
use std::process::Stdio;

use common::Host;
use workshop_tests::CommandExt;

/// The container's shell loop: `size` prints its terminal's size (after
/// a moment, for the resize to reach it), `q` exits 5, anything else is
/// echoed back.
const LOOP: &str = "while read line; do case $line in \
                    size) sleep 0.5; stty size;; q) exit 5;; *) echo got:$line;; esac; done";

#[test]
fn attach_gives_the_terminal_back_and_ctrl_p_ctrl_q_leaves_it_running() {
    let host = Host::new();
    let id = host.detach(&["-it", "sh", "-c", LOOP]);
    // A terminal of 33 rows and 99 columns attaches, asks, and detaches.
    let wrapper = host.path().join("attach-33x99");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\nstty rows 33 cols 99\nexec {} --state-dir {} attach {id}\n",
            common::BIN,
            host.path().display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(
        &wrapper,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    // (Typed once attach has the terminal in raw mode: before, the
    // terminal itself would take Ctrl-Q, as XON.)
    let first = workshop_tests::contract::typing_later(
        &std::process::Command::new(&wrapper),
        b"hello\nsize\n\x10\x11",
        std::time::Duration::from_secs(1),
    );
    assert_eq!(first.code, Some(0), "detached: {first:?}");
    assert!(
        first.stderr.contains("runs on") || first.stdout.contains("runs on"),
        "{first:?}"
    );
    // It runs on, and did what we typed, at our size.
    assert_eq!(host.state(&id)["status"], "running");
    host.wait_until("the size in the log", || {
        host.sub(&["logs", &id]).stdout.contains("33 99")
    });
    let logs = host.sub(&["logs", &id]).stdout;
    assert!(logs.contains("got:hello"), "{logs}");
    // Attached again, `q`: the container exits 5, and so does attach.
    let cmd = host.sub_command(&["attach", &id]);
    let second =
        workshop_tests::contract::typing_later(&cmd, b"q\n", std::time::Duration::from_secs(1));
    assert_eq!(second.code, Some(5), "{second:?}");
    assert_eq!(host.state(&id)["exit_code"], 5);
    // A terminal container, removed while it waits for input: its monitor
    // finishes (its console does not wait for the pty to close).
    let waiting = host.detach(&["-it", "sh"]);
    let rm = host.sub(&["rm", "-f", &waiting]);
    assert_eq!(rm.code, Some(0), "{rm:?}");
    assert!(!host.record(&waiting).exists());
}

#[test]
fn attach_without_a_terminal_passes_input_and_output() {
    let host = Host::new();
    let id = host.detach(&["-i", "sh", "-c", "read x; echo got:$x; echo err:$x >&2"]);
    let mut attach = host.sub_command(&["attach", &id]);
    let mut child = attach
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"hello\n").unwrap();
    let run = workshop_tests::collect(workshop_tests::ChildExt::wait_with_output_bounded(child));
    assert_eq!(run.code, Some(0), "{run:?}");
    // Without a terminal, stdout and stderr come as one stream.
    assert!(
        run.stdout.contains("got:hello") && run.stdout.contains("err:hello"),
        "{run:?}"
    );
}

#[test]
fn attach_is_refused_where_there_is_nothing_to_attach_to() {
    let host = Host::new();
    host.sub(&["attach", "nope"])
        .assert_error(1, "no such container: nope");
    let done = host.detach(&["true"]);
    host.wait_until("it to exit", || host.state(&done)["status"] == "exited");
    host.sub(&["attach", &done])
        .assert_error(1, "is not running");
    // A foreground container has no console: its terminal is its caller's.
    let mut fg = host.run_command(&["-q", "--name", "fg", "sleep", "1000"]);
    let mut child = fg.spawn().unwrap();
    host.wait_until("the foreground container to run", || {
        host.sub(&["ps"]).stdout.contains("fg")
    });
    host.sub(&["attach", "fg"]).assert_error(1, "no console");
    let _ = child.kill();
    let _ = child.wait();
    let _ = CommandExt::output_bounded(&mut host.sub_command(&["rm", "-f", "fg"]));
}

#[test]
fn attach_to_a_container_without_a_terminal_sends_lines_as_typed() {
    let host = Host::new();
    // (On a terminal, but the container has none: no raw mode, so Enter
    // is a newline and `read` gets its line.)
    let id = host.detach(&["-i", "sh", "-c", "read x; echo got:$x"]);
    let cmd = host.sub_command(&["attach", &id]);
    let run =
        workshop_tests::contract::typing_later(&cmd, b"hello\n", std::time::Duration::from_secs(1));
    assert_eq!(run.code, Some(0), "{run:?}");
    assert!(run.stdout.contains("got:hello"), "{run:?}");
    // A --restart container: attach ends with its first exit's code.
    let id = host.detach(&["-i", "--restart", "always", "sh", "-c", "read x; exit 3"]);
    let mut attach = host.sub_command(&["attach", &id]);
    let mut child = attach
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"go\n").unwrap();
    let status = workshop_tests::ChildExt::wait_bounded(&mut child).unwrap();
    assert_eq!(status.code(), Some(3));
    assert_eq!(host.sub(&["rm", "-f", &id]).code, Some(0));
}

#[test]
fn a_container_that_reads_no_input_keeps_its_output_flowing() {
    let host = Host::new();
    let id = host.detach(&["-i", "sh", "-c", "while :; do echo tick; sleep 0.1; done"]);
    // An attach that pours a megabyte into a stdin nobody reads.
    let mut attach = host.sub_command(&["attach", &id]);
    let mut child = attach
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    std::thread::spawn(move || {
        let _ = stdin.write_all(&vec![b'x'; 1 << 20]);
    });
    std::thread::sleep(std::time::Duration::from_millis(500));
    let ticks = || host.sub(&["logs", &id]).stdout.lines().count();
    let before = ticks();
    std::thread::sleep(std::time::Duration::from_secs(2));
    assert!(ticks() >= before + 5, "the log stalled at {before} lines");
    // Another client still gets in, and sees the output.
    let second = host.sub(&["inspect", &id]);
    assert_eq!(second.code, Some(0));
    let _ = child.kill();
    let _ = child.wait();
}
