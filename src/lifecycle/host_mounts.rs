//! A container without a mount namespace (runc's host-mntns case, relaxed)
//! has its rootfs bind and its spec's mounts made in the host's mount table.
//! runc leaves them there; ward records how many mounts sat on the rootfs
//! path before create and detaches the ones above that at delete.

use std::path::Path;

/// The file in ward's per-container dir holding the count.
const RECORD: &str = "host-mounts-before";

/// Records the number of mounts stacked on `rootfs` now, before create, and
/// the path (delete finds it here, with no spec or state to read).
pub fn record(wdir: &Path, rootfs: &Path) -> std::io::Result<()> {
    let mut text = count_at(rootfs).to_string().into_bytes();
    text.push(b'\n');
    text.extend_from_slice(rootfs.as_os_str().as_encoded_bytes());
    std::fs::write(wdir.join(RECORD), text)
}

/// Detaches (lazily, with what is beneath) each mount create added on the
/// rootfs path of a container that had no mount namespace. Nothing recorded:
/// nothing to do.
pub fn release(wdir: &Path) {
    let Ok(text) = std::fs::read(wdir.join(RECORD)) else {
        return;
    };
    let (count, path) = match text.iter().position(|&b| b == b'\n') {
        Some(i) => (&text[..i], &text[i + 1..]),
        None => (&text[..], &[][..]),
    };
    let Some(before) = std::str::from_utf8(count)
        .ok()
        .and_then(|c| c.trim().parse::<usize>().ok())
    else {
        return;
    };
    // Records of earlier wards hold the count only; they left links.
    let rootfs = if path.is_empty() {
        match std::fs::read_link(wdir.join("rootfs"))
            .or_else(|_| std::fs::read_link(wdir.join("bundle")).map(|b| b.join("rootfs")))
        {
            Ok(p) => p,
            Err(_) => return,
        }
    } else {
        use std::os::unix::ffi::OsStrExt;
        std::path::PathBuf::from(std::ffi::OsStr::from_bytes(path))
    };
    // Bounded: each pass removes one mount or stops.
    for _ in 0..16 {
        if count_at(&rootfs) <= before {
            return;
        }
        if let Err(e) = nix::mount::umount2(&rootfs, nix::mount::MntFlags::MNT_DETACH) {
            tracing::warn!(
                "unmounting {} after a host-mount-namespace container: {e}",
                rootfs.display()
            );
            return;
        }
    }
}

/// How many mounts in this mount namespace have `path` as their mount point.
fn count_at(path: &Path) -> usize {
    // mountinfo names the resolved path ("bundle/." is "bundle").
    let path = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
    let want = path.to_string_lossy().replace(' ', "\\040");
    crate::fsutil::read_mountinfo()
        .unwrap_or_default()
        .lines()
        .filter(|l| l.split(' ').nth(4) == Some(want.as_str()))
        .count()
}
