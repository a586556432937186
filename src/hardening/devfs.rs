//! The container's /dev, built on the host side when the container runs in
//! ward's user namespace.
//!
//! Inside that namespace no device node can be made (mknod needs CAP_MKNOD
//! in the initial namespace) and a tmpfs mounted there refuses to open any
//! (its superblock is owned by the container's namespace), so libcontainer
//! bound each device from the host's /dev: with the spec's /dev tmpfs, seven
//! mounts per container, each a write to the mount table under the kernel's
//! global namespace lock, and seven struct mounts kept per idle container.
//! ward makes the spec's /dev tmpfs itself, as a detached mount (fsopen,
//! fsmount: never in the host's mount table), makes the nodes in it owned by
//! the container's mapped ids, and libcontainer's main process hands that
//! mount to the init, which attaches it as /dev. libcontainer finds the
//! default devices in place (rootfs/device.rs leaves an existing node of the
//! same device alone). Detached, it is no host mount the container's mount
//! namespace copies, ward unmounts after create and whose mount point it
//! removes: each of those waited for an expedited RCU grace period, which
//! parallel creates queue on.

use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use libcontainer::rootfs::utils::{default_devices, parse_mount};
use nix::sys::stat::{makedev, Mode, SFlag};
use oci_spec::runtime::{LinuxDevice, LinuxDeviceType, Mount, MountBuilder, Spec};

use super::userns::IdRange;
use crate::error::{Result, WardError};

/// The host-built /dev of one container: the bind that replaces the spec's
/// /dev tmpfs once the other mounts are staged, and the detached tmpfs it
/// names (held until the init has attached it).
pub struct HostDev {
    bind: Mount,
    _tree: OwnedFd,
}

/// Makes the spec's /dev tmpfs as a detached mount, owned by the container's
/// root, with the default devices and the spec's devices under /dev, which
/// leave `linux.devices`. None (nothing done) when the spec's /dev is not a
/// writable tmpfs (`policy::idmap::host_built_dev`): libcontainer then binds
/// the devices as before.
pub fn build(spec: &mut Spec, range: &IdRange) -> Result<Option<HostDev>> {
    let Some(m) = crate::policy::idmap::host_built_dev(spec) else {
        return Ok(None);
    };
    let cfg = parse_mount(&m).map_err(|e| WardError::Invalid(format!("/dev mount: {e}")))?;
    let data = owner_options(&cfg.data, range);
    let tree = detached_tmpfs(&data).map_err(|e| WardError::Sys {
        context: "making the container's /dev tmpfs".into(),
        source: e,
    })?;
    let dir = DevDir(tree.as_raw_fd());

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
        make_node(dir, what, d, range)?;
    }
    linux.set_devices((!elsewhere.is_empty()).then_some(elsewhere));
    spec.set_linux(Some(linux));

    // The main process hands this very mount to the init (WARD-PATCH:
    // idmap_mount.rs, `HOST_TREE=detached`): the source names the fd here.
    let mut options = vec![
        "bind".to_string(),
        format!("{}=detached", libcontainer::process::HOST_TREE),
    ];
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
        .source(format!("/proc/self/fd/{}", tree.as_raw_fd()))
        .options(options)
        .build()
        .map_err(|e| WardError::Invalid(format!("/dev mount: {e}")))?;
    Ok(Some(HostDev { bind, _tree: tree }))
}

/// A tmpfs mounted nowhere, with `data` as its options.
fn detached_tmpfs(data: &[String]) -> nix::Result<OwnedFd> {
    use std::ffi::CString;
    use std::os::fd::FromRawFd;
    let c = |s: &str| CString::new(s).map_err(|_| nix::errno::Errno::EINVAL);
    let fstype = c("tmpfs")?;
    // SAFETY: valid C string; the returned fd is owned below.
    let fs = unsafe { libc::syscall(libc::SYS_fsopen, fstype.as_ptr(), libc::FSOPEN_CLOEXEC) };
    let fs = nix::errno::Errno::result(fs)?;
    // SAFETY: fsopen just returned this fd; nothing else owns it.
    let fs = unsafe { OwnedFd::from_raw_fd(fs as i32) };
    let config = |cmd: libc::c_uint, key: Option<&CString>, val: Option<&CString>| {
        // SAFETY: fs is a valid fs context fd; key/val are valid C strings or null.
        let r = unsafe {
            libc::syscall(
                libc::SYS_fsconfig,
                fs.as_raw_fd(),
                cmd,
                key.map_or(std::ptr::null(), |k| k.as_ptr()),
                val.map_or(std::ptr::null(), |v| v.as_ptr()),
                0,
            )
        };
        nix::errno::Errno::result(r).map(drop)
    };
    let source = (c("source")?, c("tmpfs")?);
    config(libc::FSCONFIG_SET_STRING, Some(&source.0), Some(&source.1))?;
    for o in data.iter().filter(|o| !o.is_empty()) {
        match o.split_once('=') {
            Some((k, v)) => config(libc::FSCONFIG_SET_STRING, Some(&c(k)?), Some(&c(v)?))?,
            None => config(libc::FSCONFIG_SET_FLAG, Some(&c(o)?), None)?,
        }
    }
    config(libc::FSCONFIG_CMD_CREATE, None, None)?;
    // SAFETY: fs is a created fs context.
    let m = unsafe { libc::syscall(libc::SYS_fsmount, fs.as_raw_fd(), libc::FSMOUNT_CLOEXEC, 0) };
    let m = nix::errno::Errno::result(m)?;
    // SAFETY: fsmount just returned this fd; nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(m as i32) })
}

