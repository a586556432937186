//! Pure translation of an OCI `linux.seccomp` profile into a seccomp BPF program.
//!
//! This file is compiled twice: as `crate::hardening::seccomp::translate` at
//! runtime and, through `#[path]`, inside `build.rs` to precompile ward's
//! default profile. It therefore depends on nothing but `std`, `serde_json`
//! and `seccompiler` (no libc, no tracing, no oci-spec): the runtime turns an
//! `oci_spec` profile into a `serde_json::Value` and comes through the same
//! parser as the JSON file does.
//!
//! # Program layout
//!
//! seccompiler's model has one match action and one mismatch action per
//! filter, while an OCI profile has an action per rule. Rules are therefore
//! grouped by action; each group is compiled by seccompiler with a sentinel
//! mismatch action, and in the compiled group every `ret <sentinel>` is turned
//! into a forward jump to the next group (the last group falls through to
//! `ret <defaultAction>`). Patching a `ret` into a `ja` keeps the length of the
//! group, so seccompiler's own relative jumps stay valid. Groups are ordered by
//! kernel action precedence (KILL_PROCESS, KILL_THREAD, TRAP, ERRNO, TRACE,
//! LOG, ALLOW; ties in profile order), so when rules for the same syscall
//! overlap, the most restrictive one wins.
//!
//! ```text
//!   ld  arch
//!   jeq AUDIT_ARCH_<native> ? +1 : +0 ; ret KILL_PROCESS   foreign ABI (i386 int 0x80, arm32 compat)
//!   ld  nr
//!   x86_64 only: nr >= 0x40000000 && nr != -1 -> ret KILL_PROCESS   (x32 ABI)
//!   if defaultAction is ERRNO: nr > <highest nr in the table> -> ret ERRNO(ENOSYS)
//!   ranges of syscalls allowed unconditionally and named by no other rule:
//!     nr > hi ? next range : nr >= lo ? ret ALLOW : past the ranges
//!   group 1 (seccompiler code, sentinels patched to `ja` past the group)
//!   ...
//!   group n
//!   ret <defaultAction>
//! ```
//!
//! The ENOSYS check makes syscalls newer than ward's table (and therefore
//! absent from any profile) fail the way an older kernel would, so libc falls
//! back to older syscalls instead of giving up on EPERM. It is only emitted
//! when the default action is ERRNO: a KILL/TRAP default means the profile
//! author asked for something harsher, an ALLOW/LOG/TRACE default must not be
//! narrowed.
//!
//! Other translation rules follow runc: `SCMP_ACT_KILL` is KILL_THREAD; ERRNO
//! and TRACE take `errnoRet` as data, EPERM when absent; several `args` in one
//! entry are ANDed, except when two of them name the same argument index, in
//! which case each becomes a rule of its own (ORed), as runc does; several
//! entries for one syscall are ORed; argument values are compared as 64-bit
//! values; names unknown to the table are skipped and reported.

// `build.rs` uses only part of this module.
#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};

use seccompiler::{
    sock_filter, BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition,
    SeccompFilter, SeccompRule, TargetArch,
};
use serde_json::Value;

#[path = "syscalls.rs"]
mod syscalls;

pub const EPERM: u32 = 1;
pub const ENOSYS: u32 = 38;

/// The kernel's limit on the length of a classic BPF program (BPF_MAXINSNS).
pub const MAX_INSTRUCTIONS: usize = 4096;

/// x32 syscalls arrive with AUDIT_ARCH_X86_64 and this bit set in the number.
pub const X32_SYSCALL_BIT: u32 = 0x4000_0000;

// Classic BPF opcodes (linux/bpf_common.h).
/// BPF_LD | BPF_W | BPF_ABS
const BPF_LD_W_ABS: u16 = 0x20;
const BPF_JMP_JA: u16 = 0x05;
const BPF_JMP_JEQ_K: u16 = 0x05 | 0x10;
const BPF_JMP_JGT_K: u16 = 0x05 | 0x20;
const BPF_JMP_JGE_K: u16 = 0x05 | 0x30;
const BPF_RET_K: u16 = 0x06;
// Offsets in struct seccomp_data.
const DATA_NR: u32 = 0;
const DATA_ARCH: u32 = 4;

