//! Lifecycle through the runc-compatible CLI, on real busybox containers.

mod common;
use common::*;

#[test]
fn create_start_kill_delete_with_state_fields() {
    let env = Env::new();
    let id = env.id("life");
    let pidfile = env.dir.path().join("init.pid");
    env.ok(&[
        "create",
        "--bundle",
        env.bundle.to_str().unwrap(),
        "--pid-file",
        pidfile.to_str().unwrap(),
        &id,
    ]);
    let st = env.state(&id);
    assert_eq!(st["status"], "created");
    assert_eq!(st["id"], id.as_str());
    assert!(st["ociVersion"].as_str().unwrap().starts_with("1."));
    assert_eq!(
        st["bundle"],
        env.bundle.canonicalize().unwrap().to_str().unwrap()
    );
    assert!(st["rootfs"].as_str().unwrap().ends_with("rootfs"));
    assert!(!st["created"].as_str().unwrap().is_empty());
    let pid = st["pid"].as_i64().unwrap() as i32;
    assert!(pid > 0);
    let filepid: i32 = std::fs::read_to_string(&pidfile)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert_eq!(filepid, pid);
    // Not yet started: the workload has not exec'd, so comm is not sleep.
    assert_ne!(
        std::fs::read_to_string(format!("/proc/{pid}/comm"))
            .unwrap()
            .trim(),
        "sleep"
    );

    env.ok(&["start", &id]);
    assert_eq!(env.status(&id), "running");
    assert_eq!(
        std::fs::read_to_string(format!("/proc/{pid}/comm"))
            .unwrap()
            .trim(),
        "sleep"
    );

    // start twice is an error
    let out = env.ward(&["start", &id]);
    assert_fails(&out, "running");

    env.ok(&["kill", &id, "KILL"]);
    env.wait_status(&id, "stopped");
    assert_eq!(env.state(&id)["pid"], 0);
    env.ok(&["delete", &id]);
    let out = env.ward(&["state", &id]);
    assert_fails(&out, "does not exist");
    env.assert_gone(&id);
}

