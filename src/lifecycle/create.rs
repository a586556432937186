//! `create` (and the first half of `run`): check everything, compute the policy,
//! hand libcontainer an effective bundle, and leave nothing behind on failure.

use std::path::{Path, PathBuf};

use libcontainer::container::Container;

use crate::bundle;
use crate::error::{io_err, lc_err, Result, WardError};
use crate::executor::WardExecutor;
use crate::fsutil::write_atomic;
use crate::hardening::{idmap_overlay, userns, userns_compat};
use crate::paths::StateRoot;
use crate::policy::{self, relax};
use crate::selfprotect;

#[derive(Debug, Default, Clone)]
pub struct CreateOpts {
    pub id: String,
    pub bundle: PathBuf,
    pub pid_file: Option<PathBuf>,
    pub console_socket: Option<PathBuf>,
    pub pidfd_socket: Option<PathBuf>,
    pub no_pivot: bool,
    pub preserve_fds: i32,
    pub systemd_cgroup: bool,
    /// `run` in the foreground keeps the init process as ward's child.
    pub detach: bool,
    /// `--relax LAYER=VALUE` from the command line.
    pub relax: Vec<String>,
}

pub fn create(root: &StateRoot, opts: &CreateOpts) -> Result<Container> {
    crate::id::validate_id(&opts.id)?;
    let cdir = root.container_dir(&opts.id);
    if cdir.exists() {
        return Err(WardError::Exists(opts.id.clone()));
    }
    check_parent_dir("--pid-file", opts.pid_file.as_deref())?;
    let b = bundle::load(&opts.bundle)?;
    crate::profile::mark("bundle loaded");
    let relaxations = relax::collect_with(b.spec.annotations().as_ref(), &opts.relax)?;
    policy::hostns::check_host_mount_ns(&b.spec, &relaxations)?;
    // Check the spec's own mappings before anything is claimed.
    userns::validate_spec_mappings(&b.spec)?;
    crate::profile::mark("relaxations and mappings checked");

    // Without ward's user namespace the process entering the container must
    // run from a sealed copy (CVE-2019-5736); re-exec now, before claiming.
    let rootfs_ro = !relaxations.has(relax::Layer::Rootfs)
        || b.spec.root().as_ref().and_then(|r| r.readonly()) == Some(true);
    let kind = idmap_overlay::rootfs_kind(&b.rootfs);
    let plan = policy::idmap::rootfs_plan(kind, rootfs_ro);
    let joined = if policy::wants_default_userns(&b.spec, &relaxations) {
        userns_compat::joined(&b.spec)
    } else {
        userns_compat::Joined::Nothing
    };
    if policy::wants_default_userns(&b.spec, &relaxations)
        && !matches!(joined, userns_compat::Joined::Host(_))
    {
        policy::hostns::check_host_pid_ns_under_ward_userns(&b.spec)?;
    }
    let protected_by_userns = policy::wants_default_userns(&b.spec, &relaxations)
        && !matches!(joined, userns_compat::Joined::Host(_))
        && policy::idmap::expects_userns(plan, kind);
    if !protected_by_userns {
        selfprotect::ensure_sealed().map_err(WardError::Invalid)?;
    }
    // The init attaches the rootfs id-mapped with the container's own user
    // namespace (no host-side mount, no mapping namespace), where that
    // cannot fail.
    let by_init =
        protected_by_userns && policy::idmap::rootfs_mapped_by_init(plan, kind, &b.rootfs, &b.spec);
    let wdir = root.ward_dir(&opts.id);
    claim_id(&wdir, &opts.id)?;
    crate::testpoint::reached("create:claimed");
    crate::profile::mark("id claimed");
    let result = (|| {
        // Inherited by libcontainer's processes: see creator.rs.
        let _creator =
            super::creator::hold(&wdir).map_err(io_err(format!("locking {}", wdir.display())))?;
        let mut relaxations = relaxations;
        // Container root owns its image's files through an id-mapped mount,
        // never by chowning them.
        let mut mapped = None;
        let mut adaptations = Vec::new();
        if let userns_compat::Joined::Host(why) = &joined {
            relaxations.list.push(relax::Relaxation {
                layer: relax::Layer::Userns,
                value: "host".into(),
                source: format!("automatic: {why}"),
            });
            tracing::warn!("user namespace off for {}: {why}", opts.id);
        }
        if policy::wants_default_userns(&b.spec, &relaxations) {
            let range = match joined {
                userns_compat::Joined::Userns(r) => r,
                _ => userns::allocate(&userns::owner_key(&wdir))?,
            };
            let target = crate::hardening::idmapped_rootfs_dir(&wdir, Some(&range))?;
            let ns = userns::MappingNs::new(&range);
            let mounted = if by_init {
                // The init attaches it at this empty dir (see below).
                let root = target.join("root");
                std::fs::create_dir(&root)
                    .map(|()| root.clone())
                    .map_err(|e| userns::UsernsError::Mount {
                        op: "mkdir",
                        path: root,
                        hint: "",
                        source: e,
                    })
            } else {
                ns.get()
                    .and_then(|fd| {
                        idmap_overlay::mount_rootfs(plan, &b.rootfs, &target, &range, fd)
                    })
                    .map(|(root, how)| {
                        if let Some(how) = how {
                            adaptations.push(policy::Adaptation {
                                what: format!(
                                    "rootfs {}: overlayfs shown through {how}",
                                    b.rootfs.display()
                                ),
                                why: "the kernel cannot id-map an overlayfs mount, only its layers"
                                    .into(),
                            });
                        }
                        root
                    })
            };
            match mounted {
                Ok(root) => mapped = Some((range, root, ns)),
                Err(
                    e @ (userns::UsernsError::NotIdmappable { .. }
                    | userns::UsernsError::OverlayWritable { .. }),
                ) => {
                    // Guessed wrong about the filesystem: no user namespace,
                    // so seal. The sealed process starts this create again.
                    // (A binary on a read-only mount needs no sealed copy:
                    // go on with the fallback here.)
                    if selfprotect::needs_reexec() {
                        crate::hardening::cleanup(&wdir, &opts.id);
                        let _ = std::fs::remove_dir_all(&wdir);
                        return Err(WardError::Invalid(
                            selfprotect::ensure_sealed()
                                .err()
                                .unwrap_or_else(|| "re-exec failed".into()),
                        ));
                    }
                    // The documented fallback: this container runs with host
                    // ids, said loudly and recorded as a relaxation.
                    crate::hardening::cleanup(&wdir, &opts.id);
                    let _ = std::fs::remove_file(wdir.join(userns::ROOTFS_MOUNT));
                    relaxations.list.push(relax::Relaxation {
                        layer: relax::Layer::Userns,
                        value: "host".into(),
                        source: format!("automatic: {e}"),
                    });
                    tracing::warn!("user namespace off for {}: {e}", opts.id);
                }
                Err(e) => return Err(e.into()),
            }
        }
        let range = mapped.as_ref().map(|(r, _, _)| r.clone());
        let mut built = policy::build(&b.spec, relaxations, range.clone(), &b.rootfs)?;
        crate::profile::mark("user namespace, id-mapped rootfs, policy built");
        // Under ward's user namespace /dev is made on the host side (one
        // mount instead of one per device), before `adapt` binds the rest.
        // Where ward stages mounts for this container on the host side.
        let mut staging = mapped
            .as_ref()
            .and_then(|(_, root, _)| root.parent().map(Path::to_path_buf));
        // (Held until libcontainer's main process has handed it over.)
        let host_dev = match &mapped {
            Some((r, _, _)) => crate::hardening::devfs::build(&mut built.spec, r)?,
            None => None,
        };
        if let Some(r) = &range {
            crate::hardening::userns_compat::adapt(&mut built.spec, &wdir, r)?;
        }
        built.policy.adaptations.extend(adaptations);
        let rootfs = match &mapped {
            Some((_, root, ns)) => {
                // Bind sources may sit under directories the container's
                // unprivileged root cannot traverse (podman's 0700 runroot):
                // stage them where it can, id-mapped like the rootfs.
                if let Some(dir) = root.parent() {
                    let staged = crate::hardening::userns_compat::stage_binds(
                        &mut built.spec,
                        dir,
                        &b.dir,
                        &wdir.join("devices"),
                        Some((ns, root.as_path())),
                        &b.rootfs,
                        false,
                    )?;
                    built.policy.adaptations.extend(staged);
                }
                if let Some(dev) = &host_dev {
                    dev.apply(&mut built.spec);
                }
                root.clone()
            }
            None => {
                // Id-mapped binds, which libcontainer cannot make, are
                // staged (with the spec's own user namespace, or none, as
                // runc allows); under the spec's user namespace so are plain
                // binds, whose source its root may not be able to reach.
                let wants_idmap = built
                    .spec
                    .mounts()
                    .iter()
                    .flatten()
                    .any(policy::idmap::spec_idmap);
                // (Staging mounts on the host side: root only; a rootless
                // ward reaches only what its user can reach anyway.)
                let spec_userns = built.policy.userns == policy::UsernsPolicy::Spec
                    && nix::unistd::geteuid().is_root();
                if spec_userns || wants_idmap {
                    let dir = crate::hardening::idmapped_rootfs_dir(&wdir, None)?;
                    staging = Some(dir.clone());
                    crate::hardening::userns_compat::stage_binds(
                        &mut built.spec,
                        &dir,
                        &b.dir,
                        &wdir.join("devices"),
                        None,
                        &b.rootfs,
                        spec_userns,
                    )?;
                }
                b.rootfs.clone()
            }
        };
        // The mapping namespace's fd is done with (the id-mapped mounts keep
        // the namespace alive): closed now, the init cloned below cannot
        // inherit it (runc's fd-leak check found it in a created init).
        let rootfs_from = (by_init && mapped.is_some()).then(|| b.rootfs.clone());
        drop(mapped);
        // Before ward's config names the cgroup: a failed create cleans up
        // the cgroup its config names, and this one may be another's.
        let cgroup = super::cgroup_path::effective(
            built
                .spec
                .linux()
                .as_ref()
                .and_then(|l| l.cgroups_path().as_deref()),
            &opts.id,
            opts.systemd_cgroup,
        )?;
        super::cgroup_path::check_unused(&cgroup, opts.systemd_cgroup)?;
        super::cgroup_path::check_unified(
            built
                .spec
                .linux()
                .as_ref()
                .and_then(|l| l.resources().as_ref()),
        )?;
        if policy::hostns::shares_host_mount_ns(&built.spec) {
            super::host_mounts::record(&wdir, &rootfs)
                .map_err(io_err(format!("recording mounts in {}", wdir.display())))?;
        }
        let own_mount_ns = policy::hostns::has_new_mount_ns(&built.spec);
        prepare_ward_dir(&wdir, opts, &b, &rootfs, built.spec, &built.policy)?;
        crate::testpoint::reached("create:prepared");
        crate::profile::mark("ward dir written");
        if let Some(f) = &built.spec_filter {
            write_atomic(&root.spec_filter_file(&opts.id), f)?;
        }
        let executor = WardExecutor::for_init(built.policy, built.spec_filter, b.dir.clone());
        let builder = super::builder(
            root,
            &opts.id,
            executor,
            opts.pid_file.as_ref(),
            opts.console_socket.as_ref(),
            opts.preserve_fds,
        )?;
        let container = builder
            .as_init(&wdir)
            .with_recorded_bundle(Some(b.dir.clone()))
            .with_systemd(opts.systemd_cgroup)
            .with_detach(opts.detach)
            .with_no_pivot(opts.no_pivot)
            .with_idmapped_rootfs_from(rootfs_from)
            .build()
            .map_err(lc_err(format!("creating container {}", opts.id)))?;
        // libcontainer read the effective spec from ward's dir (as `exec`
        // does) and records the user's bundle. The init pivoted into its own
        // copies of the staged mounts; the host's are no longer needed (a
        // container in the host's or a joined mount namespace still uses
        // them), nor are their mount points.
        if let (Some(dir), true) = (&staging, own_mount_ns) {
            crate::hardening::release_staging(dir, &wdir, range.as_ref());
        }
        crate::testpoint::reached("create:built");
        crate::profile::mark("libcontainer create done");
        if let (Some(sock), Some(pid)) = (&opts.pidfd_socket, container.pid()) {
            super::pidfd::send_pidfd(sock, pid)?;
        }
        Ok(container)
    })();
    if result.is_err() {
        cleanup_failed(root, &opts.id);
    }
    result
}

