use std::collections::HashMap;
use std::path::PathBuf;

use procfs::ProcError;
use procfs::process::MountInfo;

use super::ControllerType;
use super::controller_type::CONTROLLERS;

#[derive(thiserror::Error, Debug)]
pub enum V1MountPointError {
    #[error("io error: {0}")]
    Io(#[from] std::io::Error),
    #[error("failed to get mountinfo: {0}")]
    MountInfo(ProcError),
    #[error("could not find mountpoint for {subsystem}")]
    NotFound { subsystem: ControllerType },
    #[error(transparent)]
    Pathrs(#[from] pathrs::error::Error),
}

/// The cgroup v1 mounts of this process's mount namespace, read from
/// mountinfo once per process (ward patch: creating a v1 cgroup manager asked
/// for each subsystem's mount point in turn and re-read and re-parsed
/// mountinfo, through a freshly verified procfs handle, 14 times per create).
/// A forked child inherits the list; the runtime's children fork before they
/// change mounts, and cgroup hierarchies are not mounted during a create.
/// Borrowed, not cloned: each MountInfo holds maps and strings, and copying
/// the list per lookup was most of this function's cost.
static CGROUP_MOUNTS: std::sync::OnceLock<Vec<MountInfo>> = std::sync::OnceLock::new();

fn cgroup_mounts() -> Result<&'static [MountInfo], V1MountPointError> {
    if let Some(m) = CGROUP_MOUNTS.get() {
        return Ok(m);
    }
    // ward patch: opened by path, as runc reads it, not through a pathrs
    // procfs handle: that handle is a private procfs made for the process
    // (fsopen: a new proc superblock), and the detached mount holding it is
    // torn down at exit, which waits for an expedited RCU grace period.
    // Every ward command that found a v1 mount point paid both; parallel
    // runs queued on the grace periods. Read whole (a line-buffered reader
    // made the kernel walk the table again for each 8 KiB).
    let mut text = String::with_capacity(64 << 10);
    std::io::Read::read_to_string(&mut std::fs::File::open("/proc/self/mountinfo")?, &mut text)?;
    let mounts = parse_cgroup_mounts(&text)?;
    Ok(CGROUP_MOUNTS.get_or_init(|| mounts))
}

fn parse_cgroup_mounts(mountinfo: &str) -> Result<Vec<MountInfo>, V1MountPointError> {
    let mut mounts = Vec::new();
    for line in mountinfo.lines().filter(|l| l.contains(" - cgroup ")) {
        let m = MountInfo::from_line(line).map_err(V1MountPointError::MountInfo)?;
        if m.fs_type == "cgroup" {
            mounts.push(m);
        }
    }
    Ok(mounts)
}

/// ward patch: the v1 mounts from a copy of this process's mountinfo the
/// caller has just read (one read per create, not two). Ignored once the
/// list is known, or if `mountinfo` does not parse.
pub fn seed_cgroup_mounts(mountinfo: &str) {
    if CGROUP_MOUNTS.get().is_none() {
        if let Ok(mounts) = parse_cgroup_mounts(mountinfo) {
            let _ = CGROUP_MOUNTS.set(mounts);
        }
    }
}

/// List all cgroup v1 subsystem mount points on the system. This can include unsupported
/// subsystems, comounted controllers and named hierarchies.
pub fn list_subsystem_mount_points() -> Result<Vec<PathBuf>, V1MountPointError> {
    Ok(cgroup_mounts()?
        .iter()
        .map(|m| m.mount_point.clone())
        .collect())
}

/// List the mount points of all currently supported cgroup subsystems.
pub fn list_supported_mount_points() -> Result<HashMap<ControllerType, PathBuf>, V1MountPointError>
{
    let mut mount_paths = HashMap::with_capacity(CONTROLLERS.len());

    for controller in CONTROLLERS {
        if let Ok(mount_point) = get_subsystem_mount_point(controller) {
            mount_paths.insert(controller.to_owned(), mount_point);
        }
    }

    Ok(mount_paths)
}

pub fn get_subsystem_mount_point(subsystem: &ControllerType) -> Result<PathBuf, V1MountPointError> {
    let subsystem_name = subsystem.to_string();
    cgroup_mounts()?
        .iter()
        .find(|m| {
            // Some systems mount net_prio and net_cls in the same directory
            // other systems mount them in their own directories. This
            // should handle both cases.
            m.fs_type == "cgroup"
                && match subsystem_name.as_str() {
                    "net_cls" => ["net_cls,net_prio", "net_prio,net_cls", "net_cls"]
                        .iter()
                        .any(|s| m.mount_point.ends_with(s)),
                    "net_prio" => ["net_cls,net_prio", "net_prio,net_cls", "net_prio"]
                        .iter()
                        .any(|s| m.mount_point.ends_with(s)),
                    "cpu" => ["cpu,cpuacct", "cpu"]
                        .iter()
                        .any(|s| m.mount_point.ends_with(s)),
                    "cpuacct" => ["cpu,cpuacct", "cpuacct"]
                        .iter()
                        .any(|s| m.mount_point.ends_with(s)),
                    _ => m.mount_point.ends_with(&subsystem_name),
                }
        })
        .map(|m| m.mount_point.clone())
        .ok_or(V1MountPointError::NotFound {
            subsystem: *subsystem,
        })
}