/// Every architecture name libseccomp (and so the OCI spec) knows.
pub const KNOWN_ARCHITECTURES: &[&str] = &[
    "SCMP_ARCH_NATIVE",
    "SCMP_ARCH_X86",
    "SCMP_ARCH_X86_64",
    "SCMP_ARCH_X32",
    "SCMP_ARCH_ARM",
    "SCMP_ARCH_AARCH64",
    "SCMP_ARCH_MIPS",
    "SCMP_ARCH_MIPS64",
    "SCMP_ARCH_MIPS64N32",
    "SCMP_ARCH_MIPSEL",
    "SCMP_ARCH_MIPSEL64",
    "SCMP_ARCH_MIPSEL64N32",
    "SCMP_ARCH_PPC",
    "SCMP_ARCH_PPC64",
    "SCMP_ARCH_PPC64LE",
    "SCMP_ARCH_S390",
    "SCMP_ARCH_S390X",
    "SCMP_ARCH_PARISC",
    "SCMP_ARCH_PARISC64",
    "SCMP_ARCH_RISCV64",
    "SCMP_ARCH_LOONGARCH64",
    "SCMP_ARCH_M68K",
    "SCMP_ARCH_SH",
    "SCMP_ARCH_SHEB",
];

/// Every filter flag the OCI spec defines, with its seccomp(2) value. TSYNC is
/// 0 here: ward always synchronises threads (as runc, which ignores the flag).
pub const KNOWN_FLAGS: &[(&str, u32)] = &[
    ("SECCOMP_FILTER_FLAG_TSYNC", 0),
    ("SECCOMP_FILTER_FLAG_LOG", FLAG_LOG),
    ("SECCOMP_FILTER_FLAG_SPEC_ALLOW", FLAG_SPEC_ALLOW),
    (
        "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV",
        FLAG_WAIT_KILLABLE_RECV,
    ),
];

// seccomp(2) filter flags (linux/seccomp.h).
pub const FLAG_TSYNC: u32 = 1;
pub const FLAG_LOG: u32 = 2;
pub const FLAG_SPEC_ALLOW: u32 = 4;
pub const FLAG_NEW_LISTENER: u32 = 8;
pub const FLAG_TSYNC_ESRCH: u32 = 16;
pub const FLAG_WAIT_KILLABLE_RECV: u32 = 32;

/// Syscalls the container process makes between installing a filter with a
/// listener and handing the listener to the runtime (write: its log; sendmsg:
/// the hand-over). runc refuses NOTIFY for write for the same reason.
const HANDOVER_SYSCALLS: &[&str] = &["write", "sendmsg"];

/// SECCOMP_RET_USER_NOTIF: the syscall waits for the listener's answer.
pub const RET_USER_NOTIF: u32 = 0x7fc0_0000;

/// The architectures ward can build a filter for (the native one only).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arch {
    X86_64,
    Aarch64,
}

impl Arch {
    /// From a Rust target arch name (`CARGO_CFG_TARGET_ARCH`, `std::env::consts::ARCH`).
    pub fn from_target(name: &str) -> Option<Arch> {
        match name {
            "x86_64" => Some(Arch::X86_64),
            "aarch64" => Some(Arch::Aarch64),
            _ => None,
        }
    }

    /// The architecture this code was compiled for.
    pub fn native() -> Option<Arch> {
        if cfg!(target_arch = "x86_64") {
            Some(Arch::X86_64)
        } else if cfg!(target_arch = "aarch64") {
            Some(Arch::Aarch64)
        } else {
            None
        }
    }

    pub fn scmp_name(self) -> &'static str {
        match self {
            Arch::X86_64 => "SCMP_ARCH_X86_64",
            Arch::Aarch64 => "SCMP_ARCH_AARCH64",
        }
    }

    /// AUDIT_ARCH_* value the kernel reports in seccomp_data.arch.
    pub fn audit_arch(self) -> u32 {
        match self {
            Arch::X86_64 => 0xc000_003e,
            Arch::Aarch64 => 0xc000_00b7,
        }
    }

    fn target(self) -> TargetArch {
        match self {
            Arch::X86_64 => TargetArch::x86_64,
            Arch::Aarch64 => TargetArch::aarch64,
        }
    }

    /// The syscall table, sorted by number.
    pub fn table(self) -> &'static [(&'static str, u32)] {
        match self {
            Arch::X86_64 => syscalls::X86_64,
            Arch::Aarch64 => syscalls::AARCH64,
        }
    }

    pub fn syscall_nr(self, name: &str) -> Option<u32> {
        self.table()
            .iter()
            .find(|(n, _)| *n == name)
            .map(|&(_, nr)| nr)
    }

    /// The highest syscall number the table knows.
    pub fn max_syscall_nr(self) -> u32 {
        self.table().iter().map(|&(_, nr)| nr).max().unwrap_or(0)
    }
}

