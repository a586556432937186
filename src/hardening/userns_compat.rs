//! Making an ordinary spec work inside the user namespace ward adds:
//! - sysfs cannot be mounted without owning the network namespace, so a
//!   container on the host network gets a read-only bind of the host's /sys
//!   (as runc does for rootless containers);
//! - mknod is impossible in a user namespace, so each device the spec asks for
//!   is created by ward on the host side (in its per-container dir) and bind
//!   mounted to its path, owned by the container's mapped ids. (With the
//!   usual /dev tmpfs, devfs.rs builds /dev on the host side first and the
//!   devices under it are nodes there; only the others reach this.)

use std::path::Path;

use oci_spec::runtime::{LinuxNamespaceType, MountBuilder, Spec};

use std::os::fd::{AsFd, OwnedFd};

use libcontainer::process::HOST_TREE;

use super::userns::{self, IdRange, Idmapped, UsernsError};
use crate::error::{io_err, Result, WardError};
use crate::policy::idmap::{self, BindPlan};
use crate::policy::Adaptation;

pub fn adapt(spec: &mut Spec, ward_dir: &Path, range: &IdRange) -> Result<()> {
    let host_net = spec
        .linux()
        .as_ref()
        .and_then(|l| l.namespaces().as_ref())
        .is_none_or(|ns| !ns.iter().any(|n| n.typ() == LinuxNamespaceType::Network));
    let mut mounts = spec.mounts().clone().unwrap_or_default();
    if host_net {
        for m in mounts.iter_mut() {
            if m.typ().as_deref() == Some("sysfs") {
                m.set_typ(Some("bind".into()))
                    .set_source(Some("/sys".into()))
                    .set_options(Some(
                        ["rbind", "nosuid", "noexec", "nodev", "ro"]
                            .map(String::from)
                            .to_vec(),
                    ));
            }
        }
    }
    let mut linux = spec.linux().clone().unwrap_or_default();
    let devices = linux.devices().clone().unwrap_or_default();
    if !devices.is_empty() {
        let dir = ward_dir.join("devices");
        std::fs::create_dir_all(&dir).map_err(io_err(format!("creating {}", dir.display())))?;
        for (i, d) in devices.iter().enumerate() {
            // /dev/ptmx is always the symlink to the container's own devpts
            // (runc skips it too; Docker's --privileged lists it).
            if d.path() == Path::new("/dev/ptmx") {
                continue;
            }
            let node = dir.join(i.to_string());
            super::devfs::make_device_node(&node, &format!("linux.devices[{i}]"), d, range)?;
            let m = MountBuilder::default()
                .destination(d.path().clone())
                .typ("bind")
                .source(node)
                .options(vec!["bind".to_string()])
                .build()
                .map_err(|e| WardError::Invalid(format!("linux.devices[{i}]: {e}")))?;
            mounts.push(m);
        }
        linux.set_devices(None);
        spec.set_linux(Some(linux));
    }
    spec.set_mounts(Some(mounts));
    Ok(())
}

