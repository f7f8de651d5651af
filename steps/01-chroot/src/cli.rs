//! The command line every step shares.
//!
//! [`RunArgs`] is step 01's flag group; every step's command line has it,
//! beside the groups of the steps after (flags.rs), so `07-overlay`
//! accepts every flag of `01-chroot`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use colored::Colorize;

use crate::engine::Container;
use crate::error::{Error, Result, exit_code};
use crate::layer::Layers;
use crate::spec::Spec;
use crate::status::ExitStatus;
use crate::trace::{Trace, TraceOptions};

/// Where `rootfs-fetch.sh` puts the root filesystem: `rootfs/` at the top
/// of the workshop, found from where this crate was built.
pub fn default_rootfs() -> PathBuf {
    let workshop = Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("steps/NN-name lies two levels below the workshop");
    workshop.join("rootfs")
}

/// The default state directory (leases, layers, container records).
pub const DEFAULT_STATE_DIR: &str = "/var/lib/container-workshop";

/// Options about the trace, present in every step.
#[derive(Clone, Debug, clap::Args)]
pub struct TraceArgs {
    /// Print nothing but errors (no trace of system calls).
    #[arg(short, long)]
    pub quiet: bool,

    /// Print the plan (every system call) without executing anything; needs no root.
    #[arg(long)]
    pub dry_run: bool,

    /// Show how long each system call took.
    #[arg(long)]
    pub timings: bool,

    /// Pause before each system call until Enter is pressed (live demos); --step=mount,pivot_root
    /// pauses only before those calls, --step=cgroup before one layer's.
    #[arg(
        long,
        value_name = "CALLS",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = ""
    )]
    pub step: Option<String>,
}

/// The arguments of step 01, which every later step includes.
#[derive(Clone, Debug, clap::Args)]
pub struct RunArgs {
    /// The root filesystem of the container (made by ./rootfs-fetch.sh).
    #[arg(long, value_name = "DIR", env = "WORKSHOP_ROOTFS", default_value_os_t = default_rootfs())]
    pub rootfs: PathBuf,

    /// Where steps keep state between runs.
    #[arg(
        long,
        value_name = "DIR",
        env = "WORKSHOP_STATE_DIR",
        default_value = DEFAULT_STATE_DIR,
        value_parser = absolute_path,
        global = true
    )]
    pub state_dir: PathBuf,

    /// Keep stdin open: what you type (or pipe in) reaches the container.
    #[arg(short, long)]
    pub interactive: bool,

    /// Give the container a terminal of its own (a pty), relayed to yours.
    #[arg(short, long)]
    pub tty: bool,

    /// Set an environment variable in the container (repeatable).
    #[arg(short, long = "env", value_name = "KEY=VALUE", value_parser = parse_env)]
    pub env: Vec<(String, String)>,

    #[command(flatten)]
    pub trace: TraceArgs,

    /// The command to run in the container, with its arguments.
    #[arg(
        value_name = "COMMAND",
        trailing_var_arg = true,
        default_value = "/bin/sh"
    )]
    pub command: Vec<String>,
}

/// A path made absolute against the working directory, with `.` and `..`
/// taken away as `cd` does: paths under the state directory are mount
/// points, found again in /proc/self/mountinfo, which knows only plain
/// absolute paths.
pub fn absolute_path(text: &str) -> std::result::Result<PathBuf, String> {
    if text.is_empty() {
        return Err("an empty path".into());
    }
    let path = std::path::absolute(text).map_err(|err| format!("{text:?}: {err}"))?;
    let mut plain = PathBuf::new();
    for part in path.components() {
        match part {
            std::path::Component::ParentDir => {
                plain.pop();
            }
            std::path::Component::CurDir => {}
            part => plain.push(part),
        }
    }
    Ok(plain)
}

/// `KEY=VALUE`, for `-e` (and any later step's flag of that shape).
pub fn parse_env(s: &str) -> std::result::Result<(String, String), String> {
    match s.split_once('=') {
        Some((key, value)) if !key.is_empty() => Ok((key.into(), value.into())),
        _ => Err(format!("expected KEY=VALUE, got {s:?}")),
    }
}