/// A seccomp action with its data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Allow,
    Errno(u32),
    KillThread,
    KillProcess,
    Trap,
    Trace(u32),
    Log,
    /// SCMP_ACT_NOTIFY. seccompiler has no such action: its rules are compiled
    /// with [`NOTIFY_PLACEHOLDER`] and the `ret`s patched to USER_NOTIF.
    Notify,
}

/// Stands in for USER_NOTIF while seccompiler compiles the notify group; no
/// other group of the same compilation returns it.
const NOTIFY_PLACEHOLDER: SeccompAction = SeccompAction::Trace(0xfffe);

impl Action {
    fn to_seccompiler(self) -> SeccompAction {
        match self {
            Action::Allow => SeccompAction::Allow,
            Action::Errno(e) => SeccompAction::Errno(e),
            Action::KillThread => SeccompAction::KillThread,
            Action::KillProcess => SeccompAction::KillProcess,
            Action::Trap => SeccompAction::Trap,
            Action::Trace(d) => SeccompAction::Trace(d),
            Action::Log => SeccompAction::Log,
            Action::Notify => NOTIFY_PLACEHOLDER,
        }
    }

    /// The value a BPF `ret` returns for this action.
    pub fn ret_value(self) -> u32 {
        match self {
            Action::Notify => RET_USER_NOTIF,
            a => u32::from(a.to_seccompiler()),
        }
    }

    /// Lower is stronger, as the kernel ranks actions.
    fn precedence(self) -> u8 {
        match self {
            Action::KillProcess => 0,
            Action::KillThread => 1,
            Action::Trap => 2,
            Action::Errno(_) => 3,
            Action::Notify => 4,
            Action::Trace(_) => 5,
            Action::Log => 6,
            Action::Allow => 7,
        }
    }

    /// The OCI spelling, with the data when there is any: `SCMP_ACT_ERRNO(1)`.
    pub fn describe(self) -> String {
        match self {
            Action::Allow => "SCMP_ACT_ALLOW".into(),
            Action::Errno(e) => format!("SCMP_ACT_ERRNO({e})"),
            Action::KillThread => "SCMP_ACT_KILL_THREAD".into(),
            Action::KillProcess => "SCMP_ACT_KILL_PROCESS".into(),
            Action::Trap => "SCMP_ACT_TRAP".into(),
            Action::Trace(d) => format!("SCMP_ACT_TRACE({d})"),
            Action::Log => "SCMP_ACT_LOG".into(),
            Action::Notify => "SCMP_ACT_NOTIFY".into(),
        }
    }

    fn allows(self) -> bool {
        matches!(self, Action::Allow | Action::Log)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Ne,
    Lt,
    Le,
    Eq,
    Ge,
    Gt,
    MaskedEq,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Arg {
    pub index: u8,
    pub value: u64,
    pub value_two: u64,
    pub op: Op,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub names: Vec<String>,
    pub action: Action,
    pub args: Vec<Arg>,
}

/// A parsed, validated profile.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Profile {
    pub default_action: Action,
    pub architectures: Vec<String>,
    /// `flags` as given: None when absent (runc then adds SPEC_ALLOW), Some([]) when empty.
    pub flags: Option<Vec<String>>,
    /// `listenerPath`, `""` when absent.
    pub listener_path: String,
    pub listener_metadata: String,
    pub syscalls: Vec<Entry>,
}

/// A translation error; `field` is the JSON path in the OCI spec.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TranslateError {
    pub field: String,
    pub message: String,
}

impl std::fmt::Display for TranslateError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

impl std::error::Error for TranslateError {}

fn err(field: impl Into<String>, message: impl Into<String>) -> TranslateError {
    TranslateError {
        field: field.into(),
        message: message.into(),
    }
}

fn as_u64(v: &Value, field: &str) -> Result<u64, TranslateError> {
    v.as_u64()
        .ok_or_else(|| err(field, format!("expected an unsigned integer, found {v}")))
}

