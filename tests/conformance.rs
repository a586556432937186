//! runtime-spec behaviours the OCI validation suite and runc's tests check
//! from outside, under ward.

mod common;
use common::*;
use serde_json::json;

/// A nested cgroupsPath whose parents do not exist yet, with cpuset limits:
/// each new v1 cpuset level gets its parent's cpus and mems first.
#[test]
fn nested_cgroup_path_with_cpuset_limits() {
    if !std::path::Path::new("/sys/fs/cgroup/cpuset/cpuset.cpus").exists() {
        skip(
            "nested_cgroup_path_with_cpuset_limits",
            "no v1 cpuset hierarchy (the v1 parent cpus/mems inheritance it checks)",
        );
        return;
    }
    // Dropped after env (which deletes the container): declared first.
    let top = format!("wardtest-{}", std::process::id());
    let _tree = CgroupTree(top.clone());
    let env = Env::new();
    let id = env.id("cpuset");
    let path = format!("/{top}/a/b/{id}");
    env.edit(|c| {
        c["linux"]["cgroupsPath"] = path.clone().into();
        c["linux"]["resources"]["cpu"] = json!({"cpus": "0", "mems": "0"});
    });
    env.args(&[
        "sh",
        "-c",
        "grep -c . /proc/self/status >/dev/null; sleep 100",
    ]);
    env.create(&id);
    let cpus = std::fs::read_to_string(format!("/sys/fs/cgroup/cpuset{path}/cpuset.cpus")).unwrap();
    assert_eq!(cpus.trim(), "0");
    let pid = env.pid(&id);
    let allowed = proc_status(pid, "Cpus_allowed_list");
    assert_eq!(allowed.trim(), "0", "init's affinity follows the cpuset");
    env.ok(&["delete", "--force", &id]);
    env.assert_gone(&id);
}

/// `ward features | head` and the like: a command that only prints dies of
/// SIGPIPE on a closed pipe, as runc does, instead of panicking.
#[test]
fn printing_into_a_closed_pipe_is_quiet() {
    use std::os::unix::process::ExitStatusExt;
    let (r, w) = nix::unistd::pipe().unwrap();
    drop(r);
    let out = std::process::Command::new(WARD)
        .arg("features")
        .stdout(std::process::Stdio::from(w))
        .stderr(std::process::Stdio::piped())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(
        out.status.signal(),
        Some(libc::SIGPIPE),
        "{:?} {err}",
        out.status
    );
}

