//! Hooks in the runtime spec's order, with the state on stdin; the console socket.

mod common;
use common::*;
use serde_json::json;

#[test]
fn every_hook_kind_runs_in_order_with_state() {
    let env = Env::new();
    let host = env.bind_dir("hooks", "/hooks");
    let h = host.to_str().unwrap().to_string();
    let hook = |name: &str, dir: &str| json!({"path": "/bin/sh", "args": ["sh", "-c", format!("umask 000; cat > {dir}/{name}.json; echo {name} >> {dir}/order")], "timeout": 5});
    env.edit(|c| {
        c["hooks"] = json!({
            "createRuntime": [hook("createRuntime", &h)],
            // createContainer runs in the container's mount namespace before pivot_root
            "createContainer": [hook("createContainer", &h)],
            "prestart": [hook("prestart", &h)],
            "startContainer": [hook("startContainer", "/hooks")],
            "poststart": [hook("poststart", &h)],
            "poststop": [hook("poststop", &h)],
        });
    });
    env.args(&["sh", "-c", "echo workload >> /hooks/order"]);
    let id = env.id("hooks");
    env.create(&id);
    env.ok(&["start", &id]);
    env.wait_status(&id, "stopped");
    env.ok(&["delete", &id]);
    let order = std::fs::read_to_string(host.join("order")).unwrap();
    let got: Vec<&str> = order.lines().collect();
    // prestart runs with createRuntime (runc); the spec orders createRuntime,
    // createContainer before start; startContainer, then the workload; poststart after start; poststop at delete.
    let pos = |n: &str| {
        got.iter()
            .position(|x| *x == n)
            .unwrap_or_else(|| panic!("{n} missing: {got:?}"))
    };
    assert!(pos("createRuntime") < pos("createContainer"), "{got:?}");
    assert!(
        pos("prestart") < pos("createContainer") || pos("prestart") < pos("startContainer"),
        "{got:?}"
    );
    assert!(pos("createContainer") < pos("startContainer"), "{got:?}");
    assert!(
        pos("startContainer") < pos("workload") || pos("startContainer") < pos("poststart"),
        "{got:?}"
    );
    assert_eq!(got.last(), Some(&"poststop"), "{got:?}");
    for n in ["createRuntime", "prestart", "poststart", "poststop"] {
        let st: serde_json::Value =
            serde_json::from_slice(&std::fs::read(host.join(format!("{n}.json"))).unwrap())
                .unwrap();
        assert_eq!(st["id"], id.as_str(), "{n}: {st}");
        // The user's bundle, not ward's effective one (runtime-spec state).
        assert_eq!(
            st["bundle"].as_str().map(std::path::PathBuf::from),
            Some(env.bundle.canonicalize().unwrap()),
            "{n}: {st}"
        );
        assert!(st["status"].is_string(), "{n}: {st}");
        assert!(
            st["pid"].as_i64().unwrap_or(0) > 0 || n == "poststop",
            "{n}: {st}"
        );
    }
}

#[test]
fn failing_hook_fails_create_and_leaves_nothing() {
    let env = Env::new();
    env.edit(|c| {
        c["hooks"] =
            json!({"createRuntime": [{"path": "/bin/sh", "args": ["sh", "-c", "exit 3"]}]});
    });
    let id = env.id("badhook");
    let out = env.ward(&["create", "--bundle", env.bundle.to_str().unwrap(), &id]);
    assert!(!out.status.success());
    assert!(!stderr(&out).is_empty());
    env.assert_gone(&id);
}

#[test]
fn hanging_hook_times_out() {
    let env = Env::new();
    env.edit(|c| {
        c["hooks"] = json!({"createRuntime": [{"path": "/bin/sleep", "args": ["sleep", "100"], "timeout": 1}]});
    });
    let id = env.id("slowhook");
    let t = std::time::Instant::now();
    let out = env.ward(&["create", "--bundle", env.bundle.to_str().unwrap(), &id]);
    assert!(!out.status.success());
    assert!(t.elapsed().as_secs() < 20);
    env.assert_gone(&id);
}

