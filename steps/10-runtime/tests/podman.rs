//! `10-runtime-oci` driven by a real engine: podman 4 with conmon calls it
//! as it calls runc (`podman --runtime /abs/10-runtime-oci`), on a busybox
//! image and on a Debian one. Each test has a podman of its own (storage,
//! configuration and network namespace: tests/src/engines.rs).

use std::path::Path;
use std::time::Duration;

use workshop_tests::engines::{OCI_ROOT, Podman, debian_rootfs_tar};
use workshop_tests::registry::images::rootfs_tar;
use workshop_tests::{CommandExt, eventually};

const OCI: &str = env!("CARGO_BIN_EXE_10-runtime-oci");
const BUSYBOX: &str = "localhost/wsk-busybox";

/// A podman with the test rootfs imported as [`BUSYBOX`].
fn podman(tag: &str) -> Podman {
    let podman = Podman::new(tag, OCI);
    let tar = podman.dir().join("busybox.tar");
    std::fs::write(&tar, rootfs_tar()).unwrap();
    podman.import(&tar, BUSYBOX);
    podman
}

/// What our runtime keeps for a container (in its default `--root`):
/// proof that podman ran it with ours.
fn ours_ran(id: &str) -> bool {
    Path::new(OCI_ROOT).join(id).join("state.json").exists()
}

#[test]
fn podman_runs_a_container_its_output_environment_and_exit_code_come_back() {
    let podman = podman("run");
    let cidfile = podman.dir().join("cid");
    let run = podman.run(&[
        "--rm",
        "--cidfile",
        cidfile.to_str().unwrap(),
        "--network",
        "none",
        "-e",
        "GREETING=hello from podman",
        BUSYBOX,
        "sh",
        "-c",
        "echo \"$GREETING\"; echo to-stderr >&2; exit 3",
    ]);
    assert_eq!(run.code, Some(3), "the container's own exit code: {run:?}");
    assert_eq!(run.stdout, "hello from podman\n", "{run:?}");
    assert!(run.stderr.contains("to-stderr"), "{run:?}");
    // --rm: podman has our runtime delete it (conmon's exit command,
    // `podman container cleanup --rm`, may still be at it).
    let id = std::fs::read_to_string(&cidfile).unwrap();
    eventually(Duration::from_secs(20), "our runtime's delete", || {
        (!Path::new(OCI_ROOT).join(&id).exists()).then_some(())
    });
    let ids = podman.podman(&["ps", "-a", "-q"]);
    assert_eq!(ids.stdout, "", "{ids:?}");
    // A command that is not there: 127, as from a shell (podman reads
    // runc's words in our error).
    let missing = podman.run(&["--rm", "--network", "none", BUSYBOX, "no-such-command"]);
    assert_eq!(missing.code, Some(127), "{missing:?}");
    assert!(missing.stderr.contains("no-such-command"), "{missing:?}");
}

#[test]
fn a_volume_is_shared_and_a_memory_limit_holds() {
    let podman = podman("limits");
    let volume = podman.dir().join("volume");
    std::fs::create_dir(&volume).unwrap();
    std::fs::write(volume.join("in"), "from the host\n").unwrap();
    let bind = format!("{}:/data", volume.display());
    let id = podman.run(&[
        "-d",
        "--network",
        "none",
        "--memory",
        "32m",
        "-v",
        &bind,
        BUSYBOX,
        "sh",
        "-c",
        "cat /data/in > /data/out; echo written >> /data/out; sleep 1000",
    ]);
    assert_eq!(id.code, Some(0), "{id:?}");
    let id = id.stdout.trim();
    assert!(ours_ran(id), "our runtime has no state for {id}");
    // The limit, as the kernel holds it for the container's init.
    let pid = podman.podman(&["inspect", "--format", "{{.State.Pid}}", id]);
    let pid = pid.stdout.trim();
    // podman asks for swap as much as memory (the spec's swap is the
    // total: 64 MiB), as Docker does.
    assert_eq!(memory_limits(pid), (32 << 20, 64 << 20), "pid {pid}");
    eventually(
        Duration::from_secs(20),
        "the container to write /data/out",
        || {
            std::fs::read_to_string(volume.join("out"))
                .ok()
                .filter(|t| t.ends_with("written\n"))
        },
    );
    assert_eq!(
        std::fs::read_to_string(volume.join("out")).unwrap(),
        "from the host\nwritten\n"
    );
    let rm = podman.remove(id);
    assert_eq!(rm.code, Some(0), "{rm:?}");
    // And it holds: 100 MiB into `tail` (which keeps what it reads, having
    // seen no newline) is more than 32 MiB; the kernel's OOM killer ends
    // `tail` (137), or the container's first process with it, whichever
    // it picks: the container then ends with 137. Without the limit, tail
    // would end well (tail=0).
    let oom = podman.run(&[
        "--rm",
        "--network",
        "none",
        "--memory",
        "32m",
        BUSYBOX,
        "sh",
        "-c",
        "head -c 100m /dev/zero | tail > /dev/null; echo tail=$?",
    ]);
    let killed = oom.stdout == "tail=137\n" || (oom.code == Some(137) && oom.stdout.is_empty());
    assert!(killed, "{oom:?}");
}

