//! A bundle's config.json, read as the flags you know.
//!
//! An OCI bundle is a directory with a root filesystem and `config.json`
//! (runtime-spec, bundle.md and config.md). The file says, in JSON, what
//! steps 01 to 09 take as flags: `process.args` is the command,
//! `process.env` the environment, `process.cwd` is `-w`, `hostname` is
//! `--hostname`, `linux.resources.memory.limit` is `--memory`, and so on.
//! So it is *translated*: [`read`] turns it into a workshop command line
//! and the engine runs that, with every layer as it always was.
//!
//! What no flag can say is refused, named by its JSON path
//! (`config.json: hooks: ...`), never skipped: a runtime that
//! ignores a limit or a namespace it was asked for runs a container
//! weaker than its engine believes. The crate `oci-spec` (youki's, the
//! Rust runtimes' common types) reads the file; `serde_path_to_error`
//! names the field of a file that does not parse.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use oci_spec::runtime::Spec as Config;

use super::error::OciError;
use super::extras::{self, Extras};
use super::join;
use super::limits::{beyond, cgroup_path, resources};

/// What a bundle asks for, as a workshop command line.
#[derive(Debug)]
pub struct Translated {
    /// The words, program name first: flags only, no command.
    pub argv: Vec<String>,
    /// `process.args` and `process.env`, as they are (no default PATH,
    /// TERM or HOME is added: the engine passes exactly these).
    pub command: Vec<String>,
    pub env: Vec<(String, String)>,
    /// Where its cgroup goes: `linux.cgroupsPath`, split.
    pub cgroup_parent: String,
    pub cgroup_leaf: String,
    /// `linux.seccomp`, for a file that `--security-opt seccomp=` reads.
    pub seccomp: Option<serde_json::Value>,
    /// The root filesystem, absolute.
    pub rootfs: PathBuf,
    pub version: String,
    pub annotations: std::collections::HashMap<String, String>,
    /// What no flag says, for the layer of its own (extras.rs).
    pub extras: Extras,
    /// Namespaces the engine made, to join (join.rs).
    pub joins: Vec<(nix::sched::CloneFlags, PathBuf)>,
    /// `process.terminal`: a pty, whose master goes to `--console-socket`.
    pub terminal: bool,
    /// `process.user.additionalGids` (extras.rs's `Groups`).
    pub groups: Vec<u32>,
    /// `hostname`, for a UTS namespace joined by path (join.rs).
    pub hostname: Option<String>,
    /// `hooks` (hooks.rs).
    pub hooks: Option<oci_spec::runtime::Hooks>,
    /// `process.oomScoreAdj` (extras.rs's `OomScoreAdj`).
    pub oom_score_adj: Option<i32>,
    /// A user namespace, made with the config's maps (step 03's layer).
    pub user: bool,
}

/// Reads `<bundle>/config.json`; a field that does not parse is named.
pub fn load(bundle: &Path) -> Result<Config, OciError> {
    read_json(&bundle.join("config.json"))
}

/// Reads a JSON file of the spec's (config.json, an exec's process.json);
/// a field that does not parse is named.
pub fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, OciError> {
    let bytes = std::fs::read(path).map_err(OciError::io("reading", path))?;
    let mut json = serde_json::Deserializer::from_slice(&bytes);
    serde_path_to_error::deserialize(&mut json).map_err(|err| OciError::Malformed {
        reason: format!("{}: {}", err.path(), err.inner()),
        path: path.to_path_buf(),
    })
}

