//! ward's default user namespace layer.
//!
//! With ward's defaults, uid 0 inside a container is an unprivileged uid on
//! the host, even when `config.json` asks for no user namespace:
//!
//! 1. [`allocate`] reserves a per-container range of host ids from a pool;
//! 2. [`apply_to_spec`] adds a `user` namespace mapping container ids
//!    `0..size` onto that range (a spec that already has a user namespace
//!    keeps its own mappings, checked by [`validate_spec_mappings`]);
//! 3. [`idmapped_rootfs`] mounts the image's rootfs id-mapped through a user
//!    namespace with the same mapping ([`userns_fd`]), so container root owns
//!    the image's files without anything being chowned on disk;
//! 4. on delete, [`unmount_rootfs`] and [`release`] (or, after a crash,
//!    [`release_owner`]) give everything back.
//!
//! # The id pool
//!
//! By default the pool starts at host id 2^31 (2147483648) for both uids and
//! gids and holds 4096 slots of 65536 ids each (host ids
//! 2147483648..=2415919103). Slot `n` maps container ids `0..65536` onto host
//! ids `base + n * 65536 ..`.
//!
//! If **both** `/etc/subuid` and `/etc/subgid` contain an entry for the user
//! name `ward` (`ward:<start>:<count>`), the pool is carved from those entries
//! instead: slot `n` starts at `<start> + n * 65536` (uid and gid side each
//! from their own file) and there are `min(uid count, gid count) / 65536`
//! slots. Only the first `ward` line of each file is used. An entry in only
//! one of the two files is an error (add the matching line to the other).
//!
//! Either way, a slot whose uid or gid range overlaps a subordinate id range
//! that `/etc/subuid` / `/etc/subgid` give to any *other* user is skipped:
//! that user could otherwise map the container's host ids into a user
//! namespace of their own and reach the container's files.
//!
//! A slot is reserved by creating the symlink `<pool_dir>/<slot>` whose
//! target names the owner: the container's ward directory (`owner_key`:
//! state root and ID; wards before it wrote the bare ID). `pool_dir` is `/run/ward-ranges`
//! (on a tmpfs on systemd hosts, so a reboot frees everything) unless the
//! environment variable `WARD_RANGES_DIR` names another directory. symlink(2)
//! fails with EEXIST on an existing name, so the slot appears atomically and
//! already owned: concurrent allocations (threads or processes) never share a
//! slot and a crash never leaves an ownerless slot. One inode per claim (an
//! earlier layout used a directory with an `owner` file, renamed into place:
//! four filesystem operations more per container, which `read_owner` and
//! `remove_entry` still understand).
//!
//! Changing the pool configuration (adding a `ward` subuid entry) while
//! containers hold slots is not supported: slot numbers would then name
//! different host ranges. Stop the containers first.

use std::ffi::CString;
use std::fs;
use std::io::{self, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use oci_spec::runtime::{
    Linux, LinuxIdMapping, LinuxIdMappingBuilder, LinuxNamespace, LinuxNamespaceType, Spec,
};
use serde::{Deserialize, Serialize};

/// Default pool directory (a tmpfs on systemd hosts).
pub const DEFAULT_POOL_DIR: &str = "/run/ward-ranges";
/// Environment variable overriding [`DEFAULT_POOL_DIR`].
pub const POOL_DIR_ENV: &str = "WARD_RANGES_DIR";
/// First host uid/gid of the default pool (2^31).
pub const DEFAULT_BASE: u32 = 1 << 31;
/// Ids per container (per slot).
pub const SLOT_SIZE: u32 = 65536;
/// Slots in the default pool.
pub const DEFAULT_SLOTS: u32 = 4096;
/// The kernel accepts at most this many lines in a uid_map/gid_map.
pub const MAX_MAPPING_LINES: usize = 340;

const SUBUID: &str = "/etc/subuid";
const SUBGID: &str = "/etc/subgid";
const POOL_USER: &str = "ward";

/// A range of host ids reserved for one container: container ids
/// `0..size` map onto host uids `host_uid..host_uid+size` and host gids
/// `host_gid..host_gid+size`.
/// Where, inside ward's per-container dir, the id-mapped rootfs is mounted.
pub const ROOTFS_MOUNT: &str = "rootfs-idmapped";

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct IdRange {
    pub slot: u32,
    pub host_uid: u32,
    pub host_gid: u32,
    pub size: u32,
    /// Set when the range is another container's (a pod member joining its
    /// sandbox's user namespace): that namespace, not a pool slot.
    #[serde(default)]
    pub join: Option<PathBuf>,
}

#[derive(thiserror::Error, Debug)]
pub enum UsernsError {
    #[error(
        "no free id range in pool {dir} ({slots} slots of {size} ids from host uid {uid_base} / \
         gid {gid_base}, all in use or overlapping other users' /etc/subuid or /etc/subgid \
         entries): delete stopped containers, or give ward a larger range with a \
         `ward:<start>:<count>` line in both /etc/subuid and /etc/subgid"
    )]
    PoolExhausted {
        dir: PathBuf,
        slots: u32,
        size: u32,
        uid_base: u32,
        gid_base: u32,
    },

    #[error(
        "id range pool directory {path}: {source} (it must be a writable directory on a local \
         filesystem; set {POOL_DIR_ENV} to use another one)"
    )]
    PoolDir {
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    #[error("{file}: {msg}")]
    SubIds { file: PathBuf, msg: String },

    #[error("invalid container id {id:?} for the id range pool: it must be non-empty and contain no newline or NUL")]
    BadContainerId { id: String },

    #[error("{field}: {msg}")]
    InvalidMapping { field: String, msg: String },

    #[error(
        "cannot create a user namespace mapping 0 -> host uid {host_uid} / gid {host_gid} \
         ({size} ids): {step}: {source}"
    )]
    Namespace {
        host_uid: u32,
        host_gid: u32,
        size: u32,
        step: String,
        #[source]
        source: io::Error,
    },

    #[error(
        "rootfs {path} cannot be id-mapped ({source}): put the rootfs on ext4, xfs, btrfs, tmpfs \
         or overlayfs (every filesystem mounted below it too), or set the annotation \
         run.ward.userns=host to run the container without a user namespace"
    )]
    NotIdmappable {
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    #[error(
        "rootfs {path} is a writable overlayfs, and the kernel cannot id-map an overlayfs mount \
         ({source}); rebuilding it over id-mapped layers would take a second overlay over the \
         same upperdir (undefined behaviour, and writes docker cp/diff/commit would not see), so \
         this container runs with host ids. Without run.ward.rootfs=writable it keeps ward's \
         user namespace (read-only rootfs over id-mapped layers, tmpfs at /tmp and /run)"
    )]
    OverlayWritable {
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    #[error("{op} {path}: {source}{hint}")]
    Mount {
        op: &'static str,
        path: PathBuf,
        hint: &'static str,
        #[source]
        source: io::Error,
    },
}

