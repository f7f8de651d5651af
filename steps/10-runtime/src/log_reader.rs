//! `logs [-f] [--tail N] [-t]`: reading json.log while the console writes
//! and rotates it.
//!
//! The console renames a full json.log to `json.log.N`, N one more than
//! the newest, and never renames it again (logs.rs). So a reader can hold
//! the live json.log open, and when the name `json.log` is another file
//! (its inode changed: the console rotated), it reads the rest of the
//! file it holds (the console writes it no more), finds the number that
//! file was given (by its inode), reads every `json.log.M` with a larger M
//! in order, and holds the new json.log. Lines are lost only if `max-file`
//! removed a file before we read it.

use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::error::RuntimeError;
use crate::logs::{Entry, rotated};

type Result<T, E = RuntimeError> = std::result::Result<T, E>;

/// `logs`: which lines, and how.
#[derive(Clone, Copy, Debug, Default)]
pub struct Show {
    /// The last N lines only.
    pub tail: Option<usize>,
    /// Each line prefixed with its time.
    pub timestamps: bool,
}

// ANCHOR: print
/// Prints the log in `dir`, oldest line first, to stdout or stderr as each
/// line was written. With `follow`, goes on until `done()` says the
/// container has ended (and its console with it), or nobody reads us any
/// more (`logs -f | head`).
pub fn print(dir: &Path, show: Show, follow: bool, mut done: impl FnMut() -> bool) -> Result<()> {
    let mut log = Follower::new(dir.join("json.log"));
    let mut entries = Vec::new();
    log.read(&mut entries)?;
    let skip = show.tail.map_or(0, |n| entries.len().saturating_sub(n));
    if emit(&entries[skip..], show).is_err() || !follow {
        return Ok(());
    }
    loop {
        // Asked before reading: once the container has ended, one last
        // read finds everything its console wrote.
        let over = done();
        let mut more = Vec::new();
        log.read(&mut more)?;
        if emit(&more, show).is_err() || over {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}
// ANCHOR_END: print

/// A reader of json.log and its rotated files, where it left off.
struct Follower {
    path: PathBuf,
    /// The live json.log, held.
    current: Option<Reading>,
    /// The highest N of `json.log.N` read whole.
    seen: u64,
}

impl Follower {
    fn new(path: PathBuf) -> Self {
        Follower {
            path,
            current: None,
            seen: 0,
        }
    }

    /// Appends every whole line written since the last call, in order.
    fn read(&mut self, out: &mut Vec<Entry>) -> Result<()> {
        if let Some(current) = &mut self.current {
            current.read_new(out)?;
            if current.ino == inode(&self.path) {
                return Ok(());
            }
            // Rotated: the rest of it, then where it went.
            current.read_new(out)?;
            let ino = current.ino;
            let went = rotated(&self.path)
                .into_iter()
                .find(|(_, p)| inode(p) == ino);
            if let Some((n, _)) = went {
                self.seen = self.seen.max(n);
            }
            self.current = None;
        }
        // The files rotated since, then the live one: again if it was
        // rotated meanwhile, so that none is skipped.
        loop {
            let live = Reading::open(&self.path)?;
            let live_ino = live.as_ref().and_then(|l| l.ino);
            for (n, file) in rotated(&self.path) {
                if n <= self.seen || inode(&file) == live_ino {
                    continue;
                }
                if let Some(mut whole) = Reading::open(&file)? {
                    whole.read_new(out)?;
                }
                self.seen = n;
            }
            if live_ino == inode(&self.path) {
                self.current = live;
                if let Some(current) = &mut self.current {
                    current.read_new(out)?;
                }
                return Ok(());
            }
        }
    }
}

/// A log file being read: its descriptor (which follows the file through
/// a rename), its inode, and how far it has been read.
struct Reading {
    path: PathBuf,
    reader: BufReader<File>,
    ino: Option<u64>,
}

impl Reading {
    /// `None` if there is no such file (yet, or any more).
    fn open(path: &Path) -> Result<Option<Reading>> {
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
    /// console is still writing waits for the next call.
    fn read_new(&mut self, out: &mut Vec<Entry>) -> Result<()> {
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
    std::fs::metadata(path).ok().map(|m| m.ino())
}

/// Entries, each where the container wrote it; an error once our output
/// is closed.
fn emit(entries: &[Entry], show: Show) -> std::io::Result<()> {
    for entry in entries {
        let stamp = match show.timestamps {
            true => format!("{} ", entry.time),
            false => String::new(),
        };
        let text = format!("{stamp}{}", entry.log);
        match entry.stream.as_str() {
            "stderr" => std::io::stderr().lock().write_all(text.as_bytes())?,
            _ => {
                let mut out = std::io::stdout().lock();
                out.write_all(text.as_bytes())?;
                out.flush()?;
            }
        }
    }
    Ok(())
}
