//! A container without a mount namespace (runc's host-mntns case, relaxed)
//! has its rootfs bind and its spec's mounts made in the host's mount table.
//! runc leaves them there; ward records how many mounts sat on the rootfs
//! path before create and detaches the ones above that at delete.

use std::path::Path;

/// The file in ward's per-container dir holding the count.
const RECORD: &str = "host-mounts-before";

/// Records the number of mounts stacked on `rootfs` now, before create.
pub fn record(wdir: &Path, rootfs: &Path) -> std::io::Result<()> {
    std::fs::write(wdir.join(RECORD), count_at(rootfs).to_string())
}

/// Detaches (lazily, with what is beneath) each mount create added on the
/// rootfs path of a container that had no mount namespace. Nothing recorded:
/// nothing to do.
pub fn release(wdir: &Path) {
    let Ok(text) = std::fs::read_to_string(wdir.join(RECORD)) else {
        return;
    };
    let Ok(before) = text.trim().parse::<usize>() else {
        return;
    };
    let Some(rootfs) = super::info::recorded_rootfs(wdir) else {
        return;
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