// ---------------------------------------------------------------------------
// The pool
// ---------------------------------------------------------------------------

/// A subordinate id entry of /etc/subuid or /etc/subgid.
#[derive(Clone, Debug, PartialEq)]
struct SubIdEntry {
    name: String,
    start: u32,
    count: u32,
}

/// Parses `name:start:count` lines; malformed lines and comments are
/// skipped (as shadow-utils does). A missing file has no entries.
fn read_subids(path: &Path) -> Result<Vec<SubIdEntry>, UsernsError> {
    let text = match fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => {
            return Err(UsernsError::SubIds {
                file: path.to_path_buf(),
                msg: format!("cannot read: {e}"),
            })
        }
    };
    Ok(parse_subids(&text))
}

fn parse_subids(text: &str) -> Vec<SubIdEntry> {
    text.lines()
        .filter_map(|line| {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                return None;
            }
            let mut it = line.split(':');
            let name = it.next()?.trim();
            let start = it.next()?.trim().parse::<u32>().ok()?;
            let count = it.next()?.trim().parse::<u32>().ok()?;
            if it.next().is_some() || name.is_empty() || count == 0 {
                return None;
            }
            Some(SubIdEntry {
                name: name.to_string(),
                start,
                count,
            })
        })
        .collect()
}

/// Pool geometry plus the host ranges that must not be handed out.
#[derive(Clone, Debug)]
struct Pool {
    dir: PathBuf,
    uid_base: u32,
    gid_base: u32,
    slot_size: u32,
    slots: u32,
    /// `[start, end)` uid ranges belonging to other users.
    exclude_uids: Vec<(u64, u64)>,
    /// `[start, end)` gid ranges belonging to other users.
    exclude_gids: Vec<(u64, u64)>,
}

fn pool_dir() -> PathBuf {
    match std::env::var_os(POOL_DIR_ENV) {
        Some(d) if !d.is_empty() => PathBuf::from(d),
        _ => PathBuf::from(DEFAULT_POOL_DIR),
    }
}

impl Pool {
    fn from_system() -> Result<Pool, UsernsError> {
        Pool::from_files(pool_dir(), Path::new(SUBUID), Path::new(SUBGID))
    }

    fn from_files(dir: PathBuf, subuid: &Path, subgid: &Path) -> Result<Pool, UsernsError> {
        let uids = read_subids(subuid)?;
        let gids = read_subids(subgid)?;
        Pool::from_entries(dir, subuid, &uids, subgid, &gids)
    }

    fn from_entries(
        dir: PathBuf,
        subuid: &Path,
        uids: &[SubIdEntry],
        subgid: &Path,
        gids: &[SubIdEntry],
    ) -> Result<Pool, UsernsError> {
        let ward_u = uids.iter().find(|e| e.name == POOL_USER);
        let ward_g = gids.iter().find(|e| e.name == POOL_USER);
        let others = |v: &[SubIdEntry]| -> Vec<(u64, u64)> {
            v.iter()
                .filter(|e| e.name != POOL_USER)
                .map(|e| (e.start as u64, e.start as u64 + e.count as u64))
                .collect()
        };
        let (uid_base, gid_base, slots) = match (ward_u, ward_g) {
            (None, None) => (DEFAULT_BASE, DEFAULT_BASE, DEFAULT_SLOTS),
            (Some(u), Some(g)) => {
                let usable = |e: &SubIdEntry| {
                    // Host id 4294967295 is (uid_t)-1 and cannot be mapped.
                    let end = (e.start as u64 + e.count as u64).min(u32::MAX as u64);
                    end.saturating_sub(e.start as u64)
                };
                let slots = (usable(u).min(usable(g)) / SLOT_SIZE as u64) as u32;
                if slots == 0 {
                    let short = if usable(u) < SLOT_SIZE as u64 {
                        subuid
                    } else {
                        subgid
                    };
                    return Err(UsernsError::SubIds {
                        file: short.to_path_buf(),
                        msg: format!(
                            "the `{POOL_USER}` entry gives fewer than {SLOT_SIZE} usable ids, \
                             not enough for one container; make it `{POOL_USER}:<start>:<count>` \
                             with a count of at least {SLOT_SIZE} (e.g. 65536 * number of containers)"
                        ),
                    });
                }
                (u.start, g.start, slots)
            }
            (Some(_), None) => {
                return Err(UsernsError::SubIds {
                    file: subgid.to_path_buf(),
                    msg: format!(
                        "no `{POOL_USER}` entry although {} has one: add a \
                         `{POOL_USER}:<start>:<count>` line here too (or remove the one in {})",
                        subuid.display(),
                        subuid.display()
                    ),
                })
            }
            (None, Some(_)) => {
                return Err(UsernsError::SubIds {
                    file: subuid.to_path_buf(),
                    msg: format!(
                        "no `{POOL_USER}` entry although {} has one: add a \
                         `{POOL_USER}:<start>:<count>` line here too (or remove the one in {})",
                        subgid.display(),
                        subgid.display()
                    ),
                })
            }
        };
        Ok(Pool {
            dir,
            uid_base,
            gid_base,
            slot_size: SLOT_SIZE,
            slots,
            exclude_uids: others(uids),
            exclude_gids: others(gids),
        })
    }

