//! Named points where a crash-safety test can freeze ward (SIGSTOP to itself)
//! and then SIGKILL it. Inert unless WARD_TEST_PAUSE_AT names the point.

use std::sync::OnceLock;

pub fn reached(point: &str) {
    static WANT: OnceLock<Option<String>> = OnceLock::new();
    let want = WANT.get_or_init(|| std::env::var("WARD_TEST_PAUSE_AT").ok());
    if want.as_deref() == Some(point) {
        let _ = nix::sys::signal::raise(nix::sys::signal::Signal::SIGSTOP);
    }
}

/// Sleeps at a named point when WARD_TEST_DELAY_AT is "point:milliseconds", so
/// a test can widen a race window (e.g. a container that is slow to execve
/// after `start` has returned). Inert otherwise.
/// Read once at start-up (`init`), since the container's init process replaces
/// its environment with the spec's before the point is reached.
pub fn delay(point: &str) {
    if let Some((p, ms)) = delay_wanted() {
        if p == point {
            std::thread::sleep(std::time::Duration::from_millis(*ms));
        }
    }
}

fn delay_wanted() -> &'static Option<(String, u64)> {
    static WANT: OnceLock<Option<(String, u64)>> = OnceLock::new();
    WANT.get_or_init(|| {
        let v = std::env::var("WARD_TEST_DELAY_AT").ok()?;
        let (p, ms) = v.rsplit_once(':')?;
        Some((p.to_string(), ms.parse().ok()?))
    })
}

/// Reads the test variables while the environment is still ward's own.
pub fn init() {
    let _ = delay_wanted();
}
