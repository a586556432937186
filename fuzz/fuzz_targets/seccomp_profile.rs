#![no_main]
//! linux.seccomp JSON -> ward's BPF compiler. Errors are fine; panics are bugs.
//! A compiled program must survive to_bytes/from_bytes unchanged.

use libfuzzer_sys::fuzz_target;
use ward::hardening::seccomp;

fn check_roundtrip(c: &seccomp::CompiledFilter) {
    let bytes = seccomp::to_bytes(&c.program);
    let back = seccomp::from_bytes(&bytes).expect("from_bytes rejected to_bytes output");
    assert_eq!(back.len(), c.program.len(), "round-trip changed the length");
    for (i, (a, b)) in c.program.iter().zip(back.iter()).enumerate() {
        assert!(
            a.code == b.code && a.jt == b.jt && a.jf == b.jf && a.k == b.k,
            "round-trip changed instruction {i}"
        );
    }
    assert_eq!(c.summary.instructions, c.program.len());
}

fuzz_target!(|data: &[u8]| {
    // Typed path, as `build` uses it.
    if let Ok(profile) = serde_json::from_slice::<oci_spec::runtime::LinuxSeccomp>(data) {
        if let Ok(c) = seccomp::compile_oci(&profile) {
            check_roundtrip(&c);
        }
    }
    // Untyped path: any JSON value at all.
    if let Ok(value) = serde_json::from_slice::<serde_json::Value>(data) {
        if let Ok(c) = seccomp::compile_json(&value) {
            check_roundtrip(&c);
        }
    }
});
