//! Step 10, as a learner lives with containers: `run -d`, then `ps`,
//! `logs`, `stop`, `kill`, `rm`, on the real kernel. Every wait is bounded.

mod common;

use common::{Host, parent_of, process_alive};

/// A container that says hello on both streams, then ticks until SIGTERM,
/// which it answers with "bye" and exit code 3.
const POLITE: &str = "echo hello; echo oops >&2; trap 'echo bye; exit 3' TERM; \
                      while :; do sleep 0.1; done";

#[test]
fn a_detached_container_outlives_run_and_stop_ends_it_politely() {
    let host = Host::new();
    let id = host.detach(&["--name", "web", "sh", "-c", POLITE]);
    // run -d has returned; the container runs on, with a monitor that is
    // not our child (double-forked: re-parented away from us).
    let state = host.state(&id);
    assert_eq!(state["status"], "running", "{state}");
    let pid = state["pid"].as_i64().unwrap();
    let monitor = state["monitor_pid"].as_i64().unwrap();
    assert!(
        process_alive(pid),
        "the container runs after run -d returned"
    );
    assert_eq!(
        parent_of(pid),
        Some(monitor),
        "the monitor is the container's parent"
    );
    assert_ne!(parent_of(monitor), Some(std::process::id() as i64));
    // Its console is a thread of it, not a process (console.rs): the
    // container is the monitor's only child, and the console's thread
    // takes no signal (they are the engine's to pass on).
    let tasks: Vec<String> = std::fs::read_dir(format!("/proc/{monitor}/task"))
        .unwrap()
        .map(|t| t.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    let children: Vec<String> = tasks
        .iter()
        .flat_map(|t| {
            let file = format!("/proc/{monitor}/task/{t}/children");
            let text = std::fs::read_to_string(file).unwrap_or_default();
            text.split_whitespace()
                .map(String::from)
                .collect::<Vec<_>>()
        })
        .collect();
    assert_eq!(children, [pid.to_string()], "the monitor's children");
    let console = tasks
        .iter()
        .find(|t| {
            std::fs::read_to_string(format!("/proc/{monitor}/task/{t}/comm"))
                .is_ok_and(|c| c.trim() == "console")
        })
        .expect("a thread named console");
    let status = std::fs::read_to_string(format!("/proc/{monitor}/task/{console}/status")).unwrap();
    let blocked = status
        .lines()
        .find_map(|l| l.strip_prefix("SigBlk:"))
        .map(|hex| u64::from_str_radix(hex.trim(), 16).unwrap())
        .unwrap();
    for signal in [libc::SIGTERM, libc::SIGWINCH, libc::SIGHUP, libc::SIGCHLD] {
        assert_ne!(
            blocked & (1 << (signal - 1)),
            0,
            "signal {signal} not blocked"
        );
    }
    let ps = host.sub(&["ps"]);
    assert_eq!(ps.code, Some(0), "{ps:?}");
    let row = ps
        .stdout
        .lines()
        .find(|l| l.starts_with(&id))
        .expect("ps lists it");
    assert!(row.contains(" Up ") && row.ends_with("web"), "{ps:?}");
    assert_eq!(host.sub(&["ps", "-q"]).stdout, format!("{id}\n"));
    // Its output, kept: each stream where it was written.
    host.wait_until("hello in the log", || {
        host.sub(&["logs", "web"]).stdout.contains("hello")
    });
    let logs = host.sub(&["logs", "web"]);
    assert_eq!(
        (logs.stdout.as_str(), logs.stderr.as_str()),
        ("hello\n", "oops\n"),
        "{logs:?}"
    );
    let stamped = host.sub(&["logs", "-t", "--tail", "1", &id[..6]]);
    assert!(
        stamped.stderr.is_empty() || stamped.stdout.is_empty(),
        "{stamped:?}"
    );
    assert!(
        (stamped.stdout.clone() + &stamped.stderr).starts_with("20"),
        "a time first: {stamped:?}"
    );
    // stop: SIGTERM, which the container's trap answers.
    let stop = host.sub(&["stop", "web"]);
    assert_eq!(
        (stop.code, stop.stdout.as_str()),
        (Some(0), "web\n"),
        "{stop:?}"
    );
    assert!(!process_alive(pid));
    let state = host.state(&id);
    assert_eq!(
        (state["status"].as_str(), state["exit_code"].as_i64()),
        (Some("exited"), Some(3))
    );
    assert!(host.sub(&["logs", "web"]).stdout.ends_with("bye\n"));
    assert!(
        host.sub(&["ps"]).stdout.lines().count() == 1,
        "only the header"
    );
    let all = host.sub(&["ps", "-a"]).stdout;
    assert!(all.contains("Exited (3) "), "{all}");
    // rm: the record, the log and the writable layer go.
    assert!(host.path().join("overlay/web").exists());
    let rm = host.sub(&["rm", "web"]);
    assert_eq!((rm.code, rm.stdout.as_str()), (Some(0), "web\n"), "{rm:?}");
    assert!(!host.record(&id).exists());
    assert!(!host.path().join("overlay/web").exists());
    assert_eq!(host.sub(&["ps", "-a"]).stdout.lines().count(), 1);
}

#[test]
fn stop_kills_what_ignores_its_stop_signal() {
    let host = Host::new();
    // sleep as PID 1 of its namespace has no handler: SIGTERM does nothing.
    let id = host.detach(&["sleep", "1000"]);
    let stop = host.sub(&["stop", "-t", "1", &id]);
    assert_eq!(stop.code, Some(0), "{stop:?}");
    assert_eq!(host.state(&id)["exit_code"], 137);
    assert!(host.sub(&["ps", "-a"]).stdout.contains("Exited (137)"));
    // kill -s: any signal, to a running container only.
    let id = host.detach(&[
        "sh",
        "-c",
        "trap 'exit 10' USR1; while :; do sleep 0.1; done",
    ]);
    let kill = host.sub(&["kill", "-s", "USR1", &id]);
    assert_eq!(kill.code, Some(0), "{kill:?}");
    host.wait_until("the container to exit", || {
        host.state(&id)["status"] == "exited"
    });
    assert_eq!(host.state(&id)["exit_code"], 10);
    let again = host.sub(&["kill", &id]);
    assert_eq!(again.code, Some(1), "{again:?}");
    assert!(again.stderr.contains("is not running"), "{again:?}");
}

#[test]
fn logs_follow_ends_when_the_container_does() {
    let host = Host::new();
    let id = host.detach(&["sh", "-c", "for i in 1 2 3; do echo $i; sleep 0.3; done"]);
    let follow = host.sub(&["logs", "-f", &id]);
    assert_eq!(
        (follow.code, follow.stdout.as_str()),
        (Some(0), "1\n2\n3\n"),
        "{follow:?}"
    );
    assert_eq!(host.state(&id)["exit_code"], 0);
}

#[test]
fn the_log_is_capped_and_rotated() {
    let host = Host::new();
    let id = host.detach(&[
        "--log-opt",
        "max-size=4k",
        "--log-opt",
        "max-file=2",
        "sh",
        "-c",
        "i=0; while [ $i -lt 1000 ]; do echo line $i; i=$((i+1)); done",
    ]);
    let follow = host.sub(&["logs", "-f", &id]);
    let dir = host.record(&id);
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("json.log"))
        .collect();
    files.sort();
    assert_eq!(files.len(), 2, "max-file=2: {files:?}");
    assert_eq!(files[0], "json.log");
    assert!(std::fs::metadata(dir.join("json.log")).unwrap().len() <= 4096);
    // The newest lines, in order, the last one last.
    assert!(
        follow.stdout.ends_with("line 998\nline 999\n"),
        "{follow:?}"
    );
    let tail = host.sub(&["logs", "--tail", "2", &id]);
    assert_eq!(tail.stdout, "line 998\nline 999\n");
}

