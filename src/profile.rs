//! Step timings for `WARD_PROFILE=1`: one stderr line per step with the
//! CLOCK_MONOTONIC time in ms, so lines from ward and from libcontainer's
//! child processes (vendor/libcontainer marks the same way) sort into one
//! timeline. Inert (one env lookup) otherwise. See integration/profile-create.sh.

use std::sync::OnceLock;

fn enabled() -> bool {
    static ON: OnceLock<bool> = OnceLock::new();
    *ON.get_or_init(|| std::env::var_os("WARD_PROFILE").is_some())
}

/// Records that `step` has just finished in this process.
pub fn mark(step: &str) {
    if !enabled() {
        return;
    }
    let t = nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC)
        .map(|ts| ts.tv_sec() as f64 * 1e3 + ts.tv_nsec() as f64 / 1e6)
        .unwrap_or(0.0);
    eprintln!("ward-profile {t:.3} {} ward: {step}", std::process::id());
}
