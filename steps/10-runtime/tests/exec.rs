//! `exec`: a new process in a running container, in its namespaces and
//! cgroup, held to what its first process is held to; exit codes as
//! Docker's; run from a copy of the runtime nobody can write (CVE-2019-5736).

mod common;

use common::Host;

/// For each namespace, the exec'd process's and the container's PID 1's,
/// side by side; then their cgroups, id maps and security state.
const COMPARE: &str = r#"
for ns in cgroup ipc mnt net pid user uts; do
  echo "$ns $(readlink /proc/self/ns/$ns) $(readlink /proc/1/ns/$ns)"
done
echo "cgroup $(cat /proc/self/cgroup | tr '\n' ' ')|$(cat /proc/1/cgroup | tr '\n' ' ')"
echo "uid_map $(cat /proc/self/uid_map | tr -s ' ')|$(cat /proc/1/uid_map | tr -s ' ')"
for f in CapBnd CapEff CapPrm NoNewPrivs Seccomp; do
  echo "$f $(grep "^$f:" /proc/self/status | cut -f2)|$(grep "^$f:" /proc/1/status | cut -f2)"
done
"#;

#[test]
fn exec_joins_the_containers_namespaces_cgroup_and_confinement() {
    let host = Host::new();
    let id = host.detach(&[
        "--cap-drop",
        "ALL",
        "--cap-add",
        "KILL",
        "--security-opt",
        "no-new-privileges",
        "--",
        "/bin/sleep",
        "1000",
    ]);
    let run = host.sub(&["exec", "-q", &id, "sh", "-c", COMPARE]);
    assert_eq!(run.code, Some(0), "{run:?}");
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines.len(), 7 + 2 + 5, "{run:?}");
    for line in &lines[..7] {
        let words: Vec<&str> = line.split(' ').collect();
        assert_eq!(words[1], words[2], "the same namespace: {line}");
    }
    for line in &lines[7..] {
        let (ours, theirs) = line.split_once('|').unwrap();
        let ours = ours.split_once(' ').unwrap().1;
        assert_eq!(ours, theirs, "the same as the container's: {line}");
    }
    // And what that is: KILL alone, no_new_privs, a filter; container root
    // is not host root.
    let status = |name: &str| {
        let line = lines.iter().find(|l| l.starts_with(name)).unwrap();
        line.split_once('|').unwrap().1.to_string()
    };
    assert_eq!(status("CapEff"), "0000000000000020");
    assert_eq!(status("NoNewPrivs"), "1");
    assert_eq!(status("Seccomp"), "2");
    assert!(
        !status("uid_map").starts_with(" 0 0 "),
        "{}",
        status("uid_map")
    );
    // The exec'd process's parent is outside the container: PID 1 is the
    // container's own command.
    let pid1 = host.sub(&["exec", "-q", &id, "cat", "/proc/1/cmdline"]);
    assert_eq!(pid1.stdout, "/bin/sleep\u{0}1000\u{0}", "{pid1:?}");
}

#[test]
fn exec_takes_user_workdir_environment_and_gives_the_exit_code() {
    let host = Host::new();
    let id = host.detach(&["-e", "FROM_RUN=r", "sleep", "1000"]);
    let run = host.sub(&[
        "exec",
        "-q",
        "-u",
        "65534:65534",
        "-w",
        "/tmp",
        "-e",
        "FROM_EXEC=x",
        &id,
        "sh",
        "-c",
        "id -u; id -g; pwd; echo $FROM_RUN $FROM_EXEC; exit 7",
    ]);
    assert_eq!(run.code, Some(7), "{run:?}");
    assert_eq!(run.stdout, "65534\n65534\n/tmp\nr x\n", "{run:?}");
    let missing = host.sub(&["exec", "-q", &id, "/no/such"]);
    missing.assert_error(127, "/no/such");
    // Where to look: the container's root as the host sees it, not a
    // rootfs of the command line's.
    let root = format!(
        "look with: ls /proc/{}/root/no/such",
        host.state(&id)["pid"]
    );
    assert!(missing.stderr.contains(&root), "{missing:?}");
    let not_executable = host.sub(&["exec", "-q", &id, "/etc/passwd"]);
    assert_eq!(not_executable.code, Some(126), "{not_executable:?}");
    // ANCHOR: workdir
    // A directory that is not there stops an exec, as Docker's (126), and
    // the exec does not make it, as `run -w` would.
    let nowhere = host.sub(&["exec", "-q", "-w", "/no/such/dir", &id, "true"]);
    nowhere.assert_error(126, "\"/no/such/dir\" cannot be entered");
    let root = format!("/proc/{}/root", host.state(&id)["pid"]);
    let made = format!("{root}/no");
    assert!(!std::path::Path::new(&made).exists(), "exec made {made}");
    // The path is made plain first, as run's is: `/tmp/l/../bin` is
    // `/tmp/bin`, though /tmp/l links to /etc and /etc/../bin is there.
    let link = host.sub(&["exec", &id, "ln", "-s", "/etc", "/tmp/l"]);
    assert_eq!(link.code, Some(0), "{link:?}");
    let through = host.sub(&["exec", "-q", "-w", "/tmp/l/../bin", &id, "true"]);
    through.assert_error(126, "\"/tmp/bin\" cannot be entered");
    assert!(!std::path::Path::new(&format!("{root}/tmp/bin")).exists());
    // ANCHOR_END: workdir
    // A relative one is refused before anything starts, as run's -w is.
    let relative = host.sub(&["exec", "-w", "tmp", &id, "true"]);
    relative.assert_error(125, "\"tmp\" is not an absolute path");
    // Its hint points at the help of the subcommand, where -w is.
    assert!(
        relative.stderr.contains("hint: 10-runtime exec --help"),
        "{relative:?}"
    );
    // The container goes on: an exec's end is not the container's.
    assert_eq!(host.state(&id)["status"], "running");
}

