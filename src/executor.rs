//! ward's libcontainer Executor: the last steps in the container before execve.
//!
//! libcontainer has by now entered the namespaces and cgroup, pivoted into the
//! rootfs, set no_new_privs and dropped capabilities. What is left, in an order
//! the workload cannot undo: Landlock (needs the landlock syscalls, so before
//! seccomp), then the seccomp filters (baseline first, the spec's stacked on
//! top), just before the process reports ready (`before_ready`: as runc, so a
//! startContainer hook runs confined and a notify listener can still reach
//! the agent through `create`'s main process), then execve.
//!
//! Without no_new_privs (`run.ward.nnp=spec` and a spec asking for none), the
//! kernel only accepts a filter or a ruleset from a process holding
//! CAP_SYS_ADMIN, so the same steps run earlier, from
//! `before_capabilities_dropped`, as runc does for its seccomp filter.

use std::ffi::CString;
use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use libcontainer::workload::{Executor, ExecutorError, ExecutorValidationError, SeccompListener};
use oci_spec::runtime::Spec;

use crate::hardening::{landlock, seccomp};
use crate::policy::Policy;

/// Set once this process has installed its Landlock ruleset and seccomp
/// filters. The init (or exec'd) process is a fresh clone of a ward that never
/// hardens itself, so it starts false there.
static HARDENED: AtomicBool = AtomicBool::new(false);

/// The spec filter's user-notification listener, from its installation until
/// `before_ready` hands it to libcontainer (which sends it to the agent).
static LISTENER: Mutex<Option<OwnedFd>> = Mutex::new(None);

fn no_new_privs_set() -> bool {
    // SAFETY: PR_GET_NO_NEW_PRIVS takes no pointers.
    unsafe { libc::prctl(libc::PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) == 1 }
}

#[derive(Clone)]
pub struct WardExecutor {
    policy: Policy,
    spec_filter: Option<Vec<u8>>,
    /// An exec'd process cannot join init's Landlock domain; with the signal
    /// scope it could not signal the container's own processes, so it keeps
    /// only the abstract-socket scope.
    exec: bool,
    /// For an exec'd process: the container's state, sent to a seccomp agent.
    exec_state: Option<oci_spec::runtime::State>,
    /// For the init: the user's bundle, for the state a seccomp agent gets.
    bundle: Option<std::path::PathBuf>,
    /// For an exec'd process: `--env` as given, whose order libcontainer's
    /// map loses (runc appends them to the process's env in this order).
    exec_env: Vec<String>,
}

impl WardExecutor {
    pub fn for_init(
        policy: Policy,
        spec_filter: Option<Vec<u8>>,
        bundle: std::path::PathBuf,
    ) -> Self {
        log_flags(&policy, &spec_filter);
        Self {
            policy,
            spec_filter,
            exec: false,
            exec_state: None,
            bundle: Some(bundle),
            exec_env: Vec::new(),
        }
    }

    pub fn for_exec(
        policy: Policy,
        spec_filter: Option<Vec<u8>>,
        state: Option<oci_spec::runtime::State>,
        exec_env: Vec<String>,
    ) -> Self {
        log_flags(&policy, &spec_filter);
        Self {
            policy,
            spec_filter,
            exec: true,
            exec_state: state,
            bundle: None,
            exec_env,
        }
    }

    fn harden(&self) -> Result<(), String> {
        if HARDENED.swap(true, Ordering::SeqCst) {
            return Ok(());
        }
        if let Some(ll) = &self.policy.landlock {
            let status = if self.exec {
                landlock::apply(&ll.for_exec())
            } else {
                landlock::apply(ll)
            };
            status.map_err(|e| format!("landlock: {e}"))?;
        }
        if let Some(json) = &self.policy.landlock_spec {
            let s = landlock::LandlockPolicy::from_annotation(json)
                .map_err(|e| format!("landlock annotation: {e}"))?;
            landlock::apply_spec(&s).map_err(|e| format!("landlock annotation: {e}"))?;
        }
        if self.policy.seccomp.baseline {
            let base = seccomp::baseline().map_err(|e| format!("seccomp baseline: {e}"))?;
            seccomp::install(&base.program).map_err(|e| format!("seccomp baseline: {e}"))?;
        }
        if let Some(bytes) = &self.spec_filter {
            let prog = seccomp::from_bytes(bytes).map_err(|e| format!("seccomp profile: {e}"))?;
            let listener = seccomp::install_with_flags(&prog, self.policy.seccomp.spec_flags)
                .map_err(|e| format!("seccomp profile: {e}"))?;
            if let Ok(mut slot) = LISTENER.lock() {
                *slot = listener;
            }
        }
        Ok(())
    }
}

/// libcontainer set the environment from a HashMap: put it back in the
/// spec's order, an exec's `--env` last in its own order (see env_order.rs),
/// before execve passes it on.
fn restore_env_order(spec: &Spec, exec_env: &[String]) {
    let mut order: Vec<String> = spec
        .process()
        .as_ref()
        .and_then(|p| p.env().clone())
        .unwrap_or_default();
    order.extend_from_slice(exec_env);
    let current: Vec<_> = std::env::vars_os().collect();
    for (k, _) in &current {
        std::env::remove_var(k);
    }
    for (k, v) in crate::env_order::runc_order(&order, current) {
        std::env::set_var(k, v);
    }
}

fn take_listener() -> Option<OwnedFd> {
    LISTENER.lock().ok().and_then(|mut l| l.take())
}