#[test]
fn run_returns_exit_status() {
    let env = Env::new();
    env.args(&["sh", "-c", "echo hello; exit 7"]);
    let id = env.id("runexit");
    let out = env.run(&id);
    assert_eq!(out.status.code(), Some(7), "{}", stderr(&out));
    assert_eq!(stdout(&out), "hello\n");
    env.assert_gone(&id);
    // the root's last container took ward's per-root dir with it
    assert!(!env.root.join("@ward").exists());

    // killed from outside: 128 + signal
    env.args(&["sleep", "1000"]);
    let id = env.id("runsig");
    let dir = env.dir.path().to_path_buf();
    let mut child = env
        .cmd(&["run", "--bundle", env.bundle.to_str().unwrap(), &id])
        .stdout(std::fs::File::create(dir.join("runsig.out")).unwrap())
        .stderr(std::fs::File::create(dir.join("runsig.err")).unwrap())
        .spawn()
        .unwrap();
    let t = std::time::Instant::now();
    while env.ward(&["state", &id]).status.code() != Some(0) || env.status(&id) != "running" {
        assert!(t.elapsed().as_secs() < 10, "run did not start");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    env.ok(&["kill", &id, "KILL"]);
    assert_eq!(child.wait().unwrap().code(), Some(137));
    env.assert_gone(&id);
}

#[test]
fn run_detached_and_keep() {
    let env = Env::new();
    let id = env.id("rund");
    env.ok(&["run", "-d", "--bundle", env.bundle.to_str().unwrap(), &id]);
    assert_eq!(env.status(&id), "running");
    env.ok(&["delete", "--force", &id]);
    env.assert_gone(&id);

    env.args(&["true"]);
    let id = env.id("keep");
    env.run_kept(&id);
    assert_eq!(env.status(&id), "stopped");
    env.ok(&["delete", &id]);
}

#[test]
fn kill_accepts_names_numbers_and_rt_signals() {
    let env = Env::new();
    // pid 1 of a pid namespace ignores signals it has no handler for (except
    // KILL), so the workload traps the others and exits on them.
    env.args(&[
        "sh",
        "-c",
        "trap 'exit 0' TERM USR1 37 64; while true; do sleep 0.05; done",
    ]);
    for sig in [
        "9", "KILL", "SIGKILL", "sigterm", "15", "USR1", "37", "RTMIN+3", "SIGRTMAX",
    ] {
        let id = env.id("kill");
        env.start(&id);
        let pid = env.pid(&id);
        let t = std::time::Instant::now();
        // The shell catches signals of its own before the trap line runs:
        // wait for the last trapped one (64, the mask's top bit).
        let trapped =
            || u64::from_str_radix(&proc_status(pid, "SigCgt"), 16).unwrap_or(0) >> 63 == 1;
        while !trapped() && t.elapsed().as_secs() < 10 {
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        env.ok(&["kill", &id, sig]);
        env.wait_status(&id, "stopped");
        env.ok(&["delete", &id]);
    }
    env.args(&["sleep", "1000"]);
    // The default is SIGTERM; sleep as pid 1 ignores it without a handler,
    // so the container must keep running.
    let id = env.id("killdef");
    env.start(&id);
    env.ok(&["kill", &id]);
    std::thread::sleep(std::time::Duration::from_millis(200));
    assert_eq!(env.status(&id), "running");
    let out = env.ward(&["kill", &id, "SIGNOPE"]);
    assert_fails(&out, "unknown signal");
    env.ok(&["delete", "-f", &id]);
    // kill of a stopped container: "container not running"
    env.args(&["true"]);
    let id = env.id("killstop");
    env.run_kept(&id);
    let out = env.ward(&["kill", &id, "9"]);
    assert_fails(&out, "container not running");
}

#[test]
fn kill_all_reaches_every_process() {
    let env = Env::new();
    env.args(&["sh", "-c", "trap '' TERM; sleep 1000 & sleep 1000 & wait"]);
    let id = env.id("killall");
    env.start(&id);
    let t = std::time::Instant::now();
    while pids(&env, &id).len() < 3 && t.elapsed().as_secs() < 5 {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let before = pids(&env, &id);
    assert_eq!(before.len(), 3, "{before:?}");
    env.ok(&["kill", "--all", &id, "KILL"]);
    env.wait_status(&id, "stopped");
    for p in before {
        let st = proc_status(p as i32, "State");
        assert!(
            st.is_empty() || st.starts_with('Z'),
            "pid {p} still alive: {st}"
        );
    }
}

fn pids(env: &Env, id: &str) -> Vec<i64> {
    let v: serde_json::Value =
        serde_json::from_str(&env.ok(&["ps", "--format", "json", id])).unwrap();
    v.as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_i64().unwrap())
        .collect()
}

#[test]
fn delete_in_every_state() {
    let env = Env::new();
    // created: delete works (kills init), as runc does
    let id = env.id("delcreated");
    env.create(&id);
    let pid = env.pid(&id);
    env.ok(&["delete", &id]);
    env.assert_gone(&id);
    std::thread::sleep(std::time::Duration::from_millis(50));
    let st = proc_status(pid, "State");
    assert!(st.is_empty() || st.starts_with('Z'), "{st}");
    // running: refused without --force
    let id = env.id("delrunning");
    env.start(&id);
    let out = env.ward(&["delete", &id]);
    assert_fails(&out, "--force");
    assert_eq!(env.status(&id), "running");
    env.ok(&["delete", "--force", &id]);
    env.assert_gone(&id);
    // stopped
    let id = env.id("delstopped");
    env.start(&id);
    env.ok(&["kill", &id, "9"]);
    env.wait_status(&id, "stopped");
    env.ok(&["delete", &id]);
    env.assert_gone(&id);
    // missing
    let out = env.ward(&["delete", "nonexistent-xyz"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("does not exist"));
    env.ok(&["delete", "--force", "nonexistent-xyz"]);
}

#[test]
fn list_and_ps_formats() {
    let env = Env::new();
    let a = env.id("lista");
    let b = env.id("listb");
    env.start(&a);
    env.create(&b);
    let q = env.ok(&["list", "-q"]);
    let mut ids: Vec<&str> = q.lines().collect();
    ids.sort();
    let mut want = vec![a.as_str(), b.as_str()];
    want.sort();
    assert_eq!(ids, want);
    let table = env.ok(&["list"]);
    let header = table.lines().next().unwrap();
    assert!(
        header.starts_with("ID")
            && header.contains("PID")
            && header.contains("STATUS")
            && header.contains("BUNDLE")
    );
    assert!(table
        .lines()
        .any(|l| l.starts_with(&a) && l.contains("running")));
    assert!(table
        .lines()
        .any(|l| l.starts_with(&b) && l.contains("created")));
    let json: serde_json::Value =
        serde_json::from_str(&env.ok(&["list", "--format", "json"])).unwrap();
    let arr = json.as_array().unwrap();
    assert_eq!(arr.len(), 2);
    assert!(arr
        .iter()
        .any(|c| c["id"] == a.as_str() && c["status"] == "running"));

    let pid = env.pid(&a);
    let ps: serde_json::Value = serde_json::from_str(&env.ok(&["ps", "-f", "json", &a])).unwrap();
    assert_eq!(ps, serde_json::json!([pid]));
    let table = env.ok(&["ps", &a]);
    assert!(table.lines().next().unwrap().contains("PID"));
    assert!(
        table.lines().skip(1).any(|l| l.contains("sleep 1000")),
        "{table}"
    );
    let custom = env.ok(&["ps", &a, "-e", "-o", "pid,comm"]);
    assert!(custom.contains("sleep"), "{custom}");
}

/// `start` returns once the init is released, before its execve (as runc).
/// An exec in that window must still join: it failed with EACCES (seen in CI
/// under load) while ward opened the init's /proc/PID/ns files after switching
/// to the container's root, and the init, not yet exec'd, was not dumpable.
/// A `kill` in that window waits for the execve: the init of a pid namespace
/// ignores a signal it has no handler for, so a signal sent to ward's code
/// there would be lost (runtime-tools' killsig).
#[test]
fn exec_and_kill_in_the_window_before_the_inits_execve() {
    let env = Env::new();
    env.args(&["sleep", "30"]);
    let id = env.id("early-exec");
    // The init sleeps 4 s between its release by `start` and its execve (2 s
    // was not enough for `start` and `state` under TCG on a loaded host; kill
    // waits at most 5 s for the execve).
    let status = env
        .cmd(&["create", "--bundle", env.bundle.to_str().unwrap(), &id])
        .env("WARD_TEST_DELAY_AT", "executor:exec:4000")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    env.ok(&["start", &id]);
    let pid = env.pid(&id);
    let comm = |p: i32| std::fs::read_to_string(format!("/proc/{p}/comm")).unwrap_or_default();
    assert_eq!(
        comm(pid).trim(),
        "youki:[2:INIT]",
        "the init must not have exec'd yet"
    );
    let out = env.exec(
        &id,
        &[
            "sh",
            "-c",
            "readlink /proc/self/ns/pid; readlink /proc/self/ns/user",
        ],
    );
    assert!(out.status.success(), "exec failed: {}", stderr(&out));
    let ns = |t: &str| std::fs::read_link(format!("/proc/{pid}/ns/{t}")).unwrap();
    assert_eq!(
        stdout(&out),
        format!("{}\n{}\n", ns("pid").display(), ns("user").display())
    );
    if comm(pid).trim() == "youki:[2:INIT]" {
        // Still in the window: kill returns only after the execve.
        env.ok(&["kill", &id, "SIGCONT"]);
        assert_eq!(
            comm(pid).trim(),
            "sleep",
            "kill did not wait for the execve"
        );
    }
}

#[test]
fn exec_args_env_cwd_user_and_process_file() {
    let env = Env::new();
    let id = env.id("exec");
    env.start(&id);
    let out = env.exec(&id, &["sh", "-c", "echo $FOO; pwd; id -u; id -g; exit 3"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert_eq!(stdout(&out), "\n/\n0\n0\n");
    let out = env.ward(&[
        "exec",
        "--env",
        "FOO=bar",
        "--cwd",
        "/tmp",
        "--user",
        "1000:1001",
        &id,
        "sh",
        "-c",
        "echo $FOO; pwd; id -u; id -g",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "bar\n/tmp\n1000\n1001\n");

    let proc_json = env.dir.path().join("process.json");
    std::fs::write(
        &proc_json,
        serde_json::json!({
            "terminal": false, "user": {"uid": 0, "gid": 0}, "args": ["sh", "-c", "echo from-process-file; echo $X"],
            "env": ["PATH=/bin", "X=y"], "cwd": "/"
        })
        .to_string(),
    )
    .unwrap();
    let out = env.ward(&["exec", "--process", proc_json.to_str().unwrap(), &id]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "from-process-file\ny\n");

    // detached exec with a pid file
    let pidfile = env.dir.path().join("exec.pid");
    env.ok(&[
        "exec",
        "-d",
        "--pid-file",
        pidfile.to_str().unwrap(),
        &id,
        "sleep",
        "500",
    ]);
    let p: i32 = std::fs::read_to_string(&pidfile)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert_eq!(
        std::fs::read_to_string(format!("/proc/{p}/comm"))
            .unwrap()
            .trim(),
        "sleep"
    );
    let all = pids(&env, &id);
    assert!(all.contains(&(p as i64)), "{all:?}");

    // exec into a stopped container
    env.ok(&["kill", &id, "9"]);
    env.wait_status(&id, "stopped");
    let out = env.exec(&id, &["true"]);
    assert_fails(&out, "container not running");
}

#[test]
fn pause_and_resume_freeze_the_processes() {
    let env = Env::new();
    let host = env.bind_dir("counter", "/counter");
    env.args(&[
        "sh",
        "-c",
        "i=0; while true; do i=$((i+1)); echo $i > /counter/n; sleep 0.05; done",
    ]);
    let id = env.id("pause");
    env.start(&id);
    let read = || {
        std::fs::read_to_string(host.join("n"))
            .unwrap_or_default()
            .trim()
            .parse::<u64>()
            .unwrap_or(0)
    };
    let t = std::time::Instant::now();
    while read() == 0 && t.elapsed() < std::time::Duration::from_secs(5) {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(read() > 0, "counter never started");
    env.ok(&["pause", &id]);
    assert_eq!(env.status(&id), "paused");
    std::thread::sleep(std::time::Duration::from_millis(100));
    let frozen = read();
    std::thread::sleep(std::time::Duration::from_millis(400));
    assert_eq!(read(), frozen, "counter moved while paused");
    let out = env.ward(&["pause", &id]);
    assert!(!out.status.success());
    env.ok(&["resume", &id]);
    assert_eq!(env.status(&id), "running");
    // Polled: the shell truncates the file before each write, so a single read
    // can see it empty, and a loaded CI machine may be slow to schedule it.
    let t = std::time::Instant::now();
    while read() <= frozen && t.elapsed() < std::time::Duration::from_secs(5) {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(read() > frozen, "counter did not move after resume");
    // SIGKILL of a paused container still kills it
    env.ok(&["pause", &id]);
    env.ok(&["kill", &id, "KILL"]);
    env.wait_status(&id, "stopped");
}

#[test]
fn events_stats_and_update() {
    let env = Env::new();
    let id = env.id("stats");
    env.start(&id);
    let out = env.ok(&["events", "--stats", &id]);
    let ev: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(ev["type"], "stats");
    assert_eq!(ev["id"], id.as_str());
    assert!(ev["data"]["pids"]["current"].as_u64().unwrap() >= 1, "{ev}");

    let pid = env.pid(&id);
    let cg = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    let pids_path = cg
        .lines()
        .find_map(|l| {
            let parts: Vec<&str> = l.splitn(3, ':').collect();
            (parts[1].split(',').any(|c| c == "pids")).then(|| parts[2].to_string())
        })
        .map(|p| format!("/sys/fs/cgroup/pids{p}/pids.max"))
        .unwrap_or_else(|| {
            let p = cg
                .lines()
                .find_map(|l| l.strip_prefix("0::"))
                .unwrap()
                .to_string();
            format!("/sys/fs/cgroup{p}/pids.max")
        });
    // ward's default pids limit
    assert_eq!(std::fs::read_to_string(&pids_path).unwrap().trim(), "1024");
    env.ok(&["update", "--pids-limit", "50", &id]);
    assert_eq!(std::fs::read_to_string(&pids_path).unwrap().trim(), "50");
    let res = env.dir.path().join("res.json");
    std::fs::write(&res, r#"{"pids":{"limit":77}}"#).unwrap();
    env.ok(&["update", "-r", res.to_str().unwrap(), &id]);
    assert_eq!(std::fs::read_to_string(&pids_path).unwrap().trim(), "77");
    let mem_path = pids_path
        .replace("/pids/", "/memory/")
        .replace("pids.max", "memory.limit_in_bytes");
    if std::path::Path::new(&mem_path).exists() {
        env.ok(&["update", "--memory", "64m", &id]);
        assert_eq!(
            std::fs::read_to_string(&mem_path).unwrap().trim(),
            (64u64 << 20).to_string()
        );
    }
    let out = env.ward(&["events", "--interval", "soon", &id]);
    assert!(!out.status.success());
}

#[test]
fn spec_features_and_version() {
    let env = Env::new();
    let v = env.ok(&["--version"]);
    assert!(v.contains("ward version") && v.contains("spec: 1."), "{v}");
    let f: serde_json::Value = serde_json::from_str(&env.ok(&["features"])).unwrap();
    assert!(f["ociVersionMax"].as_str().unwrap().starts_with("1."));
    assert!(f["linux"]["namespaces"]
        .as_array()
        .unwrap()
        .iter()
        .any(|n| n == "user"));
    let d = env.dir.path().join("specdir");
    std::fs::create_dir_all(&d).unwrap();
    env.ok(&["spec", "--bundle", d.to_str().unwrap()]);
    let c: serde_json::Value =
        serde_json::from_slice(&std::fs::read(d.join("config.json")).unwrap()).unwrap();
    assert_eq!(c["root"]["path"], "rootfs");
    // a second spec refuses to overwrite
    assert!(!env
        .ward(&["spec", "--bundle", d.to_str().unwrap()])
        .status
        .success());
    let r = env.dir.path().join("rootless");
    std::fs::create_dir_all(&r).unwrap();
    env.ok(&["spec", "--rootless", "--bundle", r.to_str().unwrap()]);
    let c: serde_json::Value =
        serde_json::from_slice(&std::fs::read(r.join("config.json")).unwrap()).unwrap();
    assert!(c["linux"]["uidMappings"].is_array());
}

#[test]
fn json_log_gets_the_error_line() {
    let env = Env::new();
    let log = env.dir.path().join("log.json");
    let out = env.ward(&[
        "--log",
        log.to_str().unwrap(),
        "--log-format",
        "json",
        "state",
        "no-such-ctr",
    ]);
    assert!(!out.status.success());
    let text = std::fs::read_to_string(&log).unwrap();
    let last: serde_json::Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
    assert_eq!(last["level"], "error");
    assert!(last["msg"].as_str().unwrap().contains("does not exist"));
    assert!(last["time"].as_str().unwrap().contains('T'));
}

/// A cgroup path is the container's: ward's cgroupfs default `/ward/ID`, or
/// the systemd driver's `ward-ID.scope`.
fn in_container_cgroup(path: &str, id: &str) -> bool {
    path.ends_with(&format!("/{id}")) || path.ends_with(&format!("/ward-{id}.scope"))
}

/// The container's own cgroup entries of /proc/PID/cgroup (controller list and
/// path), leaving out named hierarchies and an unused v2 line of a hybrid host.
fn container_cgroups(pid: i32) -> Vec<String> {
    std::fs::read_to_string(format!("/proc/{pid}/cgroup"))
        .unwrap()
        .lines()
        .filter_map(|l| l.split_once(':').map(|(_, rest)| rest.to_string()))
        .filter(|rest| !rest.starts_with("name=") && rest != ":/")
        .collect()
}

#[test]
fn init_and_exec_join_every_cgroup_of_the_container() {
    // ward's child joins the cgroups through the v1 `tasks` file (fast path,
    // vendor/libcgroups/WARD-PATCH.md): the init it clones afterwards, and an
    // exec'd process, must be in the container's cgroup in every hierarchy.
    let env = Env::new();
    let id = env.id("cgjoin");
    env.start(&id);
    let pid = env.pid(&id);
    let init = container_cgroups(pid);
    assert!(!init.is_empty(), "no cgroups for {pid}");
    for entry in &init {
        assert!(
            in_container_cgroup(entry, &id),
            "init not in the container's cgroup: {entry}"
        );
    }
    let pidfile = env.dir.path().join("exec.pid");
    env.ok(&[
        "exec",
        "-d",
        "--pid-file",
        pidfile.to_str().unwrap(),
        &id,
        "sleep",
        "100",
    ]);
    let exec_pid: i32 = std::fs::read_to_string(&pidfile)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert_eq!(container_cgroups(exec_pid), init, "exec'd process");
    // And the kernel lists both as members of the container's cgroup.
    let (ctrl, path) = init[0].split_once(':').unwrap();
    let first = ctrl.split(',').next().unwrap();
    let dir = if first.is_empty() {
        format!("/sys/fs/cgroup{path}")
    } else {
        let mount = [
            "/sys/fs/cgroup/".to_string() + ctrl,
            "/sys/fs/cgroup/".to_string() + first,
        ]
        .into_iter()
        .find(|m| std::path::Path::new(m).is_dir())
        .unwrap();
        format!("{mount}{path}")
    };
    let procs = std::fs::read_to_string(format!("{dir}/cgroup.procs")).unwrap();
    let procs: Vec<&str> = procs.lines().collect();
    assert!(
        procs.contains(&pid.to_string().as_str()),
        "{dir}: {procs:?}"
    );
    assert!(
        procs.contains(&exec_pid.to_string().as_str()),
        "{dir}: {procs:?}"
    );
}

/// The container's cgroup directories with their hierarchy's root, from
/// /proc/PID/cgroup.
fn cgroup_dirs(pid: i32, id: &str) -> Vec<(std::path::PathBuf, std::path::PathBuf)> {
    let hybrid = std::path::Path::new("/sys/fs/cgroup/unified").is_dir();
    std::fs::read_to_string(format!("/proc/{pid}/cgroup"))
        .unwrap()
        .lines()
        .filter_map(|l| {
            let mut f = l.splitn(3, ':');
            let (_, ctrl, path) = (f.next()?, f.next()?, f.next()?);
            if !in_container_cgroup(path, id) {
                return None;
            }
            let mount = match ctrl {
                "" if hybrid => "/sys/fs/cgroup/unified".to_string(),
                "" => "/sys/fs/cgroup".to_string(),
                c => format!("/sys/fs/cgroup/{}", c.trim_start_matches("name=")),
            };
            let dir = std::path::PathBuf::from(format!("{mount}{path}"));
            Some((std::path::PathBuf::from(mount), dir))
        })
        .collect()
}

#[test]
fn kill_all_ps_and_delete_when_the_cgroup_is_gone() {
    // With the systemd driver, systemd removes a container's scope once it is
    // empty, and containerd still calls `kill --all ID 9` and `ps` after the
    // init exited. A cgroup that is gone holds no processes (runc, crun).
    let env = Env::new();
    let id = env.id("cggone");
    env.start(&id);
    let pid = env.pid(&id);
    let dirs = cgroup_dirs(pid, &id);
    assert!(!dirs.is_empty(), "no cgroup dirs for {pid}");
    // Move the init out to each hierarchy's root, then remove the cgroups.
    for (root, _) in &dirs {
        std::fs::write(root.join("cgroup.procs"), pid.to_string())
            .unwrap_or_else(|e| panic!("moving {pid} to {}: {e}", root.display()));
    }
    // (systemd removes an emptied scope by itself, as it does on a node)
    for (_, d) in &dirs {
        match std::fs::remove_dir(d) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                panic!("removing {}: {e}", d.display())
            }
            _ => {}
        }
    }
    for (_, d) in &dirs {
        let t = std::time::Instant::now();
        while d.exists() && t.elapsed().as_secs() < 10 {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        assert!(!d.exists(), "{} still there", d.display());
    }
    // A live container whose cgroup is gone: no processes to list or signal.
    assert_eq!(pids(&env, &id), Vec::<i64>::new());
    env.ok(&["ps", &id]);
    env.ok(&["kill", "--all", &id, "9"]);
    // The init is still alive (it left the cgroup): kill it directly, then the
    // calls containerd makes after an exit must still succeed.
    env.ok(&["kill", &id, "9"]);
    env.wait_status(&id, "stopped");
    env.ok(&["kill", "--all", &id, "9"]);
    env.ok(&["ps", &id]);
    env.ok(&["delete", &id]);
    env.assert_gone(&id);
}
