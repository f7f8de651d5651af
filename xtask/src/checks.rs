//! Judging the facts: one line per thing a step needs, with what was found,
//! the fix, and which steps it affects.

use serde::Serialize;

use crate::facts::{CgroupMode, HostFacts};
use crate::requirements::Need;

/// How a check came out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Good.
    Ok,
    /// Works, with a limit worth knowing (a step or a flag will not).
    Warn,
    /// A step cannot run until this is fixed.
    Fail,
}

/// One line of the doctor's table.
#[derive(Clone, Debug, Serialize)]
pub struct Check {
    /// What was checked.
    pub name: String,
    /// How it came out.
    pub status: Status,
    /// What was found.
    pub found: String,
    /// What to do, when something is to be done.
    pub fix: Option<String>,
    /// The steps it affects.
    pub steps: &'static str,
}

fn check(name: impl Into<String>, steps: &'static str, status: Status, found: String) -> Check {
    Check {
        name: name.into(),
        status,
        found,
        fix: None,
        steps,
    }
}

impl Check {
    fn fix(mut self, fix: impl Into<String>) -> Self {
        self.fix = Some(fix.into());
        self
    }
}

/// `(major, minor)` of a release such as `6.1.0-18-amd64`.
fn kernel_version(release: &str) -> Option<(u32, u32)> {
    let mut parts = release.split(|c: char| !c.is_ascii_digit());
    Some((parts.next()?.parse().ok()?, parts.next()?.parse().ok()?))
}

