//! Which of a container's mounts ward id-maps with its user namespace, and
//! what happens where the kernel cannot: the rootfs (see
//! `hardening::idmap_overlay` for overlayfs) and every bind source ward
//! stages (`hardening::userns_compat::stage_binds`).
//!
//! The rule is the same for both: id-map where the filesystem allows it;
//! where it does not, keep the mount as it is and record why (a rootfs that
//! cannot be mapped turns the user namespace off, a recorded relaxation; a
//! bind that cannot be mapped stays a plain bind with host ids, a recorded
//! adaptation). A mapping the spec asks for itself (`idmap`/`ridmap`,
//! `uidMappings`/`gidMappings`) is never dropped: the create fails instead.

use std::path::Path;

use oci_spec::runtime::{LinuxIdMapping, Mount};

use crate::error::{Result, WardError};
use crate::hardening::idmap_overlay::{self, RootfsKind};
use crate::hardening::userns::BindShape;

/// How the rootfs gets container ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RootfsPlan {
    /// An id-mapped bind of the rootfs (ext4, xfs, btrfs, tmpfs 6.3+).
    Bind,
    /// overlayfs, read-only: first an id-mapped bind of the overlay (a
    /// kernel that can id-map overlayfs mounts), else a private read-only
    /// overlay over id-mapped binds of its layers.
    OverlayLayers,
    /// overlayfs, writable: only an id-mapped bind of the overlay itself
    /// keeps writes in its upperdir (where docker cp/diff/commit look). A
    /// kernel that cannot id-map overlayfs mounts (6.18 cannot: EINVAL)
    /// runs the container with host ids, recorded as a relaxation.
    OverlayWritable,
}

pub fn rootfs_plan(kind: RootfsKind, readonly: bool) -> RootfsPlan {
    match (kind, readonly) {
        (RootfsKind::Overlay, true) => RootfsPlan::OverlayLayers,
        (RootfsKind::Overlay, false) => RootfsPlan::OverlayWritable,
        _ => RootfsPlan::Bind,
    }
}

/// Whether the plan is expected to keep the user namespace (decides, before
/// anything is claimed, if ward must re-execute sealed; a wrong guess is
/// corrected by re-executing later).
pub fn expects_userns(plan: RootfsPlan, kind: RootfsKind) -> bool {
    match plan {
        RootfsPlan::OverlayLayers => true,
        RootfsPlan::OverlayWritable => false,
        RootfsPlan::Bind => kind.idmappable(),
    }
}

/// Whether the container's init attaches its rootfs id-mapped with the
/// container's own user namespace, made by libcontainer's main process
/// (vendor process/idmap_mount.rs), instead of ward mounting an id-mapped
/// copy host-side through a mapping namespace of its own: a plain directory
/// rootfs on a filesystem known to take the mapping, with nothing mounted
/// below it, for a container with its own mount namespace. There the
/// mapping cannot fail, so nothing is lost by finding out only in the init;
/// anything else (overlayfs, an unknown filesystem, submounts that may
/// refuse the mapping, the host's mount namespace) keeps the host-side
/// mount, whose refusal falls back to host ids before the container exists.
pub fn rootfs_mapped_by_init(
    plan: RootfsPlan,
    kind: RootfsKind,
    rootfs: &Path,
    spec: &oci_spec::runtime::Spec,
) -> bool {
    plan == RootfsPlan::Bind
        && kind == RootfsKind::KnownIdmappable
        && crate::policy::hostns::has_new_mount_ns(spec)
        && !crate::hardening::userns::has_submounts(rootfs)
}

/// What to do with one bind source.
#[derive(Debug, Clone, PartialEq)]
pub enum BindPlan {
    Idmap {
        shape: BindShape,
        /// The mount's own mappings; None: the container's.
        maps: Option<(Vec<LinuxIdMapping>, Vec<LinuxIdMapping>)>,
        /// The spec asked for it: a refusal fails the create.
        required: bool,
    },
    /// A plain bind with host ids; `why` is recorded (None: nothing to
    /// report, e.g. ward's own device nodes, already owned by the container).
    Plain {
        recursive: bool,
        why: Option<String>,
    },
}

/// Is this mount a bind (what `stage_binds` handles)?
pub fn is_bind(m: &Mount) -> bool {
    m.typ().as_deref() == Some("bind")
        || m.options()
            .iter()
            .flatten()
            .any(|o| o == "bind" || o == "rbind")
}

