//! Making an ordinary spec work inside the user namespace ward adds:
//! - sysfs cannot be mounted without owning the network namespace, so a
//!   container on the host network gets a read-only bind of the host's /sys
//!   (as runc does for rootless containers);
//! - mknod is impossible in a user namespace, so each device the spec asks for
//!   is created by ward on the host side (in its per-container dir) and bind
//!   mounted to its path, owned by the container's mapped ids.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use nix::sys::stat::{makedev, mknod, Mode, SFlag};
use oci_spec::runtime::{LinuxDeviceType, LinuxNamespaceType, MountBuilder, Spec};

use super::userns::IdRange;
use crate::error::{io_err, Result, WardError};

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
            let kind = match d.typ() {
                LinuxDeviceType::C | LinuxDeviceType::U => SFlag::S_IFCHR,
                LinuxDeviceType::B => SFlag::S_IFBLK,
                LinuxDeviceType::P => SFlag::S_IFIFO,
                other => {
                    return Err(WardError::Invalid(format!(
                        "linux.devices[{i}]: type {other:?} cannot be created"
                    )))
                }
            };
            let node = dir.join(i.to_string());
            let mode = d.file_mode().unwrap_or(0o666);
            mknod(
                &node,
                kind,
                Mode::from_bits_truncate(mode),
                makedev(d.major() as u64, d.minor() as u64),
            )
            .map_err(|e| WardError::Sys {
                context: format!("linux.devices[{i}] {}", d.path().display()),
                source: e,
            })?;
            // mknod honours the umask; the spec's mode is what the container sees.
            std::fs::set_permissions(&node, std::fs::Permissions::from_mode(mode))
                .map_err(io_err(format!("chmod {}", node.display())))?;
            let uid = range.host_uid + d.uid().unwrap_or(0);
            let gid = range.host_gid + d.gid().unwrap_or(0);
            nix::unistd::chown(&node, Some(uid.into()), Some(gid.into())).map_err(|e| {
                WardError::Sys {
                    context: format!("chown {}", node.display()),
                    source: e,
                }
            })?;
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
