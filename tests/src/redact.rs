//! What a snapshot must not hold: what changes from run to run (pids,
//! temporary paths, timings) or from host to host (cgroup v1 or v2, the
//! resolver, masked /proc files), and what other tests' runs left.

use std::fs;
use std::path::Path;

use crate::full_capability_set;

/// Insta settings that hide what changes from run to run or from machine
/// to machine: pids, the rootfs and temporary paths, the program path,
/// timings, namespace inodes (`<its own>`); and, where the container shares
/// them with the host, its namespaces, hostname, cgroups and capabilities,
/// shown as `[as on the host]` (a learner's machine is not CI's).
pub fn redactions(rootfs: &Path) -> insta::Settings {
    let mut settings = insta::Settings::clone_current();
    settings.add_filter(&regex_escape(&rootfs.display().to_string()), "<rootfs>");
    settings.add_filter(r"/tmp/workshop-[a-z]+-[\w-]+", "<tmp>");
    settings.add_filter(r"(clone\([^)]*\)) = \d+", "$1 = <pid>");
    settings.add_filter(r"waitpid\(\d+, 0\) = \d+", "waitpid(<pid>, 0) = <pid>");
    settings.add_filter(r"(?m)^(pid|ppid): \d{2,}$", "$1: <pid>");
    settings.add_filter(r"host pid \d+", "host pid <pid>");
    settings.add_filter(r"/proc/\d+/", "/proc/<pid>/");
    settings.add_filter(r#"(cgroup\.procs", ")\d+"#, "$1<pid>");
    // The container's random id (its default hostname, and names of things).
    settings.add_filter(r"\b[0-9a-f]{12}\b", "<container id>");
    settings.add_filter(r"<[\d.]+[nµm]?s>", "<time>");
    // Root's subordinate ids (step 03's remap.rs): where they start depends
    // on the host's /etc/subuid.
    settings.add_filter(r"\b0 \d+ 65536\b", "0 <root's subid> 65536");
    settings.add_filter(
        r"(chown\([^)]*), \d+, \d+\)",
        "$1, <root's subid>, <root's subid>)",
    );
    settings.add_filter(r"chown\(-1, \d+\)", "chown(-1, <root's subid>)");
    // Descriptor numbers depend on what the runtime inherited.
    settings.add_filter(
        r"(O_PATH\)|RESOLVE_NO_SYMLINKS\)|O_WRONLY \| O_CLOEXEC\)) = \d+",
        "$1 = <fd>",
    );
    settings.add_filter(r"/proc/self/fd/\d+", "/proc/self/fd/<fd>");
    settings.add_filter(r"sudo \S+/\d\d-[a-z-]+", "sudo <program>");
    // A namespace the container shares with us, and one of its own.
    for ns in ["cgroup", "ipc", "mnt", "net", "pid", "time", "user", "uts"] {
        if let Ok(link) = fs::read_link(format!("/proc/self/ns/{ns}")) {
            let inode = link
                .to_string_lossy()
                .replace(|c: char| !c.is_ascii_digit(), "");
            settings.add_filter(
                &format!("(?m)^ns\\.{ns}: {inode}$"),
                format!("ns.{ns}: [as on the host]"),
            );
        }
    }
    settings.add_filter(r"(?m)^(ns\.\w+): \d+$", "$1: <its own>");
    if let Ok(host) = nix::unistd::gethostname() {
        let host = regex_escape(&host.to_string_lossy());
        settings.add_filter(
            &format!("(?m)^hostname: {host}$"),
            "hostname: [as on the host]",
        );
    }
    if let Ok(cgroups) = fs::read_to_string("/proc/self/cgroup") {
        let block: String = cgroups.lines().map(|l| format!("cgroup: {l}\n")).collect();
        settings.add_filter(&regex_escape(&block), "cgroup: [as on the host]\n");
    }
    // In a cgroup namespace (step 04 on), every hierarchy says "/"; v1
    // hosts differ in their hierarchies, v2 has one.
    settings.add_filter(
        r"(?m)(^cgroup: [^\n]*:/\n)+",
        "cgroup: / in every hierarchy\n",
    );
    // A new user namespace starts with every capability the kernel knows.
    if let Some(full) = full_capability_set() {
        settings.add_filter(
            &format!("(?m)^(status\\.Cap\\w+): {full}$"),
            "$1: [all capabilities]",
        );
    }
    let status = fs::read_to_string("/proc/self/status").unwrap_or_default();
    for field in ["CapInh", "CapPrm", "CapEff", "CapBnd"] {
        if let Some(value) = status
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{field}:")))
        {
            let value = value.trim();
            settings.add_filter(
                &format!("(?m)^status\\.{field}: {value}$"),
                format!("status.{field}: [as on the host]"),
            );
        }
    }
    settings
}

/// [`redactions`], plus what differs between hosts in the traces of the
/// later steps, which run every layer: the cgroup layer's calls (v1 or v2,
/// each run of them shown as one line, the child's own on v1 left out,
/// and so the numbers of the descriptors made after them),
/// the host's /sys submounts and resolver, the masked /proc files this
/// kernel has, and the cgroup report's numbers.
pub fn full_trace_redactions(rootfs: &Path) -> insta::Settings {
    let mut settings = redactions(rootfs);
    // Each run of the cgroup layer's calls (one mkdir on v2, four on v1;
    // subtree_control on v2 only): one line that says it was there.
    settings.add_filter(
        r"(?m)(^\[parent\] cgroup .*\n)+",
        "[parent] cgroup  │ <the cgroup layer's calls: their number differs between cgroup v1 and v2 (step 04's trace shows them)>\n",
    );
    // On v1 the child moves itself in (step 04's join.rs): its writes are
    // left out, and the descriptors the parent opened for them shift the
    // numbers of those that come after.
    settings.add_filter(
        r#"(?m)^\[child \] cgroup  │ write\("[^"]*/tasks", "0"\)[^\n]*\n"#,
        "",
    );
    settings.add_filter(r"fds \[\d+, \d+\]", "fds [<fd>, <fd>]");
    settings.add_filter(
        r"(?m)^\[child \] sys     │ mount\(NULL, \x22[^\x22]*/sys/[^\n]*\n",
        "",
    );
    settings.add_filter(
        r#"(write\("[^"]*resolv\.conf", )"[^"]*""#,
        "$1\"<the host's>\"",
    );
    settings.add_filter(
        r#"(?m)(^\[child \] masks   │ mount\("(tmpfs|/dev/null)", [^\n]*\n)+"#,
        "[child ] masks   │ <a /dev/null or an empty tmpfs over each masked path this kernel has>\n",
    );
    settings.add_filter(r"(?m)^\[child \] masks .*sysrq-trigger.*\n", "");
    settings.add_filter(r"(?m)^(── cgroup report|  (memory|cpu time|pids)).*\n", "");
    settings
}

/// Escapes a literal for use in a regex filter.
pub fn regex_escape(text: &str) -> String {
    text.chars()
        .flat_map(|c| {
            let special = "\\.+*?()|[]{}^$#&-~".contains(c);
            special
                .then_some('\\')
                .into_iter()
                .chain(std::iter::once(c))
        })
        .collect()
}

/// A trace without the sweep of what other runs left (their killed runs'
/// cgroups, namespaces, veths, overlays: other tests run meanwhile): each
/// such note, and the cleanup calls that follow it.
pub fn without_others_leftovers(trace: &str) -> String {
    let mut kept = String::new();
    let mut sweeping = false;
    for line in trace.lines() {
        let note = line.contains("run left");
        let cleanup = [
            "umount2(",
            "rmdir(",
            "RTM_DELLINK",
            "kill(",
            "cgroup.kill",
            "pidfd_open(",
            "unlinkat(",
        ]
        .iter()
        .any(|call| line.contains(call));
        sweeping = note || (sweeping && cleanup);
        if !sweeping {
            kept.push_str(line);
            kept.push('\n');
        }
    }
    kept
}
