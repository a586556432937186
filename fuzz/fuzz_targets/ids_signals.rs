#![no_main]
//! Container ids and signal names from the command line.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    if ward::id::validate_id(s).is_ok() {
        assert!(!s.is_empty(), "empty id accepted");
        assert!(s.len() <= ward::id::MAX_ID_LEN, "overlong id accepted");
        assert!(!s.contains(".."), "id with '..' accepted: {s:?}");
        assert!(!s.contains('/'), "id with '/' accepted: {s:?}");
        assert!(
            s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'+' | b'-')),
            "id outside [A-Za-z0-9_.+-] accepted: {s:?}"
        );
    }
    if let Ok(n) = ward::signal::parse_signal(s) {
        // 0 is accepted as runc accepts it: `kill ID 0` probes the process.
        assert!((0..=64).contains(&n), "signal {s:?} parsed to {n}");
    }
});
