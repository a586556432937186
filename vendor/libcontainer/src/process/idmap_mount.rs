//! ward patch: id-mapped bind mounts made at their turn in the container's
//! mount namespace, as runc's mount source fds are.
//!
//! The init clones the source tree (open_tree(OPEN_TREE_CLONE)) where it
//! stands, so the source sees the mounts made before it in the spec. Setting
//! MOUNT_ATTR_IDMAP needs CAP_SYS_ADMIN over the source filesystem's user
//! namespace (the host's), which an init in its own user namespace lacks: it
//! hands the detached tree to the main process (host root), which maps it and
//! hands it back; the init then attaches it. The main process serves exactly
//! one request per id-mapped bind of the spec (`expected`), before anything
//! else it waits for from the init.
//!
//! The same channel serves binds whose source the init must not look up
//! itself (ward marks them with [`HOST_TREE`]: a FUSE source, which refuses
//! any process but its mounter): the main process clones the tree from the
//! host side and hands it to the init, which attaches it without ever
//! looking inside, as runc's mount source fds.
//!
//! And the rootfs, when ward asks (`ContainerArgs::idmapped_rootfs_from`):
//! the first request, before any of the spec's mounts. The main process
//! clones the host directory, makes the tree private, id-maps it with the
//! container's user namespace and hands it to the init, which attaches it at
//! the spec's root path instead of binding the root onto itself. No host-side
//! mount, and no second user namespace just to carry the mapping.

use std::cell::RefCell;
use std::fs::File;
use std::io::Write;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};

use nix::unistd::Pid;
use oci_spec::runtime::{LinuxIdMapping, Mount as SpecMount, Spec};

use super::channel::{ChannelError, InitReceiver, InitSender, MainReceiver, MainSender};
use super::message::{Message, MountIdMap, MountIdMapUsernsSource, MountMsg};
use crate::syscall::linux::{AT_EMPTY_PATH, AT_RECURSIVE, MOVE_MOUNT_F_EMPTY_PATH, MountAttr};
use crate::syscall::syscall::create_syscall;

/// MOUNT_ATTR_IDMAP (linux/mount.h).
const MOUNT_ATTR_IDMAP: u64 = 0x0010_0000;

/// The option ward sets on a bind whose source tree the main process opens
/// (`=dir` or `=file`: what the init cannot stat through the source itself;
/// `=detached`: a detached mount ward made in this process, its source
/// `/proc/self/fd/<fd>`, handed over as it is, see `serve`).
pub const HOST_TREE: &str = "x-ward-host-tree";

/// Whether ward marked bind `m` as opened by the main process: `Some(is_dir)`.
pub(crate) fn host_tree(m: &SpecMount) -> Option<bool> {
    m.options().iter().flatten().find_map(|o| {
        match o.strip_prefix(HOST_TREE)? {
            "=dir" | "=detached" => Some(true),
            "=file" => Some(false),
            _ => None,
        }
    })
}

/// The fd of a detached mount ward made in this (the main) process, named
/// by a `HOST_TREE=detached` bind's source.
fn own_detached_fd(source: &Path) -> Option<RawFd> {
    source
        .to_str()?
        .strip_prefix("/proc/self/fd/")?
        .parse()
        .ok()
}

/// The request for bind `m` if the spec asks to id-map it (its own
/// mappings, or, bare `idmap`/`ridmap`, the container's user namespace), or
/// if its tree is opened host-side (no id-mapping: `idmap` None).
pub(crate) fn request_for(m: &SpecMount) -> Option<MountMsg> {
    let opts: Vec<&str> = m.options().iter().flatten().map(String::as_str).collect();
    let bind = m.typ().as_deref() == Some("bind") || opts.contains(&"bind") || opts.contains(&"rbind");
    if bind && host_tree(m).is_some() {
        return Some(MountMsg {
            source: m.source().clone().unwrap_or_default(),
            idmap: None,
            clone_mount_tree_recursively: opts.contains(&"rbind"),
        });
    }
    let flagged = opts.contains(&"idmap") || opts.contains(&"ridmap");
    let maps = m.uid_mappings().is_some() || m.gid_mappings().is_some();
    if !bind || !(flagged || maps) {
        return None;
    }
    let userns_source = match (m.uid_mappings(), m.gid_mappings()) {
        (Some(u), Some(g)) => MountIdMapUsernsSource::Mappings {
            uid_mappings: u.clone(),
            gid_mappings: g.clone(),
        },
        _ => MountIdMapUsernsSource::ContainerUserns,
    };
    Some(MountMsg {
        source: m.source().clone().unwrap_or_default(),
        idmap: Some(MountIdMap {
            userns_source,
            apply_idmap_recursively: opts.contains(&"ridmap"),
        }),
        clone_mount_tree_recursively: opts.contains(&"rbind"),
    })
}

