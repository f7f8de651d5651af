//! Step 06's bridge under use: published ports (on localhost too, and
//! hairpin), twenty containers at once, and what a killed run leaves.

mod common;

use std::io::Read;
use std::net::TcpStream;
use std::process::Stdio;
use std::time::Duration;

use common::{PATIENCE, bridged_sh, eth0_address, eventually, in_host};
use workshop_tests::{ChildExt, CommandExt, Lines, TestNetns, collect};

/// A published port answers on the host's addresses, `curl localhost:8080`
/// (as every Docker user types it) included, and to another container on
/// the bridge (hairpin); its rules go with the container, and `--cleanup`
/// puts the host's forwarding back as it was.
#[test]
fn a_published_port_answers_on_localhost_and_to_other_containers() {
    let host = TestNetns::new("localhost");
    assert_eq!(forwarding(&host), "0", "a new namespace does not forward");
    let mut server = in_host(
        &host,
        &[
            "-q",
            "--network",
            "bridge",
            "-p",
            "18088:80",
            "/bin/sh",
            "-c",
            "for i in 1 2 3; do echo served | nc -l -p 80; done",
        ],
    )
    .spawn()
    .unwrap();
    // From the host itself, to its own addresses: the OUTPUT chain's DNAT.
    assert_eq!(answer_on(&host, "10.88.0.1:18088"), "served\n");
    assert_eq!(answer_on(&host, "127.0.0.1:18088"), "served\n");
    // The server still runs: --cleanup must not take its bridge away.
    let refused = collect(in_host(&host, &["--cleanup"]).output_bounded());
    refused.assert_error(125, "still run on this host's bridge");
    assert_eq!(forwarding(&host), "1", "left on for the live container");
    // route_localnet lets 127.0.0.1 out by the bridge; nothing may come in
    // to it that way (a container's forged packet: CVE-2020-8558).
    let raw =
        || String::from_utf8_lossy(&host.run("iptables", &["-t", "raw", "-S"]).stdout).into_owned();
    assert!(
        raw().contains("-A PREROUTING -d 127.0.0.0/8 -i wsbr0") && raw().contains("-j DROP"),
        "{}",
        raw()
    );
    let client = bridged_sh(&host, "nc -w 5 10.88.0.1 18088");
    assert_eq!(client.stdout, "served\n", "{client:?}");
    assert_eq!(server.wait_bounded().unwrap().code(), Some(0));
    // The DNAT rules went with the container.
    let rules =
        String::from_utf8_lossy(&host.run("iptables", &["-t", "nat", "-S"]).stdout).into_owned();
    assert!(!rules.contains("-j DNAT"), "{rules}");
    assert_eq!(forwarding(&host), "1");
    let run = collect(in_host(&host, &["--cleanup"]).output_bounded());
    assert_eq!(run.code, Some(0), "{run:?}");
    assert!(
        run.stderr.contains("putting a host setting back"),
        "{run:?}"
    );
    assert_eq!(forwarding(&host), "0", "as it was");
    assert!(!raw().contains("container-workshop"), "{}", raw());
}

/// What a server at `address` says, from inside `host` (retried until it
/// answers, within the test's patience).
fn answer_on(host: &TestNetns, address: &str) -> String {
    let address: std::net::SocketAddr = address.parse().unwrap();
    host.thread(move || {
        eventually(&format!("an answer on {address}"), || {
            let mut conn = TcpStream::connect_timeout(&address, Duration::from_secs(1)).ok()?;
            conn.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
            let mut text = String::new();
            conn.read_to_string(&mut text).ok()?;
            (!text.is_empty()).then_some(text)
        })
    })
    .join()
    .unwrap()
}

