//! The creator lock: `create` holds flock(2) on the container's ward dir
//! itself (a directory can be flocked; no lock file to create and delete). libcontainer's intermediate and init processes are cloned
//! from ward and inherit the open file, so the lock stays held until the last
//! of them exits, execs (the fd is close-on-exec) or, for the init, is set up
//! and waits for `start` (it closes its copy then: `release_in_init`). A recovery after ward was
//! killed mid-create waits for it: a killed intermediate blocked in a cgroup
//! operation (a v1 migration waits for an RCU grace period, others queue
//! behind it on the cgroup mutex) can still create a cgroup directory after
//! `delete --force` has removed everything it saw.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::Path;
use std::time::{Duration, Instant};

/// The lock's descriptor number while a create holds it (-1 otherwise), so
/// the cloned init can let go of it once it is set up (see `release_in_init`).
static HELD_FD: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(-1);

/// Takes the lock for the duration of a create; the returned file must live
/// until libcontainer has cloned its processes.
pub fn hold(wdir: &Path) -> std::io::Result<Held> {
    let f = File::open(wdir)?;
    if !try_lock(&f) {
        return Err(std::io::Error::last_os_error());
    }
    HELD_FD.store(f.as_raw_fd(), std::sync::atomic::Ordering::Relaxed);
    Ok(Held(f))
}

/// The held lock; dropping it closes this process's copy.
pub struct Held(#[allow(dead_code)] File);

impl Drop for Held {
    fn drop(&mut self) {
        HELD_FD.store(-1, std::sync::atomic::Ordering::Relaxed);
    }
}

/// Called in the init once it is set up and about to wait for `start`:
/// nothing of the create is left to run, so its copy of the lock goes, and
/// the created container holds no descriptor of ward's state dir (runc's
/// fd-leak check lists the init's descriptors).
pub fn release_in_init() {
    let fd = HELD_FD.swap(-1, std::sync::atomic::Ordering::Relaxed);
    if fd >= 0 {
        // SAFETY: this process's copy of the lock fd, used by nothing else
        // here; the parent's copy (and the lock, until every copy is gone)
        // is unaffected.
        unsafe { libc::close(fd) };
    }
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
