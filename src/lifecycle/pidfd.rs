//! `--pidfd-socket`: send a pidfd of the container's process over a unix
//! socket, as runc does, so a supervisor can wait on it without pid races.

use std::io::IoSlice;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::Path;

use nix::sys::socket::{sendmsg, ControlMessage, MsgFlags};
use nix::unistd::Pid;

use crate::error::{io_err, Result, WardError};

pub fn send_pidfd(socket: &Path, pid: Pid) -> Result<()> {
    // SAFETY: pidfd_open takes a pid and flags and returns a new fd or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid.as_raw(), 0) };
    if fd < 0 {
        return Err(WardError::Sys {
            context: format!("pidfd_open({pid})"),
            source: nix::errno::Errno::last(),
        });
    }
    // SAFETY: fd was just returned by pidfd_open and is owned by nobody else.
    let fd = unsafe { OwnedFd::from_raw_fd(fd as i32) };
    let stream = UnixStream::connect(socket)
        .map_err(io_err(format!("--pidfd-socket {}", socket.display())))?;
    let fds = [fd.as_raw_fd()];
    sendmsg::<()>(
        stream.as_raw_fd(),
        &[IoSlice::new(b"pidfd")],
        &[ControlMessage::ScmRights(&fds)],
        MsgFlags::empty(),
        None,
    )
    .map_err(|e| WardError::Sys {
        context: format!("sending pidfd over {}", socket.display()),
        source: e,
    })?;
    Ok(())
}
