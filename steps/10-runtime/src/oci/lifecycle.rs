//! The operations (runtime-spec, runtime.md "Operations"), on the
//! containers under `--root`.

use std::os::unix::ffi::OsStringExt;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::bundle;
use super::container::{Dir, Saved, Status};
use super::error::OciError;
use super::making::{check_console, start_process};

type Result<T, E = OciError> = std::result::Result<T, E>;

/// How long `start` and `delete` wait for the container's first process.
const PATIENCE: Duration = Duration::from_secs(10);

/// Options of `create`.
#[derive(Debug)]
pub struct Create<'a> {
    pub root: &'a Path,
    pub bundle: &'a Path,
    pub pid_file: Option<&'a Path>,
    pub console_socket: Option<&'a Path>,
    pub id: &'a str,
}

impl<'a> Create<'a> {
    /// From the command line's words, for the containers under `root`.
    pub fn of(root: &'a Path, args: &'a super::cli::CreateArgs) -> Self {
        Create {
            root,
            bundle: &args.bundle,
            pid_file: args.pid_file.as_deref(),
            console_socket: args.console_socket.as_deref(),
            id: &args.id,
        }
    }
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
    check_console(asked.terminal, options.console_socket)?;
    if let Some(missing) = asked.hooks.as_ref().and_then(super::hooks::missing) {
        return Err(OciError::unsupported(
            missing,
            "a hook must be a program of the host's",
        ));
    }
    // The root is ours and nobody else's (step 01's state.rs): a state
    // file someone else could write would name the pid `delete` kills.
    step01_chroot::state::ensure_private(options.root).map_err(|err| OciError::Io {
        what: "checking",
        path: options.root.to_path_buf(),
        source: std::io::Error::other(err.to_string()),
    })?;
    // The container's own directory: made whole here, or already someone's.
    // Ours alone; with a user namespace, passable (not readable) by
    // others too: the container's root, a subordinate id, must reach the
    // files its layers bind from `state/` (/etc/hostname, ...).
    let mode = if asked.user { 0o711 } else { 0o700 };
    match std::fs::DirBuilder::new().mode(mode).create(&dir.path) {
        Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => {
            return Err(OciError::Exists);
        }
        other => other.map_err(OciError::io("making", &dir.path))?,
    }
    // Nothing of a container that was not made stays (`launch` has killed
    // its process, if it had one, and says which cgroups it was in).
    // And its poststop hooks run, as after any delete (what a createRuntime
    // hook set up, an address, is released).
    let poststop = asked.hooks.as_ref().and_then(|h| h.poststop().clone());
    let stopped = serde_json::json!({
        "ociVersion": asked.version, "id": options.id, "status": "stopped", "pid": 0,
        "bundle": bundle, "annotations": asked.annotations,
    });
    launch(&dir, &bundle, asked, &options).map_err(|(err, cgroups)| {
        let _ = destroy(&dir, &cgroups);
        super::hooks::run_or_warn(
            "poststop",
            poststop.as_deref().unwrap_or_default(),
            &stopped,
        );
        err
    })
}

/// The rest of `create`, in the container's directory. On failure, also
/// the cgroups of the process it made (killed by then), for `destroy`.
fn launch(
    dir: &Dir,
    bundle: &Path,
    asked: bundle::Translated,
    options: &Create<'_>,
) -> Result<(), (OciError, Vec<PathBuf>)> {
    let launched =
        start_process(dir, bundle, &asked, options.console_socket).map_err(|err| (err, vec![]))?;
    let pid = launched.pid().as_raw();
    let cgroups: Vec<PathBuf> = crate::join::cgroup_dirs(pid)
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
        cgroups: cgroups.clone(),
        hooks: asked.hooks,
    };
    // Written down first, then kept: killed before, it dies with us
    // (step 01's launch.rs), and `delete` finds a stopped container.
    let kept = dir
        .save(&saved)
        .and_then(|()| (options.pid_file).map_or(Ok(()), |file| write_pid_file(file, pid)))
        .and_then(|()| launched.keep().map_err(OciError::Engine));
    kept.map_err(|err| {
        // Made, but not kept: its process goes (it waits at the gate).
        if let Some(process) = crate::pidfd::Process::open(pid, saved.pid_start) {
            let _ = process.signal(nix::sys::signal::Signal::SIGKILL);
            process.wait_exit(PATIENCE);
        }
        (err, cgroups)
    })
}

// ANCHOR_END: create

/// The pid, in decimal and nothing else (containerd reads it with Atoi:
/// no newline), written aside and renamed into place: a reader never
/// sees half of it.
pub(super) fn write_pid_file(file: &Path, pid: i32) -> Result<()> {
    let file = std::path::absolute(file).map_err(OciError::io("finding", file))?;
    let name = file.file_name().unwrap_or_default().to_string_lossy();
    let aside = file.with_file_name(format!(".{name}.{}", std::process::id()));
    // A new file, never one found there (nor a symlink someone planted).
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .custom_flags(libc::O_NOFOLLOW)
        .mode(0o644)
        .open(&aside)
        .and_then(|mut f| std::io::Write::write_all(&mut f, pid.to_string().as_bytes()))
        .map_err(OciError::io("writing", &aside))?;
    std::fs::rename(&aside, &file).map_err(OciError::io("writing", &file))
}

