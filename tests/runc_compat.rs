//! runc's command-line and lifecycle behaviours that runc's own test suite
//! (tests/integration/*.bats) and scripts written for runc rely on, under
//! ward: help layout, `update` flags, hook and exec error wording and exit
//! codes, exec's user, HOME and pty, refusing frozen or shared cgroups, kill
//! without a pid namespace, OOM events, capability sets, debug lines.

mod common;
use common::*;
use serde_json::json;
use std::path::Path;
use std::time::{Duration, Instant};

fn v1_controller(name: &str) -> Option<String> {
    let p = format!("/sys/fs/cgroup/{name}");
    Path::new(&p).join("tasks").exists().then_some(p)
}

fn read(p: impl AsRef<Path>) -> String {
    std::fs::read_to_string(p.as_ref())
        .unwrap_or_else(|e| panic!("{}: {e}", p.as_ref().display()))
        .trim()
        .to_string()
}

/// A per-test top cgroup directory, removed when dropped: taken before the
/// Env, so it is dropped after the Env has deleted the containers in it.
fn cgroup_top(name: &str) -> CgroupTree {
    CgroupTree(format!("wardcompat-{}-{name}", std::process::id()))
}

/// A container ID and its cgroupsPath under `top`.
fn cgroup_path(env: &Env, top: &CgroupTree, name: &str) -> (String, String) {
    let id = env.id(name);
    (format!("/{}/{id}", top.0), id)
}

#[test]
fn help_in_runcs_layout() {
    let env = Env::new();
    let out = env.ok(&["create", "--help"]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "NAME:", "{out}");
    assert!(lines[1].starts_with("   ward create - "), "{out}");
    // runc's command list, checkpoint and restore included (they say ward
    // has no CRIU support when run).
    env.ok(&["checkpoint", "-h"]);
    assert_fails(&env.ward(&["checkpoint", "x"]), "not supported by ward");
    let out = env.ward(&["foo", "-h"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("No help topic for 'foo'"),
        "{}",
        stderr(&out)
    );
}

/// `update` takes runc's flags and values (-1 for no limit, 0 pids means 1,
/// --cpu-burst, --cpu-idle), and writes the CFS period after the quota when
/// a parent's limit requires it. Seen outside in the cgroup files, inside in
/// whether a process can still be started.
#[test]
fn update_takes_runcs_flags_and_values() {
    let (Some(cpu), Some(pids)) = (v1_controller("cpu"), v1_controller("pids")) else {
        eprintln!("no v1 cpu/pids hierarchy: skipped");
        return;
    };
    let tree = cgroup_top("update");
    let env = Env::new();
    let (path, id) = cgroup_path(&env, &tree, "update");
    let top = Path::new(&path)
        .parent()
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    // A parent (pod) limited to 50% of a CPU.
    std::fs::create_dir_all(format!("{cpu}{top}")).unwrap();
    std::fs::write(format!("{cpu}{top}/cpu.cfs_quota_us"), "50000").unwrap();
    env.edit(|c| {
        c["linux"]["cgroupsPath"] = path.clone().into();
        c["linux"]["resources"]["cpu"] = json!({"quota": 500000, "period": 1000000});
        c["linux"]["resources"]["pids"] = json!({"limit": 20});
    });
    env.start(&id);
    let cg = format!("{cpu}{path}");
    assert_eq!(read(format!("{cg}/cpu.cfs_quota_us")), "500000");

    env.ok(&["update", "--pids-limit", "0", &id]);
    assert_eq!(read(format!("{pids}{path}/pids.max")), "1");
    let out = env.exec(&id, &["true"]);
    assert!(!out.status.success(), "exec under pids.max=1 should fail");
    env.ok(&["update", "--pids-limit", "-1", &id]);
    assert_eq!(read(format!("{pids}{path}/pids.max")), "max");
    assert!(env.exec(&id, &["true"]).status.success());

    env.ok(&["update", "--cpu-quota", "-1", &id]);
    assert_eq!(read(format!("{cg}/cpu.cfs_quota_us")), "-1");
    // 60% is over the parent's 50%: refused.
    assert!(!env
        .ward(&["update", "--cpu-quota", "600000", &id])
        .status
        .success());
    // A shorter period is only accepted once the quota is lowered first.
    env.ok(&["update", "--cpu-quota", "500000", &id]);
    env.ok(&[
        "update",
        "--cpu-period",
        "10000",
        "--cpu-quota",
        "3000",
        &id,
    ]);
    assert_eq!(read(format!("{cg}/cpu.cfs_period_us")), "10000");
    assert_eq!(read(format!("{cg}/cpu.cfs_quota_us")), "3000");

    if Path::new(&format!("{cg}/cpu.cfs_burst_us")).exists() {
        env.ok(&["update", "--cpu-burst", "2000", &id]);
        assert_eq!(read(format!("{cg}/cpu.cfs_burst_us")), "2000");
        // Another update leaves the burst alone.
        env.ok(&["update", "--pids-limit", "30", &id]);
        assert_eq!(read(format!("{cg}/cpu.cfs_burst_us")), "2000");
    }
    if Path::new(&format!("{cg}/cpu.idle")).exists() {
        env.ok(&["update", "--cpu-idle", "1", &id]);
        assert_eq!(read(format!("{cg}/cpu.idle")), "1");
        // The kernel takes only 0 or 1.
        assert!(!env
            .ward(&["update", "--cpu-idle", "2", &id])
            .status
            .success());
        assert_eq!(read(format!("{cg}/cpu.idle")), "1");
    }
    env.ok(&["delete", "--force", &id]);
    env.assert_gone(&id);
}

/// A failing hook is named by kind and index, as runc words it; a failing
/// startContainer hook (after `start`) reaches the container's stderr.
#[test]
fn hook_failures_name_kind_and_index() {
    let env = Env::new();
    env.edit(|c| {
        c["hooks"] = json!({"prestart": [{"path": "/bin/true"}, {"path": "/bin/false"}]});
    });
    let id = env.id("hookfail");
    let out = env.ward(&["create", "--bundle", env.bundle.to_str().unwrap(), &id]);
    assert_fails(&out, "error running prestart hook #1:");
    env.assert_gone(&id);

    env.edit(|c| {
        c["hooks"] = json!({"startContainer": [{"path": "/bin/false"}]});
    });
    env.args(&["echo", "should not run"]);
    let id = env.id("hookfail-start");
    let out = env.run(&id);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("error running startContainer hook #0:"),
        "{}",
        stderr(&out)
    );
    assert!(!stdout(&out).contains("should not run"));
}