/// Creating ward's directory for the ID is atomic, so of two concurrent creates
/// of one ID exactly one proceeds.
fn claim_id(wdir: &Path, id: &str) -> Result<()> {
    // The state root exists but for the first create: mkdir the ID's dir
    // first and make the parents only when that finds them missing (two
    // syscalls fewer per create than making sure of the parents each time).
    // A delete of the root's last container removes the empty parent: made
    // again if that happened between the two mkdirs.
    let mut made = std::fs::create_dir(wdir);
    for _ in 0..3 {
        if !matches!(&made, Err(e) if e.kind() == std::io::ErrorKind::NotFound) {
            break;
        }
        if let Some(parent) = wdir.parent() {
            std::fs::create_dir_all(parent)
                .map_err(io_err(format!("creating state root {}", parent.display())))?;
        }
        made = std::fs::create_dir(wdir);
    }
    match made {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            Err(WardError::Exists(id.to_string()))
        }
        Err(e) => Err(io_err(format!("creating {}", wdir.display()))(e)),
    }
}

/// Writes the spec libcontainer will run: the hardened spec, with the rootfs and
/// relative bind sources made absolute (they were relative to the user's
/// bundle), and ward's policy for the container beside it (one file).
fn prepare_ward_dir(
    wdir: &Path,
    opts: &CreateOpts,
    b: &bundle::Bundle,
    rootfs: &Path,
    mut spec: oci_spec::runtime::Spec,
    policy: &policy::Policy,
) -> Result<()> {
    if let Some(mut linux) = spec.linux().clone() {
        // Containers without a cgroup path go under ward's default, not
        // libcontainer's; a path must suit the driver (see cgroup_path.rs).
        let cgroup = super::cgroup_path::effective(
            linux.cgroups_path().as_deref(),
            &opts.id,
            opts.systemd_cgroup,
        )?;
        linux.set_cgroups_path(Some(cgroup));
        // runc accepts the recursive spellings; libcontainer only the plain ones
        // (it always applies them recursively).
        if let Some(p) = linux.rootfs_propagation().clone() {
            let plain = p
                .strip_prefix('r')
                .filter(|q| matches!(*q, "shared" | "slave" | "private" | "unbindable"));
            if let Some(q) = plain {
                linux.set_rootfs_propagation(Some(q.to_string()));
            }
        }
        spec.set_linux(Some(linux));
    }
    if let Some(mut r) = spec.root().clone() {
        r.set_path(rootfs.to_path_buf());
        spec.set_root(Some(r));
    }
    if let Some(mut mounts) = spec.mounts().clone() {
        for m in mounts.iter_mut() {
            // (runc's `tmpcopyup` is done by the vendored libcontainer.)
            if let Some(src) = m.source().clone() {
                if src.is_relative() && policy::idmap::is_bind(m) {
                    m.set_source(Some(b.dir.join(src)));
                }
            }
        }
        spec.set_mounts(Some(mounts));
    }
    // The bundle is in libcontainer's state; the rootfs is recorded only
    // where it is not the bundle's `rootfs` (see info::recorded_rootfs):
    // no file per container in the common case.
    if b.rootfs != b.dir.join("rootfs") {
        std::os::unix::fs::symlink(&b.rootfs, wdir.join("rootfs")).map_err(io_err(format!(
            "recording the rootfs in {}",
            wdir.display()
        )))?;
    }
    write_atomic(&wdir.join("config.json"), &policy.effective_config(&spec)?)
}

/// A failed create leaves no state dir, cgroup, mount or process behind. The
/// ID was claimed by this create, so everything under it is ours to remove.
fn cleanup_failed(root: &StateRoot, id: &str) {
    // No state yet: nothing of libcontainer's to delete (and loading would log
    // a misleading error into the client's log).
    let cdir = root.container_dir(id);
    if !cdir.join("state.json").exists() {
        let _ = super::ops::purge(root, id);
        return;
    }
    if let Ok(mut c) = Container::load(cdir) {
        if let Err(e) = c.delete(true) {
            tracing::warn!("cleanup of failed create {id}: {e}");
        }
    }
    let _ = super::ops::purge(root, id);
}

/// The file a flag names must be creatable: its directory has to exist. (runc
/// fails the same way; checking first means nothing is created.)
pub fn check_parent_dir(flag: &str, path: Option<&Path>) -> Result<()> {
    let Some(p) = path else { return Ok(()) };
    let dir = match p.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    if !dir.is_dir() {
        return Err(WardError::Invalid(format!(
            "{flag} {}: directory {} does not exist",
            p.display(),
            dir.display()
        )));
    }
    Ok(())
}
