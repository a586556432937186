//! The hardening layer: each submodule owns one defence.

pub mod capabilities;
pub mod idmap_overlay;
pub mod landlock;
pub mod rootfs;
pub mod seccomp;
pub mod userns;
pub mod userns_compat;

/// Releases what the hardening layer holds for a container outside
/// libcontainer's knowledge (called at delete and by crash recovery).
pub fn cleanup(ward_dir: &std::path::Path, id: &str) {
    if let Ok(target) = std::fs::read_link(ward_dir.join(userns::ROOTFS_MOUNT)) {
        userns::unmount_rootfs(&target);
        idmap_overlay::unmount(&target);
        let _ = std::fs::remove_dir(&target);
    }
    userns::release_owner(id);
}

/// Where a container's id-mapped rootfs is mounted: `/run/ward-rootfs/<slot>`.
/// Not under the state root, whose parents (any `--root`) may not be
/// traversable by the container's unprivileged root; the slot is unique
/// host-wide while the range is held. The link in ward's dir is made first, so
/// a crash at any point leaves cleanup a way to the mount.
pub fn idmapped_rootfs_dir(
    ward_dir: &std::path::Path,
    range: &userns::IdRange,
) -> crate::error::Result<std::path::PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let base = std::path::Path::new(ROOTFS_BASE);
    let err = |what: &str| {
        let what = what.to_string();
        move |e| crate::error::WardError::Io {
            context: what,
            source: e,
        }
    };
    std::fs::create_dir_all(base).map_err(err(&format!("creating {ROOTFS_BASE}")))?;
    std::fs::set_permissions(base, std::fs::Permissions::from_mode(0o711))
        .map_err(err(&format!("chmod {ROOTFS_BASE}")))?;
    let target = base.join(range.slot.to_string());
    std::os::unix::fs::symlink(&target, ward_dir.join(userns::ROOTFS_MOUNT))
        .map_err(err("recording the id-mapped rootfs"))?;
    // A leftover empty dir from a crashed holder of this slot is fine to reuse.
    match std::fs::create_dir(&target) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            userns::unmount_rootfs(&target);
        }
        Err(e) => return Err(err(&format!("creating {}", target.display()))(e)),
    }
    Ok(target)
}

pub const ROOTFS_BASE: &str = "/run/ward-rootfs";
