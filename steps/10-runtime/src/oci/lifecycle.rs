//! The operations (runtime-spec, runtime.md "Operations"), on the
//! containers under `--root`.

use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use step01_chroot::Container;
use step01_chroot::cli::RunArgs;
use step01_chroot::flags::FlagGroups;

use super::bundle;
use super::container::{Dir, Saved, Status};
use super::error::OciError;

type Result<T, E = OciError> = std::result::Result<T, E>;

step01_chroot::step_command_line! {
    /// The workshop's own flags, which a config.json is read as (bundle.rs).
    struct Flags {
        run: RunArgs,
        pid_ns: step02_pid_ns::cli::PidNsArgs,
        user_ns: step03_user_ns::cli::UserNsArgs,
        cgroups: step04_cgroups::cli::CgroupArgs,
        pivot: step05_pivot_root::cli::PivotArgs,
        net: step06_netns_veth::cli::NetArgs,
        overlay: step07_overlay::cli::OverlayArgs,
        security: step08_security::cli::SecurityArgs,
        registry: step09_registry::cli::RegistryArgs,
    }
}

/// How long `start` and `delete` wait for the container's first process.
const PATIENCE: Duration = Duration::from_secs(10);

/// Options of `create`.
#[derive(Debug)]
pub struct Create<'a> {
    pub root: &'a Path,
    pub bundle: &'a Path,
    pub pid_file: Option<&'a Path>,
    pub id: &'a str,
}

// ANCHOR: create
/// `create`: the bundle read (and refused, if it asks for what we cannot
/// do) before anything is made; then the container's directory, its gate,
/// and the engine's `launch`: every layer of steps 01 to 09, up to the
/// moment before `execve`, where the first process waits for `start`.
pub fn create(options: Create<'_>) -> Result<()> {
    let dir = Dir::of(options.root, options.id)?;
    let bundle =
        std::path::absolute(options.bundle).map_err(OciError::io("finding", options.bundle))?;
    let config = bundle::load(&bundle)?;
    let asked = bundle::read(&bundle, &config, options.id)?;
    // Our own directory: made whole here, or already someone's.
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(options.root)
        .map_err(OciError::io("making", options.root))?;
    match std::fs::DirBuilder::new().mode(0o700).create(&dir.path) {
        Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => {
            return Err(OciError::Exists);
        }
        other => other.map_err(OciError::io("making", &dir.path))?,
    }
    let made = launch(&dir, &bundle, asked, options.pid_file);
    if made.is_err() {
        // Nothing of a container that was not made stays.
        let _ = destroy(&dir, &[]);
    }
    made
}

/// The rest of `create`, in the container's directory.
fn launch(
    dir: &Dir,
    bundle: &Path,
    asked: bundle::Translated,
    pid_file: Option<&Path>,
) -> Result<()> {
    let gate = dir.gate();
    nix::unistd::mkfifo(&gate, nix::sys::stat::Mode::from_bits_truncate(0o600))
        .map_err(|errno| OciError::io("making the gate", &gate)(errno.into()))?;
    let mut argv = asked.argv.clone();
    let state_dir = dir.state_dir();
    argv.extend(["--state-dir".into(), state_dir.display().to_string()]);
    match &asked.seccomp {
        Some(profile) => {
            // The spec's seccomp is Docker's profile format, near enough
            // for step 08 to read it (names, actions, errno, arguments).
            let file = dir.path.join("seccomp.json");
            std::fs::write(&file, profile.to_string()).map_err(OciError::io("writing", &file))?;
            argv.extend([
                "--security-opt".into(),
                format!("seccomp={}", file.display()),
            ]);
        }
        None => argv.extend(["--security-opt".into(), "seccomp=unconfined".into()]),
    }
    argv.push("--".into());
    argv.extend(asked.command.iter().cloned());
    let flags = <Flags as clap::Parser>::try_parse_from(&argv).map_err(|err| {
        OciError::unsupported("(as flags)", err.render().to_string().trim().to_string())
    })?;
    let run: &RunArgs = flags.group();
    let mut spec = run.spec()?;
    spec.id = asked.cgroup_leaf.clone();
    spec.env = asked.env.clone();
    let mut layers = step09_registry::layers(&flags, &spec)?;
    // No user namespace unless config.json lists one (bundle.rs refuses
    // one for now): `--userns host` still makes one that maps every id
    // to itself, and says loudly that root is root; here the engine asked.
    layers
        .remove::<step03_user_ns::userns::UserNamespace>()
        .map_err(|err| OciError::Engine(step01_chroot::Error::layer(err)))?;
    let pid = Container::new(spec, run.trace_options())
        .with_layers(layers)
        .launch(&gate)?
        .as_raw();
    let cgroups = crate::join::cgroup_dirs(pid)
        .unwrap_or_default()
        .into_iter()
        .filter(|d| d.file_name().is_some_and(|n| *n == *asked.cgroup_leaf))
        .collect();
    let saved = Saved {
        oci_version: asked.version,
        id: dir
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        pid,
        pid_start: crate::pidfd::start_time(pid).unwrap_or_default(),
        bundle: bundle.to_path_buf(),
        rootfs: asked.rootfs,
        created: crate::record::now(),
        annotations: asked.annotations,
        cgroups,
    };
    dir.save(&saved)?;
    if let Some(file) = pid_file {
        write_pid_file(file, pid)?;
    }
    Ok(())
}
// ANCHOR_END: create

