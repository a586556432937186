//! start, kill, delete, pause, resume.

use libcgroups::common::{create_cgroup_manager, CgroupConfig, CgroupManager, FreezerState};
use libcontainer::container::{Container, ContainerStatus};
use nix::sys::signal::Signal;
use nix::unistd::Pid;

use super::{load, status_name};
use crate::error::{lc_err, Result, WardError};
use crate::paths::StateRoot;

fn wrong_state(c: &Container, what: &str) -> WardError {
    WardError::WrongState {
        id: c.id().to_string(),
        status: status_name(c.status()).to_string(),
        what: what.to_string(),
    }
}

pub fn start(root: &StateRoot, id: &str) -> Result<Container> {
    start_loaded(load(root, id)?)
}

/// Starts a container already in memory: `run` starts the one `create` just
/// returned instead of reading its state back (libcontainer's start refreshes
/// the status from the kernel either way).
pub fn start_loaded(mut c: Container) -> Result<Container> {
    let id = c.id().to_string();
    match c.status() {
        ContainerStatus::Created => {}
        ContainerStatus::Stopped => {
            return Err(WardError::WrongState {
                id,
                status: "stopped".into(),
                what: "cannot start a container that has stopped".into(),
            })
        }
        _ => {
            return Err(wrong_state(
                &c,
                "cannot start, only a created container can",
            ))
        }
    }
    crate::testpoint::reached("start:loaded");
    c.start()
        .map_err(lc_err(format!("starting container {id}")))?;
    Ok(c)
}

pub fn cgroup_manager(c: &Container) -> Result<libcgroups::common::AnyCgroupManager> {
    let cfg = c
        .spec()
        .map_err(lc_err(format!("reading config of {}", c.id())))?;
    create_cgroup_manager(CgroupConfig {
        cgroup_path: cfg.cgroup_path,
        systemd_cgroup: c.systemd(),
        container_name: c.id().to_string(),
    })
    .map_err(|e| WardError::Cgroup {
        context: format!("cgroup of {}", c.id()),
        source: e.into(),
    })
}

/// Every process in the container's cgroup. A cgroup that is gone holds no
/// process: with the systemd driver, systemd removes a container's scope as
/// soon as it is empty, and clients still call `kill --all` and `ps` after
/// the init exited (runc and crun answer "no processes" too).
pub fn container_pids(c: &Container) -> Result<Vec<Pid>> {
    let m = cgroup_manager(c)?;
    match m.get_all_pids() {
        Ok(pids) => Ok(pids),
        Err(e) if cgroup_missing(&e) => Ok(Vec::new()),
        Err(e) => Err(cg_err(c.id(), "listing processes")(e)),
    }
}

/// The error says the cgroup directory itself does not exist (ENOENT).
fn cgroup_missing(e: &libcgroups::common::AnyManagerError) -> bool {
    use libcgroups::common::AnyManagerError as E;
    use libcgroups::systemd::manager::SystemdManagerError as S;
    use libcgroups::v1::manager::V1ManagerError as V1;
    use libcgroups::v2::manager::V2ManagerError as V2;
    let io = match e {
        E::V1(V1::WrappedIo(w)) | E::V2(V2::WrappedIo(w)) | E::Systemd(S::WrappedIo(w)) => w,
        E::Systemd(S::V2Manager(V2::WrappedIo(w))) => w,
        _ => return false,
    };
    io.inner().kind() == std::io::ErrorKind::NotFound
}

fn cg_err(id: &str, what: &str) -> impl FnOnce(libcgroups::common::AnyManagerError) -> WardError {
    let context = format!("{what} of container {id}");
    move |e| WardError::Cgroup {
        context,
        source: e.into(),
    }
}