fn as_str<'a>(v: &'a Value, field: &str) -> Result<&'a str, TranslateError> {
    v.as_str()
        .ok_or_else(|| err(field, format!("expected a string, found {v}")))
}

fn as_array<'a>(v: &'a Value, field: &str) -> Result<&'a Vec<Value>, TranslateError> {
    v.as_array()
        .ok_or_else(|| err(field, format!("expected an array, found {v}")))
}

fn errno_data(v: Option<&Value>, field: &str) -> Result<u32, TranslateError> {
    match v {
        None | Some(Value::Null) => Ok(EPERM),
        Some(v) => {
            let n = as_u64(v, field)?;
            u32::try_from(n)
                .ok()
                .filter(|&n| n <= 0xffff)
                .ok_or_else(|| err(field, format!("{n} does not fit the 16-bit action data")))
        }
    }
}

/// Parses an action name; `data` is `errnoRet`/`defaultErrnoRet`.
fn parse_action(
    name: &str,
    data: Option<&Value>,
    field: &str,
    data_field: &str,
) -> Result<Action, TranslateError> {
    Ok(match name {
        "SCMP_ACT_ALLOW" => Action::Allow,
        "SCMP_ACT_ERRNO" => Action::Errno(errno_data(data, data_field)?),
        "SCMP_ACT_KILL" | "SCMP_ACT_KILL_THREAD" => Action::KillThread,
        "SCMP_ACT_KILL_PROCESS" => Action::KillProcess,
        "SCMP_ACT_TRAP" => Action::Trap,
        "SCMP_ACT_TRACE" => Action::Trace(errno_data(data, data_field)?),
        "SCMP_ACT_LOG" => Action::Log,
        "SCMP_ACT_NOTIFY" => Action::Notify,
        other => return Err(err(field, format!("unknown action {other}"))),
    })
}

fn parse_op(name: &str, field: &str) -> Result<Op, TranslateError> {
    Ok(match name {
        "SCMP_CMP_NE" => Op::Ne,
        "SCMP_CMP_LT" => Op::Lt,
        "SCMP_CMP_LE" => Op::Le,
        "SCMP_CMP_EQ" => Op::Eq,
        "SCMP_CMP_GE" => Op::Ge,
        "SCMP_CMP_GT" => Op::Gt,
        "SCMP_CMP_MASKED_EQ" => Op::MaskedEq,
        other => return Err(err(field, format!("unknown operator {other}"))),
    })
}

/// Parses an OCI `linux.seccomp` object. `base` names it in errors
/// (`"linux.seccomp"`). Unknown keys (such as `"comment"`) are ignored.
pub fn parse_profile(v: &Value, base: &str) -> Result<Profile, TranslateError> {
    let obj = v
        .as_object()
        .ok_or_else(|| err(base, "expected an object"))?;

    let f_default = format!("{base}.defaultAction");
    let default_name = as_str(
        obj.get("defaultAction")
            .ok_or_else(|| err(&f_default, "missing"))?,
        &f_default,
    )?;
    let default_action = parse_action(
        default_name,
        obj.get("defaultErrnoRet"),
        &f_default,
        &format!("{base}.defaultErrnoRet"),
    )?;
    if default_action == Action::Notify {
        // Every syscall, the runtime's own hand-over included, would wait for
        // an agent that does not have the listener yet (libseccomp refuses it too).
        return Err(err(
            f_default,
            "SCMP_ACT_NOTIFY cannot be used as the default action",
        ));
    }

    let mut architectures = Vec::new();
    if let Some(a) = obj.get("architectures").filter(|a| !a.is_null()) {
        let f = format!("{base}.architectures");
        for (i, a) in as_array(a, &f)?.iter().enumerate() {
            let f = format!("{f}[{i}]");
            let name = as_str(a, &f)?;
            if !KNOWN_ARCHITECTURES.contains(&name) {
                return Err(err(f, format!("unknown architecture {name}")));
            }
            architectures.push(name.to_string());
        }
    }

    let mut flags = None;
    if let Some(a) = obj.get("flags").filter(|a| !a.is_null()) {
        let f = format!("{base}.flags");
        let mut list = Vec::new();
        for (i, a) in as_array(a, &f)?.iter().enumerate() {
            let f = format!("{f}[{i}]");
            let name = as_str(a, &f)?;
            if !KNOWN_FLAGS.iter().any(|(n, _)| *n == name) {
                return Err(err(f, format!("unknown flag {name}")));
            }
            list.push(name.to_string());
        }
        flags = Some(list);
    }

    let string_field = |k: &str| -> Result<String, TranslateError> {
        match obj.get(k).filter(|v| !v.is_null()) {
            Some(v) => Ok(as_str(v, &format!("{base}.{k}"))?.to_string()),
            None => Ok(String::new()),
        }
    };
    let listener_path = string_field("listenerPath")?;
    let listener_metadata = string_field("listenerMetadata")?;

    let mut syscalls = Vec::new();
    if let Some(s) = obj.get("syscalls").filter(|s| !s.is_null()) {
        let f = format!("{base}.syscalls");
        for (i, e) in as_array(s, &f)?.iter().enumerate() {
            syscalls.push(parse_entry(e, &format!("{f}[{i}]"))?);
        }
    }

    Ok(Profile {
        default_action,
        architectures,
        flags,
        listener_path,
        listener_metadata,
        syscalls,
    })
}

