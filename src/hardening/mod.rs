//! The hardening layer: each submodule owns one defence.

pub mod capabilities;
pub mod devfs;
pub mod idmap_overlay;
pub mod landlock;
pub mod rootfs;
pub mod seccomp;
pub mod userns;
pub mod userns_compat;

/// Releases what the hardening layer holds for a container outside
/// libcontainer's knowledge (called at delete and by crash recovery).
pub fn cleanup(ward_dir: &std::path::Path, id: &str) {
    let owner = userns::owner_key(ward_dir);
    let mut released = false;
    if let Ok(dir) = std::fs::read_link(ward_dir.join(userns::ROOTFS_MOUNT)) {
        unmount_staging(&dir);
        if let Some(slot) = dir.file_name().and_then(|n| n.to_str()?.parse().ok()) {
            userns::release_legacy_claim(slot, id);
            // The slot the staging dir is named after is the container's:
            // freed directly, not by reading the owner of every slot in the
            // pool (one readlink per running container, on every delete).
            released = userns::release_slot_of(slot, &owner);
        }
    } else if let Some(slot) = crate::policy::recorded_slot(&ward_dir.join("config.json")) {
        // Staging released at the end of create (release_staging): the
        // slot is in the policy.
        released = userns::release_slot_of(slot, &owner);
    }
    // No link (a create that died before making it) or a slot not ours:
    // look through the pool.
    if !released {
        userns::release_owner(&owner);
    }
}

/// The staging dir for a container's id-mapped rootfs: `/run/ward-rootfs/<slot>`.
/// Not under the state root, whose parents (any `--root`) may not be
/// traversable by the container's unprivileged root; the slot is unique
/// host-wide while the range is held. The link in ward's dir is made first, so
/// a crash at any point leaves cleanup a way to the mount. Without a pool
/// range (a spec with its own user namespace, whose id-mapped binds ward
/// stages) the dir gets a unique name.
pub fn idmapped_rootfs_dir(
    ward_dir: &std::path::Path,
    range: Option<&userns::IdRange>,
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
    // Set up once per boot: afterwards one mount(2) finds it in place.
    if set_private(base).is_err() {
        std::fs::create_dir_all(base).map_err(err(&format!("creating {ROOTFS_BASE}")))?;
        std::fs::set_permissions(base, std::fs::Permissions::from_mode(0o711))
            .map_err(err(&format!("chmod {ROOTFS_BASE}")))?;
        // Concurrent first creates would each bind the dir onto itself and
        // stack mounts there (the lower one keeping the host's propagation):
        // the first to hold the dir's lock makes the mount, the others find it.
        let dir = std::fs::File::open(base).map_err(err(&format!("opening {ROOTFS_BASE}")))?;
        // SAFETY: flock on a valid fd borrowed for the call; the lock goes
        // with `dir`, closed at the end of this block.
        if unsafe { libc::flock(std::os::fd::AsRawFd::as_raw_fd(&dir), libc::LOCK_EX) } != 0 {
            return Err(err(&format!("locking {ROOTFS_BASE}"))(
                std::io::Error::last_os_error(),
            ));
        }
        make_private_mount(base).map_err(err(&format!("making {ROOTFS_BASE} a private mount")))?;
    }
    // A pool slot is unique host-wide; a joined range is shared by a pod, so
    // each member stages under its own name.
    let name = match range {
        Some(r) if r.join.is_none() => r.slot.to_string(),
        _ => format!(
            "j-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0)
        ),
    };
    let target = base.join(&name);
    let link = ward_dir.join(userns::ROOTFS_MOUNT);
    std::os::unix::fs::symlink(&target, &link).map_err(err("recording the id-mapped rootfs"))?;
    // Leftovers from a crashed holder of this slot are cleared, if any.
    let mut made = std::fs::create_dir(&target);
    if matches!(&made, Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists) {
        unmount_staging(&target);
        made = std::fs::create_dir(&target);
    }
    match made {
        Ok(()) => Ok(target),
        // Still there: something holds it (a mount another mount namespace
        // or a bind over /run/ward-rootfs keeps busy). The slot is ours, the
        // dir name need not be: stage beside it rather than fail every create
        // that draws this slot.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            let alt = base.join(format!("{name}-{}", std::process::id()));
            tracing::warn!(
                "{} is left over and busy; staging in {}",
                target.display(),
                alt.display()
            );
            std::fs::remove_file(&link)
                .and_then(|()| std::os::unix::fs::symlink(&alt, &link))
                .map_err(err("recording the id-mapped rootfs"))?;
            unmount_staging(&alt);
            std::fs::create_dir(&alt).map_err(err(&format!("creating {}", alt.display())))?;
            Ok(alt)
        }
        Err(e) => Err(err(&format!("creating {}", target.display()))(e)),
    }
}