impl RunArgs {
    /// The trace options the user asked for.
    pub fn trace_options(&self) -> TraceOptions {
        TraceOptions {
            quiet: self.trace.quiet,
            dry_run: self.trace.dry_run,
            timings: self.trace.timings,
            step: self.trace.step.is_some(),
            // `--step=mount,cgroup`: call names or layer names; none is all.
            step_only: self
                .trace
                .step
                .iter()
                .flat_map(|only| only.split(','))
                .filter(|name| !name.is_empty())
                .map(String::from)
                .collect(),
        }
    }

    /// The container's spec from these arguments.
    pub fn spec(&self) -> Result<Spec> {
        if self.trace.step.is_some() && std::fs::File::open("/dev/tty").is_err() {
            return Err(Error::Usage(
                "--step needs a terminal to wait on, and /dev/tty cannot be opened\n  \
                 hint: run it from an interactive terminal, or leave out --step"
                    .into(),
            ));
        }
        use std::io::IsTerminal;
        if self.tty && self.interactive && !std::io::stdin().is_terminal() {
            return Err(Error::Usage(
                "-it: the input is not a terminal, and a container's terminal never sees \
                 the end of a pipe\n  hint: pipe input in with -i alone, or run from a terminal"
                    .into(),
            ));
        }
        // An absolute path reads better in the trace, and stays right
        // whatever directory the child is in.
        let rootfs = std::path::absolute(&self.rootfs).map_err(|source| Error::Io {
            what: "resolving --rootfs",
            path: self.rootfs.clone(),
            source,
        })?;
        let program = std::env::args().next().unwrap_or_else(|| "the step".into());
        let mut spec = Spec::new(
            &program,
            rootfs,
            self.command.clone(),
            self.state_dir.clone(),
        );
        for (key, value) in &self.env {
            spec.set_env(key, value);
        }
        spec.stdio = crate::stdio::StdioMode {
            interactive: self.interactive,
            tty: self.tty,
        };
        Ok(spec)
    }
}

impl RunArgs {
    /// The container these arguments describe, with the layers `layers`
    /// gives for its spec (each step passes its own list).
    pub fn container(&self, layers: impl FnOnce(&Spec) -> Result<Layers>) -> Result<Container> {
        let spec = self.spec()?;
        let layers = layers(&spec)?;
        Ok(Container::new(spec, self.trace_options()).with_layers(layers))
    }
}

// ANCHOR: parse
/// Reads the command line. A usage error (an unknown flag, a bad value)
/// is one line naming the flag, a hint, and exit code 125, as `docker run`
/// does: the codes below belong to the container's own command, which may
/// well return 1 or 2.
pub fn parse<P: clap::Parser>() -> P {
    parse_with_matches().0
}

/// [`parse`], with clap's matches too, for a step that asks which flags
/// were given (step 07: no run flags with a subcommand).
pub fn parse_with_matches<P: clap::Parser>() -> (P, clap::ArgMatches) {
    let matches = P::command()
        .try_get_matches()
        .unwrap_or_else(|err| usage_failure(err, &P::command()));
    let parsed = P::from_arg_matches(&matches)
        .unwrap_or_else(|err| usage_failure(err.format(&mut P::command()), &P::command()));
    (parsed, matches)
}

/// The flags given on the command line (not by default or environment),
/// as `--long` names, among `command`'s own arguments.
pub fn flags_given(command: &clap::Command, matches: &clap::ArgMatches) -> Vec<String> {
    command
        .get_arguments()
        .filter(|arg| {
            matches.value_source(arg.get_id().as_str())
                == Some(clap::parser::ValueSource::CommandLine)
        })
        .filter_map(|arg| arg.get_long().map(|long| format!("--{long}")))
        .collect()
}

/// The name this program was run by (`07-overlay`, `10-runtime`), for a
/// hint to name the command to type next: a later step shows an earlier
/// step's errors, and its own name is the one that works there.
pub fn program() -> String {
    let argv0 = std::env::args().next().unwrap_or_default();
    match Path::new(&argv0).file_name() {
        Some(name) => name.to_string_lossy().into_owned(),
        None => "the runtime".into(),
    }
}

