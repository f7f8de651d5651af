//! What a monitor gives back once it only waits.
//!
//! A monitor is this whole program. To start a container it ran most of
//! it, the engine and every layer, and then it waits, for as long as the
//! container lives, in waitpid(2), its console's poll(2) and its relays'
//! read(2). Two kinds of memory stay counted as its own (resident)
//! meanwhile:
//!
//! * what the start allocated and freed: glibc keeps freed memory for the
//!   next allocation; malloc_trim(3) gives it back to the system;
//! * the pages of our program (and of libc) that the start read: its code
//!   and constants, and the kernel's fault-around mapped more with each,
//!   64 KiB at a time. About 6 MiB of a 14 MiB binary. They are the page
//!   cache's, shared by every process that runs the program, and the
//!   kernel frees them only under pressure; but each monitor has them
//!   mapped, and RSS counts them. madvise(2) with MADV_DONTNEED takes them
//!   out of this process: they stay in the page cache, and a page fault
//!   maps one back when the monitor runs that code again (its cleanup
//!   will).
//!
//! MADV_DONTNEED drops what the process *wrote* to a private mapping too,
//! so only mappings that hold none of that are touched: mappings of our
//! program and of its libraries that are not writable and have no page
//! of their own (copied on write), in memory or in swap, as
//! /proc/self/smaps says (proc(5)). That leaves out the data, and the
//! constants the dynamic linker relocated before making them read-only
//! (RELRO): those were written once, and their pages are copies. (The
//! monitor's console and relay threads may run meanwhile: they can fault
//! a page back in, and can write none of these mappings.)

// ANCHOR: let_go
/// Gives back freed heap memory and the mapped file pages (above).
pub fn let_go() {
    // SAFETY: a plain call into the allocator.
    unsafe { libc::malloc_trim(0) };
    let Ok(smaps) = std::fs::read_to_string("/proc/self/smaps") else {
        return;
    };
    for (start, end) in file_only_mappings(&smaps) {
        // SAFETY: a whole mapping of ours that holds only pages of its
        // file, and cannot be written: read again from the file when used.
        unsafe { libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_DONTNEED) };
    }
}
// ANCHOR_END: let_go

/// From a /proc/PID/smaps text: the mappings of loaded programs and
/// libraries (files with an executable mapping here, which stay mapped for
/// the process's life, so that no other mapping can take their place
/// between our read and the madvise; not, say, /etc/ld.so.cache, which
/// glibc maps for a moment at each dlopen), not writable, with no page of
/// their own in memory (`Anonymous`) or in swap (`Swap`, which comes later
/// in each mapping's lines): start and end. Files are told by device and
/// inode, whatever their path says (a rebuilt program's is " (deleted)").
fn file_only_mappings(smaps: &str) -> Vec<(usize, usize)> {
    let loaded: Vec<(&str, &str)> = smaps
        .lines()
        .filter_map(header)
        .filter(|m| m.perms.contains('x') && m.file.1 != "0")
        .map(|m| m.file)
        .collect();
    let mut found = Vec::new();
    // The mapping whose lines we are in, while it may qualify.
    let mut current: Option<(usize, usize)> = None;
    for line in smaps.lines() {
        let mut fields = line.split_whitespace();
        let first = fields.next().unwrap_or_default();
        let zero = fields.next() == Some("0");
        if let Some(m) = header(line) {
            let read_only = m.perms.starts_with("r-") && m.perms.ends_with('p');
            current = (read_only && loaded.contains(&m.file)).then_some(m.range);
        } else if first == "Anonymous:" && !zero {
            current = None;
        } else if first == "Swap:"
            && let Some(range) = current.take()
            && zero
        {
            found.push(range);
        }
    }
    found
}

/// A mapping's first line in smaps: range, perms, offset, device, inode,
/// path.
struct Header<'a> {
    range: (usize, usize),
    perms: &'a str,
    /// Device and inode (inode 0: no file).
    file: (&'a str, &'a str),
}

fn header(line: &str) -> Option<Header<'_>> {
    let mut fields = line.split_whitespace();
    let (start, end) = fields.next()?.split_once('-')?;
    let range = (
        usize::from_str_radix(start, 16).ok()?,
        usize::from_str_radix(end, 16).ok()?,
    );
    let perms = fields.next()?;
    let file = (fields.nth(1)?, fields.next()?);
    Some(Header { range, perms, file })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_unwritten_mappings_of_loaded_files_are_let_go() {
        let smaps = "\
55d0a0000000-55d0a0100000 r--p 00000000 fe:00 12 /usr/bin/x (deleted)
Rss:                 876 kB
Anonymous:             0 kB
Swap:                  0 kB
55d0a0100000-55d0a0400000 r-xp 00100000 fe:00 12 /usr/bin/x (deleted)
Anonymous:             0 kB
Swap:                  0 kB
55d0a0400000-55d0a0410000 r--p 00400000 fe:00 12 /usr/bin/x (deleted)
Anonymous:            64 kB
Swap:                  0 kB
55d0a0410000-55d0a0420000 r--p 00410000 fe:00 12 /usr/bin/x (deleted)
Anonymous:             0 kB
Swap:                 12 kB
55d0a0420000-55d0a0430000 rw-p 00420000 fe:00 12 /usr/bin/x (deleted)
Anonymous:             0 kB
Swap:                  0 kB
7f0000000000-7f0000010000 r-xp 00026000 fe:00 40 /usr/lib/x86_64-linux-gnu/libc.so.6
Anonymous:             0 kB
Swap:                  0 kB
7f0000010000-7f0000020000 r--p 00000000 fe:00 41 /etc/ld.so.cache
Anonymous:             0 kB
Swap:                  0 kB
7f0000030000-7f0000031000 r-xp 00000000 00:00 0                  [vdso]
Anonymous:             0 kB
Swap:                  0 kB
";
        assert_eq!(
            file_only_mappings(smaps),
            [
                (0x55d0a0000000, 0x55d0a0100000),
                (0x55d0a0100000, 0x55d0a0400000),
                (0x7f0000000000, 0x7f0000010000)
            ]
        );
    }

    /// The process goes on running the code it let go of.
    #[test]
    fn code_let_go_runs_again() {
        let_go();
        let smaps = std::fs::read_to_string("/proc/self/smaps").unwrap();
        assert!(!file_only_mappings(&smaps).is_empty());
        // Code, constants, and what the dynamic linker relocated (a trait
        // object's table, a formatter) all still work.
        let shown: Box<dyn std::fmt::Display> = Box::new(6 * 7);
        assert_eq!(format!("{shown}"), "42");
    }
}
