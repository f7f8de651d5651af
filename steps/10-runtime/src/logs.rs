//! A detached container's output, kept: Docker's `json-file` log.
//!
//! Nobody is at a terminal to read a detached container's output, so its
//! monitor hands the container's stdout and stderr to a **console** (a
//! thread of its own, console.rs), which writes one JSON object a line,
//! as Docker's default log driver does:
//!
//! ```text
//! {"log":"hello\n","stream":"stdout","time":"2026-12-02T03:04:05.123456789Z"}
//! ```
//!
//! A line is cut where the container wrote a newline, or after 16 KiB
//! without one (a program that never prints a newline must not make the
//! logger hold its output for ever). The file is capped: past `max-size`
//! it is renamed `json.log.N`, N one more than the last, and a new one is
//! begun; `max-file` files are kept in all, so the oldest goes. A file
//! keeps its number until it goes, so `logs` can read them oldest first
//! while they are written (log_reader.rs).
//!
//! Numbers are looked up by name, never taken from a listing of the
//! directory: readdir(3) may leave out a name while other names in the
//! directory change (state.json is replaced beside the log), and a number
//! taken from a listing that missed the newest file would have the next
//! rename overwrite it. The tests found that out the hard way.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::RuntimeError;

/// The most files `max-file` may keep (`logs` reads them all, oldest first).
const MAX_FILES: u32 = 60;

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
                hint: "json-file's options: max-size=10m (at least 4k), max-file=3 (at most 60)",
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
                    if !(1..=MAX_FILES).contains(&options.max_file) {
                        return Err(bad("from 1 to 60 files"));
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
    /// The number the last rotation gave (0: none yet).
    newest: u64,
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
            newest: newest_rotated(path),
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

    /// json.log → json.log.N, N one more than the last; the one that
    /// falls beyond `max-file` goes; then a new json.log.
    fn rotate(&mut self) -> std::io::Result<()> {
        let kept = u64::from(self.options.max_file);
        if kept == 1 {
            fs::remove_file(&self.path)?;
        } else {
            let n = self.newest + 1;
            fs::rename(&self.path, numbered(&self.path, n))?;
            self.newest = n;
            // json.log and kept - 1 numbered files stay: n - kept + 2 ..= n.
            if n + 1 >= kept {
                match fs::remove_file(numbered(&self.path, n + 1 - kept)) {
                    Err(err) if err.kind() != std::io::ErrorKind::NotFound => return Err(err),
                    _ => {}
                }
            }
        }
        self.file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)?;
        self.size = 0;
        Ok(())
    }
}

/// `json.log.N`.
pub(crate) fn numbered(path: &Path, n: u64) -> PathBuf {
    PathBuf::from(format!("{}.{n}", path.display()))
}

/// The rotated files of `json.log` at `path`, oldest (lowest N) first, as
/// a listing shows them: while the directory changes, a name may be
/// missing (the module's comment). A starting point; then go by name.
pub(crate) fn rotated(path: &Path) -> Vec<(u64, PathBuf)> {
    let name = path
        .file_name()
        .unwrap_or_default()
        .to_string_lossy()
        .into_owned();
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut found: Vec<(u64, PathBuf)> = fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let n = e
                .file_name()
                .to_str()?
                .strip_prefix(&name)?
                .strip_prefix('.')?
                .parse()
                .ok()?;
            Some((n, e.path()))
        })
        .collect();
    found.sort();
    found
}

/// The highest N of the `json.log.N` there, 0 if none: a listing's
/// highest, then up by name (the numbers kept are consecutive, and a
/// listing may have missed the newest).
fn newest_rotated(path: &Path) -> u64 {
    let mut newest = rotated(path).last().map_or(0, |(n, _)| *n);
    while numbered(path, newest + 1).exists() {
        newest += 1;
    }
    newest
}

/// Cuts one stream into lines as it comes.
#[derive(Debug, Default)]
pub struct Lines {
    pending: Vec<u8>,
}

impl Lines {
    /// Takes `bytes`, gives the whole lines (and overlong pieces) now complete.
    pub fn push(&mut self, bytes: &[u8]) -> Vec<Vec<u8>> {
        self.pending.extend_from_slice(bytes);
        // Cut at `start`, and move what is left to the front once: a drain
        // per line would move the rest of a 64 KiB read a thousand times.
        let mut out = Vec::new();
        let mut start = 0;
        loop {
            let rest = &self.pending[start..];
            let end = match rest.iter().position(|&b| b == b'\n') {
                Some(at) if at < PARTIAL_LINE => at + 1,
                _ if rest.len() >= PARTIAL_LINE => PARTIAL_LINE,
                _ => break,
            };
            out.push(rest[..end].to_vec());
            start += end;
        }
        self.pending.drain(..start);
        out
    }

    /// What is left at end-of-file.
    pub fn rest(&mut self) -> Option<Vec<u8>> {
        (!self.pending.is_empty()).then(|| std::mem::take(&mut self.pending))
    }
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
        // A long line that ends is cut too; many lines in one read, in order.
        let mut long = vec![b'y'; PARTIAL_LINE + 1];
        long.push(b'\n');
        let pieces = lines.push(&long);
        assert_eq!(
            pieces.iter().map(Vec::len).collect::<Vec<_>>(),
            [PARTIAL_LINE, 2]
        );
        let many: String = (0..1000).map(|i| format!("{i}\n")).collect();
        let pieces = lines.push(many.as_bytes());
        assert_eq!(pieces.len(), 1000);
        assert_eq!(pieces[999], b"999\n");
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
        let kept = rotated(&path);
        assert_eq!(kept.len(), 1, "max-file=2 keeps two files: {kept:?}");
        let mut entries = Vec::new();
        for file in [kept[0].1.clone(), path.clone()] {
            let text = fs::read_to_string(file).unwrap();
            entries.extend(
                text.lines()
                    .map(|l| serde_json::from_str::<Entry>(l).unwrap()),
            );
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
