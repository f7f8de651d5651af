//! The operations (runtime-spec, runtime.md "Operations"), on the
//! containers under `--root`.

use std::os::unix::ffi::OsStringExt;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use step01_chroot::Container;
use step01_chroot::cli::RunArgs;
use step01_chroot::flags::FlagGroups;
use step01_chroot::launch::Launched;

use super::bundle;
use super::container::{Dir, Saved, Status};
use super::error::OciError;
use super::extras::Groups;
use super::join::Join;

type Result<T, E = OciError> = std::result::Result<T, E>;

step01_chroot::step_command_line! {
    /// The workshop's own flags, which a config.json is read as (bundle.rs).
    pub(super) struct Flags {
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
    pub console_socket: Option<&'a Path>,
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
    match std::fs::DirBuilder::new().mode(0o700).create(&dir.path) {
        Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => {
            return Err(OciError::Exists);
        }
        other => other.map_err(OciError::io("making", &dir.path))?,
    }
    // Nothing of a container that was not made stays (`launch` has killed
    // its process, if it had one, and says which cgroups it was in).
    launch(&dir, &bundle, asked, &options).map_err(|(err, cgroups)| {
        let _ = destroy(&dir, &cgroups);
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

/// The workshop's flags that `asked` says, with the container's state
/// directory, and its seccomp profile written to `seccomp` in its
/// directory; then the command.
pub(super) fn workshop_flags(
    dir: &Dir,
    asked: &bundle::Translated,
    seccomp: &str,
) -> Result<Flags> {
    let mut argv = asked.argv.clone();
    let state_dir = dir.state_dir();
    argv.extend(["--state-dir".into(), state_dir.display().to_string()]);
    match &asked.seccomp {
        Some(profile) => {
            // The spec's seccomp is Docker's profile format, near enough
            // for step 08 to read it (names, actions, errno, arguments).
            let file = dir.path.join(seccomp);
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
    <Flags as clap::Parser>::try_parse_from(&argv).map_err(|err| {
        OciError::unsupported(
            "(read as the workshop's flags)",
            err.render().to_string().trim().to_string(),
        )
    })
}

/// A terminal and a socket to send it to, or neither (as runc).
pub(super) fn check_console(terminal: bool, socket: Option<&Path>) -> Result<()> {
    match (terminal, socket) {
        (true, None) => Err(OciError::unsupported(
            "process.terminal",
            "a terminal needs --console-socket, where its master goes",
        )),
        (false, Some(_)) => Err(OciError::unsupported(
            "--console-socket",
            "process.terminal is not true: there is no terminal to send",
        )),
        _ => Ok(()),
    }
}

/// `container`, with its terminal's master for `socket` (connected here,
/// by the path the engine gave; the child sends the master over it before
/// `create` or `exec` returns: conmon and containerd's shim read it once
/// we have exited).
pub(super) fn with_console(container: Container, socket: Option<&Path>) -> Result<Container> {
    let Some(socket) = socket else {
        return Ok(container);
    };
    let stream = std::os::unix::net::UnixStream::connect(socket)
        .map_err(OciError::io("connecting to the console socket", socket))?;
    Ok(container.with_console(stream.into()))
}

/// The gate, the flags, the console socket, and the engine's launch.
fn start_process(
    dir: &Dir,
    bundle: &Path,
    asked: &bundle::Translated,
    console_socket: Option<&Path>,
) -> Result<Launched> {
    let gate = dir.gate();
    nix::unistd::mkfifo(&gate, nix::sys::stat::Mode::from_bits_truncate(0o622))
        .map_err(|errno| OciError::io("making the gate", &gate)(errno.into()))?;
    // 0622 whatever the umask: the first process reopens it for writing
    // after it has become the config's user, who may not be root. (Only
    // through its descriptor: the directory is ours alone.)
    std::fs::set_permissions(&gate, std::os::unix::fs::PermissionsExt::from_mode(0o622))
        .map_err(OciError::io("making the gate", &gate))?;
    let flags = workshop_flags(dir, asked, "seccomp.json")?;
    let run: &RunArgs = flags.group();
    let mut spec = run.spec()?;
    spec.id = asked.cgroup_leaf.clone();
    spec.env = asked.env.clone();
    let mut layers = step09_registry::layers(&flags, &spec)?;
    // No user namespace unless config.json lists one (bundle.rs refuses
    // one for now): `--userns host` still makes one that maps every id
    // to itself, and says loudly that root is root; here the engine asked.
    // And the bundle's root filesystem is the container's, as it is: no
    // overlay of ours on it (step 07's), whose writes `delete` would lose.
    let stack = |err| OciError::Engine(step01_chroot::Error::layer(err));
    layers
        .remove::<step03_user_ns::userns::UserNamespace>()
        .map_err(stack)?
        .replace_with::<step07_overlay::overlay::Overlay>(step05_pivot_root::pivot::BindRoot)
        .map_err(stack)?
        // What no flag says (extras.rs): after the pivot, before the masks.
        .insert_before::<step05_pivot_root::masks::Masks>(asked.extras.clone())
        .map_err(stack)?;
    // The supplementary groups, once step 09 has switched the user and
    // before step 08 takes CAP_SETGID away (extras.rs).
    layers
        .insert_before::<step08_security::capabilities::Capabilities>(Groups(asked.groups.clone()))
        .map_err(stack)?;
    // The engine's hooks (hooks.rs): createRuntime once the child exists,
    // createContainer in it before the pivot, startContainer at the gate.
    if let Some(hooks) = asked.hooks.clone() {
        let id = dir.path.file_name().unwrap_or_default().to_string_lossy();
        let base = serde_json::json!({
            "ociVersion": asked.version, "id": id, "bundle": bundle,
            "annotations": asked.annotations,
        });
        layers
            .insert_before::<step05_pivot_root::pivot::PivotRoot>(super::hooks::CreateHooks {
                hooks,
                base,
            })
            .map_err(stack)?;
    }
    // Namespaces the engine made (join.rs): joined before step 05 mounts
    // /sys, while the host's paths are still there to open.
    for (kind, path) in &asked.joins {
        layers
            .insert_before::<step05_pivot_root::pivot::BindRoot>(Join::new(
                *kind,
                path.clone(),
                asked.hostname.clone(),
            ))
            .map_err(stack)?;
    }
    let container = Container::new(spec, run.trace_options()).with_layers(layers);
    Ok(with_console(container, console_socket)?.launch(&gate)?)
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
fn unescape(field: &str) -> PathBuf {
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