/// `run`: `create` and `start` in one. Without `detach` this process stays
/// the container's parent: it waits for it, deletes it (as runc's `run`
/// does) and returns its exit code.
pub fn run(options: Create<'_>, detach: bool) -> Result<u8> {
    let (root, id) = (options.root, options.id);
    create(options)?;
    if let Err(err) = start(root, id) {
        let _ = delete(root, id, true);
        return Err(err);
    }
    if detach {
        return Ok(0);
    }
    let saved = Dir::of(root, id)?.saved()?;
    let code = wait_for(nix::unistd::Pid::from_raw(saved.pid));
    delete(root, id, true)?;
    Ok(code)
}

/// Waits for our child `pid`: its exit code, or 128 + the signal that
/// ended it (as a shell says it).
pub(super) fn wait_for(pid: nix::unistd::Pid) -> u8 {
    use nix::sys::wait::{WaitStatus, waitpid};
    loop {
        match waitpid(pid, None) {
            Err(nix::errno::Errno::EINTR) => continue,
            Ok(WaitStatus::Exited(_, code)) => return code as u8,
            Ok(WaitStatus::Signaled(_, signal, _)) => return 128 + signal as u8,
            _ => return 1,
        }
    }
}

// ANCHOR: start
/// `start`: opens the gate for reading, which lets the first process's
/// open for writing return; it writes one byte and goes on to `execve`.
/// The gate goes: from now on the container is running.
pub fn start(root: &Path, id: &str) -> Result<()> {
    let dir = Dir::of(root, id)?;
    // One `start` at a time: the second finds it running.
    let _one = crate::record::lock(&dir.path).map_err(|_| OciError::NoSuchContainer)?;
    let saved = dir.saved()?;
    let (status, process) = dir.status(&saved);
    let process = match (status, process) {
        (Status::Created, Some(process)) => process,
        (Status::Running, _) => return Err(OciError::CannotStart("running")),
        _ => return Err(OciError::CannotStart("stopped")),
    };
    pass_gate(&dir.gate(), &process)?;
    let poststart = saved.hooks.as_ref().and_then(|h| h.poststart().clone());
    let state = super::hooks::state(&saved.base_state(), "running", saved.pid);
    super::hooks::run_or_warn(
        "poststart",
        poststart.as_deref().unwrap_or_default(),
        &state,
    );
    Ok(())
}

/// Opens `gate` for reading, which lets the process waiting at it go on,
/// and reads its byte; then removes it.
pub(super) fn pass_gate(gate: &Path, process: &crate::pidfd::Process) -> Result<()> {
    // Non-blocking: the open returns at once, and we wait in poll, with
    // an eye on the process (if it dies, nobody will write).
    let fifo = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(gate)
        .map_err(OciError::io("opening the gate", gate))?;
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
            Err(errno) => return Err(OciError::io("reading the gate", gate)(errno.into())),
        }
        if gone || Instant::now() > deadline {
            return Err(OciError::CannotStart("stopped"));
        }
    }
    std::fs::remove_file(gate).map_err(OciError::io("removing", gate))
}
// ANCHOR_END: start

/// `state`: runtime.md's state, as JSON on stdout.
pub fn state(root: &Path, id: &str) -> Result<()> {
    let dir = Dir::of(root, id)?;
    let saved = dir.saved()?;
    let (status, _) = dir.status(&saved);
    let pid = if status == Status::Stopped {
        0
    } else {
        saved.pid
    };
    let state = super::hooks::state(&saved.base_state(), status.as_str(), pid);
    let text = serde_json::to_string_pretty(&state).expect("a state serializes");
    step01_chroot::cli::println_or_not(format_args!("{text}"));
    Ok(())
}

/// `kill`: a signal to the first process (a name or a number), while it
/// lives; through its pidfd, so a reused pid is never hit. With `all`, to
/// every process in its cgroup (processes.rs).
pub fn kill(root: &Path, id: &str, signal: &str, all: bool) -> Result<()> {
    let dir = Dir::of(root, id)?;
    let saved = dir.saved()?;
    let signal = crate::pidfd::parse_signal(signal).map_err(OciError::Signal)?;
    if all {
        return super::processes::kill_all(&saved, signal);
    }
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
        // A `create` killed before it wrote the state: what it left goes
        // with --force (and with the next `create` of this id refused
        // until then, as the id is taken).
        Err(OciError::NoSuchContainer) if force => return destroy(&dir, &[]),
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
    destroy(&dir, &saved.cgroups)?;
    let poststop = saved.hooks.as_ref().and_then(|h| h.poststop().clone());
    let state = super::hooks::state(&saved.base_state(), "stopped", 0);
    super::hooks::run_or_warn("poststop", poststop.as_deref().unwrap_or_default(), &state);
    Ok(())
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
        .map(unescape)
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

/// A path as /proc/self/mountinfo writes it: a space, tab, newline or
/// backslash in it is `\040`, `\011`, `\012`, `\134` (proc(5)).
pub(super) fn unescape(field: &str) -> PathBuf {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut at = 0;
    while at < bytes.len() {
        let octal = bytes.get(at + 1..at + 4).and_then(|d| {
            let text = std::str::from_utf8(d).ok()?;
            u8::from_str_radix(text, 8).ok()
        });
        match (bytes[at], octal) {
            (b'\\', Some(byte)) => {
                out.push(byte);
                at += 4;
            }
            (byte, _) => {
                out.push(byte);
                at += 1;
            }
        }
    }
    PathBuf::from(std::ffi::OsString::from_vec(out))
}

#[cfg(test)]
mod tests {
    #[test]
    fn mountinfo_paths_are_unescaped() {
        assert_eq!(
            super::unescape("/run/my\\040root/a\\134b"),
            std::path::PathBuf::from("/run/my root/a\\b")
        );
    }
}
