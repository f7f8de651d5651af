//! Step 06, run as a learner runs it, each scenario inside a network
//! namespace the test makes, which plays the host (and one more for "the
//! internet"): no bridge, route or rule ever touches the real network.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::process::Stdio;

use workshop_tests::{
    ChildExt, CommandExt, Lines, TestNetns, accept_within, collect, full_trace_redactions,
    regex_escape, run_step, step_command, test_rootfs,
};

mod common;

use common::{BIN, PATIENCE, bridged_sh, eth0_address, eventually, in_host};

// What every step promises (exit codes, errors, stdin, signals, ...).
workshop_tests::step_contract_tests!(BIN);
workshop_tests::step_bad_input_tests!(BIN, [LIMITS, VOLUMES, NETWORK]);
workshop_tests::step_escape_tests!(BIN, cgroups, mounts);
workshop_tests::step_fault_tests!(
    BIN,
    no_network: ["--network", "none"],
    bridge: ["--network", "bridge", "-p", "18080:80"],
);

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
    settings.add_filter(&regex_escape(&address), "<container ip>");
    settings.add_filter(r"([0-9a-f]{2}:){5}[0-9a-f]{2}", "<mac>");
    settings.add_filter(r"fe80::[0-9a-f:]+", "[LINK-LOCAL]");
    settings.add_filter(r"eth0@if\d+", "eth0@if<n>");
    settings.add_filter(r"(?m)^(\d+): ", "<n>: ");
    settings.add_filter(r" tentative", "");
    settings.add_filter(r"ws[vc]-[0-9a-f]{8}", "<veth>");
    settings.add_filter(r"\(pid \d+\)", "(pid <pid>)");
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
