//! The cgroup a container is given: ward's default when the spec names none,
//! and the check that a spec's `linux.cgroupsPath` suits the cgroup driver.

use std::path::{Path, PathBuf};

use crate::error::{Result, WardError};

/// The cgroup path libcontainer gets for this container. With the systemd
/// driver the path names a unit, `slice:prefix:name`, as with runc
/// (`system.slice:runc:ID` -> `runc-ID.scope`); without a path ward uses
/// `system.slice:ward:ID` (rootless: `user.slice:ward:ID`, in the user's own
/// systemd manager, as runc's rootless default), or `/ward/ID` with cgroupfs
/// (or where systemd does not manage a unified hierarchy, so there is no unit
/// to ask for).
pub fn effective(spec: Option<&Path>, id: &str, systemd: bool) -> Result<PathBuf> {
    match spec {
        Some(p) if systemd => {
            if !is_systemd_path(p) {
                return Err(WardError::Invalid(format!(
                    "linux.cgroupsPath {:?}: expected cgroupsPath to be of format \
                     \"slice:prefix:name\" for systemd cgroups (--systemd-cgroup)",
                    p.display().to_string()
                )));
            }
            Ok(p.to_path_buf())
        }
        Some(p) => Ok(p.to_path_buf()),
        None if systemd && systemd_manages_cgroups() => Ok(PathBuf::from(format!(
            "{}:ward:{id}",
            default_slice(nix::unistd::geteuid().is_root())
        ))),
        None => Ok(PathBuf::from(format!("/ward/{id}"))),
    }
}

/// Refuses a cgroup a new container cannot be put in, with runc's words: one
/// that already holds processes (another container's, or one of the same ID
/// under another state root, whose systemd scope would be shared), or one
/// frozen in advance (its init would hang in the freezer, and `run -d` with
/// it). A cgroup that does not exist yet is unused.
pub fn check_unused(path: &Path, systemd: bool) -> Result<()> {
    let Some(dir) = directory(path, systemd) else {
        return Ok(());
    };
    // Read where the processes are listed; no manager is built for this.
    // The usual case, a cgroup not made yet, costs one lookup (each walk
    // through cgroupfs takes its kernfs lock, which parallel creates contend
    // on). (v1: the freezer hierarchy may hold it all the same.)
    let missing = matches!(std::fs::symlink_metadata(&dir),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound);
    let n = match missing {
        true => 0,
        false => libcgroups::common::get_all_pids(&dir)
            .map(|p| p.len())
            .unwrap_or(0),
    };
    if n > 0 {
        return Err(WardError::Invalid(format!(
            "container's cgroup is not empty: {n} process(es) found"
        )));
    }
    if frozen(&dir, systemd) {
        return Err(WardError::Invalid(
            "container's cgroup unexpectedly frozen".into(),
        ));
    }
    Ok(())
}

/// The host directory of the cgroup `path` names: with the systemd driver,
/// the unit's directory under the manager's own cgroup (no D-Bus call: the
/// names map to directories as systemd lays them out); with cgroupfs, the
/// v2 directory or the v1 devices hierarchy's (where libcgroups lists a
/// v1 container's processes). None where there is no such hierarchy.
fn directory(path: &Path, systemd: bool) -> Option<PathBuf> {
    use libcgroups::common::{get_cgroup_setup, CgroupSetup, DEFAULT_CGROUP_ROOT};
    let unified = matches!(get_cgroup_setup(), Ok(CgroupSetup::Unified));
    if systemd {
        if !unified {
            return None;
        }
        let rel = unit_directory(path, nix::unistd::geteuid().as_raw())?;
        return Some(Path::new(DEFAULT_CGROUP_ROOT).join(rel));
    }
    let rel = path.strip_prefix("/").unwrap_or(path);
    if unified {
        return Some(Path::new(DEFAULT_CGROUP_ROOT).join(rel));
    }
    libcgroups::v1::util::get_subsystem_mount_point(&libcgroups::v1::ControllerType::Devices)
        .ok()
        .map(|m| m.join(rel))
}

/// `[slice:]prefix:name` as a directory relative to the cgroup root, as
/// systemd places the unit: the slice expanded (`a-b.slice` ->
/// `a.slice/a-b.slice`), then `prefix-name.scope` (or the name itself when
/// it is a slice), under the system manager's root or a rootless user's
/// `user@UID.service`. None for a name systemd would refuse.
fn unit_directory(path: &Path, uid: u32) -> Option<PathBuf> {
    let s = path.to_str()?;
    let parts: Vec<&str> = s.split(':').collect();
    let (parent, prefix, name) = match parts.as_slice() {
        [parent, prefix, name] => (*parent, *prefix, *name),
        [prefix, name] => ("", *prefix, *name),
        _ => return None,
    };
    let parent = match parent {
        "" => default_slice(uid == 0),
        p => p,
    };
    let mut dir = if uid == 0 {
        PathBuf::new()
    } else {
        PathBuf::from(format!("user.slice/user-{uid}.slice/user@{uid}.service"))
    };
    let stem = parent.strip_suffix(".slice")?;
    if stem != "-" {
        let mut acc = String::new();
        for part in stem.split('-') {
            if part.is_empty() {
                return None;
            }
            acc.push_str(part);
            dir.push(format!("{acc}.slice"));
            acc.push('-');
        }
    }
    if name.ends_with(".slice") {
        dir.push(name);
    } else {
        dir.push(format!("{prefix}-{name}.scope"));
    }
    Some(dir)
}