fn usage_failure(err: clap::Error, command: &clap::Command) -> ! {
    // --help and --version: printed on stdout, exit 0.
    if !err.use_stderr() {
        err.exit();
    }
    // clap's text: `error: ...`, perhaps indented lines that belong to it
    // (the missing arguments), a blank line, then usage and tips.
    let text = err.render().to_string();
    let mut lines = text.lines().map(str::trim);
    let first = lines.next().unwrap_or_default();
    let mut message = first.strip_prefix("error: ").unwrap_or(first).to_owned();
    for more in lines.by_ref().take_while(|l| !l.is_empty()) {
        message = format!("{message} {more}");
    }
    // The command whose --help to point at: with subcommands (step 07 on),
    // the first word that names one (`10-runtime kill`).
    let help_of = match std::env::args()
        .skip(1)
        .find(|word| command.find_subcommand(word).is_some())
    {
        Some(subcommand) => format!("{} {subcommand}", program()),
        None => program(),
    };
    // clap's tips: "a similar argument exists" helps; "to pass '--x' as a
    // value, use '-- --x'" would run `--x` as the container's command.
    let tips: Vec<&str> = lines.filter_map(|l| l.strip_prefix("tip: ")).collect();
    let hint = match tips.iter().find(|t| t.contains("similar")) {
        Some(tip) => tip.to_string(),
        None if err.kind() == clap::error::ErrorKind::UnknownArgument => format!(
            "{help_of} --help lists the flags; a command that starts with '-' goes after --"
        ),
        None => format!("{help_of} --help lists the flags and what they take"),
    };
    usage_error(&message, &hint)
}

/// Ends the process for a usage error: `error: MESSAGE`, `hint: HINT`,
/// exit code 125. Nothing has been touched yet.
pub fn usage_error(message: &str, hint: &str) -> ! {
    crate::trace::init_colors();
    eprintln_or_not(format_args!(
        "{} {message}\n  hint: {hint}",
        "error:".red().bold()
    ));
    std::process::exit(exit_code::RUNTIME_ERROR.into())
}
// ANCHOR_END: parse

/// Writes a line to stderr, unless stderr is gone (`2>&1 | head -1`): a
/// closed pipe is no reason to stop half-way, or to panic as `eprintln!`
/// does, which would skip the cleanup.
pub fn eprintln_or_not(args: std::fmt::Arguments<'_>) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr().lock(), "{args}");
}

/// Writes a line to stdout, unless stdout is gone (`images | head -1`).
pub fn println_or_not(args: std::fmt::Arguments<'_>) {
    use std::io::Write;
    let _ = writeln!(std::io::stdout().lock(), "{args}");
}

/// Ends a step's `main`: explains how the container ended, or prints the
/// error, and gives the exit code to leave with.
pub fn finish(args: &RunArgs, result: Result<ExitStatus>) -> ExitCode {
    match result {
        Ok(status) => {
            if !args.trace.dry_run {
                Trace::new(args.trace_options()).note(status.explain());
            }
            ExitCode::from(status.code())
        }
        Err(err) => {
            crate::trace::init_colors();
            eprintln_or_not(format_args!("{} {err}", "error:".red().bold()));
            ExitCode::from(err.exit_code())
        }
    }
}

/// Ends a `main` that ran something other than a container (a
/// subcommand, a cleanup): prints the error, if any, and gives the exit code.
pub fn finish_command(result: Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            crate::trace::init_colors();
            eprintln_or_not(format_args!("{} {err}", "error:".red().bold()));
            ExitCode::from(err.exit_code())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_values_need_a_key() {
        assert_eq!(parse_env("A=b=c").unwrap(), ("A".into(), "b=c".into()));
        assert_eq!(parse_env("A=").unwrap(), ("A".into(), "".into()));
        assert!(parse_env("=x").is_err());
        assert!(parse_env("noequals").is_err());
    }

    #[test]
    fn state_dirs_are_made_absolute_and_plain() {
        let cwd = std::env::current_dir().unwrap();
        assert_eq!(absolute_path("s").unwrap(), cwd.join("s"));
        assert_eq!(absolute_path("/a/./b/../c/").unwrap(), Path::new("/a/c"));
        assert_eq!(
            absolute_path("../x").unwrap(),
            cwd.parent().unwrap().join("x")
        );
        assert!(absolute_path("").is_err());
    }

    #[test]
    fn default_rootfs_is_at_the_top_of_the_workshop() {
        let rootfs = default_rootfs();
        assert!(rootfs.ends_with("rootfs"));
        assert!(rootfs.parent().unwrap().join("rootfs-fetch.sh").exists());
    }
}
