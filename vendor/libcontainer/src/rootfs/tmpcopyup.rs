//! ward patch: runc's `tmpcopyup` mount option. A tmpfs with it starts with a
//! copy of what the image had at the mount point (podman --read-only, runc's
//! mounts.bats). The copy is made between two directory fds, never by path:
//! from the image's directory (the mount point, before the tmpfs is moved onto
//! it) into the new, still detached tmpfs. Nothing is followed: symlinks are
//! copied as symlinks, and every name is opened with O_NOFOLLOW beneath its
//! parent's fd.

use std::ffi::OsStr;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;

use nix::fcntl::{AtFlags, OFlag, openat, readlinkat};
use nix::sys::stat::{FchmodatFlags, Mode, SFlag, fchmodat, fstatat, mkdirat, mknodat};
use nix::unistd::{Gid, Uid, fchownat, symlinkat};

/// Deeper trees than this are not copied further (a bound, not a limit any
/// image reaches).
const MAX_DEPTH: usize = 128;

/// Copies the contents of directory `src` into directory `dst`, keeping each
/// entry's type, mode and owner.
pub fn copy_tree(src: BorrowedFd<'_>, dst: BorrowedFd<'_>) -> nix::Result<()> {
    let s = open_dir(src.as_raw_fd(), OsStr::new("."))?;
    let d = open_dir(dst.as_raw_fd(), OsStr::new("."))?;
    copy_dir(&s, &d, 0)
}

fn open_dir(dir: RawFd, name: &OsStr) -> nix::Result<OwnedFd> {
    let fd = openat(
        Some(dir),
        name,
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::empty(),
    )?;
    // SAFETY: openat just returned this fd; nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn copy_dir(src: &OwnedFd, dst: &OwnedFd, depth: usize) -> nix::Result<()> {
    if depth > MAX_DEPTH {
        return Ok(());
    }
    let dup = nix::unistd::dup(src.as_raw_fd())?;
    let mut dir = nix::dir::Dir::from_fd(dup)?;
    let names: Vec<std::ffi::OsString> = dir
        .iter()
        .filter_map(|e| e.ok())
        .map(|e| OsStr::from_bytes(e.file_name().to_bytes()).to_os_string())
        .filter(|n| n != "." && n != "..")
        .collect();
    for name in names {
        copy_entry(src, dst, &name, depth)?;
    }
    Ok(())
}

fn copy_entry(src: &OwnedFd, dst: &OwnedFd, name: &OsStr, depth: usize) -> nix::Result<()> {
    let (s, d) = (src.as_raw_fd(), dst.as_raw_fd());
    let st = fstatat(Some(s), name, AtFlags::AT_SYMLINK_NOFOLLOW)?;
    let kind = SFlag::from_bits_truncate(st.st_mode & SFlag::S_IFMT.bits());
    let perm = Mode::from_bits_truncate(st.st_mode & 0o7777);
    match kind {
        SFlag::S_IFDIR => {
            mkdirat(Some(d), name, Mode::from_bits_truncate(0o700))?;
            let sd = open_dir(s, name)?;
            let dd = open_dir(d, name)?;
            copy_dir(&sd, &dd, depth + 1)?;
        }
        SFlag::S_IFREG => {
            let from = openat(
                Some(s),
                name,
                OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
                Mode::empty(),
            )?;
            // SAFETY: openat just returned these fds; nothing else owns them.
            let mut from = unsafe { std::fs::File::from_raw_fd(from) };
            let to = openat(
                Some(d),
                name,
                OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
                Mode::from_bits_truncate(0o600),
            )?;
            let mut to = unsafe { std::fs::File::from_raw_fd(to) };
            std::io::copy(&mut from, &mut to).map_err(|e| {
                nix::Error::from_raw(e.raw_os_error().unwrap_or(libc::EIO))
            })?;
        }
        SFlag::S_IFLNK => {
            let target = readlinkat(Some(s), name)?;
            symlinkat(target.as_os_str(), Some(d), name)?;
        }
        SFlag::S_IFCHR | SFlag::S_IFBLK | SFlag::S_IFIFO => {
            mknodat(Some(d), name, kind, perm, st.st_rdev)?;
        }
        // Sockets are not copied (runc's copy skips them too).
        _ => return Ok(()),
    }
    fchownat(
        Some(d),
        name,
        Some(Uid::from_raw(st.st_uid)),
        Some(Gid::from_raw(st.st_gid)),
        AtFlags::AT_SYMLINK_NOFOLLOW,
    )?;
    if kind != SFlag::S_IFLNK {
        // After the chown, which clears setuid/setgid bits. (Not a symlink,
        // in a tmpfs not yet visible to the container: nothing to follow.)
        fchmodat(Some(d), name, perm, FchmodatFlags::FollowSymlink)?;
    }
    Ok(())
}
