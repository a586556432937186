//! Reading and checking a bundle before anything is created.

use std::path::{Path, PathBuf};

use oci_spec::runtime::Spec;

use crate::error::{Result, WardError};

/// config.json larger than this is refused before parsing: no real spec comes close.
const MAX_CONFIG_BYTES: u64 = 8 << 20;

pub struct Bundle {
    pub dir: PathBuf,
    pub spec: Spec,
    pub rootfs: PathBuf,
}

pub fn load(dir: &Path) -> Result<Bundle> {
    let bad = |msg: String| WardError::Bundle {
        path: dir.to_path_buf(),
        msg,
    };
    let dir = std::fs::canonicalize(dir).map_err(|e| bad(format!("cannot open: {e}")))?;
    let cfg = dir.join("config.json");
    let cfg_err = |msg: String| WardError::Config {
        path: cfg.clone(),
        msg,
    };
    let meta = std::fs::metadata(&cfg).map_err(|e| cfg_err(format!("cannot read: {e}")))?;
    if meta.len() > MAX_CONFIG_BYTES {
        return Err(cfg_err(format!(
            "too large ({} bytes, limit {MAX_CONFIG_BYTES})",
            meta.len()
        )));
    }
    let text = std::fs::read(&cfg).map_err(|e| cfg_err(format!("cannot read: {e}")))?;
    let mut value: serde_json::Value =
        serde_json::from_slice(&text).map_err(|e| cfg_err(format!("invalid config: {e}")))?;
    for w in crate::spec_compat::normalize_config(&mut value).map_err(&cfg_err)? {
        tracing::warn!("{w}");
    }
    let spec: Spec =
        serde_json::from_value(value).map_err(|e| cfg_err(format!("invalid config: {e}")))?;
    validate(&spec).map_err(cfg_err)?;

    let root = spec
        .root()
        .as_ref()
        .ok_or_else(|| cfg_err("root: missing".into()))?;
    let rootfs = if root.path().is_absolute() {
        root.path().clone()
    } else {
        dir.join(root.path())
    };
    let lmeta = std::fs::symlink_metadata(&rootfs)
        .map_err(|e| cfg_err(format!("root.path {}: {e}", rootfs.display())))?;
    if lmeta.file_type().is_symlink() {
        return Err(cfg_err(format!(
            "root.path {} is a symlink; give the real directory",
            rootfs.display()
        )));
    }
    if !lmeta.is_dir() {
        return Err(cfg_err(format!(
            "root.path {} is not a directory",
            rootfs.display()
        )));
    }
    let mut spec = spec;
    strip_rootfs_from_destinations(&mut spec, &rootfs);
    Ok(Bundle {
        dir: dir.clone(),
        spec,
        rootfs,
    })
}

/// A mount destination spelled with the rootfs's host path in front names
/// the path inside the container (runc strips the prefix lexically: its
/// mounts.bats builds bind trees that way).
fn strip_rootfs_from_destinations(spec: &mut Spec, rootfs: &Path) {
    let Some(mut mounts) = spec.mounts().clone() else {
        return;
    };
    let mut changed = false;
    for m in mounts.iter_mut() {
        if let Ok(rest) = m.destination().strip_prefix(rootfs) {
            let inside = Path::new("/").join(rest);
            m.set_destination(inside);
            changed = true;
        }
    }
    if changed {
        spec.set_mounts(Some(mounts));
    }
}

/// Checks the spec's shape beyond what deserialisation catches, each failure naming
/// the field.
fn validate(spec: &Spec) -> std::result::Result<(), String> {
    if !spec.version().starts_with("1.") {
        return Err(format!(
            "ociVersion {:?}: only 1.x is supported",
            spec.version()
        ));
    }
    let process = spec
        .process()
        .as_ref()
        .ok_or("process: missing (nothing to run)")?;
    match process.args() {
        Some(a) if !a.is_empty() => {}
        _ => return Err("process.args: must name the program to run".into()),
    }
    if !process.cwd().is_absolute() {
        return Err(format!(
            "process.cwd {:?}: must be an absolute path",
            process.cwd()
        ));
    }
    if let Some(mounts) = spec.mounts() {
        if mounts.len() > 4096 {
            return Err(format!("mounts: {} entries, limit 4096", mounts.len()));
        }
        for (i, m) in mounts.iter().enumerate() {
            if !m.destination().is_absolute() {
                return Err(format!(
                    "mounts[{i}].destination {:?}: must be an absolute path",
                    m.destination()
                ));
            }
        }
    }
    if let Some(linux) = spec.linux() {
        for (field, paths) in [
            ("linux.maskedPaths", linux.masked_paths()),
            ("linux.readonlyPaths", linux.readonly_paths()),
        ] {
            for p in paths.iter().flatten() {
                if !p.starts_with('/') {
                    return Err(format!("{field} {p:?}: must be an absolute path"));
                }
            }
        }
        if let Some(ns) = linux.namespaces() {
            let mut seen = std::collections::HashSet::new();
            for n in ns {
                if !seen.insert(n.typ()) {
                    return Err(format!("linux.namespaces: {:?} listed twice", n.typ()));
                }
                if let Some(p) = n.path() {
                    if !p.is_absolute() {
                        return Err(format!(
                            "linux.namespaces {:?} path {p:?}: must be absolute",
                            n.typ()
                        ));
                    }
                }
            }
        }
    }
    Ok(())
}
