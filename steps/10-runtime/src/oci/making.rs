//! From a bundle read as flags (bundle.rs) to a container launched at its
//! gate: the workshop's flags parsed, the layers of steps 01 to 09 as
//! `run` would stack them, changed for an engine (no user namespace of
//! ours, no overlay: the bundle's root filesystem as it is), and what
//! this step adds (extras.rs, join.rs, hooks.rs); the console socket;
//! step 01's `launch`. `create` and `exec` (lifecycle.rs, exec.rs) use it.

use std::path::Path;

use step01_chroot::Container;
use step01_chroot::cli::RunArgs;
use step01_chroot::flags::FlagGroups;
use step01_chroot::launch::Launched;

use super::bundle;
use super::container::Dir;
use super::error::OciError;
use super::extras::{Groups, OomScoreAdj};
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
// ANCHOR: launch
pub(super) fn start_process(
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
    // No user namespace unless config.json lists one (then step 03 makes
    // it, with the file's maps): `--userns host` still makes one that maps
    // every id to itself, and says loudly that root is root; here the
    // engine asked for none.
    // And the bundle's root filesystem is the container's, as it is: no
    // overlay of ours on it (step 07's), whose writes `delete` would lose.
    let stack = |err| OciError::Engine(step01_chroot::Error::layer(err));
    if !asked.user {
        layers
            .remove::<step03_user_ns::userns::UserNamespace>()
            .map_err(stack)?;
    }
    layers
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
    if let Some(adj) = asked.oom_score_adj {
        layers.push(OomScoreAdj(adj));
    }
    // The engine's hooks (hooks.rs): createRuntime and createContainer
    // once the child has made its mounts, before the pivot;
    // startContainer past the gate.
    if let Some(hooks) = asked.hooks.clone() {
        let id = dir.path.file_name().unwrap_or_default().to_string_lossy();
        let base = serde_json::json!({
            "ociVersion": asked.version, "id": id, "bundle": bundle,
            "annotations": asked.annotations,
        });
        layers
            .insert_before::<step05_pivot_root::pivot::PivotRoot>(super::hooks::CreateHooks::new(
                hooks, base,
            ))
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
// ANCHOR_END: launch
