//! The container's /dev, built on the host side when the container runs in
//! ward's user namespace.
//!
//! Inside that namespace no device node can be made (mknod needs CAP_MKNOD
//! in the initial namespace) and a tmpfs mounted there refuses to open any
//! (its superblock is owned by the container's namespace), so libcontainer
//! bound each device from the host's /dev: with the spec's /dev tmpfs, seven
//! mounts per container, each a write to the mount table under the kernel's
//! global namespace lock, and seven struct mounts kept per idle container.
//! ward mounts the spec's /dev tmpfs itself, from the host side, makes the
//! nodes in it owned by the container's mapped ids, and the container binds
//! that one tmpfs as /dev. libcontainer finds the default devices in place
//! (rootfs/device.rs leaves an existing node of the same device alone).

use std::path::{Path, PathBuf};

use libcontainer::rootfs::utils::{default_devices, parse_mount};
use nix::mount::MsFlags;
use nix::sys::stat::{makedev, mknod, Mode, SFlag};
use oci_spec::runtime::{LinuxDevice, LinuxDeviceType, Mount, MountBuilder, Spec};

use super::userns::IdRange;
use crate::error::{io_err, Result, WardError};

/// The host-built /dev of one container: the bind that replaces the spec's
/// /dev tmpfs once the other mounts are staged.
pub struct HostDev {
    bind: Mount,
}

/// Mounts the spec's /dev tmpfs at `<staging>/dev`, owned by the container's
/// root, and makes there the default devices and the spec's devices under
/// /dev, which leave `linux.devices`. None (nothing done) when the spec's
/// /dev is not a writable tmpfs (`policy::idmap::host_built_dev`):
/// libcontainer then binds the devices as before.
pub fn build(spec: &mut Spec, staging: &Path, range: &IdRange) -> Result<Option<HostDev>> {
    let Some(m) = crate::policy::idmap::host_built_dev(spec) else {
        return Ok(None);
    };
    let cfg = parse_mount(&m).map_err(|e| WardError::Invalid(format!("/dev mount: {e}")))?;
    let dir = staging.join("dev");
    std::fs::create_dir(&dir).map_err(io_err(format!("creating {}", dir.display())))?;
    let data = owner_options(&cfg.data, range);
    nix::mount::mount(
        Some("tmpfs"),
        &dir,
        Some("tmpfs"),
        cfg.flags & !(MsFlags::MS_REC | MsFlags::MS_BIND),
        Some(data.join(",").as_str()),
    )
    .map_err(|e| WardError::Sys {
        context: format!("mounting the container's /dev at {}", dir.display()),
        source: e,
    })?;

    let mut linux = spec.linux().clone().unwrap_or_default();
    let mut elsewhere = Vec::new();
    let mut here = Vec::new();
    for (i, d) in linux
        .devices()
        .clone()
        .unwrap_or_default()
        .into_iter()
        .enumerate()
    {
        if under_dev(d.path()) {
            here.push((format!("linux.devices[{i}]"), d));
        } else {
            elsewhere.push(d);
        }
    }
    let defaults = default_devices()
        .into_iter()
        .filter(|d| !here.iter().any(|(_, h)| h.path() == d.path()))
        .map(|d| ("default device".to_string(), d))
        .collect::<Vec<_>>();
    for (what, d) in defaults.iter().chain(&here) {
        make_node(&dir, what, d, range)?;
    }
    linux.set_devices((!elsewhere.is_empty()).then_some(elsewhere));
    spec.set_linux(Some(linux));

    let mut options = vec!["bind".to_string()];
    options.extend(
        m.options()
            .iter()
            .flatten()
            .filter(|o| matches!(o.as_str(), "nosuid" | "noexec" | "nodev"))
            .cloned(),
    );
    let bind = MountBuilder::default()
        .destination(PathBuf::from("/dev"))
        .typ("bind")
        .source(dir)
        .options(options)
        .build()
        .map_err(|e| WardError::Invalid(format!("/dev mount: {e}")))?;
    Ok(Some(HostDev { bind }))
}

