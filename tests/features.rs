//! runc features ward implements beyond hardening: seccomp user notification
//! (SCMP_ACT_NOTIFY with a listener socket) and seccomp filter flags. Every
//! test runs real containers and checks the effect from inside (what the
//! syscall returned) and outside (what the agent received).

mod common;

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use serde_json::{json, Value};

const ENOMEDIUM: i32 = 123;
// linux/seccomp.h: _IOWR('!', 0, struct seccomp_notif), _IOWR('!', 1, struct seccomp_notif_resp)
const NOTIF_RECV: libc::c_ulong = 0xc050_2100;
const NOTIF_SEND: libc::c_ulong = 0xc018_2101;
const USER_NOTIF_FLAG_CONTINUE: u32 = 1;

#[repr(C)]
#[derive(Default)]
struct Notif {
    id: u64,
    pid: u32,
    flags: u32,
    nr: i32,
    arch: u32,
    ip: u64,
    args: [u64; 6],
}

#[repr(C)]
struct NotifResp {
    id: u64,
    val: i64,
    error: i32,
    flags: u32,
}

/// What the agent got on one connection: the state JSON and the syscall
/// numbers notified through that listener.
#[derive(Clone, Debug)]
struct Received {
    state: Value,
    syscalls: Vec<i32>,
}

/// A minimal seccomp agent: for each connection it takes the
/// `ContainerProcessState` and the listener (SCM_RIGHTS), then answers every
/// notification of `deny` with ENOMEDIUM and lets everything else continue.
struct Agent {
    path: PathBuf,
    got: Arc<Mutex<Vec<Received>>>,
    stop: Arc<AtomicBool>,
}

impl Agent {
    fn start(dir: &Path, deny: &'static [&'static str]) -> Agent {
        let path = dir.join("agent.sock");
        let listener = UnixListener::bind(&path).unwrap();
        listener.set_nonblocking(true).unwrap();
        let got: Arc<Mutex<Vec<Received>>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let deny: Vec<i64> = deny.iter().map(|n| syscall_nr(n)).collect();
        let (g, s) = (got.clone(), stop.clone());
        std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                let Ok((conn, _)) = listener.accept() else {
                    std::thread::sleep(Duration::from_millis(10));
                    continue;
                };
                conn.set_nonblocking(false).unwrap();
                let (state, fd) = receive(conn.as_raw_fd());
                let idx = {
                    let mut v = g.lock().unwrap();
                    v.push(Received {
                        state,
                        syscalls: Vec::new(),
                    });
                    v.len() - 1
                };
                let (g, s, deny) = (g.clone(), s.clone(), deny.clone());
                std::thread::spawn(move || serve(fd, idx, &g, &s, &deny));
            }
        });
        Agent { path, got, stop }
    }

    fn received(&self) -> Vec<Received> {
        self.got.lock().unwrap().clone()
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn syscall_nr(name: &str) -> i64 {
    match name {
        "mkdir" => libc::SYS_mkdir,
        "mkdirat" => libc::SYS_mkdirat,
        "getcwd" => libc::SYS_getcwd,
        "unshare" => libc::SYS_unshare,
        other => panic!("no number for {other}"),
    }
}

/// One message: the JSON and exactly one fd, as runc's agents expect.
fn receive(sock: RawFd) -> (Value, OwnedFd) {
    use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};
    let mut buf = vec![0u8; 4096];
    let mut iov = [std::io::IoSliceMut::new(&mut buf)];
    let mut cmsg = nix::cmsg_space!([RawFd; 1]);
    let msg = recvmsg::<()>(sock, &mut iov, Some(&mut cmsg), MsgFlags::empty()).unwrap();
    let mut fds = Vec::new();
    for c in msg.cmsgs().unwrap() {
        if let ControlMessageOwned::ScmRights(f) = c {
            fds.extend(f);
        }
    }
    let n = msg.bytes;
    assert_eq!(fds.len(), 1, "one fd with the state");
    let state = serde_json::from_slice(&buf[..n]).unwrap();
    // SAFETY: the fd was just received and is owned by nothing else.
    (state, unsafe { OwnedFd::from_raw_fd(fds[0]) })
}