/// runc executes a process in a created (not yet started) container; `start`
/// then still runs the init's program.
#[test]
fn exec_into_a_created_container() {
    let env = Env::new();
    env.args(&["sh", "-c", "echo started > /tmp/s; sleep 100"]);
    let id = env.id("exec-created");
    env.create(&id);
    let out = env.exec(&id, &["sh", "-c", "echo hello; cat /proc/1/comm"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let o = stdout(&out);
    assert!(o.starts_with("hello\n"), "{o}");
    assert_eq!(env.status(&id), "created");
    env.ok(&["start", &id]);
    env.wait_status(&id, "running");
    env.ok(&["delete", "--force", &id]);
    env.assert_gone(&id);
}

/// runtime-tools' killsig: `kill TERM` right after `start` reaches a shell
/// init that traps TERM, though the shell may not have run its `trap` yet
/// (the init of a pid namespace drops signals it has no handler for).
#[test]
fn kill_right_after_start_reaches_a_trapping_shell_init() {
    let env = Env::new();
    env.args(&["sh", "-c", "trap 'exit 0' TERM; sleep 30 & wait $!"]);
    for i in 0..4 {
        let id = env.id(&format!("killsig{i}"));
        env.start(&id);
        env.ok(&["kill", &id, "TERM"]);
        // The trap ends the container at once; a lost signal leaves it 30 s.
        env.wait_status(&id, "stopped");
        env.ok(&["delete", &id]);
        env.assert_gone(&id);
    }
}

/// runc ignores capability names it does not know, with a warning, where a
/// typed parse would refuse the whole config.
#[test]
fn unknown_capabilities_are_ignored_with_runcs_warning() {
    let env = Env::new();
    env.edit(|c| {
        c["process"]["capabilities"]["bounding"] =
            json!(["CAP_UNKNOWN", "UNKNOWN_CAP", "CAP_CHOWN"]);
    });
    env.args(&["sh", "-c", "grep CapBnd /proc/self/status"]);
    let id = env.id("unknown-caps");
    let log = env.dir.path().join("log");
    let bundle = env.bundle.to_str().unwrap().to_string();
    let out = env.ward(&[
        "--log",
        log.to_str().unwrap(),
        "run",
        "--bundle",
        &bundle,
        &id,
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let log = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(
        log.contains("ignoring unknown or unavailable capabilities: [CAP_UNKNOWN UNKNOWN_CAP]"),
        "{log}"
    );
    // CAP_CHOWN (bit 0) alone is left of the bounding set.
    assert!(
        stdout(&out).contains("CapBnd:\t0000000000000001"),
        "{}",
        stdout(&out)
    );
}

/// runtime-spec 1.3 `linux.memoryPolicy`: applied with set_mempolicy in the
/// init (and so in processes exec'd later), and bad values refused with
/// runc's messages.
#[test]
fn memory_policy_is_applied_and_checked_as_runc_does() {
    let env = Env::new();
    env.edit(|c| {
        c["linux"]["memoryPolicy"] = json!({"mode": "MPOL_INTERLEAVE", "nodes": "0"});
    });
    let out = run_sh(
        &env,
        "mpol",
        "head -n 1 /proc/self/numa_maps | cut -d ' ' -f 2",
    );
    assert_eq!(out.trim(), "interleave:0");

    env.edit(|c| {
        c["linux"]["memoryPolicy"] =
            json!({"mode": "MPOL_PREFERRED", "nodes": "0", "flags": ["MPOL_F_RELATIVE_NODES"]});
    });
    env.args(&["sleep", "100"]);
    let id = env.id("mpol-exec");
    env.start(&id);
    let out = env.exec(
        &id,
        &[
            "sh",
            "-c",
            "head -n 1 /proc/self/numa_maps | cut -d ' ' -f 2",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let o = stdout(&out);
    assert!(
        o.starts_with("prefer") && o.contains("relative") && o.trim_end().ends_with('0'),
        "{o}"
    );
    env.ok(&["delete", "--force", &id]);

    for (policy, want) in [
        (json!({}), "invalid memory policy mode"),
        (
            json!({"mode": "INTERLEAVE", "nodes": "0"}),
            "invalid memory policy mode",
        ),
        (
            json!({"mode": "MPOL_PREFERRED", "nodes": "0", "flags": ["MPOL_F_RELATIVE_NODES", "badflag"]}),
            "invalid memory policy flag",
        ),
        (
            json!({"mode": "MPOL_DEFAULT", "nodes": "0-7"}),
            "mode requires 0 nodes but got 8",
        ),
        (
            json!({"mode": "MPOL_BIND", "nodes": "0-9876543210"}),
            "invalid memory policy node",
        ),
    ] {
        env.edit(|c| c["linux"]["memoryPolicy"] = policy.clone());
        let id = env.id("mpol-bad");
        let out = env.run(&id);
        assert_fails(&out, want);
        assert_eq!(out.status.code(), Some(1));
        env.assert_gone(&id);
    }
}

/// runc's leniencies: a relative mount destination is taken from `/` (with a
/// warning), a namespace `path` of "" means a new namespace, and an `exec -p`
/// process.json without `user` runs as uid 0.
#[test]
fn runc_leniencies_in_config_and_process_json() {
    let env = Env::new();
    let host = env.bind_dir("shared", "/mnt/x");
    std::fs::write(host.join("f"), "from-host").unwrap();
    env.edit(|c| {
        for m in c["mounts"].as_array_mut().unwrap() {
            if m["destination"] == "/mnt/x" {
                m["destination"] = "mnt/x".into();
            }
        }
        for ns in c["linux"]["namespaces"].as_array_mut().unwrap() {
            if ns["type"] == "uts" {
                ns["path"] = "".into();
            }
        }
    });
    let id = env.id("lenient");
    env.create(&id);
    env.ok(&["start", &id]);
    let p = env.dir.path().join("process.json");
    std::fs::write(
        &p,
        r#"{"args": ["sh", "-c", "id -u; cat /mnt/x/f"], "cwd": "/"}"#,
    )
    .unwrap();
    let out = env.ward(&["exec", "-p", p.to_str().unwrap(), &id]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "0\nfrom-host");
    // The container's uts namespace is its own, not the host's.
    let pid = env.pid(&id);
    assert_ne!(
        std::fs::read_link(format!("/proc/{pid}/ns/uts")).unwrap(),
        std::fs::read_link("/proc/self/ns/uts").unwrap()
    );
    env.ok(&["delete", "--force", &id]);
    env.assert_gone(&id);
}

/// `linux.resources.memory.disableOOMKiller` reaches the cgroup (runtime-tools'
/// linux_cgroups_memory); libcontainer used to write "0" whatever the spec said.
#[test]
fn disable_oom_killer_is_applied() {
    let oom_control = std::path::Path::new("/sys/fs/cgroup/memory/memory.oom_control");
    if !oom_control.exists() {
        eprintln!("skipped: no cgroup v1 memory controller");
        return;
    }
    let env = Env::new();
    for disable in [true, false] {
        env.edit(|c| {
            c["linux"]["resources"]["memory"] =
                json!({"limit": 64 << 20, "disableOOMKiller": disable});
        });
        let id = env.id("oom");
        env.start(&id);
        let f = format!("/sys/fs/cgroup/memory/ward/{id}/memory.oom_control");
        let text = std::fs::read_to_string(&f).unwrap();
        let want = format!("oom_kill_disable {}", u8::from(disable));
        assert!(text.starts_with(&want), "{f}: {text}");
        env.ok(&["delete", "--force", &id]);
        env.assert_gone(&id);
    }
}

/// A spec that brings its own user namespace, over an image without /tmp
/// whose top directory the mapped root cannot write (runtime-tools'
/// linux_uid_mappings and linux_ns_nopath bundles): ward's defaults used to
/// fail create with "mkdirat tmp: Permission denied" while adding its /tmp.
/// The scratch mount is left out, said in the posture report, and `/` stays
/// read-only.
#[test]
fn spec_userns_over_an_image_without_tmp_runs_with_defaults() {
    let env = Env::new();
    let rootfs = env.bundle.join("rootfs");
    std::fs::remove_dir(rootfs.join("tmp")).unwrap();
    std::fs::remove_dir(rootfs.join("run")).unwrap();
    env.own_userns(1000);
    env.args(&[
        "sh",
        "-c",
        "cat /proc/self/uid_map; touch /x 2>&1 || echo ro; ls -d /tmp 2>&1; sleep 100",
    ]);
    let id = env.id("spec-userns-notmp");
    env.start(&id);
    let report = env.ok(&["inspect", &id]);
    assert!(report.contains("no scratch tmpfs at /tmp"), "{report}");
    env.ok(&["delete", "--force", &id]);
    env.assert_gone(&id);
    assert!(
        !rootfs.join("tmp").exists(),
        "ward created /tmp in the image"
    );

    let out = run_sh(
        &env,
        "spec-userns-notmp2",
        "cat /proc/self/uid_map; touch /x 2>&1 || echo ro",
    );
    assert!(out.contains("3000000000"), "{out}");
    assert!(out.trim_end().ends_with("ro"), "{out}");
}

/// A spec without a mount namespace (runc's host-mntns.bats, runtime-tools'
/// linux_ns_itype) would be run in the host's mount table: ward's defaults
/// refuse it, naming the relaxations; with them it runs as runc runs it, and
/// delete takes away the mounts create made on the host (runc leaves them).
#[test]
fn host_mount_namespace_is_refused_by_default_and_runs_relaxed() {
    let env = Env::new();
    env.edit(|c| {
        let ns = c["linux"]["namespaces"].as_array_mut().unwrap();
        ns.retain(|n| n["type"] != "mount");
        c["linux"]["maskedPaths"] = json!([]);
        c["linux"]["readonlyPaths"] = json!([]);
    });
    env.args(&["sh", "-c", "readlink /proc/self/ns/mnt"]);
    let id = env.id("hostmnt");
    let out = env.run(&id);
    assert_fails(&out, "no mount namespace");
    assert_fails(&out, "rootfs=writable, paths=spec, userns=host");
    env.assert_gone(&id);

    for (k, v) in [
        ("rootfs", "writable"),
        ("paths", "spec"),
        ("userns", "host"),
    ] {
        env.annotate(&format!("run.ward.{k}"), v);
    }
    let out = run_sh(&env, "hostmnt-relaxed", "readlink /proc/self/ns/mnt");
    let host = std::fs::read_link("/proc/self/ns/mnt").unwrap();
    assert_eq!(out.trim(), host.to_str().unwrap());
    let rootfs = env.bundle.join("rootfs");
    let left: Vec<String> = std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .filter(|l| l.contains(rootfs.to_str().unwrap()))
        .map(String::from)
        .collect();
    assert!(left.is_empty(), "mounts left on the host: {left:?}");
}

/// With `caps=spec`, the sets are exactly the spec's even where inheritable
/// holds caps outside permitted (runc sets them in one capset; libcontainer's
/// order used to fail with EPERM), and an ambient cap the kernel cannot raise
/// is skipped, as runc skips it with a warning, instead of failing the start.
#[test]
fn capability_sets_as_runc_sets_them() {
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
    let out = run_sh(&env, "caps-inh", "grep ^Cap /proc/self/status");
    for want in [
        "CapInh:\t0000000400000001",
        "CapBnd:\t0000000400000021",
        "CapAmb:\t0000000000000001",
    ] {
        assert!(out.contains(want), "{want} in {out}");
    }

    env.edit(|c| {
        c["process"]["capabilities"]["inheritable"] = json!(["CAP_KILL"]);
        c["process"]["capabilities"]["permitted"] = json!(["CAP_KILL", "CAP_CHOWN"]);
        c["process"]["capabilities"]["ambient"] = json!(["CAP_KILL", "CAP_CHOWN"]);
    });
    let out = run_sh(&env, "caps-amb", "grep ^CapAmb /proc/self/status");
    assert!(out.contains("CapAmb:\t0000000000000020"), "{out}");
}

/// The container's program starts with SIGPIPE at its default, for run and
/// exec, as under runc: ward (a Rust program) ignores it itself, and an
/// ignored signal would survive the execve (`yes | head` would then spin).
#[test]
fn sigpipe_is_not_ignored_in_the_container() {
    // Bit 12 of SigIgn is SIGPIPE (13).
    let script = "grep SigIgn /proc/self/status";
    let sigpipe_ignored = |line: &str| {
        let hex = line.split_whitespace().last().unwrap_or("0");
        u64::from_str_radix(hex, 16).unwrap() & (1 << (libc::SIGPIPE - 1)) != 0
    };
    let env = Env::new();
    let out = run_sh(&env, "sigpipe", script);
    assert!(out.contains("SigIgn"), "{out}");
    assert!(!sigpipe_ignored(out.trim()), "run: {out}");
    // The program really dies of it: the writer of a closed pipe ends.
    let out = run_sh(&env, "pipe", "yes | head -n1; echo done");
    assert_eq!(out.trim(), "y\ndone", "{out}");
    env.args(&["sleep", "100"]);
    let id = env.id("sigexec");
    env.create(&id);
    env.ok(&["start", &id]);
    let out = env.exec(&id, &["sh", "-c", script]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        !sigpipe_ignored(stdout(&out).trim()),
        "exec: {}",
        stdout(&out)
    );
    env.ok(&["delete", "--force", &id]);
    env.assert_gone(&id);
}
