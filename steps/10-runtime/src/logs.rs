//! A detached container's output, kept: Docker's `json-file` log.
//!
//! Nobody is at a terminal to read a detached container's output, so its
//! monitor hands the container's stdout and stderr pipes to a **logger**
//! (a process of its own, see monitor.rs), which writes one JSON object a
//! line, as Docker's default log driver does:
//!
//! ```text
//! {"log":"hello\n","stream":"stdout","time":"2026-12-02T03:04:05.123456789Z"}
//! ```
//!
//! A line is cut where the container wrote a newline, or after 16 KiB
//! without one (a program that never prints a newline must not make the
//! logger hold its output for ever). The file is capped: past `max-size`
//! it is renamed `json.log.1` (the older ones shift up) and a new one is
//! begun; `max-file` files are kept in all. `logs` reads them oldest first.

use std::fs::{self, File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::RuntimeError;

/// The longest piece of a line written as one entry.
const PARTIAL_LINE: usize = 16 << 10;

/// `--log-opt max-size=…,max-file=…`.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct LogOptions {
    /// Bytes in json.log before it is rotated.
    pub max_size: u64,
    /// Files kept, json.log included.
    pub max_file: u32,
}

impl Default for LogOptions {
    /// 10 MiB, 3 files: a bounded 30 MiB (Docker keeps everything unless
    /// told otherwise; a workshop machine has a small disk).
    fn default() -> Self {
        LogOptions {
            max_size: 10 << 20,
            max_file: 3,
        }
    }
}

impl LogOptions {
    /// The options `--log-opt KEY=VALUE` (repeatable) give.
    pub fn from_flags(flags: &[String]) -> Result<Self, RuntimeError> {
        let mut options = LogOptions::default();
        for flag in flags {
            let bad = |why: &str| RuntimeError::Flag {
                flag: "--log-opt",
                value: flag.clone(),
                why: why.into(),
                hint: "json-file's options: max-size=10m (at least 4k), max-file=3",
            };
            match flag.split_once('=') {
                Some(("max-size", size)) => {
                    options.max_size =
                        step04_cgroups::values::parse_size(size).map_err(|e| bad(&e))?;
                    if options.max_size < 4096 {
                        return Err(bad("too small"));
                    }
                }
                Some(("max-file", n)) => {
                    options.max_file = n.parse().map_err(|_| bad("not a number"))?;
                    if options.max_file == 0 {
                        return Err(bad("at least one file is kept"));
                    }
                }
                _ => return Err(bad("an option json-file does not have")),
            }
        }
        Ok(options)
    }
}

/// One line of json.log.
#[derive(Debug, Serialize, Deserialize, PartialEq)]
pub struct Entry {
    pub log: String,
    pub stream: String,
    pub time: String,
}

/// json.log, being written.
#[derive(Debug)]
pub struct JsonLog {
    path: PathBuf,
    file: File,
    size: u64,
    options: LogOptions,
}

impl JsonLog {
    /// Opens (or creates) `path` for appending.
    pub fn open(path: &Path, options: LogOptions) -> std::io::Result<Self> {
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        let size = file.metadata()?.len();
        Ok(JsonLog {
            path: path.to_path_buf(),
            file,
            size,
            options,
        })
    }

    /// Writes one entry, rotating first if it would not fit.
    pub fn write(&mut self, stream: &str, text: &[u8]) -> std::io::Result<()> {
        let entry = Entry {
            log: String::from_utf8_lossy(text).into_owned(),
            stream: stream.into(),
            time: crate::record::now(),
        };
        let mut line = serde_json::to_vec(&entry).expect("an entry serializes");
        line.push(b'\n');
        if self.size > 0 && self.size + line.len() as u64 > self.options.max_size {
            self.rotate()?;
        }
        self.file.write_all(&line)?;
        self.size += line.len() as u64;
        Ok(())
    }

    /// json.log.N-1 → json.log.N, …, json.log → json.log.1 (the oldest
    /// falls off the end), then a new json.log.
    fn rotate(&mut self) -> std::io::Result<()> {
        let kept = self.options.max_file;
        for n in (1..kept).rev() {
            let from = numbered(&self.path, n - 1);
            if from.exists() {
                fs::rename(&from, numbered(&self.path, n))?;
            }
        }
        if kept == 1 {
            fs::remove_file(&self.path)?;
        }
        *self = JsonLog::open(&self.path, self.options)?;
        Ok(())
    }
}

/// `json.log` for 0, `json.log.N` otherwise.
fn numbered(path: &Path, n: u32) -> PathBuf {
    match n {
        0 => path.to_path_buf(),
        n => PathBuf::from(format!("{}.{n}", path.display())),
    }
}

