//! An overlayfs rootfs (what Docker, containerd and podman hand over) cannot
//! take an id-mapped mount itself (mount_setattr says EINVAL, still on 6.18),
//! but overlayfs accepts id-mapped layers (5.19+). For a read-only rootfs ward
//! mounts a new overlay over id-mapped binds of the original's lower layers
//! (see [`mount`] for the upperdir); a writable one cannot be rebuilt without
//! a second overlay over the same upperdir, see `policy::idmap::RootfsPlan`.

use std::path::{Path, PathBuf};

use std::os::fd::BorrowedFd;

use super::userns::{self, IdRange, UsernsError};
use crate::policy::idmap::RootfsPlan;

const OVERLAYFS_MAGIC: i64 = 0x794c7630;
const NFS_MAGIC: i64 = 0x6969;
const FUSE_MAGIC: i64 = 0x65735546;

/// What a rootfs's filesystem allows, guessed from its type with one statfs,
/// so create can decide early (before claiming the ID) how ids are mapped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RootfsKind {
    /// overlayfs: its layers can be id-mapped, the mount itself cannot.
    Overlay,
    /// A filesystem known to take id-mapped mounts (FS_ALLOW_IDMAP):
    /// ext2/3/4, xfs, btrfs, f2fs, and tmpfs from Linux 6.3.
    KnownIdmappable,
    /// Any other: may be id-mappable; only trying tells
    /// (see `userns::idmapped_bind`).
    Idmappable,
    NotIdmappable,
}

impl RootfsKind {
    /// Not known to refuse an id-mapped mount.
    pub fn idmappable(self) -> bool {
        matches!(self, RootfsKind::KnownIdmappable | RootfsKind::Idmappable)
    }
}

pub fn rootfs_kind(path: &Path) -> RootfsKind {
    const EXT4: i64 = 0xEF53;
    const XFS: i64 = 0x5846_5342;
    const BTRFS: i64 = 0x9123_683E;
    const F2FS: i64 = 0xF2F5_2010;
    const TMPFS: i64 = 0x0102_1994;
    match nix::sys::statfs::statfs(path).map(|s| s.filesystem_type().0) {
        Ok(OVERLAYFS_MAGIC) => RootfsKind::Overlay,
        Ok(NFS_MAGIC | FUSE_MAGIC) | Err(_) => RootfsKind::NotIdmappable,
        Ok(EXT4 | XFS | BTRFS | F2FS) => RootfsKind::KnownIdmappable,
        Ok(TMPFS) if kernel_at_least(6, 3) => RootfsKind::KnownIdmappable,
        Ok(_) => RootfsKind::Idmappable,
    }
}

/// Whether the running kernel's release is at least `major.minor`.
fn kernel_at_least(major: u32, minor: u32) -> bool {
    let Ok(u) = nix::sys::utsname::uname() else {
        return false;
    };
    let release = u.release().to_string_lossy();
    let mut parts = release
        .split(|c: char| !c.is_ascii_digit())
        .map(|p| p.parse::<u32>().unwrap_or(0));
    let (maj, min) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    (maj, min) >= (major, minor)
}

/// The filesystems a bind source may be on whose mounts the kernel never
/// id-maps (no FS_ALLOW_IDMAP), by statfs magic; None for any other (which
/// may still be refused, e.g. tmpfs before 6.3).
pub fn unmappable_fs(path: &Path) -> Option<&'static str> {
    let magic = nix::sys::statfs::statfs(path).ok()?.filesystem_type().0;
    Some(match magic {
        0x9fa0 => "proc",
        0x6265_6572 => "sysfs",
        0x1cd1 => "devpts",
        0x0027_e0eb => "cgroup",
        0x6367_7270 => "cgroup2",
        0x8584_58f6 => "ramfs",
        NFS_MAGIC => "nfs",
        FUSE_MAGIC => "fuse",
        _ => return None,
    })
}

