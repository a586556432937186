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