#[test]
fn exec_is_refused_for_a_container_that_is_not_running() {
    let host = Host::new();
    host.sub(&["exec", "nope", "true"])
        .assert_error(1, "no such container: nope");
    let id = host.detach(&["true"]);
    host.wait_until("the container to exit", || {
        host.state(&id)["status"] == "exited"
    });
    host.sub(&["exec", &id, "true"])
        .assert_error(1, "is not running");
    // A run flag beside exec is refused, not ignored.
    host.sub(&["--privileged", "exec", &id, "true"])
        .assert_error(125, "--privileged is for running a container");
}

#[test]
fn exec_starts_in_the_images_workdir_and_stops_if_it_is_gone() {
    use workshop_tests::registry::{ImageConfig, Layout, Registry, push, single_layer};
    let host = Host::new();
    let registry = Registry::start();
    let layout = workshop_tests::temp_dir("layout");
    let config = ImageConfig {
        working_dir: Some("/srv/app".into()),
        ..ImageConfig::default()
    };
    single_layer(&mut Layout::new(layout.path()), "v1", &config);
    push(layout.path(), "v1", registry.addr(), "wd", &[]);
    let image = format!("{}/wd:v1", registry.addr());
    let pull = host.sub(&["pull", &image]);
    assert_eq!(pull.code, Some(0), "{pull:?}");
    // run makes the image's WorkingDir; an exec starts there.
    let run = host.run(&["run", "-d", &image, "sleep", "1000"]);
    assert_eq!(run.code, Some(0), "{run:?}");
    let id = run.stdout.trim();
    let pwd = host.sub(&["exec", "-q", id, "pwd"]);
    assert_eq!((pwd.code, pwd.stdout.as_str()), (Some(0), "/srv/app\n"));
    // Gone, it stops an exec, and the exec does not put it back.
    let gone = host.sub(&["exec", "-q", "-w", "/", id, "rmdir", "/srv/app"]);
    assert_eq!(gone.code, Some(0), "{gone:?}");
    host.sub(&["exec", "-q", id, "pwd"])
        .assert_error(126, "\"/srv/app\" cannot be entered");
    let root = format!("/proc/{}/root", host.state(id)["pid"]);
    assert!(!std::path::Path::new(&format!("{root}/srv/app")).exists());
    // As the hint says.
    let back = host.sub(&["exec", "-q", "-w", "/", id, "mkdir", "-p", "/srv/app"]);
    assert_eq!(back.code, Some(0), "{back:?}");
    let pwd = host.sub(&["exec", "-q", id, "pwd"]);
    assert_eq!(pwd.stdout, "/srv/app\n", "{pwd:?}");
}

// ANCHOR: sealed
#[test]
fn exec_runs_from_a_copy_that_a_container_cannot_write() {
    use std::os::unix::fs::FileExt;
    let host = Host::new();
    let id = host.detach(&["sleep", "1000"]);
    let mut exec = host.sub_command(&["exec", "-q", &id, "sleep", "5"]);
    let mut child = exec.spawn().unwrap();
    let exe = format!("/proc/{}/exe", child.id());
    // Its copy: a read-only mount that is in no table (the link reads
    // "/"), or a memfd.
    host.wait_until("exec to run from its copy", || {
        std::fs::read_link(&exe).is_ok_and(|l| l.as_os_str() == "/" || l.starts_with("/memfd:"))
    });
    // Not even host root can make that mount writable again: it is in no
    // mount namespace (runc's bind mount of 2019 was, and a container with
    // CAP_SYS_ADMIN could remount it).
    // (mount(2) itself: mount(8) would resolve the link's text, "/".)
    let remount = nix::mount::mount(
        None::<&str>,
        exe.as_str(),
        None::<&str>,
        nix::mount::MsFlags::MS_REMOUNT | nix::mount::MsFlags::MS_BIND,
        None::<&str>,
    );
    assert_eq!(
        remount,
        Err(nix::errno::Errno::EINVAL),
        "a mount outside our namespace"
    );
    // What a container that reached it would do: keep a descriptor, wait
    // until the program has exited (while it runs, any write is ETXTBSY),
    // then open it again for writing, through /proc/self/fd.
    let kept = std::fs::File::open(&exe).unwrap();
    let _ = child.kill();
    let _ = child.wait();
    let again = format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(&kept));
    let wrote = std::fs::OpenOptions::new()
        .write(true)
        .open(&again)
        // The byte that is there already (ELF's magic): a runtime without
        // the protection fails this test without being damaged by it.
        .and_then(|file| file.write_at(b"\x7f", 0));
    assert!(
        wrote.is_err(),
        "the runtime's binary took a write: {wrote:?}"
    );
}
// ANCHOR_END: sealed

#[test]
fn exec_it_gives_a_terminal_in_the_container() {
    let host = Host::new();
    let id = host.detach(&["sleep", "1000"]);
    let cmd = host.sub_command(&["exec", "-q", "-it", &id, "/bin/sh"]);
    let typed = b"tty; echo pts: $(ls /dev/pts); exit 4\n";
    let run = workshop_tests::contract::command_on_a_terminal(&cmd, typed);
    assert_eq!(run.code, Some(4), "{run:?}");
    // A pty of the container's own devpts (where it is the only one), not
    // the caller's terminal.
    assert!(run.stdout.contains("/dev/pts/0"), "{run:?}");
    assert!(run.stdout.contains("pts: 0 ptmx"), "{run:?}");
}
