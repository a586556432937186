//! The container lifecycle on top of libcontainer: one file per operation.

pub mod create;
pub mod exec;
pub mod info;
pub mod ops;
pub mod pidfd;

use libcontainer::container::{Container, ContainerStatus};

use crate::error::{Result, WardError};
use crate::paths::StateRoot;

/// Loads a container's state, refreshing its status from the kernel.
pub fn load(root: &StateRoot, id: &str) -> Result<Container> {
    crate::id::validate_id(id)?;
    let dir = root.container_dir(id);
    if !dir.join("state.json").exists() {
        return Err(WardError::NotExist(id.to_string()));
    }
    Container::load(dir).map_err(|e| WardError::Container {
        context: format!("loading container {id}"),
        source: e,
    })
}

/// OCI status names.
pub fn status_name(s: ContainerStatus) -> &'static str {
    match s {
        ContainerStatus::Creating => "creating",
        ContainerStatus::Created => "created",
        ContainerStatus::Running => "running",
        ContainerStatus::Stopped => "stopped",
        ContainerStatus::Paused => "paused",
    }
}