fn serve(fd: OwnedFd, idx: usize, got: &Mutex<Vec<Received>>, stop: &AtomicBool, deny: &[i64]) {
    while !stop.load(Ordering::Relaxed) {
        let mut p = libc::pollfd {
            fd: fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        if unsafe { libc::poll(&mut p, 1, 100) } <= 0 {
            continue;
        }
        if p.revents & libc::POLLIN == 0 {
            return; // POLLHUP: every process of the filter is gone
        }
        let mut n = Notif::default();
        // SAFETY: NOTIF_RECV fills a zeroed struct seccomp_notif.
        if unsafe { libc::ioctl(fd.as_raw_fd(), NOTIF_RECV, &mut n as *mut Notif) } != 0 {
            continue; // the process went away meanwhile
        }
        got.lock().unwrap()[idx].syscalls.push(n.nr);
        let mut r = NotifResp {
            id: n.id,
            val: 0,
            error: 0,
            flags: USER_NOTIF_FLAG_CONTINUE,
        };
        if deny.contains(&i64::from(n.nr)) {
            r.error = -ENOMEDIUM;
            r.val = -1;
            r.flags = 0;
        }
        // SAFETY: a filled struct seccomp_notif_resp.
        unsafe { libc::ioctl(fd.as_raw_fd(), NOTIF_SEND, &mut r as *mut NotifResp) };
    }
}

fn notify_profile(env: &Env, listener: &Path, names: &[&str]) {
    let l = listener.to_str().unwrap().to_string();
    let names: Vec<Value> = names.iter().map(|n| json!(n)).collect();
    env.edit(|c| {
        c["linux"]["seccomp"] = json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "listenerPath": l,
            "listenerMetadata": "ward-test",
            "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"],
            "syscalls": [{"names": names, "action": "SCMP_ACT_NOTIFY"}]
        })
    });
}