/// Does the spec ask for this mount to be id-mapped itself?
pub fn spec_idmap(m: &Mount) -> bool {
    m.uid_mappings().is_some()
        || m.gid_mappings().is_some()
        || m.options()
            .iter()
            .flatten()
            .any(|o| o == "idmap" || o == "ridmap")
}

/// Whether bind `m`, whose source `src` lies in the container's rootfs
/// (`rootfs`, as the spec spells it), is left to libcontainer, made at its
/// turn in the container's mount namespace, instead of staged host-side
/// before create: its source then names the container's own mount tree as the
/// mounts before it in the spec built it (mounts.bats "mount order"), which
/// staging cannot see. A plain bind always is (under ward's own user
/// namespace, through ward's id-mapped copy of the rootfs, whose mapping it
/// keeps); one the spec asks to id-map is, and is mapped there
/// (libcontainer's process/idmap_mount.rs), except under ward's own user
/// namespace, whose tree is id-mapped already (the kernel maps a mount once):
/// that one is still staged from the host's view.
pub fn bind_at_its_turn(m: &Mount, src: &Path, rootfs: &Path, ward_userns: bool) -> bool {
    src.starts_with(rootfs) && !(ward_userns && spec_idmap(m))
}

/// A mount of a tmpfs at /dev (runc's and Docker's default spec).
pub fn is_dev_tmpfs(m: &Mount) -> bool {
    m.typ().as_deref() == Some("tmpfs")
        && m.destination()
            .components()
            .eq(Path::new("/dev").components())
}

/// Under ward's user namespace the container's /dev is built on the host side
/// (hardening/devfs.rs) when the spec's last mount at /dev is a writable
/// tmpfs (the nodes are made in it): the mount to build, else None
/// (libcontainer binds each device as before).
pub fn host_built_dev(spec: &oci_spec::runtime::Spec) -> Option<Mount> {
    let mounts = spec.mounts().as_ref()?;
    let last = mounts.iter().rev().find(|m| {
        m.destination()
            .components()
            .eq(Path::new("/dev").components())
    })?;
    let ro = last.options().iter().flatten().any(|o| o == "ro");
    (is_dev_tmpfs(last) && !ro).then(|| last.clone())
}

/// Decides for bind `mounts[i]` whose (absolute) source is `src`.
/// `ward_device` marks the device nodes ward itself created for
/// `linux.devices` (already owned by the container's ids). `ward_userns`:
/// the container runs in ward's own user namespace, which id-maps every bind
/// so that container uid N is host uid N, as without a user namespace under
/// runc. Under the spec's own user namespace (or none) only a mapping the
/// spec asks for applies: a plain bind keeps host ids, so host root's files
/// show as the overflow id, as under runc (idmap.bats "bind mount [userns]");
/// mapping it with the spec's maps would hand them to the container's root.
pub fn bind_plan(
    i: usize,
    m: &Mount,
    src: &Path,
    ward_device: bool,
    ward_userns: bool,
) -> Result<BindPlan> {
    use std::os::unix::fs::FileTypeExt;
    let opts: Vec<&str> = m.options().iter().flatten().map(String::as_str).collect();
    let recursive = opts.contains(&"rbind");
    let asked = spec_idmap(m);
    let maps = match (m.uid_mappings(), m.gid_mappings()) {
        (Some(u), Some(g)) => Some((u.clone(), g.clone())),
        (None, None) => None,
        _ => {
            return Err(WardError::Invalid(format!(
                "mounts[{i}]: uidMappings and gidMappings must be given together"
            )))
        }
    };
    if ward_device || (!asked && !ward_userns) {
        return Ok(BindPlan::Plain {
            recursive,
            why: None,
        });
    }
    let plain = |why: String| {
        if asked {
            Err(WardError::Invalid(format!(
                "mounts[{i}] {}: asks for an id-mapped mount, but {why}",
                m.destination().display()
            )))
        } else {
            Ok(BindPlan::Plain {
                recursive,
                why: Some(why),
            })
        }
    };
    let ft = std::fs::metadata(src)
        .map(|md| md.file_type())
        .map_err(|e| WardError::Invalid(format!("mounts[{i}] source {}: {e}", src.display())))?;
    if ft.is_char_device() || ft.is_block_device() {
        // Device access is decided by the device cgroup and the node's
        // mode, as under runc; an id-mapped device node gains nothing.
        return plain("a device node is bound with host ids".into());
    }
    if let Some(fs) = idmap_overlay::unmappable_fs(src) {
        return plain(format!("{fs} cannot be id-mapped; bound with host ids"));
    }
    Ok(BindPlan::Idmap {
        shape: BindShape {
            recursive,
            // The spec's `idmap` maps the top mount only, `ridmap` the tree;
            // ward's own mapping covers the whole tree.
            map_submounts: !asked || opts.contains(&"ridmap"),
            strict: asked,
        },
        maps,
        required: asked,
    })
}