/// Every check, in the order of the steps.
pub fn checks(h: &HostFacts) -> Vec<Check> {
    use Status::*;
    let mut out = Vec::new();

    let version = kernel_version(&h.kernel);
    out.push(match version {
        Some(v) if v >= (5, 12) => check("kernel", "all", Ok, h.kernel.clone()),
        Some(v) if v >= (5, 0) => check("kernel", "03, 07", Warn, h.kernel.clone()).fix(
            "5.11+ for overlayfs in a user namespace (rootless step 07), 5.12+ for idmapped mounts",
        ),
        _ => check("kernel", "all", Fail, h.kernel.clone()).fix("a Linux kernel 5.x or newer"),
    });

    out.push(match (h.euid, h.sudo) {
        (0, _) => check("root or sudo", "01-10", Ok, "root".into()),
        (_, true) => check("root or sudo", "01-10", Ok, format!("{} with sudo", h.user)),
        (_, false) => check(
            "root or sudo",
            "01-02, 04-10",
            Fail,
            format!("{}, no sudo", h.user),
        )
        .fix("run from a root shell, or install sudo; step 03 runs rootless"),
    });

    // User namespaces: steps 03 and later all make one.
    let userns = if h.max_user_namespaces == Some(0) {
        check("user namespaces", "03-10", Fail, "user.max_user_namespaces = 0".into()).fix(
            "sudo sysctl -w user.max_user_namespaces=15000 (and the same in /etc/sysctl.d/ to keep it)",
        )
    } else if h.unprivileged_userns_clone == Some(0) {
        check(
            "user namespaces",
            "03 rootless",
            Warn,
            "kernel.unprivileged_userns_clone = 0".into(),
        )
        .fix("sudo sysctl -w kernel.unprivileged_userns_clone=1 (only root may make them now)")
    } else if h.apparmor_restrict_userns == Some(1) {
        check(
            "user namespaces",
            "03 rootless",
            Warn,
            "AppArmor restricts unprivileged user namespaces".into(),
        )
        .fix("sudo sysctl -w kernel.apparmor_restrict_unprivileged_userns=0 (Ubuntu 23.10+), or run with sudo")
    } else {
        let max = h.max_user_namespaces.map_or("?".into(), |m| m.to_string());
        check(
            "user namespaces",
            "03-10",
            Ok,
            format!("allowed (max {max})"),
        )
    };
    out.push(userns);

    out.push(match (h.newuidmap, h.newgidmap) {
        (Some(true), Some(true)) => check(
            "newuidmap, newgidmap",
            "03",
            Ok,
            "installed, set-uid".into(),
        ),
        (Some(_), Some(_)) => check("newuidmap, newgidmap", "03", Fail, "not set-uid".into())
            .fix("reinstall them: sudo apt-get install --reinstall uidmap"),
        _ => check("newuidmap, newgidmap", "03", Fail, "missing".into())
            .fix("sudo scripts/host-setup (installs uidmap)"),
    });

    out.push(match (h.subuid, h.subgid) {
        (Some((u, uc)), Some((g, gc))) => check(
            format!("id ranges of {}", h.user),
            "03",
            Ok,
            format!("uids {u}+{uc}, gids {g}+{gc}"),
        ),
        _ if h.user == "root" => check(
            "id ranges of root",
            "03",
            Ok,
            "none (root maps host ids directly)".into(),
        ),
        _ => check(
            format!("id ranges of {}", h.user),
            "03 --uid-map",
            Warn,
            "none".into(),
        )
        .fix(format!(
            "sudo usermod --add-subuids 100000-165535 --add-subgids 100000-165535 {}",
            h.user
        )),
    });

    let needed = ["memory", "cpu", "pids"];
    let missing: Vec<&str> = needed
        .into_iter()
        .filter(|c| !h.controllers.iter().any(|have| have == c))
        .collect();
    let mode = match h.cgroup_mode {
        CgroupMode::V1 => "v1",
        CgroupMode::Hybrid => "hybrid (v1 controllers; most learners have v2)",
        CgroupMode::V2 => "v2",
    };
    out.push(if missing.is_empty() {
        check("cgroups", "04", Ok, format!("{mode}: memory, cpu, pids"))
    } else {
        check(
            "cgroups",
            "04",
            Fail,
            format!("{mode}: no {}", missing.join(", ")),
        )
        .fix("boot with the controllers enabled (cgroup_enable=memory ...)")
    });
    if let Some(delegated) = &h.delegated {
        let lacking: Vec<&str> = needed
            .into_iter()
            .filter(|c| !delegated.iter().any(|d| d == c))
            .collect();
        out.push(if lacking.is_empty() {
            check(
                "cgroups delegated to you",
                "04 rootless",
                Ok,
                delegated.join(" "),
            )
        } else {
            check(
                "cgroups delegated to you",
                "04 rootless",
                Warn,
                format!("no {}", lacking.join(", ")),
            )
            .fix("run step 04 with sudo (or use systemd-run --user --scope -p Delegate=yes)")
        });
    }

    out.push(match (h.overlay, h.overlay_in_userns) {
        (false, _) => check(
            "overlayfs",
            "07-10",
            Fail,
            "not in /proc/filesystems".into(),
        )
        .fix("sudo modprobe overlay"),
        (true, Some(false)) => check(
            "overlayfs",
            "07 rootless",
            Warn,
            "yes; not in a user namespace".into(),
        )
        .fix("a 5.11+ kernel for rootless overlays; step 07 with sudo works"),
        (true, _) => check(
            "overlayfs",
            "07-10",
            Ok,
            "yes, also in a user namespace".into(),
        ),
    });

    out.push(match &h.iptables {
        Some(version) => {
            // `iptables v1.8.9 (nf_tables)`: the nft backend; `(legacy)`: the old one.
            let backend = if version.contains("nf_tables") {
                "nft"
            } else {
                "legacy"
            };
            let number = version.split_whitespace().nth(1).unwrap_or("?");
            check(
                "iptables",
                "06-10",
                Ok,
                format!("{number}, {backend} backend"),
            )
        }
        None => check("iptables", "06-10", Fail, "missing".into())
            .fix("sudo scripts/host-setup (installs iptables)"),
    });
    out.push(match h.ip_forward {
        Some(true) => check("ip_forward", "06-10", Ok, "on".into()),
        _ => check(
            "ip_forward",
            "06-10",
            Ok,
            "off (step 06 turns it on, and says so)".into(),
        ),
    });

    for (req, met) in &h.tools {
        if !req
            .groups
            .iter()
            .any(|g| matches!(g.as_str(), "rootfs" | "steps" | "tests"))
        {
            continue;
        }
        let name = match &req.need {
            Need::Static(n) => format!("{n} (static)"),
            need => need.name().to_string(),
        };
        out.push(if *met {
            check(name, "", Ok, "installed".into()).with_steps(&req.groups)
        } else {
            check(name, "", Fail, format!("missing: {}", req.why))
                .fix(format!("sudo scripts/host-setup (installs {})", req.apt))
                .with_steps(&req.groups)
        });
    }

    out.push(match &h.rootfs {
        Some(what) => check("rootfs/", "01-10", Ok, what.clone()),
        None => check("rootfs/", "01-10", Fail, "missing".into()).fix("./rootfs-fetch.sh"),
    });
    out.push(if h.probe {
        check("tests' probe", "tests", Ok, "built".into())
    } else {
        check("tests' probe", "tests", Warn, "not built yet".into())
            .fix("built by the first `cargo test`")
    });
    out.push(if h.state_dir_writable {
        check(
            "state directory",
            "05-10",
            Ok,
            format!("{} writable", h.state_dir.display()),
        )
    } else {
        check(
            "state directory",
            "05-10",
            Fail,
            format!("{} not writable", h.state_dir.display()),
        )
        .fix("run with sudo, or pass --state-dir DIR")
    });
    out
}

impl Check {
    /// The steps a host tool is for, from its groups in the list.
    fn with_steps(mut self, groups: &[String]) -> Self {
        self.steps = if groups.iter().any(|g| g == "steps") {
            "03-10"
        } else if groups.iter().any(|g| g == "rootfs") {
            "rootfs"
        } else {
            "tests"
        };
        self
    }
}

/// Whether every step can run: no check failed.
pub fn all_steps_can_run(checks: &[Check]) -> bool {
    checks.iter().all(|c| c.status != Status::Fail)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_versions_are_read() {
        assert_eq!(kernel_version("6.1.0-18-amd64"), Some((6, 1)));
        assert_eq!(kernel_version("5.15.0"), Some((5, 15)));
        assert_eq!(kernel_version("weird"), None);
    }
}
