//! `probe inject TEXT`: the terminal injection of issue #14. For each byte
//! of TEXT, ioctl(fd, TIOCSTI, &byte) on each of stdin, stdout, stderr and
//! /dev/tty: pushes the byte into that terminal's *input*, as if typed
//! (tty_ioctl(4)). If that terminal were the caller's, their shell would
//! run TEXT after the container exits.
//!
//! Prints, for each target, `injected` or why not (`not a terminal`,
//! `refused`); exits 0 either way: the test judges on the host's side.

use std::process::ExitCode;

// ANCHOR: inject
fn inject(fd: i32, text: &[u8]) -> Result<(), std::io::Error> {
    for byte in text {
        // SAFETY: TIOCSTI reads one byte from the pointer we pass.
        if unsafe { libc::ioctl(fd, libc::TIOCSTI, byte as *const u8) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}
// ANCHOR_END: inject

pub fn run(args: &[String]) -> ExitCode {
    let [text] = args else {
        eprintln!("probe inject: usage: probe inject TEXT");
        return ExitCode::from(2);
    };
    let tty = std::fs::File::open("/dev/tty");
    let tty_fd = tty.as_ref().map(std::os::fd::AsRawFd::as_raw_fd);
    for (name, fd) in [
        ("stdin", Ok(0)),
        ("stdout", Ok(1)),
        ("stderr", Ok(2)),
        ("/dev/tty", tty_fd.map_err(|e| e.kind())),
    ] {
        let result = match fd {
            Err(e) => format!("cannot open ({e})"),
            Ok(fd) => match inject(fd, text.as_bytes()) {
                Ok(()) => "injected".into(),
                Err(e) => format!("refused ({e})"),
            },
        };
        println!("{name}: {result}");
    }
    ExitCode::SUCCESS
}