/// Whether the source tree of bind `src` is cloned by ward's main process
/// (host root, host namespaces) and handed to the container's init, instead
/// of looked up by the init itself. A FUSE mount refuses every process whose
/// credentials are not its mounter's in the mounter's user namespace (no
/// `allow_other`): an init in a user namespace could not even stat it. Only
/// FUSE takes this path: each such bind costs a round trip on the init
/// channel, and other sources resolve fine from the init.
pub fn source_opened_host_side(src: &Path) -> bool {
    idmap_overlay::unmappable_fs(src) == Some("fuse")
}

/// The why of a bind the kernel refused to id-map.
pub fn refused_reason(e: &dyn std::fmt::Display) -> String {
    format!("the kernel refused to id-map it ({e}); bound with host ids")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mount(opts: &[&str]) -> Mount {
        let mut m = Mount::default();
        m.set_typ(Some("bind".into()))
            .set_destination("/data".into())
            .set_options(Some(opts.iter().map(|s| s.to_string()).collect()));
        m
    }

    #[test]
    fn plans() {
        let tmp = tempfile::tempdir().unwrap();
        match bind_plan(0, &mount(&["rbind", "rw"]), tmp.path(), false, true).unwrap() {
            BindPlan::Idmap {
                shape,
                maps: None,
                required: false,
            } => assert!(shape.recursive && shape.map_submounts && !shape.strict),
            p => panic!("{p:?}"),
        }
        match bind_plan(0, &mount(&["bind", "idmap"]), tmp.path(), false, true).unwrap() {
            BindPlan::Idmap {
                shape, required, ..
            } => assert!(!shape.recursive && !shape.map_submounts && shape.strict && required),
            p => panic!("{p:?}"),
        }
        match bind_plan(1, &mount(&["bind"]), Path::new("/dev/null"), false, true).unwrap() {
            BindPlan::Plain { why: Some(w), .. } => assert!(w.contains("device node"), "{w}"),
            p => panic!("{p:?}"),
        }
        match bind_plan(2, &mount(&["rbind"]), Path::new("/proc"), false, true).unwrap() {
            BindPlan::Plain { why: Some(w), .. } => assert!(w.contains("proc"), "{w}"),
            p => panic!("{p:?}"),
        }
        let e = bind_plan(
            3,
            &mount(&["rbind", "ridmap"]),
            Path::new("/proc"),
            false,
            true,
        )
        .unwrap_err();
        assert!(e.to_string().contains("mounts[3] /data"), "{e}");
        // The spec's own user namespace: a plain bind is not id-mapped, an
        // `idmap` one is.
        match bind_plan(4, &mount(&["rbind"]), tmp.path(), false, false).unwrap() {
            BindPlan::Plain {
                recursive: true,
                why: None,
            } => {}
            p => panic!("{p:?}"),
        }
        assert!(matches!(
            bind_plan(5, &mount(&["rbind", "idmap"]), tmp.path(), false, false).unwrap(),
            BindPlan::Idmap { required: true, .. }
        ));
        // Sources in the rootfs are bound at their turn, except an id-mapped
        // one under ward's namespace.
        let root = Path::new("/b/rootfs");
        let inside = Path::new("/b/rootfs/mnt");
        assert!(bind_at_its_turn(&mount(&["rbind"]), inside, root, true));
        assert!(bind_at_its_turn(
            &mount(&["rbind", "idmap"]),
            inside,
            root,
            false
        ));
        assert!(!bind_at_its_turn(
            &mount(&["rbind", "idmap"]),
            inside,
            root,
            true
        ));
        assert!(!bind_at_its_turn(
            &mount(&["rbind"]),
            Path::new("/b/rootfs2"),
            root,
            false
        ));
        // Only a FUSE source is cloned host-side.
        assert!(!source_opened_host_side(tmp.path()));
        assert!(!source_opened_host_side(Path::new("/proc")));
        assert_eq!(
            rootfs_plan(RootfsKind::Overlay, false),
            RootfsPlan::OverlayWritable
        );
    }
}