// ANCHOR: read
/// The command line `config` says, for container `id` of `bundle`.
pub fn read(bundle: &Path, config: &Config, id: &str) -> Result<Translated, OciError> {
    let version = config.version().clone();
    if !version.starts_with("1.") {
        return Err(no(
            "ociVersion",
            format!("{version}: only 1.x is read here"),
        ));
    }
    let process = config
        .process()
        .as_ref()
        .ok_or_else(|| no("process", "there is nothing to run"))?;
    let root = config
        .root()
        .as_ref()
        .ok_or_else(|| no("root", "no root filesystem"))?;
    let rootfs = bundle.join(root.path());
    let mut argv: Vec<String> = ["10-runtime-oci", "-q", "--rootfs"]
        .map(String::from)
        .into();
    argv.push(rootfs.display().to_string());
    if root.readonly() == Some(true) {
        argv.push("--read-only".into());
    }
    // The process: with a terminal (its master goes to the engine's
    // console socket: lifecycle.rs), or with the engine's stdio.
    let terminal = process.terminal() == Some(true);
    if terminal {
        argv.push("--tty".into());
    }
    let user = process.user();
    if user.umask().is_some_and(|m| m != 0o022) {
        return Err(no(
            "process.user.umask",
            "only 0022 (18), the usual, is made here",
        ));
    }
    flag(
        &mut argv,
        "--user",
        format!("{}:{}", user.uid(), user.gid()),
    );
    flag(&mut argv, "--workdir", process.cwd().display().to_string());
    for (field, set) in [
        (
            "process.apparmorProfile",
            process.apparmor_profile().as_ref().map(|_| 1),
        ),
        (
            "process.selinuxLabel",
            process.selinux_label().as_ref().map(|_| 1),
        ),
    ] {
        if set.is_some_and(|n| n > 0) {
            return Err(no(field, "not here yet"));
        }
    }
    if process.no_new_privileges() != Some(true) {
        flag(
            &mut argv,
            "--security-opt",
            "no-new-privileges=false".into(),
        );
    }
    flag(&mut argv, "--cap-drop", "ALL".into());
    for cap in capabilities(process)? {
        flag(&mut argv, "--cap-add", cap);
    }
    if let Some(hostname) = config.hostname() {
        flag(&mut argv, "--hostname", hostname.clone());
    }
    let linux = config
        .linux()
        .as_ref()
        .ok_or_else(|| no("linux", "this is a Linux runtime"))?;
    let namespaces = join::namespaces(linux)?;
    if config.hostname().is_some() && !namespaces.uts {
        return Err(no(
            "hostname",
            "the UTS namespace it joins is the host's: its name is not the container's to set",
        ));
    }
    let network = match namespaces.network {
        true => "none",
        false => "host",
    };
    flag(&mut argv, "--network", network.into());
    let mut extras = Extras {
        nodev: true,
        ..Extras::default()
    };
    mounts(config, &mut argv, &mut extras)?;
    for (at, limit) in process.rlimits().iter().flatten().enumerate() {
        let name = serde_json::to_value(limit.typ())
            .ok()
            .and_then(|v| v.as_str().map(String::from))
            .filter(|name| extras::resource(name).is_some())
            .ok_or_else(|| {
                no(
                    format!("process.rlimits[{at}].type"),
                    "not a limit known here",
                )
            })?;
        extras.rlimits.push((name, limit.soft(), limit.hard()));
    }
    for (key, value) in linux.sysctl().iter().flatten() {
        if !extras::namespaced(key, namespaces.network, namespaces.ipc) {
            return Err(no(
                format!("linux.sysctl.{key}"),
                "not the container's own (a key of the whole host, or of a namespace it shares)",
            ));
        }
        extras.sysctl.push((key.clone(), value.clone()));
    }
    extras.sysctl.sort();
    let (cgroup_parent, cgroup_leaf) = cgroup_path(linux, id)?;
    flag(&mut argv, "--cgroup-parent", cgroup_parent.clone());
    resources(linux, &mut argv)?;
    if linux.devices().as_ref().is_some_and(|d| !d.is_empty()) {
        return Err(no("linux.devices", "not here yet"));
    }
    // A user namespace: step 03's, with the config's maps; none: none.
    argv.extend(join::user_flags(linux, namespaces.user)?);
    extras.masked = beyond(linux.masked_paths(), &step05_pivot_root::masks::MASKED);
    extras.read_only = beyond(linux.readonly_paths(), &step05_pivot_root::masks::READ_ONLY);
    let seccomp = linux
        .seccomp()
        .as_ref()
        .map(|profile| serde_json::to_value(profile).expect("a profile serializes"));
    let env = process
        .env()
        .iter()
        .flatten()
        .map(|pair| match pair.split_once('=') {
            Some((k, v)) => Ok((k.to_string(), v.to_string())),
            None => Err(no("process.env", format!("{pair:?} is not KEY=VALUE"))),
        })
        .collect::<Result<_, _>>()?;
    let command = process.args().clone().unwrap_or_default();
    if command.is_empty() {
        return Err(no("process.args", "empty: there is nothing to run"));
    }
    Ok(Translated {
        argv,
        command,
        env,
        cgroup_parent,
        cgroup_leaf,
        seccomp,
        rootfs,
        version,
        annotations: config.annotations().clone().unwrap_or_default(),
        extras,
        joins: namespaces.joins,
        terminal,
        groups: user.additional_gids().clone().unwrap_or_default(),
        hostname: config.hostname().clone(),
        hooks: config.hooks().clone(),
        oom_score_adj: process.oom_score_adj(),
        user: namespaces.user,
    })
}
// ANCHOR_END: read

/// A field refused, and why.
fn no(field: impl Into<String>, why: impl Into<String>) -> OciError {
    OciError::unsupported(field, why)
}

/// A flag and its value, added to `argv`.
pub(super) fn flag(argv: &mut Vec<String>, name: &str, value: String) {
    argv.extend([name.to_string(), value]);
}

/// `--cap-drop ALL` then `--cap-add` for each: the bounding, effective
/// and permitted sets must be one set (runc allows them to differ; our
/// step 08 makes them one).
fn capabilities(process: &oci_spec::runtime::Process) -> Result<Vec<String>, OciError> {
    let Some(caps) = process.capabilities() else {
        return Ok(vec![]); // (after --cap-drop ALL below: none)
    };
    let names = |set: &Option<oci_spec::runtime::Capabilities>| -> BTreeSet<String> {
        set.iter()
            .flatten()
            .map(|c| {
                serde_json::to_value(c)
                    .ok()
                    .and_then(|v| v.as_str().map(String::from))
            })
            .map(Option::unwrap_or_default)
            .collect()
    };
    let bounding = names(caps.bounding());
    for (field, set) in [
        ("effective", names(caps.effective())),
        ("permitted", names(caps.permitted())),
    ] {
        if set != bounding {
            return Err(OciError::unsupported(
                format!("process.capabilities.{field}"),
                "differs from bounding: one set is made here",
            ));
        }
    }
    for (field, set) in [
        ("inheritable", names(caps.inheritable())),
        ("ambient", names(caps.ambient())),
    ] {
        if !set.is_empty() {
            return Err(OciError::unsupported(
                format!("process.capabilities.{field}"),
                "must be empty here",
            ));
        }
    }
    Ok(bounding.into_iter().collect())
}

