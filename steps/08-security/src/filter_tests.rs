//! The compiler's decisions, on profiles written here (no filter is
//! installed: that needs a process to give up, and is tested by running
//! containers, tests/security.rs).

use std::path::Path;

use std::str::FromStr;

use seccompiler::sock_filter;

use super::*;
use crate::capset::DOCKER_DEFAULT;
use crate::profile::{DEFAULT, parse};

fn profile(json: &str) -> Profile {
    parse(Path::new("test.json"), json).unwrap()
}

/// An allow-list of what the runtime needs, and `more`.
fn allowing(more: &str) -> String {
    let runtime: Vec<String> = RUNTIME_CALLS.iter().map(|c| format!("{c:?}")).collect();
    format!(
        r#"{{ "defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
            {{ "names": [{}], "action": "SCMP_ACT_ALLOW" }} {more} ] }}"#,
        runtime.join(", ")
    )
}

#[test]
fn the_default_compiles_to_one_program_per_action() {
    let default = parse(Path::new("default.json"), DEFAULT).unwrap();
    // Allow-or-EPERM, and clone3's ENOSYS.
    assert_eq!(
        compile(&default, &DOCKER_DEFAULT).unwrap().programs.len(),
        2
    );
    // With CAP_SYS_ADMIN, clone3 is allowed: its ENOSYS rule excludes it.
    let mut admin = DOCKER_DEFAULT.to_vec();
    admin.push(Capability::CAP_SYS_ADMIN);
    assert_eq!(compile(&default, &admin).unwrap().programs.len(), 1);
}

#[test]
fn a_profile_that_stops_the_runtime_is_refused() {
    let only_read = profile(
        r#"{ "defaultAction": "SCMP_ACT_ERRNO",
        "syscalls": [{ "names": ["read"], "action": "SCMP_ACT_ALLOW" }] }"#,
    );
    let err = compile(&only_read, &[]).unwrap_err().to_string();
    assert!(err.contains("does not allow seccomp"), "{err}");
    // execve allowed only with some arguments is not allowed enough.
    let others: Vec<String> = RUNTIME_CALLS
        .iter()
        .filter(|c| **c != "execve")
        .map(|c| format!("{c:?}"))
        .collect();
    let conditional = profile(&format!(
        r#"{{ "defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
            {{ "names": [{}], "action": "SCMP_ACT_ALLOW" }},
            {{ "names": ["execve"], "action": "SCMP_ACT_ALLOW",
               "args": [{{ "index": 0, "value": 0, "op": "SCMP_CMP_EQ" }}] }} ] }}"#,
        others.join(", ")
    ));
    let err = compile(&conditional, &[]).unwrap_err().to_string();
    assert!(err.contains("does not allow execve"), "{err}");
    // A deny-list (default allow) never blocks them.
    let deny = profile(
        r#"{ "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{ "names": ["mkdir"], "action": "SCMP_ACT_ERRNO" }] }"#,
    );
    assert_eq!(compile(&deny, &[]).unwrap().programs.len(), 1);
}