/// The request for the rootfs cloned from host directory `source`.
fn rootfs_request(source: &Path) -> MountMsg {
    MountMsg {
        source: source.to_path_buf(),
        idmap: Some(MountIdMap {
            userns_source: MountIdMapUsernsSource::ContainerUserns,
            apply_idmap_recursively: true,
        }),
        clone_mount_tree_recursively: true,
    }
}

/// The requests the init of this spec sends, in order (the rootfs first,
/// when it is cloned from `rootfs_from`).
pub(crate) fn expected(spec: &Spec, rootfs_from: Option<&Path>) -> Vec<MountMsg> {
    rootfs_from
        .map(rootfs_request)
        .into_iter()
        .chain(spec.mounts().iter().flatten().filter_map(request_for))
        .collect()
}

// The init's side of the channel while its mounts are made (the init is
// single-threaded; the channel types hold raw fds and close nothing on drop).
thread_local! {
    static CHANNEL: RefCell<Option<(MainSender, InitReceiver)>> = const { RefCell::new(None) };
    static ROOTFS_FROM: RefCell<Option<PathBuf>> = const { RefCell::new(None) };
}

/// In the init, before its mounts: where `apply` sends its requests, and
/// where the rootfs is cloned from (if the main process makes it).
pub(crate) fn install(
    main_sender: &MainSender,
    init_receiver: &InitReceiver,
    rootfs_from: Option<PathBuf>,
) {
    CHANNEL.with(|c| *c.borrow_mut() = Some((main_sender.alias(), init_receiver.alias())));
    ROOTFS_FROM.with(|r| *r.borrow_mut() = rootfs_from);
}

/// In the init: attaches the id-mapped rootfs the main process makes at
/// `rootfs` (an empty directory). Ok(false): not asked for; the caller binds
/// the root onto itself as libcontainer does.
pub(crate) fn attach_idmapped_rootfs(rootfs: &Path) -> Result<bool, String> {
    let Some(from) = ROOTFS_FROM.with(|r| r.borrow_mut().take()) else {
        return Ok(false);
    };
    let tree = host_tree_fd(rootfs_request(&from))?;
    let target = rootfs
        .to_str()
        .ok_or_else(|| format!("rootfs {} is not UTF-8", rootfs.display()))?;
    create_syscall()
        .move_mount(
            tree.as_fd(),
            None,
            // SAFETY: AT_FDCWD is a valid dirfd for every *at call.
            unsafe { BorrowedFd::borrow_raw(libc::AT_FDCWD) },
            Some(target),
            MOVE_MOUNT_F_EMPTY_PATH,
        )
        .map_err(|e| format!("attaching the id-mapped rootfs at {target}: {e}"))?;
    Ok(true)
}

/// In the init, after its mounts.
pub(crate) fn uninstall() {
    CHANNEL.with(|c| *c.borrow_mut() = None);
    ROOTFS_FROM.with(|r| *r.borrow_mut() = None);
}

/// In the init: has the detached tree `fd` id-mapped by the main process.
pub(crate) fn apply(fd: BorrowedFd<'_>, msg: MountMsg) -> Result<(), String> {
    CHANNEL.with(|c| {
        let mut c = c.borrow_mut();
        let (sender, receiver) = c
            .as_mut()
            .ok_or_else(|| "id-mapped mount outside container setup".to_string())?;
        sender
            .request_mount_idmap(msg, fd.as_raw_fd())
            .map_err(|e| e.to_string())?;
        receiver
            .wait_for_mount_fd_reply()
            .map(drop)
            .map_err(|e| e.to_string())
    })
}

