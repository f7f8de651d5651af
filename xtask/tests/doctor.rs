//! The doctor's verdicts on made-up hosts (no root needed), and one run on
//! this real host.

use std::path::PathBuf;
use std::process::Command;

use xtask::checks::{all_steps_can_run, checks};
use xtask::facts::{CgroupMode, HostFacts};
use xtask::render;
use xtask::requirements::parse;

/// A current distribution with cgroup v2, where everything is in place.
fn good_v2_host() -> HostFacts {
    let list = parse(include_str!("../../scripts/host-requirements")).unwrap();
    HostFacts {
        kernel: "6.8.0-45-generic".into(),
        euid: 1000,
        user: "ada".into(),
        sudo: true,
        max_user_namespaces: Some(63_000),
        unprivileged_userns_clone: None,
        apparmor_restrict_userns: None,
        newuidmap: Some(true),
        newgidmap: Some(true),
        subuid: Some((100_000, 65_536)),
        subgid: Some((100_000, 65_536)),
        cgroup_mode: CgroupMode::V2,
        controllers: ["cpuset", "cpu", "io", "memory", "pids"]
            .map(String::from)
            .to_vec(),
        delegated: Some(["cpu", "memory", "pids"].map(String::from).to_vec()),
        overlay: true,
        overlay_in_userns: Some(true),
        iptables: Some("iptables v1.8.10 (nf_tables)".into()),
        ip_forward: Some(false),
        tools: list.into_iter().map(|r| (r, true)).collect(),
        rootfs: Some("alpine 3.20.3 x86_64".into()),
        probe: true,
        state_dir: PathBuf::from("/var/lib/container-workshop"),
        state_dir_writable: true,
    }
}

fn verdict(host: &HostFacts) -> String {
    colored::control::set_override(false);
    let checks = checks(host);
    format!(
        "can every step run: {}\n\n{}",
        all_steps_can_run(&checks),
        render::table(&checks)
    )
}

#[test]
fn a_good_v2_host() {
    let host = good_v2_host();
    insta::assert_snapshot!(verdict(&host));
    insta::assert_snapshot!("good_v2_host_json", render::json(&checks(&host)));
}

#[test]
fn a_v1_hybrid_host_as_root_like_ci() {
    let mut host = good_v2_host();
    host.euid = 0;
    host.user = "root".into();
    host.subuid = None;
    host.subgid = None;
    host.cgroup_mode = CgroupMode::Hybrid;
    host.delegated = None;
    host.kernel = "6.1.0-18-amd64".into();
    host.rootfs = Some("busybox v1.35.0".into());
    insta::assert_snapshot!(verdict(&host));
}

#[test]
fn user_namespaces_switched_off() {
    let mut host = good_v2_host();
    host.max_user_namespaces = Some(0);
    let text = verdict(&host);
    assert!(text.starts_with("can every step run: false"));
    assert!(text.contains("[03-10]") && text.contains("user.max_user_namespaces=15000"));
    insta::assert_snapshot!(text);
}

#[test]
fn ubuntu_with_apparmors_restriction() {
    let mut host = good_v2_host();
    host.apparmor_restrict_userns = Some(1);
    insta::assert_snapshot!(verdict(&host));
}

#[test]
fn a_host_without_iptables_and_uidmap() {
    let mut host = good_v2_host();
    host.iptables = None;
    host.newuidmap = None;
    host.newgidmap = None;
    for (req, met) in &mut host.tools {
        if ["iptables", "newuidmap", "newgidmap"].contains(&req.need.name()) {
            *met = false;
        }
    }
    insta::assert_snapshot!(verdict(&host));
}

#[test]
fn an_ordinary_user_without_sudo_on_an_old_kernel() {
    let mut host = good_v2_host();
    host.sudo = false;
    host.kernel = "5.10.0-28-amd64".into();
    host.overlay_in_userns = Some(false);
    host.subuid = None;
    host.delegated = Some(vec!["memory".into()]);
    host.rootfs = None;
    host.probe = false;
    host.state_dir_writable = false;
    insta::assert_snapshot!(verdict(&host));
}

/// The real doctor on this host: every check is there, and its exit code
/// agrees with what it lists (this host may lack things: not assumed).
#[test]
fn the_real_doctor_reports_this_host() {
    let out = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(["doctor", "--json"])
        .output()
        .expect("run xtask doctor");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("doctor's JSON");
    let checks = report["checks"].as_array().expect("a list of checks");
    for name in [
        "kernel",
        "user namespaces",
        "cgroups",
        "overlayfs",
        "iptables",
        "rootfs/",
    ] {
        assert!(
            checks.iter().any(|c| c["name"] == name),
            "no {name} check in {report:#}"
        );
    }
    let failed = checks.iter().any(|c| c["status"] == "fail");
    assert_eq!(report["ok"], !failed);
    assert_eq!(out.status.success(), !failed, "{report:#}");
}
