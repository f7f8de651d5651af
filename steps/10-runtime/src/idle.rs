//! What a monitor or a console gives back once it only waits.
//!
//! Both are this whole program. To start a container the monitor ran most
//! of it, the engine and every layer, and then it waits, for as long as the
//! container lives, in waitpid(2) and poll(2). Two kinds of memory stay
//! counted as its own (resident) meanwhile:
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
//! so only mappings that hold none of that are touched: file mappings
//! that are not writable and have no anonymous (copied-on-write) pages,
//! as /proc/self/smaps says (proc(5)). That leaves out the data, and the
//! constants the dynamic linker relocated before making them read-only
//! (RELRO): those were written once, and their pages are copies.

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

/// From a /proc/PID/smaps text: the mappings of a file, not writable,
/// with no anonymous page (start and end).
fn file_only_mappings(smaps: &str) -> Vec<(usize, usize)> {
    let mut found = Vec::new();
    // The mapping whose lines we are in, while it may qualify.
    let mut current: Option<(usize, usize)> = None;
    for line in smaps.lines() {
        let mut fields = line.split_whitespace();
        let first = fields.next().unwrap_or_default();
        if let Some((start, end)) = first.split_once('-')
            && let (Ok(start), Ok(end)) = (
                usize::from_str_radix(start, 16),
                usize::from_str_radix(end, 16),
            )
        {
            // A mapping's first line: range, perms, offset, device,
            // inode, path (a file, not [vdso] or [heap]).
            let perms = fields.next().unwrap_or_default();
            let path = fields.nth(3).unwrap_or_default();
            let readable = perms.starts_with("r-");
            current =
                (readable && perms.ends_with('p') && path.starts_with('/')).then_some((start, end));
        } else if first == "Anonymous:"
            && let Some(range) = current.take()
            && fields.next() == Some("0")
        {
            found.push(range);
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_unwritten_file_mappings_are_let_go() {
        let smaps = "\
55d0a0000000-55d0a0100000 r--p 00000000 fe:00 12 /usr/bin/x
Rss:                 876 kB
Anonymous:             0 kB
55d0a0100000-55d0a0400000 r-xp 00100000 fe:00 12 /usr/bin/x
Anonymous:             0 kB
55d0a0400000-55d0a0410000 r--p 00400000 fe:00 12 /usr/bin/x
Anonymous:            64 kB
55d0a0410000-55d0a0420000 rw-p 00410000 fe:00 12 /usr/bin/x
Anonymous:             0 kB
7f0000000000-7f0000001000 r-xp 00000000 00:00 0                  [vdso]
Anonymous:             0 kB
7f0000002000-7f0000003000 rw-p 00000000 00:00 0
Anonymous:             4 kB
";
        assert_eq!(
            file_only_mappings(smaps),
            [
                (0x55d0a0000000, 0x55d0a0100000),
                (0x55d0a0100000, 0x55d0a0400000)
            ]
        );
    }

    /// The process goes on running the code it let go of.
    #[test]
    fn code_let_go_runs_again() {
        let_go();
        let smaps = std::fs::read_to_string("/proc/self/smaps").unwrap();
        assert!(!file_only_mappings(&smaps).is_empty());
        assert_eq!(format!("{}", 6 * 7), "42");
    }
}
