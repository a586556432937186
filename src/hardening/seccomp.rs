//! Seccomp: ward's default-deny baseline and OCI profile translation, in pure
//! Rust on top of `seccompiler` (no libseccomp).
//!
//! Two filters can be installed, stacked (the kernel runs both and the most
//! restrictive result wins):
//!
//! - the **baseline**, ward's own allowlist (`seccomp-profiles/default.json`),
//!   compiled to BPF by `build.rs` and embedded in the binary: [`baseline`]
//!   only decodes the embedded instructions;
//! - the **spec profile** (`linux.seccomp`), compiled at `create` by
//!   [`compile_oci`], saved in the container's state directory with
//!   [`to_bytes`] and loaded for `exec` with [`from_bytes`].
//!
//! Both go through the same translation code (`seccomp/translate.rs`, also
//! included by `build.rs`); its module documentation describes the program
//! layout: native ABI only (i386 `int 0x80` and x32 syscalls kill the
//! process), ERRNO(ENOSYS) for syscall numbers above ward's table when the
//! default action is ERRNO (so libc falls back to older syscalls), rules
//! grouped by action and ordered by kernel precedence.

mod translate;

use oci_spec::runtime::LinuxSeccomp;
use serde::{Deserialize, Serialize};

pub use seccompiler::BpfProgram;

/// ward's default profile, as shipped (the embedded filter is compiled from it).
pub const DEFAULT_PROFILE_JSON: &str = include_str!("../../seccomp-profiles/default.json");

static BASELINE_BPF: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/default_seccomp.bpf"));
static BASELINE_SUMMARY: &str =
    include_str!(concat!(env!("OUT_DIR"), "/default_seccomp_summary.json"));

/// A compiled filter, ready for [`install`].
#[derive(Clone, Debug)]
pub struct CompiledFilter {
    pub program: BpfProgram,
    pub summary: FilterSummary,
    /// The profile's `flags`, as seccomp(2) bits (TSYNC counts 0); None when absent.
    pub flags: Option<u32>,
    /// Some rule returns SCMP_ACT_NOTIFY: the filter needs a listener.
    pub notify: bool,
    /// `listenerPath` and `listenerMetadata` (empty when absent).
    pub listener_path: String,
    pub listener_metadata: String,
}

pub use translate::{
    FLAG_LOG, FLAG_NEW_LISTENER, FLAG_SPEC_ALLOW, FLAG_TSYNC, FLAG_TSYNC_ESRCH,
    FLAG_WAIT_KILLABLE_RECV, KNOWN_FLAGS,
};

/// What a filter does, for `ward` posture reports.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct FilterSummary {
    /// `"ward default"` or `"spec"`.
    pub source: String,
    /// e.g. `SCMP_ACT_ERRNO(1)`.
    pub default_action: String,
    /// Distinct syscalls with at least one ALLOW or LOG rule (conditional or not).
    pub syscalls_allowed: usize,
    /// Rules after expanding `names`: one per syscall and argument condition set.
    pub rules: usize,
    /// BPF instructions in the program.
    pub instructions: usize,
    /// Syscall names the profile lists that ward's table does not know (skipped, as runc does).
    pub skipped_syscalls: Vec<String>,
}

#[derive(thiserror::Error, Debug)]
pub enum SeccompError {
    /// The profile is invalid; `field` is its JSON path, e.g. `linux.seccomp.syscalls[3].action`.
    #[error("{field}: {message}")]
    Invalid { field: String, message: String },
    #[error("seccomp: ward has no syscall table for the {0} architecture")]
    UnsupportedArch(String),
    #[error("seccomp program: {0}")]
    Program(String),
    #[error("ward's built-in seccomp filter summary is unreadable: {0}")]
    Summary(String),
    #[error("installing the seccomp filter: {source}{hint}")]
    Install {
        #[source]
        source: std::io::Error,
        hint: &'static str,
    },
    #[error("installing the seccomp filter: thread {0} could not be synchronised (SECCOMP_FILTER_FLAG_TSYNC)")]
    ThreadSync(i64),
}

impl From<translate::TranslateError> for SeccompError {
    fn from(e: translate::TranslateError) -> Self {
        SeccompError::Invalid {
            field: e.field,
            message: e.message,
        }
    }
}

fn native_arch() -> Result<translate::Arch, SeccompError> {
    translate::Arch::native()
        .ok_or_else(|| SeccompError::UnsupportedArch(std::env::consts::ARCH.to_string()))
}

/// ward's default filter, precompiled at build time. Cheap: decodes the
/// embedded instructions and summary, nothing is compiled.
pub fn baseline() -> Result<CompiledFilter, SeccompError> {
    native_arch()?;
    let program = from_bytes(BASELINE_BPF)?;
    let summary: FilterSummary =
        serde_json::from_str(BASELINE_SUMMARY).map_err(|e| SeccompError::Summary(e.to_string()))?;
    Ok(CompiledFilter {
        program,
        summary,
        flags: Some(0),
        notify: false,
        listener_path: String::new(),
        listener_metadata: String::new(),
    })
}

/// Compiles a spec's `linux.seccomp` for the native architecture.
///
/// Unknown syscall names are skipped with a warning and listed in
/// `summary.skipped_syscalls`. `flags`, `listenerPath` and
/// `listenerMetadata` are returned for the policy to decide on.
pub fn compile_oci(profile: &LinuxSeccomp) -> Result<CompiledFilter, SeccompError> {
    let value = serde_json::to_value(profile).map_err(|e| SeccompError::Invalid {
        field: "linux.seccomp".into(),
        message: e.to_string(),
    })?;
    compile_value(&value, "spec")
}

/// Compiles a `linux.seccomp` object given as JSON (as in `config.json`).
pub fn compile_json(value: &serde_json::Value) -> Result<CompiledFilter, SeccompError> {
    compile_value(value, "spec")
}

