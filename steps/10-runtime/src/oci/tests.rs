//! config.json read as flags, without running anything (no root needed).

use super::bundle;
use super::error::OciError;

/// A bundle with `spec`'s config.json, edited by `edit`; what `read` says.
fn read(edit: impl FnOnce(&mut serde_json::Value)) -> Result<bundle::Translated, OciError> {
    let dir = tempfile::tempdir().unwrap();
    let command = ["sh".to_string(), "-c".into(), "true".into()];
    super::describe::spec("rootfs".as_ref(), dir.path(), &command).unwrap();
    let path = dir.path().join("config.json");
    let mut config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    edit(&mut config);
    std::fs::write(&path, config.to_string()).unwrap();
    let config = bundle::load(dir.path())?;
    bundle::read(dir.path(), &config, "t1")
}

#[test]
fn spec_reads_back_as_the_flags_it_means() {
    let read = read(|c| {
        c["hostname"] = "box".into();
        c["linux"]["cgroupsPath"] = "/pods/box-1".into();
        c["linux"]["resources"] = serde_json::json!({
            "memory": { "limit": 67108864, "swap": 134217728, "reservation": 33554432 },
            "cpu": { "shares": 512 }
        });
    })
    .unwrap();
    let words = read.argv.join(" ");
    for expected in [
        "--userns host",
        "--user 0:0",
        "--workdir /",
        "--cap-drop ALL",
        "--cap-add CAP_CHOWN",
        "--hostname box",
        "--network none",
        "--cgroup-parent /pods",
        "--memory 67108864b",
        "--memory-swap 134217728b",
        "--memory-reservation 33554432b",
        "--cpu-shares 512",
    ] {
        assert!(words.contains(expected), "{expected:?} in {words}");
    }
    assert!(!words.contains("no-new-privileges=false"), "{words}");
    assert_eq!(read.command, ["sh", "-c", "true"]);
    assert_eq!(read.cgroup_leaf, "box-1");
    assert!(read.env.iter().any(|(k, _)| k == "PATH"));
    assert!(read.rootfs.ends_with("rootfs") && read.rootfs.is_absolute());
}

#[test]
fn what_no_flag_says_goes_to_the_extras_layer() {
    let read = read(|c| {
        c["process"]["rlimits"] =
            serde_json::json!([{ "type": "RLIMIT_NOFILE", "hard": 2048, "soft": 1024 }]);
        c["linux"]["sysctl"] = serde_json::json!({ "net.ipv4.ping_group_range": "0 0" });
        c["linux"]["maskedPaths"]
            .as_array_mut()
            .unwrap()
            .push("/proc/cmdline".into());
        c["mounts"].as_array_mut().unwrap().push(serde_json::json!({
            "destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue"
        }));
    })
    .unwrap();
    let extras = read.extras;
    assert_eq!(extras.rlimits, [("RLIMIT_NOFILE".to_string(), 1024, 2048)]);
    assert_eq!(
        extras.sysctl,
        [("net.ipv4.ping_group_range".to_string(), "0 0".to_string())]
    );
    assert_eq!(
        extras.masked,
        ["/proc/cmdline"],
        "only what step 05 leaves out"
    );
    assert!(extras.mqueue && !extras.cgroup_fs);
}