/// In the init: the detached tree of `msg.source`, cloned by the main process.
pub(crate) fn host_tree_fd(msg: MountMsg) -> Result<OwnedFd, String> {
    CHANNEL.with(|c| {
        let mut c = c.borrow_mut();
        let (sender, receiver) = c
            .as_mut()
            .ok_or_else(|| "host-side bind source outside container setup".to_string())?;
        sender.request_mount_fd(msg).map_err(|e| e.to_string())?;
        receiver.wait_for_mount_fd_reply().map_err(|e| e.to_string())
    })
}

/// In the main process: serves the init's requests, exactly those of the
/// spec, in its order (an init that fails first says why, as ExecFailed).
pub(crate) fn serve(
    expected: Vec<MountMsg>,
    init_pid: Pid,
    receiver: &mut MainReceiver,
    sender: &mut InitSender,
) -> Result<(), ChannelError> {
    for want in expected {
        let (msg, fds) = receiver.recv_message_with_fds()?;
        let req = match msg {
            Message::AskMountFd(req) => req,
            Message::ExecFailed(err) => return Err(ChannelError::ExecError(err)),
            Message::OtherError(err) => return Err(ChannelError::OtherError(err)),
            other => {
                return Err(ChannelError::UnexpectedMessage {
                    expected: "AskMountFd",
                    received: Box::new(other),
                });
            }
        };
        if req != want {
            return Err(ChannelError::OtherError(format!(
                "mount request for {} does not match the spec's next one ({})",
                req.source.display(),
                want.source.display()
            )));
        }
        if req.idmap.is_none() {
            // A detached mount ward made here (the host-built /dev): the
            // mount itself, not a clone (cloning a detached mount needs
            // 6.15); the init attaches it, so it never is in the host's
            // mount table nor a copy in the container's.
            if let Some(fd) = own_detached_fd(&req.source) {
                sender.send_mount_fd_reply(fd)?;
                continue;
            }
            // A host-side tree: cloned here, as host root in the host's
            // namespaces, where the source's filesystem lets us look.
            match clone_tree(&req) {
                Ok(tree) => sender.send_mount_fd_reply(tree.as_raw_fd())?,
                Err(e) => sender.send_mount_fd_error(e)?,
            }
            continue;
        }
        let Some([fd]) = fds else {
            // No tree sent with an id-mapping request: the rootfs, cloned
            // and mapped here (attach_idmapped_rootfs).
            match host_idmapped_tree(&req, init_pid) {
                Ok(tree) => sender.send_mount_fd_reply(tree.as_raw_fd())?,
                Err(e) => sender.send_mount_fd_error(format!(
                    "id-mapping rootfs {}: {e}",
                    req.source.display()
                ))?,
            }
            continue;
        };
        // SAFETY: received with SCM_RIGHTS just now; nothing else owns it.
        let tree = unsafe { OwnedFd::from_raw_fd(fd) };
        match idmap_tree(tree.as_fd(), &req, init_pid) {
            Ok(()) => sender.send_mount_fd_reply(tree.as_raw_fd())?,
            Err(e) => sender.send_mount_fd_error(format!(
                "id-mapping mount source {}: {e}",
                req.source.display()
            ))?,
        }
    }
    Ok(())
}

fn clone_tree(req: &MountMsg) -> Result<OwnedFd, String> {
    let mut flags = (libc::OPEN_TREE_CLONE | libc::OPEN_TREE_CLOEXEC) as libc::c_uint;
    if req.clone_mount_tree_recursively {
        flags |= libc::AT_RECURSIVE as libc::c_uint;
    }
    let src = req
        .source
        .to_str()
        .ok_or_else(|| format!("mount source {} is not UTF-8", req.source.display()))?;
    create_syscall()
        .open_tree(libc::AT_FDCWD, Some(src), flags)
        .map_err(|e| format!("cloning mount source {} host-side: {e}", req.source.display()))
}

