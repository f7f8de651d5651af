//! The parts of config.json that limit a container: its cgroup and its
//! resources (`linux.cgroupsPath`, `linux.resources`), and what of /proc
//! and /sys it may see (`linux.maskedPaths`, `linux.readonlyPaths`), read
//! as bundle.rs reads the rest: as flags, or refused.

use std::path::{Component, PathBuf};

use super::bundle::flag;
use super::error::OciError;

/// `linux.cgroupsPath` as `--cgroup-parent` and the leaf: the container's
/// cgroup is exactly that path (a relative one is relative to our own
/// cgroup, as runc and step 04 read it). None: `/10-runtime-oci/<id>`. A leaf named
/// like a workshop run's id (12 hex digits) is refused: other runs sweep
/// such cgroups when no run of that id is alive, and a launched
/// container has no run alive (step 04's sweep.rs).
pub(super) fn cgroup_path(
    linux: &oci_spec::runtime::Linux,
    id: &str,
) -> Result<(String, String), OciError> {
    let path = match linux.cgroups_path() {
        Some(path) if path.to_string_lossy().contains(':') => {
            return Err(OciError::unsupported(
                "linux.cgroupsPath",
                "slice:prefix:name is systemd's form; only cgroupfs paths here",
            ));
        }
        Some(path) => path.clone(),
        None => PathBuf::from("/10-runtime-oci").join(id),
    };
    let plain = path
        .components()
        .all(|c| matches!(c, Component::RootDir | Component::Normal(_)));
    let leaf = path.file_name().map(|n| n.to_string_lossy().into_owned());
    let parent = path.parent().map(|p| p.display().to_string());
    match (parent, leaf) {
        (Some(parent), Some(leaf))
            if plain && !parent.is_empty() && !crate::record::is_id(&leaf) =>
        {
            Ok((parent, leaf))
        }
        _ => Err(OciError::unsupported(
            "linux.cgroupsPath",
            format!(
                "{}: a path of two parts or more (absolute, or relative to this program's \
                 cgroup), no . or .., whose last part is not 12 hex digits",
                path.display()
            ),
        )),
    }
}

/// Memory, CPU and pids limits as step 04's flags (`--memory`,
/// `--memory-swap`, `--memory-reservation`, `--cpus`, `--cpu-shares`,
/// `--pids-limit`); device rules are accepted (the /dev made here holds
/// only the safe devices); any other resource is refused, by its field.
pub(super) fn resources(
    linux: &oci_spec::runtime::Linux,
    argv: &mut Vec<String>,
) -> Result<(), OciError> {
    let Some(resources) = linux.resources() else {
        return Ok(());
    };
    if let Some(memory) = resources.memory() {
        if let Some(limit) = memory.limit().filter(|l| *l > 0) {
            flag(argv, "--memory", format!("{limit}b"));
        }
        // The spec's swap is memory plus swap, as Docker's --memory-swap
        // (podman sets twice the memory); -1: no limit.
        match memory.swap() {
            Some(-1) => flag(argv, "--memory-swap", "-1".into()),
            Some(total) if total > 0 => flag(argv, "--memory-swap", format!("{total}b")),
            _ => {}
        }
        if let Some(soft) = memory.reservation().filter(|r| *r > 0) {
            flag(argv, "--memory-reservation", format!("{soft}b"));
        }
        for (field, set) in [
            ("kernel", memory.kernel().is_some()),
            ("kernelTCP", memory.kernel_tcp().is_some()),
            ("swappiness", memory.swappiness().is_some()),
            (
                "disableOOMKiller",
                memory.disable_oom_killer() == Some(true),
            ),
            ("useHierarchy", memory.use_hierarchy().is_some()),
            ("checkBeforeUpdate", memory.check_before_update().is_some()),
        ] {
            if set {
                return Err(OciError::unsupported(
                    format!("linux.resources.memory.{field}"),
                    "not here yet",
                ));
            }
        }
    }
    if let Some(cpu) = resources.cpu() {
        if let (Some(quota), Some(period)) = (cpu.quota(), cpu.period())
            && quota > 0
        {
            flag(argv, "--cpus", format!("{}", quota as f64 / period as f64));
        }
        if let Some(shares) = cpu.shares() {
            flag(argv, "--cpu-shares", shares.to_string());
        }
        for (field, set) in [
            ("realtimeRuntime", cpu.realtime_runtime().is_some()),
            ("realtimePeriod", cpu.realtime_period().is_some()),
            ("cpus", cpu.cpus().as_ref().is_some_and(|c| !c.is_empty())),
            ("mems", cpu.mems().as_ref().is_some_and(|m| !m.is_empty())),
            ("idle", cpu.idle().is_some_and(|i| i != 0)),
            ("burst", cpu.burst().is_some()),
        ] {
            if set {
                return Err(OciError::unsupported(
                    format!("linux.resources.cpu.{field}"),
                    "not here yet",
                ));
            }
        }
    }
    if let Some(limit) = resources
        .pids()
        .as_ref()
        .map(|p| p.limit())
        .filter(|l| *l > 0)
    {
        flag(argv, "--pids-limit", limit.to_string());
    }
    for (field, set) in [
        ("linux.resources.blockIO", resources.block_io().is_some()),
        (
            "linux.resources.hugepageLimits",
            resources.hugepage_limits().is_some(),
        ),
        ("linux.resources.network", resources.network().is_some()),
        ("linux.resources.rdma", resources.rdma().is_some()),
        ("linux.resources.unified", resources.unified().is_some()),
    ] {
        if set {
            return Err(OciError::unsupported(field, "not here yet"));
        }
    }
    Ok(())
}

/// The paths the file asks to mask (or make read-only) that step 05's
/// list leaves out: the extras layer does those (extras.rs).
pub(super) fn beyond(asked: &Option<Vec<String>>, ours: &[&str]) -> Vec<String> {
    asked
        .iter()
        .flatten()
        .filter(|path| !ours.contains(&path.as_str()))
        .cloned()
        .collect()
}
