//! (ward) Hands a seccomp user-notification listener to the agent at
//! `linux.seccomp.listenerPath`, as runc does: one connection, one message
//! with the `ContainerProcessState` JSON and the listener as SCM_RIGHTS.

use std::io::IoSlice;
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;

use nix::sys::socket::{self, UnixAddr};
use nix::unistd;
use oci_spec::runtime;

use super::channel;
use crate::workload::SeccompListener;

#[derive(Debug, thiserror::Error)]
pub enum SeccompListenerError {
    #[error("failed to encode container process state")]
    EncodeState(#[source] serde_json::Error),
    #[error(transparent)]
    ChannelError(#[from] channel::ChannelError),
    #[error("failed to connect with seccomp agent specified in the seccomp profile ({path}): {errno}")]
    Connect { path: String, errno: nix::Error },
    #[error("sending the seccomp listener to the agent at {path}: {errno}")]
    Send { path: String, errno: nix::Error },
}

type Result<T> = std::result::Result<T, SeccompListenerError>;

/// Waits for the process's listener, sends it to the agent, tells the process.
pub fn sync_seccomp(
    listener: &SeccompListener,
    state: &runtime::ContainerProcessState,
    init_sender: &mut channel::InitSender,
    main_receiver: &mut channel::MainReceiver,
) -> Result<()> {
    tracing::debug!("main process waiting for the seccomp listener");
    let seccomp_fd = main_receiver.wait_for_seccomp_request()?;
    let sent = serde_json::to_vec(state)
        .map_err(SeccompListenerError::EncodeState)
        .and_then(|msg| send_to_agent(listener, &msg, seccomp_fd));
    // The agent has its own copy now (or failed): ours goes either way.
    let _ = unistd::close(seccomp_fd);
    sent?;
    init_sender.seccomp_notify_done()?;
    Ok(())
}

fn send_to_agent(listener: &SeccompListener, msg: &[u8], fd: i32) -> Result<()> {
    let path = listener.path.display().to_string();
    let other = |errno| SeccompListenerError::Connect {
        path: path.clone(),
        errno,
    };
    let socket = socket::socket(
        socket::AddressFamily::Unix,
        socket::SockType::Stream,
        socket::SockFlag::SOCK_CLOEXEC,
        None,
    )
    .map_err(other)?;
    // A leading '@' names an abstract socket, as Go's net.Dial("unix") reads it.
    let bytes = listener.path.as_os_str().as_bytes();
    let addr = match bytes.strip_prefix(b"@") {
        Some(name) => UnixAddr::new_abstract(name),
        None => UnixAddr::new(&listener.path),
    }
    .map_err(other)?;
    socket::connect(socket.as_raw_fd(), &addr).map_err(other)?;
    let iov = [IoSlice::new(msg)];
    let fds = [fd];
    let cmsgs = socket::ControlMessage::ScmRights(&fds);
    socket::sendmsg::<UnixAddr>(
        socket.as_raw_fd(),
        &iov,
        &[cmsgs],
        socket::MsgFlags::empty(),
        None,
    )
    .map_err(|errno| SeccompListenerError::Send {
        path: path.clone(),
        errno,
    })?;
    Ok(())
}

#[cfg(all(test, feature = "libseccomp"))]
mod tests {
    use anyhow::Result;
    use oci_spec::runtime::{LinuxSeccompAction, LinuxSeccompBuilder, LinuxSyscallBuilder};
    use serial_test::serial;

    use super::*;
    use crate::process::channel;

    #[test]
    #[serial]
    fn test_sync_seccomp() -> Result<()> {
        use std::io::Read;
        use std::os::unix::io::IntoRawFd;
        use std::os::unix::net::UnixListener;
        use std::thread;

        let tmp_dir = tempfile::tempdir()?;
        let scmp_file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(tmp_dir.path().join("scmp_file"))?;

        std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(tmp_dir.path().join("socket_file.sock"))?;

        let (mut main_sender, mut main_receiver) = channel::main_channel()?;
        let (mut init_sender, mut init_receiver) = channel::init_channel()?;
        let socket_path = tmp_dir.path().join("socket_file.sock");
        let socket_path_seccomp_th = socket_path.clone();

        let state = runtime::ContainerProcessStateBuilder::default()
            .version("1.0.0".to_string())
            .fds(vec!["seccompFd".to_string()])
            .pid(1234)
            .metadata("test".to_string())
            .state(
                runtime::StateBuilder::default()
                    .version("1.0.0".to_string())
                    .id("test-container".to_string())
                    .status(runtime::ContainerState::Creating)
                    .pid(1234)
                    .bundle(std::path::PathBuf::from("/tmp/bundle"))
                    .annotations(std::collections::HashMap::new())
                    .build()
                    .unwrap(),
            )
            .build()
            .unwrap();
        let want = serde_json::to_string(&state)?;
        let th = thread::spawn(move || {
            sync_seccomp(
                &LinuxSeccompBuilder::default()
                    .listener_path(socket_path_seccomp_th)
                    .syscalls(vec![
                        LinuxSyscallBuilder::default()
                            .action(LinuxSeccompAction::ScmpActNotify)
                            .build()
                            .unwrap(),
                    ])
                    .build()
                    .unwrap(),
                &state,
                &mut init_sender,
                &mut main_receiver,
            )
            .unwrap();
        });

        let fd = scmp_file.into_raw_fd();
        assert!(main_sender.seccomp_notify_request(fd).is_ok());

        std::fs::remove_file(socket_path.clone())?;
        let lis = UnixListener::bind(socket_path)?;
        let (mut socket, _) = lis.accept()?;
        let mut got = String::new();
        socket.read_to_string(&mut got)?;
        assert!(init_receiver.wait_for_seccomp_request_done().is_ok());

        assert_eq!(want, got);
        assert!(th.join().is_ok());
        Ok(())
    }
}