/// Cuts one stream into lines as it comes.
#[derive(Debug, Default)]
struct Lines {
    pending: Vec<u8>,
}

impl Lines {
    /// Takes `bytes`, gives the whole lines (and overlong pieces) now complete.
    fn push(&mut self, bytes: &[u8]) -> Vec<Vec<u8>> {
        self.pending.extend_from_slice(bytes);
        let mut out = Vec::new();
        while let Some(at) = self.pending.iter().position(|&b| b == b'\n') {
            out.push(self.pending.drain(..=at).collect());
        }
        while self.pending.len() >= PARTIAL_LINE {
            out.push(self.pending.drain(..PARTIAL_LINE).collect());
        }
        out
    }

    /// What is left at end-of-file.
    fn rest(&mut self) -> Option<Vec<u8>> {
        (!self.pending.is_empty()).then(|| std::mem::take(&mut self.pending))
    }
}

/// The logger's loop: reads the container's stdout and stderr until both
/// end, and writes each line to `log` as it comes. One thread, poll(2).
pub fn copy_to_log(stdout: OwnedFd, stderr: OwnedFd, log: &mut JsonLog) {
    use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
    let mut streams = [
        (Some(File::from(stdout)), "stdout", Lines::default()),
        (Some(File::from(stderr)), "stderr", Lines::default()),
    ];
    let mut buf = vec![0u8; 64 << 10];
    while streams.iter().any(|(f, ..)| f.is_some()) {
        let ready: Vec<bool> = {
            let mut fds: Vec<PollFd> = streams
                .iter()
                .filter_map(|(f, ..)| f.as_ref())
                .map(|f| PollFd::new(f.as_fd(), PollFlags::POLLIN))
                .collect();
            if poll(&mut fds, PollTimeout::NONE).is_err() {
                continue; // EINTR
            }
            fds.iter()
                .map(|p| p.revents().is_some_and(|r| !r.is_empty()))
                .collect()
        };
        let open = streams.iter_mut().filter(|(f, ..)| f.is_some());
        for ((file, name, lines), ready) in open.zip(ready) {
            if !ready {
                continue;
            }
            let n = file
                .as_mut()
                .map_or(Ok(0), |f| f.read(&mut buf))
                .unwrap_or(0);
            let pieces = match n {
                0 => {
                    *file = None;
                    lines.rest().into_iter().collect()
                }
                n => lines.push(&buf[..n]),
            };
            for piece in pieces {
                // A full disk loses lines, not the container.
                let _ = log.write(name, &piece);
            }
        }
    }
}

/// `logs`: which lines, and how.
#[derive(Clone, Copy, Debug, Default)]
pub struct Show {
    /// The last N lines only.
    pub tail: Option<usize>,
    /// Each line prefixed with its time.
    pub timestamps: bool,
}

