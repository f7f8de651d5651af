//! What the doctor reads off the host, as plain data.
//!
//! Gathering (this file) and judging ([`crate::checks`]) are apart, so the
//! judging can be tested with made-up hosts that need no root: an Ubuntu
//! with AppArmor's restriction, a host with user namespaces off, and so on.
//! Nothing here changes the host; the one experiment (overlayfs in a user
//! namespace) happens in a temporary directory, in namespaces that vanish
//! with the process.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::requirements::{Need, Requirement};

/// Which cgroup layout the host has (see cgroups(7)).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CgroupMode {
    /// One hierarchy per controller under /sys/fs/cgroup.
    V1,
    /// v1 hierarchies, plus an empty v2 one at /sys/fs/cgroup/unified.
    Hybrid,
    /// One unified hierarchy (current distributions).
    V2,
}

/// Everything the checks look at.
#[derive(Clone, Debug, Serialize)]
pub struct HostFacts {
    /// `uname -r`.
    pub kernel: String,
    /// The effective uid of the doctor.
    pub euid: u32,
    /// Who is asking: `SUDO_USER` under sudo, else the current user.
    pub user: String,
    /// Whether sudo is installed.
    pub sudo: bool,
    /// /proc/sys/user/max_user_namespaces.
    pub max_user_namespaces: Option<u64>,
    /// /proc/sys/kernel/unprivileged_userns_clone (older Debian kernels).
    pub unprivileged_userns_clone: Option<u64>,
    /// /proc/sys/kernel/apparmor_restrict_unprivileged_userns (Ubuntu 23.10+).
    pub apparmor_restrict_userns: Option<u64>,
    /// newuidmap: `None` if missing, else whether it is set-uid root or has
    /// file capabilities (it must, to map ranges).
    pub newuidmap: Option<bool>,
    /// newgidmap, likewise.
    pub newgidmap: Option<bool>,
    /// The caller's first range in /etc/subuid (start, count).
    pub subuid: Option<(u64, u64)>,
    /// The caller's first range in /etc/subgid.
    pub subgid: Option<(u64, u64)>,
    /// The cgroup layout.
    pub cgroup_mode: CgroupMode,
    /// Controllers the kernel has enabled.
    pub controllers: Vec<String>,
    /// v2, not root: controllers the caller may use in its own cgroup
    /// (delegated to it); `None` where that does not apply.
    pub delegated: Option<Vec<String>>,
    /// overlay in /proc/filesystems.
    pub overlay: bool,
    /// Whether overlayfs mounts inside a user namespace (tried); `None` if
    /// the try could not be made.
    pub overlay_in_userns: Option<bool>,
    /// `iptables --version`, if installed.
    pub iptables: Option<String>,
    /// /proc/sys/net/ipv4/ip_forward.
    pub ip_forward: Option<bool>,
    /// Each line of scripts/host-requirements, and whether it is met.
    pub tools: Vec<(Requirement, bool)>,
    /// What `rootfs/.workshop-rootfs` says, if the rootfs is there.
    pub rootfs: Option<String>,
    /// Whether the tests' probe is built into target/test-rootfs.
    pub probe: bool,
    /// The state directory the steps use.
    pub state_dir: PathBuf,
    /// Whether it (or the directory it would be made in) is writable.
    pub state_dir_writable: bool,
}

