//! Step 06, run as a learner runs it, each scenario inside a network
//! namespace the test makes, which plays the host (and one more for "the
//! internet"): no bridge, route or rule ever touches the real network.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::time::Duration;

use workshop_tests::{
    ChildExt, CommandExt, Lines, TestNetns, accept_within, collect, full_trace_redactions,
    regex_escape, run_step, step_command, test_rootfs,
};

const BIN: &str = env!("CARGO_BIN_EXE_06-netns-veth");

// What every step promises (exit codes, errors, stdin, signals, ...).
workshop_tests::step_contract_tests!(BIN);
workshop_tests::step_bad_input_tests!(BIN, [LIMITS, VOLUMES, NETWORK]);
workshop_tests::step_escape_tests!(BIN, cgroups, mounts);
workshop_tests::step_fault_tests!(
    BIN,
    no_network: ["--network", "none"],
    bridge: ["--network", "bridge", "-p", "18080:80"],
);

/// The step, in the test's "host" namespace, with `args`.
fn in_host(host: &TestNetns, args: &[&str]) -> Command {
    let mut cmd = step_command(BIN, test_rootfs());
    cmd.args(args);
    host.command(&cmd)
}

/// The IPv4 address on eth0 in `ip -4 -o addr` output.
fn eth0_address(output: &str) -> Ipv4Addr {
    output
        .lines()
        .find(|l| l.contains("eth0") && l.contains("inet "))
        .and_then(|l| l.split("inet ").nth(1)?.split('/').next()?.parse().ok())
        .unwrap_or_else(|| panic!("no eth0 address in:\n{output}"))
}

/// How long a test waits for a connection, an answer or a rule.
const PATIENCE: Duration = Duration::from_secs(15);

/// Runs `f` until it returns Some, for up to [`PATIENCE`].
#[track_caller]
fn eventually<T>(what: &str, f: impl FnMut() -> Option<T>) -> T {
    workshop_tests::eventually(PATIENCE, what, f)
}

