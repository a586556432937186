//! ward: a minimal, secure-by-default OCI container runtime.
//!
//! Layout (each a module a newcomer can find by name):
//! - `lifecycle`: create/start/exec/kill/delete/... on top of libcontainer.
//! - `policy`: the per-container security policy computed once at create.
//! - `hardening`: the layers the policy is made of (seccomp, capabilities,
//!   Landlock, rootfs, user namespaces).
//! - `executor`: applies the policy in the container, just before execve.
//! - The CLI edge (clap, anyhow) lives in the binary, `src/main.rs` + `src/cli/`.

pub mod bundle;
pub mod env_order;
pub mod error;
pub mod executor;
pub mod fsutil;
pub mod hardening;
pub mod id;
pub mod lifecycle;
pub mod logging;
pub mod paths;
pub mod policy;
pub mod profile;
pub mod selfprotect;
pub mod signal;
pub mod spec_compat;
pub mod specgen;
pub mod testpoint;