/// Bind-mounts each bind source of the spec at `<dir>/b<N>` (host side, before
/// the container exists) and points the mount there. libcontainer opens bind
/// sources from inside the container's user namespace, where the path to them
/// may not be traversable; the staging dir is (mode 0711 parents).
///
/// Each staged bind is id-mapped through ward's user namespace (`ward`, the
/// container's) or the mount's own `uidMappings`/`gidMappings`, so container
/// uid N reads and writes it as host uid N, as under runc. What
/// `policy::idmap::bind_plan` or the kernel keeps at host ids is returned as
/// adaptations for the posture report.
///
/// With `ward` None (the spec brings its own user namespace, or none) the binds
/// the spec asks to id-map are staged, and `idmap` without mappings of its
/// own uses the spec's `linux.uidMappings`/`gidMappings` (or the namespace it
/// joins); with `stage_plain` plain binds are staged too, at host ids.
///
/// `ward` is ward's user namespace and the id-mapped root it mounted. A bind
/// whose source lies in `rootfs` (the spec's spelling) names the container's
/// own mount tree as built so far (runc's mount order), which staging would
/// freeze: it is left to libcontainer, pointed at ward's mapped root
/// (`policy::idmap::bind_at_its_turn`).
pub fn stage_binds(
    spec: &mut Spec,
    dir: &Path,
    bundle_dir: &Path,
    devices_dir: &Path,
    ward: Option<(&userns::MappingNs, &Path)>,
    rootfs: &Path,
    stage_plain: bool,
) -> Result<Vec<Adaptation>> {
    let ns = ward.map(|(lazy, _)| lazy);
    let Some(mut mounts) = spec.mounts().clone() else {
        return Ok(Vec::new());
    };
    let linux = spec.linux().clone().unwrap_or_default();
    let spec_maps = (
        linux.uid_mappings().clone().unwrap_or_default(),
        linux.gid_mappings().clone().unwrap_or_default(),
    );
    let spec_userns_path = linux
        .namespaces()
        .iter()
        .flatten()
        .find(|n| n.typ() == LinuxNamespaceType::User)
        .and_then(|n| n.path().clone());
    let mut adaptations = Vec::new();
    for (i, m) in mounts.iter_mut().enumerate() {
        // Only ward marks a source to be opened host-side (below).
        if let Some(opts) = m.options().clone() {
            let kept = opts.into_iter().filter(|o| !o.starts_with(HOST_TREE));
            m.set_options(Some(kept.collect()));
        }
        if !idmap::is_bind(m) {
            continue;
        }
        let Some(src) = m.source().clone() else {
            continue;
        };
        let src = if src.is_absolute() {
            src
        } else {
            bundle_dir.join(src)
        };
        if idmap::bind_at_its_turn(m, &src, rootfs, ns.is_some()) {
            // Under ward's user namespace the tree is ward's id-mapped copy.
            if let (Some((_, mapped)), Ok(rest)) = (ward, src.strip_prefix(rootfs)) {
                m.set_source(Some(mapped.join(rest)));
            }
            continue;
        }
        if ns.is_none() && !idmap::spec_idmap(m) && (!stage_plain || src.starts_with(rootfs)) {
            continue;
        }
        let meta = match std::fs::metadata(&src) {
            Ok(m) => m,
            // libcontainer reports a missing source with its own error.
            Err(_) => continue,
        };
        let plan = idmap::bind_plan(i, m, &src, src.starts_with(devices_dir), ns.is_some())?;
        let staged = dir.join(format!("b{i}"));
        if meta.is_dir() {
            std::fs::create_dir(&staged)
        } else {
            std::fs::File::create(&staged).map(|_| ())
        }
        .map_err(io_err(format!(
            "staging mounts[{i}] source {}",
            src.display()
        )))?;
        let what = format!(
            "mounts[{i}] {}: bind of {}",
            m.destination().display(),
            src.display()
        );
        let plain = match plan {
            BindPlan::Plain { recursive, why } => {
                if let Some(why) = why {
                    adaptations.push(Adaptation {
                        what: format!("{what} not id-mapped"),
                        why,
                    });
                }
                Some(recursive)
            }
            BindPlan::Idmap {
                shape,
                maps,
                required,
            } => {
                let field = format!("mounts[{i}]");
                let own = match (&maps, ns, &spec_userns_path) {
                    (Some((u, g)), _, _) => Some(userns::userns_fd_for(&field, u, g)?),
                    (None, Some(_), _) => None,
                    // A user namespace the spec joins by path: its mapping.
                    (None, None, Some(p)) => {
                        let f = std::fs::File::open(p).map_err(io_err(format!(
                            "{field}: opening the spec's user namespace {} for its idmap",
                            p.display()
                        )))?;
                        Some(OwnedFd::from(f))
                    }
                    (None, None, None) if spec_maps.0.is_empty() || spec_maps.1.is_empty() => {
                        return Err(WardError::Invalid(format!(
                            "{field}: idmap without uidMappings/gidMappings, and the spec's \
                             user namespace has no linux.uidMappings/gidMappings to take them from"
                        )))
                    }
                    (None, None, None) => {
                        Some(userns::userns_fd_for(&field, &spec_maps.0, &spec_maps.1)?)
                    }
                };
                let ns = match (own.as_ref(), ns) {
                    (Some(f), _) => f.as_fd(),
                    (None, Some(lazy)) => lazy.get()?,
                    (None, None) => continue,
                };
                match userns::idmapped_bind(&src, &staged, ns, shape) {
                    Ok(Idmapped::All) => None,
                    Ok(Idmapped::Partly(kept)) => {
                        let list: Vec<String> = kept
                            .iter()
                            .map(|(p, why)| format!("{} ({why})", p.display()))
                            .collect();
                        adaptations.push(Adaptation {
                            what: format!("{what}: submounts not id-mapped"),
                            why: format!(
                                "the kernel refused to id-map {}; they keep host ids",
                                list.join(", ")
                            ),
                        });
                        None
                    }
                    Err(UsernsError::NotIdmappable { source, .. }) if !required => {
                        adaptations.push(Adaptation {
                            what: format!("{what} not id-mapped"),
                            why: idmap::refused_reason(&source),
                        });
                        Some(shape.recursive)
                    }
                    Err(UsernsError::NotIdmappable { source, .. }) => {
                        return Err(WardError::Invalid(format!(
                            "mounts[{i}] {}: the spec asks for an id-mapped mount, but the \
                             kernel refused to id-map {} ({source})",
                            m.destination().display(),
                            src.display()
                        )))
                    }
                    Err(e) => return Err(e.into()),
                }
            }
        };
        if let Some(recursive) = plain {
            plain_bind(&src, &staged, recursive).map_err(|e| WardError::Sys {
                context: format!("staging mounts[{i}] source {}", src.display()),
                source: e,
            })?;
        }
        // The mapping is applied: libcontainer binds the staged mount as is.
        // A FUSE source is cloned by libcontainer's main process, not looked
        // up by the init (policy::idmap::source_opened_host_side).
        let host_tree = idmap::source_opened_host_side(&src);
        if m.options().is_some() || host_tree {
            let mut kept: Vec<String> = m
                .options()
                .clone()
                .unwrap_or_default()
                .into_iter()
                .filter(|o| o != "idmap" && o != "ridmap")
                .collect();
            if host_tree {
                let kind = if meta.is_dir() { "dir" } else { "file" };
                kept.push(format!("{HOST_TREE}={kind}"));
            }
            m.set_options(Some(kept));
        }
        m.set_uid_mappings(None);
        m.set_gid_mappings(None);
        m.set_source(Some(staged));
    }
    spec.set_mounts(Some(mounts));
    Ok(adaptations)
}