#[test]
fn what_no_flag_says_is_refused_by_its_json_path() {
    let refused = |edit: fn(&mut serde_json::Value)| read(edit).unwrap_err().to_string();
    assert!(refused(|c| c["process"]["args"] = 5.into()).contains("process.args"));
    assert!(
        refused(|c| c["linux"]["sysctl"] = serde_json::json!({ "a": "b" }))
            .contains("linux.sysctl")
    );
    assert!(
        refused(|c| c["process"]["rlimits"] =
            serde_json::json!([{ "type": "RLIMIT_BOGUS", "hard": 1, "soft": 1 }]))
        .contains("process.rlimits[0].type")
    );
    assert!(
        refused(|c| c["linux"]["sysctl"] = serde_json::json!({ "kernel.hostname": "x" }))
            .contains("linux.sysctl.kernel.hostname")
    );
    assert!(refused(|c| c["linux"]["cgroupsPath"] = "/a/0123456789ab".into()).contains("12 hex"));
    assert!(refused(|c| c["linux"]["cgroupsPath"] = "a/../../b".into()).contains("no . or .."));
    assert!(
        refused(|c| c["process"]["capabilities"]["effective"] = serde_json::json!([]))
            .contains("process.capabilities.effective")
    );
    assert!(refused(|c| c["ociVersion"] = "2.0.0".into()).contains("ociVersion"));
    assert!(
        refused(|c| c["linux"]["resources"] = serde_json::json!({ "cpu": { "cpus": "0-1" } }))
            .contains("linux.resources.cpu.cpus")
    );
    assert!(
        refused(|c| c["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .push(serde_json::json!({ "type": "time" })))
        .contains("linux.namespaces[6]")
    );
    assert!(
        refused(
            |c| c["mounts"].as_array_mut().unwrap().push(serde_json::json!({
                "destination": "/data", "type": "bind", "source": "/srv",
                "options": ["rbind", "noatime"]
            }))
        )
        .contains("\"noatime\" on a bind")
    );
}

#[test]
fn a_namespace_given_by_path_is_joined_if_it_is_one_and_the_hosts_owns_nothing() {
    let join = |typ: &'static str, path: &str| {
        let path = path.to_string();
        move |c: &mut serde_json::Value| {
            for entry in c["linux"]["namespaces"].as_array_mut().unwrap() {
                if entry["type"] == typ {
                    entry["path"] = path.clone().into();
                }
            }
        }
    };
    // Our own network namespace (no root needed to name it): joined...
    let joined = read(join("network", "/proc/self/ns/net")).unwrap();
    assert_eq!(
        joined.joins,
        [(
            nix::sched::CloneFlags::CLONE_NEWNET,
            "/proc/self/ns/net".into()
        )]
    );
    let refused = |edit: &dyn Fn(&mut serde_json::Value)| read(edit).unwrap_err().to_string();
    // ...but it is the host's: its sysctls are not the container's.
    let host_net = refused(&|c| {
        join("network", "/proc/self/ns/net")(c);
        c["linux"]["sysctl"] = serde_json::json!({ "net.ipv4.ip_forward": "0" });
    });
    assert!(
        host_net.contains("linux.sysctl.net.ipv4.ip_forward"),
        "{host_net}"
    );
    let host_uts = refused(&|c| {
        join("uts", "/proc/self/ns/uts")(c);
        c["hostname"] = "box".into();
    });
    assert!(host_uts.contains("hostname"), "{host_uts}");
    // Only a namespace is opened: not a plain file, nor a path not there.
    let file = tempfile::NamedTempFile::new().unwrap();
    let plain = refused(&join("network", file.path().to_str().unwrap()));
    assert!(plain.contains("linux.namespaces[1].path"), "{plain}");
    assert!(plain.contains("not a namespace"), "{plain}");
    let missing = refused(&join("network", "/run/netns/none-such"));
    assert!(missing.contains("/run/netns/none-such"), "{missing}");
    let pid = refused(&join("pid", "/proc/self/ns/pid"));
    assert!(pid.contains("linux.namespaces[0].path"), "{pid}");
}

#[test]
fn containerds_run_tmpfs_and_supplementary_groups_are_read() {
    let asked = read(|c| {
        c["process"]["user"]["additionalGids"] = serde_json::json!([0, 10]);
        c["mounts"].as_array_mut().unwrap().push(serde_json::json!({
            "destination": "/run", "type": "tmpfs", "source": "tmpfs",
            "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]
        }));
    })
    .unwrap();
    assert_eq!(asked.groups, [0, 10]);
    use nix::mount::MsFlags;
    assert_eq!(
        asked.extras.tmpfs,
        [(
            "/run".to_string(),
            MsFlags::MS_NOSUID | MsFlags::MS_STRICTATIME,
            "mode=755,size=65536k".to_string()
        )]
    );
    let refused_mount = |mount: serde_json::Value| {
        read(|c| c["mounts"].as_array_mut().unwrap().push(mount))
            .unwrap_err()
            .to_string()
    };
    let root = refused_mount(serde_json::json!({ "destination": "/", "type": "tmpfs" }));
    assert!(root.contains("an absolute path below /"), "{root}");
    let dotdot =
        refused_mount(serde_json::json!({ "destination": "/run/../etc", "type": "tmpfs" }));
    assert!(dotdot.contains("without . or .."), "{dotdot}");
    // A bind below a tmpfs (made after the binds here) would be hidden.
    let hidden = read(|c| {
        c["mounts"].as_array_mut().unwrap().extend([
            serde_json::json!({ "destination": "/run", "type": "tmpfs", "source": "tmpfs" }),
            serde_json::json!({
                "destination": "/run/x", "type": "bind", "source": "/srv", "options": ["rbind"]
            }),
        ])
    })
    .unwrap_err()
    .to_string();
    assert!(hidden.contains("under the tmpfs on /run"), "{hidden}");
    let refused = super::extras::tmpfs_options(&["x-bogus".into()]);
    assert_eq!(refused, Err("x-bogus".to_string()));
}

#[test]
fn a_user_namespace_is_made_with_the_files_maps() {
    let with_user = |c: &mut serde_json::Value| {
        c["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .push(serde_json::json!({ "type": "user" }));
    };
    let maps = serde_json::json!([{ "containerID": 0, "hostID": 100000, "size": 65536 }]);
    let mapped = read(|c| {
        with_user(c);
        c["linux"]["uidMappings"] = maps.clone();
        c["linux"]["gidMappings"] = maps.clone();
    })
    .unwrap();
    let words = mapped.argv.join(" ");
    assert!(
        words.contains("--uid-map 0:100000:65536 --gid-map 0:100000:65536"),
        "{words}"
    );
    assert!(!words.contains("--userns host") && mapped.user, "{words}");
    let refused = |edit: &dyn Fn(&mut serde_json::Value)| read(edit).unwrap_err().to_string();
    let unmapped = refused(&with_user);
    assert!(
        unmapped.contains("needs both linux.uidMappings"),
        "{unmapped}"
    );
    let orphan_maps = refused(&|c| c["linux"]["uidMappings"] = maps.clone());
    assert!(
        orphan_maps.contains("without a user namespace"),
        "{orphan_maps}"
    );
    // And none at all: --userns host (no user namespace).
    assert!(
        read(|_| {})
            .unwrap()
            .argv
            .join(" ")
            .contains("--userns host")
    );
}