fn wait_for(what: &str, f: impl Fn() -> bool) {
    let t = Instant::now();
    while !f() {
        assert!(t.elapsed() < Duration::from_secs(10), "timed out: {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The agent answers the init's and an exec'd process's mkdir (ENOMEDIUM,
/// seen inside), lets other notified syscalls continue, and gets runc's state
/// message: the seccompFd name, the metadata, the container's id and pids.
/// With ward's defaults: the baseline stays under the notifying filter.
#[test]
fn notify_agent_answers_for_init_and_exec() {
    let env = Env::new();
    env.with_probe();
    let agent = Agent::start(env.dir.path(), &["mkdir", "mkdirat"]);
    notify_profile(&env, &agent.path, &["mkdir", "mkdirat", "getcwd"]);
    env.args(&["sh", "-c", "probe mkdir /tmp/a; probe getcwd; sleep 1000"]);
    let id = env.id("notify");
    env.create(&id);
    let init_pid = env.pid(&id);
    env.ok(&["start", &id]);
    // An exec'd process gets the same filter and hands its own listener over.
    let out = env.exec(&id, &["probe", "mkdir", "/tmp/b"]);
    assert_eq!(
        stdout(&out).trim(),
        format!("E{ENOMEDIUM}"),
        "{}",
        stderr(&out)
    );
    // getcwd is notified too and continues: the agent sees it, the caller does not notice.
    let out = env.exec(&id, &["probe", "getcwd"]);
    assert_eq!(stdout(&out).trim(), "ok", "{}", stderr(&out));
    wait_for("four listeners' worth of calls", || {
        let r = agent.received();
        r.len() == 3 && !r[0].syscalls.is_empty() && r[0].syscalls.len() >= 2
    });
    let r = agent.received();
    let init = &r[0];
    assert_eq!(init.state["fds"], json!(["seccompFd"]));
    assert_eq!(init.state["metadata"], "ward-test");
    assert_eq!(init.state["pid"], init_pid);
    assert_eq!(init.state["state"]["id"], id.as_str());
    assert_eq!(init.state["state"]["status"], "creating");
    assert_eq!(init.state["state"]["pid"], init_pid);
    assert_eq!(
        init.state["state"]["bundle"],
        env.bundle.to_str().unwrap(),
        "{:?}",
        init.state
    );
    let (mkdirs, getcwd) = (
        [libc::SYS_mkdir as i32, libc::SYS_mkdirat as i32],
        libc::SYS_getcwd as i32,
    );
    assert!(init.syscalls.iter().any(|n| mkdirs.contains(n)), "{init:?}");
    assert!(init.syscalls.contains(&getcwd), "{init:?}");
    // The init's own mkdir got the agent's answer.
    let procs = std::fs::read_to_string(format!("/proc/{init_pid}/status")).unwrap();
    assert!(
        procs.contains("Seccomp_filters:\t2"),
        "baseline + spec: {procs}"
    );
    for exec in &r[1..] {
        assert_eq!(exec.state["state"]["status"], "running");
        assert_eq!(exec.state["state"]["pid"], init_pid);
        assert_ne!(exec.state["pid"], init_pid);
        assert_eq!(exec.state["fds"], json!(["seccompFd"]));
    }
    assert!(r[1].syscalls.iter().any(|n| mkdirs.contains(n)), "{r:?}");
    assert!(r[2].syscalls.contains(&getcwd), "{r:?}");
    env.ok(&["delete", "--force", &id]);
    env.assert_gone(&id);
}

/// ward's baseline outranks the agent: a syscall the baseline denies gets
/// EPERM and never reaches the agent; relaxed, the agent answers it.
#[test]
fn notify_sees_only_what_the_baseline_allows() {
    let env = Env::new();
    env.with_probe();
    let agent = Agent::start(env.dir.path(), &["unshare", "mkdir", "mkdirat"]);
    notify_profile(&env, &agent.path, &["unshare", "mkdir", "mkdirat"]);
    let out = run_sh(
        &env,
        "notify-base",
        "probe unshare-user; probe mkdir /tmp/x; true",
    );
    assert_eq!(out.lines().collect::<Vec<_>>(), ["EPERM", "E123"], "{out}");
    wait_for("the init's listener", || agent.received().len() == 1);
    let nr = libc::SYS_unshare as i32;
    assert!(!agent.received()[0].syscalls.contains(&nr));

    env.annotate("run.ward.seccomp", "unconfined");
    let out = run_sh(&env, "notify-relaxed", "probe unshare-user; true");
    assert_eq!(out.trim(), "E123", "{out}");
    wait_for("the second listener", || agent.received().len() == 2);
    assert!(agent.received()[1].syscalls.contains(&nr));
}

/// No agent listening: create fails with runc's words and leaves nothing.
/// A notify rule without listenerPath, or for write, is refused up front.
#[test]
fn notify_bad_input() {
    let env = Env::new();
    notify_profile(&env, &env.dir.path().join("nobody.sock"), &["mkdir"]);
    let id = env.id("notify-noagent");
    let out = env.ward(&["create", "--bundle", env.bundle.to_str().unwrap(), &id]);
    assert_fails(&out, "failed to connect with seccomp agent");
    env.assert_gone(&id);

    env.edit(|c| c["linux"]["seccomp"]["listenerPath"] = json!(""));
    let id = env.id("notify-nopath");
    let out = env.ward(&["create", "--bundle", env.bundle.to_str().unwrap(), &id]);
    assert_fails(&out, "linux.seccomp.listenerPath: required");
    env.assert_gone(&id);

    env.edit(|c| {
        c["linux"]["seccomp"]["listenerPath"] = json!("/run/x.sock");
        c["linux"]["seccomp"]["syscalls"][0]["names"] = json!(["write"]);
    });
    let id = env.id("notify-write");
    let out = env.ward(&["create", "--bundle", env.bundle.to_str().unwrap(), &id]);
    assert_fails(&out, "SCMP_ACT_NOTIFY cannot be used for the write syscall");
    env.assert_gone(&id);
}

/// When the agent dies, notified syscalls fail with ENOSYS instead of hanging
/// (ward keeps no copy of the listener), and a new exec cannot start.
#[test]
fn notify_without_agent_returns_enosys() {
    let env = Env::new();
    env.with_probe();
    let out_dir = env.bind_dir("out", "/out");
    let agent = Agent::start(env.dir.path(), &[]);
    notify_profile(&env, &agent.path, &["mkdir", "mkdirat"]);
    env.args(&[
        "sh",
        "-c",
        "sleep 2; probe mkdir /tmp/z > /out/r; sleep 1000",
    ]);
    let id = env.id("notify-gone");
    env.start(&id);
    wait_for("the listener", || agent.received().len() == 1);
    drop(agent); // its threads stop and close the listener
    wait_for("the init's mkdir", || {
        std::fs::read_to_string(out_dir.join("r")).is_ok_and(|s| !s.is_empty())
    });
    let r = std::fs::read_to_string(out_dir.join("r")).unwrap();
    assert_eq!(r.trim(), "ENOSYS");
    let out = env.exec(&id, &["probe", "getpid"]);
    assert_fails(&out, "failed to connect with seccomp agent");
    env.ok(&["delete", "--force", &id]);
    env.assert_gone(&id);
}

/// The spec's flags reach seccomp(2): the kernel accepts LOG, SPEC_ALLOW and
/// WAIT_KILLABLE_RECV (with a listener); the value is in the debug log as runc
/// prints it, and a bogus flag fails create naming it.
#[test]
fn seccomp_flags() {
    let env = Env::new();
    env.with_probe();
    env.edit(|c| {
        c["linux"]["seccomp"] = json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "flags": ["SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW"],
            "syscalls": [{"names": ["getcwd"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13}]
        })
    });
    env.args(&["probe", "getcwd"]);
    let id = env.id("flags");
    let out = env.ward(&[
        "--debug",
        "run",
        "--bundle",
        env.bundle.to_str().unwrap(),
        &id,
    ]);
    assert_eq!(stdout(&out).trim(), "EACCES", "{}", stderr(&out));
    assert!(
        stderr(&out).contains("seccomp filter flags: 6"),
        "{}",
        stderr(&out)
    );
    // No flags given: runc's default, SPEC_ALLOW.
    env.edit(|c| {
        c["linux"]["seccomp"]
            .as_object_mut()
            .unwrap()
            .remove("flags");
    });
    let out = env.ward(&[
        "--debug",
        "run",
        "--bundle",
        env.bundle.to_str().unwrap(),
        &env.id("flags"),
    ]);
    assert!(
        stderr(&out).contains("seccomp filter flags: 4"),
        "{}",
        stderr(&out)
    );
    // WAIT_KILLABLE_RECV with a listener: NEW_LISTENER (8) + 32.
    let agent = Agent::start(env.dir.path(), &["mkdir", "mkdirat"]);
    notify_profile(&env, &agent.path, &["mkdir", "mkdirat"]);
    env.edit(|c| {
        c["linux"]["seccomp"]["flags"] = json!(["SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"])
    });
    env.args(&["probe", "mkdir", "/tmp/k"]);
    let out = env.ward(&[
        "--debug",
        "run",
        "--bundle",
        env.bundle.to_str().unwrap(),
        &env.id("flags"),
    ]);
    assert_eq!(stdout(&out).trim(), "E123", "{}", stderr(&out));
    assert!(
        stderr(&out).contains("seccomp filter flags: 40"),
        "{}",
        stderr(&out)
    );

    env.edit(|c| c["linux"]["seccomp"]["flags"] = json!(["SECCOMP_FILTER_FLAG_BOGUS"]));
    let id = env.id("flags-bad");
    let out = env.ward(&["create", "--bundle", env.bundle.to_str().unwrap(), &id]);
    assert_fails(&out, "unknown variant `SECCOMP_FILTER_FLAG_BOGUS`");
    env.assert_gone(&id);
}

/// `ward features` lists NOTIFY and the flags this kernel takes.
#[test]
fn features_list_notify_and_flags() {
    let env = Env::new();
    let f: Value = serde_json::from_str(&env.ok(&["features"])).unwrap();
    let s = &f["linux"]["seccomp"];
    assert!(s["actions"]
        .as_array()
        .unwrap()
        .contains(&json!("SCMP_ACT_NOTIFY")));
    for flag in [
        "SECCOMP_FILTER_FLAG_TSYNC",
        "SECCOMP_FILTER_FLAG_LOG",
        "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
    ] {
        assert!(
            s["supportedFlags"]
                .as_array()
                .unwrap()
                .contains(&json!(flag)),
            "{s}"
        );
        assert!(
            s["knownFlags"].as_array().unwrap().contains(&json!(flag)),
            "{s}"
        );
    }
}

/// `process.scheduler` (sched_setattr) applies to the init and, from
/// config.json, to an exec'd process; a process.json's own scheduler wins;
/// SCHED_DEADLINE under a cpuset fails with runc's words.
#[test]
fn scheduler_applies_to_init_and_exec() {
    let env = Env::new();
    env.edit(|c| c["process"]["scheduler"] = json!({"policy": "SCHED_BATCH", "nice": 19}));
    let id = env.id("sched");
    env.start(&id);
    let pid = env.pid(&id);
    let sched = |pid: i32| -> String {
        let s = std::fs::read_to_string(format!("/proc/{pid}/sched")).unwrap();
        s.lines()
            .find(|l| l.starts_with("policy"))
            .map(|l| l.split(':').nth(1).unwrap().trim().to_string())
            .unwrap()
    };
    assert_eq!(sched(pid), "3", "SCHED_BATCH on the init");
    let out = env.exec(
        &id,
        &[
            "sh",
            "-c",
            "grep ^policy /proc/self/sched; cat /proc/self/stat",
        ],
    );
    let text = stdout(&out);
    assert!(text.lines().next().unwrap().ends_with(" 3"), "{text}");
    // nice 19: field 19 of stat
    let stat = text.lines().nth(1).unwrap();
    let fields: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap()
        .split_whitespace()
        .collect();
    assert_eq!(fields[16], "19", "nice of the exec'd process: {stat}");
    // process.json with its own scheduler (and no `user`, as runc accepts).
    let proc_json = env.dir.path().join("proc.json");
    std::fs::write(
        &proc_json,
        json!({"args": ["sh", "-c", "grep ^policy /proc/self/sched"], "cwd": "/",
               "user": {"uid": 0, "gid": 0},
               "scheduler": {"policy": "SCHED_IDLE", "flags": ["SCHED_FLAG_RESET_ON_FORK"]}})
        .to_string(),
    )
    .unwrap();
    let out = env.ward(&["exec", "--process", proc_json.to_str().unwrap(), &id]);
    assert!(
        stdout(&out).trim().ends_with(" 5"),
        "SCHED_IDLE: {}{}",
        stdout(&out),
        stderr(&out)
    );
    env.ok(&["delete", "--force", &id]);
    env.assert_gone(&id);

    env.edit(|c| {
        c["process"]["scheduler"] = json!({"policy": "SCHED_DEADLINE", "runtime": 42000,
            "deadline": 1000000, "period": 1000000});
        c["linux"]["resources"]["cpu"] = json!({"cpus": "0"});
    });
    let id = env.id("sched-dl");
    let out = env.ward(&["create", "--bundle", env.bundle.to_str().unwrap(), &id]);
    assert_fails(
        &out,
        "process scheduler can't be used together with AllowedCPUs",
    );
    env.assert_gone(&id);
}

fn ioprio_get(pid: i32) -> i64 {
    // SAFETY: IOPRIO_WHO_PROCESS with a pid; no pointers.
    unsafe { libc::syscall(libc::SYS_ioprio_get, 1, pid) }
}

/// `process.ioPriority` (ioprio_set) on the init, inherited by exec from
/// config.json, overridden by a process.json.
#[test]
fn io_priority_applies_to_init_and_exec() {
    let env = Env::new();
    env.edit(|c| c["process"]["ioPriority"] = json!({"class": "IOPRIO_CLASS_BE", "priority": 4}));
    let id = env.id("ioprio");
    env.start(&id);
    // best-effort (2) << 13 | 4
    assert_eq!(ioprio_get(env.pid(&id)), (2 << 13) | 4);
    let out = env.exec(&id, &["ionice"]);
    assert_eq!(
        stdout(&out).trim(),
        "best-effort: prio 4",
        "{}",
        stderr(&out)
    );
    let proc_json = env.dir.path().join("proc.json");
    std::fs::write(
        &proc_json,
        json!({"args": ["ionice"], "cwd": "/", "user": {"uid": 0, "gid": 0},
               "ioPriority": {"class": "IOPRIO_CLASS_IDLE", "priority": 0}})
        .to_string(),
    )
    .unwrap();
    let out = env.ward(&["exec", "--process", proc_json.to_str().unwrap(), &id]);
    assert_eq!(stdout(&out).trim(), "idle", "{}", stderr(&out));
    env.ok(&["delete", "--force", &id]);
    env.assert_gone(&id);
}

fn online_cpus() -> String {
    std::fs::read_to_string("/sys/devices/system/cpu/online")
        .unwrap()
        .trim()
        .to_string()
}

/// `process.execCPUAffinity`: an exec'd process ends on the final CPUs; with
/// none, a ward started under `taskset` does not pass its affinity on to the
/// init or to an exec'd process (runc resets it to the cgroup's CPUs).
#[test]
fn exec_cpu_affinity_and_reset() {
    if online_cpus() == "0" {
        eprintln!("one CPU: nothing to check");
        return;
    }
    let env = Env::new();
    let pinned = |args: &[&str]| -> std::process::Output {
        let mut c = std::process::Command::new("taskset");
        c.args(["-c", "0", WARD, "--root"])
            .arg(&env.root)
            .args(args)
            .stdin(std::process::Stdio::null());
        c.output().unwrap()
    };
    env.args(&["grep", "Cpus_allowed_list", "/proc/self/status"]);
    let id = env.id("affinity-run");
    let out = pinned(&["run", "--bundle", env.bundle.to_str().unwrap(), &id]);
    let all = online_cpus();
    assert_eq!(
        stdout(&out).trim(),
        format!("Cpus_allowed_list:\t{all}"),
        "{}",
        stderr(&out)
    );

    env.args(&["sleep", "1000"]);
    env.edit(|c| c["process"]["execCPUAffinity"] = json!({"initial": "0", "final": "1"}));
    let id = env.id("affinity");
    // Detached: its stdio must not be a pipe the container keeps open.
    let st = std::process::Command::new("taskset")
        .args(["-c", "0", WARD, "--root"])
        .arg(&env.root)
        .args(["run", "-d", "--bundle", env.bundle.to_str().unwrap(), &id])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(st.success());
    // execCPUAffinity is not for the init: it keeps every CPU.
    assert_eq!(proc_status(env.pid(&id), "Cpus_allowed_list"), all);
    let out = pinned(&[
        "exec",
        &id,
        "grep",
        "Cpus_allowed_list",
        "/proc/self/status",
    ]);
    assert_eq!(
        stdout(&out).trim(),
        "Cpus_allowed_list:\t1",
        "{}",
        stderr(&out)
    );
    env.edit(|c| {
        c["process"]
            .as_object_mut()
            .unwrap()
            .remove("execCPUAffinity");
    });
    env.ok(&["delete", "--force", &id]);
    env.assert_gone(&id);
}

/// Accepts one connection on `listener` and returns the pidfd it carries.
fn accept_pidfd(listener: &UnixListener) -> OwnedFd {
    listener.set_nonblocking(false).unwrap();
    let (conn, _) = listener.accept().unwrap();
    receive_fd(conn.as_raw_fd())
}

fn receive_fd(sock: RawFd) -> OwnedFd {
    use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};
    let mut buf = [0u8; 64];
    let mut iov = [std::io::IoSliceMut::new(&mut buf)];
    let mut cmsg = nix::cmsg_space!([RawFd; 1]);
    let msg = recvmsg::<()>(sock, &mut iov, Some(&mut cmsg), MsgFlags::empty()).unwrap();
    for c in msg.cmsgs().unwrap() {
        if let ControlMessageOwned::ScmRights(f) = c {
            // SAFETY: just received, owned by nothing else.
            return unsafe { OwnedFd::from_raw_fd(f[0]) };
        }
    }
    panic!("no fd received");
}

/// The pid a pidfd refers to, from /proc/self/fdinfo.
fn pidfd_pid(fd: &OwnedFd) -> i32 {
    let info = std::fs::read_to_string(format!("/proc/self/fdinfo/{}", fd.as_raw_fd())).unwrap();
    info.lines()
        .find_map(|l| l.strip_prefix("Pid:"))
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

fn pidfd_signal(fd: &OwnedFd, sig: i32) {
    // SAFETY: a pidfd and a signal number; no siginfo.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            fd.as_raw_fd(),
            sig,
            std::ptr::null::<libc::siginfo_t>(),
            0,
        )
    };
    assert_eq!(
        rc,
        0,
        "pidfd_send_signal: {}",
        std::io::Error::last_os_error()
    );
}