/// The mounts: the ones every container gets here (proc, /dev, its pts
/// and shm, sysfs), by destination and type, are made as step 05 makes
/// them (nosuid, noexec, nodev where Docker has them) whatever options
/// the file gives; binds become `-v`.
fn mounts(config: &Config, argv: &mut Vec<String>, extras: &mut Extras) -> Result<(), OciError> {
    let ours = [
        ("/proc", "proc"),
        ("/dev", "tmpfs"),
        ("/dev/pts", "devpts"),
        ("/dev/shm", "tmpfs"),
        ("/sys", "sysfs"),
    ];
    let tmpfs: Vec<&Path> = config
        .mounts()
        .iter()
        .flatten()
        .filter(|m| m.typ().as_deref() == Some("tmpfs"))
        .map(|m| m.destination().as_path())
        .filter(|d| !ours.contains(&(d.to_str().unwrap_or_default(), "tmpfs")))
        .collect();
    for (at, mount) in config.mounts().iter().flatten().enumerate() {
        let dest = mount.destination().display().to_string();
        let typ = mount.typ().clone().unwrap_or_default();
        let options = mount.options().clone().unwrap_or_default();
        let bind = typ == "bind" || options.iter().any(|o| o == "bind" || o == "rbind");
        if ours.contains(&(dest.as_str(), typ.as_str())) {
            continue;
        }
        match (dest.as_str(), typ.as_str()) {
            ("/dev/mqueue", "mqueue") => {
                extras.mqueue = true;
                continue;
            }
            ("/sys/fs/cgroup", "cgroup" | "cgroup2") => {
                extras.cgroup_fs = true;
                continue;
            }
            // Any other tmpfs: the extras layer mounts it (containerd
            // gives every container one on /run).
            (_, "tmpfs") => {
                let plain = mount.destination().is_absolute()
                    && mount.destination().components().count() > 1
                    && mount
                        .destination()
                        .components()
                        .skip(1)
                        .all(|c| matches!(c, std::path::Component::Normal(_)));
                if !plain {
                    return Err(OciError::unsupported(
                        format!("mounts[{at}].destination"),
                        format!("{dest}: an absolute path below /, without . or .."),
                    ));
                }
                let (flags, data) = extras::tmpfs_options(&options).map_err(|other| {
                    OciError::unsupported(
                        format!("mounts[{at}].options"),
                        format!("{other:?} on a tmpfs: not an option known here"),
                    )
                })?;
                extras.tmpfs.push((dest, flags, data));
                continue;
            }
            _ => {}
        }
        // A bind here is step 05's volume: recursive, read-write or
        // read-only, private; nosuid, nodev and noexec are added after
        // (extras.rs). Any other option would be dropped: refused.
        let known = [
            "bind", "rbind", "ro", "rw", "private", "rprivate", "nosuid", "nodev", "noexec",
        ];
        if bind && let Some(other) = options.iter().find(|o| !known.contains(&o.as_str())) {
            return Err(OciError::unsupported(
                format!("mounts[{at}].options"),
                format!("{other:?} on a bind: only {} here", known.join(", ")),
            ));
        }
        // The tmpfs mounts are made after the binds (extras.rs, after the
        // pivot): one would hide a bind below it.
        if bind && let Some(under) = tmpfs.iter().find(|d| Path::new(&dest).starts_with(d)) {
            return Err(OciError::unsupported(
                format!("mounts[{at}]"),
                format!(
                    "a bind on {dest}, under the tmpfs on {}: not here yet",
                    under.display()
                ),
            ));
        }
        if bind && let Some(source) = mount.source() {
            // (nodev on every bind anyway: extras.rs.)
            let hardened: Vec<String> = options
                .iter()
                .filter(|o| ["nosuid", "noexec"].contains(&o.as_str()))
                .cloned()
                .collect();
            if !hardened.is_empty() {
                extras.hardened.push((dest.clone(), hardened));
            }
            let ro = options.iter().any(|o| o == "ro");
            let mode = if ro { ":ro" } else { "" };
            flag(
                argv,
                "--volume",
                format!("{}:{dest}{mode}", source.display()),
            );
            continue;
        }
        return Err(OciError::unsupported(
            format!("mounts[{at}]"),
            format!(
                "{typ} on {dest}: only proc, /dev and its pts, shm and mqueue, /sys and its fs/cgroup, \
                 tmpfs, and binds here"
            ),
        ));
    }
    Ok(())
}