#[test]
fn a_foreground_run_is_recorded_too() {
    let host = Host::new();
    let run = host.run(&["-q", "--name", "fg", "sh", "-c", "exit 5"]);
    assert_eq!(run.code, Some(5), "{run:?}");
    assert!(host.sub(&["ps", "-a"]).stdout.contains("Exited (5)"));
    let logs = host.sub(&["logs", "fg"]);
    assert_eq!(logs.code, Some(1));
    assert!(logs.stderr.contains("ran in the foreground"), "{logs:?}");
    // --rm: nothing is kept.
    let run = host.run(&["-q", "--rm", "--name", "gone", "true"]);
    assert_eq!(run.code, Some(0), "{run:?}");
    assert!(!host.sub(&["ps", "-a"]).stdout.contains("gone"));
}

#[test]
fn a_killed_monitor_is_shown_as_such_and_rm_cleans_up() {
    let host = Host::new();
    let id = host.detach(&["--name", "orphan", "sleep", "1000"]);
    let state = host.state(&id);
    let (pid, monitor) = (
        state["pid"].as_i64().unwrap(),
        state["monitor_pid"].as_i64().unwrap(),
    );
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(monitor as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    // The container dies with its monitor (PR_SET_PDEATHSIG).
    host.wait_until("the container to die with its monitor", || {
        !process_alive(pid)
    });
    let ps = host.sub(&["ps"]);
    assert!(ps.stdout.contains("monitor died"), "{ps:?}");
    // Started again: a new run (of a new id) sweeps what the dead one
    // left, and resumes its writable layer.
    let start = host.sub(&["start", "orphan"]);
    assert_eq!(start.code, Some(0), "{start:?}");
    let again = host.state(&id);
    assert_eq!(again["status"], "running", "{again}");
    assert_ne!(again["run"], serde_json::json!(id));
    let ps = host.sub(&["ps"]);
    assert!(ps.stdout.contains(" Up "), "{ps:?}");
    let hostname = host.sub(&["exec", "orphan", "hostname"]);
    assert_eq!(hostname.stdout.trim(), id, "{hostname:?}");
    let stop = host.sub(&["stop", "-t", "0", "orphan"]);
    assert_eq!(stop.code, Some(0), "{stop:?}");
    let rm = host.sub(&["rm", "orphan"]);
    assert_eq!(rm.code, Some(0), "{rm:?}");
    assert!(!host.record(&id).exists());
    assert!(!host.path().join("overlay/orphan").exists());
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let state_dir = host.path().display().to_string();
    assert!(!mounts.contains(&state_dir), "a mount was left: {mounts}");
}

#[test]
fn bad_input_is_refused_with_the_fix_and_leaves_nothing() {
    let host = Host::new();
    let id = host.detach(&["--name", "taken", "sleep", "1000"]);
    // A name in use.
    let twice = host.run(&["-d", "--name", "taken", "true"]);
    twice.assert_error(125, "choose another --name");
    // Bad flags: refused before anything is made.
    for (args, needle) in [
        (vec!["-d", "--log-opt", "max-size=1", "true"], "--log-opt"),
        (vec!["-d", "--log-opt", "mode=fast", "true"], "--log-opt"),
        (vec!["-d", "--log-opt", "max-file=61", "true"], "--log-opt"),
        (vec!["--log-opt", "max-size=1m", "true"], "add -d"),
    ] {
        host.run(&args).assert_error(125, needle);
    }
    // Unknown containers; a running one removed without -f.
    for sub in [
        vec!["logs", "nope"],
        vec!["stop", "nope"],
        vec!["kill", "nope"],
        vec!["rm", "nope"],
    ] {
        let run = host.sub(&sub);
        run.assert_error(1, "no such container: nope");
    }
    assert_eq!(host.ids(), vec![id.clone()], "bad flags leave no record");
    // A command that is not there: the start fails, and says so; the
    // container is kept, as Docker keeps it, until `rm` (with the
    // writable layer step 07 made for it).
    let missing = host.run(&["-d", "--name", "nf", "/no/such/command"]);
    missing.assert_error(127, "/no/such/command");
    let failed = host.sub(&["ps", "-a"]).stdout;
    assert!(failed.contains("Exited (127)"), "{failed}");
    assert!(host.path().join("overlay/nf").exists());
    let rm = host.sub(&["rm", "nf"]);
    assert_eq!(rm.code, Some(0), "{rm:?}");
    assert!(!host.path().join("overlay/nf").exists());
    // A writable layer with no record (step 07's kept container): rm
    // takes it too.
    let kept = host.run(&["-q", "--name", "old", "true"]);
    assert_eq!(kept.code, Some(0), "{kept:?}");
    let record = host.ids().into_iter().find(|i| *i != id).unwrap();
    std::fs::remove_dir_all(host.record(&record)).unwrap();
    let rm = host.sub(&["rm", "old"]);
    assert_eq!(rm.code, Some(0), "{rm:?}");
    assert!(!host.path().join("overlay/old").exists());
    host.sub(&["rm", "taken"]).assert_error(1, "rm -f");
    let forced = host.sub(&["rm", "-f", "taken"]);
    assert_eq!(forced.code, Some(0), "{forced:?}");
    assert!(host.ids().is_empty());
    // A record half made (its maker killed before its config): -f takes it.
    let half = host.record("0123456789ab");
    std::fs::create_dir_all(&half).unwrap();
    std::fs::write(half.join("state.json"), "{}").unwrap();
    host.sub(&["rm", "0123456789ab"])
        .assert_error(1, "config.json");
    let forced = host.sub(&["rm", "-f", "0123456789ab"]);
    assert_eq!(forced.code, Some(0), "{forced:?}");
    assert!(!half.exists());
    // A --rm container is gone once stopped: stop and rm -f say so
    // without an error.
    let gone = host.detach(&["--rm", "sleep", "1000"]);
    assert_eq!(host.sub(&["stop", "-t", "1", &gone]).code, Some(0));
    assert!(!host.record(&gone).exists());
    let gone = host.detach(&["--rm", "sleep", "1000"]);
    assert_eq!(host.sub(&["rm", "-f", &gone]).code, Some(0));
    // A record that cannot be read is named, not a panic.
    let id = host.detach(&["true"]);
    host.wait_until("the container to exit", || {
        host.state(&id)["status"] == "exited"
    });
    std::fs::write(host.record(&id).join("state.json"), "{").unwrap();
    host.sub(&["ps", "-a"]).assert_error(1, "state.json");
    assert_eq!(host.sub(&["rm", "-f", &id]).code, Some(0));
}

/// The session chapter 10 shows: a detached container's life, as typed.
#[test]
fn a_session_with_a_detached_container() {
    let host = Host::new();
    let mut transcript = String::new();
    let mut say = |args: &[&str], run: &workshop_tests::Run| {
        let words: Vec<String> = args
            .iter()
            .map(|a| match a.contains(' ') {
                true => format!("\"{a}\""),
                false => a.to_string(),
            })
            .collect();
        transcript += &format!(
            "$ 10-runtime {}\n{}{}",
            words.join(" "),
            run.stdout,
            run.stderr
        );
    };
    let script = "echo hello; trap 'echo bye; exit 3' TERM; while :; do sleep 0.1; done";
    let args = [
        "--rootfs", "<rootfs>", "-d", "--name", "web", "sh", "-c", script,
    ];
    let run = host.run(&["-d", "--name", "web", "sh", "-c", script]);
    say(&args, &run);
    host.wait_until("hello in the log", || {
        host.sub(&["logs", "web"]).stdout.contains("hello")
    });
    for args in [
        &["ps"][..],
        &["logs", "web"],
        &["stop", "web"],
        &["ps", "-a"],
        &["rm", "web"],
    ] {
        let run = host.sub(args);
        assert_eq!(run.code, Some(0), "{args:?}: {run:?}");
        say(args, &run);
    }
    let mut settings = insta::Settings::clone_current();
    settings.add_filter(r"\b[0-9a-f]{12}\b", "<container id>");
    settings.add_filter(
        r"(Less than a second|About a minute|\d+ seconds?|\d+ minutes)",
        "<time>",
    );
    // (the table's columns are as wide as their cells, which the
    // redactions change: one gap of three spaces stands for each.)
    settings.add_filter(r" {3,}", "   ");
    let rootfs = workshop_tests::test_rootfs().display().to_string();
    settings.add_filter(&workshop_tests::regex_escape(&rootfs), "<rootfs>");
    settings.bind(|| insta::assert_snapshot!("session", transcript));
}

#[test]
fn the_monitor_keeps_nothing_of_its_caller_and_its_relative_paths() {
    use std::io::Read;
    use std::os::unix::process::CommandExt;
    let host = Host::new();
    // A descriptor the caller left open (`5>&1`): the container must not
    // hold it for its whole life, or whoever reads its other end waits.
    let (mut reader, writer) = std::io::pipe().unwrap();
    let fd = std::os::fd::AsRawFd::as_raw_fd(&writer);
    let mut cmd = host.run_command(&["-d", "sleep", "1000"]);
    // SAFETY: dup2 onto 5, between fork and exec.
    unsafe {
        cmd.pre_exec(move || match libc::dup2(fd, 5) {
            -1 => Err(std::io::Error::last_os_error()),
            _ => Ok(()),
        });
    }
    let run = workshop_tests::collect(workshop_tests::CommandExt::output_bounded(&mut cmd));
    assert_eq!(run.code, Some(0), "{run:?}");
    drop(writer);
    let (done, got) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut rest = Vec::new();
        let _ = reader.read_to_end(&mut rest);
        let _ = done.send(());
    });
    assert!(
        got.recv_timeout(std::time::Duration::from_secs(10)).is_ok(),
        "the monitor holds its caller's descriptor 5"
    );
    // Relative paths mean what they meant to the caller.
    let cwd = workshop_tests::temp_dir("cwd");
    std::os::unix::fs::symlink(workshop_tests::test_rootfs(), cwd.path().join("r")).unwrap();
    let mut cmd = std::process::Command::new(common::BIN);
    workshop_tests::die_with_the_test(&mut cmd);
    cmd.current_dir(cwd.path())
        .args([
            "--state-dir",
            "s",
            "--rootfs",
            "r",
            "-d",
            "--network",
            "none",
            "true",
        ])
        .env(
            "WORKSHOP_CGROUP_PARENT",
            workshop_tests::test_cgroup_parent(),
        )
        .env("NO_COLOR", "1")
        .env_remove("SUDO_UID")
        .stdin(std::process::Stdio::null());
    let run = workshop_tests::collect(workshop_tests::CommandExt::output_bounded(&mut cmd));
    assert_eq!(run.code, Some(0), "{run:?}");
    let id = run.stdout.trim();
    let record = cwd.path().join("s/records").join(id);
    assert!(
        record.exists(),
        "the record is under the relative --state-dir"
    );
    let state = cwd.path().join("s");
    let rm = std::process::Command::new(common::BIN)
        .arg("--state-dir")
        .arg(&state)
        .args(["rm", "-f", id])
        .output()
        .unwrap();
    assert!(rm.status.success(), "{rm:?}");
}

