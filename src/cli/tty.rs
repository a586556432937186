//! A foreground `run` or `exec` of a process with `terminal: true` and no
//! `--console-socket`: as runc does, ward takes the pty master itself (through
//! a private console socket) and copies between it and its own stdio, with
//! its own terminal, if it has one, in raw mode until the process exits.

use std::io::{Read, Write};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixListener;
use std::path::PathBuf;
use std::thread::JoinHandle;

use anyhow::{Context, Result};
use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};
use nix::sys::termios::{self, SetArg, Termios};

/// The console socket a create/exec sends the pty master to, and the thread
/// receiving it.
pub struct Console {
    dir: PathBuf,
    receiver: Option<JoinHandle<Result<OwnedFd>>>,
}

impl Console {
    pub fn listen() -> Result<Console> {
        let dir = nix::unistd::mkdtemp(&std::env::temp_dir().join("ward-console-XXXXXX"))
            .context("creating the console socket's directory")?;
        // A re-exec from the sealed copy (create, exec) runs no destructor.
        ward::selfprotect::remove_on_reexec(&dir);
        let listener = match UnixListener::bind(dir.join("console.sock")) {
            Ok(l) => l,
            Err(e) => {
                let _ = std::fs::remove_dir(&dir);
                return Err(e).context("binding the console socket");
            }
        };
        let receiver = std::thread::spawn(move || receive_master(&listener));
        Ok(Console {
            dir,
            receiver: Some(receiver),
        })
    }

    pub fn socket_path(&self) -> PathBuf {
        self.dir.join("console.sock")
    }

    /// The pty master, once the runtime sent it. Call only after a create
    /// that succeeded (it has connected by then).
    pub fn master(mut self) -> Result<OwnedFd> {
        self.receiver
            .take()
            .context("console already taken")?
            .join()
            .map_err(|_| anyhow::anyhow!("console receiver panicked"))?
    }
}

impl Drop for Console {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(self.dir.join("console.sock"));
        let _ = std::fs::remove_dir(&self.dir);
        ward::selfprotect::forget_on_reexec(&self.dir);
    }
}

fn receive_master(listener: &UnixListener) -> Result<OwnedFd> {
    let (stream, _) = listener
        .accept()
        .context("accepting on the console socket")?;
    let mut buf = [0u8; 4096];
    let mut iov = [std::io::IoSliceMut::new(&mut buf)];
    let mut cmsg = nix::cmsg_space!([RawFd; 1]);
    let msg = recvmsg::<()>(
        stream.as_raw_fd(),
        &mut iov,
        Some(&mut cmsg),
        MsgFlags::MSG_CMSG_CLOEXEC,
    )
    .context("receiving the pty master")?;
    for c in msg.cmsgs().context("reading the console message")? {
        if let ControlMessageOwned::ScmRights(fds) = c {
            if let Some(&fd) = fds.first() {
                // SAFETY: the kernel just gave this process the fd.
                let master = unsafe { OwnedFd::from_raw_fd(fd) };
                // At once: the process may be about to write.
                clear_onlcr(&master);
                return Ok(master);
            }
        }
    }
    anyhow::bail!("the console socket carried no pty master")
}

/// Raw mode on our own terminal while the container has the pty.
pub struct RawGuard {
    saved: Option<Termios>,
}

impl RawGuard {
    pub fn new() -> RawGuard {
        let stdin = std::io::stdin();
        let saved = termios::tcgetattr(stdin.as_fd()).ok();
        if let Some(t) = &saved {
            let mut raw = t.clone();
            termios::cfmakeraw(&mut raw);
            let _ = termios::tcsetattr(stdin.as_fd(), SetArg::TCSANOW, &raw);
        }
        RawGuard { saved }
    }
}

impl Drop for RawGuard {
    fn drop(&mut self) {
        if let Some(t) = &self.saved {
            let _ = termios::tcsetattr(std::io::stdin().as_fd(), SetArg::TCSANOW, t);
        }
    }
}

/// No "\r\n" for "\n" in what the process writes, as runc sets its ptys
/// (scripts compare the lines a container prints).
pub fn clear_onlcr(master: &OwnedFd) {
    if let Ok(mut t) = termios::tcgetattr(master.as_fd()) {
        t.output_flags.remove(termios::OutputFlags::ONLCR);
        let _ = termios::tcsetattr(master.as_fd(), SetArg::TCSANOW, &t);
    }
}

/// Our terminal's size onto the pty (at start; SIGWINCH is forwarded to the
/// process, which then reads the size the pty has).
pub fn copy_window_size(master: &OwnedFd) {
    let mut ws: libc::winsize = unsafe { std::mem::zeroed() };
    // SAFETY: TIOCGWINSZ/TIOCSWINSZ read and write a winsize struct.
    unsafe {
        if libc::ioctl(libc::STDIN_FILENO, libc::TIOCGWINSZ, &mut ws) == 0 {
            libc::ioctl(master.as_raw_fd(), libc::TIOCSWINSZ, &ws);
        }
    }
}

/// Copies stdin to the master (in a thread that ends with stdin) and the
/// master to stdout until the pty closes: the returned thread ends when every
/// process holding the pty's slave side is gone.
pub fn proxy(master: OwnedFd) -> Result<JoinHandle<()>> {
    let input = master.try_clone().context("duplicating the pty master")?;
    std::thread::spawn(move || {
        let mut to = std::fs::File::from(input);
        let mut buf = [0u8; 4096];
        let mut stdin = std::io::stdin();
        while let Ok(n) = stdin.read(&mut buf) {
            if n == 0 || to.write_all(&buf[..n]).is_err() {
                break;
            }
        }
    });
    Ok(std::thread::spawn(move || {
        let mut from = std::fs::File::from(master);
        let mut buf = [0u8; 4096];
        let mut out = std::io::stdout();
        // EIO once the last slave fd is closed.
        while let Ok(n) = from.read(&mut buf) {
            if n == 0 || out.write_all(&buf[..n]).is_err() {
                break;
            }
            let _ = out.flush();
        }
    }))
}