    /// The range of `slot`, or None if it is unusable (past u32, or
    /// overlapping another user's subordinate ids).
    fn range(&self, slot: u32) -> Option<IdRange> {
        let size = self.slot_size as u64;
        let u = self.uid_base as u64 + slot as u64 * size;
        let g = self.gid_base as u64 + slot as u64 * size;
        // The last id must stay below (uid_t)-1.
        if u + size > u32::MAX as u64 || g + size > u32::MAX as u64 {
            return None;
        }
        let overlaps = |ex: &[(u64, u64)], s: u64| ex.iter().any(|&(a, b)| s < b && a < s + size);
        if overlaps(&self.exclude_uids, u) || overlaps(&self.exclude_gids, g) {
            return None;
        }
        Some(IdRange {
            slot,
            host_uid: u as u32,
            host_gid: g as u32,
            size: self.slot_size,
            join: None,
        })
    }

    fn exhausted(&self) -> UsernsError {
        UsernsError::PoolExhausted {
            dir: self.dir.clone(),
            slots: self.slots,
            size: self.slot_size,
            uid_base: self.uid_base,
            gid_base: self.gid_base,
        }
    }
}

static TMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// A fresh name for a private temporary entry in the pool directory. The
/// leading dot keeps it from ever parsing as a slot number.
fn tmp_name(kind: &str) -> String {
    format!(
        ".{kind}-{}-{}",
        std::process::id(),
        TMP_COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

fn pool_err(path: &Path, source: io::Error) -> UsernsError {
    UsernsError::PoolDir {
        path: path.to_path_buf(),
        source,
    }
}

fn ensure_pool_dir(dir: &Path) -> Result<(), UsernsError> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| pool_err(dir, e))?;
    let md = fs::symlink_metadata(dir).map_err(|e| pool_err(dir, e))?;
    if !md.is_dir() {
        return Err(pool_err(dir, io::Error::from_raw_os_error(libc::ENOTDIR)));
    }
    Ok(())
}

fn cpath(p: &Path) -> io::Result<CString> {
    CString::new(p.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path contains a NUL byte"))
}

/// `renameat2(from, to, RENAME_NOREPLACE)`.
fn rename_noreplace(from: &Path, to: &Path) -> io::Result<()> {
    let (f, t) = (cpath(from)?, cpath(to)?);
    // SAFETY: both pointers are valid NUL-terminated strings.
    let r = unsafe {
        libc::syscall(
            libc::SYS_renameat2,
            libc::AT_FDCWD,
            f.as_ptr(),
            libc::AT_FDCWD,
            t.as_ptr(),
            libc::RENAME_NOREPLACE,
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

fn check_container_id(id: &str) -> Result<(), UsernsError> {
    if id.is_empty() || id.contains('\n') || id.contains('\0') {
        return Err(UsernsError::BadContainerId { id: id.to_string() });
    }
    Ok(())
}

fn allocate_in(pool: &Pool, container_id: &str) -> Result<IdRange, UsernsError> {
    check_container_id(container_id)?;
    ensure_pool_dir(&pool.dir)?;
    // Slots taken now, from one directory read (a shared lock on the pool
    // directory): a claim attempt on a taken slot still takes the
    // directory's lock exclusively, and parallel creates all probing from
    // slot 0 queued on it. A slot taken after the read is caught by the
    // claim itself (EEXIST), as before.
    let taken: std::collections::HashSet<u32> = fs::read_dir(&pool.dir)
        .map(|rd| {
            rd.flatten()
                .filter_map(|e| e.file_name().to_str()?.parse().ok())
                .collect()
        })
        .unwrap_or_default();
    let result = (|| {
        for slot in 0..pool.slots {
            if taken.contains(&slot) {
                continue;
            }
            let Some(range) = pool.range(slot) else {
                continue;
            };
            let path = pool.dir.join(slot.to_string());
            // The claim: exclusive, and it carries the owner.
            match std::os::unix::fs::symlink(container_id, &path) {
                Ok(()) => return Ok(range),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(pool_err(&path, e)),
            }
        }
        Err(pool.exhausted())
    })();
    if let Ok(r) = &result {
        tracing::debug!(
            container_id,
            slot = r.slot,
            host_uid = r.host_uid,
            host_gid = r.host_gid,
            "allocated id range"
        );
    }
    result
}

/// Frees the slot at `path` by renaming it away (atomic) and then deleting
/// it. Returns the renamed location, or None if it was not there.
fn take_slot(dir: &Path, path: &Path) -> Option<PathBuf> {
    let tmp = dir.join(tmp_name("free"));
    match fs::rename(path, &tmp) {
        Ok(()) => Some(tmp),
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "cannot release id range slot");
            None
        }
    }
}

/// Removes a slot entry: the symlink, or a directory of the older layout.
fn remove_entry(path: &Path) -> io::Result<()> {
    match fs::symlink_metadata(path) {
        Ok(md) if md.is_dir() => fs::remove_dir_all(path),
        Ok(_) => fs::remove_file(path),
        Err(e) => Err(e),
    }
}

fn release_in(dir: &Path, range: &IdRange) {
    let path = dir.join(range.slot.to_string());
    if let Some(tmp) = take_slot(dir, &path) {
        if let Err(e) = remove_entry(&tmp) {
            tracing::warn!(path = %tmp.display(), error = %e, "cannot remove released id range slot");
        }
    }
}

/// The container id owning a slot: the symlink's target (or, in the older
/// layout, the directory's `owner` file).
fn read_owner(slot: &Path) -> Option<String> {
    match fs::read_link(slot) {
        Ok(target) => target.into_os_string().into_string().ok(),
        Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {
            fs::read_to_string(slot.join("owner")).ok()
        }
        Err(_) => None,
    }
}

fn release_if_owner_in(dir: &Path, slot: u32, container_id: &str) -> bool {
    let path = dir.join(slot.to_string());
    if read_owner(&path).as_deref() != Some(container_id) {
        return false;
    }
    let Some(tmp) = take_slot(dir, &path) else {
        return false;
    };
    // Between the read and the rename the slot could (only through a
    // concurrent release + allocate) have changed hands: put it back then.
    if read_owner(&tmp).as_deref() != Some(container_id) {
        if let Err(e) = rename_noreplace(&tmp, &path) {
            tracing::error!(slot, error = %e, "id range slot changed owner during release and could not be restored");
        }
        return false;
    }
    let _ = remove_entry(&tmp);
    true
}

fn pid_alive(pid: &str) -> bool {
    Path::new("/proc").join(pid).exists()
}

fn release_owner_in(dir: &Path, container_id: &str) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if let Ok(slot) = name.parse::<u32>() {
            if release_if_owner_in(dir, slot, container_id) {
                tracing::debug!(container_id, slot, "released id range of owner");
            }
        } else if let Some(rest) = name
            .strip_prefix(".new-")
            .or_else(|| name.strip_prefix(".free-"))
        {
            // Leftovers of a ward process that died mid-allocation/release.
            let pid = rest.split('-').next().unwrap_or("");
            if !pid.is_empty() && !pid_alive(pid) {
                let _ = remove_entry(&entry.path());
            }
        }
    }
}