#[test]
fn logs_follow_misses_no_line_across_rotations() {
    let host = Host::new();
    let id = host.detach(&[
        "--log-opt",
        "max-size=4k",
        "--log-opt",
        "max-file=60",
        "sh",
        "-c",
        "i=0; while [ $i -lt 2000 ]; do echo line $i; i=$((i+1)); done",
    ]);
    let follow = host.sub(&["logs", "-f", &id]);
    let expected: String = (0..2000).map(|i| format!("line {i}\n")).collect();
    assert_eq!(follow.code, Some(0), "{follow:?}");
    let first_wrong = expected
        .lines()
        .zip(follow.stdout.lines())
        .position(|(want, got)| want != got);
    assert!(
        follow.stdout == expected,
        "lines were lost or repeated: {} of 2000, the first wrong at {first_wrong:?}",
        follow.stdout.lines().count()
    );
}

#[test]
fn a_records_symlink_in_the_state_directory_is_refused() {
    let host = Host::new();
    let elsewhere = workshop_tests::temp_dir("victim");
    std::fs::create_dir(elsewhere.path().join("sub")).unwrap();
    std::fs::write(elsewhere.path().join("important.conf"), "keep").unwrap();
    std::os::unix::fs::symlink(elsewhere.path(), host.path().join("records")).unwrap();
    host.run(&["-d", "true"])
        .assert_error(125, "is not a directory of ours");
    host.sub(&["ps", "-a"])
        .assert_error(1, "is not a directory of ours");
    host.sub(&["rm", "-f", "sub"])
        .assert_error(1, "is not a directory of ours");
    assert!(elsewhere.path().join("sub").exists());
    assert_eq!(
        std::fs::read_to_string(elsewhere.path().join("important.conf")).unwrap(),
        "keep"
    );
}

