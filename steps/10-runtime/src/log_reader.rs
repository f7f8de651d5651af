//! `logs [-f] [--tail N] [-t]`: reading json.log while the console writes
//! and rotates it.
//!
//! The console renames a full json.log to `json.log.N`, N one more than
//! the last, and never renames it again (logs.rs). So a reader holds the
//! live json.log open, and when the name `json.log` is another file (its
//! inode changed: the console rotated), it reads the rest of the file it
//! holds (the console writes it no more), and then every `json.log.M`
//! after the last it read, in order, up to the new json.log.
//!
//! Files are looked up by name, one number after the other, not found in
//! a listing of the directory: readdir(3) may leave a name out while the
//! directory changes, and a reader that trusted it skipped a whole file
//! (a test saw 51 lines go missing, one time in a few hundred). Lines are
//! lost only if `max-file` removed a file before we read it.

use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::error::RuntimeError;
use crate::logs::{Entry, numbered, rotated};

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
    /// The N of the next `json.log.N` to read: those before it are read.
    next: u64,
}

impl Follower {
    fn new(path: PathBuf) -> Self {
        Follower {
            path,
            current: None,
            next: 1,
        }
    }

    /// Appends every whole line written since the last call, in order.
    fn read(&mut self, out: &mut Vec<Entry>) -> Result<()> {
        if let Some(current) = &mut self.current {
            current.read_new(out)?;
            if current.ino == inode(&self.path) {
                return Ok(());
            }
            // Rotated: the rest of it. It is now json.log.N, the first N
            // from `next` on that names it (if max-file has not removed it).
            current.read_new(out)?;
            let mut n = self.next;
            while let Some(ino) = inode(&numbered(&self.path, n)) {
                if Some(ino) == current.ino {
                    self.next = n + 1;
                    break;
                }
                n += 1;
            }
            self.current = None;
        }
        // The files rotated since, then the live one: again if it was
        // rotated meanwhile, so that none is skipped.
        loop {
            let live = Reading::open(&self.path)?;
            let live_ino = live.as_ref().and_then(|l| l.ino);
            while let Some(file) = self.next_rotated() {
                if inode(&file) == live_ino {
                    break; // the live one, rotated just now: from its start
                }
                if let Some(mut whole) = Reading::open(&file)? {
                    whole.read_new(out)?;
                }
                self.next += 1;
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

    /// `json.log.{next}` if it is there. If it is not but a later one is,
    /// max-file removed it before we read it: go on from the oldest kept.
    fn next_rotated(&mut self) -> Option<PathBuf> {
        let file = numbered(&self.path, self.next);
        if file.exists() {
            return Some(file);
        }
        let oldest = rotated(&self.path)
            .into_iter()
            .map(|(n, _)| n)
            .find(|n| *n > self.next)?;
        // Older ones may have come since we looked, or the listing may
        // have missed them: step down by name.
        let mut n = oldest;
        while n > self.next && numbered(&self.path, n - 1).exists() {
            n -= 1;
        }
        self.next = n;
        Some(numbered(&self.path, n))
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logs::{JsonLog, LogOptions};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    /// A writer rotating every 51 lines, a follower reading as it goes,
    /// and state.json replaced beside them all the while (as a monitor
    /// does): every line, once, in order. Races are found by numbers, so
    /// this tries many times; a listing-based follower failed one try in
    /// a few dozen here.
    #[test]
    fn a_follower_misses_no_line_while_the_log_rotates_beside_other_changes() {
        for round in 0..60 {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("json.log");
            let options = LogOptions {
                max_size: 4096,
                max_file: 60,
            };
            let mut log = JsonLog::open(&path, options).unwrap();
            let writer = std::thread::spawn(move || {
                for i in 0..2000 {
                    log.write("stdout", format!("line {i}\n").as_bytes())
                        .unwrap();
                }
            });
            let stop = Arc::new(AtomicBool::new(false));
            let churn = {
                let (stop, state) = (stop.clone(), dir.path().join("state.json"));
                std::thread::spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        crate::record::write_whole(&state, &"running").unwrap();
                    }
                })
            };
            let mut follower = Follower::new(path.clone());
            let mut read = Vec::new();
            loop {
                let over = writer.is_finished();
                follower.read(&mut read).unwrap();
                if over {
                    break;
                }
                std::thread::sleep(Duration::from_micros(round % 5 * 100));
            }
            writer.join().unwrap();
            stop.store(true, Ordering::Relaxed);
            churn.join().unwrap();
            let lines: Vec<String> = read.into_iter().map(|e| e.log).collect();
            let first_wrong = (0..2000).find(|i| lines.get(*i) != Some(&format!("line {i}\n")));
            assert_eq!(
                first_wrong,
                None,
                "try {round}: {} lines read of 2000; the first wrong one is shown",
                lines.len()
            );
        }
    }
}