/// The memory limit of process `pid`'s cgroup, and of memory plus swap,
/// as the kernel holds them (cgroup v1: memory.limit_in_bytes and
/// memory.memsw.limit_in_bytes; v2: memory.max and memory.swap.max).
fn memory_limits(pid: &str) -> (u64, u64) {
    let cgroups = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    let line = |prefix: &str| {
        cgroups
            .lines()
            .find_map(|l| l.split_once(prefix).map(|(_, p)| p.trim_start_matches('/')))
    };
    let read = |path: std::path::PathBuf| -> u64 {
        let text =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        text.trim()
            .parse()
            .unwrap_or_else(|_| panic!("{}: {text}", path.display()))
    };
    let dir = |hierarchy: &str, path: &str| Path::new("/sys/fs/cgroup").join(hierarchy).join(path);
    match line(":memory:") {
        Some(path) => (
            read(dir("memory", path).join("memory.limit_in_bytes")),
            read(dir("memory", path).join("memory.memsw.limit_in_bytes")),
        ),
        None => {
            let path = line("0::").unwrap_or_else(|| panic!("no cgroup in {cgroups}"));
            let memory = read(dir("", path).join("memory.max"));
            (memory, memory + read(dir("", path).join("memory.swap.max")))
        }
    }
}

#[test]
fn a_published_port_answers_and_ps_stop_rm_follow_the_container() {
    let podman = podman("port");
    // On podman's bridge (CNI, in the test's network namespace): a server
    // that answers each connection with a line, and ends on SIGTERM.
    let id = podman.run(&[
        "-d",
        "-p",
        "127.0.0.1:18080:8080",
        BUSYBOX,
        "sh",
        "-c",
        "trap 'exit 0' TERM; while true; do echo hello | nc -l -p 8080 & wait $!; done",
    ]);
    assert_eq!(id.code, Some(0), "{id:?}");
    let id = id.stdout.trim().to_string();
    assert!(ours_ran(&id), "our runtime has no state for {id}");
    let ps = podman.podman(&["ps", "--format", "{{.ID}} {{.Status}} {{.Ports}}"]);
    assert!(
        ps.stdout.starts_with(&id[..12]) && ps.stdout.contains("Up"),
        "{ps:?}"
    );
    assert!(ps.stdout.contains("127.0.0.1:18080->8080/tcp"), "{ps:?}");
    // A client where podman is: the published port answers.
    eventually(
        Duration::from_secs(20),
        "the published port to answer",
        || (connect(&podman, "127.0.0.1:18080") == "hello\n").then_some(()),
    );
    // podman exec: a second conmon calls our `exec --process`; the exec's
    // code comes back, and it ran in the container's namespaces.
    let exec = podman.podman(&[
        "exec",
        &id,
        "sh",
        "-c",
        "readlink /proc/self/ns/pid; readlink /proc/self/ns/net; exit 7",
    ]);
    assert_eq!(exec.code, Some(7), "{exec:?}");
    let pid = podman.podman(&["inspect", "--format", "{{.State.Pid}}", &id]);
    let theirs: Vec<String> = ["pid", "net"]
        .iter()
        .map(|ns| {
            let link = format!("/proc/{}/ns/{ns}", pid.stdout.trim());
            std::fs::read_link(link).unwrap().display().to_string()
        })
        .collect();
    assert_eq!(exec.stdout.lines().collect::<Vec<_>>(), theirs, "{exec:?}");
    let stop = podman.podman(&["stop", "-t", "10", &id]);
    assert_eq!(stop.code, Some(0), "{stop:?}");
    let ps = podman.podman(&["ps", "-a", "--format", "{{.Status}}"]);
    assert!(ps.stdout.starts_with("Exited (0)"), "{ps:?}");
    let rm = podman.podman(&["rm", &id]);
    assert_eq!(rm.code, Some(0), "{rm:?}");
    assert!(!ours_ran(&id), "our runtime kept {id} after rm");
    let ps = podman.podman(&["ps", "-a", "-q"]);
    assert_eq!(ps.stdout, "", "{ps:?}");
}