#[test]
fn create_records_a_container_and_start_runs_it() {
    let host = Host::new();
    let tar = workshop_tests::tarballs::tar_of_dir(workshop_tests::test_rootfs());
    let import = host.sub(&["import", tar.path().to_str().unwrap(), "--name", "bb"]);
    assert_eq!(import.code, Some(0), "{import:?}");
    let made = host.run(&[
        "create",
        "--name",
        "later",
        "bb",
        "sh",
        "-c",
        "echo started; touch /made",
    ]);
    assert_eq!(made.code, Some(0), "{made:?}");
    let id = made.stdout.trim();
    // The record alone: no monitor, no writable layer yet.
    let state = host.state(id);
    assert_eq!(
        (state["status"].as_str(), state["monitor_pid"].as_i64()),
        (Some("created"), Some(0))
    );
    assert!(!host.path().join("overlay/later").exists());
    assert!(host.sub(&["ps", "-a"]).stdout.contains(" Created "));
    assert_eq!(
        host.sub(&["ps"]).stdout.lines().count(),
        1,
        "only the header"
    );
    // What run refuses, create refuses, and records nothing more.
    host.run(&["create", "--name", "later", "bb", "true"])
        .assert_error(125, "is in use");
    host.run(&["create", "--memory", "1x", "bb", "true"])
        .assert_error(125, "hint: 10-runtime create --help");
    // Its help is create's, over run's flags.
    let help = host.sub(&["create", "--help"]);
    assert!(
        help.stdout
            .contains("Usage: 10-runtime create [OPTIONS] IMAGE")
            && help.stdout.contains("--memory"),
        "{help:?}"
    );
    host.run(&["create", "--dry-run", "bb", "true"])
        .assert_error(125, "--dry-run");
    assert_eq!(host.ids().len(), 1);
    host.sub(&["kill", "later"])
        .assert_error(1, "is not running");
    // Its image stays while it waits: it has no writable layer on it yet.
    host.sub(&["rmi", "bb"])
        .assert_error(125, "is in use by container later");
    assert!(host.sub(&["images"]).stdout.contains("bb"));
    // An earlier step's hint names the command that works here: ours.
    host.sub(&["rmi", "nosuch"])
        .assert_error(125, "(10-runtime pull nosuch)");
    // A waiting one is removed without -f: nothing runs.
    let other = host.run(&["create", "--name", "never", "bb", "true"]);
    assert_eq!(other.code, Some(0), "{other:?}");
    let rm = host.sub(&["rm", "never"]);
    assert_eq!(rm.code, Some(0), "{rm:?}");
    assert_eq!(host.ids(), [id.to_string()]);
    // start: its first run, detached, on a new writable layer.
    let start = host.sub(&["start", "later"]);
    assert_eq!(
        (start.code, start.stdout.as_str()),
        (Some(0), "later\n"),
        "{start:?}"
    );
    host.wait_until("the container to exit", || {
        host.state(id)["status"] == "exited"
    });
    assert_eq!(host.state(id)["exit_code"], 0);
    assert_eq!(host.sub(&["logs", "later"]).stdout, "started\n");
    // And once it has exited: its next `start` finds the image by name.
    host.sub(&["rmi", "bb"])
        .assert_error(125, "is in use by container later");
    let diff = host.sub(&["diff", "later"]);
    assert!(diff.stdout.contains("A /made"), "{diff:?}");
    // By id, or the start of one, as every other command takes it.
    assert_eq!(host.sub(&["diff", &id[..6]]).stdout, diff.stdout);
    // And again, on that layer.
    assert_eq!(host.sub(&["start", "later"]).code, Some(0));
    host.wait_until("the second run to exit", || {
        host.state(id)["status"] == "exited" && host.state(id)["monitor_pid"] != 0
    });
    host.wait_until("the second run's line", || {
        host.sub(&["logs", "later"]).stdout == "started\nstarted\n"
    });
    let rm = host.sub(&["rm", "later"]);
    assert_eq!(rm.code, Some(0), "{rm:?}");
    assert!(!host.record(id).exists());
    assert!(!host.path().join("overlay/later").exists());
    // A writable layer another step's run kept under a waiting container's
    // name is not its own: its first start refuses the name, and leaves
    // that layer as it was.
    let made = host.run(&["create", "--name", "taken", "bb", "true"]);
    assert_eq!(made.code, Some(0), "{made:?}");
    let foreign = host.path().join("overlay/taken");
    std::fs::create_dir_all(&foreign).unwrap();
    std::fs::write(foreign.join("owner"), "0123456789ab").unwrap();
    host.sub(&["start", "taken"])
        .assert_error(1, "a container named \"taken\" exists");
    assert_eq!(
        std::fs::read_to_string(foreign.join("owner")).unwrap(),
        "0123456789ab",
        "adopted"
    );
    std::fs::remove_dir_all(&foreign).unwrap();
    assert_eq!(host.sub(&["rm", "taken"]).code, Some(0));
}
