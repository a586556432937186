//! Rootfs and /proc, /sys hardening applied to the spec before libcontainer sees it:
//! read-only `/`, private writable tmpfs at /tmp and /run, masked and read-only paths.

use std::path::Path;

use oci_spec::runtime::{Mount, MountBuilder, Spec};

use crate::specgen::{RUNC_MASKED, RUNC_READONLY};

/// Masked beyond runc's defaults: what runc leaves reachable.
const EXTRA_MASKED: &[&str] = &[
    "/proc/sysrq-trigger",
    "/sys/devices/virtual/powercap",
    "/sys/kernel/debug",
    "/sys/kernel/security",
];

/// Writable scratch space a read-only rootfs still needs: directories of one
/// 64 MiB tmpfs (libcontainer's mount.rs, `SCRATCH_OPTION`), a superblock
/// per container fewer than one tmpfs each.
const SCRATCH: &[(&str, &str)] = &[("/tmp", "mode=1777"), ("/run", "mode=755")];

/// Unions the spec's masked/read-only lists with ward's; returns the final lists.
pub fn harden_proc_sys(spec: &mut Spec) -> (Vec<String>, Vec<String>) {
    let mut linux = spec.linux().clone().unwrap_or_default();
    let union = |theirs: &Option<Vec<String>>, ours: &[&[&str]]| {
        let mut v: Vec<String> = theirs.clone().unwrap_or_default();
        for p in ours.iter().flat_map(|l| l.iter()) {
            if !v.iter().any(|x| x == p) {
                v.push((*p).to_string());
            }
        }
        v
    };
    let masked = union(linux.masked_paths(), &[RUNC_MASKED, EXTRA_MASKED]);
    let ro = union(linux.readonly_paths(), &[RUNC_READONLY]);
    linux
        .set_masked_paths(Some(masked.clone()))
        .set_readonly_paths(Some(ro.clone()));
    spec.set_linux(Some(linux));
    (masked, ro)
}

/// Makes `/` read-only and adds tmpfs scratch mounts the spec lacks, where
/// `fits(dest)` allows. Returns the scratch mounts added.
pub fn make_root_readonly(spec: &mut Spec, fits: impl Fn(&str) -> bool) -> Vec<String> {
    if let Some(mut root) = spec.root().clone() {
        root.set_readonly(Some(true));
        spec.set_root(Some(root));
    }
    let mut mounts = spec.mounts().clone().unwrap_or_default();
    let mut added = Vec::new();
    for (dest, mode) in SCRATCH {
        if mounts.iter().any(|m| m.destination() == Path::new(dest)) || !fits(dest) {
            continue;
        }
        let Ok(m) = tmpfs(dest, mode) else { continue };
        // Before the spec's mounts (only a mount of `/` itself stays ahead):
        // a destination may lead under /tmp or /run through a symlink in the
        // image (/etc/resolv.conf -> /run/systemd/resolve/..., runc's
        // dangling-symlink tests), and a tmpfs mounted after it would hide it.
        let pos = mounts
            .iter()
            .position(|x| !Path::new(dest).starts_with(x.destination()))
            .unwrap_or(mounts.len());
        mounts.insert(pos, m);
        added.push((*dest).to_string());
    }
    spec.set_mounts(Some(mounts));
    added
}

fn tmpfs(dest: &str, mode: &str) -> Result<Mount, oci_spec::OciSpecError> {
    MountBuilder::default()
        .destination(dest)
        .typ("tmpfs")
        .source("tmpfs")
        .options(vec![
            "nosuid".to_string(),
            "nodev".to_string(),
            mode.to_string(),
            "size=65536k".to_string(),
            libcontainer::rootfs::SCRATCH_OPTION.to_string(),
        ])
        .build()
}

/// True when the mount is writable from inside the container.
pub fn mount_is_writable(m: &Mount) -> bool {
    !m.options()
        .iter()
        .flatten()
        .any(|o| o == "ro" || o == "rro")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The default spec plus a bind at `dest`, made read-only with scratch
    /// mounts; the mount destinations in order.
    fn readonly_with_bind(dest: &str) -> (Spec, Vec<String>, Vec<String>) {
        let mut spec = Spec::default();
        let mut mounts = spec.mounts().clone().unwrap_or_default();
        mounts.push(
            MountBuilder::default()
                .destination(dest)
                .typ("bind")
                .source("/x")
                .build()
                .unwrap(),
        );
        spec.set_mounts(Some(mounts));
        let added = make_root_readonly(&mut spec, |_| true);
        let dests = spec
            .mounts()
            .as_ref()
            .unwrap()
            .iter()
            .map(|m| m.destination().to_string_lossy().to_string())
            .collect();
        (spec, added, dests)
    }

    #[test]
    fn readonly_root_adds_scratch_before_nested_mounts() {
        let (spec, added, dests) = readonly_with_bind("/run/secrets");
        assert_eq!(added, vec!["/tmp", "/run"]);
        assert_eq!(spec.root().as_ref().unwrap().readonly(), Some(true));
        let run = dests.iter().position(|d| d == "/run").unwrap();
        let sec = dests.iter().position(|d| d == "/run/secrets").unwrap();
        assert!(run < sec);
    }

    #[test]
    fn scratch_goes_before_mounts_that_may_resolve_under_it() {
        let (_, _, dests) = readonly_with_bind("/etc/hosts");
        let tmp = dests.iter().position(|d| d == "/tmp").unwrap();
        let hosts = dests.iter().position(|d| d == "/etc/hosts").unwrap();
        assert!(tmp < hosts, "{dests:?}");
    }

    #[test]
    fn masked_paths_are_a_union() {
        let mut spec = Spec::default();
        let mut l = spec.linux().clone().unwrap();
        l.set_masked_paths(Some(vec!["/proc/mine".into()]));
        spec.set_linux(Some(l));
        let (masked, ro) = harden_proc_sys(&mut spec);
        assert!(masked.contains(&"/proc/mine".to_string()));
        assert!(masked.contains(&"/proc/kcore".to_string()));
        assert!(ro.contains(&"/proc/sys".to_string()));
    }
}
