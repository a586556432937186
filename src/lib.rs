//! ward: a minimal, secure-by-default OCI container runtime.
//!
//! Layout (each a module a newcomer can find by name):
//! - `cli`: the command line edge (clap definitions, plain data).
//! - `lifecycle`: create/start/exec/kill/delete on top of libcontainer.
//! - `policy`: the per-container security policy computed once at create.
//! - `hardening`: the layers the policy is made of (seccomp, capabilities,
//!   Landlock, rootfs, user namespaces).

pub mod hardening;