/// A private bind of `src` at `target`, with host ids.
fn plain_bind(src: &Path, target: &Path, recursive: bool) -> nix::Result<()> {
    use nix::mount::{mount, MsFlags};
    let rec = if recursive {
        MsFlags::MS_REC
    } else {
        MsFlags::empty()
    };
    mount(
        Some(src),
        target,
        None::<&str>,
        MsFlags::MS_BIND | rec,
        None::<&str>,
    )?;
    mount(
        None::<&str>,
        target,
        None::<&str>,
        MsFlags::MS_PRIVATE | MsFlags::MS_REC,
        None::<&str>,
    )
}

/// How a spec that joins other namespaces by path relates to user namespaces.
pub enum Joined {
    /// Joins nothing by path.
    Nothing,
    /// The joined namespaces belong to another container's user namespace
    /// (a pod sandbox's): join that one too, with its id range.
    Userns(IdRange),
    /// They belong to the host's user namespace (or ward cannot name theirs):
    /// a private user namespace could not join them.
    Host(String),
}

/// NS_GET_USERNS: the user namespace owning a namespace fd.
const NS_GET_USERNS: libc::c_ulong = 0xb701;

pub fn joined(spec: &Spec) -> Joined {
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    use std::os::unix::fs::MetadataExt;
    let paths: Vec<(LinuxNamespaceType, std::path::PathBuf)> = spec
        .linux()
        .as_ref()
        .and_then(|l| l.namespaces().clone())
        .unwrap_or_default()
        .into_iter()
        .filter(|n| n.typ() != LinuxNamespaceType::User)
        .filter_map(|n| n.path().clone().map(|p| (n.typ(), p)))
        .collect();
    if paths.is_empty() {
        return Joined::Nothing;
    }
    let own = std::fs::metadata("/proc/self/ns/user")
        .map(|m| (m.dev(), m.ino()))
        .ok();
    let mut owner_seen = None;
    for (typ, p) in &paths {
        let Ok(f) = std::fs::File::open(p) else {
            // libcontainer reports an unopenable path itself.
            return Joined::Host(format!("cannot open {typ:?} namespace {}", p.display()));
        };
        // SAFETY: ioctl on a valid namespace fd; returns a new fd or -1.
        let fd = unsafe { libc::ioctl(f.as_raw_fd(), NS_GET_USERNS) };
        if fd < 0 {
            return Joined::Host(format!("cannot find the owner of {}", p.display()));
        }
        // SAFETY: fd was just returned by the kernel and is ours.
        let owner = std::fs::File::from(unsafe { OwnedFd::from_raw_fd(fd) });
        let Ok(m) = owner.metadata() else {
            return Joined::Host(format!("cannot stat the owner of {}", p.display()));
        };
        let id = (m.dev(), m.ino());
        if Some(id) == own {
            return Joined::Host(format!(
                "joins {typ:?} namespace {} of the host's user namespace",
                p.display()
            ));
        }
        owner_seen = Some((id, p.clone()));
    }
    let Some((owner_id, path)) = owner_seen else {
        return Joined::Nothing;
    };
    // Name the owner through the process whose namespace was given.
    let pid_dir = path
        .parent()
        .filter(|d| d.ends_with("ns"))
        .and_then(|d| d.parent());
    let Some(pid_dir) = pid_dir.filter(|d| d.starts_with("/proc")) else {
        return Joined::Host(format!(
            "cannot name the user namespace of {}",
            path.display()
        ));
    };
    let user = pid_dir.join("ns/user");
    let same = std::fs::metadata(&user).map(|m| (m.dev(), m.ino())).ok() == Some(owner_id);
    let first = |f: &str| -> Option<(u32, u32, u32)> {
        let text = std::fs::read_to_string(pid_dir.join(f)).ok()?;
        let v: Vec<u32> = text
            .split_whitespace()
            .take(3)
            .filter_map(|n| n.parse().ok())
            .collect();
        (v.len() == 3 && v[0] == 0).then(|| (v[0], v[1], v[2]))
    };
    match (same, first("uid_map"), first("gid_map")) {
        (true, Some((_, hu, size)), Some((_, hg, _))) => Joined::Userns(IdRange {
            slot: u32::MAX,
            host_uid: hu,
            host_gid: hg,
            size,
            join: Some(user),
        }),
        _ => Joined::Host(format!(
            "cannot use the user namespace of {}",
            path.display()
        )),
    }
}

/// Adds the joined user namespace to the spec (by path, no mappings).
pub fn join_userns(spec: &mut Spec, path: &Path) {
    let mut linux = spec.linux().clone().unwrap_or_default();
    let mut ns = linux.namespaces().clone().unwrap_or_default();
    if let Ok(n) = oci_spec::runtime::LinuxNamespaceBuilder::default()
        .typ(LinuxNamespaceType::User)
        .path(path.to_path_buf())
        .build()
    {
        ns.push(n);
    }
    linux.set_namespaces(Some(ns));
    spec.set_linux(Some(linux));
}