/// The cgroup's freezer says frozen (v1 `freezer.state` FROZEN or FREEZING,
/// v2 `cgroup.freeze` 1); a missing cgroup or freezer is not frozen. `dir`
/// is the cgroup's directory from [`directory`].
fn frozen(dir: &Path, systemd: bool) -> bool {
    use libcgroups::common::{get_cgroup_setup, CgroupSetup};
    if systemd || matches!(get_cgroup_setup(), Ok(CgroupSetup::Unified)) {
        return std::fs::read_to_string(dir.join("cgroup.freeze")).is_ok_and(|s| s.trim() == "1");
    }
    // v1: the same relative path in the freezer hierarchy.
    let Some(devices) =
        libcgroups::v1::util::get_subsystem_mount_point(&libcgroups::v1::ControllerType::Devices)
            .ok()
    else {
        return false;
    };
    let Ok(rel) = dir.strip_prefix(&devices) else {
        return false;
    };
    libcgroups::v1::util::get_subsystem_mount_point(&libcgroups::v1::ControllerType::Freezer)
        .ok()
        .and_then(|m| std::fs::read_to_string(m.join(rel).join("freezer.state")).ok())
        .is_some_and(|s| matches!(s.trim(), "FROZEN" | "FREEZING"))
}

/// `linux.resources.unified` names cgroup v2 files: on a v1 (or hybrid) host
/// it cannot be applied, and runc refuses it rather than ignore it.
pub fn check_unified(resources: Option<&oci_spec::runtime::LinuxResources>) -> Result<()> {
    let wants = resources
        .and_then(|r| r.unified().as_ref())
        .is_some_and(|u| !u.is_empty());
    let v2 = matches!(
        libcgroups::common::get_cgroup_setup(),
        Ok(libcgroups::common::CgroupSetup::Unified)
    );
    if wants && !v2 {
        return Err(WardError::Invalid(
            "invalid configuration: cannot use unified on cgroup v1 (linux.resources.unified)"
                .into(),
        ));
    }
    Ok(())
}

/// The slice of ward's default scope: root's containers go to the system
/// manager's system.slice; a rootless user's to its own manager (libcgroups
/// talks to the user bus when not root), whose containers' slice is user.slice.
fn default_slice(root: bool) -> &'static str {
    if root {
        "system.slice"
    } else {
        "user.slice"
    }
}

/// `slice:prefix:name` (or `prefix:name`): a systemd unit, never a directory.
pub fn is_systemd_path(p: &Path) -> bool {
    let Some(s) = p.to_str() else { return false };
    let parts = s.split(':').count();
    !p.is_absolute() && (parts == 2 || parts == 3) && !s.contains('/')
}

/// systemd is PID 1 and the host is on the unified hierarchy, where
/// libcontainer's systemd driver applies.
fn systemd_manages_cgroups() -> bool {
    libcgroups::systemd::booted()
        && matches!(
            libcgroups::common::get_cgroup_setup(),
            Ok(libcgroups::common::CgroupSetup::Unified)
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn systemd_paths_are_units() {
        assert!(is_systemd_path(Path::new("system.slice:ward:abc")));
        assert!(is_systemd_path(Path::new(
            "kubepods-besteffort-pod1.slice:cri-containerd:abc"
        )));
        assert!(is_systemd_path(Path::new("ward:abc")));
        assert!(!is_systemd_path(Path::new("/ward/abc")));
        assert!(!is_systemd_path(Path::new("ward/abc")));
        assert!(!is_systemd_path(Path::new("a:b:c:d")));
    }

    #[test]
    fn units_map_to_systemds_directories() {
        let d = |p: &str, uid| unit_directory(Path::new(p), uid).map(|d| d.display().to_string());
        assert_eq!(
            d("system.slice:ward:abc", 0).as_deref(),
            Some("system.slice/ward-abc.scope")
        );
        assert_eq!(
            d("kubepods-besteffort-pod1.slice:cri-containerd:abc", 0).as_deref(),
            Some(
                "kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod1.slice/cri-containerd-abc.scope"
            )
        );
        assert_eq!(d("-.slice:p:x", 0).as_deref(), Some("p-x.scope"));
        assert_eq!(
            d("ward:abc", 0).as_deref(),
            Some("system.slice/ward-abc.scope")
        );
        assert_eq!(
            d("ward:abc", 1000).as_deref(),
            Some("user.slice/user-1000.slice/user@1000.service/user.slice/ward-abc.scope")
        );
        assert_eq!(d("a--b.slice:p:x", 0), None);
        assert_eq!(d("notaslice:p:x", 0), None);
    }

    #[test]
    fn rootless_default_scope_is_in_the_users_slice() {
        assert_eq!(default_slice(true), "system.slice");
        assert_eq!(default_slice(false), "user.slice");
    }

    #[test]
    fn an_absolute_path_with_the_systemd_driver_is_refused() {
        let e = effective(Some(Path::new("/ward/x")), "x", true).unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("linux.cgroupsPath"), "{msg}");
        assert!(msg.contains("slice:prefix:name"), "{msg}");
    }

    #[test]
    fn cgroupfs_default_and_given_paths() {
        assert_eq!(
            effective(None, "x", false).unwrap(),
            PathBuf::from("/ward/x")
        );
        assert_eq!(
            effective(Some(Path::new("/a/b")), "x", false).unwrap(),
            PathBuf::from("/a/b")
        );
        assert_eq!(
            effective(Some(Path::new("system.slice:p:x")), "x", true).unwrap(),
            PathBuf::from("system.slice:p:x")
        );
    }
}