fn parse_entry(v: &Value, base: &str) -> Result<Entry, TranslateError> {
    let obj = v
        .as_object()
        .ok_or_else(|| err(base, "expected an object"))?;

    let mut names = Vec::new();
    if let Some(n) = obj.get("names").filter(|n| !n.is_null()) {
        let f = format!("{base}.names");
        for (i, n) in as_array(n, &f)?.iter().enumerate() {
            names.push(as_str(n, &format!("{f}[{i}]"))?.to_string());
        }
    }
    // The pre-1.0 spelling, still found in old profiles.
    if let Some(n) = obj.get("name").filter(|n| !n.is_null()) {
        names.push(as_str(n, &format!("{base}.name"))?.to_string());
    }
    if names.is_empty() {
        return Err(err(
            format!("{base}.names"),
            "must name at least one syscall",
        ));
    }

    let f_action = format!("{base}.action");
    let action = parse_action(
        as_str(
            obj.get("action").ok_or_else(|| err(&f_action, "missing"))?,
            &f_action,
        )?,
        obj.get("errnoRet"),
        &f_action,
        &format!("{base}.errnoRet"),
    )?;

    let mut args = Vec::new();
    if let Some(a) = obj.get("args").filter(|a| !a.is_null()) {
        let f = format!("{base}.args");
        for (j, a) in as_array(a, &f)?.iter().enumerate() {
            let f = format!("{f}[{j}]");
            let o = a.as_object().ok_or_else(|| err(&f, "expected an object"))?;
            let get = |k: &str| o.get(k).filter(|v| !v.is_null());
            let f_index = format!("{f}.index");
            let index = as_u64(
                get("index").ok_or_else(|| err(&f_index, "missing"))?,
                &f_index,
            )?;
            if index > 5 {
                return Err(err(
                    f_index,
                    format!("{index} is not a syscall argument index (0-5)"),
                ));
            }
            let f_value = format!("{f}.value");
            let value = as_u64(
                get("value").ok_or_else(|| err(&f_value, "missing"))?,
                &f_value,
            )?;
            let value_two = match get("valueTwo") {
                Some(v) => as_u64(v, &format!("{f}.valueTwo"))?,
                None => 0,
            };
            let f_op = format!("{f}.op");
            let op = parse_op(
                as_str(get("op").ok_or_else(|| err(&f_op, "missing"))?, &f_op)?,
                &f_op,
            )?;
            args.push(Arg {
                index: index as u8,
                value,
                value_two,
                op,
            });
        }
    }

    Ok(Entry {
        names,
        action,
        args,
    })
}

/// The outcome of compiling a profile.
#[derive(Clone, Debug)]
pub struct Compiled {
    pub program: BpfProgram,
    pub default_action: String,
    /// Distinct syscalls with at least one ALLOW or LOG rule.
    pub syscalls_allowed: usize,
    /// Rules after expanding `names`: one per (syscall, argument condition set, action),
    /// one for an unconditional entry.
    pub rules: usize,
    /// Names the table does not know, in profile order, without repeats.
    pub skipped_syscalls: Vec<String>,
    /// Listed architectures other than the native one: their syscalls are killed.
    pub foreign_architectures: Vec<String>,
    /// Some rule returns SCMP_ACT_NOTIFY for a syscall of this architecture.
    pub notify: bool,
}

