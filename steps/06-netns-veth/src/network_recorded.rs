//! The network layer's hooks, recorded (sys.rs in step 01): what is made,
//! in which namespace, in which order, with no root and no network touched.

use super::*;
use step01_chroot::spec::Spec;
use step01_chroot::trace::Trace;

/// Every hook of a bridge run with a published port, recorded: what is
/// made on the host before the clone, what is done in the container's
/// namespace once it exists, and what goes at the end, in this order.
#[test]
fn a_bridge_run_is_wired_then_unwired_in_order() {
    let mut spec = Spec::new("t", "/r".into(), vec![], "/s".into());
    spec.id = "0123456789ab".into();
    let publish = vec!["8080:80".parse().unwrap()];
    let subnet = DEFAULT_SUBNET.parse().unwrap();
    let mut layer = Network::new(Mode::Bridge, DEFAULT_BRIDGE.into(), subnet, publish);
    let (trace, kernel) = Trace::recording();
    let mut cx = ParentCx {
        spec: &mut spec,
        trace,
    };
    layer.prepare(&mut cx).unwrap();
    layer.configure_child(&mut cx, Pid::from_raw(4242)).unwrap();
    layer.cleanup(&mut cx, None).unwrap();
    let (veth, peer) = ("wsv-01234567", "wsc-01234567");
    let netns = "\"/run/netns/ws-0123456789ab\"";
    let rule = |table_action_chain: &str, rule: &str| {
        format!("iptables -t {table_action_chain} {rule} -m comment --comment container-workshop")
    };
    let dnat = |action: &str, chain: &str| {
        format!(
            "iptables -t nat -{action} {chain} -m addrtype --dst-type LOCAL -p tcp --dport 8080 \
             -j DNAT --to-destination 10.88.0.2:80 -m comment --comment \
             container-workshop:0123456789ab"
        )
    };
    let expected = [
        // prepare: the bridge, made once, with forwarding and NAT
        "RTM_NEWLINK bridge wsbr0".to_string(),
        "RTM_NEWADDR wsbr0 10.88.0.1/16".into(),
        "RTM_NEWLINK wsbr0 up".into(),
        r#"write("/proc/sys/net/ipv4/conf/wsbr0/route_localnet", "1")"#.into(),
        r#"write("/proc/sys/net/ipv4/ip_forward", "1")"#.into(),
        rule(
            "nat -A POSTROUTING",
            "-s 10.88.0.0/16 ! -o wsbr0 -j MASQUERADE",
        ),
        rule(
            "nat -A POSTROUTING",
            "-s 127.0.0.0/8 -o wsbr0 -j MASQUERADE",
        ),
        rule("raw -A PREROUTING", "-i wsbr0 -d 127.0.0.0/8 -j DROP"),
        rule(
            "nat -A POSTROUTING",
            "-s 10.88.0.0/16 -o wsbr0 -m conntrack --ctstate DNAT -j MASQUERADE",
        ),
        rule("filter -A FORWARD", "-i wsbr0 -j ACCEPT"),
        rule("filter -A FORWARD", "-o wsbr0 -j ACCEPT"),
        // prepare: this container's cable, one end on the bridge
        format!("RTM_NEWLINK veth {veth} <-> {peer}"),
        format!("RTM_NEWLINK {veth} master wsbr0"),
        format!("RTM_NEWLINK {veth} up"),
        // configure_child: the other end into its namespace, set up there
        format!(r#"mount("/proc/4242/ns/net", {netns}, NULL, MS_BIND, NULL)"#),
        format!("RTM_NEWLINK {peer} netns (pid 4242)"),
        format!("[container] RTM_NEWLINK {peer} name eth0"),
        "[container] RTM_NEWADDR eth0 10.88.0.2/16".into(),
        "[container] RTM_NEWLINK eth0 up".into(),
        "[container] RTM_NEWROUTE default via 10.88.0.1".into(),
        dnat("A", "PREROUTING"),
        dnat("A", "OUTPUT"),
        "[container] RTM_NEWLINK lo up".into(),
        // cleanup: its rules, its cable, its namespace's mount
        dnat("D", "PREROUTING"),
        dnat("D", "OUTPUT"),
        format!("RTM_DELLINK {veth}"),
        format!("umount2({netns}, MNT_DETACH)"),
    ];
    assert_eq!(kernel.shown(), expected);
}

/// `--network none`: a namespace of its own, and only `lo` up in it.
#[test]
fn no_network_is_a_namespace_with_lo_up() {
    let spec = &mut Spec::new("t", "/r".into(), vec![], "/s".into());
    let subnet = DEFAULT_SUBNET.parse().unwrap();
    let mut layer = Network::new(Mode::None, DEFAULT_BRIDGE.into(), subnet, vec![]);
    assert_eq!(layer.clone_flags(), CloneFlags::CLONE_NEWNET);
    let (trace, kernel) = Trace::recording();
    let mut cx = ParentCx { spec, trace };
    layer.prepare(&mut cx).unwrap();
    layer.configure_child(&mut cx, Pid::from_raw(4242)).unwrap();
    layer.cleanup(&mut cx, None).unwrap();
    assert_eq!(kernel.shown(), ["[container] RTM_NEWLINK lo up"]);
}
