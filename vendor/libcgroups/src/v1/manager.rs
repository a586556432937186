use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::unistd::Pid;
use procfs::{FromRead, ProcError, ProcessCGroups};

use super::blkio::{Blkio, V1BlkioStatsError};
use super::controller::Controller;
use super::controller_type::CONTROLLERS;
use super::cpu::{Cpu, V1CpuStatsError};
use super::cpuacct::{CpuAcct, V1CpuAcctStatsError};
use super::cpuset::{CpuSet, V1CpuSetControllerError};
use super::devices::Devices;
use super::freezer::{Freezer, V1FreezerControllerError};
use super::hugetlb::{HugeTlb, V1HugeTlbControllerError, V1HugeTlbStatsError};
use super::memory::{Memory, V1MemoryControllerError, V1MemoryStatsError};
use super::network_classifier::NetworkClassifier;
use super::network_priority::NetworkPriority;
use super::perf_event::PerfEvent;
use super::pids::Pids;
use super::util::V1MountPointError;
use super::{ControllerType as CtrlType, util};
use crate::common::{
    self, AnyCgroupManager, CGROUP_PROCS, CgroupManager, ControllerOpt, FreezerState,
    JoinSafelyError, PathBufExt, WrapIoResult, WrappedIoError,
};
use crate::stats::{PidStatsError, Stats, StatsProvider};

pub struct Manager {
    subsystems: HashMap<CtrlType, PathBuf>,
    /// ward patch: on a hybrid host, the container's directory in the cgroup2
    /// hierarchy mounted at /sys/fs/cgroup/unified (no controllers; systemd
    /// tracks processes there). runc puts the container there too. Also the
    /// named `name=systemd` v1 hierarchy (runc joins it as well; without it
    /// /proc/PID/cgroup shows the container in "/" there).
    unified: Vec<PathBuf>,
}

/// Where a hybrid host mounts its controller-less cgroup2 hierarchy.
const HYBRID_UNIFIED: &str = "/sys/fs/cgroup/unified";
/// Where a systemd host mounts its named v1 hierarchy (no controllers).
const NAMED_SYSTEMD: &str = "/sys/fs/cgroup/systemd";

