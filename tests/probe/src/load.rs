//! `probe eat SIZE` and `probe spin SECONDS`: load to put limits to the test.
//!
//! `eat` is the seeds' "eatmemory": it allocates SIZE (e.g. `64m`) one MiB
//! at a time and writes to every page, so the memory is really used (an
//! allocation alone only reserves address space). `spin` keeps one CPU busy.

use std::io::Write;
use std::process::ExitCode;
use std::time::{Duration, Instant};

const MIB: usize = 1 << 20;

pub fn eat(args: &[String]) -> ExitCode {
    let [size] = args else {
        eprintln!("probe eat: usage: probe eat SIZE (e.g. 64m)");
        return ExitCode::from(2);
    };
    let Some(mib) = size
        .strip_suffix(['m', 'M'])
        .and_then(|n| n.parse::<usize>().ok())
    else {
        eprintln!("probe eat: SIZE is a number of MiB with an m, e.g. 64m; got {size:?}");
        return ExitCode::from(2);
    };
    let mut eaten: Vec<Vec<u8>> = Vec::with_capacity(mib);
    let mut out = std::io::stdout();
    for i in 1..=mib {
        // vec![1; n] writes every byte: the pages are really touched.
        eaten.push(vec![1u8; MIB]);
        if i % 8 == 0 || i == mib {
            let _ = writeln!(out, "ate {i} MiB");
            let _ = out.flush();
        }
    }
    std::hint::black_box(&eaten);
    ExitCode::SUCCESS
}

pub fn spin(args: &[String]) -> ExitCode {
    let seconds = match args {
        [s] => s.parse::<f64>().ok(),
        _ => None,
    };
    let Some(seconds) = seconds.filter(|s| *s > 0.0) else {
        eprintln!("probe spin: usage: probe spin SECONDS");
        return ExitCode::from(2);
    };
    let end = Instant::now() + Duration::from_secs_f64(seconds);
    let mut n = 0u64;
    while Instant::now() < end {
        n = std::hint::black_box(n.wrapping_add(1));
    }
    ExitCode::SUCCESS
}