/// runc's debug line (its bats tests read it): the spec filter's flags.
fn log_flags(policy: &Policy, spec_filter: &Option<Vec<u8>>) {
    if spec_filter.is_some() {
        tracing::debug!("seccomp filter flags: {}", policy.seccomp.spec_flags);
    }
}

impl Executor for WardExecutor {
    /// Without no_new_privs, now is the last moment CAP_SYS_ADMIN is held.
    /// With it, wait: the fewer syscalls run under the filters, the better.
    fn before_capabilities_dropped(&self, _spec: &Spec) -> Result<Option<OwnedFd>, ExecutorError> {
        if no_new_privs_set() {
            return Ok(None);
        }
        self.harden().map_err(ExecutorError::Other)?;
        Ok(take_listener())
    }

    /// Landlock and seccomp go on before the process reports ready, as runc
    /// installs its filter before waiting for `start`: a startContainer hook
    /// runs confined, and a notifying filter's listener can still reach the
    /// agent through `create`'s main process.
    fn before_ready(&self, _spec: &Spec) -> Result<Option<OwnedFd>, ExecutorError> {
        self.harden().map_err(ExecutorError::Other)?;
        Ok(take_listener())
    }

    fn seccomp_listener(&self) -> Option<SeccompListener> {
        self.policy
            .seccomp
            .listener
            .as_ref()
            .map(|l| SeccompListener {
                path: l.path.clone(),
                metadata: l.metadata.clone(),
                state: self.exec_state.clone(),
                bundle: self.bundle.clone(),
            })
    }

    fn exec(&self, spec: &Spec) -> Result<(), ExecutorError> {
        let args = spec
            .process()
            .as_ref()
            .and_then(|p| p.args().as_ref())
            .filter(|a| !a.is_empty())
            .ok_or(ExecutorError::InvalidArg)?;
        let argv: Vec<CString> = args
            .iter()
            .map(|a| CString::new(a.as_bytes()))
            .collect::<Result<_, _>>()
            .map_err(|_| ExecutorError::Other("process.args contains a NUL byte".into()))?;
        crate::testpoint::delay("executor:exec");
        restore_env_order(spec, &self.exec_env);
        // Rust's runtime ignores SIGPIPE in ward, and an ignored signal stays
        // ignored across execve: the program must start with the default
        // (`yes | head` ends yes), as under runc and crun.
        // SAFETY: resetting a disposition to SIG_DFL has no handler to race.
        unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
        self.harden().map_err(ExecutorError::Other)?;
        let Err(err) = nix::unistd::execvp(&argv[0], &argv);
        // runc's wording (Go's `exec %s: %w`).
        let msg = format!(
            "exec {}: {}",
            args[0],
            errno_text(&std::io::Error::from(err))
        );
        if !self.exec {
            // The init's failure after `start` has nobody waiting for it but
            // the container's own stderr, where runc writes it too. (An exec's
            // failure goes back to the waiting `ward exec`, which reports it.)
            let _ = nix::unistd::write(std::io::stderr(), format!("{msg}\n").as_bytes());
        }
        Err(ExecutorError::Other(msg))
    }

    /// Runs in the container before create returns: a program that cannot be
    /// found fails `create` (as in runc), so clients see the error there.
    fn validate(&self, spec: &Spec) -> Result<(), ExecutorValidationError> {
        crate::testpoint::reached("executor:joined");
        if !self.exec {
            crate::lifecycle::creator::release_in_init();
        }
        let process = spec.process().as_ref();
        let Some(prog) = process
            .and_then(|p| p.args().as_ref())
            .and_then(|a| a.first())
        else {
            return Err(ExecutorValidationError::ArgValidationError(
                "process.args is empty".into(),
            ));
        };
        let path_env = process
            .and_then(|p| p.env().as_ref())
            .and_then(|env| env.iter().find_map(|e| e.strip_prefix("PATH=")))
            .unwrap_or("/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
            .to_string();
        // runc's wording (Go's exec.LookPath): Docker maps "no such file or
        // directory" and "executable file not found" to exit 127, "permission
        // denied" to 126.
        find_program(prog, &path_env).map(|_| ()).map_err(|e| {
            ExecutorValidationError::ArgValidationError(format!("exec: {prog:?}: {e}"))
        })
    }
}

/// PATH lookup as execvp does it: a name with a '/' is taken as is.
fn find_program(prog: &str, path_env: &str) -> Result<std::path::PathBuf, String> {
    use std::os::unix::fs::PermissionsExt;
    let executable = |m: &std::fs::Metadata| m.is_file() && m.permissions().mode() & 0o111 != 0;
    if prog.contains('/') {
        let p = std::path::Path::new(prog);
        return match std::fs::metadata(p) {
            Ok(m) if executable(&m) => Ok(p.to_path_buf()),
            Ok(_) => Err("permission denied".into()),
            Err(e) => Err(format!("stat {prog}: {}", errno_text(&e))),
        };
    }
    let mut denied = false;
    for dir in path_env.split(':') {
        let p = std::path::Path::new(if dir.is_empty() { "." } else { dir }).join(prog);
        match std::fs::metadata(&p) {
            Ok(m) if executable(&m) => return Ok(p),
            Ok(m) if m.is_file() => denied = true,
            _ => {}
        }
    }
    // Go's LookPath reports the permission error of a file it found.
    Err(if denied {
        "permission denied".into()
    } else {
        "executable file not found in $PATH".into()
    })
}

/// An io error as Go prints it (`no such file or directory`).
fn errno_text(e: &std::io::Error) -> String {
    libcontainer::utils::errno_text(e)
}