/// `--pidfd-socket`: create, run and exec send a pidfd of their process; a
/// signal through it reaches the container, a created one included (its init
/// exits on TERM while it waits for `start`, as runc's does).
#[test]
fn pidfd_socket_for_create_run_and_exec() {
    let env = Env::new();
    let sock = env.dir.path().join("pidfd.sock");
    let listener = UnixListener::bind(&sock).unwrap();
    let s = sock.to_str().unwrap();
    let b = env.bundle.to_str().unwrap().to_string();

    let id = env.id("pidfd-create");
    let l = listener.try_clone().unwrap();
    let t = std::thread::spawn(move || accept_pidfd(&l));
    env.ok(&["create", "--bundle", &b, "--pidfd-socket", s, &id]);
    let fd = t.join().unwrap();
    assert_eq!(pidfd_pid(&fd), env.pid(&id));
    pidfd_signal(&fd, libc::SIGTERM);
    env.wait_status(&id, "stopped");
    env.ok(&["delete", &id]);
    env.assert_gone(&id);

    let id = env.id("pidfd-run");
    let l = listener.try_clone().unwrap();
    let t = std::thread::spawn(move || accept_pidfd(&l));
    let out = env.ward(&["run", "-d", "--bundle", &b, "--pidfd-socket", s, &id]);
    assert!(out.status.success(), "{}", stderr(&out));
    let fd = t.join().unwrap();
    assert_eq!(pidfd_pid(&fd), env.pid(&id));

    let l = listener.try_clone().unwrap();
    let t = std::thread::spawn(move || accept_pidfd(&l));
    let pid_file = env.dir.path().join("exec.pid");
    let p = pid_file.to_str().unwrap();
    env.ok(&[
        "exec",
        "-d",
        "--pid-file",
        p,
        "--pidfd-socket",
        s,
        &id,
        "sleep",
        "1000",
    ]);
    let efd = t.join().unwrap();
    let exec_pid: i32 = std::fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert_eq!(pidfd_pid(&efd), exec_pid);
    pidfd_signal(&efd, libc::SIGKILL);
    wait_for("the exec'd process to go", || pidfd_pid(&efd) == -1);
    assert_eq!(env.status(&id), "running");
    pidfd_signal(&fd, libc::SIGKILL);
    env.wait_status(&id, "stopped");
    env.ok(&["delete", &id]);
    env.assert_gone(&id);
}
