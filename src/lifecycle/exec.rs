//! `exec`: a new process in a running container, under the same policy as init.

use std::collections::HashMap;
use std::path::PathBuf;

use libcontainer::container::{Container, ContainerStatus};
use nix::unistd::Pid;
use oci_spec::runtime::Process;

use super::load;
use crate::error::{io_err, lc_err, Result, WardError};
use crate::executor::WardExecutor;
use crate::fsutil::write_atomic;
use crate::hardening::capabilities;
use crate::paths::StateRoot;
use crate::policy::relax::Layer;
use crate::policy::Policy;

#[derive(Debug, Default, Clone)]
pub struct ExecOpts {
    pub id: String,
    /// `--process FILE`: its name and its contents, read once (it may be a
    /// pipe, as in `-p <(...)`).
    pub process: Option<(PathBuf, Vec<u8>)>,
    pub args: Vec<String>,
    pub detach: bool,
    pub pid_file: Option<PathBuf>,
    pub console_socket: Option<PathBuf>,
    pub pidfd_socket: Option<PathBuf>,
    /// `-t`: a pty for a process given by arguments.
    pub tty: bool,
    pub cwd: Option<PathBuf>,
    pub env: Vec<String>,
    pub user: Option<(u32, Option<u32>)>,
    pub additional_gids: Vec<u32>,
    pub caps: Vec<String>,
    /// `--no-new-privs`; only matters when the nnp layer is relaxed.
    pub no_new_privs: bool,
    pub preserve_fds: i32,
    pub ignore_paused: bool,
    /// `--cgroup [CONTROLLERS:]PATH`: sub-cgroups to run in (exec_cgroup.rs).
    pub cgroups: Vec<String>,
}

pub fn exec(root: &StateRoot, opts: &ExecOpts) -> Result<Pid> {
    super::create::check_parent_dir("--pid-file", opts.pid_file.as_deref())?;
    let c = load(root, &opts.id)?;
    match c.status() {
        ContainerStatus::Running | ContainerStatus::Created => {}
        ContainerStatus::Paused if opts.ignore_paused => {}
        ContainerStatus::Paused => {
            return Err(WardError::Invalid(format!(
                "cannot exec in a paused container: {} (resume it first, or use --ignore-paused)",
                opts.id
            )))
        }
        _ => return Err(WardError::NotRunning(opts.id.clone())),
    }
    let policy = seal_for(root, &opts.id)?;
    let cgroup_dirs = match c.spec() {
        Ok(cfg) => super::exec_cgroup::resolve(&cfg.cgroup_path, &opts.cgroups)?,
        Err(_) if opts.cgroups.is_empty() => None,
        Err(e) => {
            return Err(WardError::Invalid(format!(
                "exec --cgroup: reading the container's cgroup path: {e}"
            )))
        }
    };
    let filter = match std::fs::read(root.spec_filter_file(&opts.id)) {
        Ok(b) => Some(b),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(io_err("reading saved seccomp profile")(e)),
    };
    let caps_relaxed = policy.relaxations.iter().any(|r| r.layer == Layer::Caps);
    let force_nnp = policy.exec_forces_no_new_privs(opts.no_new_privs);
    let process_file = match &opts.process {
        Some((p, text)) => Some(sanitized_process(
            root,
            &opts.id,
            p,
            text,
            caps_relaxed,
            force_nnp,
        )?),
        None => None,
    };
    let caps: Vec<String> = opts
        .caps
        .iter()
        .map(|c| {
            let up = c.to_ascii_uppercase();
            if up.starts_with("CAP_") {
                up
            } else {
                format!("CAP_{up}")
            }
        })
        .filter(|c| {
            caps_relaxed
                || !capabilities::NEVER
                    .iter()
                    .any(|n| capabilities::cap_name(n) == *c)
        })
        .collect();
    let env: HashMap<String, String> = opts
        .env
        .iter()
        .filter_map(|kv| {
            kv.split_once('=')
                .map(|(k, v)| (k.to_string(), v.to_string()))
        })
        .collect();

    crate::testpoint::reached("exec:prepared");
    let executor = WardExecutor::for_exec(policy, filter, exec_state(root, &c), opts.env.clone());
    let mut b = super::builder(
        root,
        &opts.id,
        executor,
        opts.pid_file.as_ref(),
        opts.console_socket.as_ref(),
        opts.preserve_fds,
    )?
    .as_tenant()
    // The hardened spec is ward's; the state records the user's bundle.
    .with_spec_dir(Some(root.ward_dir(&opts.id)))
    .with_detach(opts.detach)
    .with_terminal(opts.tty)
    .with_cwd(opts.cwd.as_ref())
    .with_env(env)
    .with_process(process_file.as_ref())
    .with_no_new_privs(force_nnp)
    .with_container_args(opts.args.clone())
    .with_capabilities(caps)
    .with_additional_gids(opts.additional_gids.clone())
    .with_ignore_paused(opts.ignore_paused)
    .with_cgroup_dirs(cgroup_dirs);
    if let Some((uid, gid)) = opts.user {
        b = b.with_user(Some(uid)).with_group(gid);
    }
    let pid = b
        .build()
        .map_err(lc_err(format!("exec in container {}", opts.id)));
    if let Some(p) = &process_file {
        let _ = std::fs::remove_file(p);
    }
    let pid = pid?;
    if let Some(sock) = &opts.pidfd_socket {
        super::pidfd::send_pidfd(sock, pid)?;
    }
    Ok(pid)
}