struct Group {
    action: Action,
    /// Syscall number -> alternative rules; an empty vector matches unconditionally.
    rules: BTreeMap<i64, Vec<SeccompRule>>,
    unconditional: BTreeSet<i64>,
}

fn condition(a: &Arg) -> Result<SeccompCondition, seccompiler::BackendError> {
    let (op, value) = match a.op {
        Op::Ne => (SeccompCmpOp::Ne, a.value),
        Op::Lt => (SeccompCmpOp::Lt, a.value),
        Op::Le => (SeccompCmpOp::Le, a.value),
        Op::Eq => (SeccompCmpOp::Eq, a.value),
        Op::Ge => (SeccompCmpOp::Ge, a.value),
        Op::Gt => (SeccompCmpOp::Gt, a.value),
        // libseccomp: (arg & value) == valueTwo
        Op::MaskedEq => (SeccompCmpOp::MaskedEq(a.value), a.value_two),
    };
    SeccompCondition::new(a.index, SeccompCmpArgLen::Qword, op, value)
}

fn stmt(code: u16, k: u32) -> sock_filter {
    sock_filter {
        code,
        jt: 0,
        jf: 0,
        k,
    }
}

fn jump(code: u16, k: u32, jt: u8, jf: u8) -> sock_filter {
    sock_filter { code, jt, jf, k }
}

/// Most of an allowlist is syscalls allowed unconditionally and named by no
/// other rule. seccompiler compiles each syscall to its own compare-and-jump
/// chain (about 4 instructions per syscall, 1572 for ward's baseline), and the
/// kernel converts, JITs and, for its per-syscall cache, emulates the whole
/// program at every container start. Those syscalls are taken out of the
/// groups here and checked first as ranges of consecutive numbers, 3
/// instructions per range; the groups keep everything with conditions or
/// other actions, so precedence is unchanged. Expects the syscall number in
/// the accumulator; returns the range checks (possibly none).
fn allow_ranges(groups: &mut Vec<Group>) -> Vec<sock_filter> {
    // cBPF jumps reach at most 255 instructions ahead: the first range's
    // "below this range" jump goes past all the others.
    const MAX_RANGES: usize = 85;
    let mut only_allowed: BTreeSet<i64> = BTreeSet::new();
    for g in groups.iter() {
        if g.action == Action::Allow {
            only_allowed.extend(
                g.rules
                    .iter()
                    .filter(|(_, r)| r.is_empty())
                    .map(|(nr, _)| *nr),
            );
        }
    }
    for g in groups.iter() {
        if g.action != Action::Allow {
            for nr in g.rules.keys() {
                only_allowed.remove(nr);
            }
        }
    }
    let mut ranges: Vec<(i64, i64)> = Vec::new();
    for nr in only_allowed {
        match ranges.last_mut() {
            Some((_, hi)) if *hi + 1 == nr => *hi = nr,
            _ => ranges.push((nr, nr)),
        }
    }
    ranges.truncate(MAX_RANGES);
    let n = ranges.len();
    let mut code = Vec::with_capacity(3 * n);
    for (i, &(lo, hi)) in ranges.iter().enumerate() {
        // nr > hi: next range. nr < lo: in no range (they ascend): past them all.
        code.push(jump(BPF_JMP_JGT_K, hi as u32, 2, 0));
        code.push(jump(BPF_JMP_JGE_K, lo as u32, 0, (3 * (n - i) - 2) as u8));
        code.push(stmt(BPF_RET_K, Action::Allow.ret_value()));
    }
    for g in groups.iter_mut().filter(|g| g.action == Action::Allow) {
        g.rules
            .retain(|nr, _| !ranges.iter().any(|&(lo, hi)| (lo..=hi).contains(nr)));
    }
    groups.retain(|g| !g.rules.is_empty());
    code
}

/// Compiles a parsed profile for `arch`.
pub fn compile_profile(profile: &Profile, arch: Arch) -> Result<Compiled, TranslateError> {
    compile_profile_with(profile, arch, true)
}

