//! Precompiles ward's default seccomp profile.
//!
//! `seccomp-profiles/default.json` is translated by the same code the runtime
//! uses for spec profiles (`src/hardening/seccomp/translate.rs`, included
//! here by path) and written, as raw `struct sock_filter` instructions, to
//! `$OUT_DIR/default_seccomp.bpf`, with its summary in
//! `$OUT_DIR/default_seccomp_summary.json`. The runtime embeds both with
//! `include_bytes!`/`include_str!`: no profile is parsed at container start.

#[path = "src/hardening/seccomp/translate.rs"]
mod translate;

use std::path::PathBuf;

const PROFILE: &str = "seccomp-profiles/default.json";

fn main() {
    symbol_order();
    println!("cargo:rerun-if-changed={PROFILE}");
    println!("cargo:rerun-if-changed=src/hardening/seccomp/translate.rs");
    println!("cargo:rerun-if-changed=src/hardening/seccomp/syscalls.rs");
    println!("cargo:rerun-if-changed=build.rs");

    let out_dir = PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR"));
    let bpf_path = out_dir.join("default_seccomp.bpf");
    let summary_path = out_dir.join("default_seccomp_summary.json");

    let target_arch = std::env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default();
    let Some(arch) = translate::Arch::from_target(&target_arch) else {
        // No syscall table for this target: embed an empty program; the
        // runtime's baseline() reports the unsupported architecture.
        println!(
            "cargo:warning=ward: no seccomp syscall table for target arch {target_arch}; \
             the default seccomp profile is not available"
        );
        std::fs::write(&bpf_path, []).expect("writing default_seccomp.bpf");
        std::fs::write(&summary_path, "null").expect("writing summary");
        return;
    };

    let text =
        std::fs::read_to_string(PROFILE).unwrap_or_else(|e| panic!("reading {PROFILE}: {e}"));
    let json: serde_json::Value =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{PROFILE}: invalid JSON: {e}"));
    let compiled =
        translate::compile_json(&json, arch).unwrap_or_else(|e| panic!("{PROFILE}: {e}"));

    if !compiled.skipped_syscalls.is_empty() && arch == translate::Arch::X86_64 {
        // On aarch64 the legacy syscalls (open, stat, fork, ...) are expected to be missing.
        println!(
            "cargo:warning=ward: {PROFILE}: syscalls unknown on {target_arch}, skipped: {}",
            compiled.skipped_syscalls.join(", ")
        );
    }

    std::fs::write(&bpf_path, translate::program_to_bytes(&compiled.program))
        .expect("writing default_seccomp.bpf");
    let summary = serde_json::json!({
        "source": "ward default",
        "default_action": compiled.default_action,
        "syscalls_allowed": compiled.syscalls_allowed,
        "rules": compiled.rules,
        "instructions": compiled.program.len(),
        "skipped_syscalls": compiled.skipped_syscalls,
    });
    std::fs::write(&summary_path, summary.to_string()).expect("writing summary");
}

/// Links ward's hot functions and data together, in the order its create,
/// start, run, exec, state and delete paths first touch them
/// (`link/symbol-order.txt`, made by `integration/symbol-order.sh`): the
/// kernel maps a binary's pages 64 KiB at a time around each fault, so a dense
/// hot path means fewer faults, less to unmap at exit, and a smaller RSS.
/// Only for x86_64 Linux, where rustc links with lld; WARD_SYMBOL_ORDER=0
/// turns it off (e.g. for a linker without --symbol-ordering-file).
fn symbol_order() {
    const LIST: &str = "link/symbol-order.txt";
    println!("cargo:rerun-if-changed={LIST}");
    println!("cargo:rerun-if-env-changed=WARD_SYMBOL_ORDER");
    let target = std::env::var("TARGET").unwrap_or_default();
    if target != "x86_64-unknown-linux-gnu"
        || std::env::var_os("WARD_SYMBOL_ORDER").is_some_and(|v| v == "0")
    {
        return;
    }
    // integration/symbol-order.sh reads the layout from lld's map file.
    println!("cargo:rerun-if-env-changed=WARD_LINK_MAP");
    if let Some(map) = std::env::var_os("WARD_LINK_MAP") {
        println!(
            "cargo:rustc-link-arg-bins=-Wl,-Map={}",
            map.to_string_lossy()
        );
        // Mangled names: the ordering file must name symbols as the linker does.
        println!("cargo:rustc-link-arg-bins=-Wl,--no-demangle");
    }
    // Identical code folding (lld), "safe": only code whose address is not
    // taken, so no two distinct functions ever compare equal as pointers.
    println!("cargo:rustc-link-arg-bins=-Wl,--icf=safe");
    let dir = std::env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR");
    let list = std::path::Path::new(&dir).join(LIST);
    if list.is_file() {
        println!(
            "cargo:rustc-link-arg-bins=-Wl,--symbol-ordering-file={}",
            list.display()
        );
        // Symbols of other builds (debug, other versions) are simply absent.
        println!("cargo:rustc-link-arg-bins=-Wl,--no-warn-symbol-ordering");
    }
}
