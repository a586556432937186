//! ward: step timings under WARD_PROFILE. ward's own marks (src/profile.rs)
//! come here too, so every line of ward and of libcontainer's child processes
//! has one format and sorts into one timeline. Inert otherwise.

/// Records that `step` of libcontainer has just finished in this process.
pub fn mark(step: &str) {
    mark_as("libcontainer", step)
}

/// Records that `step` of `who` has just finished in this process: one stderr
/// line with the CLOCK_MONOTONIC time in ms and the pid.
pub fn mark_as(who: &str, step: &str) {
    // Decided once per process tree: the init process clears its environment
    // (setup_envs) before its last steps, and inherits this cell from its parent.
    static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    if !*ON.get_or_init(|| std::env::var_os("WARD_PROFILE").is_some()) {
        return;
    }
    let t = nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC)
        .map(|ts| ts.tv_sec() as f64 * 1e3 + ts.tv_nsec() as f64 / 1e6)
        .unwrap_or(0.0);
    eprintln!("ward-profile {t:.3} {} {who}: {step}", std::process::id());
}
