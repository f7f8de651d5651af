//! Step 10's flags (its command line is step 09's and these: see step
//! 01's flags.rs), and its subcommands: Docker's lifecycle.

use clap::{ArgMatches, FromArgMatches, Subcommand};
use step01_chroot::flags::Has;
use step09_registry::cli::RegistryFlags;

/// Step 10's own flags.
#[derive(Clone, Debug, clap::Args)]
pub struct RuntimeArgs {
    /// Run the container in the background and print its id; `logs`, `ps`, `stop` and `rm` find it again.
    #[arg(short = 'd', long)]
    pub detach: bool,

    /// An option of the container's log (with -d), as Docker's json-file: max-size=10m, max-file=3.
    #[arg(long = "log-opt", value_name = "KEY=VALUE")]
    pub log_opts: Vec<String>,

    /// When to start the container again when it ends (with -d): no, on-failure[:N], always, unless-stopped.
    #[arg(long, value_name = "POLICY", default_value = "no", value_parser = crate::restart::parse)]
    pub restart: crate::restart::Policy,
}

/// What step 10 reads: step 09's flags and [`RuntimeArgs`].
pub trait RuntimeFlags: RegistryFlags + Has<RuntimeArgs> {}

impl<T: RegistryFlags + Has<RuntimeArgs>> RuntimeFlags for T {}

/// Step 10's subcommands: a container's life after `run`.
#[derive(Clone, Debug, clap::Subcommand)]
pub enum Lifecycle {
    /// List containers: running ones, or all with -a.
    Ps {
        /// Show every container, exited ones too.
        #[arg(short, long)]
        all: bool,
        /// Print only the ids.
        #[arg(short, long)]
        quiet: bool,
    },
    /// Run a command in a running container, in its namespaces and cgroup, as its own process.
    Exec(ExecArgs),
    /// Print a completion script for SHELL: 10-runtime completion bash > /etc/bash_completion.d/10-runtime
    Completion {
        /// bash, zsh, fish, elvish or powershell.
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff): 10-runtime man | man -l -; 10-runtime man exec for exec's.
    Man {
        /// A subcommand, for its own page (10-runtime-exec(1)).
        command: Option<String>,
    },
    /// Print a container's record (or, for a name no container has, an image's) as JSON.
    Inspect {
        /// A container's name or id, or an image's reference or id.
        name: String,
    },
    /// Attach your terminal to a detached container's (Ctrl-P Ctrl-Q detaches; it runs on).
    Attach {
        /// Its name, id, or the start of its id.
        container: String,
    },
    /// Print what a detached container wrote to stdout and stderr.
    Logs {
        /// Go on printing as it writes, until it exits.
        #[arg(short, long)]
        follow: bool,
        /// Only the last N lines ("all": every line).
        #[arg(short = 'n', long, value_name = "N", default_value = "all", value_parser = parse_tail)]
        tail: Tail,
        /// Begin each line with the time it was written.
        #[arg(short, long)]
        timestamps: bool,
        /// Its name, id, or the start of its id.
        container: String,
    },
    /// Create a container and do not start it: create [FLAGS] IMAGE [COMMAND]... (run's words); `start` runs it, detached.
    #[command(disable_help_flag = true)]
    Create {
        /// The flags, the image, and the command, read as `run` reads them.
        #[arg(
            trailing_var_arg = true,
            allow_hyphen_values = true,
            value_name = "[FLAGS] IMAGE [COMMAND]"
        )]
        words: Vec<String>,
    },
    /// Start containers: made by `create`, or that ran before (again, detached, on their writable layers as they were left).
    Start {
        /// Names, ids, or the starts of ids.
        #[arg(required = true)]
        containers: Vec<String>,
    },
    /// Stop containers: their stop signal (SIGTERM unless the image says), then SIGKILL after -t seconds.
    Stop {
        /// Seconds to wait for the container to exit before SIGKILL.
        #[arg(
            short = 't',
            long = "time",
            value_name = "SECONDS",
            default_value_t = 10
        )]
        time: u64,
        /// Names, ids, or the starts of ids.
        #[arg(required = true)]
        containers: Vec<String>,
    },
    /// Send a signal to containers (SIGKILL unless -s says).
    Kill {
        /// The signal: KILL, TERM, HUP, 15, ...
        #[arg(short, long, default_value = "KILL", value_parser = crate::pidfd::parse_signal)]
        signal: nix::sys::signal::Signal,
        /// Names, ids, or the starts of ids.
        #[arg(required = true)]
        containers: Vec<String>,
    },
    /// Remove containers: their record, log and writable layer.
    Rm {
        /// Kill a running container first (SIGKILL).
        #[arg(short, long)]
        force: bool,
        /// Names, ids, or the starts of ids.
        #[arg(required = true)]
        containers: Vec<String>,
    },
}

