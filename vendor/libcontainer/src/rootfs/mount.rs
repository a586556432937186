use std::fs::{Permissions, canonicalize};
use std::os::unix::fs::OpenOptionsExt;
use std::io::{BufRead, BufReader, ErrorKind};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;
#[cfg(feature = "v1")]
use std::{borrow::Cow, collections::HashMap};
use std::{fs, mem};

use libcgroups::common::CgroupSetup::{Hybrid, Legacy, Unified};
#[cfg(feature = "v1")]
use libcgroups::common::DEFAULT_CGROUP_ROOT;
use nix::NixPath;
use nix::errno::Errno;
use nix::mount::MsFlags;
use nix::sys::statfs::{PROC_SUPER_MAGIC, statfs};
use oci_spec::runtime::{Mount as SpecMount, MountBuilder as SpecMountBuilder};
use pathrs::Root;
use pathrs::flags::OpenFlags;
#[cfg(feature = "v1")]
use procfs::process::Process;
use procfs::process::{MountInfo, MountOptFields};
use procfs::{FromRead, ProcessCGroups};

#[cfg(feature = "v1")]
use super::symlink::Symlink;
use super::symlink::SymlinkError;
use super::utils::{MountOptionConfig, parse_mount};
use crate::rootfs::utils::is_bind;
use crate::syscall::syscall::create_syscall;
use crate::syscall::{Syscall, SyscallError, linux};
use crate::utils::{PathBufExt, retry};

const MAX_EBUSY_MOUNT_ATTEMPTS: u32 = 3;
// runc has a retry interval of 100ms. We are following this.
// https://github.com/opencontainers/runc/blob/v1.3.0/libcontainer/rootfs_linux.go#L1235
#[cfg(not(test))]
const MOUNT_RETRY_DELAY_MS: u64 = 100;
// In tests, there is no need to delay, so set it to 0ms.
/// ward patch: a bind source's canonical path and whether it is a directory,
/// from one path walk (open O_PATH, then the kernel's name for the fd).
/// `canonicalize` (glibc realpath) readlinks every prefix, one walk each:
/// for /sys/fs/cgroup/<ctrl>/<path>/<id> that is five walks through
/// cgroupfs, each taking the hierarchy's kernfs rwsem per component, which
/// parallel creates queue on behind each other's cgroup mkdir and rmdir.
fn resolve_source(source: &Path) -> std::io::Result<(PathBuf, bool)> {
    let f = fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_PATH)
        .open(source)?;
    let meta = f.metadata()?;
    let fd = std::os::fd::AsRawFd::as_raw_fd(&f);
    // The name is a path only if it still leads to this file (not a deleted
    // file's "... (deleted)", nor a name outside this mount namespace).
    let same = |p: &Path| {
        fs::metadata(p).is_ok_and(|m| m.dev() == meta.dev() && m.ino() == meta.ino())
    };
    match fs::read_link(format!("/proc/self/fd/{fd}")) {
        Ok(p) if p.is_absolute() && same(&p) => Ok((p, meta.is_dir())),
        _ => Ok((canonicalize(source)?, meta.is_dir())),
    }
}

#[cfg(test)]
const MOUNT_RETRY_DELAY_MS: u64 = 0;

/// ward patch: the host's cgroup v1 root and the container's cgroup tmpfs,
/// each opened once for every hierarchy's bind (Mount::bind_emulated_subsystem).
struct EmulatedDirs {
    host: OwnedFd,
    container: OwnedFd,
}

