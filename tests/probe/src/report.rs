//! `probe report`: what this process sees of the system, one fact a line.
//!
//! Values that cannot be read are reported as `unavailable (...)`, never
//! skipped: in step 01 there is no /proc inside the rootfs, and that absence
//! is itself part of the lesson.

use std::ffi::CStr;
use std::fs;
use std::process::ExitCode;

/// The namespaces of namespaces(7), in the order `lsns` lists them.
const NAMESPACES: [&str; 8] = ["cgroup", "ipc", "mnt", "net", "pid", "time", "user", "uts"];

/// The fields of /proc/self/status that say what the process may do.
/// (Not SigIgn: the probe is a Rust program, and Rust ignores SIGPIPE in
/// every program it starts; the contract tests look at signal state with
/// busybox instead.)
const STATUS_FIELDS: [&str; 7] = [
    "CapInh",
    "CapPrm",
    "CapEff",
    "CapBnd",
    "CapAmb",
    "NoNewPrivs",
    "Seccomp",
];

pub fn run(args: &[String]) -> ExitCode {
    let mut see = Vec::new();
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match (arg.as_str(), args.next()) {
            ("--see", Some(path)) => see.push(path.clone()),
            _ => {
                eprintln!("probe report: usage: probe report [--see PATH]...");
                return ExitCode::from(2);
            }
        }
    }

    // SAFETY: these calls cannot fail and touch no memory of ours.
    let (pid, ppid, uid, gid, euid) = unsafe {
        (
            libc::getpid(),
            libc::getppid(),
            libc::getuid(),
            libc::getgid(),
            libc::geteuid(),
        )
    };
    println!("pid: {pid}");
    println!("ppid: {ppid}");
    println!("uid: {uid}");
    println!("gid: {gid}");
    println!("euid: {euid}");
    println!("hostname: {}", hostname());
    println!("fds: {}", open_fds());
    for ns in NAMESPACES {
        println!("ns.{ns}: {}", namespace(ns));
    }
    println!("root: {}", root_listing());
    match fs::read_to_string("/proc/self/mountinfo") {
        Ok(text) => {
            let mounts: Vec<_> = text.lines().filter_map(mount_point_and_type).collect();
            println!("mounts: {}", mounts.len());
            for (point, fstype) in mounts {
                println!("mount: {point} {fstype}");
            }
        }
        Err(e) => println!("mounts: unavailable ({})", short(&e)),
    }
    for (key, file) in [
        ("cgroup", "/proc/self/cgroup"),
        ("uid_map", "/proc/self/uid_map"),
        ("gid_map", "/proc/self/gid_map"),
    ] {
        match fs::read_to_string(file) {
            Ok(text) => {
                for line in text.lines() {
                    println!(
                        "{key}: {}",
                        line.split_whitespace().collect::<Vec<_>>().join(" ")
                    );
                }
            }
            Err(e) => println!("{key}: unavailable ({})", short(&e)),
        }
    }
    let status = fs::read_to_string("/proc/self/status");
    for field in STATUS_FIELDS {
        let value = match &status {
            Ok(text) => text
                .lines()
                .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
                .map(|v| v.trim().to_string())
                .unwrap_or_else(|| "unavailable (not in status)".into()),
            Err(e) => format!("unavailable ({})", short(e)),
        };
        println!("status.{field}: {value}");
    }
    println!("sysvipc.shm: {}", shm_segments());
    for path in see {
        let seen = match fs::symlink_metadata(&path) {
            Ok(_) => "yes".to_string(),
            Err(e) => format!("no ({})", short(&e)),
        };
        println!("see {path}: {seen}");
    }
    ExitCode::SUCCESS
}

/// The System V shared memory segments of our IPC namespace, as
/// `key=0x...` words, from /proc/sysvipc/shm (proc(5)).
fn shm_segments() -> String {
    match fs::read_to_string("/proc/sysvipc/shm") {
        Ok(text) => {
            let keys: Vec<_> = text
                .lines()
                .skip(1) // the header
                .filter_map(|l| l.split_whitespace().next()?.parse::<i64>().ok())
                .map(|key| format!("key=0x{:08x}", key as u32))
                .collect();
            if keys.is_empty() {
                "none".into()
            } else {
                keys.join(" ")
            }
        }
        Err(e) => format!("unavailable ({})", short(&e)),
    }
}

fn hostname() -> String {
    // SAFETY: uname fills the struct we give it; all fields are C strings.
    unsafe {
        let mut uts: libc::utsname = std::mem::zeroed();
        if libc::uname(&mut uts) != 0 {
            return "unavailable".into();
        }
        CStr::from_ptr(uts.nodename.as_ptr())
            .to_string_lossy()
            .into_owned()
    }
}

/// The namespace's inode number, from the `ns:[4026531836]` link.
fn namespace(ns: &str) -> String {
    match fs::read_link(format!("/proc/self/ns/{ns}")) {
        Ok(target) => {
            let target = target.to_string_lossy();
            target
                .split_once(":[")
                .and_then(|(_, rest)| rest.strip_suffix(']'))
                .unwrap_or(&target)
                .to_string()
        }
        Err(e) => format!("unavailable ({})", short(&e)),
    }
}

fn root_listing() -> String {
    match fs::read_dir("/") {
        Ok(entries) => {
            let mut names: Vec<_> = entries
                .filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect();
            names.sort();
            names.join(" ")
        }
        Err(e) => format!("unavailable ({})", short(&e)),
    }
}

/// Field 5 of a mountinfo line is the mount point; the file system type
/// follows the ` - ` separator (proc(5)).
fn mount_point_and_type(line: &str) -> Option<(String, String)> {
    let point = line.split(' ').nth(4)?.to_string();
    let fstype = line.split(" - ").nth(1)?.split(' ').next()?.to_string();
    Some((point, fstype))
}

/// "No such file or directory", without Rust's " (os error 2)".
fn short(e: &std::io::Error) -> String {
    let text = e.to_string();
    match text.find(" (os error") {
        Some(i) => text[..i].to_string(),
        None => text,
    }
}

/// The descriptors open in this process, asked of the kernel with
/// fcntl(F_GETFD) (no /proc needed: step 01 has none).
fn open_fds() -> String {
    let open: Vec<String> = (0..1024)
        // SAFETY: F_GETFD only reads the descriptor's flags.
        .filter(|&fd| unsafe { libc::fcntl(fd, libc::F_GETFD) } != -1)
        .map(|fd| fd.to_string())
        .collect();
    open.join(" ")
}