/// The upper and lower layers (top first) of the overlay mounted at
/// `mountpoint`, from /proc/self/mountinfo.
pub fn layers(mountpoint: &Path) -> Option<(Option<PathBuf>, Vec<PathBuf>)> {
    let info = crate::fsutil::read_mountinfo().ok()?;
    let want = mountpoint.to_str()?;
    // The last matching line is the mount on top.
    let line = info
        .lines()
        .rfind(|l| l.split(' ').nth(4).map(unescape).as_deref() == Some(want))?;
    let (_, after) = line.split_once(" - ")?;
    let mut f = after.splitn(3, ' ');
    if f.next()? != "overlay" {
        return None;
    }
    let opts = f.nth(1)?;
    let mut upper = None;
    let mut lowers = Vec::new();
    for o in split_unescaped(opts, ',') {
        if let Some(v) = o.strip_prefix("upperdir=") {
            upper = Some(PathBuf::from(unescape(v)));
        } else if let Some(v) = o.strip_prefix("lowerdir=") {
            lowers.extend(
                split_unescaped(v, ':')
                    .into_iter()
                    .map(|p| PathBuf::from(unescape(&p))),
            );
        }
    }
    (upper.is_some() || !lowers.is_empty()).then_some((upper, lowers))
}

/// Splits on `sep` not preceded by a backslash.
fn split_unescaped(s: &str, sep: char) -> Vec<String> {
    let mut out = vec![String::new()];
    let mut esc = false;
    for c in s.chars() {
        if esc {
            if let Some(last) = out.last_mut() {
                if c != sep {
                    last.push('\\');
                }
                last.push(c);
            }
            esc = false;
        } else if c == '\\' {
            esc = true;
        } else if c == sep {
            out.push(String::new());
        } else if let Some(last) = out.last_mut() {
            last.push(c);
        }
    }
    out
}