/// A private clone of host directory `req.source`, id-mapped as `req` asks.
/// Private: on a systemd host the source is shared, and a clone joins its
/// peer group; mounts under the container's root must not reach the host's.
fn host_idmapped_tree(req: &MountMsg, init_pid: Pid) -> Result<OwnedFd, String> {
    let tree = clone_tree(req)?;
    let private = MountAttr {
        attr_set: 0,
        attr_clr: 0,
        propagation: libc::MS_PRIVATE,
        userns_fd: 0,
    };
    create_syscall()
        .mount_setattr(
            tree.as_fd(),
            Path::new(""),
            AT_EMPTY_PATH | AT_RECURSIVE,
            &private,
            std::mem::size_of::<MountAttr>(),
        )
        .map_err(|e| format!("mount_setattr(MS_PRIVATE): {e}"))?;
    idmap_tree(tree.as_fd(), req, init_pid)?;
    Ok(tree)
}

fn idmap_tree(tree: BorrowedFd<'_>, req: &MountMsg, init_pid: Pid) -> Result<(), String> {
    let Some(idmap) = &req.idmap else {
        return Ok(());
    };
    let userns: OwnedFd = match &idmap.userns_source {
        MountIdMapUsernsSource::Mappings {
            uid_mappings,
            gid_mappings,
        } => userns_with(uid_mappings, gid_mappings)?,
        MountIdMapUsernsSource::ContainerUserns => {
            File::open(format!("/proc/{init_pid}/ns/user"))
                .map_err(|e| format!("opening the container's user namespace: {e}"))?
                .into()
        }
    };
    let attr = MountAttr {
        attr_set: MOUNT_ATTR_IDMAP,
        attr_clr: 0,
        propagation: 0,
        userns_fd: userns.as_raw_fd() as u64,
    };
    let rec = if idmap.apply_idmap_recursively {
        AT_RECURSIVE
    } else {
        0
    };
    create_syscall()
        .mount_setattr(
            tree,
            std::path::Path::new(""),
            AT_EMPTY_PATH | rec,
            &attr,
            std::mem::size_of::<MountAttr>(),
        )
        .map_err(|e| format!("mount_setattr(MOUNT_ATTR_IDMAP): {e}"))
}

/// A user namespace with these mappings: a child that waits in a fresh one
/// while its maps are written, then exits.
fn userns_with(uids: &[LinuxIdMapping], gids: &[LinuxIdMapping]) -> Result<OwnedFd, String> {
    let lines = |maps: &[LinuxIdMapping]| -> String {
        maps.iter()
            .map(|m| format!("{} {} {}\n", m.container_id(), m.host_id(), m.size()))
            .collect()
    };
    let mut fds = [0 as RawFd; 2];
    // SAFETY: fds is a valid array of two ints.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } < 0 {
        return Err(format!("pipe2: {}", std::io::Error::last_os_error()));
    }
    // SAFETY: pipe2 just returned these two fds; we own them.
    let (rd, wr) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    // SAFETY: fork-like clone (no new stack, no CLONE_VM); the child only
    // makes async-signal-safe calls (close, read, _exit) and never returns.
    let pid = unsafe {
        libc::syscall(
            libc::SYS_clone,
            (libc::CLONE_NEWUSER | libc::SIGCHLD) as libc::c_ulong,
            0usize,
            0usize,
            0usize,
            0usize,
        )
    };
    if pid < 0 {
        return Err(format!("clone(CLONE_NEWUSER): {}", std::io::Error::last_os_error()));
    }
    if pid == 0 {
        let mut b = [0u8; 1];
        // SAFETY: close(2) of our copy of the write end (so the read sees
        // EOF when the parent closes its own), read(2) into a local buffer,
        // then _exit.
        unsafe {
            libc::close(wr.as_raw_fd());
            libc::read(rd.as_raw_fd(), b.as_mut_ptr().cast(), 1);
            libc::_exit(0);
        }
    }
    drop(rd);
    let result = (|| -> Result<OwnedFd, String> {
        for (file, maps) in [("uid_map", uids), ("gid_map", gids)] {
            std::fs::OpenOptions::new()
                .write(true)
                .open(format!("/proc/{pid}/{file}"))
                .and_then(|mut f| f.write_all(lines(maps).as_bytes()))
                .map_err(|e| format!("writing {file} of the mapping namespace: {e}"))?;
        }
        File::open(format!("/proc/{pid}/ns/user"))
            .map(OwnedFd::from)
            .map_err(|e| format!("opening the mapping namespace: {e}"))
    })();
    drop(wr);
    let _ = nix::sys::wait::waitpid(Pid::from_raw(pid as i32), None);
    result
}