impl EmulatedDirs {
    fn open(container_cgroup_root: &Path) -> Result<Self> {
        use nix::fcntl::{OFlag, open};
        let flags = OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
        let mode = nix::sys::stat::Mode::empty();
        let owned = |fd| {
            // SAFETY: open just returned this fd; nothing else owns it.
            unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) }
        };
        Ok(EmulatedDirs {
            host: owned(open(DEFAULT_CGROUP_ROOT, flags, mode).map_err(SyscallError::Nix)?),
            container: owned(
                open(container_cgroup_root, flags, mode).map_err(SyscallError::Nix)?,
            ),
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum MountError {
    #[error("no source in mount spec")]
    NoSource,
    #[error("io error")]
    Io(#[from] std::io::Error),
    #[error("syscall")]
    Syscall(#[from] crate::syscall::SyscallError),
    #[error("nix error")]
    Nix(#[from] nix::Error),
    #[error("failed to build oci spec")]
    SpecBuild(#[from] oci_spec::OciSpecError),
    #[error(transparent)]
    Other(Box<dyn std::error::Error + Send + Sync>),
    #[error("{0}")]
    Custom(String),
    #[error("symlink")]
    Symlink(#[from] SymlinkError),
    #[error("procfs failed")]
    Procfs(#[from] procfs::ProcError),
    #[error("unknown mount option: {0}")]
    UnsupportedMountOption(String),
    #[error(transparent)]
    Pathrs(#[from] pathrs::error::Error),
}

type Result<T> = std::result::Result<T, MountError>;

pub trait MountInfoProvider {
    fn mountinfo(&self) -> Result<Vec<MountInfo>>;
}

/// Default provider that reads mountinfo from /proc via procfs.
pub struct ProcMountInfoProvider;

impl ProcMountInfoProvider {
    pub fn new() -> Self {
        ProcMountInfoProvider
    }
}

impl MountInfoProvider for ProcMountInfoProvider {
    fn mountinfo(&self) -> Result<Vec<MountInfo>> {
        // ward patch: by path, not through a pathrs procfs handle, which is
        // a private procfs made for this process (a new proc superblock)
        // whose detached mount is torn down when the process execs or exits,
        // waiting for an expedited RCU grace period.
        let reader = BufReader::new(std::fs::File::open("/proc/self/mountinfo")?);

        let mount_infos: Vec<MountInfo> = reader
            .lines()
            .map(|lr| {
                lr.map_err(MountError::from)
                    .and_then(|s| MountInfo::from_line(&s).map_err(MountError::from))
            })
            .collect::<Result<_>>()?;
        Ok(mount_infos)
    }
}

#[derive(Debug)]
pub struct MountOptions<'a> {
    pub root: &'a Path,
    pub label: Option<&'a str>,
    #[allow(dead_code)]
    pub cgroup_ns: bool,
}

pub struct Mount {
    syscall: Box<dyn Syscall>,
    mountinfo_provider: Box<dyn MountInfoProvider>,
    /// ward patch: the detached tmpfs whose directories are the scratch
    /// mounts (see `SCRATCH_OPTION`); `Unsupported` once the kernel refused
    /// to clone from it (before 6.15), then each is a tmpfs of its own.
    scratch: std::cell::RefCell<Scratch>,
}

/// ward patch: the mount option marking ward's scratch tmpfs mounts (/tmp,
/// /run on a read-only rootfs). An `x-` option, as mount(8) names those for
/// userspace: never handed to the kernel.
pub const SCRATCH_OPTION: &str = "x-ward.scratch";

#[derive(Default)]
enum Scratch {
    #[default]
    None,
    Mounted(OwnedFd),
    Unsupported,
}

impl Default for Mount {
    fn default() -> Self {
        Self::new()
    }
}

/// A bind mount's propagation options in order: (MS_* flag, recursive).
fn bind_propagation(m: &SpecMount) -> Vec<(u64, bool)> {
    m.options()
        .iter()
        .flatten()
        .filter_map(|o| {
            let (flag, rec) = match o.as_str() {
                "shared" => (MsFlags::MS_SHARED, false),
                "rshared" => (MsFlags::MS_SHARED, true),
                "slave" => (MsFlags::MS_SLAVE, false),
                "rslave" => (MsFlags::MS_SLAVE, true),
                "private" => (MsFlags::MS_PRIVATE, false),
                "rprivate" => (MsFlags::MS_PRIVATE, true),
                "unbindable" => (MsFlags::MS_UNBINDABLE, false),
                "runbindable" => (MsFlags::MS_UNBINDABLE, true),
                _ => return None,
            };
            Some((flag.bits() as u64, rec))
        })
        .collect()
}

impl Mount {
    pub fn new() -> Mount {
        Mount {
            syscall: create_syscall(),
            mountinfo_provider: Box::new(ProcMountInfoProvider::new()),
            scratch: Default::default(),
        }
    }

    pub fn with_mountinfo_provider<P: MountInfoProvider + 'static>(mut self, provider: P) -> Self {
        self.mountinfo_provider = Box::new(provider);
        self
    }

    pub fn setup_mount(&self, mount: &SpecMount, options: &MountOptions) -> Result<()> {
        tracing::debug!("mounting {:?}", mount);
        let mut mount_option_config = parse_mount(mount)?;

        match mount.typ().as_deref() {
            Some("cgroup") => {
                let cgroup_setup = libcgroups::common::get_cgroup_setup().map_err(|err| {
                    tracing::error!("failed to determine cgroup setup: {}", err);
                    MountError::Other(err.into())
                })?;
                match cgroup_setup {
                    Legacy | Hybrid => {
                        #[cfg(not(feature = "v1"))]
                        panic!(
                            "libcontainer can't run in a Legacy or Hybrid cgroup setup without the v1 feature"
                        );
                        #[cfg(feature = "v1")]
                        self.mount_cgroup_v1(mount, options).map_err(|err| {
                            tracing::error!("failed to mount cgroup v1: {}", err);
                            err
                        })?
                    }
                    Unified => {
                        #[cfg(not(feature = "v2"))]
                        panic!(
                            "libcontainer can't run in a Unified cgroup setup without the v2 feature"
                        );
                        #[cfg(feature = "v2")]
                        self.mount_cgroup_v2(mount, options, &mount_option_config)
                            .map_err(|err| {
                                tracing::error!("failed to mount cgroup v2: {}", err);
                                err
                            })?
                    }
                }
            }
            // procfs and sysfs are special because we need to ensure they are actually
            // mounted on a specific path in a container without any funny business.
            // Ref: https://github.com/opencontainers/runc/security/advisories/GHSA-fh74-hm69-rqjw
            Some(typ @ ("proc" | "sysfs")) => {
                let dest_path = options
                    .root
                    .join_safely(Path::new(mount.destination()).normalize())
                    .map_err(|err| {
                        tracing::error!(
                            "could not join rootfs path with mount destination {:?}: {}",
                            mount.destination(),
                            err
                        );
                        MountError::Other(err.into())
                    })?;

                match fs::symlink_metadata(&dest_path) {
                    Ok(m) if !m.is_dir() => {
                        return Err(MountError::Other(
                            format!("filesystem {} must be mounted on ordinary directory", typ)
                                .into(),
                        ));
                    }
                    Err(e) if e.kind() != ErrorKind::NotFound => {
                        return Err(MountError::Other(
                            format!("symlink_metadata failed for {}: {}", dest_path.display(), e)
                                .into(),
                        ));
                    }
                    _ => {}
                }

                self.check_proc_mount(options.root, mount)?;

                self.mount_into_container(mount, options.root, &mount_option_config, options.label)
                    .map_err(|err| {
                        tracing::error!("failed to mount {:?}: {}", mount, err);
                        err
                    })?;
            }
            _ => {
                if mount.destination() == Path::new("/dev") {
                    mount_option_config.flags &= !MsFlags::MS_RDONLY;
                    self.mount_into_container(
                        mount,
                        options.root,
                        &mount_option_config,
                        options.label,
                    )
                    .map_err(|err| {
                        tracing::error!("failed to mount /dev: {}", err);
                        err
                    })?;
                } else {
                    self.mount_into_container(
                        mount,
                        options.root,
                        &mount_option_config,
                        options.label,
                    )
                    .map_err(|err| {
                        tracing::error!("failed to mount {:?}: {}", mount, err);
                        err
                    })?;
                }
            }
        }

        Ok(())
    }

    #[cfg(feature = "v1")]
    fn mount_cgroup_v1(&self, cgroup_mount: &SpecMount, options: &MountOptions) -> Result<()> {
        tracing::debug!("mounting cgroup v1 filesystem");
        // create tmpfs into which the cgroup subsystems will be mounted
        let tmpfs = SpecMountBuilder::default()
            .source("tmpfs")
            .typ("tmpfs")
            .destination(cgroup_mount.destination())
            .options(
                ["noexec", "nosuid", "nodev", "mode=755"]
                    .iter()
                    .map(|o| o.to_string())
                    .collect::<Vec<String>>(),
            )
            .build()
            .map_err(|err| {
                tracing::error!("failed to build tmpfs for cgroup: {}", err);
                err
            })?;

        self.setup_mount(&tmpfs, options).map_err(|err| {
            tracing::error!("failed to mount tmpfs for cgroup: {}", err);
            err
        })?;

        // get all cgroup mounts on the host system
        let host_mounts: Vec<PathBuf> = libcgroups::v1::util::list_subsystem_mount_points()
            .map_err(|err| {
                tracing::error!("failed to get subsystem mount points: {}", err);
                MountError::Other(err.into())
            })?
            .into_iter()
            .filter(|p| p.as_path().starts_with(DEFAULT_CGROUP_ROOT))
            .collect();
        // ward patch: a hierarchy mounted over another at the same path (a
        // rebuilt /sys/fs/cgroup) is listed twice in mountinfo; bind it once,
        // not one stacked mount per listing.
        let mut seen = std::collections::HashSet::new();
        let host_mounts: Vec<PathBuf> = host_mounts
            .into_iter()
            .filter(|p| seen.insert(p.clone()))
            .collect();
        tracing::debug!("cgroup mounts: {:?}", host_mounts);

        // get process cgroups
        let ppid = std::os::unix::process::parent_id();
        // The non-zero ppid means that the PID Namespace is not separated.
        let ppid = if ppid == 0 { std::process::id() } else { ppid };
        let root_cgroups = Process::new(ppid as i32)?.cgroups()?.0;
        let process_cgroups: HashMap<String, String> =
            // ward patch: by path (see ProcMountInfoProvider).
            ProcessCGroups::from_read(std::fs::File::open("/proc/self/cgroup")?)?
            .into_iter()
            .map(|c| {
                let hierarchy = c.hierarchy;
                // When youki itself is running inside a container, the cgroup path
                // will include the path of pid-1, which needs to be stripped before
                // mounting.
                let root_pathname = root_cgroups
                    .iter()
                    .find(|c| c.hierarchy == hierarchy)
                    .map(|c| c.pathname.as_ref())
                    .unwrap_or("");
                let path = c
                    .pathname
                    .strip_prefix(root_pathname)
                    .unwrap_or(&c.pathname);
                (c.controllers.join(","), path.to_owned())
            })
            .collect();
        tracing::debug!("Process cgroups: {:?}", process_cgroups);

        let cgroup_root = options
            .root
            .join_safely(cgroup_mount.destination())
            .map_err(|err| {
                tracing::error!(
                    "could not join rootfs path with cgroup mount destination: {}",
                    err
                );
                MountError::Other(err.into())
            })?;
        tracing::debug!("cgroup root: {:?}", cgroup_root);

        let symlink = Symlink::new();

        // ward patch: the emulated hierarchies are cloned relative to one
        // fd of the host's /sys/fs/cgroup and attached relative to one fd of
        // the container's cgroup tmpfs (see bind_emulated_subsystem).
        let dirs = if options.cgroup_ns {
            None
        } else {
            Some(EmulatedDirs::open(&cgroup_root)?)
        };

        // setup cgroup mounts for container
        for host_mount in &host_mounts {
            if let Some(subsystem_name) = host_mount.file_name().and_then(|n| n.to_str()) {
                if let Some(dirs) = &dirs {
                    self.bind_emulated_subsystem(
                        dirs,
                        is_read_only(cgroup_mount),
                        subsystem_name,
                        subsystem_name == "systemd",
                        host_mount,
                        &process_cgroups,
                    )?;
                } else if options.cgroup_ns {
                    self.setup_namespaced_subsystem(
                        cgroup_mount,
                        options,
                        subsystem_name,
                        subsystem_name == "systemd",
                    )?;
                } else {
                    self.setup_emulated_subsystem(
                        cgroup_mount,
                        options,
                        subsystem_name,
                        subsystem_name == "systemd",
                        host_mount,
                        &process_cgroups,
                    )?;
                }

                symlink.setup_comount_symlinks(&cgroup_root, subsystem_name)?;
            } else {
                tracing::warn!("could not get subsystem name from {:?}", host_mount);
            }
        }

        // ward: and the tmpfs holding them is read-only too, once the
        // hierarchies and comount symlinks are in it (runc).
        if is_read_only(cgroup_mount) {
            self.syscall.mount(
                None,
                &cgroup_root,
                None,
                MsFlags::MS_REMOUNT
                    | MsFlags::MS_BIND
                    | MsFlags::MS_RDONLY
                    | MsFlags::MS_NOEXEC
                    | MsFlags::MS_NOSUID
                    | MsFlags::MS_NODEV,
                None,
            )?;
        }

        Ok(())
    }

    // On some distros cgroup subsystems are comounted e.g. cpu,cpuacct or net_cls,net_prio. These systems
    // have to be comounted in the container as well as the kernel will reject trying to mount them separately.
    #[cfg(feature = "v1")]
    fn setup_namespaced_subsystem(
        &self,
        cgroup_mount: &SpecMount,
        options: &MountOptions,
        subsystem_name: &str,
        named: bool,
    ) -> Result<()> {
        tracing::debug!(
            "Mounting (namespaced) {:?} cgroup subsystem",
            subsystem_name
        );
        let subsystem_mount = SpecMountBuilder::default()
            .source("cgroup")
            .typ("cgroup")
            .destination(cgroup_mount.destination().join(subsystem_name))
            .options(
                ["noexec", "nosuid", "nodev"]
                    .iter()
                    .map(|o| o.to_string())
                    .collect::<Vec<String>>(),
            )
            .build()
            .map_err(|err| {
                tracing::error!("failed to build {subsystem_name} mount: {err}");
                err
            })?;

        let data: Cow<str> = if named {
            format!("name={subsystem_name}").into()
        } else {
            subsystem_name.into()
        };

        // ward: the spec's "ro" on /sys/fs/cgroup reaches each hierarchy (runc).
        let ro = if is_read_only(cgroup_mount) {
            MsFlags::MS_RDONLY
        } else {
            MsFlags::empty()
        };
        let mount_options_config = MountOptionConfig {
            flags: MsFlags::MS_NOEXEC | MsFlags::MS_NOSUID | MsFlags::MS_NODEV | ro,
            data: vec![data.into_owned()],
            rec_attr: None,
        };

        self.mount_into_container(
            &subsystem_mount,
            options.root,
            &mount_options_config,
            options.label,
        )
        .map_err(|err| {
            tracing::error!("failed to mount {subsystem_mount:?}: {err}");
            err
        })
    }

    /// ward patch: binds the container's cgroup of one v1 hierarchy at
    /// /sys/fs/cgroup/<subsystem> in the container, as
    /// [`Self::setup_emulated_subsystem`] does through the generic bind path,
    /// in four syscalls and without walking a path through sysfs or
    /// cgroupfs more than once per hierarchy. Each component of such a path
    /// takes its kernfs root's rwsem, and parallel creates queue there
    /// behind each other's network namespace setup (which adds sysfs
    /// entries) and cgroup mkdir/rmdir: the generic path walked
    /// /sys/fs/cgroup/<subsystem>/<cgroup> five times per hierarchy.
    #[cfg(feature = "v1")]
    fn bind_emulated_subsystem(
        &self,
        dirs: &EmulatedDirs,
        ro: bool,
        subsystem_name: &str,
        named: bool,
        host_mount: &Path,
        process_cgroups: &HashMap<String, String>,
    ) -> Result<()> {
        use std::os::fd::AsRawFd;
        let key: Cow<str> = if named {
            format!("name={subsystem_name}").into()
        } else {
            subsystem_name.into()
        };
        let Some(proc_path) = process_cgroups.get(key.as_ref()) else {
            tracing::warn!("Could not mount {:?} cgroup subsystem", subsystem_name);
            return Ok(());
        };
        let rel = host_mount
            .strip_prefix(DEFAULT_CGROUP_ROOT)
            .map_err(|_| MountError::Custom(format!("{} is not under {DEFAULT_CGROUP_ROOT}", host_mount.display())))?
            .join(proc_path.trim_start_matches('/'));
        let rel = rel
            .to_str()
            .ok_or_else(|| MountError::Custom(format!("cgroup path {} is not UTF-8", rel.display())))?;
        let tree = self.syscall.open_tree(
            dirs.host.as_raw_fd(),
            Some(if rel.is_empty() { "." } else { rel }),
            (libc::OPEN_TREE_CLONE | libc::OPEN_TREE_CLOEXEC) as u32 | libc::AT_RECURSIVE as u32,
        )?;
        // The flags the spec's options give (ro or rw, nosuid, nodev,
        // noexec; nosymfollow cleared, atime kept), as the generic path sets.
        let rdonly = linux::MOUNT_ATTR_RDONLY;
        let mut attr = linux::MountAttr {
            attr_set: linux::MOUNT_ATTR_NOSUID
                | linux::MOUNT_ATTR_NODEV
                | linux::MOUNT_ATTR_NOEXEC
                | if ro { rdonly } else { 0 },
            attr_clr: linux::MOUNT_ATTR_NOSYMFOLLOW | if ro { 0 } else { rdonly },
            propagation: 0,
            userns_fd: 0,
        };
        let set = |attr: &linux::MountAttr| {
            self.syscall.mount_setattr(
                tree.as_fd(),
                Path::new(""),
                linux::AT_EMPTY_PATH,
                attr,
                mem::size_of::<linux::MountAttr>(),
            )
        };
        match set(&attr) {
            // In a user namespace a read-only host hierarchy stays read-only
            // (a locked flag): keep it, as the generic path does.
            Err(SyscallError::Nix(Errno::EPERM)) => {
                attr.attr_clr = 0;
                set(&attr)?;
            }
            r => r?,
        }
        match nix::sys::stat::mkdirat(
            Some(dirs.container.as_raw_fd()),
            subsystem_name,
            nix::sys::stat::Mode::from_bits_truncate(0o755),
        ) {
            Ok(()) | Err(Errno::EEXIST) => {}
            Err(e) => return Err(SyscallError::Nix(e).into()),
        }
        let dest = nix::fcntl::openat(
            Some(dirs.container.as_raw_fd()),
            subsystem_name,
            nix::fcntl::OFlag::O_PATH
                | nix::fcntl::OFlag::O_DIRECTORY
                | nix::fcntl::OFlag::O_NOFOLLOW
                | nix::fcntl::OFlag::O_CLOEXEC,
            nix::sys::stat::Mode::empty(),
        )
        .map_err(SyscallError::Nix)?;
        // SAFETY: openat just returned this fd; nothing else owns it.
        let dest = unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(dest) };
        self.syscall.move_mount(
            tree.as_fd(),
            None,
            dest.as_fd(),
            None,
            linux::MOVE_MOUNT_T_EMPTY_PATH | linux::MOVE_MOUNT_F_EMPTY_PATH,
        )?;
        Ok(())
    }

    #[cfg(feature = "v1")]
    fn setup_emulated_subsystem(
        &self,
        cgroup_mount: &SpecMount,
        options: &MountOptions,
        subsystem_name: &str,
        named: bool,
        host_mount: &Path,
        process_cgroups: &HashMap<String, String>,
    ) -> Result<()> {
        tracing::debug!("Mounting (emulated) {:?} cgroup subsystem", subsystem_name);
        let named_hierarchy: Cow<str> = if named {
            format!("name={subsystem_name}").into()
        } else {
            subsystem_name.into()
        };

        if let Some(proc_path) = process_cgroups.get(named_hierarchy.as_ref()) {
            let emulated = SpecMountBuilder::default()
                .source(
                    host_mount
                        .join_safely(proc_path.as_str())
                        .map_err(|err| {
                            tracing::error!(
                                "failed to join mount source for {subsystem_name} subsystem: {}",
                                err
                            );
                            MountError::Other(err.into())
                        })?,
                )
                .destination(
                    cgroup_mount
                        .destination()
                        .join_safely(subsystem_name)
                        .map_err(|err| {
                            tracing::error!(
                                "failed to join mount destination for {subsystem_name} subsystem: {}",
                                err
                            );
                            MountError::Other(err.into())
                        })?,
                )
                .typ("bind")
                .options(
                    [
                        if is_read_only(cgroup_mount) { "ro" } else { "rw" },
                        "rbind",
                        "nosuid",
                        "nodev",
                        "noexec",
                    ]
                    .iter()
                        .map(|o| o.to_string())
                        .collect::<Vec<String>>(),
                )
                .build()?;
            tracing::debug!("Mounting emulated cgroup subsystem: {:?}", emulated);

            self.setup_mount(&emulated, options).map_err(|err| {
                tracing::error!("failed to mount {subsystem_name} cgroup hierarchy: {}", err);
                err
            })?;
        } else {
            tracing::warn!("Could not mount {:?} cgroup subsystem", subsystem_name);
        }

        Ok(())
    }

    #[cfg(feature = "v2")]
    fn mount_cgroup_v2(
        &self,
        cgroup_mount: &SpecMount,
        options: &MountOptions,
        mount_option_config: &MountOptionConfig,
    ) -> Result<()> {
        tracing::debug!("Mounting cgroup v2 filesystem");

        let cgroup_mount = SpecMountBuilder::default()
            .typ("cgroup2")
            .source("cgroup")
            .destination(cgroup_mount.destination())
            .options(Vec::new())
            .build()?;
        tracing::debug!("{:?}", cgroup_mount);

        if self
            .mount_into_container(
                &cgroup_mount,
                options.root,
                mount_option_config,
                options.label,
            )
            .is_err()
        {
            let host_mount = libcgroups::v2::util::get_unified_mount_point().map_err(|err| {
                tracing::error!("failed to get unified mount point: {}", err);
                MountError::Other(err.into())
            })?;

            // ward patch: by path (see ProcMountInfoProvider).
            let process_cgroup = ProcessCGroups::from_read(std::fs::File::open("/proc/self/cgroup")?)?
            .into_iter()
            .find(|c| c.hierarchy == 0)
            .map(|c| PathBuf::from(c.pathname))
            .ok_or_else(|| MountError::Custom("failed to find unified process cgroup".into()))?;

            let bind_mount = SpecMountBuilder::default()
                .typ("bind")
                .source(host_mount.join_safely(process_cgroup).map_err(|err| {
                    tracing::error!("failed to join host mount for cgroup hierarchy: {}", err);
                    MountError::Other(err.into())
                })?)
                .destination(cgroup_mount.destination())
                .options(Vec::new())
                .build()
                .map_err(|err| {
                    tracing::error!("failed to build cgroup bind mount: {}", err);
                    err
                })?;
            tracing::debug!("{:?}", bind_mount);

            let mut mount_option_config = (*mount_option_config).clone();
            mount_option_config.flags |= MsFlags::MS_BIND;
            self.mount_into_container(
                &bind_mount,
                options.root,
                &mount_option_config,
                options.label,
            )
            .map_err(|err| {
                tracing::error!("failed to bind mount cgroup hierarchy: {}", err);
                err
            })?;
        }

        Ok(())
    }

    /// Make parent mount of rootfs private if it was shared, which is required by pivot_root.
    /// It also makes sure following bind mount does not propagate in other namespaces.
    pub fn make_parent_mount_private(&self, rootfs: &Path) -> Result<MountInfo> {
        let mount_infos = self.mountinfo_provider.mountinfo()?;
        let parent_mount = find_parent_mount(rootfs, mount_infos)?;

        // check parent mount has 'shared' propagation type
        if parent_mount
            .opt_fields
            .iter()
            .any(|field| matches!(field, MountOptFields::Shared(_)))
        {
            self.syscall.mount(
                None,
                &parent_mount.mount_point,
                None,
                MsFlags::MS_PRIVATE,
                None,
            )?;
        }
        Ok(parent_mount)
    }

    fn mount_into_container(
        &self,
        m: &SpecMount,
        rootfs: &Path,
        mount_option_config: &MountOptionConfig,
        label: Option<&str>,
    ) -> Result<()> {
        let typ = m.typ().as_deref();
        let mut data_options = mount_option_config.data.clone();
        // ward: runc's tmpcopyup is no kernel option; it is done below.
        let tmpcopyup = typ == Some("tmpfs") && data_options.iter().any(|o| o == "tmpcopyup");
        data_options.retain(|o| o != "tmpcopyup");
        // ward patch: a scratch mount is a directory of one tmpfs shared by
        // all of them: a superblock (and its inode, lists, shrinker) fewer
        // per container.
        let scratch = typ == Some("tmpfs") && data_options.iter().any(|o| o == SCRATCH_OPTION);
        data_options.retain(|o| o != SCRATCH_OPTION);

        if let Some(l) = label {
            if typ != Some("proc") && typ != Some("sysfs") {
                if Path::new("/sys/fs/selinux").exists() {
                    data_options.push(format!("context={}", l));
                } else {
                    tracing::debug!("ignoring mount label because SELinux is disabled");
                }
            }
        }

        let root = Root::open(rootfs)?;
        let container_dest = m.destination();

        let source = m.source().as_ref().ok_or(MountError::NoSource)?;
        let dir_perm = Permissions::from_mode(0o755);
        let mut fast_dest: Option<OwnedFd> = None;
        let mut covers_existing_dir = false;
        let mut resolved_dest = container_dest.to_path_buf();
        let src = if is_bind(m) {
            // ward patch: a source opened host-side is never looked up here
            // (process::idmap_mount::HOST_TREE); ward says what it is.
            let (src, src_is_dir) = match crate::process::idmap_mount::host_tree(m) {
                Some(is_dir) => (source.clone(), is_dir),
                None => resolve_source(source).map_err(|err| {
                    tracing::error!("failed to canonicalize {:?}: {}", source, err);
                    err
                })?,
            };

            // ward: a destination through dangling symlinks is followed
            // within the rootfs, creating what is missing (runc).
            if plain_lookup(root.as_fd(), container_dest).is_none()
                && root.resolve(container_dest).is_err()
            {
                if let Some(p) = follow_dangling(&root, container_dest, src_is_dir) {
                    resolved_dest = p;
                }
            }
            let container_dest = resolved_dest.as_path();
            if src_is_dir {
                fast_dest = dir_dest(&root, container_dest, &dir_perm)?;
            } else {
                let parent = container_dest
                    .parent()
                    .ok_or(MountError::Custom("destination has no parent".to_string()))?;
                root.mkdir_all(parent, &dir_perm)?;

                match root.create_file(
                    container_dest,
                    OpenFlags::O_EXCL
                        | OpenFlags::O_CREAT
                        | OpenFlags::O_NOFOLLOW
                        | OpenFlags::O_CLOEXEC,
                    &Permissions::from_mode(0o644),
                ) {
                    Ok(_) => Ok(()),
                    // If we get here, the file is already present, so continue.
                    Err(create_err) => root
                        .resolve(container_dest)
                        .map(|_| ())
                        .map_err(|_| create_err),
                }?;
            };

            src
        } else {
            // ward: whether a tmpfs covers an existing directory (its mode is
            // inherited below) or one made for it (tmpfs's own 1777).
            if typ == Some("tmpfs") {
                covers_existing_dir = match plain_lookup(root.as_fd(), container_dest) {
                    Some(exists) => exists,
                    None => root.resolve(container_dest).is_ok(),
                };
            }
            fast_dest = dir_dest(&root, container_dest, &dir_perm)?;
            PathBuf::from(source)
        };

        let dest: OwnedFd = match fast_dest {
            Some(fd) => fd,
            None => root.resolve(&resolved_dest)?.into(),
        };
        let dest_fd = dest.as_fd();

        // ward: a tmpfs without mode= takes the mode of the directory it
        // covers, as in runc ("tmpfs mount mode= inherit").
        if covers_existing_dir && !data_options.iter().any(|o| o.starts_with("mode=")) {
            if let Ok(st) = nix::sys::stat::fstat(std::os::fd::AsRawFd::as_raw_fd(&dest_fd)) {
                if st.st_mode & libc::S_IFMT == libc::S_IFDIR {
                    data_options.push(format!("mode={:o}", st.st_mode & 0o7777));
                }
            }
        }

        // fd-based mount flow:
        // - bind: open_tree -> mount_setattr -> move_mount
        // - nonbind: fsopen -> fsconfig -> fsmount -> mount_setattr -> move_mount
        if is_bind(m) {
            let recursive = m
                .options()
                .as_ref()
                .map(|v| v.iter().any(|o| o == "rbind"))
                .unwrap_or(false);
            let mut open_tree_flags: libc::c_uint = (libc::OPEN_TREE_CLOEXEC as libc::c_uint)
                | (libc::OPEN_TREE_CLONE as libc::c_uint)
                | (libc::AT_EMPTY_PATH as libc::c_uint);
            if recursive {
                open_tree_flags |= libc::AT_RECURSIVE as libc::c_uint;
            };

            let src_str = src.to_str().ok_or(SyscallError::Nix(Errno::EINVAL))?;
            let host_tree = crate::process::idmap_mount::host_tree(m).is_some();
            let mount_fd_owned = match crate::process::idmap_mount::request_for(m) {
                // ward patch: the main process clones it (HOST_TREE).
                Some(req) if host_tree => crate::process::idmap_mount::host_tree_fd(req)
                    .map_err(MountError::Custom)?,
                _ => self
                    .syscall
                    .open_tree(libc::AT_FDCWD, Some(src_str), open_tree_flags)?,
            };
            let mount_fd = mount_fd_owned.as_fd();

            // ward patch: a bind the spec asks to id-map is mapped now, at
            // its turn, on the tree cloned here (process::idmap_mount).
            if let Some(req) = crate::process::idmap_mount::request_for(m).filter(|_| !host_tree) {
                crate::process::idmap_mount::apply(mount_fd, req).map_err(MountError::Custom)?;
            }

            // mount_setattr
            let attr_set_from_flags = self.mount_flag_to_attr(&mount_option_config.flags);
            let mut mount_attr = linux::MountAttr {
                attr_set: 0,
                attr_clr: 0,
                propagation: 0,
                userns_fd: 0,
            };
            mount_attr.attr_set |= attr_set_from_flags;

            self.apply_atime_from_msflags(
                &mut mount_attr,
                attr_set_from_flags,
                mount_option_config.flags,
            );

            // ward patch: runc's bind flags. A bind with no flag option keeps
            // its source's flags; one with any gets exactly the flags it
            // lists (ro, nosuid, nodev, noexec, nosymfollow not listed are
            // cleared; atime is kept unless named, as runc and mount(8)).
            let bind = bind_flag_options(m);
            if let Some(b) = &bind {
                mount_attr.attr_set |= b.set;
                mount_attr.attr_clr |= BIND_CLEARABLE & !mount_attr.attr_set;
                // In a user namespace the source's ro/nosuid/nodev/noexec are
                // the kernel's locked flags: kept, unless the spec names their
                // opposite, which fails as under runc. Decided here too, not
                // only on EPERM: a tree cloned host-side (FUSE sources) is
                // not locked, and runc keeps them for it all the same.
                if crate::utils::is_in_new_userns().unwrap_or(false) {
                    let (locked, source_atime) = source_attrs(mount_fd);
                    if b.cleared & locked != 0 {
                        return Err(SyscallError::Nix(Errno::EPERM).into());
                    }
                    mount_attr.attr_clr &= !locked;
                    // The atime settings are locked as a whole: another one
                    // than the source's fails, as under runc.
                    let atime = linux::MOUNT_ATTR__ATIME | linux::MOUNT_ATTR_NODIRATIME;
                    if mount_attr.attr_clr & linux::MOUNT_ATTR__ATIME != 0
                        && mount_attr.attr_set & atime != source_atime
                    {
                        return Err(SyscallError::Nix(Errno::EPERM).into());
                    }
                }
            }
            match self.syscall.mount_setattr(
                mount_fd,
                Path::new(""),
                linux::AT_EMPTY_PATH,
                &mount_attr,
                mem::size_of::<linux::MountAttr>(),
            ) {
                // In a user namespace the source's ro/nosuid/nodev/noexec
                // are locked: kept unless the spec names their opposite,
                // which then fails as under runc.
                Err(SyscallError::Nix(Errno::EPERM)) if bind.is_some() => {
                    let (locked, _) = source_attrs(mount_fd);
                    let explicit = bind.as_ref().map_or(0, |b| b.cleared);
                    if explicit & locked != 0 {
                        return Err(SyscallError::Nix(Errno::EPERM).into());
                    }
                    mount_attr.attr_clr &= !locked;
                    self.syscall.mount_setattr(
                        mount_fd,
                        Path::new(""),
                        linux::AT_EMPTY_PATH,
                        &mount_attr,
                        mem::size_of::<linux::MountAttr>(),
                    )?;
                }
                r => r?,
            }

            // rec_attr is applied recursively
            if let Some(rec_attr) = &mount_option_config.rec_attr {
                self.syscall.mount_setattr(
                    mount_fd,
                    Path::new(""),
                    linux::AT_EMPTY_PATH | linux::AT_RECURSIVE,
                    rec_attr,
                    mem::size_of::<linux::MountAttr>(),
                )?;
            }

            // move_mount
            self.syscall.move_mount(
                mount_fd,
                None,
                dest_fd,
                None,
                linux::MOVE_MOUNT_T_EMPTY_PATH | linux::MOVE_MOUNT_F_EMPTY_PATH,
            )?;

            // ward patch: the bind's own propagation options (shared, rslave,
            // ...), in order, on the mount now attached, as runc applies them.
            for (propagation, recursive) in bind_propagation(m) {
                let attr = linux::MountAttr {
                    attr_set: 0,
                    attr_clr: 0,
                    propagation,
                    userns_fd: 0,
                };
                let rec = if recursive { linux::AT_RECURSIVE } else { 0 };
                self.syscall.mount_setattr(
                    mount_fd,
                    Path::new(""),
                    linux::AT_EMPTY_PATH | rec,
                    &attr,
                    mem::size_of::<linux::MountAttr>(),
                )?;
            }
        } else {
            let src_str = src
                .as_os_str()
                .to_str()
                .ok_or(SyscallError::Nix(Errno::EINVAL))?;
            let new_fs = || -> std::result::Result<OwnedFd, SyscallError> {
                // fsopen
                let fsfd_owned = self.syscall.fsopen(typ, 0)?;
                let fsfd = fsfd_owned.as_fd();

                // fsconfig
                self.syscall.fsconfig(
                    fsfd,
                    linux::FSCONFIG_SET_STRING as u32,
                    Some("source"),
                    Some(src_str),
                    0,
                )?;

                for opt in data_options.iter().filter(|s| !s.is_empty()) {
                    if let Some((k, v)) = opt.split_once('=') {
                        self.syscall.fsconfig(
                            fsfd,
                            linux::FSCONFIG_SET_STRING as u32,
                            Some(k),
                            Some(v),
                            0,
                        )?;
                    } else {
                        self.syscall.fsconfig(
                            fsfd,
                            linux::FSCONFIG_SET_FLAG as u32,
                            Some(opt),
                            None,
                            0,
                        )?;
                    };
                }

                self.syscall
                    .fsconfig(fsfd, linux::FSCONFIG_CMD_CREATE as u32, None, None, 0)?;

                // fsmount
                self.syscall.fsmount(fsfd, 0, None)
            };
            let mount_fn = || -> std::result::Result<(), SyscallError> {
                let mount_fd_owned = match scratch {
                    true => match self.scratch_dir(&new_fs, container_dest, &data_options)? {
                        Some(fd) => fd,
                        None => new_fs()?,
                    },
                    false => new_fs()?,
                };
                let mount_fd = mount_fd_owned.as_fd();

                // mount_setattr
                let attr_set_from_flags = self.mount_flag_to_attr(&mount_option_config.flags);
                let mut mount_attr = linux::MountAttr {
                    attr_set: 0,
                    attr_clr: 0,
                    propagation: 0,
                    userns_fd: 0,
                };
                mount_attr.attr_set |= attr_set_from_flags;

                self.apply_atime_from_msflags(
                    &mut mount_attr,
                    attr_set_from_flags,
                    mount_option_config.flags,
                );

                self.syscall.mount_setattr(
                    mount_fd,
                    Path::new(""),
                    linux::AT_EMPTY_PATH,
                    &mount_attr,
                    mem::size_of::<linux::MountAttr>(),
                )?;

                // rec_attr is applied recursively
                if let Some(rec_attr) = &mount_option_config.rec_attr {
                    self.syscall.mount_setattr(
                        mount_fd,
                        Path::new(""),
                        linux::AT_EMPTY_PATH | linux::AT_RECURSIVE,
                        rec_attr,
                        mem::size_of::<linux::MountAttr>(),
                    )?;
                }

                // ward: tmpcopyup, from the covered directory into the
                // still detached tmpfs.
                if tmpcopyup {
                    super::tmpcopyup::copy_tree(dest_fd, mount_fd).map_err(SyscallError::Nix)?;
                }

                // move_mount
                self.syscall.move_mount(
                    mount_fd,
                    None,
                    dest_fd,
                    None,
                    linux::MOVE_MOUNT_T_EMPTY_PATH | linux::MOVE_MOUNT_F_EMPTY_PATH,
                )?;
                Ok(())
            };

            match mount_fn() {
                Ok(()) => {}
                Err(SyscallError::Nix(nix::Error::EINVAL)) => {
                    mount_fn()?;
                }
                Err(SyscallError::Nix(nix::Error::EBUSY)) => {
                    let delay = Duration::from_millis(MOUNT_RETRY_DELAY_MS);
                    let retry_policy =
                        |err: &SyscallError| matches!(err, SyscallError::Nix(Errno::EBUSY));
                    retry(mount_fn, MAX_EBUSY_MOUNT_ATTEMPTS - 1, delay, retry_policy)?;
                }
                Err(e) => return Err(e.into()),
            }
        }

        Ok(())
    }

    /// ward patch: a detached clone of the directory for `dest` in the
    /// shared scratch tmpfs (made by `new_fs`, with the first scratch
    /// mount's options), the directory made with the mount's `mode=`. None
    /// where the kernel cannot clone a detached mount (before 6.15): the
    /// caller then makes a tmpfs of its own, as for any tmpfs.
    fn scratch_dir(
        &self,
        new_fs: &dyn Fn() -> std::result::Result<OwnedFd, SyscallError>,
        dest: &Path,
        data: &[String],
    ) -> std::result::Result<Option<OwnedFd>, SyscallError> {
        use std::os::fd::AsRawFd;
        let mut shared = self.scratch.borrow_mut();
        if matches!(*shared, Scratch::None) {
            *shared = Scratch::Mounted(new_fs()?);
        }
        let Scratch::Mounted(root) = &*shared else {
            return Ok(None);
        };
        let name = dest.to_string_lossy().trim_matches('/').replace('/', "-");
        let mode = data
            .iter()
            .find_map(|o| o.strip_prefix("mode="))
            .and_then(|m| u32::from_str_radix(m, 8).ok())
            .unwrap_or(0o755);
        match nix::sys::stat::mkdirat(
            Some(root.as_raw_fd()),
            name.as_str(),
            nix::sys::stat::Mode::from_bits_truncate(mode),
        ) {
            Ok(()) | Err(Errno::EEXIST) => {}
            Err(e) => return Err(SyscallError::Nix(e)),
        }
        // (mkdir applied the umask, and drops the sticky bit of 1777)
        nix::sys::stat::fchmodat(
            Some(root.as_raw_fd()),
            name.as_str(),
            nix::sys::stat::Mode::from_bits_truncate(mode),
            nix::sys::stat::FchmodatFlags::FollowSymlink,
        )
        .map_err(SyscallError::Nix)?;
        let flags = (libc::OPEN_TREE_CLOEXEC | libc::OPEN_TREE_CLONE) as libc::c_uint;
        match self
            .syscall
            .open_tree(root.as_raw_fd(), Some(name.as_str()), flags)
        {
            Ok(fd) => Ok(Some(fd)),
            Err(SyscallError::Nix(Errno::EINVAL)) => {
                *shared = Scratch::Unsupported;
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    // https://man7.org/linux/man-pages/man2/mount_setattr.2.html
    // To apply MsFlags via mount_setattr, we set the corresponding bits in attr_set
    fn mount_flag_to_attr(&self, flags: &MsFlags) -> u64 {
        const MAP_SET: &[(MsFlags, u64)] = &[
            (MsFlags::MS_RDONLY, linux::MOUNT_ATTR_RDONLY),
            (MsFlags::MS_NOSUID, linux::MOUNT_ATTR_NOSUID),
            (MsFlags::MS_NODEV, linux::MOUNT_ATTR_NODEV),
            (MsFlags::MS_NOEXEC, linux::MOUNT_ATTR_NOEXEC),
            (MsFlags::MS_NOATIME, linux::MOUNT_ATTR_NOATIME),
            (MsFlags::MS_NODIRATIME, linux::MOUNT_ATTR_NODIRATIME),
            (MsFlags::MS_RELATIME, linux::MOUNT_ATTR_RELATIME),
            (MsFlags::MS_STRICTATIME, linux::MOUNT_ATTR_STRICTATIME),
        ];

        let mut set = 0;
        for (ms, attr) in MAP_SET {
            if flags.intersects(*ms) {
                set |= *attr;
            }
        }
        set
    }

    // Apply atime-related configuration.
    // https://man7.org/linux/man-pages/man2/mount_setattr.2.html
    // ref: MOUNT_ATTR__ATIME
    fn apply_atime_from_msflags(
        &self,
        mount_attr: &mut linux::MountAttr,
        attr_set_from_flags: u64,
        msflags: MsFlags,
    ) {
        let atime_bits =
            linux::MOUNT_ATTR_NOATIME | linux::MOUNT_ATTR_STRICTATIME | linux::MOUNT_ATTR_RELATIME;

        let noatime = msflags.contains(MsFlags::MS_NOATIME);
        let strictatime = msflags.contains(MsFlags::MS_STRICTATIME);
        let relatime = msflags.contains(MsFlags::MS_RELATIME);

        let atime = if strictatime {
            linux::MOUNT_ATTR_STRICTATIME
        } else if noatime {
            linux::MOUNT_ATTR_NOATIME
        } else if relatime {
            linux::MOUNT_ATTR_RELATIME
        } else {
            0
        };

        let non_atime = attr_set_from_flags & !atime_bits;

        // ward patch: relatime is 0 in MOUNT_ATTR terms, so `atime != 0`
        // missed it; and nodiratime is an atime setting too. Any of them
        // replaces the mount's atime settings (runc's bind atime semantics:
        // `relatime` over a noatime source clears noatime, `nodiratime`
        // alone gives relatime,nodiratime, `strictatime` clears nodiratime).
        let nodiratime = msflags.contains(MsFlags::MS_NODIRATIME);
        if strictatime || noatime || relatime || nodiratime {
            mount_attr.attr_clr |= linux::MOUNT_ATTR__ATIME | linux::MOUNT_ATTR_NODIRATIME;
            mount_attr.attr_set |= non_atime | atime;
        } else {
            mount_attr.attr_set |= non_atime;
        }
    }

    /// check_proc_mount checks to ensure that the mount destination is not over the top of /proc.
    /// dest is required to be an abs path and have any symlinks resolved before calling this function.
    /// # Example  (a valid case where `/proc` is mounted with `proc` type.)
    ///
    /// ```
    /// use std::path::PathBuf;
    /// use oci_spec::runtime::MountBuilder as SpecMountBuilder;
    /// use libcontainer::rootfs::Mount;
    ///
    /// let mounter = Mount::new();
    ///
    /// let rootfs = PathBuf::from("/var/lib/my-runtime/containers/abcd1234/rootfs");
    /// let destination = PathBuf::from("/proc");
    /// let source = PathBuf::from("proc");
    /// let typ = "proc";
    ///
    /// let mount = SpecMountBuilder::default()
    ///     .destination(destination)
    ///     .typ(typ)
    ///     .source(source)
    ///     .build()
    ///     .expect("failed to build SpecMount");
    ///
    /// assert!(mounter.check_proc_mount(rootfs.as_path(), &mount).is_ok());
    /// ```
    /// # Example (bind mount to `/proc` that should fail)
    /// ```
    /// use std::path::PathBuf;
    /// use oci_spec::runtime::MountBuilder as SpecMountBuilder;
    /// use libcontainer::rootfs::Mount;
    ///
    /// let mounter = Mount::new();
    ///
    /// let rootfs = PathBuf::from("/var/lib/my-runtime/containers/abcd1234/rootfs");
    /// let destination = PathBuf::from("/proc");
    /// let source = PathBuf::from("/tmp");
    /// let typ = "bind";
    ///
    /// let mount = SpecMountBuilder::default()
    ///     .destination(destination)
    ///     .typ(typ)
    ///     .source(source)
    ///     .build()
    ///     .expect("failed to build SpecMount");
    ///
    /// assert!(mounter.check_proc_mount(rootfs.as_path(), &mount).is_err());
    /// ```
    pub fn check_proc_mount(&self, rootfs: &Path, mount: &SpecMount) -> Result<()> {
        const PROC_ROOT_INO: u64 = 1;
        const VALID_PROC_MOUNTS: &[&str] = &[
            "/proc/cpuinfo",
            "/proc/diskstats",
            "/proc/meminfo",
            "/proc/stat",
            "/proc/swaps",
            "/proc/uptime",
            "/proc/loadavg",
            "/proc/slabinfo",
            "/proc/sys/kernel/ns_last_pid",
            "/proc/sys/crypto/fips_enabled",
        ];

        let dest = mount.destination();

        let container_proc_path = rootfs.join("proc");
        let dest_path = rootfs.join_safely(dest).map_err(|err| {
            tracing::error!(
                "could not join rootfs path with mount destination {:?}: {}",
                dest,
                err
            );
            MountError::Other(err.into())
        })?;

        // If path is Ok, it means dest_path is under /proc.
        // - Ok(p) with p.is_empty(): mount target is exactly /proc.
        //   In this case, check if the mount source is procfs.
        // - Ok(p) with !p.is_empty(): mount target is under /proc.
        //   Only allow if it matches a specific whitelist of proc entries.
        // - Err: not under /proc, so no further checks are needed
        let path = dest_path.strip_prefix(&container_proc_path);

        match path {
            Err(_) => Ok(()),
            Ok(p) if p.as_os_str().is_empty() => {
                if mount.typ().as_deref() == Some("proc") {
                    return Ok(());
                }

                if is_bind(mount) {
                    if let Some(source) = mount.source() {
                        let stat = statfs(source).map_err(MountError::from)?;
                        if stat.filesystem_type() == PROC_SUPER_MAGIC {
                            let meta = fs::metadata(source).map_err(MountError::from)?;
                            // Follow the behavior of runc's checkProcMount function.
                            if meta.ino() != PROC_ROOT_INO {
                                tracing::warn!(
                                    "bind-mount {} (source {:?}) is of type procfs but not the root (inode {}). \
                                    Future versions may reject this.",
                                    dest.display(),
                                    mount.source(),
                                    meta.ino()
                                );
                            }
                            return Ok(());
                        }
                    }
                }

                Err(MountError::Custom(format!(
                    "{} cannot be mounted because it is not type proc",
                    dest.display()
                )))
            }
            Ok(_) => {
                // Here dest is definitely under /proc. Do not allow those,
                // except for a few specific entries emulated by lxcfs.
                let is_allowed = VALID_PROC_MOUNTS.iter().any(|allowed_path| {
                    let container_allowed_path = rootfs.join(allowed_path.trim_start_matches('/'));
                    dest_path == container_allowed_path
                });

                if is_allowed {
                    Ok(())
                } else {
                    Err(MountError::Other(
                        format!("{} is not a valid mount under /proc", dest.display()).into(),
                    ))
                }
            }
        }
    }
}

/// Find parent mount of rootfs in given mount infos
pub fn find_parent_mount(
    rootfs: &Path,
    mount_infos: Vec<MountInfo>,
) -> std::result::Result<MountInfo, MountError> {
    // find the longest mount point
    let parent_mount_info = mount_infos
        .into_iter()
        .filter(|mi| rootfs.starts_with(&mi.mount_point))
        .max_by(|mi1, mi2| mi1.mount_point.len().cmp(&mi2.mount_point.len()))
        .ok_or_else(|| {
            MountError::Custom(format!("can't find the parent mount of {:?}", rootfs))
        })?;
    Ok(parent_mount_info)
}

/// ward patch: the per-mount flags a bind's options set or clear.
struct BindFlagOptions {
    /// MOUNT_ATTR_* the options ask for.
    set: u64,
    /// MOUNT_ATTR_* the options name the opposite of (rw, suid, dev, exec,
    /// symfollow): never kept from the source.
    cleared: u64,
}

/// The flags a bind may lose when its options name others.
const BIND_CLEARABLE: u64 = linux::MOUNT_ATTR_RDONLY
    | linux::MOUNT_ATTR_NOSUID
    | linux::MOUNT_ATTR_NODEV
    | linux::MOUNT_ATTR_NOEXEC
    | linux::MOUNT_ATTR_NOSYMFOLLOW;

/// A bind's flag options, or None when it names no flag at all (runc: no
/// remount, the source's flags as they are). Propagation, bind/rbind, idmap
/// and recursive (`r`-prefixed) options are not flags of the mount itself.
fn bind_flag_options(m: &SpecMount) -> Option<BindFlagOptions> {
    let mut any = false;
    let mut set = 0;
    let mut cleared = 0;
    for o in m.options().iter().flatten() {
        let (on, attr) = match o.as_str() {
            "ro" => (true, linux::MOUNT_ATTR_RDONLY),
            "rw" => (false, linux::MOUNT_ATTR_RDONLY),
            "nosuid" => (true, linux::MOUNT_ATTR_NOSUID),
            "suid" => (false, linux::MOUNT_ATTR_NOSUID),
            "nodev" => (true, linux::MOUNT_ATTR_NODEV),
            "dev" => (false, linux::MOUNT_ATTR_NODEV),
            "noexec" => (true, linux::MOUNT_ATTR_NOEXEC),
            "exec" => (false, linux::MOUNT_ATTR_NOEXEC),
            "nosymfollow" => (true, linux::MOUNT_ATTR_NOSYMFOLLOW),
            "symfollow" => (false, linux::MOUNT_ATTR_NOSYMFOLLOW),
            "atime" | "noatime" | "diratime" | "nodiratime" | "relatime" | "norelatime"
            | "strictatime" | "nostrictatime" | "sync" | "async" | "dirsync" | "mand"
            | "nomand" => {
                any = true;
                continue;
            }
            _ => continue,
        };
        any = true;
        if on {
            set |= attr;
            cleared &= !attr;
        } else {
            set &= !attr;
            cleared |= attr;
        }
    }
    any.then_some(BindFlagOptions { set, cleared })
}

/// The mount `fd`'s lockable flags (ro, nosuid, nodev, noexec) and its atime
/// settings, as MOUNT_ATTR_* bits (relatime is 0; strictatime when neither
/// noatime nor relatime), from one fstatvfs.
fn source_attrs(fd: std::os::fd::BorrowedFd<'_>) -> (u64, u64) {
    use nix::sys::statvfs::{FsFlags, fstatvfs};
    let Ok(st) = fstatvfs(fd) else { return (0, 0) };
    let f = st.flags();
    let locked = [
        (FsFlags::ST_RDONLY, linux::MOUNT_ATTR_RDONLY),
        (FsFlags::ST_NOSUID, linux::MOUNT_ATTR_NOSUID),
        (FsFlags::ST_NODEV, linux::MOUNT_ATTR_NODEV),
        (FsFlags::ST_NOEXEC, linux::MOUNT_ATTR_NOEXEC),
    ]
    .iter()
    .filter(|(st, _)| f.contains(*st))
    .fold(0, |acc, (_, a)| acc | a);
    let mut atime = if f.contains(FsFlags::ST_NOATIME) {
        linux::MOUNT_ATTR_NOATIME
    } else if f.contains(FsFlags::ST_RELATIME) {
        linux::MOUNT_ATTR_RELATIME
    } else {
        linux::MOUNT_ATTR_STRICTATIME
    };
    if f.contains(FsFlags::ST_NODIRATIME) {
        atime |= linux::MOUNT_ATTR_NODIRATIME;
    }
    (locked, atime)
}

#[cfg(test)]
mod tests {
    #[cfg(feature = "v1")]
    use std::fs;
    use std::fs::OpenOptions;
    use std::os::unix::fs::symlink;
    use std::os::unix::net::UnixListener;
    use std::str::FromStr;

    use anyhow::{Context, Ok, Result};

    use super::*;
    use crate::syscall::test::{ArgName, FsconfigArgs, FsopenArgs, TestHelperSyscall};

    fn helper_syscall(m: &Mount) -> &TestHelperSyscall {
        m.syscall
            .as_any()
            .downcast_ref::<TestHelperSyscall>()
            .unwrap()
    }

    // Helpers to build the expected fsconfig calls of the fd-based mount flow.
    fn fsc_str(key: &str, val: &str) -> FsconfigArgs {
        FsconfigArgs {
            cmd: linux::FSCONFIG_SET_STRING as u32,
            key: Some(key.to_string()),
            val: Some(val.to_string()),
            aux: 0,
        }
    }

    fn fsc_flag(key: &str) -> FsconfigArgs {
        FsconfigArgs {
            cmd: linux::FSCONFIG_SET_FLAG as u32,
            key: Some(key.to_string()),
            val: None,
            aux: 0,
        }
    }

    fn fsc_create() -> FsconfigArgs {
        FsconfigArgs {
            cmd: linux::FSCONFIG_CMD_CREATE as u32,
            key: None,
            val: None,
            aux: 0,
        }
    }

    #[test]
    fn test_mount_into_container() -> Result<()> {
        let tmp_dir = tempfile::tempdir()?;
        {
            // Non-bind mount (devpts) uses the fsopen/fsconfig/fsmount flow.
            let m = Mount::new();
            let mount = &SpecMountBuilder::default()
                .destination(PathBuf::from("/dev/pts"))
                .typ("devpts")
                .source(PathBuf::from("devpts"))
                .options(vec![
                    "nosuid".to_string(),
                    "noexec".to_string(),
                    "newinstance".to_string(),
                    "ptmxmode=0666".to_string(),
                    "mode=0620".to_string(),
                    "gid=5".to_string(),
                ])
                .build()?;
            let mount_option_config = parse_mount(mount)?;

            assert!(
                m.mount_into_container(
                    mount,
                    tmp_dir.path(),
                    &mount_option_config,
                    Some("defaults")
                )
                .is_ok()
            );

            let s = helper_syscall(&m);

            assert_eq!(
                s.get_fsopen_args(),
                vec![FsopenArgs {
                    fsname: Some("devpts".to_string()),
                    flags: 0,
                }]
            );

            // source, then each mount option, then the create command. The
            // SELinux mount label is only applied when SELinux is enabled.
            let mut want_fsconfig = vec![
                fsc_str("source", "devpts"),
                fsc_flag("newinstance"),
                fsc_str("ptmxmode", "0666"),
                fsc_str("mode", "0620"),
                fsc_str("gid", "5"),
            ];
            if Path::new("/sys/fs/selinux").exists() {
                want_fsconfig.push(fsc_str("context", "defaults"));
            }
            want_fsconfig.push(fsc_create());
            assert_eq!(s.get_fsconfig_args(), want_fsconfig);

            let setattr = s.get_mount_setattr_args();
            assert_eq!(setattr.len(), 1);
            assert_eq!(
                setattr[0].attr_set,
                linux::MOUNT_ATTR_NOSUID | linux::MOUNT_ATTR_NOEXEC
            );

            let mv = s.get_move_mount_args();
            assert_eq!(mv.len(), 1);
            assert_eq!(
                mv[0].to_dirfd_path.as_deref(),
                Some(tmp_dir.path().join("dev/pts").as_path())
            );
        }
        {
            // Read-only bind mount uses the open_tree flow; the read-only flag
            // is applied via mount_setattr (no separate remount).
            let m = Mount::new();
            let mount = &SpecMountBuilder::default()
                .destination(PathBuf::from("/dev/null"))
                .typ("bind")
                .source(tmp_dir.path().join("null"))
                .options(vec!["ro".to_string()])
                .build()?;
            let mount_option_config = parse_mount(mount)?;
            OpenOptions::new()
                .create(true)
                .truncate(true)
                .write(true)
                .open(tmp_dir.path().join("null"))?;

            assert!(
                m.mount_into_container(mount, tmp_dir.path(), &mount_option_config, None)
                    .is_ok()
            );

            let s = helper_syscall(&m);

            let open_tree = s.get_open_tree_args();
            assert_eq!(open_tree.len(), 1);
            assert_eq!(
                open_tree[0].path.as_deref(),
                Some(tmp_dir.path().join("null").to_str().unwrap())
            );
            assert_eq!(open_tree[0].flags & linux::AT_RECURSIVE, 0);

            let setattr = s.get_mount_setattr_args();
            assert_eq!(setattr.len(), 1);
            assert_eq!(setattr[0].attr_set, linux::MOUNT_ATTR_RDONLY);

            let mv = s.get_move_mount_args();
            assert_eq!(mv.len(), 1);
            assert_eq!(
                mv[0].to_dirfd_path.as_deref(),
                Some(tmp_dir.path().join("dev/null").as_path())
            );
        }
        {
            // Socket file bind-mount
            // https://github.com/youki-dev/youki/issues/3483
            let m = Mount::new();
            let mount = &SpecMountBuilder::default()
                .destination(PathBuf::from("/tmp.sock"))
                .typ("bind")
                .source(tmp_dir.path().join("tmp.sock"))
                .build()?;
            let mount_option_config = parse_mount(mount)?;
            UnixListener::bind(tmp_dir.path().join("tmp.sock"))?;

            assert!(
                m.mount_into_container(mount, tmp_dir.path(), &mount_option_config, None)
                    .is_ok()
            );

            let s = helper_syscall(&m);

            let open_tree = s.get_open_tree_args();
            assert_eq!(open_tree.len(), 1);
            assert_eq!(
                open_tree[0].path.as_deref(),
                Some(tmp_dir.path().join("tmp.sock").to_str().unwrap())
            );
            assert_eq!(open_tree[0].flags & linux::AT_RECURSIVE, 0);

            let setattr = s.get_mount_setattr_args();
            assert_eq!(setattr.len(), 1);
            assert_eq!(setattr[0].attr_set, 0);

            let mv = s.get_move_mount_args();
            assert_eq!(mv.len(), 1);
            assert_eq!(
                mv[0].to_dirfd_path.as_deref(),
                Some(tmp_dir.path().join("tmp.sock").as_path())
            );
        }
        {
            // EINVAL on the first attempt is retried once and then succeeds.
            let m = Mount::new();
            let mount = &SpecMountBuilder::default()
                .destination(PathBuf::from("/tmp/retry"))
                .typ("tmpfs")
                .source(PathBuf::from("tmpfs"))
                .build()?;
            let mount_option_config = parse_mount(mount)?;

            let syscall = helper_syscall(&m);
            syscall.set_ret_err(ArgName::Fsopen, || {
                Err(crate::syscall::SyscallError::Nix(nix::errno::Errno::EINVAL))
            });
            syscall.set_ret_err_times(ArgName::Fsopen, 1);

            assert!(
                m.mount_into_container(mount, tmp_dir.path(), &mount_option_config, None)
                    .is_ok()
            );
            // The failed first fsopen isn't recorded; only the retried one is.
            assert_eq!(syscall.get_fsopen_args().len(), 1);
        }
        {
            // EINVAL on both attempts gives up.
            let m = Mount::new();
            let mount = &SpecMountBuilder::default()
                .destination(PathBuf::from("/tmp/retry"))
                .typ("tmpfs")
                .source(PathBuf::from("tmpfs"))
                .build()?;
            let mount_option_config = parse_mount(mount)?;

            let syscall = helper_syscall(&m);
            syscall.set_ret_err(ArgName::Fsopen, || {
                Err(crate::syscall::SyscallError::Nix(nix::errno::Errno::EINVAL))
            });
            syscall.set_ret_err_times(ArgName::Fsopen, 2);

            assert!(
                m.mount_into_container(mount, tmp_dir.path(), &mount_option_config, None)
                    .is_err()
            );
            assert_eq!(syscall.get_fsopen_args().len(), 0);
        }
        {
            // EBUSY is retried up to MAX_EBUSY_MOUNT_ATTEMPTS times.
            let m = Mount::new();
            let mount = &SpecMountBuilder::default()
                .destination(PathBuf::from("/tmp/retry"))
                .typ("tmpfs")
                .source(PathBuf::from("tmpfs"))
                .build()?;
            let mount_option_config = parse_mount(mount)?;

            let syscall = helper_syscall(&m);
            syscall.set_ret_err(ArgName::Fsopen, || {
                Err(crate::syscall::SyscallError::Nix(nix::errno::Errno::EBUSY))
            });
            syscall.set_ret_err_times(ArgName::Fsopen, MAX_EBUSY_MOUNT_ATTEMPTS as usize - 1);

            assert!(
                m.mount_into_container(mount, tmp_dir.path(), &mount_option_config, None)
                    .is_ok()
            );
            assert_eq!(syscall.get_fsopen_args().len(), 1);
        }
        {
            // EBUSY beyond MAX_EBUSY_MOUNT_ATTEMPTS gives up.
            let m = Mount::new();
            let mount = &SpecMountBuilder::default()
                .destination(PathBuf::from("/tmp/retry"))
                .typ("tmpfs")
                .source(PathBuf::from("tmpfs"))
                .build()?;
            let mount_option_config = parse_mount(mount)?;

            let syscall = helper_syscall(&m);
            syscall.set_ret_err(ArgName::Fsopen, || {
                Err(crate::syscall::SyscallError::Nix(nix::errno::Errno::EBUSY))
            });
            syscall.set_ret_err_times(ArgName::Fsopen, MAX_EBUSY_MOUNT_ATTEMPTS as usize);

            assert!(
                m.mount_into_container(mount, tmp_dir.path(), &mount_option_config, None)
                    .is_err()
            );
            assert_eq!(syscall.get_fsopen_args().len(), 0);
        }

        Ok(())
    }

    struct FakeMountInfo {
        entries: Vec<MountInfo>,
    }
    impl MountInfoProvider for FakeMountInfo {
        fn mountinfo(&self) -> std::result::Result<Vec<MountInfo>, MountError> {
            std::result::Result::Ok(self.entries.clone())
        }
    }

    #[test]
    fn test_make_parent_mount_private() -> Result<()> {
        let tmp_dir = PathBuf::from_str("/tmp/mydir")?;

        let parent = tmp_dir.as_path().parent().unwrap().to_path_buf();
        let fake = FakeMountInfo {
            entries: vec![MountInfo {
                mnt_id: 1,
                pid: 0,
                majmin: "".to_string(),
                root: "/".to_string(),
                mount_point: parent.clone(),
                mount_options: Default::default(),
                opt_fields: vec![MountOptFields::Shared(1)],
                fs_type: "tmpfs".to_string(),
                mount_source: None,
                super_options: Default::default(),
            }],
        };

        let m = Mount::new().with_mountinfo_provider(fake);
        m.make_parent_mount_private(tmp_dir.as_path())?;

        let set = m
            .syscall
            .as_any()
            .downcast_ref::<TestHelperSyscall>()
            .unwrap()
            .get_mount_args();

        assert_eq!(set.len(), 1);

        let got = &set[0];
        assert_eq!(got.source, None);
        assert_eq!(got.fstype, None);
        assert_eq!(got.flags, MsFlags::MS_PRIVATE);
        assert_eq!(got.data, None);

        assert_eq!(got.target, parent);

        Ok(())
    }

    #[test]
    fn test_not_make_parent_mount_private_if_already_private() -> Result<()> {
        let tmp_dir = PathBuf::from_str("/tmp/mydir")?;

        let parent = tmp_dir.as_path().parent().unwrap().to_path_buf();
        let fake = FakeMountInfo {
            entries: vec![MountInfo {
                mnt_id: 1,
                pid: 0,
                majmin: "".to_string(),
                root: "/".to_string(),
                mount_point: parent.clone(),
                mount_options: Default::default(),
                opt_fields: vec![],
                fs_type: "tmpfs".to_string(),
                mount_source: None,
                super_options: Default::default(),
            }],
        };

        let m = Mount::new().with_mountinfo_provider(fake);
        m.make_parent_mount_private(tmp_dir.as_path())?;

        let set = m
            .syscall
            .as_any()
            .downcast_ref::<TestHelperSyscall>()
            .unwrap()
            .get_mount_args();

        assert_eq!(set.len(), 0);

        Ok(())
    }

    #[test]
    #[cfg(feature = "v2")]
    fn test_mount_cgroup_v2() -> Result<()> {
        // arrange
        let tmp = tempfile::tempdir().unwrap();
        let container_cgroup = PathBuf::from("/sys/fs/cgroup");

        let spec_cgroup_mount = SpecMountBuilder::default()
            .destination(&container_cgroup)
            .source("cgroup")
            .typ("cgroup")
            .build()
            .context("failed to build cgroup mount")?;

        let mount_opts = MountOptions {
            root: tmp.path(),
            label: None,
            cgroup_ns: true,
        };

        let mounter = Mount::new();
        let flags = MsFlags::MS_NOEXEC | MsFlags::MS_NOSUID | MsFlags::MS_NODEV;

        // act
        let mount_option_config = MountOptionConfig {
            flags,
            data: vec![],
            rec_attr: None,
        };
        mounter
            .mount_cgroup_v2(&spec_cgroup_mount, &mount_opts, &mount_option_config)
            .context("failed to mount cgroup v2")?;

        // assert
        let s = helper_syscall(&mounter);

        // cgroup v2 is a non-bind mount (cgroup2 filesystem).
        assert_eq!(
            s.get_fsopen_args(),
            vec![FsopenArgs {
                fsname: Some("cgroup2".to_string()),
                flags: 0,
            }]
        );
        // No mount data, so only the source and the create command.
        assert_eq!(
            s.get_fsconfig_args(),
            vec![fsc_str("source", "cgroup"), fsc_create()]
        );

        let setattr = s.get_mount_setattr_args();
        assert_eq!(setattr.len(), 1);
        assert_eq!(
            setattr[0].attr_set,
            linux::MOUNT_ATTR_NOEXEC | linux::MOUNT_ATTR_NOSUID | linux::MOUNT_ATTR_NODEV
        );

        let mv = s.get_move_mount_args();
        assert_eq!(mv.len(), 1);
        assert_eq!(
            mv[0].to_dirfd_path.as_deref(),
            Some(tmp.path().join_safely(container_cgroup)?.as_path())
        );

        Ok(())
    }

    #[test]
    fn test_find_parent_mount() -> anyhow::Result<()> {
        let mount_infos = vec![
            MountInfo {
                mnt_id: 11,
                pid: 10,
                majmin: "".to_string(),
                root: "/".to_string(),
                mount_point: PathBuf::from("/"),
                mount_options: Default::default(),
                opt_fields: vec![],
                fs_type: "ext4".to_string(),
                mount_source: Some("/dev/sda1".to_string()),
                super_options: Default::default(),
            },
            MountInfo {
                mnt_id: 12,
                pid: 11,
                majmin: "".to_string(),
                root: "/".to_string(),
                mount_point: PathBuf::from("/proc"),
                mount_options: Default::default(),
                opt_fields: vec![],
                fs_type: "proc".to_string(),
                mount_source: Some("proc".to_string()),
                super_options: Default::default(),
            },
        ];

        let res = find_parent_mount(Path::new("/path/to/rootfs"), mount_infos)
            .context("failed to get parent mount")?;
        assert_eq!(res.mnt_id, 11);
        Ok(())
    }

    #[test]
    fn test_find_parent_mount_with_empty_mount_infos() {
        let mount_infos = vec![];
        let res = find_parent_mount(Path::new("/path/to/rootfs"), mount_infos);
        assert!(res.is_err());
    }

    #[test]
    fn test_check_proc_mount_proc_ok() -> Result<()> {
        let rootfs = tempfile::tempdir()?;
        let mounter = Mount::new();

        let mount = SpecMountBuilder::default()
            .destination(PathBuf::from("/proc"))
            .typ("proc".to_string())
            .source(PathBuf::from("proc"))
            .build()?;

        assert!(mounter.check_proc_mount(rootfs.path(), &mount).is_ok());
        Ok(())
    }

    #[test]
    fn test_check_proc_mount_allowed_subpath() -> Result<()> {
        let rootfs = tempfile::tempdir()?;
        let uptime = rootfs.path().join("proc/uptime");
        std::fs::create_dir_all(uptime.parent().unwrap())?;

        let mounter = Mount::new();
        let mount = SpecMountBuilder::default()
            .destination(PathBuf::from("/proc/uptime"))
            .typ("bind".to_string())
            .source(uptime)
            .build()?;

        assert!(mounter.check_proc_mount(rootfs.path(), &mount).is_ok());
        Ok(())
    }

    #[test]
    fn test_check_proc_mount_denied_subpath() -> Result<()> {
        let rootfs = tempfile::tempdir()?;
        let custom = rootfs.path().join("proc/custom");
        std::fs::create_dir_all(custom.parent().unwrap())?;

        let mounter = Mount::new();
        let mount = SpecMountBuilder::default()
            .destination(PathBuf::from("/proc/custom"))
            .typ("bind".to_string())
            .source(custom)
            .build()?;

        assert!(mounter.check_proc_mount(rootfs.path(), &mount).is_err());
        Ok(())
    }

    #[test]
    fn setup_mount_proc_fails_if_destination_is_symlink() -> Result<()> {
        let tmp = tempfile::tempdir()?;
        let rootfs = tmp.path();

        let symlink_path = rootfs.join("symlink");
        fs::create_dir_all(&symlink_path)?;
        let proc_path = rootfs.join("proc");

        symlink(&symlink_path, &proc_path)?;

        let mount = SpecMountBuilder::default()
            .destination(PathBuf::from("/proc"))
            .typ("proc")
            .source(proc_path)
            .build()?;

        let options = MountOptions {
            root: rootfs,
            label: None,
            cgroup_ns: true,
        };

        let m = Mount::new();

        let res = m.setup_mount(&mount, &options);

        // proc destination symlink should be rejected
        assert!(res.is_err());
        let err = format!("{:?}", res.err().unwrap());
        assert!(err.contains("must be mounted on ordinary directory"));

        Ok(())
    }

    #[test]
    fn setup_mount_sys_fails_if_destination_is_symlink() -> Result<()> {
        let tmp = tempfile::tempdir()?;
        let rootfs = tmp.path();

        let symlink_path = rootfs.join("symlink");
        fs::create_dir_all(&symlink_path)?;
        let sys_path = rootfs.join("sys");

        symlink(&symlink_path, &sys_path)?;

        let mount = SpecMountBuilder::default()
            .destination(PathBuf::from("/sys"))
            .typ("sysfs")
            .source(sys_path)
            .build()?;

        let options = MountOptions {
            root: rootfs,
            label: None,
            cgroup_ns: true,
        };

        let m = Mount::new();

        let res = m.setup_mount(&mount, &options);

        // sys destination symlink should be rejected
        assert!(res.is_err());
        let err = format!("{:?}", res.err().unwrap());
        assert!(err.contains("must be mounted on ordinary directory"));

        Ok(())
    }
}

/// ward patch: a directory mount destination, created if missing. Some(fd)
/// from the fast path below; None once pathrs has created it the careful way
/// (the caller then resolves it through pathrs too).
/// ward: the in-root path a bind destination names when symlinks on it
/// dangle (runc's "bind mount through a dangling symlink"): each component is
/// looked up without following; a symlink's target (read within the root) is
/// spliced in; missing directories are created, and the last component too
/// when `dir`. Everything goes through `root`, which cannot be escaped. None
/// when the path cannot be resolved this way (the caller's error stands).
fn follow_dangling(root: &Root, path: &Path, dir: bool) -> Option<PathBuf> {
    use std::collections::VecDeque;
    use std::path::Component;
    let mut pending: VecDeque<std::ffi::OsString> = VecDeque::new();
    let push_front = |pending: &mut VecDeque<std::ffi::OsString>, p: &Path| {
        for c in p.components().rev() {
            match c {
                Component::Normal(n) => pending.push_front(n.to_os_string()),
                Component::ParentDir => pending.push_front("..".into()),
                _ => {}
            }
        }
    };
    push_front(&mut pending, path);
    let mut resolved = PathBuf::from("/");
    let mut hops = 0;
    while let Some(c) = pending.pop_front() {
        if c == ".." {
            resolved.pop();
            continue;
        }
        let candidate = resolved.join(&c);
        let last = pending.is_empty();
        match root.readlink(&candidate) {
            Ok(target) => {
                hops += 1;
                if hops > 40 {
                    return None;
                }
                if target.is_absolute() {
                    resolved = PathBuf::from("/");
                }
                push_front(&mut pending, &target);
            }
            Err(_) if root.resolve_nofollow(&candidate).is_ok() => resolved = candidate,
            Err(_) if !last || dir => {
                root.create(
                    &candidate,
                    &pathrs::InodeType::Directory(Permissions::from_mode(0o755)),
                )
                .ok()?;
                resolved = candidate;
            }
            Err(_) => resolved = candidate,
        }
    }
    Some(resolved)
}

/// ward: whether a spec mount asks to be read-only.
fn is_read_only(m: &SpecMount) -> bool {
    m.options().iter().flatten().any(|o| o == "ro")
}

fn dir_dest(root: &Root, path: &Path, perm: &Permissions) -> Result<Option<OwnedFd>> {
    let fast = open_dir_beneath(root, path);
    if fast.is_none() {
        root.mkdir_all(path, perm)?;
    }
    Ok(fast)
}

/// ward patch: the common case of `Root::mkdir_all` + `Root::resolve` for a
/// mount destination, without pathrs's procfs-based re-verification (about 50
/// syscalls per mount, 27 mounts per create). Walks `path` from the root one
/// component at a time with O_NOFOLLOW|O_DIRECTORY, creating missing
/// directories, so every step is a real directory beneath the previous one and
/// no symlink is ever followed. Anything else (a symlink on the way, "..", a
/// non-directory, a racing rename that makes a step fail) returns None, and the
/// caller takes pathrs's full path, which resolves symlinks within the root.
fn open_dir_beneath(root: &Root, path: &Path) -> Option<OwnedFd> {
    if path
        .components()
        .any(|c| matches!(c, std::path::Component::ParentDir | std::path::Component::Prefix(_)))
    {
        return None;
    }
    match open_dir_resolved(root.as_fd(), path) {
        Ok(fd) => Some(fd),
        Err(_) => open_dir_walk(root, path),
    }
}

/// ward patch: whether `path` exists in the root when no symlink is on it, in
/// one openat2 (pathrs's resolve of a missing destination costs ~50 syscalls
/// with its procfs checks, and a fresh mount point is missing every time).
/// Some(true): it exists and no component is a symlink; Some(false): a
/// component is missing and none before it is a symlink (resolution stops at
/// the first symlink with ELOOP, so a dangling one is never reported missing).
/// None: anything else (a symlink, "..", no openat2): ask pathrs.
fn plain_lookup(root: std::os::fd::BorrowedFd<'_>, path: &Path) -> Option<bool> {
    use std::os::fd::{AsRawFd, FromRawFd};

    use nix::fcntl::{OFlag, OpenHow, ResolveFlag, openat2};
    if path
        .components()
        .any(|c| matches!(c, std::path::Component::ParentDir | std::path::Component::Prefix(_)))
    {
        return None;
    }
    let rel = path.strip_prefix("/").unwrap_or(path);
    let rel = if rel.as_os_str().is_empty() { Path::new(".") } else { rel };
    let how = OpenHow::new()
        // No O_NOFOLLOW: with it openat2 returns a trailing symlink itself
        // instead of refusing it.
        .flags(OFlag::O_PATH | OFlag::O_CLOEXEC)
        .resolve(ResolveFlag::RESOLVE_BENEATH | ResolveFlag::RESOLVE_NO_SYMLINKS);
    match openat2(root.as_raw_fd(), rel, how) {
        Ok(fd) => {
            // SAFETY: openat2 just returned this fd; nothing else owns it.
            drop(unsafe { OwnedFd::from_raw_fd(fd) });
            Some(true)
        }
        Err(Errno::ENOENT) => Some(false),
        Err(_) => None,
    }
}

/// ward patch: `open_dir_beneath` in one openat2 per existing path (the
/// component walk costs two syscalls per component; 9 cgroup hierarchies under
/// sys/fs/cgroup alone were ~100). RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS gives
/// the walk's guarantees in the kernel: no symlink followed at any step, never
/// outside the root, O_DIRECTORY for the last step. A missing last component
/// is created in its parent (opened the same way, recursively) and opened with
/// O_NOFOLLOW. Any other error (no openat2: ENOSYS; a symlink: ELOOP) goes to
/// the component walk, and from there to pathrs.
fn open_dir_resolved(root: std::os::fd::BorrowedFd<'_>, path: &Path) -> nix::Result<OwnedFd> {
    use std::os::fd::{AsRawFd, FromRawFd};

    use nix::fcntl::{OFlag, OpenHow, ResolveFlag, openat, openat2};
    use nix::sys::stat::{Mode, mkdirat};
    let flags = OFlag::O_PATH | OFlag::O_NOFOLLOW | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC;
    let rel = path.strip_prefix("/").unwrap_or(path);
    let rel = if rel.as_os_str().is_empty() { Path::new(".") } else { rel };
    // No O_NOFOLLOW here: with O_PATH it would return a trailing symlink
    // itself; without it RESOLVE_NO_SYMLINKS refuses it (ELOOP).
    let how = OpenHow::new()
        .flags(OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC)
        .resolve(ResolveFlag::RESOLVE_BENEATH | ResolveFlag::RESOLVE_NO_SYMLINKS);
    match openat2(root.as_raw_fd(), rel, how) {
        // SAFETY: openat2 just returned this fd; nothing else owns it.
        Ok(fd) => Ok(unsafe { OwnedFd::from_raw_fd(fd) }),
        Err(Errno::ENOENT) => {
            let (Some(parent), Some(name)) = (rel.parent(), rel.file_name()) else {
                return Err(Errno::ENOENT);
            };
            let dir = open_dir_resolved(root, parent)?;
            match mkdirat(Some(dir.as_raw_fd()), name, Mode::from_bits_truncate(0o755)) {
                Ok(()) | Err(Errno::EEXIST) => {}
                Err(e) => return Err(e),
            }
            let fd = openat(Some(dir.as_raw_fd()), name, flags, Mode::empty())?;
            // SAFETY: openat just returned this fd; nothing else owns it.
            Ok(unsafe { OwnedFd::from_raw_fd(fd) })
        }
        Err(e) => Err(e),
    }
}

/// The component walk of `open_dir_beneath` (kernels without openat2).
fn open_dir_walk(root: &Root, path: &Path) -> Option<OwnedFd> {
    use std::path::Component;

    use nix::fcntl::{OFlag, openat};
    use nix::sys::stat::{Mode, mkdirat};
    let flags = OFlag::O_PATH | OFlag::O_NOFOLLOW | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC;
    let open = |dir: std::os::fd::BorrowedFd<'_>, name: &std::ffi::OsStr| -> nix::Result<OwnedFd> {
        let fd = openat(Some(std::os::fd::AsRawFd::as_raw_fd(&dir)), name, flags, Mode::empty())?;
        // SAFETY: openat just returned this fd; nothing else owns it.
        Ok(unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) })
    };
    let mut cur = open(root.as_fd(), std::ffi::OsStr::new(".")).ok()?;
    for c in path.components() {
        let name = match c {
            Component::RootDir | Component::CurDir => continue,
            Component::Normal(n) => n,
            Component::ParentDir | Component::Prefix(_) => return None,
        };
        cur = match open(cur.as_fd(), name) {
            Ok(fd) => fd,
            Err(Errno::ENOENT) => {
                match mkdirat(
                    Some(std::os::fd::AsRawFd::as_raw_fd(&cur)),
                    name,
                    Mode::from_bits_truncate(0o755),
                ) {
                    Ok(()) | Err(Errno::EEXIST) => {}
                    Err(_) => return None,
                }
                open(cur.as_fd(), name).ok()?
            }
            Err(_) => return None,
        };
    }
    Some(cur)
}
