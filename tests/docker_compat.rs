//! What Docker hands a runtime, under ward's defaults: sysctls written for host
//! ids, device binds (--device, --privileged), and failures worded the way
//! Docker's CLI parses runc's (exit 127/126 from the error text).

mod common;
use common::*;
use serde_json::json;

/// `ward --log LOG --log-format json CMD --bundle B ID`, as the shim calls it.
fn with_json_log(env: &Env, log: &std::path::Path, cmd: &str, id: &str) -> std::process::Output {
    let b = env.bundle.to_str().unwrap();
    env.ward(&[
        "--log",
        log.to_str().unwrap(),
        "--log-format",
        "json",
        cmd,
        "--bundle",
        b,
        id,
    ])
}

/// Docker's sysctl for every container with its own network namespace.
#[test]
fn ping_group_range_is_clamped_to_the_user_namespace_and_reported() {
    let env = Env::new();
    env.edit(|c| {
        c["linux"]["sysctl"] = json!({
            "net.ipv4.ping_group_range": "0 2147483647",
            "net.ipv4.ip_unprivileged_port_start": "0"
        });
    });
    env.args(&[
        "sh",
        "-c",
        "cat /proc/sys/net/ipv4/ping_group_range /proc/sys/net/ipv4/ip_unprivileged_port_start; sleep 100",
    ]);
    let id = env.id("pgr");
    env.create(&id);
    let report = env.ok(&["inspect", &id]);
    assert!(
        report
            .contains(r#"linux.sysctl["net.ipv4.ping_group_range"]: "0 2147483647" -> "0 65535""#),
        "{report}"
    );
    let json: serde_json::Value =
        serde_json::from_str(&env.ok(&["inspect", "--format", "json", &id])).unwrap();
    let what = json["policy"]["adaptations"][0]["what"]
        .as_str()
        .unwrap_or_default();
    assert!(what.ends_with(r#"-> "0 65535""#), "{json}");
    env.ok(&["delete", "--force", &id]);

    env.args(&[
        "sh",
        "-c",
        "cat /proc/sys/net/ipv4/ping_group_range /proc/sys/net/ipv4/ip_unprivileged_port_start",
    ]);
    let id = env.id("pgr-run");
    let out = env.run(&id);
    assert!(out.status.success(), "{}", stderr(&out));
    let o = stdout(&out);
    let words: Vec<&str> = o.split_whitespace().collect();
    assert_eq!(words, ["0", "65535", "0"], "{o}");
}

#[test]
fn a_group_range_outside_the_mapping_is_refused_naming_the_field() {
    let env = Env::new();
    env.edit(|c| c["linux"]["sysctl"] = json!({"net.ipv4.ping_group_range": "70000 80000"}));
    let id = env.id("pgr-bad");
    let out = env.run(&id);
    assert!(!out.status.success());
    let e = stderr(&out);
    assert!(
        e.contains(r#"linux.sysctl["net.ipv4.ping_group_range"] = "70000 80000""#),
        "{e}"
    );
    env.assert_gone(&id);
}

#[test]
fn a_failing_sysctl_names_key_value_and_errno_once() {
    let env = Env::new();
    env.edit(|c| c["linux"]["sysctl"] = json!({"net.ipv4.ip_forward": "bogus"}));
    let id = env.id("sysctl-bad");
    let log = env.dir.path().join("log.json");
    let out = with_json_log(&env, &log, "run", &id);
    assert!(!out.status.success());
    let e = stderr(&out);
    let want = r#"failed to set sysctl net.ipv4.ip_forward="bogus": invalid argument"#;
    assert_eq!(e.matches(want).count(), 1, "{e}");
    // The shim reports the last error line of the log: the same, once.
    let text = std::fs::read_to_string(&log).unwrap();
    let last = text
        .lines()
        .rfind(|l| l.contains(r#""level":"error""#))
        .unwrap()
        .to_string();
    let msg: serde_json::Value = serde_json::from_str(&last).unwrap();
    let msg = msg["msg"].as_str().unwrap();
    assert_eq!(msg.matches("failed to set sysctl").count(), 1, "{msg}");
    assert!(
        msg.contains(&id) && msg.contains("invalid argument"),
        "{msg}"
    );
    env.assert_gone(&id);
}

/// Docker's CLI: "no such file or directory" or "executable file not found" →
/// 127, "permission denied" → 126, from the runtime's lower-case text.
#[test]
fn exec_failures_use_runcs_wording_once() {
    let env = Env::new();
    std::fs::write(env.bundle.join("rootfs/etc/notexec"), "x").unwrap();
    for (args, want) in [
        (
            "/nonexistent",
            r#"exec: "/nonexistent": stat /nonexistent: no such file or directory"#,
        ),
        (
            "nonexistent",
            r#"exec: "nonexistent": executable file not found in $PATH"#,
        ),
        ("/etc/notexec", r#"exec: "/etc/notexec": permission denied"#),
    ] {
        env.args(&[args]);
        let id = env.id("noexec");
        let log = env.dir.path().join(format!("{id}.json"));
        let out = with_json_log(&env, &log, "create", &id);
        assert!(!out.status.success(), "{args}");
        let e = stderr(&out);
        assert_eq!(e.matches(want).count(), 1, "{args}: {e}");
        assert_eq!(e.lines().count(), 1, "{e}");
        let text = std::fs::read_to_string(&log).unwrap();
        assert!(!text.contains("os error"), "{text}");
        assert!(!text.contains("unexpected message"), "{text}");
        env.assert_gone(&id);
    }
}

/// A default create writes no warning into the client's log: libcontainer's
/// "seccomp not available" (ward installs its own) and unmounted v1
/// controllers were misleading every Docker and containerd user.
#[test]
fn a_default_create_logs_no_misleading_warning() {
    let env = Env::new();
    env.args(&["true"]);
    let id = env.id("quiet");
    let log = env.dir.path().join("log.json");
    let out = with_json_log(&env, &log, "run", &id);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(!text.contains("seccomp not available"), "{text}");
    assert!(!text.contains("not supported on this system"), "{text}");
}

/// `--device /dev/tty` and `--privileged` (which lists /dev/ptmx among the
/// host's devices): opening /dev/tty without a controlling terminal is ENXIO,
/// and /dev/ptmx must stay the devpts symlink.
#[test]
fn tty_and_ptmx_device_entries_work() {
    let env = Env::new();
    env.edit(|c| {
        c["linux"]["devices"] = json!([
            {"path": "/dev/tty", "type": "c", "major": 5, "minor": 0, "fileMode": 0o20666u32, "uid": 0, "gid": 0},
            {"path": "/dev/ptmx", "type": "c", "major": 5, "minor": 2, "fileMode": 0o20666u32, "uid": 0, "gid": 0},
            {"path": "/dev/xnull", "type": "c", "major": 1, "minor": 3, "fileMode": 0o20666u32, "uid": 0, "gid": 0}
        ]);
    });
    env.args(&[
        "sh",
        "-c",
        "stat -c '%F %t:%T' /dev/tty /dev/xnull; readlink /dev/ptmx; echo hi > /dev/xnull && echo ok",
    ]);
    let id = env.id("devs");
    let out = env.run(&id);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        "character special file 5:0\ncharacter special file 1:3\npts/ptmx\nok\n"
    );
}

/// Docker 20.10 passes no annotations: a runtime registered with
/// `"runtimeArgs": ["--relax", "seccomp=unconfined"]` relaxes its containers.
/// The shim passes those args on every call, so every command accepts them.
#[test]
fn relax_on_the_command_line() {
    let env = Env::new();
    env.args(&[
        "sh",
        "-c",
        "grep -E '^(Seccomp|NoNewPrivs):' /proc/self/status; sleep 100",
    ]);
    let id = env.id("cli-relax");
    let b = env.bundle.to_str().unwrap().to_string();
    env.ok(&[
        "--relax",
        "seccomp=unconfined",
        "create",
        "--bundle",
        &b,
        &id,
    ]);
    env.ok(&["--relax", "seccomp=unconfined", "start", &id]);
    let report = env.ok(&["inspect", &id]);
    assert!(
        report.contains("run.ward.seccomp=unconfined (from command line (--relax))"),
        "{report}"
    );
    assert!(report.contains("Seccomp: 0"), "{report}");
    env.ok(&["--relax", "seccomp=unconfined", "delete", "--force", &id]);
    env.assert_gone(&id);

    let id = env.id("cli-relax-bad");
    let out = env.ward(&[
        "--relax",
        "secomp=unconfined",
        "create",
        "--bundle",
        &b,
        &id,
    ]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains(r#"--relax "secomp=unconfined""#),
        "{}",
        stderr(&out)
    );
    env.assert_gone(&id);
}
