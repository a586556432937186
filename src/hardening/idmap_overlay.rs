//! An overlayfs rootfs (what containerd and podman hand over) cannot take an
//! id-mapped mount itself, but overlayfs accepts id-mapped layers. For a
//! read-only rootfs ward mounts a new overlay whose lower layers are id-mapped
//! binds of the original's upper and lower directories (the original upper is
//! never written through two mounts) and whose upper is private scratch.

use std::path::{Path, PathBuf};

use super::userns::{self, IdRange, UsernsError};

const OVERLAYFS_MAGIC: i64 = 0x794c7630;
const NFS_MAGIC: i64 = 0x6969;
const FUSE_MAGIC: i64 = 0x65735546;

/// What a rootfs's filesystem allows, guessed from its type with one statfs,
/// so create can decide early (before claiming the ID) how ids are mapped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RootfsKind {
    /// overlayfs: its layers can be id-mapped, the mount itself cannot.
    Overlay,
    Idmappable,
    NotIdmappable,
}

pub fn rootfs_kind(path: &Path) -> RootfsKind {
    match nix::sys::statfs::statfs(path).map(|s| s.filesystem_type().0) {
        Ok(OVERLAYFS_MAGIC) => RootfsKind::Overlay,
        Ok(NFS_MAGIC | FUSE_MAGIC) | Err(_) => RootfsKind::NotIdmappable,
        Ok(_) => RootfsKind::Idmappable,
    }
}

/// The layers of the overlay mounted at `mountpoint`, top first (upper, then
/// lowers), from /proc/self/mountinfo.
pub fn layers(mountpoint: &Path) -> Option<Vec<PathBuf>> {
    let info = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
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
    let mut all: Vec<PathBuf> = upper.into_iter().collect();
    all.extend(lowers);
    (!all.is_empty()).then_some(all)
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
fn unescape(s: &str) -> String {
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

/// Builds the id-mapped read-only overlay under `dir` (layers at `dir/l<N>`,
/// the overlay at `dir/root`) and returns the path of its root.
pub fn mount(rootfs: &Path, dir: &Path, range: &IdRange) -> Result<PathBuf, UsernsError> {
    let not = |why: &str| UsernsError::NotIdmappable {
        path: rootfs.to_path_buf(),
        source: std::io::Error::other(why.to_string()),
    };
    let layers = layers(rootfs).ok_or_else(|| not("overlay layers not found in mountinfo"))?;
    let mut mapped = Vec::new();
    for (i, layer) in layers.iter().enumerate() {
        let t = dir.join(format!("l{i}"));
        std::fs::create_dir_all(&t).map_err(|e| not(&format!("{}: {e}", t.display())))?;
        userns::idmapped_rootfs(layer, &t, range)?;
        mapped.push(t);
    }
    if mapped.len() == 1 {
        return Ok(mapped.remove(0));
    }
    let root = dir.join("root");
    // A private upper layer (next to the layers, on /run) takes the mount
    // points the runtime creates before the root is made read-only; it is
    // owned by container root so that works from inside the user namespace.
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
    Ok(root)
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
