//! Which of ward's layers can apply to a container that shares the host's
//! mount namespace, and where ward's scratch mounts may go when the spec
//! brings its own user namespace.

use std::os::unix::fs::MetadataExt;
use std::path::Path;

use oci_spec::runtime::{LinuxNamespaceType, Spec};

use super::relax::{Layer, Relaxations};
use crate::error::{Result, WardError};

/// True when the spec asks for no mount namespace: the container's mounts
/// would be made in the host's mount table (runc's host-mntns case).
pub fn shares_host_mount_ns(spec: &Spec) -> bool {
    !spec
        .linux()
        .as_ref()
        .and_then(|l| l.namespaces().as_ref())
        .is_some_and(|ns| ns.iter().any(|n| n.typ() == LinuxNamespaceType::Mount))
}

/// True when the container gets a mount namespace of its own, made for it
/// (a mount entry without a path): its init holds its own copies of the
/// mounts ward staged for it on the host side.
pub fn has_new_mount_ns(spec: &Spec) -> bool {
    spec.linux()
        .as_ref()
        .and_then(|l| l.namespaces().as_ref())
        .is_some_and(|ns| {
            ns.iter()
                .any(|n| n.typ() == LinuxNamespaceType::Mount && n.path().is_none())
        })
}

/// A container in the host's mount namespace cannot get ward's read-only `/`
/// and scratch mounts (the remount and the tmpfs would land in the host's
/// mount table, the remount on the filesystem holding the rootfs), nor its
/// masked paths (runc refuses those without a private mount namespace too),
/// nor ward's user namespace (which may not mount in a namespace owned by the
/// host's). ward does not drop these defences silently: such a spec is
/// refused unless each of them is relaxed, and then runs as runc runs it.
pub fn check_host_mount_ns(spec: &Spec, relaxations: &Relaxations) -> Result<()> {
    if !shares_host_mount_ns(spec) {
        return Ok(());
    }
    let mut missing = Vec::new();
    if !relaxations.has(Layer::Rootfs) {
        missing.push("rootfs=writable");
    }
    if !relaxations.has(Layer::Paths) {
        missing.push("paths=spec");
    }
    if !relaxations.has(Layer::Userns) && !crate::hardening::userns::spec_has_userns(spec) {
        missing.push("userns=host");
    }
    if missing.is_empty() {
        return Ok(());
    }
    Err(WardError::Invalid(format!(
        "linux.namespaces: no mount namespace, so the container would share the host's \
         mount table, where ward cannot make / read-only, add its /tmp and /run, mask \
         /proc and /sys paths or id-map the rootfs; add {{\"type\": \"mount\"}}, or relax \
         {} to run the spec as given",
        missing.join(", ")
    )))
}

/// True when the spec asks for no pid namespace (runc's host-pidns case).
pub fn shares_host_pid_ns(spec: &Spec) -> bool {
    !spec
        .linux()
        .as_ref()
        .and_then(|l| l.namespaces().as_ref())
        .is_some_and(|ns| ns.iter().any(|n| n.typ() == LinuxNamespaceType::Pid))
}

/// A container in the host's pid namespace with ward's user namespace cannot
/// mount its /proc: the kernel lets only a process privileged over the pid
/// namespace's owner (the host's user namespace) mount a procfs for it.
/// Checked before anything is created, so the error names the cause instead
/// of libcontainer's `prepare rootfs: EPERM`. Call it only when ward adds its
/// user namespace.
pub fn check_host_pid_ns_under_ward_userns(spec: &Spec) -> Result<()> {
    let mounts_proc = spec
        .mounts()
        .iter()
        .flatten()
        .any(|m| m.typ().as_deref() == Some("proc"));
    if !shares_host_pid_ns(spec) || !mounts_proc {
        return Ok(());
    }
    Err(WardError::Invalid(
        "linux.namespaces: no pid namespace, so the container would share the host's, \
         whose /proc ward's user namespace may not mount (the host's user namespace owns \
         it); add {\"type\": \"pid\"}, or relax userns=host (run.ward.userns=host) to \
         run the spec as given"
            .into(),
    ))
}

/// Whether ward's scratch tmpfs at `dest` can be mounted in a rootfs used
/// under the spec's own user namespace: libcontainer creates a missing mount
/// point as the container's root, which the spec's mapping may leave without
/// write access to the image's top directory (runtime-tools' bundles: a
/// host-root-owned rootfs, no /tmp). Where the directory exists, or the
/// container's root owns the rootfs, the mount is added.
pub fn scratch_fits_spec_userns(spec: &Spec, rootfs: &Path, dest: &str) -> bool {
    if rootfs
        .join(dest.trim_start_matches('/'))
        .symlink_metadata()
        .is_ok_and(|m| m.is_dir())
    {
        return true;
    }
    let root_host_uid = spec
        .linux()
        .as_ref()
        .and_then(|l| l.uid_mappings().as_ref())
        .and_then(|m| m.iter().find(|m| m.container_id() == 0))
        .map(|m| m.host_id());
    let owner = std::fs::metadata(rootfs).map(|m| m.uid()).ok();
    root_host_uid.is_some() && root_host_uid == owner
}