/// One line from `address`, connecting from podman's network namespace
/// (busybox's nc, as the host may have no other client).
fn connect(podman: &Podman, address: &str) -> String {
    let (host, port) = address.split_once(':').unwrap();
    let out = std::process::Command::new("nsenter")
        .arg(format!("--net=/run/netns/{}", podman.netns().name))
        .args(["busybox", "nc", "-w", "2", host, port])
        .stdin(std::process::Stdio::null())
        .output_within(Duration::from_secs(10));
    out.map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default()
}

#[test]
fn a_debian_image_runs_through_it() {
    let podman = podman("debian");
    podman.import(debian_rootfs_tar(), "localhost/wsk-debian");
    let run = podman.run(&[
        "--rm",
        "--network",
        "none",
        "localhost/wsk-debian",
        "bash",
        "-c",
        "cat /etc/debian_version; dpkg-query -W -f '${Package}\\n' bash; id -un; exit 5",
    ]);
    assert_eq!(run.code, Some(5), "{run:?}");
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert!(
        lines.first().is_some_and(|v| v.starts_with("12.")),
        "Debian 12: {run:?}"
    );
    assert_eq!(lines[1..], ["bash", "root"], "{run:?}");
}

#[test]
fn a_terminal_reaches_the_container_through_conmon() {
    let podman = podman("tty");
    // -t: our runtime made the pty inside and sent its master over the
    // console socket; conmon holds it and relays it to podman.
    let run = podman.run(&[
        "-t",
        "--rm",
        "--network",
        "none",
        BUSYBOX,
        "sh",
        "-c",
        "tty; exit 4",
    ]);
    assert_eq!(run.code, Some(4), "{run:?}");
    assert_eq!(run.stdout.trim(), "/dev/pts/0", "{run:?}");
    // -it from a terminal (script(1) gives podman one): what is typed
    // reaches the shell, and its exit code comes back.
    let cmd = podman.command(&[
        "run",
        "-it",
        "--rm",
        "--network",
        "none",
        "--cgroup-parent",
        &podman.cgroup_parent,
        BUSYBOX,
        "sh",
    ]);
    let typed = b"echo typed-$((6*7)); exit 6\n";
    let run = workshop_tests::contract::typing_later(&cmd, typed, Duration::from_secs(2));
    assert_eq!(run.code, Some(6), "{run:?}");
    assert!(run.stdout.contains("typed-42"), "{run:?}");
}

#[test]
fn a_user_namespace_maps_the_containers_root_elsewhere() {
    let podman = podman("userns");
    // podman gives the image's files to the range, and config.json the
    // maps: step 03's user namespace makes them.
    let run = podman.run(&[
        "--rm",
        "--network",
        "none",
        "--uidmap",
        "0:200000:65536",
        "--gidmap",
        "0:200000:65536",
        BUSYBOX,
        "sh",
        "-c",
        "id -u; cat /proc/self/uid_map /proc/self/gid_map; touch /made-by-root",
    ]);
    assert_eq!(run.code, Some(0), "{run:?}");
    let lines: Vec<Vec<&str>> = run
        .stdout
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(
        lines,
        [
            vec!["0"],
            vec!["0", "200000", "65536"],
            vec!["0", "200000", "65536"]
        ],
        "{run:?}"
    );
    // exec joins it: root inside, the range outside.
    let maps = ["--uidmap", "0:200000:65536", "--gidmap", "0:200000:65536"];
    let id = podman.run(
        &[
            &["-d", "--network", "none"][..],
            &maps,
            &[BUSYBOX, "sleep", "1000"],
        ]
        .concat(),
    );
    assert_eq!(id.code, Some(0), "{id:?}");
    let id = id.stdout.trim();
    let exec = podman.podman(&["exec", id, "sh", "-c", "id -u; cat /proc/self/uid_map"]);
    let words: Vec<&str> = exec.stdout.split_whitespace().collect();
    assert_eq!(words, ["0", "0", "200000", "65536"], "{exec:?}");
    let rm = podman.remove(id);
    assert_eq!(rm.code, Some(0), "{rm:?}");
}