/// Re-executes from the sealed copy when the container needs it (see
/// selfprotect: only ward's own user namespace makes the copy unneeded), and
/// returns the container's policy. Call before reading anything that cannot
/// be read twice (a `-p <(...)` pipe): the re-exec starts over.
pub fn seal_for(root: &StateRoot, id: &str) -> Result<Policy> {
    let policy = Policy::load(&root.policy_file(id))?;
    if !matches!(policy.userns, crate::policy::UsernsPolicy::Ward { .. }) {
        crate::selfprotect::ensure_sealed().map_err(WardError::Invalid)?;
    }
    Ok(policy)
}

/// Reads a process.json, names its problems, and restricts its capabilities
/// the way create restricted the init process's.
fn sanitized_process(
    root: &StateRoot,
    id: &str,
    path: &std::path::Path,
    text: &[u8],
    relaxed: bool,
    force_nnp: bool,
) -> Result<PathBuf> {
    let bad = |msg: String| WardError::Config {
        path: path.to_path_buf(),
        msg,
    };
    let mut value: serde_json::Value =
        serde_json::from_slice(text).map_err(|e| bad(format!("invalid process: {e}")))?;
    // runc's leniencies: no `user` is uid 0, unknown capabilities dropped.
    for w in crate::spec_compat::normalize_process(&mut value) {
        tracing::warn!("{w}");
    }
    let mut p: Process =
        serde_json::from_value(value).map_err(|e| bad(format!("invalid process: {e}")))?;
    if p.args().as_ref().is_none_or(|a| a.is_empty()) {
        return Err(bad("args: must name the program to run".into()));
    }
    let caps = capabilities::restrict(p.capabilities().as_ref(), relaxed);
    p.set_capabilities(Some(caps));
    if force_nnp {
        p.set_no_new_privileges(Some(true));
    }
    let out = root
        .ward_dir(id)
        .join(format!("process-{}.json", std::process::id()));
    let data = serde_json::to_vec(&p).map_err(|e| bad(format!("serialising: {e}")))?;
    write_atomic(&out, &data)?;
    Ok(out)
}

/// The container's state as a seccomp agent gets it with an exec'd process's
/// listener (runc: the container's, running).
fn exec_state(root: &StateRoot, c: &Container) -> Option<oci_spec::runtime::State> {
    let doc = super::info::state_doc(root, c);
    oci_spec::runtime::StateBuilder::default()
        .version(oci_spec::runtime::VERSION)
        .id(doc.id)
        .status(oci_spec::runtime::ContainerState::Running)
        .pid(doc.pid)
        .bundle(doc.bundle)
        .annotations(doc.annotations.unwrap_or_default())
        .build()
        .ok()
}