impl HostDev {
    /// Points the spec's /dev at the host-built tmpfs. Called after the binds
    /// are staged: this one needs no id-mapping (its files are the
    /// container's already) and no staging.
    pub fn apply(self, spec: &mut Spec) {
        let mut mounts = spec.mounts().clone().unwrap_or_default();
        if let Some(m) = mounts
            .iter_mut()
            .rev()
            .find(|m| crate::policy::idmap::is_dev_tmpfs(m))
        {
            *m = self.bind;
        }
        spec.set_mounts(Some(mounts));
    }
}

/// The tmpfs root belongs to the container's root (or the spec's uid=/gid=,
/// mapped): tmpfs reads these options in the mounter's, the host's, ids.
fn owner_options(data: &[String], range: &IdRange) -> Vec<String> {
    let mut out = Vec::with_capacity(data.len() + 2);
    let (mut uid, mut gid) = (false, false);
    for o in data {
        if let Some(v) = o.strip_prefix("uid=").and_then(|v| v.parse::<u32>().ok()) {
            out.push(format!("uid={}", range.host_uid + v));
            uid = true;
        } else if let Some(v) = o.strip_prefix("gid=").and_then(|v| v.parse::<u32>().ok()) {
            out.push(format!("gid={}", range.host_gid + v));
            gid = true;
        } else {
            out.push(o.clone());
        }
    }
    if !uid {
        out.push(format!("uid={}", range.host_uid));
    }
    if !gid {
        out.push(format!("gid={}", range.host_gid));
    }
    out
}

fn under_dev(p: &Path) -> bool {
    // /dev/ptmx is always the symlink to the container's own devpts.
    p.starts_with("/dev") && p != Path::new("/dev") && p != Path::new("/dev/ptmx")
}

fn make_node(dir: &Path, what: &str, d: &LinuxDevice, range: &IdRange) -> Result<()> {
    let rel = d.path().strip_prefix("/dev").map_err(|_| {
        WardError::Invalid(format!("{what}: {} is not under /dev", d.path().display()))
    })?;
    if rel
        .components()
        .any(|c| !matches!(c, std::path::Component::Normal(_)))
    {
        return Err(WardError::Invalid(format!(
            "{what}: device path {} must not contain '..'",
            d.path().display()
        )));
    }
    // Directories on the way (/dev/net/tun) belong to the container's root.
    let mut p = dir.to_path_buf();
    for c in rel.parent().into_iter().flat_map(Path::components) {
        p.push(c);
        match std::fs::create_dir(&p) {
            Ok(()) => {
                nix::unistd::chown(&p, Some(range.host_uid.into()), Some(range.host_gid.into()))
                    .map_err(|source| WardError::Sys {
                        context: format!("chown {}", p.display()),
                        source,
                    })?
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(io_err(format!("creating {}", p.display()))(e)),
        }
    }
    make_device_node(&dir.join(rel), what, d, range)
}

/// Makes device `d` (named `what` in errors) at `node` on the host side,
/// with the spec's mode and owned by its mapped ids: what ward creates for a
/// container in its user namespace, which cannot mknod.
pub(crate) fn make_device_node(
    node: &Path,
    what: &str,
    d: &LinuxDevice,
    range: &IdRange,
) -> Result<()> {
    let kind = match d.typ() {
        LinuxDeviceType::C | LinuxDeviceType::U => SFlag::S_IFCHR,
        LinuxDeviceType::B => SFlag::S_IFBLK,
        LinuxDeviceType::P => SFlag::S_IFIFO,
        other => {
            return Err(WardError::Invalid(format!(
                "{what}: type {other:?} cannot be created"
            )))
        }
    };
    let mode = d.file_mode().unwrap_or(0o666);
    mknod(
        node,
        kind,
        Mode::from_bits_truncate(mode),
        makedev(d.major() as u64, d.minor() as u64),
    )
    .map_err(|source| WardError::Sys {
        context: format!("{what} {}", d.path().display()),
        source,
    })?;
    // mknod honours the umask; the spec's mode is what the container sees.
    std::fs::set_permissions(node, std::os::unix::fs::PermissionsExt::from_mode(mode))
        .map_err(io_err(format!("chmod {}", node.display())))?;
    let uid = range.host_uid + d.uid().unwrap_or(0);
    let gid = range.host_gid + d.gid().unwrap_or(0);
    nix::unistd::chown(node, Some(uid.into()), Some(gid.into())).map_err(|source| WardError::Sys {
        context: format!("chown {}", node.display()),
        source,
    })
}