/// Reserves a free range of host ids for `container_id` (see the module
/// documentation for where the pool comes from and how slots are claimed).
pub fn allocate(container_id: &str) -> Result<IdRange, UsernsError> {
    let pool = Pool::from_system()?;
    allocate_in(&pool, container_id)
}

/// Frees `range`'s slot. Best effort and idempotent. It does not check who
/// owns the slot: call it once per allocation, or prefer
/// [`release_if_owner`], which does.
pub fn release(range: &IdRange) {
    release_in(&pool_dir(), range)
}

/// Frees `range`'s slot only if it is still owned by `container_id`.
/// Returns whether it was freed.
pub fn release_if_owner(range: &IdRange, container_id: &str) -> bool {
    release_if_owner_in(&pool_dir(), range.slot, container_id)
}

/// Crash recovery: frees every slot whose owner is `container_id`, and
/// removes temporary entries left by ward processes that no longer exist.
pub fn release_owner(container_id: &str) {
    release_owner_in(&pool_dir(), container_id)
}

/// The name a container's claims are made under: its ward directory
/// (`<root>/@ward/<id>`, canonical), unique host-wide. The bare ID is not:
/// two state roots may each hold a container of the same ID, and one's
/// delete (or failed create) freed the other's range, whose slot the next
/// create then cleared from under the running container.
pub fn owner_key(ward_dir: &Path) -> String {
    fs::canonicalize(ward_dir)
        .unwrap_or_else(|_| ward_dir.to_path_buf())
        .to_string_lossy()
        .into_owned()
}

/// Frees `slot` if `owner` (an [`owner_key`]) holds it. Returns whether it
/// was freed.
pub fn release_slot_of(slot: u32, owner: &str) -> bool {
    release_if_owner_in(&pool_dir(), slot, owner)
}

/// Frees `slot` if it is claimed under the bare container ID, as wards
/// before [`owner_key`] claimed it (their containers' delete after an
/// upgrade).
pub fn release_legacy_claim(slot: u32, container_id: &str) {
    release_if_owner_in(&pool_dir(), slot, container_id);
}

// ---------------------------------------------------------------------------
// The spec
// ---------------------------------------------------------------------------

/// true if the spec already has a user namespace entry (then ward honours
/// its mappings, or the namespace it joins).
pub fn spec_has_userns(spec: &Spec) -> bool {
    spec.linux()
        .as_ref()
        .and_then(|l| l.namespaces().as_ref())
        .is_some_and(|ns| ns.iter().any(|n| n.typ() == LinuxNamespaceType::User))
}

fn mapping(host: u32, size: u32) -> LinuxIdMapping {
    LinuxIdMappingBuilder::default()
        .container_id(0u32)
        .host_id(host)
        .size(size)
        .build()
        .expect("all fields set")
}

/// Adds a `user` namespace with uidMappings/gidMappings [0 → host, size] to
/// a spec that has none. A spec that already has a user namespace is left
/// untouched. Mappings present without a user namespace (which no runtime
/// would apply) are replaced.
pub fn apply_to_spec(spec: &mut Spec, range: &IdRange) {
    if spec_has_userns(spec) {
        return;
    }
    let linux = spec.linux_mut().get_or_insert_with(|| {
        // Not Linux::default(): that adds namespaces and masks nobody asked for.
        serde_json::from_str::<Linux>("{}").expect("empty linux section")
    });
    let mut ns = linux.namespaces().clone().unwrap_or_default();
    let mut user = LinuxNamespace::default();
    user.set_typ(LinuxNamespaceType::User);
    ns.push(user);
    linux.set_namespaces(Some(ns));
    linux.set_uid_mappings(Some(vec![mapping(range.host_uid, range.size)]));
    linux.set_gid_mappings(Some(vec![mapping(range.host_gid, range.size)]));
}