/// `exec`'s flags, as Docker's.
#[derive(Clone, Debug, clap::Args)]
pub struct ExecArgs {
    /// Keep stdin open: what you type (or pipe in) reaches the command.
    #[arg(short, long)]
    pub interactive: bool,
    /// Give the command a terminal of its own (a pty in the container's devpts).
    #[arg(short, long)]
    pub tty: bool,
    /// Set an environment variable, over the container's (repeatable).
    #[arg(short, long = "env", value_name = "KEY=VALUE", value_parser = step01_chroot::cli::parse_env)]
    pub env: Vec<(String, String)>,
    /// The working directory, which must exist (default: the container's).
    #[arg(short, long, value_name = "DIR", value_parser = step09_registry::cli::absolute_in_container)]
    pub workdir: Option<String>,
    /// Run as USER: name, uid, name:group or uid:gid (default: the container's).
    #[arg(short, long, value_name = "USER")]
    pub user: Option<String>,
    /// Print nothing but errors (no trace of system calls).
    #[arg(short, long)]
    pub quiet: bool,
    /// Its name, id, or the start of its id.
    pub container: String,
    /// The command and its arguments.
    #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
}

/// `logs --tail`: all, or a number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tail(pub Option<usize>);

fn parse_tail(text: &str) -> Result<Tail, String> {
    match text {
        "all" => Ok(Tail(None)),
        n => n
            .parse()
            .map(|n| Tail(Some(n)))
            .map_err(|_| format!("{n:?}: a number of lines, or all")),
    }
}

// ANCHOR: command
/// Every subcommand: step 10's, and step 09's others. Where both have one
/// of a name, step 10's wins: step 07's `rm NAME` removed a kept
/// writable layer, and Docker's `rm` removes a whole container, which
/// step 10's does (the writable layer with it).
///
/// clap's derive cannot leave out a subcommand it flattens in, so this
/// enum says by hand what the derive would: which words are whose.
#[derive(Clone, Debug)]
pub enum Command {
    /// Step 10's.
    Own(Lifecycle),
    /// Step 09's (`run`, `pull`, `images`, ...).
    Earlier(step09_registry::cli::Command),
}

impl FromArgMatches for Command {
    fn from_arg_matches(matches: &ArgMatches) -> Result<Self, clap::Error> {
        match matches.subcommand_name() {
            Some(name) if Lifecycle::has_subcommand(name) => {
                Lifecycle::from_arg_matches(matches).map(Command::Own)
            }
            _ => step09_registry::cli::Command::from_arg_matches(matches).map(Command::Earlier),
        }
    }

    fn update_from_arg_matches(&mut self, matches: &ArgMatches) -> Result<(), clap::Error> {
        *self = Self::from_arg_matches(matches)?;
        Ok(())
    }
}

impl Subcommand for Command {
    fn augment_subcommands(top: clap::Command) -> clap::Command {
        let mut top = Lifecycle::augment_subcommands(top);
        let earlier =
            step09_registry::cli::Command::augment_subcommands(clap::Command::new("earlier"));
        for sub in earlier.get_subcommands() {
            if !Lifecycle::has_subcommand(sub.get_name()) {
                top = top.subcommand(sub.clone());
            }
        }
        top
    }

    fn augment_subcommands_for_update(top: clap::Command) -> clap::Command {
        Self::augment_subcommands(top)
    }

    fn has_subcommand(name: &str) -> bool {
        Lifecycle::has_subcommand(name) || step09_registry::cli::Command::has_subcommand(name)
    }
}
// ANCHOR_END: command