/// Sends a signal to the init process, or with `all` to every process of the
/// container. Real-time signals are allowed, so this uses raw numbers.
pub fn kill(root: &StateRoot, id: &str, sig: i32, all: bool) -> Result<()> {
    let c = load(root, id)?;
    // Without a pid namespace of its own, killing the init takes nothing else
    // with it: SIGKILL goes to every process of the cgroup, init gone or not
    // (runc does the same).
    if sig == Signal::SIGKILL as i32 && !private_pid_namespace(root, id) {
        return kill_cgroup(&c, id);
    }
    let live = matches!(
        c.status(),
        ContainerStatus::Created | ContainerStatus::Running | ContainerStatus::Paused
    );
    if !live && !all {
        return Err(WardError::NotRunning(id.to_string()));
    }
    let send = |pid: Pid| -> Result<()> {
        // SAFETY: kill(2) with a pid and signal number has no memory effects.
        let r = unsafe { libc::kill(pid.as_raw(), sig) };
        if r == 0 {
            return Ok(());
        }
        let e = nix::errno::Errno::last();
        if e == nix::errno::Errno::ESRCH {
            return Err(WardError::NotRunning(format!("{id}: no such process")));
        }
        Err(WardError::Sys {
            context: format!("sending signal {sig} to {pid} in {id}"),
            source: e,
        })
    };
    if all {
        for pid in container_pids(&c)? {
            match send(pid) {
                Ok(()) | Err(WardError::NotRunning(_)) => {}
                Err(e) => return Err(e),
            }
        }
    } else {
        let pid = c
            .pid()
            .ok_or_else(|| WardError::NotRunning(id.to_string()))?;
        if c.status() == ContainerStatus::Running {
            wait_for_execve(pid);
            // Only a container started moments ago (its state last written
            // by `start`) can still be on its way to its handlers.
            if modified_within(&root.container_dir(id).join("state.json"), 5.0) {
                wait_for_handler(pid, sig);
            }
        }
        send(pid)?;
    }
    // A frozen process cannot die: thaw after SIGKILL so it does.
    if sig == Signal::SIGKILL as i32 && c.status() == ContainerStatus::Paused {
        thaw_after_kill(&cgroup_manager(&c)?, id)?;
    }
    Ok(())
}

/// Thaws a cgroup whose processes were just sent SIGKILL. cgroup v2 delivers
/// a fatal signal to frozen tasks, so they may all be gone already, and with
/// the systemd driver their emptied scope with them: nothing left to thaw.
fn thaw_after_kill(m: &libcgroups::common::AnyCgroupManager, id: &str) -> Result<()> {
    match m.freeze(FreezerState::Thawed) {
        Err(e) if !cgroup_missing(&e) => Err(cg_err(id, "thawing")(e)),
        _ => Ok(()),
    }
}

/// SIGKILL to every process in the container's cgroup (frozen first, so none
/// can fork meanwhile; thawed after, so they die). No process and no init:
/// the container is not running.
fn kill_cgroup(c: &Container, id: &str) -> Result<()> {
    let pids = container_pids(c)?;
    if pids.is_empty() && c.status() == ContainerStatus::Stopped {
        return Err(WardError::NotRunning(id.to_string()));
    }
    let m = cgroup_manager(c)?;
    let _ = m.freeze(FreezerState::Frozen);
    for pid in container_pids(c)? {
        let _ = nix::sys::signal::kill(pid, Signal::SIGKILL);
    }
    thaw_after_kill(&m, id)
}

/// The container's spec gives it a pid namespace of its own (listed without
/// a path). Read from ward's effective config; unreadable counts as private,
/// the common case, which keeps the plain signal to the init.
fn private_pid_namespace(root: &StateRoot, id: &str) -> bool {
    let Some(spec) = std::fs::read(root.ward_dir(id).join("config.json"))
        .ok()
        .and_then(|d| serde_json::from_slice::<oci_spec::runtime::Spec>(&d).ok())
    else {
        return true;
    };
    spec.linux()
        .as_ref()
        .and_then(|l| l.namespaces().as_ref())
        .is_some_and(|ns| {
            ns.iter().any(|n| {
                n.typ() == oci_spec::runtime::LinuxNamespaceType::Pid && n.path().is_none()
            })
        })
}

/// `start` returns, as runc's does, once the init is released, just before
/// its execve. A signal sent in that window reaches ward's code in the init,
/// and the init of a pid namespace ignores signals it has no handler for: it
/// would be lost (runtime-tools' killsig; `docker run -d` then `docker stop`).
/// Wait, briefly and bounded, until the init runs the container's program.
fn wait_for_execve(pid: Pid) {
    let comm = format!("/proc/{}/comm", pid.as_raw());
    // At most 5 s: a process that stalls before its execve (a frozen cgroup)
    // gets the signal anyway.
    for _ in 0..1000 {
        match std::fs::read_to_string(&comm) {
            Ok(name) if name.trim_end() == INIT_COMM => {
                std::thread::sleep(std::time::Duration::from_millis(5))
            }
            _ => return,
        }
    }
}