/// Prints the log in `dir` (rotated files first), to stdout or stderr as
/// each line was written. With `follow`, goes on printing what comes until
/// `done()` says the container has ended (and its logger with it).
pub fn print(
    dir: &Path,
    show: Show,
    follow: bool,
    mut done: impl FnMut() -> bool,
) -> Result<(), RuntimeError> {
    let path = dir.join("json.log");
    let mut entries = Vec::new();
    let rotated = (1..64)
        .map(|n| numbered(&path, n))
        .take_while(|p| p.exists());
    for file in rotated.collect::<Vec<_>>().iter().rev() {
        if let Some(mut whole) = Reading::open(file)? {
            whole.read_new(&mut entries)?;
        }
    }
    let mut current = Reading::open(&path)?;
    if let Some(current) = &mut current {
        current.read_new(&mut entries)?;
    }
    let skip = show.tail.map_or(0, |n| entries.len().saturating_sub(n));
    for entry in &entries[skip..] {
        emit(entry, show);
    }
    if !follow {
        return Ok(());
    }
    loop {
        // Asked before reading: when the container has ended, one last
        // read finds everything its logger wrote.
        let over = done();
        let mut more = Vec::new();
        if let Some(current) = &mut current {
            // Renamed to json.log.1 or not, our descriptor reads on.
            current.read_new(&mut more)?;
        }
        // Rotated: a new json.log, read from its start.
        let rotated = current.as_ref().and_then(|c| c.ino) != inode(&path);
        if rotated && let Some(mut new) = Reading::open(&path)? {
            new.read_new(&mut more)?;
            current = Some(new);
        }
        more.iter().for_each(|e| emit(e, show));
        if over {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(())
}

/// A log file being read: its descriptor (which follows the file through
/// a rename), its inode, and how far it has been read.
struct Reading {
    path: PathBuf,
    reader: BufReader<File>,
    ino: Option<u64>,
}

impl Reading {
    /// `None` if there is no such file (yet).
    fn open(path: &Path) -> Result<Option<Reading>, RuntimeError> {
        use std::os::unix::fs::MetadataExt;
        let file = match File::open(path) {
            Ok(file) => file,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(err) => return Err(RuntimeError::io("reading", path)(err)),
        };
        let ino = file.metadata().ok().map(|m| m.ino());
        Ok(Some(Reading {
            path: path.to_path_buf(),
            reader: BufReader::new(file),
            ino,
        }))
    }

    /// Appends the whole lines written since the last call. A line the
    /// logger is still writing waits for the next call.
    fn read_new(&mut self, out: &mut Vec<Entry>) -> Result<(), RuntimeError> {
        let mut line = String::new();
        loop {
            let n = self
                .reader
                .read_line(&mut line)
                .map_err(RuntimeError::io("reading", &self.path))?;
            if n == 0 || !line.ends_with('\n') {
                // Not a whole line yet: give back what was read of it.
                let back = -(line.len() as i64);
                self.reader
                    .seek_relative(back)
                    .map_err(RuntimeError::io("reading", &self.path))?;
                return Ok(());
            }
            // A damaged line is skipped: the rest of the log is still worth reading.
            if let Ok(entry) = serde_json::from_str(&line) {
                out.push(entry);
            }
            line.clear();
        }
    }
}

/// The inode `path` names now, if any.
fn inode(path: &Path) -> Option<u64> {
    use std::os::unix::fs::MetadataExt;
    fs::metadata(path).ok().map(|m| m.ino())
}

/// One entry, where the container wrote it.
fn emit(entry: &Entry, show: Show) {
    let stamp = match show.timestamps {
        true => format!("{} ", entry.time),
        false => String::new(),
    };
    let text = format!("{stamp}{}", entry.log);
    let _ = match entry.stream.as_str() {
        "stderr" => std::io::stderr().lock().write_all(text.as_bytes()),
        _ => std::io::stdout().lock().write_all(text.as_bytes()),
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_cut_at_newlines_and_at_16_kib() {
        let mut lines = Lines::default();
        assert_eq!(lines.push(b"one\ntw"), vec![b"one\n".to_vec()]);
        assert_eq!(lines.push(b"o\n"), vec![b"two\n".to_vec()]);
        let long = vec![b'x'; PARTIAL_LINE + 5];
        let pieces = lines.push(&long);
        assert_eq!(pieces.len(), 1);
        assert_eq!(pieces[0].len(), PARTIAL_LINE);
        assert_eq!(lines.rest(), Some(vec![b'x'; 5]));
        assert_eq!(lines.rest(), None);
    }

    #[test]
    fn the_log_rotates_and_keeps_max_file_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("json.log");
        let options = LogOptions {
            max_size: 4096,
            max_file: 2,
        };
        let mut log = JsonLog::open(&path, options).unwrap();
        for n in 0..200 {
            log.write("stdout", format!("line {n:03}\n").as_bytes())
                .unwrap();
        }
        assert!(fs::metadata(&path).unwrap().len() <= 4096);
        assert!(numbered(&path, 1).exists());
        assert!(!numbered(&path, 2).exists(), "max-file=2 keeps two files");
        let mut entries = Vec::new();
        for file in [numbered(&path, 1), path.clone()] {
            let mut reading = Reading::open(&file).unwrap().unwrap();
            reading.read_new(&mut entries).unwrap();
        }
        // The newest lines, in order, none lost between the two files.
        assert_eq!(entries.last().unwrap().log, "line 199\n");
        let first: usize = entries[0].log[5..8].parse().unwrap();
        assert_eq!(entries.len(), 200 - first);
        assert!(entries.iter().all(|e| e.stream == "stdout"));
    }

    #[test]
    fn log_options_are_checked_by_name() {
        let ok = LogOptions::from_flags(&["max-size=1m".into(), "max-file=5".into()]).unwrap();
        assert_eq!(
            ok,
            LogOptions {
                max_size: 1 << 20,
                max_file: 5
            }
        );
        for bad in ["max-size=1", "max-file=0", "mode=non-blocking", "max-size"] {
            let err = LogOptions::from_flags(&[bad.into()])
                .unwrap_err()
                .to_string();
            assert!(err.starts_with("--log-opt"), "{err}");
        }
    }
}
