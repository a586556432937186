//! Library error type: every variant names what was wrong (file, field, container ID).

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum WardError {
    #[error("invalid container ID {id:?}: {reason}")]
    InvalidId { id: String, reason: &'static str },
    #[error("container {0} does not exist")]
    NotExist(String),
    #[error("container {0} already exists")]
    Exists(String),
    #[error("container {id} is {status}: {what}")]
    WrongState {
        id: String,
        status: String,
        what: String,
    },
    #[error("container not running: {0}")]
    NotRunning(String),
    #[error("{path}: {msg}")]
    Config { path: PathBuf, msg: String },
    #[error("bundle {path}: {msg}")]
    Bundle { path: PathBuf, msg: String },
    #[error("{0}")]
    Invalid(String),
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{context}: {source}")]
    Sys {
        context: String,
        #[source]
        source: nix::Error,
    },
    #[error("{context}: {source}")]
    Container {
        context: String,
        // Boxed: libcontainer's error is large and every Result carries it.
        #[source]
        source: Box<libcontainer::error::LibcontainerError>,
    },
    #[error("{context}: {source}")]
    Cgroup {
        context: String,
        #[source]
        source: anyhow::Error,
    },
    #[error(transparent)]
    Seccomp(#[from] crate::hardening::seccomp::SeccompError),
    #[error(transparent)]
    Landlock(#[from] crate::hardening::landlock::LandlockError),
    #[error(transparent)]
    Userns(#[from] crate::hardening::userns::UsernsError),
}

pub type Result<T> = std::result::Result<T, WardError>;

pub(crate) fn io_err(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> WardError {
    let context = context.into();
    move |source| WardError::Io { context, source }
}

pub(crate) fn lc_err(
    context: impl Into<String>,
) -> impl FnOnce(libcontainer::error::LibcontainerError) -> WardError {
    let context = context.into();
    move |source| WardError::Container {
        context,
        source: Box::new(source),
    }
}
