//! The creator lock: `create` holds flock(2) on the container's ward dir
//! itself (a directory can be flocked; no lock file to create and delete). libcontainer's intermediate and init processes are cloned
//! from ward and inherit the open file, so the lock stays held until the last
//! of them exits or execs (the fd is close-on-exec). A recovery after ward was
//! killed mid-create waits for it: a killed intermediate blocked in a cgroup
//! operation (a v1 migration waits for an RCU grace period, others queue
//! behind it on the cgroup mutex) can still create a cgroup directory after
//! `delete --force` has removed everything it saw.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::Path;
use std::time::{Duration, Instant};

/// Takes the lock for the duration of a create; the returned file must live
/// until libcontainer has cloned its processes.
pub fn hold(wdir: &Path) -> std::io::Result<File> {
    let f = File::open(wdir)?;
    if !try_lock(&f) {
        return Err(std::io::Error::last_os_error());
    }
    Ok(f)
}

/// Non-blocking exclusive flock; the lock goes with the open file.
fn try_lock(f: &File) -> bool {
    // SAFETY: flock on a valid fd borrowed for the call.
    unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) == 0 }
}

/// Waits (at most `limit`) until no process of an earlier create holds the
/// lock. Returns false on timeout; true if free or there is no ward dir.
pub fn wait_released(wdir: &Path, limit: Duration) -> bool {
    let Ok(f) = File::open(wdir) else {
        return true;
    };
    let t = Instant::now();
    loop {
        // Taken means free: released again when f drops.
        if try_lock(&f) {
            return true;
        }
        if t.elapsed() >= limit {
            return false;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}
