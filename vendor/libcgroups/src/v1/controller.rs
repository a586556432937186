use std::fs;
use std::path::Path;

use nix::unistd::Pid;

use crate::common::{self, CGROUP_PROCS, ControllerOpt, WrapIoResult, WrappedIoError};

pub(super) trait Controller {
    type Error: From<WrappedIoError>;
    type Resource;

    /// Adds a new task specified by its pid to the cgroup
    fn add_task(pid: Pid, cgroup_path: &Path) -> Result<(), Self::Error> {
        // ward patch: the directory usually exists (Manager::create_dirs made
        // it): write first, create only when that fails. Every path walk in
        // cgroupfs takes the hierarchy's kernfs rwsem per component, which
        // parallel creates and deletes (mkdir/rmdir hold it for writing)
        // queue on.
        if write_task(cgroup_path, pid).is_ok() {
            return Ok(());
        }
        common::create_cgroup_dir_all(cgroup_path).wrap_create_dir(cgroup_path)?;
        write_task(cgroup_path, pid)?;
        Ok(())
    }

    /// Applies resource restrictions to the cgroup
    fn apply(controller_opt: &ControllerOpt, cgroup_root: &Path) -> Result<(), Self::Error>;

    /// Checks if the controller needs to handle this request
    fn needs_to_handle<'a>(controller_opt: &'a ControllerOpt) -> Option<&'a Self::Resource>;
}

/// ward patch: puts `pid` into the v1 cgroup at `cgroup_path`; pid 0 (see
/// [`as_self_move`]) means the calling thread.
///
/// A runtime's child moves itself before it clones the container's init. When
/// the caller is that process and has a single thread, "0" written to `tasks`
/// moves the calling thread, which is the whole process. Unlike a write to
/// `cgroup.procs` (or of a pid to `tasks`), it does not take the kernel's
/// global threadgroup rwsem, whose write side waits for an RCU grace period:
/// 7-15 ms per create on this kind of host, the largest single cost of a
/// container start. Anything else takes the usual `cgroup.procs` path.
pub(crate) fn write_task(cgroup_path: &Path, pid: Pid) -> Result<(), WrappedIoError> {
    if pid.as_raw() == 0 {
        return common::write_cgroup_file(cgroup_path.join("tasks"), 0);
    }
    common::write_cgroup_file(cgroup_path.join(CGROUP_PROCS), pid)
}

/// Pid 0 when `pid` is the calling process and it has a single thread, so
/// that [`write_task`] can move it through `tasks`; `pid` otherwise. Decided
/// once per manager call, for every hierarchy.
pub(crate) fn as_self_move(pid: Pid) -> Pid {
    if pid == nix::unistd::getpid() && single_threaded() {
        Pid::from_raw(0)
    } else {
        pid
    }
}

/// Whether the calling process has exactly one thread (/proc/self/stat's
/// num_threads, the 20th field; the 2nd, comm, may hold spaces and ')').
fn single_threaded() -> bool {
    // ward patch: one read into a buffer the line fits in (read_to_string
    // grew its buffer from 32 bytes: 8 syscalls for a ~330-byte line). A
    // line cut short lacks the field and counts as not single-threaded.
    use std::io::Read;
    let mut buf = [0u8; 1024];
    let Ok(n) = fs::File::open("/proc/self/stat").and_then(|mut f| f.read(&mut buf)) else {
        return false;
    };
    let Ok(stat) = std::str::from_utf8(&buf[..n]) else {
        return false;
    };
    stat.rsplit_once(')')
        .and_then(|(_, rest)| rest.split_whitespace().nth(17))
        .is_some_and(|n| n == "1")
}