/// A program just exec'd as the init of a pid namespace (a shell about to run
/// `trap ... TERM`) has had no time to install its handler; until it has, the
/// kernel discards the signal (runc's slower `kill` rarely loses this race;
/// ward's did, in runtime-tools' killsig). When the init has no handler for
/// a signal whose default would end it, give it a bounded moment to install one.
fn wait_for_handler(pid: Pid, sig: i32) {
    use nix::sys::signal::Signal;
    let ignored_by_default = [
        Signal::SIGKILL,
        Signal::SIGSTOP,
        Signal::SIGCHLD,
        Signal::SIGCONT,
        Signal::SIGURG,
        Signal::SIGWINCH,
    ];
    if ignored_by_default.iter().any(|s| *s as i32 == sig) || !(1..=64).contains(&sig) {
        return;
    }
    let path = format!("/proc/{}/status", pid.as_raw());
    // At most 2 s (a shell installs its traps in far less, unless the host
    // is loaded).
    for _ in 0..400 {
        let Ok(status) = std::fs::read_to_string(&path) else {
            return;
        };
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .map(str::trim)
                .map(str::to_string)
        };
        let is_ns_init = field("NSpid:")
            .and_then(|v| v.split_whitespace().last().map(|l| l == "1"))
            .unwrap_or(false);
        let has_bit = |name: &str| {
            field(name)
                .and_then(|m| u64::from_str_radix(&m, 16).ok())
                .is_some_and(|m| m & (1u64 << (sig - 1)) != 0)
        };
        // Caught, or ignored on purpose (`trap '' TERM`): the program has
        // made its choice.
        if !is_ns_init || has_bit("SigCgt:") || has_bit("SigIgn:") {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}

/// Whether `path` was written less than `secs` seconds ago.
fn modified_within(path: &std::path::Path, secs: f64) -> bool {
    std::fs::metadata(path)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.elapsed().ok())
        .is_some_and(|age| age.as_secs_f64() < secs)
}

/// The name libcontainer gives the init until its execve.
const INIT_COMM: &str = "youki:[2:INIT]";

pub fn delete(root: &StateRoot, id: &str, force: bool) -> Result<()> {
    let mut c = match load(root, id) {
        Ok(c) => c,
        // Nothing, or a state torn by a crash: recover what is there.
        Err(WardError::NotExist(_) | WardError::Container { .. }) if force => {
            let _ = purge(root, id);
            return Ok(());
        }
        Err(e) => return Err(e),
    };
    if !force
        && !matches!(
            c.status(),
            ContainerStatus::Stopped | ContainerStatus::Created
        )
    {
        return Err(wrong_state(
            &c,
            "cannot delete a running container without --force",
        ));
    }
    // A create that never recorded its init (ward killed mid-create; the
    // status then reads "stopped"): its processes may still be on their way
    // into the cgroups, and purge waits for them.
    if c.pid().is_none() {
        return if purge(root, id) {
            Ok(())
        } else {
            Err(WardError::Invalid(format!(
                "deleting container {id}: its cgroup could not be removed"
            )))
        };
    }
    crate::testpoint::reached("delete:loaded");
    crate::profile::mark("delete: state loaded");
    if !nix::unistd::geteuid().is_root() && (force || c.status() == ContainerStatus::Created) {
        // Rootless containers may have no cgroup to kill through: kill init
        // directly (its pid namespace takes the rest with it).
        rootless_kill(&mut c);
    }
    // runc deletes a created container by killing its init.
    let kills = force || c.status() == ContainerStatus::Created;
    let result = c.delete(kills);
    match result {
        Ok(()) => {
            crate::profile::mark("delete: libcontainer delete done (cgroups, state dir)");
            release_ward_resources(root, id);
            crate::profile::mark(
                "delete: ward resources released (rootfs mount, id range, ward dir)",
            );
            Ok(())
        }
        // A process still on its way out keeps the cgroup busy: kill what is
        // left, wait for it, and remove everything. (Also for a created
        // container, whose init this delete just killed: on a loaded host
        // it may not have exited before libcontainer's cgroup removal.)
        Err(e) if kills => {
            tracing::warn!("delete {id}: {e}; purging");
            if purge(root, id) {
                Ok(())
            } else {
                Err(lc_err(format!("deleting container {id}"))(e))
            }
        }
        Err(e) => Err(lc_err(format!("deleting container {id}"))(e)),
    }
}