fn check_mappings(field: &str, maps: &[LinuxIdMapping]) -> Result<(), UsernsError> {
    let err = |field: String, msg: String| Err(UsernsError::InvalidMapping { field, msg });
    if maps.len() > MAX_MAPPING_LINES {
        return err(
            field.to_string(),
            format!(
                "{} mappings, the kernel accepts at most {MAX_MAPPING_LINES}; merge adjacent ranges",
                maps.len()
            ),
        );
    }
    for (i, m) in maps.iter().enumerate() {
        let here = format!("{field}[{i}]");
        if m.size() == 0 {
            return err(
                here,
                "size is 0; every mapping must map at least one id".into(),
            );
        }
        for (side, start) in [("containerID", m.container_id()), ("hostID", m.host_id())] {
            if start.checked_add(m.size()).is_none() {
                return err(
                    here,
                    format!(
                        "{side} {start} + size {} overflows 32-bit ids (the last mapped id can be \
                         at most 4294967294); lower {side} or size",
                        m.size()
                    ),
                );
            }
        }
        for (j, o) in maps[..i].iter().enumerate() {
            // [a, a+m.size) and [b, b+o.size) intersect (no overflow: checked).
            let ov = |a: u32, b: u32| {
                (a as u64) < b as u64 + o.size() as u64 && (b as u64) < a as u64 + m.size() as u64
            };
            let side = if ov(m.container_id(), o.container_id()) {
                "container"
            } else if ov(m.host_id(), o.host_id()) {
                "host"
            } else {
                continue;
            };
            return err(
                here,
                format!(
                    "overlaps {field}[{j}] on the {side} side; each id may be mapped only once"
                ),
            );
        }
    }
    Ok(())
}

