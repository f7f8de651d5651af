//! The OCI runtime's command line, runc's shape: global flags first, then
//! the operation and its container id (engines pass exactly these).

use std::path::PathBuf;

use super::log::Format;

/// What `create` and `run` take.
#[derive(Debug, clap::Args)]
pub struct CreateArgs {
    /// The bundle: a directory with config.json and the root filesystem.
    #[arg(long, short, value_name = "DIR", default_value = ".")]
    pub bundle: PathBuf,
    /// Write the first process's pid here (as the host numbers it).
    #[arg(long, value_name = "FILE")]
    pub pid_file: Option<PathBuf>,
    /// With process.terminal: the terminal's master goes to this unix
    /// socket (SCM_RIGHTS), for the engine to relay.
    #[arg(long, value_name = "SOCKET")]
    pub console_socket: Option<PathBuf>,
    /// Accepted: pivot_root is always used here.
    #[arg(long)]
    pub no_pivot: bool,
    /// Accepted: no session keyring is made here.
    #[arg(long)]
    pub no_new_keyring: bool,
    /// The container's id: letters, digits and _ + - . (runc's rule).
    pub id: String,
}

/// `ps --format`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum PsFormat {
    Table,
    Json,
}

/// Run containers for engines that drive an OCI runtime: podman (through
/// conmon), containerd (through its runc shim), as they drive runc.
///
/// Step 10 of the container workshop, its OCI face: `10-runtime-oci spec`
/// writes a config.json; `create`, `start`, `state`, `kill`, `delete` go
/// through a container's life.
#[derive(Debug, clap::Parser)]
#[command(name = "10-runtime-oci", version)]
pub struct Cli {
    /// Where containers are kept, one directory each.
    #[arg(
        long,
        value_name = "DIR",
        default_value = "/run/10-runtime-oci",
        global = true
    )]
    pub root: PathBuf,
    /// Errors go here too, for the engine to read.
    #[arg(long, value_name = "FILE", global = true)]
    pub log: Option<PathBuf>,
    /// The lines of --log: text, or JSON (one object a line).
    #[arg(long, value_enum, default_value = "text", global = true)]
    pub log_format: Format,
    /// Cgroups through systemd: not here (refused by create).
    #[arg(long, global = true)]
    pub systemd_cgroup: bool,
    /// More detail in --log (accepted; errors are all there is).
    #[arg(long, global = true)]
    pub debug: bool,
    #[command(subcommand)]
    pub operation: Operation,
}

/// The operations of runtime.md, and two helpers.
#[derive(Debug, clap::Subcommand)]
pub enum Operation {
    /// Make container ID from a bundle, and leave it waiting for start.
    Create(CreateArgs),
    /// Create and start container ID; without --detach, wait for it, delete
    /// it, and exit with its code.
    Run {
        #[command(flatten)]
        create: CreateArgs,
        /// Leave it running, and exit at once.
        #[arg(long, short)]
        detach: bool,
    },
    /// Let a created container run its command.
    Start { id: String },
    /// Print a container's state as JSON.
    State { id: String },
    /// Send a signal (SIGTERM unless given: a name or a number).
    Kill {
        id: String,
        #[arg(default_value = "SIGTERM")]
        signal: String,
        /// Every process in the container's cgroup, not only its first.
        #[arg(long, short)]
        all: bool,
    },
    /// Run one more process in a running container: the process that
    /// FILE (config.json's `process`, alone) says.
    Exec {
        /// The process, as JSON.
        #[arg(long, short, value_name = "FILE")]
        process: PathBuf,
        /// Leave once it runs (its parent is then whoever reaps our
        /// orphans: the engine); without it, wait and exit with its code.
        #[arg(long, short)]
        detach: bool,
        /// Write its pid here (as the host numbers it).
        #[arg(long, value_name = "FILE")]
        pid_file: Option<PathBuf>,
        /// With process.terminal: where its terminal's master goes.
        #[arg(long, value_name = "SOCKET")]
        console_socket: Option<PathBuf>,
        /// Accepted: process.terminal says it (conmon 2.1 passes both).
        #[arg(long, short)]
        tty: bool,
        id: String,
    },
    /// List the processes of a container (their host pids).
    Ps {
        /// `json`: an array of pids (what containerd reads); `table`.
        #[arg(long, short, value_enum, default_value = "table")]
        format: PsFormat,
        id: String,
    },
    /// Remove a container: stopped, or created (or anything with --force).
    Delete {
        #[arg(long, short)]
        force: bool,
        id: String,
    },
    /// Print what this runtime does, as JSON (runtime-spec features.md).
    Features,
    /// Write a config.json for a bundle whose root filesystem is ROOTFS.
    Spec {
        /// The root filesystem, as config.json's root.path.
        #[arg(long, value_name = "PATH", default_value = "rootfs")]
        rootfs: PathBuf,
        /// The bundle directory to write config.json into.
        #[arg(long, short, value_name = "DIR", default_value = ".")]
        bundle: PathBuf,
        /// The command, as process.args.
        #[arg(last = true, default_value = "sh")]
        command: Vec<String>,
    },
}