/// The root of the detached /dev tmpfs, for the *at calls below.
#[derive(Clone, Copy)]
struct DevDir(std::os::fd::RawFd);

impl HostDev {
    /// Points the spec's /dev at the host-built tmpfs. Called after the binds
    /// are staged: this one needs no id-mapping (its files are the
    /// container's already) and no staging.
    pub fn apply(&self, spec: &mut Spec) {
        let mut mounts = spec.mounts().clone().unwrap_or_default();
        if let Some(m) = mounts
            .iter_mut()
            .rev()
            .find(|m| crate::policy::idmap::is_dev_tmpfs(m))
        {
            *m = self.bind.clone();
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

fn make_node(dir: DevDir, what: &str, d: &LinuxDevice, range: &IdRange) -> Result<()> {
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
    let mut p = PathBuf::new();
    for c in rel.parent().into_iter().flat_map(Path::components) {
        p.push(c);
        match nix::sys::stat::mkdirat(Some(dir.0), &p, Mode::from_bits_truncate(0o755)) {
            Ok(()) => chown_at(dir, &p, range.host_uid, range.host_gid)?,
            Err(nix::errno::Errno::EEXIST) => {}
            Err(source) => {
                return Err(WardError::Sys {
                    context: format!("creating /dev/{}", p.display()),
                    source,
                })
            }
        }
    }
    make_device_node_at(dir, rel, what, d, range)
}

fn chown_at(dir: DevDir, rel: &Path, uid: u32, gid: u32) -> Result<()> {
    nix::unistd::fchownat(
        Some(dir.0),
        rel,
        Some(uid.into()),
        Some(gid.into()),
        nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
    )
    .map_err(|source| WardError::Sys {
        context: format!("chown /dev/{}", rel.display()),
        source,
    })
}

/// [`make_device_node`] at `rel` in the detached /dev.
fn make_device_node_at(
    dir: DevDir,
    rel: &Path,
    what: &str,
    d: &LinuxDevice,
    range: &IdRange,
) -> Result<()> {
    let (kind, mode) = node_kind(what, d)?;
    nix::sys::stat::mknodat(
        Some(dir.0),
        rel,
        kind,
        Mode::from_bits_truncate(mode),
        makedev(d.major() as u64, d.minor() as u64),
    )
    .map_err(|source| WardError::Sys {
        context: format!("{what} {}", d.path().display()),
        source,
    })?;
    // mknod honours the umask; the spec's mode is what the container sees.
    nix::sys::stat::fchmodat(
        Some(dir.0),
        rel,
        Mode::from_bits_truncate(mode),
        nix::sys::stat::FchmodatFlags::FollowSymlink,
    )
    .map_err(|source| WardError::Sys {
        context: format!("chmod /dev/{}", rel.display()),
        source,
    })?;
    chown_at(
        dir,
        rel,
        range.host_uid + d.uid().unwrap_or(0),
        range.host_gid + d.gid().unwrap_or(0),
    )
}

fn node_kind(what: &str, d: &LinuxDevice) -> Result<(SFlag, u32)> {
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
    Ok((kind, d.file_mode().unwrap_or(0o666)))
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
    let (kind, mode) = node_kind(what, d)?;
    nix::sys::stat::mknod(
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
        .map_err(crate::error::io_err(format!("chmod {}", node.display())))?;
    let uid = range.host_uid + d.uid().unwrap_or(0);
    let gid = range.host_gid + d.gid().unwrap_or(0);
    nix::unistd::chown(node, Some(uid.into()), Some(gid.into())).map_err(|source| WardError::Sys {
        context: format!("chown {}", node.display()),
        source,
    })
}