#[derive(thiserror::Error, Debug)]
pub enum V1ManagerError {
    #[error("io error: {0}")]
    WrappedIo(#[from] WrappedIoError),
    #[error("mount point error: {0}")]
    MountPoint(#[from] V1MountPointError),
    #[error("proc error: {0}")]
    Proc(#[from] ProcError),
    #[error("while joining paths: {0}")]
    JoinSafely(#[from] JoinSafelyError),
    #[error("cgroup {0} is required to fulfill the request, but is not supported by this system")]
    CGroupRequired(CtrlType),
    #[error("subsystem does not exist")]
    SubsystemDoesNotExist,
    #[error(transparent)]
    Pathrs(#[from] pathrs::error::Error),

    #[error(transparent)]
    BlkioController(WrappedIoError),
    #[error(transparent)]
    CpuController(WrappedIoError),
    #[error(transparent)]
    CpuAcctController(WrappedIoError),
    #[error(transparent)]
    CpuSetController(#[from] V1CpuSetControllerError),
    #[error(transparent)]
    FreezerController(#[from] V1FreezerControllerError),
    #[error(transparent)]
    HugeTlbController(#[from] V1HugeTlbControllerError),
    #[error(transparent)]
    MemoryController(#[from] V1MemoryControllerError),
    #[error(transparent)]
    PidsController(WrappedIoError),

    #[error(transparent)]
    BlkioStats(#[from] V1BlkioStatsError),
    #[error(transparent)]
    CpuStats(#[from] V1CpuStatsError),
    #[error(transparent)]
    CpuAcctStats(#[from] V1CpuAcctStatsError),
    #[error(transparent)]
    PidsStats(#[from] PidStatsError),
    #[error(transparent)]
    HugeTlbStats(#[from] V1HugeTlbStatsError),
    #[error(transparent)]
    MemoryStats(#[from] V1MemoryStatsError),
}

/// Removes every sub-cgroup of `dir`, deepest first, killing what is in
/// them; best effort (the parent's removal reports what is left).
fn remove_children(dir: &Path) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        if !e.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        let child = e.path();
        remove_children(&child);
        if let Ok(procs) = fs::read_to_string(child.join(CGROUP_PROCS)) {
            for pid in procs.lines().filter_map(|l| l.parse::<i32>().ok()) {
                let _ = nix::sys::signal::kill(Pid::from_raw(pid), nix::sys::signal::SIGKILL);
            }
        }
        let _ = common::delete_with_retry(&child, 4, Duration::from_millis(100));
    }
}

impl Manager {
    /// Constructs a new cgroup manager with cgroups_path being relative to the root of the subsystem
    pub fn new(cgroup_path: &Path) -> Result<Self, V1ManagerError> {
        let mut subsystems = HashMap::new();
        // ward patch: /proc/self/cgroup is read once here, not once per
        // subsystem (each read is ~20 syscalls of pathrs procfs verification),
        // and, for a named cgroup path, once per process: there only the list
        // of hierarchies matters (which controller is mounted), and that does
        // not change when the process moves between cgroups. An empty path
        // means "where this process is", so that reads the file afresh.
        // An unreadable file leaves every subsystem unsupported, as before.
        let fresh;
        let own_cgroups = if cgroup_path.as_os_str().is_empty() {
            fresh = Self::own_cgroups().unwrap_or_else(|err| {
                tracing::warn!(?err, "cannot read /proc/self/cgroup");
                ProcessCGroups(Vec::new())
            });
            &fresh
        } else {
            Self::hierarchies()
        };
        for subsystem in CONTROLLERS {
            if let Ok(subsystem_path) =
                Self::get_subsystem_path(cgroup_path, subsystem, own_cgroups)
            {
                subsystems.insert(*subsystem, subsystem_path);
            } else {
                // ward: a controller the host does not mount is normal (every
                // create would otherwise warn in the shim's log); a spec that
                // sets its resources fails where they are applied.
                tracing::debug!("cgroup {} not supported on this system", subsystem);
            }
        }

        let unified = Self::extra_hierarchies()
            .iter()
            .filter(|_| !cgroup_path.as_os_str().is_empty())
            .filter_map(|root| PathBuf::from(root).join_safely(cgroup_path).ok())
            .collect();
        Ok(Manager {
            subsystems,
            unified,
        })
    }

    /// Best effort, as a hybrid host's cgroup2 tree carries no limits: a
    /// failure there is logged, never fatal.
    fn unified_step(&self, what: &str, f: impl Fn(&Path) -> std::io::Result<()>) {
        for u in &self.unified {
            if let Err(err) = f(u) {
                tracing::debug!(?err, path = ?u, "hybrid cgroup2 {what} failed");
            }
        }
    }

    /// ward patch: /proc/self/cgroup as first read by this process, for the
    /// list of hierarchies only (see `new`). Not kept when unreadable.
    fn hierarchies() -> &'static ProcessCGroups {
        static CACHE: std::sync::OnceLock<ProcessCGroups> = std::sync::OnceLock::new();
        static EMPTY: ProcessCGroups = ProcessCGroups(Vec::new());
        if let Some(c) = CACHE.get() {
            return c;
        }
        match Self::own_cgroups() {
            Ok(c) => CACHE.get_or_init(|| c),
            Err(err) => {
                tracing::warn!(?err, "cannot read /proc/self/cgroup");
                &EMPTY
            }
        }
    }

    /// ward patch: the controller-less hierarchies the host mounts (hybrid
    /// cgroup2, named systemd), looked up once per process like the v1
    /// mount points (util::cgroup_mounts): two path walks per manager fewer.
    fn extra_hierarchies() -> &'static [&'static str] {
        static CACHE: std::sync::OnceLock<Vec<&'static str>> = std::sync::OnceLock::new();
        CACHE.get_or_init(|| {
            [
                (HYBRID_UNIFIED, "cgroup.controllers"),
                (NAMED_SYSTEMD, "tasks"),
            ]
            .into_iter()
            .filter(|(root, marker)| Path::new(root).join(marker).exists())
            .map(|(root, _)| root)
            .collect()
        })
    }

    fn own_cgroups() -> Result<ProcessCGroups, V1ManagerError> {
        // ward patch: by path, not through a pathrs procfs handle (see
        // util::cgroup_mounts: a new proc superblock per process, and an
        // expedited RCU grace period at its exit).
        let path = "/proc/self/cgroup";
        let file = std::fs::File::open(path).map_err(|err| WrappedIoError::Open {
            err,
            path: path.into(),
        })?;
        Ok(ProcessCGroups::from_read(file)?)
    }

    fn get_subsystem_path(
        cgroup_path: &Path,
        subsystem: &CtrlType,
        own_cgroups: &ProcessCGroups,
    ) -> Result<PathBuf, V1ManagerError> {
        tracing::debug!("Get path for subsystem: {}", subsystem);
        let mount_point = util::get_subsystem_mount_point(subsystem)?;

        let name = subsystem.to_string();
        let cgroup = own_cgroups
            .0
            .iter()
            .find(|c| c.controllers.contains(&name))
            .ok_or(V1ManagerError::SubsystemDoesNotExist)?;

        let p = if cgroup_path.as_os_str().is_empty() {
            mount_point.join_safely(Path::new(&cgroup.pathname))?
        } else {
            mount_point.join_safely(cgroup_path)?
        };

        Ok(p)
    }

    fn get_required_controllers(
        &self,
        controller_opt: &ControllerOpt,
    ) -> Result<HashMap<&CtrlType, &PathBuf>, V1ManagerError> {
        let mut required_controllers = HashMap::new();

        for controller in CONTROLLERS {
            let required = match controller {
                CtrlType::Cpu => Cpu::needs_to_handle(controller_opt).is_some(),
                CtrlType::CpuAcct => CpuAcct::needs_to_handle(controller_opt).is_some(),
                CtrlType::CpuSet => CpuSet::needs_to_handle(controller_opt).is_some(),
                CtrlType::Devices => Devices::needs_to_handle(controller_opt).is_some(),
                CtrlType::HugeTlb => HugeTlb::needs_to_handle(controller_opt).is_some(),
                CtrlType::Memory => Memory::needs_to_handle(controller_opt).is_some(),
                CtrlType::Pids => Pids::needs_to_handle(controller_opt).is_some(),
                CtrlType::PerfEvent => PerfEvent::needs_to_handle(controller_opt).is_some(),
                CtrlType::Blkio => Blkio::needs_to_handle(controller_opt).is_some(),
                CtrlType::NetworkPriority => {
                    NetworkPriority::needs_to_handle(controller_opt).is_some()
                }
                CtrlType::NetworkClassifier => {
                    NetworkClassifier::needs_to_handle(controller_opt).is_some()
                }
                CtrlType::Freezer => Freezer::needs_to_handle(controller_opt).is_some(),
            };

            if required {
                if let Some(subsystem_path) = self.subsystems.get(controller) {
                    required_controllers.insert(controller, subsystem_path);
                } else {
                    return Err(V1ManagerError::CGroupRequired(*controller));
                }
            }
        }

        Ok(required_controllers)
    }

    pub fn any(self) -> AnyCgroupManager {
        AnyCgroupManager::V1(self)
    }

    /// ward patch: creates the container's directory in every hierarchy, so
    /// that resources can be applied before any process is in the cgroup and
    /// the container's first process can then move itself in (`add_task` with
    /// its own pid writes "0" to `tasks`): libcontainer's single-clone create.
    pub fn create_dirs(&self) -> Result<(), V1ManagerError> {
        let _root = common::RootScope::open();
        for (subsystem, path) in &self.subsystems {
            common::create_cgroup_dir_all(path).wrap_create_dir(path)?;
            // A new cpuset level starts with empty cpus and mems: copy them
            // down from the parents (as add_task does), or the resources
            // applied next are refused (EACCES: not a subset of the parent).
            if *subsystem == CtrlType::CpuSet {
                CpuSet::ensure_not_empty(path, "cpuset.cpus")?;
                CpuSet::ensure_not_empty(path, "cpuset.mems")?;
            }
        }
        self.unified_step("create", |u| fs::create_dir_all(u));
        Ok(())
    }
}

impl CgroupManager for Manager {
    type Error = V1ManagerError;

    fn get_all_pids(&self) -> Result<Vec<Pid>, Self::Error> {
        let _root = common::RootScope::open();
        let devices = self.subsystems.get(&CtrlType::Devices);
        if let Some(p) = devices {
            Ok(common::get_all_pids(p)?)
        } else {
            Err(V1ManagerError::SubsystemDoesNotExist)
        }
    }

    fn add_task(&self, pid: Pid) -> Result<(), Self::Error> {
        let _root = common::RootScope::open();
        // ward patch: a single-threaded process moving itself goes through
        // `tasks` without the kernel's threadgroup lock (controller::write_task).
        let pid = super::controller::as_self_move(pid);
        for (ctrl_type, cgroup_path) in &self.subsystems {
            match ctrl_type {
                CtrlType::Cpu => Cpu::add_task(pid, cgroup_path)?,
                CtrlType::CpuAcct => CpuAcct::add_task(pid, cgroup_path)?,
                CtrlType::CpuSet => CpuSet::add_task(pid, cgroup_path)?,
                CtrlType::Devices => Devices::add_task(pid, cgroup_path)?,
                CtrlType::HugeTlb => HugeTlb::add_task(pid, cgroup_path)?,
                CtrlType::Memory => Memory::add_task(pid, cgroup_path)?,
                CtrlType::Pids => Pids::add_task(pid, cgroup_path)?,
                CtrlType::PerfEvent => PerfEvent::add_task(pid, cgroup_path)?,
                CtrlType::Blkio => Blkio::add_task(pid, cgroup_path)?,
                CtrlType::NetworkPriority => NetworkPriority::add_task(pid, cgroup_path)?,
                CtrlType::NetworkClassifier => NetworkClassifier::add_task(pid, cgroup_path)?,
                CtrlType::Freezer => Freezer::add_task(pid, cgroup_path)?,
            }
        }
        // "0" (a process moving itself) works for cgroup2's cgroup.procs too.
        // ward patch: in the named v1 hierarchy (name=systemd) a single-
        // threaded process moving itself writes "0" to `tasks`, as in the
        // controller hierarchies (controller::write_task): through
        // cgroup.procs it took the kernel's threadgroup rwsem, whose write
        // side waits for an RCU grace period (24 ms in one traced run, the
        // slowest syscall of the init). cgroup2 has no `tasks` and keeps
        // cgroup.procs. The directory is made only if the write finds it
        // missing (create_dirs has made it; each mkdir is a cgroupfs walk).
        self.unified_step("join", |u| {
            let file = if pid.as_raw() == 0 && u.starts_with(NAMED_SYSTEMD) {
                "tasks"
            } else {
                CGROUP_PROCS
            };
            let join = || fs::write(u.join(file), pid.as_raw().to_string());
            match join() {
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    fs::create_dir_all(u)?;
                    join()
                }
                r => r,
            }
        });

        Ok(())
    }

    fn apply(&self, controller_opt: &ControllerOpt) -> Result<(), Self::Error> {
        let _root = common::RootScope::open();
        for (ctrl_type, cgroup_path) in self.get_required_controllers(controller_opt)? {
            match ctrl_type {
                CtrlType::Cpu => Cpu::apply(controller_opt, cgroup_path)?,
                CtrlType::CpuAcct => CpuAcct::apply(controller_opt, cgroup_path)?,
                CtrlType::CpuSet => CpuSet::apply(controller_opt, cgroup_path)?,
                CtrlType::Devices => Devices::apply(controller_opt, cgroup_path)?,
                CtrlType::HugeTlb => HugeTlb::apply(controller_opt, cgroup_path)?,
                CtrlType::Memory => Memory::apply(controller_opt, cgroup_path)?,
                CtrlType::Pids => Pids::apply(controller_opt, cgroup_path)?,
                CtrlType::PerfEvent => PerfEvent::apply(controller_opt, cgroup_path)?,
                CtrlType::Blkio => Blkio::apply(controller_opt, cgroup_path)?,
                CtrlType::NetworkPriority => NetworkPriority::apply(controller_opt, cgroup_path)?,
                CtrlType::NetworkClassifier => {
                    NetworkClassifier::apply(controller_opt, cgroup_path)?
                }
                CtrlType::Freezer => Freezer::apply(controller_opt, cgroup_path)?,
            }
        }

        Ok(())
    }

    fn remove(&self) -> Result<(), Self::Error> {
        let _root = common::RootScope::open();
        for cgroup_path in self.subsystems.values() {
            // ward patch: rmdir first. The kernel refuses it (EBUSY) while
            // the cgroup holds a process or a sub-cgroup, so success means
            // there was nothing to kill or remove; the common delete of an
            // exited container is then one syscall per hierarchy instead of
            // ten (read cgroup.procs, list the directory, rmdir). A missing
            // directory is done too. Anything else takes the full path below.
            match common::remove_cgroup_dir(cgroup_path) {
                Ok(()) => continue,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(_) => {}
            }
            // ward patch: no separate exists() check (one cgroupfs path walk
            // fewer per hierarchy): a missing directory shows as a missing
            // cgroup.procs.
            let procs_path = cgroup_path.join(CGROUP_PROCS);
            let procs = match fs::read_to_string(&procs_path) {
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                r => r.wrap_read(&procs_path)?,
            };
            tracing::debug!("remove cgroup {:?}", cgroup_path);
            for line in procs.lines() {
                let pid: i32 = line
                    .parse()
                    .map_err(|err| std::io::Error::new(std::io::ErrorKind::InvalidData, err))
                    .wrap_other(&procs_path)?;
                let _ = nix::sys::signal::kill(Pid::from_raw(pid), nix::sys::signal::SIGKILL);
            }
            // ward patch: sub-cgroups (made in the container, or by hand for
            // `exec --cgroup`) go first, as runc removes them; rmdir of a
            // cgroup with children fails.
            remove_children(cgroup_path);
            common::delete_with_retry(cgroup_path, 4, Duration::from_millis(100))?;
        }
        self.unified_step("remove", |u| {
            // ward patch: rmdir first, as above.
            match fs::remove_dir(u) {
                Ok(()) => return Ok(()),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
                Err(_) => {}
            }
            if u.exists() {
                remove_children(u);
                common::delete_with_retry(u, 4, Duration::from_millis(100))
                    .map_err(|e| std::io::Error::other(e.to_string()))?;
            }
            Ok(())
        });

        Ok(())
    }

    fn freeze(&self, state: FreezerState) -> Result<(), Self::Error> {
        let _root = common::RootScope::open();
        let controller_opt = ControllerOpt {
            resources: &Default::default(),
            freezer_state: Some(state),
            oom_score_adj: None,
            disable_oom_killer: false,
        };
        Ok(Freezer::apply(
            &controller_opt,
            self.subsystems
                .get(&CtrlType::Freezer)
                .ok_or(V1ManagerError::SubsystemDoesNotExist)?,
        )?)
    }

    fn stats(&self) -> Result<Stats, Self::Error> {
        let mut stats = Stats::default();

        for (ctrl_type, cgroup_path) in &self.subsystems {
            match ctrl_type {
                CtrlType::Cpu => stats.cpu.throttling = Cpu::stats(cgroup_path)?,
                CtrlType::CpuAcct => stats.cpu.usage = CpuAcct::stats(cgroup_path)?,
                CtrlType::Pids => stats.pids = Pids::stats(cgroup_path)?,
                CtrlType::HugeTlb => stats.hugetlb = HugeTlb::stats(cgroup_path)?,
                CtrlType::Blkio => stats.blkio = Blkio::stats(cgroup_path)?,
                CtrlType::Memory => stats.memory = Memory::stats(cgroup_path)?,
                _ => continue,
            }
        }

        Ok(stats)
    }
}