fn compile_value(value: &serde_json::Value, source: &str) -> Result<CompiledFilter, SeccompError> {
    let arch = native_arch()?;
    let profile = translate::parse_profile(value, "linux.seccomp")?;
    let c = translate::compile_profile(&profile, arch)?;
    if !c.skipped_syscalls.is_empty() {
        // One line, not one per name: profiles written for many kernels and
        // architectures name dozens of syscalls this table lacks. Debug, as
        // runc has it: Docker's default profile names ~60 of them on every
        // create, and `ward inspect` lists them (skipped_syscalls).
        tracing::debug!(
            "linux.seccomp: {} syscall(s) unknown on {}, skipped: {}",
            c.skipped_syscalls.len(),
            arch.scmp_name(),
            c.skipped_syscalls.join(" ")
        );
    }
    let flags = profile.flags.as_ref().map(|list| {
        list.iter()
            .filter_map(|f| KNOWN_FLAGS.iter().find(|(n, _)| n == f))
            .fold(0, |acc, (_, bit)| acc | bit)
    });
    // Docker lists x86 and x32 beside x86_64 in every profile; ward denies
    // those ABIs by design (README), so this is no news in the client's log.
    for a in &c.foreign_architectures {
        tracing::debug!(
            architecture = %a,
            "linux.seccomp.architectures: ward filters the native ABI only; syscalls of other ABIs kill the process"
        );
    }
    Ok(CompiledFilter {
        summary: FilterSummary {
            source: source.to_string(),
            default_action: c.default_action,
            syscalls_allowed: c.syscalls_allowed,
            rules: c.rules,
            instructions: c.program.len(),
            skipped_syscalls: c.skipped_syscalls,
        },
        program: c.program,
        flags,
        notify: c.notify,
        listener_path: profile.listener_path,
        listener_metadata: profile.listener_metadata,
    })
}

/// The `flags` this kernel accepts (features.json `supportedFlags`): each
/// flag is tried with seccomp(2) on a program the kernel rejects (EFAULT for
/// a null program after the flag check, EINVAL for an unknown flag).
/// WAIT_KILLABLE_RECV needs NEW_LISTENER beside it.
pub fn supported_flags() -> Vec<&'static str> {
    KNOWN_FLAGS
        .iter()
        .filter(|(_, bit)| {
            let mut f = *bit;
            if f & FLAG_WAIT_KILLABLE_RECV != 0 {
                f |= FLAG_NEW_LISTENER;
            }
            // SAFETY: a null program: the kernel checks the flags, then fails
            // to copy the program (EFAULT) without installing anything.
            let rc = unsafe {
                libc::syscall(
                    libc::SYS_seccomp,
                    libc::SECCOMP_SET_MODE_FILTER,
                    f as libc::c_ulong,
                    std::ptr::null::<libc::sock_fprog>(),
                )
            };
            rc == -1 && std::io::Error::last_os_error().raw_os_error() == Some(libc::EFAULT)
        })
        .map(|(name, _)| *name)
        .collect()
}

/// The program as the kernel's `struct sock_filter` array (8 bytes an instruction, native endian).
pub fn to_bytes(prog: &BpfProgram) -> Vec<u8> {
    translate::program_to_bytes(prog)
}

/// The inverse of [`to_bytes`].
pub fn from_bytes(b: &[u8]) -> Result<BpfProgram, SeccompError> {
    translate::program_from_bytes(b).map_err(SeccompError::Program)
}

/// Installs `prog` on the calling process with
/// `seccomp(SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_TSYNC)`, so every
/// thread gets it. The caller must have set `no_new_privs` (or hold
/// CAP_SYS_ADMIN). Filters stack: installing a second one adds to the first.
pub fn install(prog: &BpfProgram) -> Result<(), SeccompError> {
    install_with_flags(prog, 0).map(|_| ())
}