/// mountinfo escapes space, tab, newline and backslash as \ooo.
pub(crate) fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && b.len() >= i + 4 {
            if let Ok(n) = u8::from_str_radix(&s[i + 1..i + 4], 8) {
                out.push(n);
                i += 4;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Mounts the container's rootfs id-mapped through `ns` at `target/root`,
/// as `plan` says: an id-mapped bind; for an overlayfs the kernel refuses
/// to id-map, a read-only plan rebuilds it over id-mapped layers ([`mount`],
/// whose description is returned) and a writable one fails with
/// [`UsernsError::OverlayWritable`]. [`UsernsError::NotIdmappable`] and
/// `OverlayWritable` mean: run with host ids.
pub fn mount_rootfs(
    plan: RootfsPlan,
    rootfs: &Path,
    target: &Path,
    range: &IdRange,
    ns: BorrowedFd<'_>,
) -> Result<(PathBuf, Option<String>), UsernsError> {
    let root = target.join("root");
    std::fs::create_dir(&root).map_err(|e| UsernsError::Mount {
        op: "mkdir",
        path: root.clone(),
        hint: "",
        source: e,
    })?;
    match userns::idmapped_rootfs(rootfs, &root, ns) {
        Ok(()) => Ok((root, None)),
        Err(UsernsError::NotIdmappable { .. }) if plan == RootfsPlan::OverlayLayers => {
            mount(rootfs, target, range, ns).map(|(root, how)| (root, Some(how)))
        }
        Err(UsernsError::NotIdmappable { source, .. }) if plan == RootfsPlan::OverlayWritable => {
            Err(UsernsError::OverlayWritable {
                path: rootfs.to_path_buf(),
                source,
            })
        }
        Err(e) => Err(e),
    }
}

/// The upperdir of a read-only overlay rootfs is copied (the snapshot below)
/// up to this many bytes of file data; a larger one cannot be shown id-mapped
/// and the container falls back to host ids, recorded.
pub const SNAPSHOT_LIMIT: u64 = 64 << 20;

/// Builds the id-mapped read-only overlay under `dir` (layers at `dir/l<N>`,
/// the overlay at `dir/root`) and returns the path of its root, with what was
/// done for the posture report.
///
/// overlayfs refuses to be id-mapped itself (mount_setattr EINVAL, still on
/// 6.18), so the new overlay stacks id-mapped binds of the original's lower
/// layers. The original upperdir is never one of them: it is in use as the
/// upper of the original overlay, and using it as a lower of a second one is
/// undefined behaviour (the kernel warns "lowerdir is in-use as
/// upperdir/workdir of another mount"). An empty upperdir (a fresh Docker or
/// containerd container) is simply left out; a non-empty one is copied
/// (whiteouts, xattrs, owners kept) into `dir/snap`, which is id-mapped as
/// the top lower layer: the read-only container sees it as of create.
/// The new overlay's upper is private (`dir/upper`): it only takes the mount
/// points the runtime creates before the root is made read-only.
pub fn mount(
    rootfs: &Path,
    dir: &Path,
    range: &IdRange,
    ns: BorrowedFd<'_>,
) -> Result<(PathBuf, String), UsernsError> {
    let not = |why: &str| UsernsError::NotIdmappable {
        path: rootfs.to_path_buf(),
        source: std::io::Error::other(why.to_string()),
    };
    let (upper, lowers) =
        layers(rootfs).ok_or_else(|| not("overlay layers not found in mountinfo"))?;
    let mut sources = Vec::new();
    let mut how =
        String::from("id-mapped binds of its lower layers under a private read-only overlay");
    if let Some(up) = upper {
        let empty = std::fs::read_dir(&up)
            .map_err(|e| not(&format!("upperdir {}: {e}", up.display())))?
            .next()
            .is_none();
        if empty {
            how.push_str(" (its upperdir is empty)");
        } else {
            let snap = dir.join("snap");
            let mut budget = SNAPSHOT_LIMIT;
            let mut links = std::collections::HashMap::new();
            snapshot(&up, &snap, &mut budget, &mut links).map_err(|e| {
                not(&format!(
                    "copying upperdir {} (a read-only overlay rootfs shows its upperdir as a \
                     snapshot of at most {} MiB): {e}",
                    up.display(),
                    SNAPSHOT_LIMIT >> 20
                ))
            })?;
            how.push_str(&format!(
                " and of a copy of its upperdir {} taken at create",
                up.display()
            ));
            sources.push(snap);
        }
    }
    sources.extend(lowers);
    let mut mapped = Vec::new();
    for (i, layer) in sources.iter().enumerate() {
        let t = dir.join(format!("l{i}"));
        std::fs::create_dir_all(&t).map_err(|e| not(&format!("{}: {e}", t.display())))?;
        userns::idmapped_rootfs(layer, &t, ns)?;
        mapped.push(t);
    }
    if mapped.is_empty() {
        return Err(not("the overlay has no lower layer"));
    }
    let root = dir.join("root");
    // The private upper is owned by container root so the runtime can create
    // mount points in it from inside the user namespace.
    let (upper, work) = (dir.join("upper"), dir.join("work"));
    for d in [&root, &upper, &work] {
        std::fs::create_dir_all(d).map_err(|e| not(&format!("{}: {e}", d.display())))?;
    }
    for d in [&upper, &work] {
        nix::unistd::chown(d, Some(range.host_uid.into()), Some(range.host_gid.into()))
            .map_err(|e| not(&format!("chown {}: {e}", d.display())))?;
    }
    let lower: Vec<String> = mapped.iter().map(|p| p.display().to_string()).collect();
    nix::mount::mount(
        Some("overlay"),
        &root,
        Some("overlay"),
        nix::mount::MsFlags::empty(),
        Some(
            format!(
                "lowerdir={},upperdir={},workdir={}",
                lower.join(":"),
                upper.display(),
                work.display()
            )
            .as_str(),
        ),
    )
    .map_err(|e| not(&format!("mounting the id-mapped overlay: {e}")))?;
    Ok((root, how))
}

/// Copies the tree at `src` to `dst` (which must not exist) as overlayfs
/// layers need it: directories, files, symlinks, device nodes (whiteouts are
/// char 0:0), fifos, with owners, modes and every xattr (opaque and redirect
/// markers included); hard links stay linked. Never follows a symlink.
/// Fails once more than `budget` bytes would be copied (each entry counted
/// as at least 4 KiB).
fn snapshot(
    src: &Path,
    dst: &Path,
    budget: &mut u64,
    links: &mut std::collections::HashMap<(u64, u64), PathBuf>,
) -> std::io::Result<()> {
    use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt, PermissionsExt};
    let md = std::fs::symlink_metadata(src)?;
    let ft = md.file_type();
    // Every entry costs at least a block, so a tree of many tiny files is
    // bounded too.
    let cost = md.len().max(4096);
    if cost > *budget {
        return Err(std::io::Error::other("over the size limit"));
    }
    *budget -= cost;
    if ft.is_dir() {
        std::fs::create_dir(dst)?;
    } else if ft.is_symlink() {
        std::os::unix::fs::symlink(std::fs::read_link(src)?, dst)?;
    } else if ft.is_file() {
        if md.nlink() > 1 {
            if let Some(first) = links.get(&(md.dev(), md.ino())) {
                return std::fs::hard_link(first, dst);
            }
            links.insert((md.dev(), md.ino()), dst.to_path_buf());
        }
        let mut from = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW)
            .open(src)?;
        let mut to = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(dst)?;
        std::io::copy(&mut from, &mut to)?;
    } else if ft.is_char_device() || ft.is_block_device() || ft.is_fifo() {
        let kind = nix::sys::stat::SFlag::from_bits_truncate(md.mode() & libc::S_IFMT);
        let perm = nix::sys::stat::Mode::from_bits_truncate(md.mode() & 0o7777);
        nix::sys::stat::mknod(dst, kind, perm, md.rdev())?;
    } else {
        // Sockets are meaningless in a layer.
        return Ok(());
    }
    copy_xattrs(src, dst)?;
    std::os::unix::fs::lchown(dst, Some(md.uid()), Some(md.gid()))?;
    if !ft.is_symlink() {
        // After the chown, which clears set-id bits.
        std::fs::set_permissions(dst, std::fs::Permissions::from_mode(md.mode() & 0o7777))?;
    }
    if ft.is_dir() {
        for e in std::fs::read_dir(src)? {
            let e = e?;
            snapshot(&e.path(), &dst.join(e.file_name()), budget, links)?;
        }
    }
    Ok(())
}

