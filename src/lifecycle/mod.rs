//! The container lifecycle on top of libcontainer: one file per operation.

mod cgroup_path;
pub mod create;
pub(crate) mod creator;
pub mod exec;
mod exec_cgroup;
mod host_mounts;
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
    // The vendored libcontainer replaces state.json atomically (WARD-PATCH.md);
    // upstream rewrote it in place, and a state file written that way can be
    // caught half-written: retry briefly. A file a crash left unreadable stays
    // so; `delete --force` recovers from that.
    let mut last = None;
    for _ in 0..25 {
        match Container::load(dir.clone()) {
            Ok(c) => return Ok(c),
            Err(libcontainer::error::LibcontainerError::State(e)) => {
                last = Some(libcontainer::error::LibcontainerError::State(e));
                std::thread::sleep(std::time::Duration::from_millis(2));
            }
            Err(e) => {
                last = Some(e);
                break;
            }
        }
    }
    Err(WardError::Container {
        context: format!("loading container {id}"),
        source: Box::new(last.unwrap_or(libcontainer::error::LibcontainerError::NoDirectory)),
    })
}

/// The part of a libcontainer builder that create and exec share.
pub(crate) fn builder(
    root: &StateRoot,
    id: &str,
    executor: crate::executor::WardExecutor,
    pid_file: Option<&std::path::PathBuf>,
    console_socket: Option<&std::path::PathBuf>,
    preserve_fds: i32,
) -> Result<libcontainer::container::builder::ContainerBuilder> {
    use crate::error::lc_err;
    Ok(libcontainer::container::builder::ContainerBuilder::new(
        id.to_string(),
        libcontainer::syscall::syscall::SyscallType::default(),
    )
    .with_executor(executor)
    .with_root_path(&root.root)
    .map_err(lc_err("state root"))?
    .with_pid_file(pid_file)
    .map_err(lc_err("--pid-file"))?
    .with_console_socket(console_socket)
    .with_preserved_fds(preserve_fds))
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
