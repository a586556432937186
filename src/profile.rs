//! Step timings for `WARD_PROFILE=1`: one stderr line per step with the
//! CLOCK_MONOTONIC time in ms, so lines from ward and from libcontainer's child
//! processes sort into one timeline (the writer lives in the vendored
//! libcontainer, which marks its own steps the same way). Inert (one env
//! lookup) otherwise. See integration/profile-create.sh.

/// Records that `step` has just finished in this process.
pub fn mark(step: &str) {
    libcontainer::ward_profile::mark_as("ward", step);
}