/// Runs a ward command, killing it if it has not finished in 30 s (a create
/// into a frozen cgroup used to hang for ever).
fn ward_bounded(env: &Env, args: &[&str]) -> (std::process::ExitStatus, String) {
    let err = env.dir.path().join("bounded-err");
    let mut child = env
        .cmd(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&err).unwrap())
        .spawn()
        .unwrap();
    let t = Instant::now();
    loop {
        if let Some(st) = child.try_wait().unwrap() {
            return (st, std::fs::read_to_string(&err).unwrap_or_default());
        }
        if t.elapsed() > Duration::from_secs(30) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("ward {args:?} still running after 30 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A cgroup frozen before the create is refused at once (the init would sit
/// in the freezer and `run -d` with it), and the cgroup is left as it was.
#[test]
fn create_refuses_a_frozen_cgroup() {
    let Some(freezer) = v1_controller("freezer") else {
        eprintln!("no v1 freezer: skipped");
        return;
    };
    let tree = cgroup_top("frozen");
    let env = Env::new();
    let (path, id) = cgroup_path(&env, &tree, "frozen");
    let dir = format!("{freezer}{path}");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(format!("{dir}/freezer.state"), "FROZEN").unwrap();
    env.edit(|c| c["linux"]["cgroupsPath"] = path.clone().into());
    let b = env.bundle.to_str().unwrap().to_string();
    let (st, err) = ward_bounded(&env, &["run", "-d", "--bundle", &b, &id]);
    assert_eq!(st.code(), Some(1), "{err}");
    assert!(
        err.contains("container's cgroup unexpectedly frozen"),
        "{err}"
    );
    assert!(Path::new(&dir).exists(), "the user's cgroup must stay");
    assert_eq!(read(format!("{dir}/cgroup.procs")), "");
    let _ = std::fs::write(format!("{dir}/freezer.state"), "THAWED");
    env.assert_gone(&id);
}

/// A second container in the cgroup of a running one is refused; the first
/// is untouched (a failed create's cleanup must not kill its processes).
#[test]
fn create_refuses_a_cgroup_in_use() {
    let tree = cgroup_top("shared");
    let env = Env::new();
    let (mut path, first) = cgroup_path(&env, &tree, "shared");
    if systemd_driver() {
        // The systemd driver takes a unit, not a directory: both containers
        // name the same scope.
        path = format!("system.slice:{}:{first}", tree.0);
    }
    env.edit(|c| c["linux"]["cgroupsPath"] = path.clone().into());
    env.start(&first);
    let pid = env.pid(&first);
    let second = env.id("shared2");
    let out = env.ward(&["create", "--bundle", env.bundle.to_str().unwrap(), &second]);
    assert_fails(&out, "container's cgroup is not empty: 1 process(es) found");
    assert!(Path::new(&format!("/proc/{pid}")).exists());
    assert_eq!(env.status(&first), "running");
    env.assert_gone(&second);
    env.ok(&["delete", "--force", &first]);
}

/// `exec` passes the process's exit code through and exits 255 when it
/// could not run the process, as runc does.
#[test]
fn exec_exit_codes() {
    let env = Env::new();
    let id = env.id("execcodes");
    env.start(&id);
    assert_eq!(
        env.exec(&id, &["sh", "-c", "exit 42"]).status.code(),
        Some(42)
    );
    let out = env.ward(&["exec", "--pid-file", "/non-existent/dir/pid", &id, "true"]);
    assert_eq!(out.status.code(), Some(255), "{}", stderr(&out));
    let out = env.exec(&id, &["no-such-binary"]);
    assert_eq!(out.status.code(), Some(255), "{}", stderr(&out));
    let out = env.exec("no-such-container", &["true"]);
    assert_eq!(out.status.code(), Some(255), "{}", stderr(&out));
    env.ok(&["pause", &id]);
    let out = env.exec(&id, &["true"]);
    assert_eq!(out.status.code(), Some(255));
    assert!(stderr(&out).contains("cannot exec in a paused container"));
    env.ok(&["resume", &id]);
}

/// exec runs as the spec's user unless --user says otherwise; HOME is "/"
/// for a uid with no passwd entry; `exec -t` gets a pty served by ward,
/// owned by the process's uid, with no "\r" added to its output; the
/// host's /dev/null given as stdio is never chowned.
#[test]
fn exec_user_home_and_pty() {
    let env = Env::new();
    env.edit(|c| {
        c["process"]["user"] = json!({"uid": 1000, "gid": 100});
    });
    let id = env.id("execuser");
    env.start(&id);
    assert_eq!(stdout(&env.exec(&id, &["id", "-u"])).trim(), "1000");
    let home = env.exec(&id, &["--user", "1000", "sh", "-c", "echo $HOME"]);
    assert_eq!(stdout(&home), "/\n", "{}", stderr(&home));
    let home = env.exec(&id, &["--user", "0", "sh", "-c", "echo $HOME"]);
    assert_eq!(stdout(&home), "/root\n");
    let out = env.exec(&id, &["-t", "sh", "-c", "stat -c %u $(tty); tty"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let o = stdout(&out);
    let lines: Vec<&str> = o.split('\n').collect();
    assert_eq!(lines[0], "1000", "{o:?}");
    assert!(lines[1].starts_with("/dev/pts/"), "{o:?}");
    // stdin of every ward call here is the host's /dev/null.
    env.ok(&["exec", "--user", "1000:1000", &id, "true"]);
    let st = nix::sys::stat::stat("/dev/null").unwrap();
    assert_eq!((st.st_uid, st.st_gid), (0, 0));
}

/// An execve failure reads as runc's: the init's on the container's stderr
/// (nothing else printed), an exec's from ward; both exit 255.
#[test]
fn execve_error_in_runcs_words() {
    let env = Env::new();
    std::fs::write(env.bundle.join("rootfs/run.sh"), "#!/mmnnttbb foo\nsh\n").unwrap();
    std::fs::set_permissions(
        env.bundle.join("rootfs/run.sh"),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    env.args(&["/run.sh"]);
    let id = env.id("execve");
    let out = env.run(&id);
    assert_eq!(out.status.code(), Some(255));
    assert_eq!(stderr(&out), "exec /run.sh: no such file or directory\n");
    env.args(&["sleep", "100"]);
    let id = env.id("execve2");
    env.start(&id);
    let out = env.exec(&id, &["/run.sh"]);
    assert_eq!(out.status.code(), Some(255));
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("exec /run.sh: no such file or directory"),
        "{err}"
    );
}

/// `--debug --log FILE`: runc's step lines go to the file, none to stderr.
#[test]
fn debug_lines_go_to_the_log() {
    let env = Env::new();
    env.args(&["true"]);
    let log = env.dir.path().join("debug.log");
    let l = log.to_str().unwrap().to_string();
    let id = env.id("debug");
    let out = env.ward(&[
        "--debug",
        "--log",
        &l,
        "run",
        "--bundle",
        env.bundle.to_str().unwrap(),
        &id,
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!stderr(&out).contains("level=debug"));
    let text = std::fs::read_to_string(&log).unwrap();
    for want in [
        "nsexec container setup",
        "child process in init()",
        "init: closing the pipe to signal completion",
    ] {
        assert!(text.contains(want), "{want:?} missing");
    }
    env.args(&["sleep", "100"]);
    let id = env.id("debug-exec");
    env.start(&id);
    let _ = std::fs::remove_file(&log);
    env.ok(&["--debug", "--log", &l, "exec", &id, "true"]);
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("setns_init: about to exec"));
}

/// Without a pid namespace of its own the init's death takes nothing with
/// it: SIGKILL goes to the whole cgroup, even after the init is gone.
#[test]
fn kill_without_pid_namespace_empties_the_cgroup() {
    let Some(pids_ctl) = v1_controller("pids") else {
        eprintln!("no v1 pids hierarchy: skipped");
        return;
    };
    let tree = cgroup_top("hostpid");
    let env = Env::new();
    // Mounting proc for the host pid namespace needs the host's user ns.
    env.annotate("run.ward.userns", "host");
    let (path, id) = cgroup_path(&env, &tree, "hostpid");
    env.edit(|c| {
        c["linux"]["cgroupsPath"] = path.clone().into();
        let ns = c["linux"]["namespaces"].as_array_mut().unwrap();
        ns.retain(|n| n["type"] != "pid");
    });
    env.start(&id);
    for _ in 0..3 {
        env.ok(&["exec", "-d", &id, "sleep", "1000"]);
    }
    let procs = || read(format!("{pids_ctl}{path}/cgroup.procs"));
    assert_eq!(procs().lines().count(), 4);
    // The init dies alone; the others stay.
    let init = env.pid(&id);
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(init), nix::sys::signal::SIGKILL).unwrap();
    env.wait_status(&id, "stopped");
    assert_eq!(procs().lines().count(), 3);
    env.ok(&["kill", &id, "KILL"]);
    let t = Instant::now();
    while !procs().is_empty() {
        assert!(t.elapsed() < Duration::from_secs(10), "left: {}", procs());
        std::thread::sleep(Duration::from_millis(20));
    }
    // Nothing left to signal: as runc, "not running", unless --all.
    assert_fails(&env.ward(&["kill", &id, "0"]), "container not running");
    env.ok(&["kill", "--all", &id, "0"]);
    env.ok(&["delete", &id]);
    env.assert_gone(&id);
}

/// `events` reports each OOM kill in the container as runc does.
#[test]
fn events_report_oom() {
    let Some(mem) = v1_controller("memory") else {
        eprintln!("no v1 memory hierarchy: skipped");
        return;
    };
    let tree = cgroup_top("oom");
    let env = Env::new();
    let (path, id) = cgroup_path(&env, &tree, "oom");
    let swap = Path::new(&mem).join("memory.memsw.limit_in_bytes").exists();
    env.edit(|c| {
        c["linux"]["cgroupsPath"] = path.clone().into();
        c["linux"]["resources"]["memory"] = if swap {
            json!({"limit": 33554432, "swap": 33554432})
        } else {
            json!({"limit": 33554432})
        };
    });
    env.start(&id);
    let log = env.dir.path().join("events.log");
    let mut events = env
        .cmd(&["events", "--interval", "1s", &id])
        .stdout(std::fs::File::create(&log).unwrap())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let wait_for = |want: &str| {
        let t = Instant::now();
        loop {
            if std::fs::read_to_string(&log)
                .unwrap_or_default()
                .contains(want)
            {
                return true;
            }
            if t.elapsed() > Duration::from_secs(20) {
                return false;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    assert!(wait_for("\"type\":\"stats\""));
    env.ok(&[
        "exec",
        "-d",
        &id,
        "sh",
        "-c",
        "x=$(dd if=/dev/urandom bs=1M count=200)",
    ]);
    let seen = wait_for(&format!("{{\"type\":\"oom\",\"id\":\"{id}\"}}"));
    let _ = events.kill();
    let _ = events.wait();
    assert!(
        seen,
        "{}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );
    let oom_kills = read(format!("{mem}{path}/memory.oom_control"));
    assert!(!oom_kills.contains("oom_kill 0"), "{oom_kills}");
}

/// With the spec's capabilities (caps=spec), an inheritable set beyond the
/// permitted one and an ambient cap are set exactly as given.
#[test]
fn capability_sets_as_the_spec_gives_them() {
    let env = Env::new();
    env.annotate("run.ward.caps", "spec");
    env.edit(|c| {
        c["process"]["capabilities"] = json!({
            "inheritable": ["CAP_CHOWN", "CAP_SYSLOG"],
            "permitted": ["CAP_KILL", "CAP_CHOWN"],
            "effective": ["CAP_KILL"],
            "bounding": ["CAP_KILL", "CAP_CHOWN", "CAP_SYSLOG"],
            "ambient": ["CAP_CHOWN"]
        });
    });
    let id = env.id("capsets");
    env.start(&id);
    let st = stdout(&env.exec(&id, &["cat", "/proc/self/status"]));
    for want in [
        "CapInh:\t0000000400000001",
        "CapPrm:\t0000000000000021",
        "CapEff:\t0000000000000021",
        "CapBnd:\t0000000400000021",
        "CapAmb:\t0000000000000001",
    ] {
        assert!(st.contains(want), "{want:?} in {st}");
    }
    let pid = env.pid(&id);
    assert_eq!(proc_status(pid, "CapInh"), "0000000400000001");
}

/// cgroup v2 files in `linux.resources.unified` cannot apply on a v1 host:
/// refused as runc refuses them. On a hybrid host the container also gets its
/// directory in the controller-less cgroup2 tree, where exec joins it too.
#[test]
fn unified_resources_on_v1_and_the_hybrid_tree() {
    if v1_controller("pids").is_none() {
        eprintln!("not a v1 host: skipped");
        return;
    }
    let tree = cgroup_top("hybrid");
    let env = Env::new();
    let (path, id) = cgroup_path(&env, &tree, "hybrid");
    env.edit(|c| {
        c["linux"]["cgroupsPath"] = path.clone().into();
        c["linux"]["resources"]["unified"] = json!({"memory.min": "131072"});
    });
    let out = env.ward(&["create", "--bundle", env.bundle.to_str().unwrap(), &id]);
    assert_fails(&out, "invalid configuration");
    env.assert_gone(&id);
    if !Path::new("/sys/fs/cgroup/unified/cgroup.controllers").exists() {
        return;
    }
    env.edit(|c| {
        c["linux"]["resources"]
            .as_object_mut()
            .unwrap()
            .remove("unified");
    });
    let id = env.id("hybrid2");
    let path2 = format!("{}/{id}", Path::new(&path).parent().unwrap().display());
    env.edit(|c| c["linux"]["cgroupsPath"] = path2.clone().into());
    env.start(&id);
    let init = read(format!("/proc/{}/cgroup", env.pid(&id)));
    assert!(init.lines().any(|l| l == format!("0::{path2}")), "{init}");
    let exec = stdout(&env.exec(&id, &["cat", "/proc/self/cgroup"]));
    assert!(exec.lines().any(|l| l == format!("0::{path2}")), "{exec}");
    env.ok(&["delete", "--force", &id]);
    assert!(!Path::new(&format!("/sys/fs/cgroup/unified{path2}")).exists());
}

/// A created container's init holds no descriptor the caller left open, nor
/// one of ward's state dir (runc's fd-leak check); `--preserve-fds` ones it
/// keeps.
#[test]
fn created_init_holds_no_stray_descriptors() {
    use std::os::fd::AsRawFd;
    use std::os::unix::process::CommandExt;
    let env = Env::new();
    let id = env.id("fdleak");
    let stray = std::fs::File::create(env.dir.path().join("stray")).unwrap();
    let kept = std::fs::File::create(env.dir.path().join("kept")).unwrap();
    let (s, k) = (stray.as_raw_fd(), kept.as_raw_fd());
    let b = env.bundle.to_str().unwrap().to_string();
    let mut cmd = env.cmd(&["create", "--preserve-fds", "1", "--bundle", &b, &id]);
    // fd 3 is passed on purpose, fd 9 is a leftover of the caller's.
    unsafe {
        cmd.pre_exec(move || {
            if libc::dup2(k, 3) < 0 || libc::dup2(s, 9) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    // Files, not pipes: the created init keeps ward's stdio.
    let err = env.dir.path().join("create-err");
    let st = cmd
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&err).unwrap())
        .status()
        .unwrap();
    assert!(st.success(), "{}", std::fs::read_to_string(&err).unwrap());
    let pid = env.pid(&id);
    let mut targets = Vec::new();
    for e in std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .flatten()
    {
        let t = std::fs::read_link(e.path()).unwrap_or_default();
        targets.push((e.file_name().to_string_lossy().to_string(), t));
    }
    let dir = env.dir.path();
    for (fd, t) in &targets {
        assert!(
            !t.ends_with("stray") && !t.starts_with(env.root.as_path()),
            "fd {fd} -> {} in {targets:?}",
            t.display()
        );
        // 0-2 are the container's stdio (ward's own, here files in dir).
        if fd.parse::<i32>().unwrap_or(0) > 2 && t.starts_with(dir) {
            assert!(t.ends_with("kept"), "fd {fd} -> {}", t.display());
        }
    }
    assert!(
        targets.iter().any(|(_, t)| t.ends_with("kept")),
        "{targets:?}"
    );
    env.ok(&["delete", "--force", &id]);
    env.assert_gone(&id);
}

/// A foreground `run` with a terminal whose create re-executes ward from its
/// sealed copy (host ids) leaves no console socket directory behind.
#[test]
fn served_pty_leaves_no_socket_dir_after_reexec() {
    let env = Env::new();
    env.annotate("run.ward.userns", "host");
    env.edit(|c| c["process"]["terminal"] = true.into());
    env.args(&["echo", "hi"]);
    let tmp = env.dir.path().join("tmp");
    std::fs::create_dir_all(&tmp).unwrap();
    let id = env.id("ptyreexec");
    let out_file = env.dir.path().join("pty-out");
    let st = env
        .cmd(&["run", "--bundle", env.bundle.to_str().unwrap(), &id])
        .env("TMPDIR", &tmp)
        .stdout(std::fs::File::create(&out_file).unwrap())
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(st.success());
    // Through the pty, with no "\r" added.
    assert_eq!(std::fs::read_to_string(&out_file).unwrap(), "hi\n");
    let left: Vec<_> = std::fs::read_dir(&tmp)
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert!(left.is_empty(), "left in TMPDIR: {left:?}");
}

/// Two state roots, one container ID, ward's default cgroup path: the second
/// root's refused create and its `delete --force` leave the first root's
/// container running (they used to kill everything in /ward/ID), and leave
/// its id range and id-mapped rootfs claimed (they freed them by the ID).
#[test]
fn another_roots_same_id_cannot_kill_a_container() {
    let a = Env::new();
    let b = Env::new();
    let id = a.id("sameid");
    a.start(&id);
    let pid = a.pid(&id);
    // a's id range: its slot in the host-wide pool, claimed under a's
    // state root, not the bare ID.
    let config: serde_json::Value = serde_json::from_slice(
        &std::fs::read(a.root.join("@ward").join(&id).join("config.json")).unwrap(),
    )
    .unwrap();
    let n = config["wardPolicy"]["userns"]["ward"]["range"]["slot"]
        .as_u64()
        .expect("a's id range");
    let slot = Path::new("/run/ward-ranges").join(n.to_string());
    let owner = std::fs::read_link(&slot).expect("a's slot is claimed");
    let out = b.ward(&["create", "--bundle", b.bundle.to_str().unwrap(), &id]);
    assert_fails(&out, "container's cgroup is not empty");
    b.ok(&["delete", "--force", &id]);
    b.ok(&["delete", "--force", "never-created"]);
    assert!(Path::new(&format!("/proc/{pid}")).exists());
    assert_eq!(a.status(&id), "running");
    // b's failed create and its delete left a's range and rootfs alone (they
    // freed it, and the next create cleared the slot's mounts under a).
    assert_eq!(std::fs::read_link(&slot).ok(), Some(owner));
    assert!(Path::new(&format!("/proc/{pid}/root/bin/busybox")).exists());
    assert!(a.exec(&id, &["ls", "/bin/busybox"]).status.success());
    a.ok(&["delete", "--force", &id]);
    a.assert_gone(&id);
}

/// `exec --cgroup`: the process runs in an existing sub-cgroup of the
/// container's, per v1 controller (`memory:sub`) or in every hierarchy
/// (`sub`); a path leaving the container's cgroup, a missing sub-cgroup and
/// an unknown controller are refused in runc's words. Without --cgroup (or
/// with `/`) the exec is in the container's cgroup in every hierarchy, the
/// named name=systemd one included, as runc. delete removes sub-cgroups.
#[test]
fn exec_joins_sub_cgroups() {
    let (Some(memory), Some(pids)) = (v1_controller("memory"), v1_controller("pids")) else {
        eprintln!("no v1 memory/pids hierarchy: skipped");
        return;
    };
    let tree = cgroup_top("execcg");
    let env = Env::new();
    let (path, id) = cgroup_path(&env, &tree, "execcg");
    env.edit(|c| c["linux"]["cgroupsPath"] = path.clone().into());
    env.start(&id);
    std::fs::create_dir(format!("{memory}{path}/submem")).unwrap();
    std::fs::create_dir(format!("{pids}{path}/subpids")).unwrap();
    let cg = |extra: &[&str]| {
        let mut a = vec!["exec"];
        a.extend_from_slice(extra);
        a.extend_from_slice(&[&id, "cat", "/proc/self/cgroup"]);
        env.ward(&a)
    };
    assert_fails(&cg(&["--cgroup", ".."]), "bad sub cgroup path");
    let out = cg(&["--cgroup", "nonexistent"]);
    assert_fails(&out, "adding pid ");
    assert!(
        stderr(&out).contains("No such file or directory"),
        "{}",
        stderr(&out)
    );
    assert_fails(&cg(&["--cgroup", "cpu:nonexistent"]), "adding pid ");
    assert_fails(&cg(&["--cgroup", "whaaat:/"]), "unknown controller ");
    // Each v1 line (and name=systemd's) names the container's cgroup.
    for extra in [&[][..], &["--cgroup", "/"][..]] {
        let out = cg(extra);
        assert!(out.status.success(), "{}", stderr(&out));
        let text = stdout(&out);
        for l in text.lines().filter(|l| !l.starts_with("0::")) {
            assert!(l.ends_with(&format!(":{path}")), "{extra:?}: {text}");
        }
    }
    let out = cg(&["--cgroup", "memory:submem", "--cgroup", "pids:subpids"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains(&format!(":memory:{path}/submem\n")), "{text}");
    assert!(text.contains(&format!(":pids:{path}/subpids\n")), "{text}");
    assert!(text.contains(&format!(":devices:{path}\n")), "{text}");
    // Seen from outside: a detached exec's pid is in the sub-cgroup.
    let pidfile = env.dir.path().join("exec.pid");
    env.ok(&[
        "exec",
        "-d",
        "--cgroup",
        "pids:subpids",
        "--pid-file",
        pidfile.to_str().unwrap(),
        &id,
        "sleep",
        "1000",
    ]);
    let pid = read(&pidfile);
    assert_eq!(read(format!("{pids}{path}/subpids/cgroup.procs")), pid);
    env.ok(&["delete", "--force", &id]);
    assert!(!Path::new(&format!("{pids}{path}")).exists());
    // Killed: gone, or a zombie until its (reparented) parent reaps it.
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    assert!(stat.is_empty() || stat.contains(") Z "), "{stat}");
    assert!(!Path::new(&format!("/sys/fs/cgroup/systemd{path}")).exists());
}

/// A container joining another's user namespace and a network namespace that
/// user namespace does not own (made on the host) starts, in both (runc
/// #4390: the netns is joined before the userns, while still privileged).
#[test]
fn joins_external_userns_and_a_netns_it_does_not_own() {
    let owner = Env::new();
    owner.annotate("run.ward.userns", "host");
    owner.own_userns(65536);
    let a = owner.id("usernsowner");
    owner.start(&a);
    let userns = format!("/proc/{}/ns/user", owner.pid(&a));
    // A network namespace owned by the host's user namespace.
    let mut holder = std::process::Command::new("unshare")
        .args(["--net", "sleep", "1000"])
        .spawn()
        .unwrap();
    let netns = format!("/proc/{}/ns/net", holder.id());
    let deadline = Instant::now() + Duration::from_secs(5);
    let host_net = std::fs::read_link("/proc/self/ns/net").unwrap();
    while std::fs::read_link(&netns).ok().as_ref() == Some(&host_net) {
        assert!(Instant::now() < deadline, "unshare --net did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    let env = Env::new();
    env.annotate("run.ward.userns", "host");
    let (u, n) = (userns.clone(), netns.clone());
    env.edit(|c| {
        let ns = c["linux"]["namespaces"].as_array_mut().unwrap();
        ns.retain(|x| x["type"] != "network" && x["type"] != "user");
        ns.push(json!({"type": "user", "path": u}));
        ns.push(json!({"type": "network", "path": n}));
        // No sysfs of its own without rights in the netns: the host's, bound.
        for m in c["mounts"].as_array_mut().unwrap() {
            if m["type"] == "sysfs" {
                *m = json!({"source": "/sys", "destination": m["destination"].clone(),
                            "type": "bind", "options": ["rbind", "ro"]});
            }
        }
    });
    let id = env.id("wrongowner");
    let out = env.ward(&["run", "-d", "--bundle", env.bundle.to_str().unwrap(), &id]);
    let result = (|| {
        if !out.status.success() {
            return Err(format!("run: {}", stderr(&out)));
        }
        let pid = env.pid(&id);
        for (kind, want) in [("user", &userns), ("net", &netns)] {
            let got = std::fs::read_link(format!("/proc/{pid}/ns/{kind}")).unwrap();
            let want = std::fs::read_link(want).unwrap();
            if got != want {
                return Err(format!("{kind}: {got:?} != {want:?}"));
            }
        }
        Ok(())
    })();
    let _ = holder.kill();
    let _ = holder.wait();
    result.unwrap();
}
