//! The library's ELF surface: it exports exactly the interposed C functions,
//! and the pass-through path of the hot hooks is a tail call into libc (no
//! stack frame, no call: a jump).

mod common;

use common::{exported_symbols, hooks, preload_lib};
use std::collections::BTreeSet;
use std::process::Command;

fn tool(cmd: &str, args: &[&str]) -> String {
    let out = Command::new(cmd)
        .args(args)
        .arg(preload_lib())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd}: {e}"));
    assert!(out.status.success(), "{cmd} failed");
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn exports_exactly_the_hooks() {
    // The hook list is the real_fns! table of src/ (one source of truth).
    let exported: BTreeSet<String> = exported_symbols(&preload_lib()).into_iter().collect();
    let expected: BTreeSet<String> = hooks().into_iter().collect();
    assert_eq!(
        exported, expected,
        "nm -D --defined-only differs from the real_fns! table of src/"
    );
}

#[test]
fn hot_hooks_pass_through_with_a_tail_call() {
    let asm = tool("objdump", &["-d", "--no-show-raw-insn"]);
    // These must not build a stack frame or call anything: every way out
    // is a jump (to libc, to the out-of-line timed path, or to the cold
    // symbol resolver).
    for hook in [
        "read",
        "write",
        "readv",
        "writev",
        "recv",
        "send",
        "recvfrom",
        "sendto",
        "recvmsg",
        "sendmsg",
        "__read_chk",
        "__recv_chk",
        "connect",
        "close",
        "fcntl",
        "accept",
        "socket",
        "poll",
        "ppoll",
        "select",
        "epoll_wait",
        "getsockopt",
        "setsockopt",
        "listen",
        "fclose",
        "epoll_ctl",
    ] {
        let start = format!("<{hook}>:");
        let body: Vec<&str> = asm
            .lines()
            .skip_while(|l| !l.ends_with(&start))
            .skip(1)
            .take_while(|l| !l.trim().is_empty())
            .collect();
        assert!(!body.is_empty(), "{hook} not found in the disassembly");
        let bad: Vec<&&str> = body
            .iter()
            .filter(|l| {
                let op = l.split('\t').nth(1).unwrap_or("");
                op.starts_with("push") || op.starts_with("call")
            })
            .collect();
        assert!(
            bad.is_empty(),
            "{hook} builds a frame or calls instead of jumping:\n{}",
            body.join("\n")
        );
        assert!(
            body.iter().any(|l| l.contains("jmp    *")),
            "{hook} has no indirect tail jump into libc:\n{}",
            body.join("\n")
        );
    }
}