/// [`install`] with extra seccomp(2) flags (`FLAG_*`). With
/// [`FLAG_NEW_LISTENER`] the kernel returns the user-notification listener,
/// returned here; TSYNC then needs TSYNC_ESRCH, which is added.
pub fn install_with_flags(
    prog: &BpfProgram,
    flags: u32,
) -> Result<Option<std::os::fd::OwnedFd>, SeccompError> {
    use std::os::fd::FromRawFd;
    if prog.is_empty() {
        return Err(SeccompError::Program("empty program".into()));
    }
    let len = u16::try_from(prog.len())
        .ok()
        .filter(|&l| usize::from(l) <= translate::MAX_INSTRUCTIONS)
        .ok_or_else(|| {
            SeccompError::Program(format!(
                "{} instructions, more than the kernel's limit of {}",
                prog.len(),
                translate::MAX_INSTRUCTIONS
            ))
        })?;
    let fprog = libc::sock_fprog {
        len,
        // seccompiler::sock_filter is #[repr(C)] with the same fields as the
        // kernel's (and libc's) struct sock_filter. The kernel only reads it.
        filter: prog.as_ptr() as *mut libc::sock_filter,
    };
    let listener = flags & FLAG_NEW_LISTENER != 0;
    let mut all = flags | FLAG_TSYNC;
    if listener {
        all |= FLAG_TSYNC_ESRCH;
    }
    // SAFETY: fprog points at `len` valid instructions that outlive the call.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER,
            all as libc::c_ulong,
            &fprog as *const libc::sock_fprog,
        )
    };
    if rc > 0 && !listener {
        return Err(SeccompError::ThreadSync(rc));
    }
    if rc < 0 {
        let source = std::io::Error::last_os_error();
        let hint = match source.raw_os_error() {
            Some(libc::EACCES) => " (no_new_privs is not set and CAP_SYS_ADMIN is not held)",
            Some(libc::EINVAL) => " (the kernel rejected the program or the flags)",
            Some(libc::ENOMEM) => " (too many stacked filters)",
            Some(libc::ESRCH) => " (another thread could not be synchronised)",
            Some(libc::EBUSY) => " (a filter with a listener is already installed)",
            _ => "",
        };
        return Err(SeccompError::Install { source, hint });
    }
    if listener {
        // SAFETY: with NEW_LISTENER the kernel returns a new fd that nothing else owns.
        return Ok(Some(unsafe {
            std::os::fd::OwnedFd::from_raw_fd(rc as i32)
        }));
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::translate::{Action, Arch, ENOSYS, EPERM};
    use super::*;
    use seccompiler::sock_filter;
    use serde_json::json;

    const KILL_PROCESS: u32 = 0x8000_0000;
    const KILL_THREAD: u32 = 0;
    const TRAP: u32 = 0x0003_0000;
    const ERRNO: u32 = 0x0005_0000;
    const TRACE: u32 = 0x7ff0_0000;
    const LOG: u32 = 0x7ffc_0000;
    const NOTIFY: u32 = 0x7fc0_0000;
    const ALLOW: u32 = 0x7fff_0000;
    const AUDIT_ARCH_I386: u32 = 0x4000_0003;

    fn arch() -> Arch {
        Arch::native().expect("tests need x86_64 or aarch64")
    }

    fn nr(name: &str) -> u32 {
        arch().syscall_nr(name).unwrap()
    }

    /// A classic-BPF interpreter for the instructions the translator emits,
    /// run over a `struct seccomp_data`.
    fn eval_arch(prog: &[sock_filter], audit_arch: u32, nr: u32, args: [u64; 6]) -> u32 {
        let mut data = [0u8; 64];
        data[0..4].copy_from_slice(&nr.to_ne_bytes());
        data[4..8].copy_from_slice(&audit_arch.to_ne_bytes());
        for (i, a) in args.iter().enumerate() {
            data[16 + 8 * i..24 + 8 * i].copy_from_slice(&a.to_ne_bytes());
        }
        let mut a: u32 = 0;
        let mut pc = 0usize;
        loop {
            let ins = &prog[pc];
            let k = ins.k;
            let cond = |c: bool| if c { ins.jt as usize } else { ins.jf as usize };
            match ins.code {
                0x20 => {
                    let o = k as usize;
                    a = u32::from_ne_bytes(data[o..o + 4].try_into().unwrap());
                }
                0x54 => a &= k,
                0x05 => pc += k as usize,
                0x15 => pc += cond(a == k),
                0x25 => pc += cond(a > k),
                0x35 => pc += cond(a >= k),
                0x45 => pc += cond(a & k != 0),
                0x06 => return k,
                c => panic!("unexpected BPF opcode {c:#x} at {pc}"),
            }
            pc += 1;
        }
    }

    fn eval(prog: &[sock_filter], name: &str, args: [u64; 6]) -> u32 {
        eval_arch(prog, arch().audit_arch(), nr(name), args)
    }

    fn compile(v: serde_json::Value) -> CompiledFilter {
        compile_json(&v).unwrap()
    }

    fn err_of(v: serde_json::Value) -> String {
        compile_json(&v).unwrap_err().to_string()
    }

    fn one_rule(action: serde_json::Value) -> serde_json::Value {
        let mut rule = json!({"names": ["getcwd"]});
        for (k, v) in action.as_object().unwrap() {
            rule[k] = v.clone();
        }
        json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [rule]})
    }

    #[test]
    fn every_action() {
        let cases = [
            (json!({"action": "SCMP_ACT_ALLOW"}), ALLOW),
            (json!({"action": "SCMP_ACT_ERRNO"}), ERRNO | EPERM),
            (
                json!({"action": "SCMP_ACT_ERRNO", "errnoRet": 13}),
                ERRNO | 13,
            ),
            (json!({"action": "SCMP_ACT_KILL"}), KILL_THREAD),
            (json!({"action": "SCMP_ACT_KILL_THREAD"}), KILL_THREAD),
            (json!({"action": "SCMP_ACT_KILL_PROCESS"}), KILL_PROCESS),
            (json!({"action": "SCMP_ACT_TRAP"}), TRAP),
            (
                json!({"action": "SCMP_ACT_TRACE", "errnoRet": 7}),
                TRACE | 7,
            ),
            (json!({"action": "SCMP_ACT_TRACE"}), TRACE | EPERM),
            (json!({"action": "SCMP_ACT_LOG"}), LOG),
        ];
        for (action, want) in cases {
            let mut v = one_rule(action.clone());
            let f = compile(v.clone());
            assert_eq!(eval(&f.program, "getcwd", [0; 6]), want, "{action}");
            if want != ALLOW {
                assert_eq!(eval(&f.program, "getpid", [0; 6]), ALLOW, "{action}");
            }
            // The same action as default action.
            v["defaultAction"] = action["action"].clone();
            if let Some(e) = action.get("errnoRet") {
                v["defaultErrnoRet"] = e.clone();
            }
            v["syscalls"][0]["action"] = json!("SCMP_ACT_ALLOW");
            v["syscalls"][0].as_object_mut().unwrap().remove("errnoRet");
            let f = compile(v);
            if want != ALLOW {
                assert_eq!(eval(&f.program, "getpid", [0; 6]), want, "default {action}");
                assert_eq!(
                    eval(&f.program, "getcwd", [0; 6]),
                    ALLOW,
                    "default {action}"
                );
            }
        }
    }

    #[test]
    fn default_errno_ret() {
        let f = compile(
            json!({"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 5,
            "syscalls": [{"names": ["getpid"], "action": "SCMP_ACT_ALLOW"}]}),
        );
        assert_eq!(eval(&f.program, "getcwd", [0; 6]), ERRNO | 5);
        assert_eq!(eval(&f.program, "getpid", [0; 6]), ALLOW);
        assert_eq!(f.summary.default_action, "SCMP_ACT_ERRNO(5)");
        let f = compile(json!({"defaultAction": "SCMP_ACT_ERRNO"}));
        assert_eq!(eval(&f.program, "getcwd", [0; 6]), ERRNO | EPERM);
    }

    fn with_arg(op: &str, value: u64, value_two: Option<u64>) -> Vec<sock_filter> {
        let mut arg = json!({"index": 1, "value": value, "op": op});
        if let Some(v2) = value_two {
            arg["valueTwo"] = json!(v2);
        }
        compile(json!({"defaultAction": "SCMP_ACT_ERRNO",
            "syscalls": [{"names": ["fcntl"], "action": "SCMP_ACT_ALLOW", "args": [arg]}]}))
        .program
    }

    fn allowed(prog: &[sock_filter], arg1: u64) -> bool {
        eval(prog, "fcntl", [0, arg1, 0, 0, 0, 0]) == ALLOW
    }

    #[test]
    fn every_operator() {
        let big = 0x1_0000_0005u64; // exercises the upper 32 bits
        let p = with_arg("SCMP_CMP_EQ", big, None);
        assert!(allowed(&p, big) && !allowed(&p, 5) && !allowed(&p, big + 1));
        let p = with_arg("SCMP_CMP_NE", big, None);
        assert!(!allowed(&p, big) && allowed(&p, 5) && allowed(&p, big + 1));
        let p = with_arg("SCMP_CMP_LT", big, None);
        assert!(
            allowed(&p, big - 1) && allowed(&p, 7) && !allowed(&p, big) && !allowed(&p, u64::MAX)
        );
        let p = with_arg("SCMP_CMP_LE", big, None);
        assert!(allowed(&p, big) && allowed(&p, 0) && !allowed(&p, big + 1));
        let p = with_arg("SCMP_CMP_GE", big, None);
        assert!(
            allowed(&p, big) && allowed(&p, u64::MAX) && !allowed(&p, big - 1) && !allowed(&p, 6)
        );
        let p = with_arg("SCMP_CMP_GT", big, None);
        assert!(allowed(&p, big + 1) && !allowed(&p, big) && !allowed(&p, 6));
        // (arg & value) == valueTwo
        let p = with_arg(
            "SCMP_CMP_MASKED_EQ",
            0xff00_0000_00f0,
            Some(0x0100_0000_0020),
        );
        assert!(allowed(&p, 0x0100_0000_0020) && allowed(&p, 0x0100_0000_0f2f));
        assert!(!allowed(&p, 0x0200_0000_0020) && !allowed(&p, 0x0100_0000_0030));
        let p = with_arg("SCMP_CMP_MASKED_EQ", 0x7E02_0000, None); // valueTwo defaults to 0
        assert!(allowed(&p, 0x0001_0f00) && !allowed(&p, 0x1000_0000));
    }

    #[test]
    fn args_and_entries_or() {
        let f = compile(json!({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
            {"names": ["fcntl"], "action": "SCMP_ACT_ALLOW", "args": [
                {"index": 0, "value": 3, "op": "SCMP_CMP_EQ"},
                {"index": 1, "value": 4, "op": "SCMP_CMP_EQ"}]},
            {"names": ["fcntl"], "action": "SCMP_ACT_ALLOW", "args": [
                {"index": 0, "value": 9, "op": "SCMP_CMP_EQ"}]},
            // Same index twice: ORed, as runc does.
            {"names": ["dup"], "action": "SCMP_ACT_ALLOW", "args": [
                {"index": 0, "value": 1, "op": "SCMP_CMP_EQ"},
                {"index": 0, "value": 2, "op": "SCMP_CMP_EQ"}]}]}));
        let p = &f.program;
        assert_eq!(eval(p, "fcntl", [3, 4, 0, 0, 0, 0]), ALLOW);
        assert_eq!(eval(p, "fcntl", [3, 5, 0, 0, 0, 0]), ERRNO | EPERM);
        assert_eq!(eval(p, "fcntl", [2, 4, 0, 0, 0, 0]), ERRNO | EPERM);
        assert_eq!(eval(p, "fcntl", [9, 77, 0, 0, 0, 0]), ALLOW);
        assert_eq!(eval(p, "dup", [1, 0, 0, 0, 0, 0]), ALLOW);
        assert_eq!(eval(p, "dup", [2, 0, 0, 0, 0, 0]), ALLOW);
        assert_eq!(eval(p, "dup", [3, 0, 0, 0, 0, 0]), ERRNO | EPERM);
        assert_eq!(f.summary.rules, 4);
        assert_eq!(f.summary.syscalls_allowed, 2);
    }

    #[test]
    fn strongest_action_wins_and_unconditional_covers() {
        let f = compile(json!({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
            {"names": ["socket"], "action": "SCMP_ACT_ALLOW"},
            {"names": ["socket"], "action": "SCMP_ACT_ERRNO", "errnoRet": 97,
             "args": [{"index": 0, "value": 40, "op": "SCMP_CMP_EQ"}]},
            {"names": ["getpid"], "action": "SCMP_ACT_ALLOW",
             "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_EQ"}]},
            {"names": ["getpid"], "action": "SCMP_ACT_ALLOW"}]}));
        let p = &f.program;
        assert_eq!(eval(p, "socket", [40, 1, 0, 0, 0, 0]), ERRNO | 97);
        assert_eq!(eval(p, "socket", [2, 1, 0, 0, 0, 0]), ALLOW);
        assert_eq!(eval(p, "getpid", [5, 0, 0, 0, 0, 0]), ALLOW);
    }

    #[test]
    fn architectures() {
        let f = compile(json!({"defaultAction": "SCMP_ACT_ALLOW",
            "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32", "SCMP_ARCH_AARCH64"]}));
        // Foreign ABIs are killed even under an ALLOW default.
        assert_eq!(
            eval_arch(&f.program, AUDIT_ARCH_I386, 20, [0; 6]),
            KILL_PROCESS
        );
        assert_eq!(eval(&f.program, "getpid", [0; 6]), ALLOW);
        if arch() == Arch::X86_64 {
            let x32 = 0x4000_0000 | nr("getpid");
            assert_eq!(
                eval_arch(&f.program, arch().audit_arch(), x32, [0; 6]),
                KILL_PROCESS
            );
            // nr -1 is not an x32 syscall.
            assert_eq!(
                eval_arch(&f.program, arch().audit_arch(), u32::MAX, [0; 6]),
                ALLOW
            );
        }
        let e = err_of(json!({"defaultAction": "SCMP_ACT_ALLOW",
            "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_FOO"]}));
        assert_eq!(
            e,
            "linux.seccomp.architectures[1]: unknown architecture SCMP_ARCH_FOO"
        );
    }

    #[test]
    fn unknown_names_are_errors_naming_the_field() {
        let e = err_of(json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
            {"names": ["getpid"], "action": "SCMP_ACT_ERRNO"},
            {"names": ["getpid"], "action": "SCMP_ACT_FOO"}]}));
        assert_eq!(
            e,
            "linux.seccomp.syscalls[1].action: unknown action SCMP_ACT_FOO"
        );
        let e = err_of(json!({"defaultAction": "SCMP_ACT_BAR"}));
        assert_eq!(
            e,
            "linux.seccomp.defaultAction: unknown action SCMP_ACT_BAR"
        );
        let e = err_of(json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
            {"names": ["getpid"], "action": "SCMP_ACT_ERRNO",
             "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_ALMOST"}]}]}));
        assert_eq!(
            e,
            "linux.seccomp.syscalls[0].args[0].op: unknown operator SCMP_CMP_ALMOST"
        );
        let e = err_of(json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
            {"names": ["getpid"], "action": "SCMP_ACT_ERRNO",
             "args": [{"index": 6, "value": 1, "op": "SCMP_CMP_EQ"}]}]}));
        assert!(
            e.starts_with("linux.seccomp.syscalls[0].args[0].index: "),
            "{e}"
        );
        let e = err_of(
            json!({"defaultAction": "SCMP_ACT_ALLOW", "flags": ["SECCOMP_FILTER_FLAG_NOPE"]}),
        );
        assert_eq!(
            e,
            "linux.seccomp.flags[0]: unknown flag SECCOMP_FILTER_FLAG_NOPE"
        );
        // Known flags are accepted.
        compile(json!({"defaultAction": "SCMP_ACT_ALLOW", "flags": ["SECCOMP_FILTER_FLAG_LOG"]}));
    }

    #[test]
    fn notify_rules_and_precedence() {
        // USER_NOTIF ranks below ERRNO and above TRACE/LOG/ALLOW, as in the kernel.
        let f = compile(json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
            {"names": ["getpid", "mount"], "action": "SCMP_ACT_NOTIFY"},
            {"names": ["getpid"], "action": "SCMP_ACT_ERRNO"},
            {"names": ["mount"], "action": "SCMP_ACT_LOG"},
            {"names": ["fcntl"], "action": "SCMP_ACT_NOTIFY",
             "args": [{"index": 1, "value": 4, "op": "SCMP_CMP_EQ"}]}]}));
        assert!(f.notify);
        assert_eq!(eval(&f.program, "getpid", [0; 6]), ERRNO | EPERM);
        assert_eq!(eval(&f.program, "mount", [0; 6]), NOTIFY);
        assert_eq!(eval(&f.program, "fcntl", [0, 4, 0, 0, 0, 0]), NOTIFY);
        assert_eq!(eval(&f.program, "fcntl", [0, 3, 0, 0, 0, 0]), ALLOW);
        assert_eq!(eval(&f.program, "getcwd", [0; 6]), ALLOW);
        assert!(!compile(json!({"defaultAction": "SCMP_ACT_ALLOW"})).notify);
        let e = err_of(json!({"defaultAction": "SCMP_ACT_NOTIFY"}));
        assert_eq!(
            e,
            "linux.seccomp.defaultAction: SCMP_ACT_NOTIFY cannot be used as the default action"
        );
        let e = err_of(json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
            {"names": ["sendmsg"], "action": "SCMP_ACT_NOTIFY"}]}));
        assert!(e.starts_with("linux.seccomp.syscalls[0].action: SCMP_ACT_NOTIFY cannot be used for the sendmsg syscall"), "{e}");
    }

    #[test]
    fn unknown_syscalls_are_skipped() {
        let f = compile(json!({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
            {"names": ["getpid", "no_such_syscall", "socketcall_xyz"], "action": "SCMP_ACT_ALLOW"},
            {"names": ["no_such_syscall"], "action": "SCMP_ACT_ALLOW"}]}));
        assert_eq!(
            f.summary.skipped_syscalls,
            ["no_such_syscall", "socketcall_xyz"]
        );
        assert_eq!(eval(&f.program, "getpid", [0; 6]), ALLOW);
        assert_eq!(f.summary.syscalls_allowed, 1);
    }

    #[test]
    fn enosys_above_the_table() {
        let max = arch().max_syscall_nr();
        let a = arch().audit_arch();
        let f = compile(json!({"defaultAction": "SCMP_ACT_ERRNO",
            "syscalls": [{"names": ["getpid"], "action": "SCMP_ACT_ALLOW"}]}));
        assert_eq!(eval_arch(&f.program, a, max + 1, [0; 6]), ERRNO | ENOSYS);
        assert_eq!(eval_arch(&f.program, a, 1000, [0; 6]), ERRNO | ENOSYS);
        assert_eq!(eval_arch(&f.program, a, max, [0; 6]), ERRNO | EPERM);
        assert_eq!(eval(&f.program, "keyctl", [0; 6]), ERRNO | EPERM);
        // Not for an ALLOW (or KILL) default.
        let f = compile(json!({"defaultAction": "SCMP_ACT_ALLOW"}));
        assert_eq!(eval_arch(&f.program, a, 1000, [0; 6]), ALLOW);
        let f = compile(json!({"defaultAction": "SCMP_ACT_KILL_PROCESS"}));
        assert_eq!(eval_arch(&f.program, a, 1000, [0; 6]), KILL_PROCESS);
    }

    #[test]
    fn bytes_roundtrip() {
        let f = compile(json!({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
            {"names": ["getpid", "fcntl"], "action": "SCMP_ACT_ALLOW",
             "args": [{"index": 1, "value": 0x1234_5678_9abc_u64, "op": "SCMP_CMP_GT"}]}]}));
        let b = to_bytes(&f.program);
        assert_eq!(b.len(), f.program.len() * 8);
        assert_eq!(from_bytes(&b).unwrap(), f.program);
        assert!(from_bytes(&b[..b.len() - 3]).is_err());
        assert!(from_bytes(&[]).is_err());
        assert!(from_bytes(&vec![0u8; 8 * 4097]).is_err());
    }

    #[test]
    fn oci_spec_types() {
        let profile: LinuxSeccomp = serde_json::from_value(json!({
            "defaultAction": "SCMP_ACT_ERRNO",
            "defaultErrnoRet": 1,
            "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_AARCH64"],
            "flags": ["SECCOMP_FILTER_FLAG_SPEC_ALLOW"],
            "syscalls": [
                {"names": ["getpid", "bogus_call"], "action": "SCMP_ACT_ALLOW"},
                {"names": ["personality"], "action": "SCMP_ACT_ALLOW",
                 "args": [{"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}]},
                {"names": ["clone"], "action": "SCMP_ACT_ALLOW",
                 "args": [{"index": 0, "value": 2114060288, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ"}]}
            ]
        }))
        .unwrap();
        let f = compile_oci(&profile).unwrap();
        assert_eq!(f.summary.source, "spec");
        assert_eq!(f.summary.default_action, "SCMP_ACT_ERRNO(1)");
        assert_eq!(f.summary.syscalls_allowed, 3);
        assert_eq!(f.summary.rules, 3);
        assert_eq!(f.summary.skipped_syscalls, ["bogus_call"]);
        assert_eq!(f.summary.instructions, f.program.len());
        assert_eq!(eval(&f.program, "personality", [8, 0, 0, 0, 0, 0]), ALLOW);
        assert_eq!(
            eval(&f.program, "clone", [0x10000000, 0, 0, 0, 0, 0]),
            ERRNO | EPERM
        );

        let notify: LinuxSeccomp = serde_json::from_value(json!({
            "defaultAction": "SCMP_ACT_ALLOW", "listenerPath": "/run/agent.sock",
            "flags": ["SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_TSYNC"],
            "syscalls": [{"names": ["mount"], "action": "SCMP_ACT_NOTIFY"}]}))
        .unwrap();
        let f = compile_oci(&notify).unwrap();
        assert!(f.notify);
        assert_eq!(f.flags, Some(FLAG_LOG));
        assert_eq!(f.listener_path, "/run/agent.sock");
        assert_eq!(eval(&f.program, "mount", [0; 6]), NOTIFY);
        assert_eq!(eval(&f.program, "getpid", [0; 6]), ALLOW);
        let mut write = serde_json::to_value(&notify).unwrap();
        write["syscalls"][0]["names"] = json!(["mkdir", "write"]);
        let e = compile_json(&write).unwrap_err().to_string();
        assert!(
            e.contains("SCMP_ACT_NOTIFY cannot be used for the write syscall"),
            "{e}"
        );
    }

    #[test]
    fn allow_ranges_change_no_verdict() {
        // The baseline and a profile that mixes every kind of rule around the
        // same syscalls: every syscall number, with argument values on both
        // sides of the conditions, gets the same answer with and without the
        // range checks in front.
        let mixed = serde_json::json!({
            "defaultAction": "SCMP_ACT_ERRNO",
            "syscalls": [
                {"names": ["read", "write", "close", "openat", "getpid", "gettid", "kill", "mmap"],
                 "action": "SCMP_ACT_ALLOW"},
                {"names": ["kill"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13,
                 "args": [{"index": 1, "value": 9, "op": "SCMP_CMP_EQ"}]},
                {"names": ["getpid"], "action": "SCMP_ACT_KILL"},
                {"names": ["personality"], "action": "SCMP_ACT_ALLOW",
                 "args": [{"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}]},
                {"names": ["mmap"], "action": "SCMP_ACT_LOG"},
                {"names": ["uname"], "action": "SCMP_ACT_TRAP"}
            ]
        });
        let baseline: serde_json::Value = serde_json::from_str(DEFAULT_PROFILE_JSON).unwrap();
        for v in [baseline, mixed] {
            let p = super::translate::parse_profile(&v, "linux.seccomp").unwrap();
            let with = super::translate::compile_profile_with(&p, arch(), true).unwrap();
            let without = super::translate::compile_profile_with(&p, arch(), false).unwrap();
            assert!(with.program.len() < without.program.len());
            let max = arch().max_syscall_nr() + 3;
            for nr in (0..=max).chain([super::translate::X32_SYSCALL_BIT, u32::MAX]) {
                for a in [0u64, 1, 8, 9, 1 << 40] {
                    let args = [a; 6];
                    assert_eq!(
                        eval_arch(&with.program, arch().audit_arch(), nr, args),
                        eval_arch(&without.program, arch().audit_arch(), nr, args),
                        "syscall {nr}, args {a}"
                    );
                }
            }
        }
    }

    #[test]
    fn baseline_loads() {
        let b = baseline().unwrap();
        assert_eq!(b.summary.source, "ward default");
        assert_eq!(b.summary.default_action, "SCMP_ACT_ERRNO(1)");
        // ~300 syscalls: most as ranges of unconditional allows (a few dozen
        // checks), the conditional ones through seccompiler's chains.
        assert!(
            (100..1000).contains(&b.summary.instructions),
            "{:?}",
            b.summary
        );
        assert_eq!(b.summary.instructions, b.program.len());
        assert!(b.summary.syscalls_allowed > 250, "{:?}", b.summary);
        if arch() == Arch::X86_64 {
            assert!(b.summary.skipped_syscalls.is_empty(), "{:?}", b.summary);
        }
        // The embedded program is what the shipped profile compiles to now.
        let v: serde_json::Value = serde_json::from_str(DEFAULT_PROFILE_JSON).unwrap();
        let fresh = super::translate::compile_json(&v, arch()).unwrap();
        assert_eq!(fresh.program, b.program, "build.rs output is stale");
    }

    #[test]
    fn baseline_denies_what_it_must() {
        let p = baseline().unwrap().program;
        let denied = [
            "keyctl",
            "add_key",
            "request_key",
            "mount",
            "umount2",
            "pivot_root",
            "unshare",
            "setns",
            "bpf",
            "io_uring_setup",
            "io_uring_enter",
            "io_uring_register",
            "userfaultfd",
            "perf_event_open",
            "open_by_handle_at",
            "name_to_handle_at",
            "ptrace",
            "process_vm_readv",
            "process_vm_writev",
            "pidfd_getfd",
            "kexec_load",
            "kexec_file_load",
            "init_module",
            "finit_module",
            "delete_module",
            "quotactl",
            "quotactl_fd",
            "vmsplice",
            "swapon",
            "swapoff",
            "reboot",
            "acct",
            "lookup_dcookie",
            "fsopen",
            "fsmount",
            "open_tree",
            "move_mount",
            "fsconfig",
            "fspick",
            "mount_setattr",
            "open_tree_attr",
            "clock_settime",
            "settimeofday",
            "adjtimex",
            "clock_adjtime",
            "syslog",
            "process_madvise",
            "kcmp",
            "fanotify_init",
            "iopl",
            "ioperm",
            "modify_ldt",
            "memfd_secret",
            "sethostname",
        ];
        for name in denied {
            let Some(n) = arch().syscall_nr(name) else {
                continue; // not on this architecture
            };
            let r = eval_arch(&p, arch().audit_arch(), n, [0; 6]);
            assert_eq!(r, ERRNO | EPERM, "{name} must be denied with EPERM");
        }
        for name in ["clone3", "statmount", "file_getattr"] {
            assert_eq!(eval(&p, name, [0; 6]), ERRNO | ENOSYS, "{name}");
        }
        // clone: threads and fork yes, namespaces no.
        let thread_flags = 0x3d0f00u64; // CLONE_VM|FS|FILES|SIGHAND|THREAD|SYSVSEM|SETTLS|PARENT_SETTID|CHILD_CLEARTID
        assert_eq!(eval(&p, "clone", [thread_flags, 0, 0, 0, 0, 0]), ALLOW);
        assert_eq!(eval(&p, "clone", [0x01200011, 0, 0, 0, 0, 0]), ALLOW); // glibc fork()
        for ns in [
            0x20000u64,
            0x0400_0000,
            0x0800_0000,
            0x1000_0000,
            0x2000_0000,
            0x4000_0000,
            0x0200_0000,
        ] {
            assert_eq!(
                eval(&p, "clone", [ns | 0x11, 0, 0, 0, 0, 0]),
                ERRNO | EPERM,
                "{ns:#x}"
            );
        }
        // personality: only Docker's safe values.
        for v in [0u64, 8, 0x20000, 0x20008, 0xffff_ffff] {
            assert_eq!(eval(&p, "personality", [v, 0, 0, 0, 0, 0]), ALLOW, "{v:#x}");
        }
        for v in [0x0040000u64, 0x0400000, 0x0040008] {
            assert_eq!(
                eval(&p, "personality", [v, 0, 0, 0, 0, 0]),
                ERRNO | EPERM,
                "{v:#x}"
            );
        }
        for name in [
            "execve",
            "execveat",
            "getpid",
            "openat",
            "mmap",
            "futex",
            "rseq",
            "epoll_pwait",
        ] {
            assert_eq!(eval(&p, name, [0; 6]), ALLOW, "{name}");
        }
        assert_eq!(eval_arch(&p, AUDIT_ARCH_I386, 1, [0; 6]), KILL_PROCESS);
        assert_eq!(
            eval_arch(&p, arch().audit_arch(), 1000, [0; 6]),
            ERRNO | ENOSYS
        );
    }

    #[test]
    fn action_precedence_values() {
        // Guard the constants the interpreter tests rely on.
        assert_eq!(Action::KillProcess.ret_value(), KILL_PROCESS);
        assert_eq!(Action::Errno(ENOSYS).ret_value(), ERRNO | 38);
        assert_eq!(Action::Log.ret_value(), LOG);
    }

    /// Runs `f` in a forked child after setting no_new_privs; the child's
    /// exit code is `f`'s result (0 = all checks passed).
    fn in_child(f: impl FnOnce() -> i32) -> i32 {
        use nix::sys::wait::{waitpid, WaitStatus};
        use nix::unistd::{fork, ForkResult};
        // SAFETY: the child only makes raw syscalls and leaves with _exit.
        match unsafe { fork() }.expect("fork") {
            ForkResult::Child => {
                let code = if unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } != 0 {
                    100
                } else {
                    f()
                };
                unsafe { libc::_exit(code) }
            }
            ForkResult::Parent { child } => match waitpid(child, None).expect("waitpid") {
                WaitStatus::Exited(_, code) => code,
                other => panic!("child did not exit normally: {other:?}"),
            },
        }
    }

    fn errno_of(rc: libc::c_long) -> i32 {
        if rc == -1 {
            std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
        } else {
            0
        }
    }

    #[test]
    fn installed_baseline_behaves() {
        let base = baseline().unwrap();
        let code = in_child(move || {
            if install(&base.program).is_err() {
                return 101;
            }
            unsafe {
                if libc::syscall(libc::SYS_getpid) <= 0 {
                    return 1;
                }
                if errno_of(libc::syscall(libc::SYS_keyctl, 0, 0, 0, 0, 0)) != libc::EPERM {
                    return 2;
                }
                if errno_of(libc::syscall(libc::SYS_unshare, libc::CLONE_NEWUSER)) != libc::EPERM {
                    return 3;
                }
                if errno_of(libc::syscall(libc::SYS_bpf, 0, 0, 0)) != libc::EPERM {
                    return 4;
                }
                if errno_of(libc::syscall(1000)) != libc::ENOSYS {
                    return 5;
                }
                if errno_of(libc::syscall(libc::SYS_clone3, 0, 0)) != libc::ENOSYS {
                    return 6;
                }
                // fork goes through clone(SIGCHLD|...) without namespace flags.
                let pid = libc::fork();
                if pid < 0 {
                    return 7;
                }
                if pid == 0 {
                    libc::_exit(42);
                }
                let mut status = 0;
                if libc::waitpid(pid, &mut status, 0) != pid
                    || !libc::WIFEXITED(status)
                    || libc::WEXITSTATUS(status) != 42
                {
                    return 8;
                }
                // A new user namespace through clone flags is refused.
                let rc = libc::syscall(
                    libc::SYS_clone,
                    (libc::CLONE_NEWUSER | libc::SIGCHLD) as libc::c_ulong,
                    0,
                    0,
                    0,
                    0,
                );
                if rc == 0 {
                    libc::_exit(0);
                }
                if errno_of(rc) != libc::EPERM {
                    return 9;
                }
            }
            0
        });
        assert_eq!(code, 0, "child check {code} failed");
    }

    /// Ordinary programs run under the baseline: shells, coreutils, busybox,
    /// Perl and Python (threads, subprocesses, sockets), where present.
    #[test]
    fn baseline_runs_ordinary_programs() {
        use std::os::unix::process::CommandExt;
        let base = baseline().unwrap().program;
        let dir = std::env::temp_dir().join(format!("ward-seccomp-{}", std::process::id()));
        let script = r#"
            set -e
            d="$WARD_TMP"
            mkdir -p "$d/sub" && echo hello > "$d/sub/f" && ln -s f "$d/sub/l"
            test "$(cat "$d/sub/l")" = hello
            ls -la "$d/sub" | sort > /dev/null
            chmod 600 "$d/sub/f" && touch "$d/sub/f" && mv "$d/sub/f" "$d/sub/g"
            grep -q '^Seccomp:[[:space:]]*2' /proc/self/status
            if command -v busybox >/dev/null; then busybox sh -c 'busybox ls / >/dev/null && busybox ps >/dev/null'; fi
            if command -v perl >/dev/null; then perl -e 'my $p = fork; exit 0 unless $p; waitpid($p, 0); exit $?'; fi
            if command -v bash >/dev/null; then bash -c 'x=$(echo sub | tr a-z A-Z); [ "$x" = SUB ]; sleep 0.01 & wait'; fi
            if command -v python3 >/dev/null; then python3 -c '
import os, socket, subprocess, threading, tempfile, time
r = []
t = [threading.Thread(target=lambda: r.append(sum(range(1000)))) for _ in range(4)]
[x.start() for x in t]; [x.join() for x in t]
assert len(r) == 4
assert subprocess.run(["true"]).returncode == 0
a, b = socket.socketpair(); a.send(b"x"); assert b.recv(1) == b"x"
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(); s.close()
os.urandom(16); time.monotonic(); tempfile.TemporaryFile().write(b"y")
' ; fi
            rm -rf "$d"
        "#;
        let mut cmd = std::process::Command::new("/bin/sh");
        cmd.args(["-c", script]).env("WARD_TMP", &dir);
        // SAFETY: the pre-exec hook only makes raw syscalls.
        unsafe {
            cmd.pre_exec(move || {
                if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                install(&base).map_err(std::io::Error::other)
            });
        }
        let out = cmd.output().expect("running /bin/sh under the baseline");
        let _ = std::fs::remove_dir_all(&dir);
        assert!(
            out.status.success(),
            "status {:?}\nstdout: {}\nstderr: {}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    #[test]
    fn stacked_spec_filter_applies() {
        let base = baseline().unwrap();
        let spec = compile(json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
            {"names": ["getcwd"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13}]}));
        let bytes = to_bytes(&spec.program);
        let code = in_child(move || {
            let Ok(prog) = from_bytes(&bytes) else {
                return 100;
            };
            if install(&base.program).is_err() || install(&prog).is_err() {
                return 101;
            }
            let mut buf = [0u8; 256];
            unsafe {
                let rc = libc::syscall(libc::SYS_getcwd, buf.as_mut_ptr(), buf.len());
                if errno_of(rc) != libc::EACCES {
                    return 1;
                }
                // The baseline still applies under the spec filter's ALLOW default.
                if errno_of(libc::syscall(libc::SYS_keyctl, 0, 0, 0, 0, 0)) != libc::EPERM {
                    return 2;
                }
                if libc::syscall(libc::SYS_getpid) <= 0 {
                    return 3;
                }
            }
            0
        });
        assert_eq!(code, 0, "child check {code} failed");
    }
}
