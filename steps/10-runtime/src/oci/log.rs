//! `--log FILE --log-format json`: where an engine reads our errors.
//!
//! conmon and containerd's shim pass a log file and read the last
//! `"level":"error"` line from it when an operation fails; containerd
//! rejects a line that is not JSON, or whose time is not RFC 3339. So:
//! one JSON object a line (`{"level","msg","time"}`, as runc's logger
//! writes them), and the message on stderr too, for a person.

use std::io::Write;
use std::path::{Path, PathBuf};

/// How `--log-format` asks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    #[default]
    Text,
    Json,
}

/// `--log` and `--log-format` read from the words themselves: for an
/// error in the command line, which leaves no parsed flags to read.
pub fn flags(args: impl Iterator<Item = String>) -> (Option<PathBuf>, Format) {
    let (mut log, mut format) = (None, Format::Text);
    let mut args = args.peekable();
    while let Some(arg) = args.next() {
        let (flag, value) = match arg.split_once('=') {
            Some((flag, value)) => (flag.to_string(), Some(value.to_string())),
            None => (arg, None),
        };
        if flag != "--log" && flag != "--log-format" {
            continue;
        }
        let Some(value) = value.or_else(|| args.next()) else {
            break;
        };
        match flag.as_str() {
            "--log" => log = Some(PathBuf::from(value)),
            _ if value == "json" => format = Format::Json,
            _ => {}
        }
    }
    (log, format)
}

/// Says `message` at level `error`: on stderr, and in `log` if given.
pub fn error(log: Option<&Path>, format: Format, message: &str) {
    eprintln!("error: {message}");
    let Some(path) = log else { return };
    let time = crate::record::now();
    let line = match format {
        Format::Json => {
            serde_json::json!({ "level": "error", "msg": message, "time": time }).to_string()
        }
        Format::Text => format!("time={time:?} level=error msg={message:?}"),
    };
    let opened = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path);
    if let Ok(mut file) = opened {
        let _ = writeln!(file, "{line}");
    }
}
