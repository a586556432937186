//! The hardening layer: each submodule owns one defence.

pub mod capabilities;
pub mod landlock;
pub mod rootfs;
pub mod seccomp;
pub mod userns;
pub mod userns_compat;

/// Releases what the hardening layer holds for a container outside
/// libcontainer's knowledge (called at delete and by crash recovery).
pub fn cleanup(ward_dir: &std::path::Path, id: &str) {
    userns::unmount_rootfs(&ward_dir.join(userns::ROOTFS_MOUNT));
    userns::release_owner(id);
}
