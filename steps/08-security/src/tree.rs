//! A binary search over the calls a profile allows whatever their
//! arguments, put in front of seccompiler's program.
//!
//! seccompiler compiles a list: the call's number is compared with each
//! rule's in turn, so a call near the end of 300 runs through some 1500
//! instructions. The kernel minds, twice: at every system call, and at
//! install, when it runs the filter for every call number to learn which
//! ones it may allow without running it again (the "action cache", Linux
//! 5.11, kernel/seccomp.c): ~650 µs for our default profile, most of this
//! step's start-up cost. A search tree answers in about 20 instructions
//! (libseccomp builds one too when asked, SCMP_FLTATR_CTL_OPTIMIZE).
//!
//! ```text
//!  ld nr
//!  jge 200 ─────────────┐          (a node: which half)
//!  jge 100 ──┐          jge 300 ...
//!  jeq 0  → ret ALLOW   ...        (a leaf: up to four numbers)
//!  jeq 1  → ret ALLOW
//!  ja  end ─────────────────────▶  seccompiler's program: the calls
//!                                  with conditions, and the default
//! ```

use seccompiler::sock_filter;

/// Classic BPF (linux/bpf_common.h).
const LD_NR: sock_filter = insn(0x20, 0, 0, 0); // ld [0]: seccomp_data.nr
const JA: u16 = 0x05;
const JEQ_K: u16 = 0x15;
const JGE_K: u16 = 0x35;
const RET_K: u16 = 0x06;

const fn insn(code: u16, jt: u8, jf: u8, k: u32) -> sock_filter {
    sock_filter { code, jt, jf, k }
}

/// How many numbers a leaf compares one by one.
const LEAF: usize = 4;

// ANCHOR: tree
/// Code that returns `allow` for each number in `numbers` (sorted, no
/// duplicates), and for any other goes on past its end.
pub fn allow_tree(numbers: &[u32], allow: u32) -> Vec<sock_filter> {
    let mut code = vec![LD_NR];
    code.extend(node(numbers, allow));
    // Every "go on" jump was written as a jump to the end of its own
    // subtree; the end of a subtree is the end of the whole, or the
    // start of a right-hand sibling, which must be jumped over. So each
    // leaf ends in a `ja` to the very end, patched here.
    let end = code.len();
    for (i, insn) in code.iter_mut().enumerate() {
        if insn.code == JA && insn.k == u32::MAX {
            insn.k = (end - i - 1) as u32;
        }
    }
    code
}

fn node(numbers: &[u32], allow: u32) -> Vec<sock_filter> {
    if numbers.len() <= LEAF {
        let mut code = Vec::new();
        for number in numbers {
            // Equal: the next instruction (allow); else skip it.
            code.push(insn(JEQ_K, 0, 1, *number));
            code.push(insn(RET_K, 0, 0, allow));
        }
        code.push(insn(JA, 0, 0, u32::MAX)); // to the end (patched)
        return code;
    }
    let mid = numbers.len() / 2;
    let (left, right) = (node(&numbers[..mid], allow), node(&numbers[mid..], allow));
    // At least the middle number: over the left half (a 32-bit jump, as
    // the halves may be longer than a conditional jump's 255).
    let mut code = vec![
        insn(JGE_K, 0, 1, numbers[mid]),
        insn(JA, 0, 0, left.len() as u32),
    ];
    code.extend(left);
    code.extend(right);
    code
}
// ANCHOR_END: tree
