//! The capstone speaks OCI: `10-runtime-oci`, the command line that
//! engines (podman through conmon, containerd through its runc shim) call
//! to run a container, as they call runc.
//!
//! The contract is the OCI runtime specification (runtime.md: the state,
//! the lifecycle, the operations; config.md: the bundle's config.json),
//! and, where it is silent, what runc does, because the engines were
//! written against runc:
//!
//! ```text
//! 10-runtime-oci [--root DIR] [--log F] [--log-format json] COMMAND ...
//!   create --bundle DIR [--pid-file F] [--console-socket S] ID
//!                                            made, waiting at its gate
//!   start ID                                 the gate opens: it runs
//!   state ID                                 JSON: id, pid, status, ...
//!   kill ID [SIGNAL]                         SIGTERM unless SIGNAL
//!   delete [--force] ID                      what create made, gone
//!   run [--detach] --bundle DIR ID           create and start in one
//!   exec --process F [--detach] ID           one more process in it
//!   ps [--format json] ID                    its processes
//!   features | spec                          what we do | a config.json
//! ```
//!
//! A container here is a directory, `<root>/<id>/`: `state.json`, the gate
//! (`exec.fifo`, as runc names it: step 01's launch.rs) while it waits to
//! start, and `state/`, the state directory its layers use.
//!
//! The one new idea is [`bundle`]: a config.json says what the workshop's
//! flags say, in JSON, and is read as those flags, so that every layer
//! of steps 01 to 09 runs as it always did. What no flag can say is
//! refused, named by its place in the file, never skipped. The rest is
//! bookkeeping: [`container`] (the directory and the status), and
//! [`lifecycle`] (the operations).

pub mod bundle;
pub mod cli;
pub mod container;
pub mod describe;
pub mod error;
pub mod exec;
pub mod extras;
pub mod hooks;
pub mod join;
pub mod lifecycle;
pub mod limits;
pub mod log;
pub mod making;
pub mod processes;
#[cfg(test)]
mod tests;

use std::process::ExitCode;

use cli::{Cli, Operation};
use lifecycle::Create;

/// `10-runtime-oci`: one operation; on failure, the error on stderr (and
/// in `--log`), exit 1, as runc does.
pub fn main() -> ExitCode {
    let cli = match <Cli as clap::Parser>::try_parse() {
        Ok(cli) => cli,
        Err(err) if !err.use_stderr() => err.exit(), // --help, --version
        Err(err) => {
            // A command we do not have (an engine's newer one) or a bad
            // flag: in the engine's log too, which it reads (log.rs).
            let (log, format) = log::flags(std::env::args());
            let text = err.render().to_string();
            let first = text.lines().next().unwrap_or_default();
            log::error(log.as_deref(), format, first.trim_start_matches("error: "));
            eprint!("{}", text.split_once('\n').map_or("", |(_, rest)| rest));
            return ExitCode::FAILURE;
        }
    };
    let root = cli.root.as_path();
    let done = match &cli.operation {
        Operation::Create(_) | Operation::Run { .. } if cli.systemd_cgroup => {
            Err(error::OciError::unsupported(
                "--systemd-cgroup",
                "cgroups through systemd are not here; use the cgroupfs manager",
            ))
        }
        Operation::Create(args) => lifecycle::create(Create::of(root, args)),
        Operation::Run { create, detach } => {
            match lifecycle::run(Create::of(root, create), *detach) {
                Ok(code) => return ExitCode::from(code),
                Err(err) => Err(err),
            }
        }
        Operation::Start { id } => lifecycle::start(root, id),
        Operation::State { id } => lifecycle::state(root, id),
        Operation::Kill { id, signal, all } => lifecycle::kill(root, id, signal, *all),
        Operation::Exec {
            process,
            detach,
            pid_file,
            console_socket,
            id,
            ..
        } => match exec::exec(exec::Exec {
            root,
            id,
            process,
            pid_file: pid_file.as_deref(),
            console_socket: console_socket.as_deref(),
            detach: *detach,
        }) {
            Ok(code) => return ExitCode::from(code),
            Err(err) => Err(err),
        },
        Operation::Ps { format, id } => processes::ps(root, id, *format == cli::PsFormat::Json),
        Operation::Delete { force, id } => lifecycle::delete(root, id, *force),
        Operation::Features => describe::features(),
        Operation::Spec {
            rootfs,
            bundle,
            command,
        } => describe::spec(rootfs, bundle, command),
    };
    match done {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            log::error(cli.log.as_deref(), cli.log_format, &err.for_engines());
            ExitCode::FAILURE
        }
    }
}