fn read_number(path: &str) -> Option<u64> {
    fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// Reads the facts off this host. `top` is the workshop's directory.
pub fn gather(top: &Path, state_dir: &Path, requirements: &[Requirement]) -> HostFacts {
    let euid = nix::unistd::geteuid().as_raw();
    let user = std::env::var("SUDO_USER").ok().unwrap_or_else(|| {
        nix::unistd::User::from_uid(nix::unistd::geteuid())
            .ok()
            .flatten()
            .map_or_else(|| euid.to_string(), |u| u.name)
    });
    let (cgroup_mode, controllers) = cgroups();
    HostFacts {
        kernel: nix::sys::utsname::uname()
            .map(|u| u.release().to_string_lossy().into_owned())
            .unwrap_or_default(),
        euid,
        sudo: find_program("sudo").is_some(),
        max_user_namespaces: read_number("/proc/sys/user/max_user_namespaces"),
        unprivileged_userns_clone: read_number("/proc/sys/kernel/unprivileged_userns_clone"),
        apparmor_restrict_userns: read_number(
            "/proc/sys/kernel/apparmor_restrict_unprivileged_userns",
        ),
        newuidmap: find_program("newuidmap").map(|p| privileged(&p)),
        newgidmap: find_program("newgidmap").map(|p| privileged(&p)),
        subuid: subids("/etc/subuid", &user),
        subgid: subids("/etc/subgid", &user),
        delegated: (cgroup_mode == CgroupMode::V2 && euid != 0).then(delegated_v2),
        cgroup_mode,
        controllers,
        overlay: fs::read_to_string("/proc/filesystems")
            .is_ok_and(|f| f.lines().any(|l| l.ends_with("\toverlay"))),
        overlay_in_userns: overlay_in_userns(),
        iptables: run("iptables", &["--version"]).map(|v| v.trim().to_string()),
        ip_forward: read_number("/proc/sys/net/ipv4/ip_forward").map(|v| v == 1),
        tools: requirements
            .iter()
            .map(|r| (r.clone(), need_met(&r.need)))
            .collect(),
        rootfs: fs::read_to_string(top.join("rootfs/.workshop-rootfs"))
            .ok()
            .map(|s| s.trim().to_string()),
        probe: top.join("target/test-rootfs/usr/local/bin/probe").is_file(),
        state_dir: state_dir.to_path_buf(),
        state_dir_writable: writable(state_dir),
        user,
    }
}

/// `program` on the PATH, or in the sbin directories.
fn find_program(program: &str) -> Option<PathBuf> {
    let path = std::env::var("PATH").unwrap_or_default();
    path.split(':')
        .chain(["/usr/local/sbin", "/usr/sbin", "/sbin"])
        .map(|dir| Path::new(dir).join(program))
        .find(|p| p.is_file())
}

/// Set-uid root, or with file capabilities (security.capability).
fn privileged(path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    let setuid_root = fs::metadata(path).is_ok_and(|m| m.uid() == 0 && m.mode() & 0o4000 != 0);
    let caps = nix::sys::stat::stat(path).is_ok()
        && Command::new("getcap")
            .arg(path)
            .output()
            .is_ok_and(|o| !o.stdout.is_empty());
    setuid_root || caps
}

/// The first range of `user` in /etc/subuid or /etc/subgid.
fn subids(file: &str, user: &str) -> Option<(u64, u64)> {
    let text = fs::read_to_string(file).ok()?;
    text.lines().find_map(|l| {
        let mut f = l.split(':');
        (f.next()? == user).then_some(())?;
        Some((f.next()?.parse().ok()?, f.next()?.parse().ok()?))
    })
}

/// The layout, and the controllers the kernel has enabled.
fn cgroups() -> (CgroupMode, Vec<String>) {
    if let Ok(list) = fs::read_to_string("/sys/fs/cgroup/cgroup.controllers") {
        return (
            CgroupMode::V2,
            list.split_whitespace().map(String::from).collect(),
        );
    }
    let mode = if Path::new("/sys/fs/cgroup/unified").is_dir() {
        CgroupMode::Hybrid
    } else {
        CgroupMode::V1
    };
    // /proc/cgroups: subsys_name hierarchy num_cgroups enabled.
    let table = fs::read_to_string("/proc/cgroups").unwrap_or_default();
    let enabled = table
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() == 4 && f[3] == "1").then(|| f[0].to_string())
        })
        .collect();
    (mode, enabled)
}

/// v2: the controllers of our own cgroup, if we may write to it.
fn delegated_v2() -> Vec<String> {
    let own = fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
    let Some(path) = own.lines().find_map(|l| l.strip_prefix("0::")) else {
        return Vec::new();
    };
    let dir = Path::new("/sys/fs/cgroup").join(path.trim_start_matches('/'));
    if !writable(&dir.join("cgroup.subtree_control")) {
        return Vec::new();
    }
    fs::read_to_string(dir.join("cgroup.controllers"))
        .unwrap_or_default()
        .split_whitespace()
        .map(String::from)
        .collect()
}

/// access(2) W_OK on `path`, or on the nearest parent that exists.
fn writable(path: &Path) -> bool {
    let existing = path
        .ancestors()
        .find(|p| p.exists())
        .unwrap_or(Path::new("/"));
    nix::unistd::access(existing, nix::unistd::AccessFlags::W_OK).is_ok()
}

fn need_met(need: &Need) -> bool {
    match need {
        Need::Cmd(name) => find_program(name).is_some(),
        Need::Static(name) => find_program(name).is_some_and(|p| {
            // ldd exits 1 for a static binary: read its words.
            run("ldd", &[&p.to_string_lossy()])
                .is_some_and(|w| w.contains("not a dynamic") || w.contains("statically linked"))
        }),
        Need::Module(name) => {
            fs::read_to_string("/proc/filesystems")
                .is_ok_and(|f| f.lines().any(|l| l.ends_with(&format!("\t{name}"))))
                || Path::new("/sys/module").join(name).exists()
        }
    }
}

/// Runs a program for at most 10 s; its stdout and stderr, or `None`.
fn run(program: &str, args: &[&str]) -> Option<String> {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .ok()?;
    let deadline = Instant::now() + Duration::from_secs(10);
    while child.try_wait().ok()?.is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let out = child.wait_with_output().ok()?;
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    Some(text)
}

/// Tries an overlay mount inside a new user and mount namespace (what
/// rootless step 07 needs: kernel 5.11+, and the distribution's consent).
fn overlay_in_userns() -> Option<bool> {
    find_program("unshare")?;
    let dir = std::env::temp_dir().join(format!("workshop-doctor-{}", std::process::id()));
    let script = "mkdir -p \"$1\" && cd \"$1\" && mkdir -p l u w m && \
                  mount -t overlay overlay -o lowerdir=l,upperdir=u,workdir=w m && echo mounted";
    let said = run(
        "unshare",
        &[
            "--user",
            "--map-root-user",
            "--mount",
            "sh",
            "-c",
            script,
            "sh",
        ][..]
            .iter()
            .copied()
            .chain([dir.to_str()?])
            .collect::<Vec<_>>(),
    );
    let _ = fs::remove_dir_all(&dir);
    Some(said?.contains("mounted"))
}