/// Checks the spec's own mappings: each mapping has size > 0, neither
/// containerID+size nor hostID+size overflows u32, mappings don't overlap
/// (on the container side or the host side), at most 340 lines. Also a
/// user namespace that is created (no `path`) must come with uid and gid
/// mappings.
pub fn validate_spec_mappings(spec: &Spec) -> Result<(), UsernsError> {
    let Some(linux) = spec.linux().as_ref() else {
        return Ok(());
    };
    let uids = linux.uid_mappings().as_deref().unwrap_or(&[]);
    let gids = linux.gid_mappings().as_deref().unwrap_or(&[]);
    check_mappings("linux.uidMappings", uids)?;
    check_mappings("linux.gidMappings", gids)?;
    let creates_userns = linux.namespaces().as_ref().is_some_and(|ns| {
        ns.iter()
            .any(|n| n.typ() == LinuxNamespaceType::User && n.path().is_none())
    });
    if creates_userns {
        for (field, maps) in [("linux.uidMappings", uids), ("linux.gidMappings", gids)] {
            if maps.is_empty() {
                return Err(UsernsError::InvalidMapping {
                    field: field.into(),
                    msg: "the spec creates a user namespace but maps no ids; add \
                          linux.uidMappings and linux.gidMappings, or remove the user \
                          namespace to let ward assign a range"
                        .into(),
                });
            }
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Kernel objects
// ---------------------------------------------------------------------------

/// Kills (through its pidfd, immune to pid reuse) and reaps the helper child.
struct Helper {
    pid: libc::pid_t,
    pidfd: OwnedFd,
}

impl Drop for Helper {
    fn drop(&mut self) {
        // SAFETY: plain syscalls on an fd we own and a child we created.
        unsafe {
            libc::syscall(
                libc::SYS_pidfd_send_signal,
                self.pidfd.as_raw_fd(),
                libc::SIGKILL,
                std::ptr::null::<libc::siginfo_t>(),
                0,
            );
            let mut status = 0;
            while libc::waitpid(self.pid, &mut status, libc::__WALL) < 0
                && io::Error::last_os_error().raw_os_error() == Some(libc::EINTR)
            {}
        }
    }
}

/// Creates a user namespace mapping container ids `0..size` onto the
/// range's host uids and gids, and returns an fd to it (close-on-exec).
///
/// A helper child is cloned straight into a new user namespace
/// (`clone(CLONE_NEWUSER|CLONE_PIDFD)`, no exec) and blocks reading a pipe;
/// the parent writes its uid_map and gid_map (as root in the parent
/// namespace, so setgroups need not be denied), opens
/// `/proc/<child>/ns/user`, then kills and reaps the child. The namespace
/// lives on as long as the returned fd (or a mount idmapped with it) does.
pub fn userns_fd(range: &IdRange) -> Result<OwnedFd, UsernsError> {
    let fail = |step: &str, source: io::Error| UsernsError::Namespace {
        host_uid: range.host_uid,
        host_gid: range.host_gid,
        size: range.size,
        step: step.to_string(),
        source,
    };
    if range.size == 0
        || range.host_uid.checked_add(range.size).is_none()
        || range.host_gid.checked_add(range.size).is_none()
    {
        return Err(fail(
            "invalid range",
            io::Error::from_raw_os_error(libc::EINVAL),
        ));
    }
    new_userns(
        &format!("0 {} {}\n", range.host_uid, range.size),
        &format!("0 {} {}\n", range.host_gid, range.size),
        &fail,
    )
}

/// A user namespace with the given mappings (`containerID hostID size`
/// lines, as in the spec), for a mount's own `uidMappings`/`gidMappings`:
/// files owned by `containerID + n` on disk appear owned by `hostID + n`.
/// `field` names the mount in errors.
pub fn userns_fd_for(
    field: &str,
    uids: &[LinuxIdMapping],
    gids: &[LinuxIdMapping],
) -> Result<OwnedFd, UsernsError> {
    check_mappings(&format!("{field}.uidMappings"), uids)?;
    check_mappings(&format!("{field}.gidMappings"), gids)?;
    let lines = |maps: &[LinuxIdMapping]| -> String {
        maps.iter()
            .map(|m| format!("{} {} {}\n", m.container_id(), m.host_id(), m.size()))
            .collect()
    };
    let fail = |step: &str, source: io::Error| UsernsError::InvalidMapping {
        field: field.to_string(),
        msg: format!("cannot create the user namespace for the id-mapped mount: {step}: {source}"),
    };
    new_userns(&lines(uids), &lines(gids), &fail)
}

/// The namespace an id-mapped mount of this container uses: the joined
/// pod sandbox's, or a fresh one with the range's mapping.
pub fn mapping_ns(range: &IdRange) -> Result<OwnedFd, UsernsError> {
    match &range.join {
        Some(p) => std::fs::File::open(p)
            .map(OwnedFd::from)
            .map_err(|e| mount_err("open user namespace", p, e)),
        None => userns_fd(range),
    }
}

/// The mapping namespace of the id-mapped mounts ward makes host-side for
/// one container, made on first use: a create whose rootfs the init
/// attaches id-mapped with the container's own namespace
/// (`policy::idmap::rootfs_mapped_by_init`) and whose binds need no
/// host-side mapping makes none (a process, a user namespace and two map
/// writes fewer per create; the namespace outlived the create, pinned by
/// the mounts, a few KiB of kernel memory per running container).
pub struct MappingNs {
    range: IdRange,
    fd: std::cell::OnceCell<OwnedFd>,
}

impl MappingNs {
    pub fn new(range: &IdRange) -> Self {
        MappingNs {
            range: range.clone(),
            fd: std::cell::OnceCell::new(),
        }
    }

    pub fn get(&self) -> Result<BorrowedFd<'_>, UsernsError> {
        if let Some(fd) = self.fd.get() {
            return Ok(fd.as_fd());
        }
        let fd = mapping_ns(&self.range)?;
        Ok(self.fd.get_or_init(|| fd).as_fd())
    }
}

fn new_userns(
    uid_map: &str,
    gid_map: &str,
    fail: &dyn Fn(&str, io::Error) -> UsernsError,
) -> Result<OwnedFd, UsernsError> {
    let mut fds = [0 as RawFd; 2];
    // SAFETY: fds is a valid array of two ints.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } < 0 {
        return Err(fail("pipe2", io::Error::last_os_error()));
    }
    // SAFETY: pipe2 just returned these two fds; we own them.
    let (rd, wr) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };

    let mut pidfd: libc::c_int = -1;
    // SAFETY: fork-like clone (no new stack, no CLONE_VM). The child only
    // runs async-signal-safe syscalls (close, read, _exit) and never
    // returns into Rust code, so it is sound even in a threaded process.
    let pid = unsafe {
        libc::syscall(
            libc::SYS_clone,
            (libc::CLONE_NEWUSER | libc::CLONE_PIDFD | libc::SIGCHLD) as libc::c_ulong,
            0usize,
            &mut pidfd as *mut libc::c_int,
            0usize,
            0usize,
        )
    };
    if pid < 0 {
        return Err(fail(
            "clone(CLONE_NEWUSER) (are user namespaces disabled, e.g. \
             user.max_user_namespaces=0?)",
            io::Error::last_os_error(),
        ));
    }
    if pid == 0 {
        // Child: wait until the parent closes the pipe (or dies), then exit.
        unsafe {
            libc::close(wr.as_raw_fd());
            let mut b = 0u8;
            loop {
                let r = libc::read(rd.as_raw_fd(), &mut b as *mut u8 as *mut libc::c_void, 1);
                if r < 0 && *libc::__errno_location() == libc::EINTR {
                    continue;
                }
                break;
            }
            libc::_exit(0);
        }
    }
    drop(rd);
    // SAFETY: CLONE_PIDFD stored a fresh fd (close-on-exec) in pidfd.
    let helper = Helper {
        pid: pid as libc::pid_t,
        pidfd: unsafe { OwnedFd::from_raw_fd(pidfd) },
    };

    let proc_dir = PathBuf::from(format!("/proc/{pid}"));
    let write_map = |file: &str, line: &str| -> Result<(), UsernsError> {
        let path = proc_dir.join(file);
        let mut f = fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .map_err(|e| fail(&format!("open {}", path.display()), e))?;
        // A map must be written in one write(2).
        let n = f
            .write(line.as_bytes())
            .map_err(|e| fail(&format!("write {line:?} to {}", path.display()), e))?;
        if n != line.len() {
            return Err(fail(
                &format!("short write to {}", path.display()),
                io::Error::from(io::ErrorKind::WriteZero),
            ));
        }
        Ok(())
    };
    write_map("uid_map", uid_map)?;
    write_map("gid_map", gid_map)?;

    let ns_path = proc_dir.join("ns/user");
    let c = cpath(&ns_path).map_err(|e| fail("path", e))?;
    // SAFETY: valid C string.
    let fd = unsafe { libc::open(c.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) };
    if fd < 0 {
        return Err(fail(
            &format!("open {}", ns_path.display()),
            io::Error::last_os_error(),
        ));
    }
    // SAFETY: open just returned it.
    let ns = unsafe { OwnedFd::from_raw_fd(fd) };

    // The child cannot exit on its own while we hold the pipe; if it is
    // gone, someone reaped it and /proc/<pid> may have named another process.
    // SAFETY: signal 0 only checks for existence.
    let alive = unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            helper.pidfd.as_raw_fd(),
            0,
            std::ptr::null::<libc::siginfo_t>(),
            0,
        )
    } == 0;
    if !alive {
        return Err(fail(
            "helper process vanished (reaped by another thread?)",
            io::Error::from_raw_os_error(libc::ESRCH),
        ));
    }
    drop(helper);
    drop(wr);
    Ok(ns)
}