#[test]
fn none_has_only_lo_up_and_no_route() {
    let host = TestNetns::new("none");
    let run = collect(
        in_host(
            &host,
            &[
                "-q",
                "--network",
                "none",
                "/bin/sh",
                "-c",
                "ip -o link; echo routes:; ip route",
            ],
        )
        .output_bounded(),
    );
    assert_eq!(run.code, Some(0), "{run:?}");
    let links: Vec<_> = run.stdout.lines().take_while(|l| *l != "routes:").collect();
    assert_eq!(links.len(), 1, "only lo: {}", run.stdout);
    assert!(
        links[0].contains("lo:") && links[0].contains("UP"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.ends_with("routes:\n"),
        "no route: {}",
        run.stdout
    );
}

#[test]
fn bridge_gives_an_address_a_route_and_the_way_out() {
    let host = TestNetns::new("bridge");
    // A server on the host side, listening before the bridge even exists.
    let server = host.thread(|| {
        let listener = TcpListener::bind("0.0.0.0:7000").unwrap();
        let (mut conn, peer) = accept_within(&listener, PATIENCE, "the container's nc");
        let mut line = String::new();
        BufReader::new(&conn).read_line(&mut line).unwrap();
        conn.write_all(format!("host got {}", line).as_bytes())
            .unwrap();
        peer
    });
    let script = "ip -4 -o addr; ip route; echo hello | nc -w 2 10.88.0.1 7000";
    let run = collect(
        in_host(
            &host,
            &["-q", "--network", "bridge", "/bin/sh", "-c", script],
        )
        .output_bounded(),
    );
    assert_eq!(run.code, Some(0), "{run:?}");
    let address = eth0_address(&run.stdout);
    assert!(
        "10.88.0.0/16"
            .parse::<step06_netns_veth::ipam::Subnet>()
            .unwrap()
            .contains(address)
    );
    assert!(
        run.stdout.contains("default via 10.88.0.1 dev eth0"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("host got hello"), "{}", run.stdout);
    assert_eq!(
        server.join().unwrap().ip(),
        address,
        "the server saw the container's address"
    );
}

#[test]
fn two_containers_get_different_addresses_and_reach_each_other() {
    let host = TestNetns::new("pair");
    let mut server = in_host(
        &host,
        &[
            "-q",
            "--network",
            "bridge",
            "/bin/sh",
            "-c",
            "ip -4 -o addr show eth0; echo from-a | nc -l -p 80",
        ],
    )
    .stdout(Stdio::piped())
    .spawn()
    .unwrap();
    let first_line = Lines::of(server.stdout.take().unwrap())
        .next_within(PATIENCE)
        .expect("the first container prints its address");
    let a = eth0_address(&first_line);
    let script = format!("ip -4 -o addr show eth0; nc -w 2 {a} 80 </dev/null");
    let run = eventually("the second container reaches the first", || {
        let run = collect(
            in_host(
                &host,
                &["-q", "--network", "bridge", "/bin/sh", "-c", &script],
            )
            .output_bounded(),
        );
        run.stdout.contains("from-a").then_some(run)
    });
    let b = eth0_address(&run.stdout);
    assert_ne!(a, b);
    let _ = server.wait_bounded();
}

#[test]
fn traffic_to_the_internet_leaves_with_the_hosts_address() {
    let host = TestNetns::new("nat-host");
    let internet = TestNetns::new("nat-net");
    // A cable from "the host" to "the internet", and a route out.
    host.ip(&[
        "link",
        "add",
        "wsk-up0",
        "type",
        "veth",
        "peer",
        "name",
        "wsk-up1",
        "netns",
        &internet.name,
    ]);
    host.ip(&["addr", "add", "192.0.2.1/24", "dev", "wsk-up0"]);
    host.ip(&["link", "set", "wsk-up0", "up"]);
    internet.ip(&["addr", "add", "192.0.2.2/24", "dev", "wsk-up1"]);
    internet.ip(&["link", "set", "wsk-up1", "up"]);
    host.ip(&["route", "add", "default", "via", "192.0.2.2"]);
    // The internet's server answers with the address it sees.
    let server = internet.thread(|| {
        let listener = TcpListener::bind("192.0.2.2:9000").unwrap();
        let (mut conn, peer) = accept_within(&listener, PATIENCE, "the container, through NAT");
        conn.write_all(format!("you are {}\n", peer.ip()).as_bytes())
            .unwrap();
    });
    let run = bridged_sh(&host, "nc -w 3 192.0.2.2 9000 </dev/null");
    server.join().unwrap();
    assert_eq!(run.code, Some(0), "{run:?}");
    assert_eq!(
        run.stdout, "you are 192.0.2.1\n",
        "MASQUERADE put the host's address on it"
    );
}

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

/// Runs `script` in a container on the bridge, in `host`.
fn bridged_sh(host: &TestNetns, script: &str) -> workshop_tests::Run {
    collect(
        in_host(
            host,
            &["-q", "--network", "bridge", "/bin/sh", "-c", script],
        )
        .output_bounded(),
    )
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

#[test]
fn a_subnet_that_collides_with_a_route_is_refused() {
    let host = TestNetns::new("collide");
    host.ip(&[
        "link",
        "add",
        "wsk-taken",
        "type",
        "veth",
        "peer",
        "name",
        "wsk-taken1",
    ]);
    host.ip(&["link", "set", "wsk-taken", "up"]);
    host.ip(&["route", "add", "10.88.0.0/24", "dev", "wsk-taken"]);
    let run = collect(in_host(&host, &["--network", "bridge", "/bin/true"]).output_bounded());
    run.assert_error(
        125,
        "subnet 10.88.0.0/16 overlaps a route of this host (10.88.0.0/24 on wsk-taken)",
    );
    let run = collect(
        in_host(
            &host,
            &[
                "--network",
                "bridge",
                "--subnet",
                "10.123.0.0/16",
                "/bin/true",
            ],
        )
        .output_bounded(),
    );
    assert_eq!(run.code, Some(0), "another subnet works: {run:?}");
}

#[test]
fn bridge_mode_plans_without_root_and_refuses_to_run_without_it() {
    let plan = workshop_tests::as_nobody(&step_command(BIN, test_rootfs()))
        .args([
            "--dry-run",
            "--network",
            "bridge",
            "-p",
            "8080:80",
            "/bin/true",
        ])
        .output_bounded();
    let run = collect(plan);
    assert_eq!(run.code, Some(0), "{run:?}");
    for step in [
        "RTM_NEWLINK veth",
        "RTM_NEWROUTE default via 10.88.0.1",
        "--dport 8080 -j DNAT",
    ] {
        assert!(
            run.stderr.contains(step),
            "the plan shows {step}:\n{}",
            run.stderr
        );
    }
    let run = collect(
        workshop_tests::as_nobody(&step_command(BIN, test_rootfs()))
            .args(["--network", "bridge", "/bin/true"])
            .output_bounded(),
    );
    run.assert_error(125, "--network bridge needs root on the host");
}

#[test]
fn bad_network_arguments_are_refused() {
    let run = run_step(BIN, &["--network", "none", "-p", "8080:80", "/bin/true"]);
    run.assert_error(125, "-p needs --network bridge");
    let run = run_step(BIN, &["--subnet", "10.88.0.1/16", "/bin/true"]);
    run.assert_error(125, "host bits are set");
    let run = run_step(BIN, &["-p", "80", "/bin/true"]);
    run.assert_error(125, "HOSTPORT:CONTAINERPORT");
}

#[test]
fn inside_view_and_trace_snapshots() {
    let host = TestNetns::new("snap");
    let run = collect(
        in_host(
            &host,
            &[
                "--hostname",
                "netted",
                "--network",
                "bridge",
                "-p",
                "8080:80",
                "/bin/sh",
                "-c",
                "ip addr; ip route",
            ],
        )
        .output_bounded(),
    );
    assert_eq!(run.code, Some(0), "{run:?}");
    let address = eth0_address(&run.stdout).to_string();
    let mut settings = full_trace_redactions(test_rootfs());
    settings.add_filter(&regex_escape(&address), "[CONTAINER IP]");
    settings.add_filter(r"([0-9a-f]{2}:){5}[0-9a-f]{2}", "[MAC]");
    settings.add_filter(r"fe80::[0-9a-f:]+", "[LINK-LOCAL]");
    settings.add_filter(r"eth0@if\d+", "eth0@if[N]");
    settings.add_filter(r"(?m)^(\d+): ", "[N]: ");
    settings.add_filter(r" tentative", "");
    settings.add_filter(r"ws[vc]-[0-9a-f]{8}", "[VETH]");
    settings.add_filter(r"\(pid \d+\)", "(pid [PID])");
    settings.bind(|| {
        insta::assert_snapshot!("inside", run.stdout);
        insta::assert_snapshot!(
            "trace",
            workshop_tests::without_others_leftovers(&run.stderr)
        );
    });
}

/// Rootless, `--network none` works, as its hint says: the container,
/// root of its own namespaces, brings its `lo` up itself (we may not enter
/// them).
#[test]
fn network_none_works_rootless() {
    let rootfs = workshop_tests::RootfsCopy::new().open_to_all();
    let open = workshop_tests::temp_dir("tmp");
    let everyone = std::os::unix::fs::PermissionsExt::from_mode(0o777);
    std::fs::set_permissions(open.path(), everyone).unwrap();
    let mut cmd = workshop_tests::step_command_in(BIN, rootfs.path(), &open.path().join("state"));
    cmd.args(["--network", "none", "/bin/sh", "-c", "ip link show lo"]);
    let run = collect(workshop_tests::as_nobody(&cmd).output_bounded());
    assert_eq!(run.code, Some(0), "{run:?}");
    assert!(run.stdout.contains(",UP"), "{run:?}");
    assert!(run.stderr.contains("SIOCSIFFLAGS"), "{run:?}");
}
