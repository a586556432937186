#![no_main]
//! The run.ward landlock annotation (runtime-spec PR 1241 object).

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    let _ = ward::hardening::landlock::LandlockPolicy::from_annotation(s);
});
