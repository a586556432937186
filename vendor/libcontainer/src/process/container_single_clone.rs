//! ward patch: create a container's init with a single clone.
//!
//! Upstream clones an intermediate process, which joins the cgroups, unshares
//! the user and pid namespaces and clones the init as its sibling. The
//! intermediate was a sixth of the CPU of a `ward run` (a process to create,
//! fault in and tear down) for work that needs neither its own process nor
//! ordering beyond what one clone gives:
//!
//! - the main process creates the cgroup directories and applies the
//!   resources (devices rules need CAP_SYS_ADMIN in the initial user
//!   namespace, which the child no longer has);
//! - one clone with CLONE_NEWUSER | CLONE_NEWPID (as requested) makes the
//!   init directly: pid 1 of a pid namespace owned by the new user namespace,
//!   as upstream's order of unshares gives;
//! - the child moves itself into the cgroups first: a single-threaded process
//!   moving itself writes "0" to `tasks` (vendored libcgroups), which the
//!   kernel allows its still-unchanged kernel uid 0 to do, and which skips the
//!   cgroup v1 threadgroup lock;
//! - then the usual handshake for the id mappings, setuid/setgid to root of
//!   the new namespace, rlimits, and the unchanged init process code.
//!
//! On cgroup v2 (cgroupfs driver) the main process creates the cgroup and
//! applies the resources the same way, and the clone itself places the child
//! in the cgroup (clone3 CLONE_INTO_CGROUP): no migration, whose write side of
//! the kernel's threadgroup rwsem waits for an RCU grace period.
//!
//! Only the common case takes this path: an init container, privileged, on
//! cgroup v1 or on v2 without the systemd driver, with a new (or no) user
//! namespace and a new (or no) pid namespace, no time namespace. Anything
//! else keeps upstream's path.

use libcgroups::common::{AnyCgroupManager, CgroupManager, ControllerOpt};
use nix::unistd::{Gid, Pid, Uid};
use oci_spec::runtime::LinuxNamespaceType;

use super::args::{ContainerArgs, ContainerType};
use super::channel;
use super::init::process as init_process;
use super::container_main_process::ProcessError;
use crate::namespaces::Namespaces;
use crate::utils::rootless_required;

type Result<T> = std::result::Result<T, ProcessError>;

/// What the main process prepared for a single-clone create.
pub struct Plan {
    /// CLONE_NEWUSER and/or CLONE_NEWPID.
    pub flags: u64,
    /// Whether the child gets its id mappings from the main process.
    pub new_userns: bool,
    cgroup: AnyCgroupManager,
    /// cgroup v2: the container's cgroup directory, for CLONE_INTO_CGROUP.
    pub cgroup_dir: Option<std::os::fd::OwnedFd>,
    /// Set by the main process before each clone attempt: whether the child
    /// is born in its cgroup (read by the child from its copy).
    pub born_in_cgroup: std::sync::atomic::AtomicBool,
}

/// Decides whether this create can take the single-clone path and, if so,
/// prepares the cgroups (directories and resources) and opens any namespace
/// paths the init will join (as the intermediate did, before entering the
/// user namespace). Ok(None): take upstream's path.
pub fn plan(args: &ContainerArgs) -> Result<Option<Plan>> {
    if !matches!(args.container_type, ContainerType::InitContainer) || args.as_sibling {
        return Ok(None);
    }
    let Some(linux) = args.spec.linux().as_ref() else {
        return Ok(None);
    };
    let Ok(namespaces) = Namespaces::try_from(linux.namespaces().as_ref()) else {
        return Ok(None);
    };
    let get = |t| namespaces.get(t).ok().flatten();
    if get(LinuxNamespaceType::Time).is_some() {
        return Ok(None);
    }
    let mut flags = 0u64;
    let new_userns = match get(LinuxNamespaceType::User) {
        None => false,
        Some(ns) if ns.path().is_none() && args.user_ns_config.is_some() => true,
        Some(_) => return Ok(None),
    };
    if new_userns {
        flags |= libc::CLONE_NEWUSER as u64;
    }
    match get(LinuxNamespaceType::Pid) {
        None => {}
        Some(ns) if ns.path().is_none() => flags |= libc::CLONE_NEWPID as u64,
        Some(_) => return Ok(None),
    }
    let command = args.syscall.create_syscall();
    if rootless_required(command.as_ref()).unwrap_or(true) {
        return Ok(None);
    }
    // v1: the child moves itself in. v2 with cgroupfs: the child is cloned
    // into its cgroup. systemd creates its scope around a process (the
    // intermediate's): do not build a manager here that would be built again.
    match libcgroups::common::get_cgroup_setup() {
        Ok(libcgroups::common::CgroupSetup::Legacy | libcgroups::common::CgroupSetup::Hybrid) => {}
        Ok(libcgroups::common::CgroupSetup::Unified)
            if !args.cgroup_config.systemd_cgroup
                || args.cgroup_config.cgroup_path.is_absolute() => {}
        _ => return Ok(None),
    }
    let cgroup = libcgroups::common::create_cgroup_manager(args.cgroup_config.to_owned())
        .map_err(|e| ProcessError::Cgroup(e.to_string()))?;
    crate::ward_profile::mark("main: cgroup manager ready");
    if !cgroup
        .prepare_self_join()
        .map_err(|e| ProcessError::Cgroup(e.to_string()))?
    {
        return Ok(None);
    }
    if let Some(resources) = linux.resources() {
        cgroup
            .apply(&ControllerOpt {
                resources,
                freezer_state: None,
                oom_score_adj: None,
                // ward: the spec's linux.resources.disableOOMKiller (upstream: always false).
                disable_oom_killer: resources
                    .memory()
                    .as_ref()
                    .and_then(|m| m.disable_oom_killer())
                    .unwrap_or(false),
            })
            .map_err(|e| ProcessError::Cgroup(e.to_string()))?;
    }
    let cgroup_dir = match cgroup.clone_into_dir() {
        Some(dir) => Some(
            nix::fcntl::open(
                dir,
                nix::fcntl::OFlag::O_PATH
                    | nix::fcntl::OFlag::O_DIRECTORY
                    | nix::fcntl::OFlag::O_CLOEXEC,
                nix::sys::stat::Mode::empty(),
            )
            // SAFETY: open returned a new fd that nothing else owns.
            .map(|fd| unsafe { std::os::fd::FromRawFd::from_raw_fd(fd) })
            .map_err(|e| ProcessError::Cgroup(format!("opening {}: {e}", dir.display())))?,
        ),
        None => None,
    };
    namespaces.preopen_paths()?;
    crate::ward_profile::mark("main: cgroups created, resources applied");
    Ok(Some(Plan {
        flags,
        new_userns,
        cgroup,
        cgroup_dir,
        born_in_cgroup: std::sync::atomic::AtomicBool::new(false),
    }))
}