fn rootless_kill(c: &mut Container) {
    let Some(pid) = c.pid() else { return };
    if c.status() == ContainerStatus::Stopped {
        return;
    }
    let _ = nix::sys::signal::kill(pid, Signal::SIGKILL);
    for _ in 0..200 {
        let st = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        // gone, or a zombie (state field after the command name)
        let state = st
            .rsplit(')')
            .next()
            .and_then(|r| r.split_whitespace().next());
        if st.is_empty() || state == Some("Z") {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    c.set_status(ContainerStatus::Stopped);
}

/// Frees what ward itself holds for a container (its dir, and anything the
/// hardening layer set up outside libcontainer's knowledge).
fn release_ward_resources(root: &StateRoot, id: &str) {
    super::host_mounts::release(&root.ward_dir(id));
    crate::hardening::cleanup(&root.ward_dir(id), id);
    let _ = std::fs::remove_dir_all(root.ward_dir(id));
    // The last container of this root leaves no `@ward` dir behind (fails,
    // as it should, while another container has its dir there; a create
    // racing with this retries its mkdir: create::claim_id).
    if let Some(parent) = root.ward_dir(id).parent() {
        let _ = std::fs::remove_dir(parent);
    }
}

/// How long a recovery waits for an interrupted create's processes to exit.
const CREATOR_WAIT: std::time::Duration = std::time::Duration::from_secs(3);

/// Recovers from a create that was interrupted before libcontainer saved its
/// state (e.g. ward was SIGKILLed): kills whatever is in the container's cgroup,
/// removes the cgroup and both state dirs. Best effort; returns false if the
/// cgroup could not be removed.
pub fn purge(root: &StateRoot, id: &str) -> bool {
    let mut removed = true;
    // The cgroup this container's create named: ward's config (written before
    // libcontainer makes any cgroup), else libcontainer's. With neither, the
    // create never got as far as a cgroup: nothing to kill. (Guessing the
    // default path would kill another root's container of the same ID.)
    let cgroup_path = std::fs::read(root.ward_dir(id).join("config.json"))
        .ok()
        .and_then(|d| serde_json::from_slice::<oci_spec::runtime::Spec>(&d).ok())
        .and_then(|s| s.linux().as_ref().and_then(|l| l.cgroups_path().clone()))
        .or_else(|| {
            std::fs::read(root.container_dir(id).join("youki_config.json"))
                .ok()
                .and_then(|d| serde_json::from_slice::<serde_json::Value>(&d).ok())
                .and_then(|v| v["cgroup_path"].as_str().map(std::path::PathBuf::from))
        });
    let Some(cgroup_path) = cgroup_path else {
        let _ = std::fs::remove_dir_all(root.container_dir(id));
        release_ward_resources(root, id);
        return true;
    };
    // The driver create used: libcontainer's state records it once saved; an
    // interrupted create left at most ward's config, whose cgroupsPath names
    // a systemd unit exactly when the systemd driver was asked for
    // (cgroup_path.rs refuses anything else with it).
    let systemd_cgroup = std::fs::read(root.container_dir(id).join("state.json"))
        .ok()
        .and_then(|d| serde_json::from_slice::<serde_json::Value>(&d).ok())
        .and_then(|v| v["use_systemd"].as_bool())
        .unwrap_or_else(|| super::cgroup_path::is_systemd_path(&cgroup_path));
    if let Ok(m) = create_cgroup_manager(CgroupConfig {
        cgroup_path,
        systemd_cgroup,
        container_name: id.to_string(),
    }) {
        let _ = m.freeze(FreezerState::Frozen);
        for pid in m.get_all_pids().unwrap_or_default() {
            let _ = nix::sys::signal::kill(pid, Signal::SIGKILL);
        }
        let _ = m.freeze(FreezerState::Thawed);
        // The killed processes must be gone before the cgroup can be removed.
        for _ in 0..300 {
            if m.get_all_pids().map(|p| p.is_empty()).unwrap_or(true) {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        // And so must an interrupted create's processes that are not (yet) in
        // the cgroup, or one may still create a cgroup dir after the removal.
        if !super::creator::wait_released(&root.ward_dir(id), CREATOR_WAIT) {
            tracing::warn!("{id}: processes of an interrupted create still running");
        }
        removed = m.remove().is_ok();
    }
    let _ = std::fs::remove_dir_all(root.container_dir(id));
    release_ward_resources(root, id);
    removed
}

pub fn pause(root: &StateRoot, id: &str) -> Result<()> {
    let mut c = load(root, id)?;
    if c.status() != ContainerStatus::Running {
        return Err(match c.status() {
            ContainerStatus::Stopped => WardError::NotRunning(id.to_string()),
            _ => wrong_state(&c, "only a running container can be paused"),
        });
    }
    c.pause().map_err(lc_err(format!("pausing container {id}")))
}

pub fn resume(root: &StateRoot, id: &str) -> Result<()> {
    let mut c = load(root, id)?;
    if c.status() != ContainerStatus::Paused {
        return Err(match c.status() {
            ContainerStatus::Stopped => WardError::NotRunning(id.to_string()),
            _ => wrong_state(&c, "only a paused container can be resumed"),
        });
    }
    c.resume()
        .map_err(lc_err(format!("resuming container {id}")))
}
