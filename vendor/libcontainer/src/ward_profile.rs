//! ward: step timings under WARD_PROFILE (same line format as ward's own
//! src/profile.rs, so both sort into one timeline). Inert otherwise.

/// Records that `step` has just finished in this process.
pub fn mark(step: &str) {
    // Decided once per process tree: the init process clears its environment
    // (setup_envs) before its last steps, and inherits this cell from its parent.
    static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    if !*ON.get_or_init(|| std::env::var_os("WARD_PROFILE").is_some()) {
        return;
    }
    let t = nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC)
        .map(|ts| ts.tv_sec() as f64 * 1e3 + ts.tv_nsec() as f64 / 1e6)
        .unwrap_or(0.0);
    eprintln!("ward-profile {t:.3} {} libcontainer: {step}", std::process::id());
}
