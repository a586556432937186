//! Provides a thin wrapper around fork syscall,
//! with enums and functions specific to youki implemented

pub mod args;
pub mod channel;
pub mod container_intermediate_process;
pub mod container_main_process;
mod container_single_clone;
pub mod cpu_affinity;
mod fork;
pub(crate) mod idmap_mount;
/// ward patch: the mount option marking a bind whose source the main process
/// opens (see `idmap_mount`).
pub use idmap_mount::HOST_TREE;
pub mod init;
pub mod intel_rdt;
pub mod memory_policy;
mod message;
mod seccomp_listener;
