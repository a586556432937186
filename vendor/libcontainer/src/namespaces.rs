//! Namespaces provide isolation of resources for processes at a kernel level.
//! The namespaces are: Mount (filesystem),
//! Process (processes in a namespace have two PIDs, one for the global PID,
//! which is used by the main system and the second one is for the child within the process tree),
//! Interprocess Communication (Control or communication between processes),
//! Network (which network devices can be seen by the processes in the namespace), User (User configs),
//! UTS (hostname and domain information, processes will think they're running on servers with different names),
//! Cgroup (Resource limits, execution priority etc.)

use std::collections;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::PathBuf;
use std::sync::Mutex;

use nix::sched::CloneFlags;
use nix::sys::stat;
use nix::fcntl;
use oci_spec::runtime::{LinuxNamespace, LinuxNamespaceType};

use crate::syscall::Syscall;
use crate::syscall::syscall::create_syscall;

// CLONE_NEWTIME is not yet defined in nix's CloneFlags.
pub(crate) const CLONE_NEWTIME_FLAG: CloneFlags = CloneFlags::from_bits_retain(libc::CLONE_NEWTIME);

type Result<T> = std::result::Result<T, NamespaceError>;

#[derive(Debug, thiserror::Error)]
pub enum NamespaceError {
    #[error(transparent)]
    Nix(#[from] nix::Error),
    #[error(transparent)]
    IO(#[from] std::io::Error),
    #[error(transparent)]
    Syscall(#[from] crate::syscall::SyscallError),
    #[error("Namespace type not supported: {0}")]
    NotSupported(String),
}

static ORDERED_NAMESPACES: &[CloneFlags] = &[
    CloneFlags::CLONE_NEWUSER,
    CloneFlags::CLONE_NEWPID,
    CloneFlags::CLONE_NEWUTS,
    CloneFlags::CLONE_NEWIPC,
    CloneFlags::CLONE_NEWNET,
    CloneFlags::CLONE_NEWCGROUP,
    CloneFlags::CLONE_NEWNS,
    CLONE_NEWTIME_FLAG,
];

/// Holds information about namespaces
pub struct Namespaces {
    command: Box<dyn Syscall>,
    namespace_map: collections::HashMap<CloneFlags, LinuxNamespace>,
}

fn get_clone_flag(namespace_type: LinuxNamespaceType) -> Result<CloneFlags> {
    let flag = match namespace_type {
        LinuxNamespaceType::User => CloneFlags::CLONE_NEWUSER,
        LinuxNamespaceType::Pid => CloneFlags::CLONE_NEWPID,
        LinuxNamespaceType::Uts => CloneFlags::CLONE_NEWUTS,
        LinuxNamespaceType::Ipc => CloneFlags::CLONE_NEWIPC,
        LinuxNamespaceType::Network => CloneFlags::CLONE_NEWNET,
        LinuxNamespaceType::Cgroup => CloneFlags::CLONE_NEWCGROUP,
        LinuxNamespaceType::Mount => CloneFlags::CLONE_NEWNS,
        LinuxNamespaceType::Time => CLONE_NEWTIME_FLAG,
    };

    Ok(flag)
}

impl TryFrom<Option<&Vec<LinuxNamespace>>> for Namespaces {
    type Error = NamespaceError;

    fn try_from(namespaces: Option<&Vec<LinuxNamespace>>) -> Result<Self> {
        let command: Box<dyn Syscall> = create_syscall();
        let namespace_map: collections::HashMap<CloneFlags, LinuxNamespace> = namespaces
            .unwrap_or(&vec![])
            .iter()
            .map(|ns| match get_clone_flag(ns.typ()) {
                Ok(flag) => Ok((flag, ns.clone())),
                Err(err) => Err(err),
            })
            .collect::<Result<Vec<(CloneFlags, LinuxNamespace)>>>()?
            .into_iter()
            .collect();

        Ok(Namespaces {
            command,
            namespace_map,
        })
    }
}

// ward patch: namespace files of another process (`exec` joining a container)
// are opened while this process is still privileged in the initial user
// namespace, as runc's nsexec does. Opening /proc/PID/ns/* is a ptrace access
// check; once the process has joined the container's user namespace and
// switched to its root, the check fails (EACCES) whenever the target is not
// dumpable, e.g. a container init that `start` released but that has not yet
// called execve. The fds are CLOEXEC and are inherited by the cloned init.
static PREOPENED: Mutex<Vec<(PathBuf, OwnedFd)>> = Mutex::new(Vec::new());

fn open_ns_file(path: &std::path::Path) -> Result<OwnedFd> {
    let fd = fcntl::open(path, fcntl::OFlag::O_CLOEXEC, stat::Mode::empty()).inspect_err(|err| {
        tracing::error!(?err, ?path, "failed to open namespace file");
    })?;
    // SAFETY: fd was just returned by open and is owned by nobody else.
    Ok(unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) })
}

// ward patch (runc #4390): namespaces given by path that are not owned by the
// user namespace the container joins (a netns made on the host, say) cannot
// be joined after setns(user): the process holds no capability over them
// there. They are joined first, while still privileged in the initial user
// namespace; those joined are listed here so the later pass skips them (the
// cloned init inherits both the namespaces and this copy of the list).
static JOINED_EARLY: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

fn joined_early(path: &std::path::Path) -> bool {
    JOINED_EARLY
        .lock()
        .map(|j| j.iter().any(|p| p == path))
        .unwrap_or(false)
}

fn take_preopened(path: &std::path::Path) -> Option<OwnedFd> {
    let mut open = PREOPENED.lock().ok()?;
    let i = open.iter().position(|(p, _)| p == path)?;
    Some(open.swap_remove(i).1)
}

impl Namespaces {
    /// Opens every namespace path now (see PREOPENED).
    pub fn preopen_paths(&self) -> Result<()> {
        let mut open = PREOPENED
            .lock()
            .map_err(|_| NamespaceError::NotSupported("namespace fd table poisoned".into()))?;
        for ns in self.namespace_map.values() {
            let Some(path) = ns.path() else { continue };
            if open.iter().any(|(p, _)| p == path) {
                continue;
            }
            open.push((path.clone(), open_ns_file(path)?));
        }
        Ok(())
    }