// Mount API (libc does not export all of these on every version).
const SYS_OPEN_TREE: libc::c_long = 428;
const SYS_MOVE_MOUNT: libc::c_long = 429;
const SYS_MOUNT_SETATTR: libc::c_long = 442;
const OPEN_TREE_CLONE: libc::c_uint = 1;
const OPEN_TREE_CLOEXEC: libc::c_uint = libc::O_CLOEXEC as libc::c_uint;
const AT_RECURSIVE: libc::c_uint = 0x8000;
const AT_EMPTY_PATH: libc::c_uint = 0x1000;
const MOVE_MOUNT_F_EMPTY_PATH: libc::c_uint = 0x04;
const MOVE_MOUNT_T_EMPTY_PATH: libc::c_uint = 0x40;
const MOUNT_ATTR_IDMAP: u64 = 0x0010_0000;
const MS_PRIVATE: u64 = 1 << 18;
const AT_SYMLINK_NOFOLLOW: libc::c_uint = 0x100;

/// `struct mount_attr` (MOUNT_ATTR_SIZE_VER0 = 32 bytes).
#[repr(C)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

fn mount_err(op: &'static str, path: &Path, source: io::Error) -> UsernsError {
    let hint = match source.raw_os_error() {
        Some(libc::ENOSYS) => " (the kernel lacks the mount API; ward's user namespace layer needs Linux 5.12+, or set run.ward.userns=host)",
        Some(libc::EPERM) => " (ward must run as root in the initial user namespace)",
        _ => "",
    };
    UsernsError::Mount {
        op,
        path: path.to_path_buf(),
        hint,
        source,
    }
}

/// What the kernel let ward id-map of a bind tree.
#[derive(Debug, Clone, PartialEq)]
pub enum Idmapped {
    /// Every mount of the tree (or the single mount) is id-mapped.
    All,
    /// The top mount is id-mapped; these submounts (host paths, with the
    /// kernel's reason) kept host ids.
    Partly(Vec<(PathBuf, String)>),
}

/// How a bind tree is taken and mapped.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BindShape {
    /// Take the submounts along (`rbind`), or only the source's own mount.
    pub recursive: bool,
    /// Id-map the submounts too (ward's default; the spec's `idmap`
    /// without `ridmap` maps only the top mount).
    pub map_submounts: bool,
    /// A submount that cannot be id-mapped fails the whole tree (the
    /// rootfs), instead of keeping host ids (a bind, reported).
    pub strict: bool,
}