/// The cloned child: joins the cgroups, gets its id mappings, and becomes
/// the container's init. Returns the process exit code.
pub fn child(
    args: &ContainerArgs,
    plan: &Plan,
    inter_chan: &mut (channel::IntermediateSender, channel::IntermediateReceiver),
    init_chan: &mut (channel::InitSender, channel::InitReceiver),
    intermediate_main_sender: &mut channel::MainSender,
    init_main_sender: &mut channel::MainSender,
) -> i32 {
    if let Err(ret) = prctl::set_name("youki:[2:INIT]") {
        tracing::error!(?ret, "failed to set name for child process");
        return ret;
    }
    // The host-side cgroup fd served the clone; the container must not
    // inherit it (it is close-on-exec, but the init runs until execve).
    if let Some(dir) = &plan.cgroup_dir {
        // SAFETY: closing this process's copy of a fd nothing here uses again.
        unsafe { libc::close(std::os::fd::AsRawFd::as_raw_fd(dir)) };
    }
    let mut mapped = false;
    let prepared = (|| -> std::result::Result<(), String> {
        // First, while the kernel uid is still 0 (see the module doc).
        if !plan.born_in_cgroup.load(std::sync::atomic::Ordering::SeqCst) {
            plan.cgroup
                .add_task(Pid::this())
                .map_err(|e| format!("joining the container's cgroups: {e}"))?;
        }
        crate::ward_profile::mark("init: joined cgroups (single clone)");
        // As runc: the runtime's own CPU affinity (taskset) is not inherited.
        crate::process::cpu_affinity::reset_after_cgroup_join(None)
            .map_err(|e| format!("resetting the CPU affinity: {e}"))?;
        let command = args.syscall.create_syscall();
        if plan.new_userns {
            // The main process writes the maps (it may need the child dumpable).
            prctl::set_dumpable(true).map_err(|e| format!("set dumpable: errno {e}"))?;
            intermediate_main_sender
                .identifier_mapping_request()
                .map_err(|e| e.to_string())?;
            mapped = true;
            inter_chan.1.wait_for_mapping_ack().map_err(|e| e.to_string())?;
            prctl::set_dumpable(false).map_err(|e| format!("set dumpable: errno {e}"))?;
            command
                .set_id(Uid::from_raw(0), Gid::from_raw(0))
                .map_err(|e| e.to_string())?;
        }
        if let Some(rlimits) = args.spec.process().as_ref().and_then(|p| p.rlimits().as_ref()) {
            for rlimit in rlimits {
                command
                    .set_rlimit(rlimit)
                    .map_err(|e| format!("setting rlimit {:?}: {e}", rlimit.typ()))?;
            }
        }
        Ok(())
    })();
    if let Err(e) = prepared {
        tracing::error!("failed to prepare container init: {e}");
        // The main process waits for the mapping request until it is sent,
        // for the init afterwards.
        let sent = if plan.new_userns && !mapped {
            intermediate_main_sender.send_error(e)
        } else {
            init_main_sender.exec_failed(e)
        };
        if let Err(err) = sent {
            tracing::error!(?err, "failed to report the error to the main process");
        }
        return -1;
    }
    for closed in [
        init_chan.0.close(),
        inter_chan.0.close(),
        intermediate_main_sender.close(),
    ] {
        if let Err(err) = closed {
            tracing::error!(?err, "failed to close an unused channel in init process");
            return -1;
        }
    }
    match init_process::container_init_process(args, init_main_sender, &mut init_chan.1) {
        Ok(_) => 0,
        Err(e) => {
            tracing::error!("failed to initialize container process: {e}");
            if let Err(err) = init_main_sender.exec_failed(crate::utils::error_chain(&e)) {
                tracing::error!(?err, "failed sending error to main sender");
            }
            -1
        }
    }
}
