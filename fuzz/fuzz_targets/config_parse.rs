#![no_main]
//! config.json bytes -> oci_spec Spec -> relaxations -> ward's policy build.
//! Errors are fine; panics are bugs.

use libfuzzer_sys::fuzz_target;
use std::sync::Once;

static INIT: Once = Once::new();

fuzz_target!(|data: &[u8]| {
    // relax::collect reads the host config; keep the host's file out of it.
    INIT.call_once(|| std::env::set_var("WARD_CONFIG", "/nonexistent"));
    let Ok(spec) = serde_json::from_slice::<oci_spec::runtime::Spec>(data) else {
        return;
    };
    let Ok(relaxations) = ward::policy::relax::collect(spec.annotations().as_ref()) else {
        return;
    };
    // A rootfs that does not exist: build only reads it (whether the spec's
    // own root could create /tmp there).
    let rootfs = std::path::Path::new("/nonexistent-ward-fuzz-rootfs");
    let _ = ward::policy::build(&spec, relaxations, None, rootfs);
});