/// Makes `dir` a mount point of its own with private propagation, so the
/// mounts staged under it stay private: on a systemd host `/` and `/run` are
/// shared, and a private mount moved under a shared parent turns shared again
/// (its copies would appear in every peer namespace and outlive the
/// container's unmount there). One mount(2) when it is already in place.
pub fn make_private_mount(dir: &std::path::Path) -> std::io::Result<()> {
    use nix::mount::{mount, MsFlags};
    match set_private(dir) {
        Ok(()) => Ok(()),
        // EINVAL: not a mount point yet; bind it onto itself first.
        Err(nix::errno::Errno::EINVAL) => {
            mount(Some(dir), dir, None::<&str>, MsFlags::MS_BIND, None::<&str>)?;
            Ok(set_private(dir)?)
        }
        Err(e) => Err(e.into()),
    }
}

/// Private propagation for the mount at `dir`; EINVAL when `dir` is not a
/// mount point.
fn set_private(dir: &std::path::Path) -> nix::Result<()> {
    use nix::mount::{mount, MsFlags};
    mount(
        None::<&str>,
        dir,
        None::<&str>,
        MsFlags::MS_PRIVATE,
        None::<&str>,
    )
}

/// At the end of a create whose container has its own mount namespace:
/// detaches the host's copies of the staged mounts and removes their mount
/// points (the init pivoted away from them; nothing in any namespace is
/// mounted there now), then the dir, and with it the link to it when the
/// dir was a pool slot's (delete finds the slot in the policy). Each running
/// container then keeps no inode here. Overlay layers (`upper`, `work`,
/// `l<N>`, `snap`) stay until delete: the container's overlay uses them.
pub fn release_staging(
    dir: &std::path::Path,
    ward_dir: &std::path::Path,
    range: Option<&userns::IdRange>,
) {
    for e in detach_staging(dir) {
        let name = e.file_name();
        let Some(name) = name.to_str() else { continue };
        let mount_point = name == "root"
            || name == "dev"
            || (name.len() > 1
                && name.starts_with('b')
                && name[1..].bytes().all(|c| c.is_ascii_digit()));
        if !mount_point {
            continue;
        }
        // A staged bind's mount point is an empty dir or an empty file.
        let p = e.path();
        if std::fs::remove_dir(&p).is_err() {
            if let Ok(m) = std::fs::symlink_metadata(&p) {
                if m.is_file() && m.len() == 0 {
                    let _ = std::fs::remove_file(&p);
                }
            }
        }
    }
    let pool_slot = range.is_some_and(|r| r.join.is_none());
    if std::fs::remove_dir(dir).is_ok() && pool_slot {
        let _ = std::fs::remove_file(ward_dir.join(userns::ROOTFS_MOUNT));
    }
}

/// Undoes what create staged in a slot's dir: the id-mapped root (`root`),
/// overlay layers (`l<N>`, `snap`) and bind sources (`b<N>`), then the dir itself.
pub fn unmount_staging(dir: &std::path::Path) {
    for e in detach_staging(dir) {
        let p = e.path();
        // upper/work/snap are plain dirs of the overlay, never mount points.
        let plain = matches!(e.file_name().to_str(), Some("upper" | "work" | "snap"));
        let _ = if plain {
            std::fs::remove_dir_all(&p)
        } else {
            std::fs::remove_dir(&p).or_else(|_| std::fs::remove_file(&p))
        };
    }
    let _ = std::fs::remove_dir(dir);
}

/// Detaches the host's copies of the mounts staged in `dir` (the id-mapped
/// rootfs first, then staged binds, overlay layers, the host-built /dev) and
/// returns the dir's entries. At the end of create this runs alone, once the
/// container's init holds its own copies (it copied them with its mount
/// namespace and pivoted into them): the host's mount table then does not
/// grow with each running container, and every create copies that table into
/// the new namespace (with 100 running containers a `run` took 44% longer).
/// The dirs stay until delete: `exec` resolves the recorded rootfs path.
pub fn detach_staging(dir: &std::path::Path) -> Vec<std::fs::DirEntry> {
    userns::unmount_rootfs(&dir.join("root"));
    let entries: Vec<_> = std::fs::read_dir(dir)
        .map(|rd| rd.flatten().collect())
        .unwrap_or_default();
    for e in &entries {
        // (A plain dir is refused with EINVAL, which unmount_rootfs ignores.)
        if e.file_name() != "root" {
            userns::unmount_rootfs(&e.path());
        }
    }
    entries
}

pub const ROOTFS_BASE: &str = "/run/ward-rootfs";