/// The pid, in decimal and nothing else (containerd reads it with Atoi:
/// no newline), written aside and renamed into place: a reader never
/// sees half of it.
fn write_pid_file(file: &Path, pid: i32) -> Result<()> {
    let file = std::path::absolute(file).map_err(OciError::io("finding", file))?;
    let name = file.file_name().unwrap_or_default().to_string_lossy();
    let aside = file.with_file_name(format!(".{name}.{}", std::process::id()));
    std::fs::write(&aside, pid.to_string()).map_err(OciError::io("writing", &aside))?;
    std::fs::rename(&aside, &file).map_err(OciError::io("writing", &file))
}

// ANCHOR: start
/// `start`: opens the gate for reading, which lets the first process's
/// open for writing return; it writes one byte and goes on to `execve`.
/// The gate goes: from now on the container is running.
pub fn start(root: &Path, id: &str) -> Result<()> {
    let dir = Dir::of(root, id)?;
    let saved = dir.saved()?;
    let (status, process) = dir.status(&saved);
    let process = match (status, process) {
        (Status::Created, Some(process)) => process,
        (Status::Running, _) => return Err(OciError::CannotStart("running")),
        _ => return Err(OciError::CannotStart("stopped")),
    };
    let gate = dir.gate();
    // Non-blocking: the open returns at once, and we wait in poll, with
    // an eye on the process (if it dies, nobody will write).
    let fifo = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(&gate)
        .map_err(OciError::io("opening the gate", &gate))?;
    let deadline = Instant::now() + PATIENCE;
    let mut byte = [0u8; 1];
    loop {
        // Read after looking: a command quick to end has written its byte
        // (still in the FIFO) before it went. (0 bytes: no writer has it
        // open yet.)
        let gone = process.wait_exit(Duration::from_millis(10));
        match nix::unistd::read(&fifo, &mut byte) {
            Ok(1) => break,
            Ok(_) | Err(nix::errno::Errno::EAGAIN) => {}
            Err(errno) => return Err(OciError::io("reading the gate", &gate)(errno.into())),
        }
        if gone || Instant::now() > deadline {
            return Err(OciError::CannotStart("stopped"));
        }
    }
    std::fs::remove_file(&gate).map_err(OciError::io("removing", &gate))
}
// ANCHOR_END: start

/// `state`: runtime.md's state, as JSON on stdout.
pub fn state(root: &Path, id: &str) -> Result<()> {
    let dir = Dir::of(root, id)?;
    let saved = dir.saved()?;
    let (status, _) = dir.status(&saved);
    let mut state = serde_json::json!({
        "ociVersion": saved.oci_version,
        "id": saved.id,
        "pid": if status == Status::Stopped { 0 } else { saved.pid },
        "status": status.as_str(),
        "bundle": saved.bundle,
        "rootfs": saved.rootfs,
        "created": saved.created,
        "owner": "",
    });
    if !saved.annotations.is_empty() {
        state["annotations"] = serde_json::json!(saved.annotations);
    }
    let text = serde_json::to_string_pretty(&state).expect("a state serializes");
    step01_chroot::cli::println_or_not(format_args!("{text}"));
    Ok(())
}

/// `kill`: a signal to the first process (a name or a number), while it
/// lives; through its pidfd, so a reused pid is never hit.
pub fn kill(root: &Path, id: &str, signal: &str) -> Result<()> {
    let dir = Dir::of(root, id)?;
    let saved = dir.saved()?;
    let signal = crate::pidfd::parse_signal(signal).map_err(OciError::Signal)?;
    match dir.status(&saved) {
        (Status::Stopped, _) | (_, None) => Err(OciError::NotRunning),
        (_, Some(process)) => process.signal(signal).map_err(|errno| match errno {
            nix::errno::Errno::ESRCH => OciError::NotRunning,
            errno => OciError::Signal(format!("{signal}: {}", errno.desc())),
        }),
    }
}

// ANCHOR: delete
/// `delete`: a stopped container, or a created one (which never ran: runc
/// deletes those too, and containerd counts on it); a running one only
/// with `--force`. Its first process is killed and waited for, then what
/// `create` made goes: its cgroup, the mounts under its directory, the
/// directory. Reaping the process is its parent's part (the engine's).
pub fn delete(root: &Path, id: &str, force: bool) -> Result<()> {
    let dir = Dir::of(root, id)?;
    let saved = match dir.saved() {
        Err(OciError::NoSuchContainer) if force => return Ok(()),
        other => other?,
    };
    match dir.status(&saved) {
        (Status::Running, _) if !force => {
            return Err(OciError::NotStopped(saved.id, "running"));
        }
        (_, Some(process)) => {
            let _ = process.signal(nix::sys::signal::Signal::SIGKILL);
            process.wait_exit(PATIENCE);
        }
        (_, None) => {}
    }
    destroy(&dir, &saved.cgroups)
}
// ANCHOR_END: delete

/// Removes a container's cgroups (waiting a little for them to empty),
/// the mounts its layers left under its directory (the deepest first),
/// and the directory.
fn destroy(dir: &Dir, cgroups: &[PathBuf]) -> Result<()> {
    for cgroup in cgroups {
        let deadline = Instant::now() + Duration::from_secs(2);
        while cgroup.exists() && std::fs::remove_dir(cgroup).is_err() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let mut under: Vec<PathBuf> = mountinfo
        .lines()
        .filter_map(|line| line.split(' ').nth(4))
        .map(PathBuf::from)
        .filter(|point| point.starts_with(&dir.path))
        .collect();
    under.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    for point in under {
        let _ = nix::mount::umount2(&point, nix::mount::MntFlags::MNT_DETACH);
    }
    match std::fs::remove_dir_all(&dir.path) {
        Err(err) if err.kind() != std::io::ErrorKind::NotFound => {
            Err(OciError::io("removing", &dir.path)(err))
        }
        _ => Ok(()),
    }
}
