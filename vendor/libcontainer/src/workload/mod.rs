use std::collections::HashMap;
use std::env;
use std::os::fd::OwnedFd;
use std::path::PathBuf;

use oci_spec::runtime::Spec;

pub mod default;

pub static EMPTY: Vec<String> = Vec::new();

#[derive(Debug, thiserror::Error)]
pub enum ExecutorError {
    #[error("invalid argument")]
    InvalidArg,
    #[error("failed to execute workload")]
    Execution(#[from] Box<dyn std::error::Error + Send + Sync>),
    #[error("{0}")]
    Other(String),
    #[error("{0} executor can't handle spec")]
    CantHandle(&'static str),
}

#[derive(Debug, thiserror::Error)]
pub enum ExecutorValidationError {
    #[error("{0} executor can't handle spec")]
    CantHandle(&'static str),
    #[error("{0}")]
    ArgValidationError(String),
}

#[derive(Debug, thiserror::Error)]
pub enum ExecutorSetEnvsError {
    #[error("failed to set envs")]
    SetEnvs(#[from] Box<dyn std::error::Error + Send + Sync>),
    #[error("{0}")]
    Other(String),
}

// Here is an explanation about the complexity below regarding to
// CloneBoxExecutor and Executor traits. This is one of the places rust actually
// makes our life harder. The usecase for the executor is to allow users of
// `libcontainer` to pass in a closure like function where the actual execution
// of the container workload can be defined by user. To maximize the flexibility
// for the users, we use trait object to allow users to pass in a closure like
// objects, so the function can container any number of variables through the
// structure. This is similar to the Fn family of traits that rust std lib has.
// However, our usecase has a little bit more complexity than the Fn family of
// traits. We require the struct implementing this Executor traits to be
// cloneable, so we can pass the struct across fork/clone process boundary with
// memory safety. We can't make the Executor trait to require Clone trait
// because doing so will make the Executor trait not object safe. Part of the
// reason is that without the CloneBoxExecutor trait, the default clone
// implementation for Box<dyn trait> will first unwrap the box. However, the
// `dyn trait` inside the box doesn't have a size, which violates the object
// safety requirement for a trait. To work around this, we implement our own
// CloneBoxExecutor trait, which is object safe.
//
// Note to future maintainers: if you find a better way to do this or Rust
// introduced some new magical feature to simplify this logic, please consider
// to refactor this part.

/// (ward) Where the runtime's main process sends a seccomp user-notification
/// listener (`linux.seccomp.listenerPath`), with `listenerMetadata`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeccompListener {
    pub path: PathBuf,
    pub metadata: String,
    /// The container's state for an exec'd process, whose main process has
    /// no `Container` to build it from.
    pub state: Option<oci_spec::runtime::State>,
    /// The bundle to report for the init, when the container's state records
    /// another directory (ward hands libcontainer an effective bundle).
    pub bundle: Option<PathBuf>,
}

pub trait CloneBoxExecutor {
    fn clone_box(&self) -> Box<dyn Executor>;
}

pub trait Executor: CloneBoxExecutor {
    /// Executes the workload
    fn exec(&self, spec: &Spec) -> Result<(), ExecutorError>;

    /// Validate if the spec can be executed by the executor. This step runs
    /// after the container init process is created, entered into the correct
    /// namespace and cgroups, and pivot_root into the rootfs. But this step
    /// runs before waiting for the container start signal.
    fn validate(&self, spec: &Spec) -> Result<(), ExecutorValidationError>;

    /// (ward) Runs in the container process after its uid/gid are set and
    /// before its capabilities are dropped to the spec's sets: the last point
    /// at which it still holds CAP_SYS_ADMIN in its user namespace, which
    /// installing a seccomp filter or a Landlock ruleset needs when
    /// no_new_privs is not set. The default does nothing.
    /// A returned fd is a seccomp listener, handed over as `before_ready`'s.
    fn before_capabilities_dropped(&self, _spec: &Spec) -> Result<Option<OwnedFd>, ExecutorError> {
        Ok(None)
    }

    /// (ward) Runs in the container process after `setup_envs`, right before
    /// it reports ready to the runtime (so before the start signal and any
    /// startContainer hook). A returned fd is a seccomp user-notification
    /// listener: the process sends it to the main process, which hands it to
    /// the agent of [`Executor::seccomp_listener`], waits for that, and closes
    /// its copy. The default does nothing.
    fn before_ready(&self, _spec: &Spec) -> Result<Option<OwnedFd>, ExecutorError> {
        Ok(None)
    }

    /// (ward) Called in the main process: Some when `before_ready` will
    /// return a listener, which then goes to this agent.
    fn seccomp_listener(&self) -> Option<SeccompListener> {
        None
    }

    /// Set environment variables for the container process to be executed.
    /// This step runs after the container init process is created, entered
    /// into the correct namespace and cgroups, and pivot_root into the rootfs.
    /// But this step runs before waiting for the container start signal.
    /// The host's environment variables are not cleared yet at this point.
    /// They should be cleared explicitly if needed.
    fn setup_envs(&self, envs: HashMap<String, String>) -> Result<(), ExecutorSetEnvsError> {
        // The default implementation resets the process env based on the OCI spec.
        // First, clear all host's envs.
        env::vars().for_each(|(key, _value)| unsafe { env::remove_var(key) });

        // Next, set envs based on the spec
        envs.iter()
            .for_each(|(key, value)| unsafe { env::set_var(key, value) });

        Ok(())
    }
}

impl<T> CloneBoxExecutor for T
where
    T: 'static + Executor + Clone,
{
    fn clone_box(&self) -> Box<dyn Executor> {
        Box::new(self.clone())
    }
}

impl Clone for Box<dyn Executor> {
    fn clone(&self) -> Self {
        self.clone_box()
    }
}