/// Copies every extended attribute of `src` to `dst`, not following symlinks.
fn copy_xattrs(src: &Path, dst: &Path) -> std::io::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let c = |p: &Path| {
        std::ffi::CString::new(p.as_os_str().as_bytes())
            .map_err(|_| std::io::Error::from_raw_os_error(libc::EINVAL))
    };
    let (s, d) = (c(src)?, c(dst)?);
    let mut names = vec![0u8; 4096];
    // SAFETY: valid C string and buffer of the given length.
    let n = unsafe { libc::llistxattr(s.as_ptr(), names.as_mut_ptr().cast(), names.len()) };
    if n < 0 {
        let e = std::io::Error::last_os_error();
        return match e.raw_os_error() {
            Some(libc::ENOTSUP) => Ok(()),
            _ => Err(e),
        };
    }
    for name in names[..n as usize]
        .split(|&b| b == 0)
        .filter(|n| !n.is_empty())
    {
        let name = std::ffi::CString::new(name)
            .map_err(|_| std::io::Error::from_raw_os_error(libc::EINVAL))?;
        let mut val = vec![0u8; 65536];
        // SAFETY: valid C strings and buffer of the given length.
        let len = unsafe {
            libc::lgetxattr(
                s.as_ptr(),
                name.as_ptr(),
                val.as_mut_ptr().cast(),
                val.len(),
            )
        };
        if len < 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: valid C strings; len bytes of val are initialised.
        let r = unsafe {
            libc::lsetxattr(
                d.as_ptr(),
                name.as_ptr(),
                val.as_ptr().cast(),
                len as usize,
                0,
            )
        };
        if r < 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mountinfo_escapes() {
        assert_eq!(unescape(r"/a\040b"), "/a b");
        assert_eq!(split_unescaped(r"/a\:b:/c", ':'), vec!["/a:b", "/c"]);
    }
}