/// [`compile_profile`], optionally without the range checks of
/// [`allow_ranges`] (for the test that they change no verdict).
pub fn compile_profile_with(
    profile: &Profile,
    arch: Arch,
    ranges: bool,
) -> Result<Compiled, TranslateError> {
    let base = "linux.seccomp";
    let mut groups: Vec<Group> = Vec::new();
    let mut skipped: Vec<String> = Vec::new();

    for (i, entry) in profile.syscalls.iter().enumerate() {
        let field = format!("{base}.syscalls[{i}]");
        // Conditions: ANDed in one rule unless an index repeats (then ORed, as runc).
        let mut conds = Vec::new();
        for (j, a) in entry.args.iter().enumerate() {
            conds.push(condition(a).map_err(|e| err(format!("{field}.args[{j}]"), e.to_string()))?);
        }
        let mut seen = BTreeSet::new();
        let repeated = entry.args.iter().any(|a| !seen.insert(a.index));
        let alternatives: Vec<Vec<SeccompCondition>> = if repeated {
            conds.into_iter().map(|c| vec![c]).collect()
        } else if conds.is_empty() {
            Vec::new()
        } else {
            vec![conds]
        };

        let gi = match groups.iter().position(|g| g.action == entry.action) {
            Some(gi) => gi,
            None => {
                groups.push(Group {
                    action: entry.action,
                    rules: BTreeMap::new(),
                    unconditional: BTreeSet::new(),
                });
                groups.len() - 1
            }
        };
        let group = &mut groups[gi];

        for name in &entry.names {
            if entry.action == Action::Notify && HANDOVER_SYSCALLS.contains(&name.as_str()) {
                // The process holds the only copy of the listener until it has
                // handed it over with these; waiting on itself, it would hang.
                return Err(err(
                    format!("{field}.action"),
                    format!("SCMP_ACT_NOTIFY cannot be used for the {name} syscall (the runtime hands the listener over with it)"),
                ));
            }
            let Some(nr) = arch.syscall_nr(name) else {
                if !skipped.contains(name) {
                    skipped.push(name.clone());
                }
                continue;
            };
            let nr = i64::from(nr);
            if alternatives.is_empty() {
                group.unconditional.insert(nr);
                continue;
            }
            let rules = group.rules.entry(nr).or_default();
            for conds in &alternatives {
                let rule = SeccompRule::new(conds.clone())
                    .map_err(|e| err(format!("{field}.args"), e.to_string()))?;
                if !rules.contains(&rule) {
                    rules.push(rule);
                }
            }
        }
    }

    // An unconditional entry makes conditional ones for the same syscall moot.
    for g in &mut groups {
        for &nr in &g.unconditional {
            g.rules.insert(nr, Vec::new());
        }
        g.unconditional.clear();
    }
    groups.retain(|g| !g.rules.is_empty());
    // Stable: ties keep profile order.
    groups.sort_by_key(|g| g.action.precedence());

    let rules: usize = groups
        .iter()
        .flat_map(|g| g.rules.values())
        .map(|r| r.len().max(1))
        .sum();
    let allowed: BTreeSet<i64> = groups
        .iter()
        .filter(|g| g.action.allows())
        .flat_map(|g| g.rules.keys().copied())
        .collect();

    let kill = Action::KillProcess.ret_value();
    let mut program: BpfProgram = vec![
        stmt(BPF_LD_W_ABS, DATA_ARCH),
        jump(BPF_JMP_JEQ_K, arch.audit_arch(), 1, 0),
        stmt(BPF_RET_K, kill),
        stmt(BPF_LD_W_ABS, DATA_NR),
    ];
    if arch == Arch::X86_64 {
        // nr < 0x40000000: skip the next two. nr == -1 (0xffffffff) is what the
        // kernel sees for a skipped or invalid syscall; leave it to the rest.
        program.push(jump(BPF_JMP_JGE_K, X32_SYSCALL_BIT, 0, 2));
        program.push(jump(BPF_JMP_JEQ_K, u32::MAX, 1, 0));
        program.push(stmt(BPF_RET_K, kill));
    }
    if let Action::Errno(_) = profile.default_action {
        program.push(jump(BPF_JMP_JGT_K, arch.max_syscall_nr(), 0, 1));
        program.push(stmt(BPF_RET_K, Action::Errno(ENOSYS).ret_value()));
    }

    if ranges {
        program.extend(allow_ranges(&mut groups));
    }
    let notify = groups.iter().any(|g| g.action == Action::Notify);
    for g in groups {
        let sentinel = if g.action == Action::Errno(0xfff) {
            Action::Errno(0xffe)
        } else {
            Action::Errno(0xfff)
        };
        let what = g.action.describe();
        let notify = g.action == Action::Notify;
        let filter = SeccompFilter::new(
            g.rules,
            sentinel.to_seccompiler(),
            g.action.to_seccompiler(),
            arch.target(),
        )
        .map_err(|e| err(base, format!("compiling the {what} rules: {e}")))?;
        let code: BpfProgram = filter.try_into().map_err(|e: seccompiler::BackendError| {
            err(base, format!("compiling the {what} rules: {e}"))
        })?;
        // seccompiler starts every program with its own 3-instruction arch check
        // (ours is above); drop it, and check that it is what we expect.
        let expected_prologue = [
            stmt(BPF_LD_W_ABS, DATA_ARCH),
            jump(BPF_JMP_JEQ_K, arch.audit_arch(), 1, 0),
            stmt(BPF_RET_K, kill),
        ];
        if code.len() < 4 || code[..3] != expected_prologue {
            return Err(err(
                base,
                "unexpected code from seccompiler (arch check prologue changed)",
            ));
        }
        let mut body: Vec<sock_filter> = code[3..].to_vec();
        let len = body.len();
        let sentinel = sentinel.ret_value();
        for (i, ins) in body.iter_mut().enumerate() {
            if ins.code == BPF_RET_K && ins.k == sentinel {
                // Jump to the first instruction after this group.
                *ins = stmt(BPF_JMP_JA, (len - i - 1) as u32);
            } else if notify && ins.code == BPF_RET_K && ins.k == u32::from(NOTIFY_PLACEHOLDER) {
                *ins = stmt(BPF_RET_K, RET_USER_NOTIF);
            }
        }
        program.extend(body);
    }
    program.push(stmt(BPF_RET_K, profile.default_action.ret_value()));

    if program.len() > MAX_INSTRUCTIONS {
        return Err(err(
            base,
            format!(
                "the filter needs {} BPF instructions, more than the kernel's limit of {MAX_INSTRUCTIONS}",
                program.len()
            ),
        ));
    }

    let native = arch.scmp_name();
    let foreign_architectures = profile
        .architectures
        .iter()
        .filter(|a| a.as_str() != native && a.as_str() != "SCMP_ARCH_NATIVE")
        .cloned()
        .collect();

    Ok(Compiled {
        program,
        default_action: profile.default_action.describe(),
        syscalls_allowed: allowed.len(),
        rules,
        skipped_syscalls: skipped,
        foreign_architectures,
        notify,
    })
}

