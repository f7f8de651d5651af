//! The default filter as the kernel gets it, written out (bpf_text.rs) and
//! kept for chapter 8. x86_64 only: the call numbers are the machine's.

#![cfg(target_arch = "x86_64")]

use std::path::Path;

use step08_security::bpf_text::disassemble;
use step08_security::capset::DOCKER_DEFAULT;
use step08_security::filter::compile;
use step08_security::profile::{DEFAULT, parse};

#[test]
fn the_default_filter_reads_as_the_chapter_shows() {
    let default = parse(Path::new("default.json"), DEFAULT).unwrap();
    let programs = compile(&default, &DOCKER_DEFAULT).unwrap().programs;
    // The architecture checks, then the first levels of the tree.
    let head: String = disassemble(&programs[0])
        .lines()
        .take(24)
        .map(|l| format!("{l}\n"))
        .collect();
    insta::assert_snapshot!("default_filter_head", head);
    insta::assert_snapshot!("clone3_program", disassemble(&programs[1]));
}