fn setattr(tree: &OwnedFd, rel: &CString, flags: libc::c_uint, attr: &MountAttr) -> io::Result<()> {
    // SAFETY: valid fd and C string; attr is a valid mount_attr of the size passed.
    let r = unsafe {
        libc::syscall(
            SYS_MOUNT_SETATTR,
            tree.as_raw_fd(),
            rel.as_ptr(),
            flags,
            attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// The errors with which the kernel refuses to id-map a mount: its
/// filesystem does not support it (EINVAL, EOPNOTSUPP), or the mount or
/// superblock belongs to another user namespace or is id-mapped already (EPERM).
fn refused(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EINVAL) | Some(libc::EOPNOTSUPP) | Some(libc::EPERM)
    )
}

/// Whether anything is mounted below `dir` (a directory, canonical or not).
pub fn has_submounts(dir: &Path) -> bool {
    let base = fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    !submounts(&base).is_empty()
}

/// Mount points strictly below `dir`, from /proc/self/mountinfo, shallowest
/// first, with their filesystem type.
fn submounts(dir: &Path) -> Vec<(PathBuf, String)> {
    let Ok(info) = crate::fsutil::read_mountinfo() else {
        return Vec::new();
    };
    // The v1 cgroup mount points, which create looks up next: from this
    // read, not another one.
    libcgroups::v1::util::seed_cgroup_mounts(&info);
    let mut out: Vec<(PathBuf, String)> = Vec::new();
    for line in info.lines() {
        let mp = line.split(' ').nth(4).map(super::idmap_overlay::unescape);
        let fstype = line
            .split_once(" - ")
            .and_then(|(_, a)| a.split(' ').next())
            .unwrap_or("?");
        if let Some(mp) = mp.map(PathBuf::from) {
            if mp != dir && mp.starts_with(dir) && !out.iter().any(|(p, _)| *p == mp) {
                out.push((mp, fstype.to_string()));
            }
        }
    }
    out.sort_by_key(|(p, _)| p.components().count());
    out
}

/// Mounts a bind of `src` (a directory or a file) at `target` (an existing
/// directory or file), id-mapped through the user namespace `ns`: files owned
/// by id `n` on disk appear owned by what `ns` maps `n` to (for ward's range,
/// container id `n`). Nothing is chowned. The new tree is private, so mounts
/// made below it don't propagate back to the source.
///
/// With `shape.recursive`, mount_setattr(AT_RECURSIVE) is all or nothing: one
/// submount on a filesystem that cannot be id-mapped (proc, sysfs, nfs, ...)
/// makes the kernel refuse the whole tree. Then the top mount and each
/// submount are mapped one by one, and those the kernel refuses keep host ids
/// ([`Idmapped::Partly`]), unless `shape.strict`. A top mount the kernel
/// refuses is [`UsernsError::NotIdmappable`]; nothing is mounted then.
pub fn idmapped_bind(
    src: &Path,
    target: &Path,
    ns: BorrowedFd<'_>,
    shape: BindShape,
) -> Result<Idmapped, UsernsError> {
    let c_src = cpath(src).map_err(|e| mount_err("open_tree", src, e))?;
    let empty = c"";
    let rec = if shape.recursive { AT_RECURSIVE } else { 0 };
    // SAFETY: valid C string; the result is a new fd we own.
    let tree = unsafe {
        libc::syscall(
            SYS_OPEN_TREE,
            libc::AT_FDCWD,
            c_src.as_ptr(),
            OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | rec,
        )
    };
    if tree < 0 {
        return Err(mount_err("open_tree", src, io::Error::last_os_error()));
    }
    // SAFETY: open_tree returned a fresh fd.
    let tree = unsafe { OwnedFd::from_raw_fd(tree as RawFd) };
    let private = MountAttr {
        attr_set: 0,
        attr_clr: 0,
        propagation: MS_PRIVATE,
        userns_fd: 0,
    };
    setattr(&tree, &CString::from(empty), AT_EMPTY_PATH | rec, &private)
        .map_err(|e| mount_err("mount_setattr(MS_PRIVATE)", src, e))?;
    let idmap = MountAttr {
        attr_set: MOUNT_ATTR_IDMAP,
        attr_clr: 0,
        propagation: 0,
        userns_fd: ns.as_raw_fd() as u64,
    };
    let not = |e: io::Error| UsernsError::NotIdmappable {
        path: src.to_path_buf(),
        source: e,
    };
    let all_at_once = if shape.map_submounts { rec } else { 0 };
    let mut outcome = Idmapped::All;
    match setattr(
        &tree,
        &CString::from(empty),
        AT_EMPTY_PATH | all_at_once,
        &idmap,
    ) {
        Ok(()) => {}
        Err(e) if refused(&e) && all_at_once != 0 && !shape.strict => {
            // Map what can be mapped, one mount at a time.
            setattr(&tree, &CString::from(empty), AT_EMPTY_PATH, &idmap).map_err(|e| {
                if refused(&e) {
                    not(e)
                } else {
                    mount_err("mount_setattr(MOUNT_ATTR_IDMAP)", src, e)
                }
            })?;
            let base = fs::canonicalize(src).unwrap_or_else(|_| src.to_path_buf());
            let mut kept = Vec::new();
            for (mp, fstype) in submounts(&base) {
                let Ok(rel) = mp.strip_prefix(&base) else {
                    continue;
                };
                let Ok(c_rel) = cpath(rel) else { continue };
                // A mount already id-mapped above us (a stacked mount's
                // path resolves to the top one) is EPERM: kept as is.
                if let Err(e) = setattr(&tree, &c_rel, AT_SYMLINK_NOFOLLOW, &idmap) {
                    kept.push((mp, format!("{fstype}: {e}")));
                }
            }
            if !kept.is_empty() {
                outcome = Idmapped::Partly(kept);
            }
        }
        Err(e) if refused(&e) => return Err(not(e)),
        Err(e) => return Err(mount_err("mount_setattr(MOUNT_ATTR_IDMAP)", src, e)),
    }

    // Mount onto the target by fd, never following a symlink swapped in.
    let c_target = cpath(target).map_err(|e| mount_err("open", target, e))?;
    // SAFETY: valid C string.
    let tfd = unsafe {
        libc::open(
            c_target.as_ptr(),
            libc::O_PATH | libc::O_NOFOLLOW | libc::O_CLOEXEC,
        )
    };
    if tfd < 0 {
        return Err(mount_err("open", target, io::Error::last_os_error()));
    }
    // SAFETY: open returned a fresh fd.
    let tfd = unsafe { OwnedFd::from_raw_fd(tfd) };
    // SAFETY: fds we own, empty C strings.
    let r = unsafe {
        libc::syscall(
            SYS_MOVE_MOUNT,
            tree.as_raw_fd(),
            empty.as_ptr(),
            tfd.as_raw_fd(),
            empty.as_ptr(),
            MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH,
        )
    };
    if r < 0 {
        return Err(mount_err("move_mount", target, io::Error::last_os_error()));
    }
    tracing::debug!(src = %src.display(), target = %target.display(), ?outcome, "mounted id-mapped bind");
    Ok(outcome)
}

/// Mounts an id-mapped recursive bind of `rootfs` at `target` (an existing
/// directory) through `ns` (see [`mapping_ns`]); every mount of the tree
/// must take the mapping, or nothing is mounted ([`UsernsError::NotIdmappable`]).
pub fn idmapped_rootfs(
    rootfs: &Path,
    target: &Path,
    ns: BorrowedFd<'_>,
) -> Result<(), UsernsError> {
    let shape = BindShape {
        recursive: true,
        map_submounts: true,
        strict: true,
    };
    idmapped_bind(rootfs, target, ns, shape).map(|_| ())
}

/// Lazily unmounts what [`idmapped_rootfs`] mounted at `target`
/// (`umount2(MNT_DETACH)`, not following symlinks); "not mounted" and
/// "does not exist" are not errors, others are logged.
pub fn unmount_rootfs(target: &Path) {
    let Ok(c) = cpath(target) else { return };
    // SAFETY: valid C string.
    let r = unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH | libc::UMOUNT_NOFOLLOW) };
    if r < 0 {
        let e = io::Error::last_os_error();
        match e.raw_os_error() {
            Some(libc::EINVAL) | Some(libc::ENOENT) => {}
            _ => {
                tracing::warn!(target = %target.display(), error = %e, "cannot unmount id-mapped rootfs")
            }
        }
    }
}

#[cfg(test)]
mod tests;