/// The namespace's net.ipv4.ip_forward.
fn forwarding(host: &TestNetns) -> String {
    let out = host.run("cat", &["/proc/sys/net/ipv4/ip_forward"]);
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn twenty_containers_at_once_get_twenty_addresses_and_leave_nothing() {
    let host = TestNetns::new("twenty");
    // Each container says its address, then waits for its stdin to close:
    // all twenty live at once, however slowly they start.
    let mut runtimes: Vec<_> = (0..20)
        .map(|_| {
            in_host(
                &host,
                &[
                    "-q",
                    "-i",
                    "--network",
                    "bridge",
                    "/bin/sh",
                    "-c",
                    "ip -4 -o addr show eth0; read x || true",
                ],
            )
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
        })
        .collect();
    let lines: Vec<_> = runtimes
        .iter_mut()
        .map(|r| workshop_tests::bounded::Lines::of(r.stdout.take().unwrap()))
        .collect();
    let mut addresses: Vec<_> = lines
        .iter()
        .map(|l| {
            l.find(PATIENCE, "the container's address", |line| {
                line.contains("eth0").then(|| eth0_address(line))
            })
        })
        .collect();
    for mut runtime in runtimes {
        drop(runtime.stdin.take()); // all have their address: end them
        let status = runtime.wait_bounded().unwrap();
        assert!(status.success(), "{status:?}");
    }
    addresses.sort();
    addresses.dedup();
    assert_eq!(addresses.len(), 20, "distinct addresses: {addresses:?}");
    // Only the bridge stays; every veth went with its container.
    let links = host.ip(&["-br", "link"]);
    let names: Vec<_> = links
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert_eq!(names, ["lo", "wsbr0"], "{links}");

    // --cleanup removes the bridge and the rules.
    let run = collect(in_host(&host, &["--cleanup"]).output_bounded());
    assert_eq!(run.code, Some(0), "{run:?}");
    assert_eq!(host.ip(&["-br", "link"]).lines().count(), 1, "only lo");
    let rules =
        String::from_utf8_lossy(&host.run("iptables", &["-t", "nat", "-S"]).stdout).into_owned();
    assert!(!rules.contains("container-workshop"), "{rules}");
}

#[test]
fn what_a_killed_run_leaves_is_removed_by_the_next() {
    let host = TestNetns::new("crash");
    let mut runtime = in_host(
        &host,
        &["--network", "bridge", "-p", "8082:80", "/bin/sleep", "30"],
    )
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    // Read the trace until the namespace is bound: that line names the id.
    let trace = Lines::of(runtime.stderr.take().unwrap());
    let id = trace.find(PATIENCE, "the netns bind mount in the trace", |line| {
        // Its own bind mount (not the sweep of another run's, umount2).
        if !line.contains("mount(\"/proc/") {
            return None;
        }
        let at = line.find("/run/netns/ws-")?;
        Some(line[at + 14..at + 26].to_string())
    });
    // Wait for the DNAT rules, then kill the runtime: no cleanup happens.
    let nat =
        || String::from_utf8_lossy(&host.run("iptables", &["-t", "nat", "-S"]).stdout).into_owned();
    eventually("the DNAT rules", || {
        nat()
            .contains(&format!("container-workshop:{id}"))
            .then_some(())
    });
    runtime.kill().unwrap();
    runtime.wait_bounded().unwrap();
    // The killed run left its namespace file. The next run removes it, or
    // a run of another test did first (/run/netns is the whole host's, and
    // any run sweeps a dead run's): either way it is gone after the next.
    let netns_file = std::path::PathBuf::from(format!("/run/netns/ws-{id}"));
    let run = collect(in_host(&host, &["--network", "bridge", "/bin/true"]).output_bounded());
    assert_eq!(run.code, Some(0), "{run:?}");
    assert!(!netns_file.exists());
    assert!(!nat().contains(&id), "its DNAT rules are gone:\n{}", nat());
    // Without its namespace, its veth pair is gone too.
    eventually("its veth pair gone", || {
        (!host.ip(&["-br", "link"]).contains(&id[..8])).then_some(())
    });
}
