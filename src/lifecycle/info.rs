//! Read-only views: state, list, ps, events; and update of resources.

use std::collections::HashMap;
use std::path::PathBuf;

use libcgroups::common::{CgroupManager, ControllerOpt};
use libcontainer::container::{Container, ContainerStatus};
use oci_spec::runtime::LinuxResources;
use serde::Serialize;

use super::ops::cgroup_manager;
use super::{load, status_name};
use crate::error::{io_err, Result, WardError};
use crate::paths::StateRoot;

/// runc's state document: the OCI state plus rootfs, created and owner.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StateDoc {
    pub oci_version: String,
    pub id: String,
    pub pid: i32,
    pub status: String,
    pub bundle: PathBuf,
    pub rootfs: PathBuf,
    pub created: String,
    pub owner: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub annotations: Option<HashMap<String, String>>,
}

/// The user's rootfs of the container whose ward dir is `wdir` and whose
/// bundle is `bundle`: a `rootfs` link only where it is not the bundle's
/// `rootfs` directory (no spec parsing).
pub fn recorded_rootfs(wdir: &std::path::Path, bundle: &std::path::Path) -> PathBuf {
    std::fs::read_link(wdir.join("rootfs")).unwrap_or_else(|_| bundle.join("rootfs"))
}

/// The user's bundle: libcontainer's state records it; containers created
/// by earlier wards recorded ward's dir there and left a `bundle` link.
pub fn recorded_bundle(wdir: &std::path::Path, c: &Container) -> PathBuf {
    if c.bundle().starts_with(wdir) {
        if let Ok(b) = std::fs::read_link(wdir.join("bundle")) {
            return b;
        }
    }
    c.bundle().clone()
}

pub fn state_doc(root: &StateRoot, c: &Container) -> StateDoc {
    let status = c.status();
    let pid = match status {
        ContainerStatus::Stopped => 0,
        _ => c.pid().map(|p| p.as_raw()).unwrap_or(0),
    };
    let wdir = root.ward_dir(c.id());
    let bundle = recorded_bundle(&wdir, c);
    StateDoc {
        oci_version: c.state.oci_version.clone(),
        id: c.id().to_string(),
        pid,
        status: status_name(status).to_string(),
        rootfs: recorded_rootfs(&wdir, &bundle),
        bundle,
        created: c
            .created()
            .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true))
            .unwrap_or_default(),
        owner: c
            .creator()
            .map(|s| s.to_string_lossy().to_string())
            .unwrap_or_default(),
        annotations: c.state.annotations.clone().filter(|a| !a.is_empty()),
    }
}

pub fn state(root: &StateRoot, id: &str) -> Result<StateDoc> {
    let c = load(root, id)?;
    Ok(state_doc(root, &c))
}

/// Every container under the root, sorted by ID. A container whose state cannot
/// be read is skipped with a warning rather than failing the whole listing.
pub fn list(root: &StateRoot) -> Result<Vec<StateDoc>> {
    let rd = match std::fs::read_dir(&root.root) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io_err(format!("reading {}", root.root.display()))(e)),
    };
    let mut out = Vec::new();
    for ent in rd.flatten() {
        let name = ent.file_name().to_string_lossy().to_string();
        if crate::id::validate_id(&name).is_err() || !ent.path().join("state.json").exists() {
            continue;
        }
        match load(root, &name) {
            Ok(c) => out.push(state_doc(root, &c)),
            Err(e) => tracing::warn!("skipping {name}: {e}"),
        }
    }
    out.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(out)
}

pub fn pids(root: &StateRoot, id: &str) -> Result<Vec<i32>> {
    let c = load(root, id)?;
    if c.status() == ContainerStatus::Stopped {
        return Ok(Vec::new());
    }
    let mut pids: Vec<i32> = super::ops::container_pids(&c)?
        .into_iter()
        .map(|p| p.as_raw())
        .collect();
    pids.sort_unstable();
    Ok(pids)
}

/// One `events --stats` record, in runc's shape.
#[derive(Serialize)]
pub struct Event {
    #[serde(rename = "type")]
    pub typ: &'static str,
    pub id: String,
    /// None for events that carry nothing (`oom`): runc writes just type and id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<serde_json::Value>,
}

/// How many times the kernel's OOM killer acted in the container's memory
/// cgroup (v1 `memory.oom_control`, v2 `memory.events`: `oom_kill`). None
/// when it cannot be read (no memory controller, a systemd unit path).
pub fn oom_kills(root: &StateRoot, id: &str) -> Option<u64> {
    use libcgroups::common::{get_cgroup_setup, CgroupSetup, DEFAULT_CGROUP_ROOT};
    let c = load(root, id).ok()?;
    let path = c.spec().ok()?.cgroup_path;
    if crate::lifecycle::cgroup_path::is_systemd_path(&path) {
        return None;
    }
    let rel = path.strip_prefix("/").unwrap_or(&path).to_path_buf();
    let file = match get_cgroup_setup().ok()? {
        CgroupSetup::Unified => std::path::Path::new(DEFAULT_CGROUP_ROOT)
            .join(rel)
            .join("memory.events"),
        _ => {
            libcgroups::v1::util::get_subsystem_mount_point(&libcgroups::v1::ControllerType::Memory)
                .ok()?
                .join(rel)
                .join("memory.oom_control")
        }
    };
    std::fs::read_to_string(file).ok()?.lines().find_map(|l| {
        l.strip_prefix("oom_kill ")
            .and_then(|n| n.trim().parse().ok())
    })
}

pub fn stats(root: &StateRoot, id: &str) -> Result<Event> {
    let c = load(root, id)?;
    if !matches!(
        c.status(),
        ContainerStatus::Running | ContainerStatus::Paused
    ) {
        return Err(WardError::NotRunning(id.to_string()));
    }
    let m = cgroup_manager(&c)?;
    let s = m.stats().map_err(|e| WardError::Cgroup {
        context: format!("reading stats of {id}"),
        source: e.into(),
    })?;
    let data = serde_json::to_value(&s)
        .map_err(|e| WardError::Invalid(format!("serialising stats: {e}")))?;
    Ok(Event {
        typ: "stats",
        id: id.to_string(),
        data: Some(data),
    })
}

pub fn update(root: &StateRoot, id: &str, resources: &LinuxResources) -> Result<()> {
    let c = load(root, id)?;
    if c.status() == ContainerStatus::Stopped {
        return Err(WardError::NotRunning(id.to_string()));
    }
    let m = cgroup_manager(&c)?;
    m.apply(&ControllerOpt {
        resources,
        disable_oom_killer: false,
        oom_score_adj: None,
        freezer_state: None,
    })
    .map_err(|e| WardError::Cgroup {
        context: format!("updating resources of {id}"),
        source: e.into(),
    })
}