#[test]
fn console_socket_receives_a_working_pty() {
    use std::io::{Read, Write};
    use std::os::fd::FromRawFd;
    use std::os::unix::net::UnixListener;

    let env = Env::new();
    env.edit(|c| c["process"]["terminal"] = true.into());
    env.args(&["sh", "-c", "tty; echo READY; read line; echo got:$line"]);
    let sock = env.dir.path().join("console.sock");
    let listener = UnixListener::bind(&sock).unwrap();
    let id = env.id("console");
    env.ok(&[
        "create",
        "--bundle",
        env.bundle.to_str().unwrap(),
        "--console-socket",
        sock.to_str().unwrap(),
        &id,
    ]);
    let fd = recv_fd(&listener);
    let mut buf = [0u8; 256];
    let mut master = unsafe { std::fs::File::from_raw_fd(fd) };
    env.ok(&["start", &id]);
    let mut out = String::new();
    let t = std::time::Instant::now();
    while !out.contains("READY") && t.elapsed().as_secs() < 10 {
        let n = master.read(&mut buf).unwrap_or(0);
        out.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    assert!(
        out.contains("/dev/pts/") || out.contains("/dev/console"),
        "{out}"
    );
    master.write_all(b"hello\n").unwrap();
    while !out.contains("got:hello") && t.elapsed().as_secs() < 10 {
        let n = master.read(&mut buf).unwrap_or(0);
        if n == 0 {
            break;
        }
        out.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    assert!(out.contains("got:hello"), "{out}");
}

#[test]
fn pidfd_socket_receives_the_init_pidfd() {
    use std::os::unix::net::UnixListener;

    let env = Env::new();
    let sock = env.dir.path().join("pidfd.sock");
    let listener = UnixListener::bind(&sock).unwrap();
    let id = env.id("pidfd");
    let receiver = std::thread::spawn(move || {
        let fd = recv_fd(&listener);
        std::fs::read_to_string(format!("/proc/self/fdinfo/{fd}")).unwrap()
    });
    env.ok(&[
        "create",
        "--bundle",
        env.bundle.to_str().unwrap(),
        "--pidfd-socket",
        sock.to_str().unwrap(),
        &id,
    ]);
    let info = receiver.join().unwrap();
    let pid = env.pid(&id);
    assert!(info.lines().any(|l| l.starts_with("Pid:") && l.split_whitespace().nth(1) == Some(&pid.to_string())), "{info}");
}

/// Accepts one connection and returns the fd it carries (SCM_RIGHTS).
fn recv_fd(listener: &std::os::unix::net::UnixListener) -> std::os::fd::RawFd {
    use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};
    use std::os::fd::AsRawFd;
    let (conn, _) = listener.accept().unwrap();
    let mut buf = [0u8; 64];
    let mut cmsg = nix::cmsg_space!([std::os::fd::RawFd; 1]);
    let mut iov = [std::io::IoSliceMut::new(&mut buf)];
    let msg = recvmsg::<()>(
        conn.as_raw_fd(),
        &mut iov,
        Some(&mut cmsg),
        MsgFlags::empty(),
    )
    .unwrap();
    for c in msg.cmsgs().unwrap() {
        if let ControlMessageOwned::ScmRights(fds) = c {
            return fds[0];
        }
    }
    panic!("no fd received");
}

/// runtime-spec: a failing poststop hook is logged as a warning, the remaining
/// hooks run and the container is deleted.
#[test]
fn failing_poststop_hook_warns_and_delete_goes_on() {
    let env = Env::new();
    let mark = env.dir.path().join("second-ran");
    let m = mark.to_str().unwrap().to_string();
    env.edit(|c| {
        c["hooks"] = json!({"poststop": [
            {"path": "/bin/sh", "args": ["sh", "-c", "exit 3"]},
            {"path": "/bin/sh", "args": ["sh", "-c", format!("touch {m}")]}
        ]});
    });
    env.args(&["true"]);
    let id = env.id("poststop");
    env.create(&id);
    env.ok(&["start", &id]);
    env.wait_status(&id, "stopped");
    env.ok(&["delete", &id]);
    assert!(mark.exists(), "the hook after the failing one did not run");
    env.assert_gone(&id);
}

/// A foreground `run` of a terminal process with no --console-socket gets a
/// pty of its own that ward serves (as runc does), not the caller's stdio.
#[test]
fn foreground_run_with_terminal_serves_a_new_pty() {
    let env = Env::new();
    env.edit(|c| c["process"]["terminal"] = true.into());
    env.args(&[
        "sh",
        "-c",
        "tty; [ -t 0 ] && [ -t 1 ] && echo both-ttys; exit 5",
    ]);
    let id = env.id("fg-tty");
    let out = env.run(&id);
    assert_eq!(out.status.code(), Some(5), "{}", stderr(&out));
    let o = stdout(&out).replace('\r', "");
    assert!(o.contains("/dev/pts/0\nboth-ttys\n"), "{o:?}");
    env.assert_gone(&id);
}

/// createContainer hooks run in the container's root directory (before
/// pivot_root), as runc's: hooks written for runc use paths relative to it.
#[test]
fn create_container_hook_runs_in_the_container_root() {
    let env = Env::new();
    let host = env.bind_dir("hooks", "/hooks");
    let h = host.to_str().unwrap().to_string();
    std::fs::write(env.bundle.join("rootfs/etc/ward-cc-marker"), "here").unwrap();
    env.edit(|c| {
        c["hooks"] = json!({"createContainer": [{"path": "/bin/sh", "args": ["sh", "-c",
            format!("cat ./etc/ward-cc-marker > {h}/seen")], "timeout": 5}]});
    });
    env.args(&["true"]);
    let id = env.id("cccwd");
    let out = env.ward(&["create", "--bundle", env.bundle.to_str().unwrap(), &id]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(std::fs::read_to_string(host.join("seen")).unwrap(), "here");
    env.ok(&["delete", "--force", &id]);
}