#[test]
fn another_machines_profile_is_refused() {
    let s390 =
        profile(r#"{ "defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_S390X"] }"#);
    let err = compile(&s390, &[]).unwrap_err().to_string();
    assert!(
        err.contains("the profile is for SCMP_ARCH_S390X, not for this machine"),
        "{err}"
    );
}

#[test]
fn mistakes_are_named_by_field() {
    let cases = [
        (
            ", { \"names\": [\"read\"], \"action\": \"SCMP_ACT_MAYBE\" }",
            "syscalls[1].action: \"SCMP_ACT_MAYBE\"",
        ),
        (
            ", { \"names\": [\"read\"], \"action\": \"SCMP_ACT_NOTIFY\" }",
            "needs a program listening",
        ),
        (
            ", { \"names\": [\"read\"], \"action\": \"SCMP_ACT_ALLOW\", \"args\": [{ \"index\": 7, \"value\": 0, \"op\": \"SCMP_CMP_EQ\" }] }",
            "syscalls[1].args[0].index: a call has arguments 0 to 5",
        ),
        (
            ", { \"names\": [\"read\"], \"action\": \"SCMP_ACT_ALLOW\", \"args\": [{ \"index\": 0, \"value\": 0, \"op\": \"SCMP_CMP_ABOUT\" }] }",
            "syscalls[1].args[0].op: \"SCMP_CMP_ABOUT\" is not a comparison",
        ),
        (
            ", { \"names\": [\"mount\"], \"action\": \"SCMP_ACT_ALLOW\", \"includes\": { \"caps\": [\"CAP_SYS_ADMINN\"] } }",
            "syscalls[1].includes.caps: \"CAP_SYS_ADMINN\" is not a capability",
        ),
    ];
    for (more, says) in cases {
        let err = compile(&profile(&allowing(more)), &[])
            .unwrap_err()
            .to_string();
        assert!(err.contains(says), "{more}: {err}");
    }
}

#[test]
fn a_name_this_machine_lacks_is_skipped_and_said() {
    // `socketcall` is 32-bit x86's, `open` is not aarch64's; `opne` is a typo.
    let other = if cfg!(target_arch = "x86_64") {
        "socketcall"
    } else {
        "open"
    };
    let text = allowing(&format!(
        ", {{ \"names\": [\"{other}\", \"opne\"], \"action\": \"SCMP_ACT_ALLOW\" }}"
    ));
    let compiled = compile(&profile(&text), &[]).unwrap();
    assert_eq!(compiled.skipped, [other, "opne"]);
}

/// A classic BPF interpreter for the instructions seccompiler emits, run
/// as the kernel runs a filter (seccomp(2): `struct seccomp_data`).
fn run(program: &[sock_filter], nr: u32, arch: u32, args: [u64; 6]) -> u32 {
    let word = |offset: u32| -> u32 {
        match offset {
            0 => nr,
            4 => arch,
            16..=63 => {
                let arg = args[((offset - 16) / 8) as usize];
                if offset.is_multiple_of(8) {
                    arg as u32
                } else {
                    (arg >> 32) as u32
                }
            }
            _ => panic!("load at {offset}"),
        }
    };
    let (mut acc, mut pc) = (0u32, 0usize);
    loop {
        let i = &program[pc];
        pc += 1;
        let jump = |taken: bool| usize::from(if taken { i.jt } else { i.jf });
        match i.code {
            0x20 => acc = word(i.k),
            0x54 => acc &= i.k,
            0x05 => pc += i.k as usize,
            0x15 => pc += jump(acc == i.k),
            0x25 => pc += jump(acc > i.k),
            0x35 => pc += jump(acc >= i.k),
            0x06 => return i.k,
            other => panic!("instruction {other:#x}"),
        }
    }
}

/// What the kernel answers with every program installed: the strictest
/// action, the last installed between equals (seccomp(2)).
fn answer(programs: &[BpfProgram], nr: u32, args: [u64; 6]) -> u32 {
    const AUDIT_ARCH_X86_64: u32 = 0xc000_003e;
    let precedence = |ret: u32| match ret & 0xffff_0000 {
        0x8000_0000 => 0, // kill process
        0x0000_0000 => 1, // kill thread
        0x0003_0000 => 2, // trap
        0x0005_0000 => 3, // errno
        0x7ff0_0000 => 4, // trace
        0x7ffc_0000 => 5, // log
        _ => 6,           // allow
    };
    let answers = programs.iter().map(|p| run(p, nr, AUDIT_ARCH_X86_64, args));
    // Newest first, as the kernel walks them; a later answer replaces an
    // earlier one only if it is strictly stricter.
    answers
        .rev()
        .reduce(|a, b| if precedence(b) < precedence(a) { b } else { a })
        .unwrap()
}

#[cfg(target_arch = "x86_64")]
#[test]
fn the_default_answers_as_the_profile_says() {
    const ALLOW: u32 = 0x7fff_0000;
    const EPERM: u32 = 0x0005_0001;
    const ENOSYS: u32 = 0x0005_0026;
    let default = parse(Path::new("default.json"), DEFAULT).unwrap();
    let programs = compile(&default, &DOCKER_DEFAULT).unwrap().programs;
    let sys = |name: &str| syscalls::Sysno::from_str(name).unwrap().id() as u32;
    let with = |first: u64| [first, 0, 0, 0, 0, 0];
    assert_eq!(answer(&programs, sys("read"), with(0)), ALLOW);
    assert_eq!(answer(&programs, sys("keyctl"), with(0)), EPERM);
    assert_eq!(
        answer(&programs, sys("mount"), with(0)),
        EPERM,
        "no CAP_SYS_ADMIN"
    );
    assert_eq!(answer(&programs, sys("clone3"), with(0)), ENOSYS);
    // clone: a thread yes, a new user namespace no.
    assert_eq!(answer(&programs, sys("clone"), with(0x3d0f00)), ALLOW);
    assert_eq!(answer(&programs, sys("clone"), with(0x1000_0000)), EPERM);
    // socket: AF_INET yes, AF_VSOCK no, also with garbage in the upper half
    // of the int (which the kernel throws away).
    assert_eq!(answer(&programs, sys("socket"), with(2)), ALLOW);
    assert_eq!(answer(&programs, sys("socket"), with(40)), EPERM);
    assert_eq!(answer(&programs, sys("socket"), with(0x1_0000_0028)), EPERM);
    // personality: the listed domains only.
    assert_eq!(answer(&programs, sys("personality"), with(8)), ALLOW);
    assert_eq!(
        answer(&programs, sys("personality"), with(0x0040_0000)),
        EPERM
    );
    // An x32 call (read, with bit 30) is killed, not judged by x86_64's rules.
    assert_eq!(
        answer(&programs, 0x4000_0000, with(0)),
        libc::SECCOMP_RET_KILL_PROCESS
    );
    // Given CAP_SYS_ADMIN, mount and any clone.
    let mut admin = DOCKER_DEFAULT.to_vec();
    admin.push(Capability::CAP_SYS_ADMIN);
    let programs = compile(&default, &admin).unwrap().programs;
    assert_eq!(answer(&programs, sys("mount"), with(0)), ALLOW);
    assert_eq!(answer(&programs, sys("clone"), with(0x1000_0000)), ALLOW);
}

#[cfg(target_arch = "x86_64")]
#[test]
fn a_deny_list_stops_x32_calls_too() {
    let deny = profile(
        r#"{ "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{ "names": ["mkdir"], "action": "SCMP_ACT_ERRNO" }] }"#,
    );
    let programs = compile(&deny, &[]).unwrap().programs;
    let mkdir = syscalls::Sysno::mkdir.id() as u32;
    assert_eq!(answer(&programs, mkdir, [0; 6]), 0x0005_0001);
    assert_eq!(
        answer(&programs, 0x4000_0000 | mkdir, [0; 6]),
        libc::SECCOMP_RET_KILL_PROCESS
    );
    assert_eq!(answer(&programs, 0, [0; 6]), 0x7fff_0000);
}

/// The search tree changes how fast the answer comes, never the answer:
/// every call number, with a few arguments, against the plain list.
#[cfg(target_arch = "x86_64")]
#[test]
fn the_tree_answers_as_the_list_does() {
    let default = parse(Path::new("default.json"), DEFAULT).unwrap();
    for keep in [&DOCKER_DEFAULT[..], &[], &[Capability::CAP_SYS_ADMIN]] {
        let tree = compile_with(&default, keep, true).unwrap().programs;
        let list = compile_with(&default, keep, false).unwrap().programs;
        for nr in (0..500).chain([0x4000_0000, 0x4000_0001]) {
            for first in [0, 2, 8, 40, 0x1_0000_0028, 0x1000_0000, 0x3d0f00] {
                let args = [first, 0, 0, 0, 0, 0];
                assert_eq!(
                    answer(&tree, nr, args),
                    answer(&list, nr, args),
                    "call {nr}, first argument {first:#x}"
                );
            }
        }
    }
}

/// The tree alone: every number in the set is allowed, every other goes on
/// past its end, for sets of every shape (a leaf, a few levels, hundreds).
#[test]
fn the_tree_finds_exactly_its_numbers() {
    const ALLOW: u32 = 0x7fff_0000;
    const ON: u32 = 0xdead;
    for size in [0, 1, 3, 4, 5, 9, 17, 64, 300, 600] {
        let numbers: Vec<u32> = (0..size).map(|i| i * 3 + 1).collect();
        let mut program = crate::tree::allow_tree(&numbers, ALLOW);
        program.push(sock_filter {
            code: 0x06,
            jt: 0,
            jf: 0,
            k: ON,
        });
        for nr in 0..size * 3 + 4 {
            let expected = if numbers.contains(&nr) { ALLOW } else { ON };
            assert_eq!(
                run(&program, nr, 0, [0; 6]),
                expected,
                "size {size}, call {nr}"
            );
        }
    }
}

/// A 32-bit x86 program's call is judged by no rule: killed.
#[cfg(target_arch = "x86_64")]
#[test]
fn another_architectures_call_is_killed() {
    const AUDIT_ARCH_I386: u32 = 0x4000_0003;
    let default = parse(Path::new("default.json"), DEFAULT).unwrap();
    for program in compile(&default, &DOCKER_DEFAULT).unwrap().programs {
        let read = run(&program, 3, AUDIT_ARCH_I386, [0; 6]);
        assert_eq!(read, libc::SECCOMP_RET_KILL_PROCESS);
    }
}
