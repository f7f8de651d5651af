//! A filter as text, one instruction a line, as `seccomp-tools disasm`
//! shows one: for the book, and for a learner curious what the kernel runs.

use seccompiler::sock_filter;

/// What a `ret` returns, by name (seccomp(2), SECCOMP_RET_*).
fn action(k: u32) -> String {
    match k & 0xffff_0000 {
        0x8000_0000 => "KILL_PROCESS".into(),
        0x0000_0000 => "KILL_THREAD".into(),
        0x0003_0000 => "TRAP".into(),
        0x0005_0000 => format!("ERRNO({})", k & 0xffff),
        0x7ff0_0000 => format!("TRACE({})", k & 0xffff),
        0x7ffc_0000 => "LOG".into(),
        0x7fff_0000 => "ALLOW".into(),
        _ => format!("{k:#x}"),
    }
}

/// Which field of `struct seccomp_data` a load reads.
fn field(offset: u32) -> String {
    match offset {
        0 => "nr".into(),
        4 => "arch".into(),
        16..=63 => {
            let (arg, half) = (
                (offset - 16) / 8,
                if offset.is_multiple_of(8) { "lo" } else { "hi" },
            );
            format!("args[{arg}].{half}")
        }
        other => format!("[{other}]"),
    }
}

/// A value compared with the call's number, by its name on this machine.
fn call(k: u32) -> String {
    match syscalls::Sysno::new(k as usize) {
        Some(sysno) => format!("{} ({k})", sysno.name()),
        None => format!("{k:#x}"),
    }
}

/// `program`, one numbered instruction a line; jumps name their targets,
/// and a comparison with the call's number names the call.
pub fn disassemble(program: &[sock_filter]) -> String {
    let mut text = String::new();
    let mut loaded = 0; // the offset the accumulator was loaded from
    for (i, insn) in program.iter().enumerate() {
        let to = |offset: u32| i + 1 + offset as usize;
        let line = match insn.code {
            0x20 => {
                loaded = insn.k;
                format!("ld  {}", field(insn.k))
            }
            0x54 => format!("and {:#x}", insn.k),
            0x05 => format!("ja  {}", to(insn.k)),
            0x15 | 0x25 | 0x35 => {
                let op = match insn.code {
                    0x15 => "jeq",
                    0x25 => "jgt",
                    _ => "jge",
                };
                let (yes, no) = (to(insn.jt.into()), to(insn.jf.into()));
                let value = match (loaded, insn.k) {
                    (0, k) if k < 0x4000_0000 => call(k),
                    (_, k) => format!("{k:#x}"),
                };
                format!("{op} {value} ? {yes} : {no}")
            }
            0x06 => format!("ret {}", action(insn.k)),
            other => format!("op {other:#x} {:#x}", insn.k),
        };
        text.push_str(&format!("{i:4}  {line}\n"));
    }
    text
}