    /// Joins, before the user namespace, each uts/ipc/net/cgroup namespace
    /// given by path (see JOINED_EARLY). Best effort: one that cannot be
    /// joined yet is joined after the user namespace, as before.
    pub fn join_before_userns(&self) {
        for flag in [
            CloneFlags::CLONE_NEWUTS,
            CloneFlags::CLONE_NEWIPC,
            CloneFlags::CLONE_NEWNET,
            CloneFlags::CLONE_NEWCGROUP,
        ] {
            let Some(path) = self.namespace_map.get(&flag).and_then(|ns| ns.path().clone())
            else {
                continue;
            };
            let fd = {
                let Ok(open) = PREOPENED.lock() else { return };
                open.iter()
                    .find(|(p, _)| *p == path)
                    .and_then(|(_, fd)| fd.try_clone().ok())
            };
            let Some(fd) = fd.or_else(|| open_ns_file(&path).ok()) else {
                continue;
            };
            match self.command.set_ns(fd.as_raw_fd(), flag) {
                Ok(()) => {
                    if let Ok(mut j) = JOINED_EARLY.lock() {
                        j.push(path);
                    }
                }
                Err(err) => tracing::debug!(?err, ?path, "joining after the user namespace"),
            }
        }
    }

    pub fn apply_namespaces<F: Fn(CloneFlags) -> bool>(&self, filter: F) -> Result<()> {
        let to_enter: Vec<(&CloneFlags, &LinuxNamespace)> = ORDERED_NAMESPACES
            .iter()
            .filter(|c| filter(**c))
            .filter_map(|c| self.namespace_map.get_key_value(c))
            .collect();

        for (_, ns) in to_enter {
            self.unshare_or_setns(ns)?;
        }
        Ok(())
    }

    pub fn unshare_or_setns(&self, namespace: &LinuxNamespace) -> Result<()> {
        tracing::debug!("unshare or setns: {:?}", namespace);
        match namespace.path() {
            Some(path) if joined_early(path) => {}
            Some(path) => {
                let fd = match take_preopened(path) {
                    Some(fd) => fd,
                    None => open_ns_file(path)?,
                };
                self.command
                    .set_ns(fd.as_raw_fd(), get_clone_flag(namespace.typ())?)
                    .map_err(|err| {
                        tracing::error!(?err, ?namespace, "failed to set namespace");
                        err
                    })?;
                drop(fd);
            }
            None => {
                self.command
                    .unshare(get_clone_flag(namespace.typ())?)
                    .map_err(|err| {
                        tracing::error!(?err, ?namespace, "failed to unshare namespace");
                        err
                    })?;
            }
        }

        Ok(())
    }

    pub fn get(&self, k: LinuxNamespaceType) -> Result<Option<&LinuxNamespace>> {
        Ok(self.namespace_map.get(&get_clone_flag(k)?))
    }
}

#[cfg(test)]
mod tests {
    use oci_spec::runtime::{LinuxNamespaceBuilder, LinuxNamespaceType};
    use serial_test::serial;

    use super::*;
    use crate::syscall::test::TestHelperSyscall;

    fn gen_sample_linux_namespaces() -> Vec<LinuxNamespace> {
        vec![
            LinuxNamespaceBuilder::default()
                .typ(LinuxNamespaceType::Mount)
                .path("/dev/null")
                .build()
                .unwrap(),
            LinuxNamespaceBuilder::default()
                .typ(LinuxNamespaceType::Network)
                .path("/dev/null")
                .build()
                .unwrap(),
            LinuxNamespaceBuilder::default()
                .typ(LinuxNamespaceType::Pid)
                .build()
                .unwrap(),
            LinuxNamespaceBuilder::default()
                .typ(LinuxNamespaceType::User)
                .build()
                .unwrap(),
            LinuxNamespaceBuilder::default()
                .typ(LinuxNamespaceType::Ipc)
                .build()
                .unwrap(),
            LinuxNamespaceBuilder::default()
                .typ(LinuxNamespaceType::Time)
                .build()
                .unwrap(),
        ]
    }

    #[test]
    #[serial]
    fn test_apply_namespaces() {
        let sample_linux_namespaces = gen_sample_linux_namespaces();
        let namespaces = Namespaces::try_from(Some(&sample_linux_namespaces))
            .expect("create namespace struct should be good");
        let test_command: &TestHelperSyscall = namespaces.command.as_any().downcast_ref().unwrap();
        assert!(
            namespaces
                .apply_namespaces(|ns_type| { ns_type != CloneFlags::CLONE_NEWIPC })
                .is_ok()
        );

        let mut setns_args: Vec<_> = test_command
            .get_setns_args()
            .into_iter()
            .map(|(_fd, cf)| cf)
            .collect();
        setns_args.sort();
        let mut expect = vec![CloneFlags::CLONE_NEWNS, CloneFlags::CLONE_NEWNET];
        expect.sort();
        assert_eq!(setns_args, expect);

        let mut unshare_args = test_command.get_unshare_args();
        unshare_args.sort();
        let mut expect = vec![
            CLONE_NEWTIME_FLAG,
            CloneFlags::CLONE_NEWUSER,
            CloneFlags::CLONE_NEWPID,
        ];
        expect.sort();
        assert_eq!(unshare_args, expect)
    }
}