/// Parses and compiles an OCI `linux.seccomp` object given as JSON.
pub fn compile_json(v: &Value, arch: Arch) -> Result<Compiled, TranslateError> {
    compile_profile(&parse_profile(v, "linux.seccomp")?, arch)
}

/// Serialises a program as the kernel's `struct sock_filter` array, native endian
/// (8 bytes per instruction).
pub fn program_to_bytes(prog: &[sock_filter]) -> Vec<u8> {
    let mut out = Vec::with_capacity(prog.len() * 8);
    for ins in prog {
        out.extend_from_slice(&ins.code.to_ne_bytes());
        out.push(ins.jt);
        out.push(ins.jf);
        out.extend_from_slice(&ins.k.to_ne_bytes());
    }
    out
}

/// The inverse of [`program_to_bytes`].
pub fn program_from_bytes(b: &[u8]) -> Result<BpfProgram, String> {
    if b.is_empty() {
        return Err("empty program".into());
    }
    if b.len() % 8 != 0 {
        return Err(format!(
            "{} bytes is not a whole number of 8-byte instructions",
            b.len()
        ));
    }
    let n = b.len() / 8;
    if n > MAX_INSTRUCTIONS {
        return Err(format!(
            "{n} instructions, more than the kernel's limit of {MAX_INSTRUCTIONS}"
        ));
    }
    Ok(b.chunks_exact(8)
        .map(|c| sock_filter {
            code: u16::from_ne_bytes([c[0], c[1]]),
            jt: c[2],
            jf: c[3],
            k: u32::from_ne_bytes([c[4], c[5], c[6], c[7]]),
        })
        .collect())
}
