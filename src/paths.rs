//! Where ward keeps its state.
//!
//! `<root>/<id>/` is libcontainer's container directory (state.json, config).
//! `<root>/@ward/<id>/` holds ward's own files for that container: the effective
//! config.json handed to libcontainer and the security policy. '@' cannot occur in
//! a container ID, so this directory can never collide with a container's.

use std::path::{Path, PathBuf};

pub const DEFAULT_ROOT: &str = "/run/ward";

/// Default state root: fixed for root (podman calls without --root and with an
/// empty XDG_RUNTIME_DIR), `$XDG_RUNTIME_DIR/ward` for other users.
pub fn default_root() -> PathBuf {
    if nix::unistd::geteuid().is_root() {
        return PathBuf::from(DEFAULT_ROOT);
    }
    match std::env::var_os("XDG_RUNTIME_DIR") {
        Some(d) if !d.is_empty() => Path::new(&d).join("ward"),
        _ => PathBuf::from(format!("/run/user/{}/ward", nix::unistd::geteuid())),
    }
}

#[derive(Debug, Clone)]
pub struct StateRoot {
    pub root: PathBuf,
}

impl StateRoot {
    pub fn new(root: PathBuf) -> Self {
        Self { root }
    }
    pub fn container_dir(&self, id: &str) -> PathBuf {
        self.root.join(id)
    }
    pub fn ward_dir(&self, id: &str) -> PathBuf {
        self.root.join("@ward").join(id)
    }
    pub fn spec_filter_file(&self, id: &str) -> PathBuf {
        self.ward_dir(id).join("seccomp.bpf")
    }
    /// ward's effective config.json, which holds the container's policy.
    pub fn policy_file(&self, id: &str) -> PathBuf {
        self.ward_dir(id).join("config.json")
    }
}
