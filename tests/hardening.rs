//! ward's secure defaults, seen from inside real containers, and each
//! relaxation turning exactly its layer off.

mod common;
use common::*;
use serde_json::json;

fn bits(caps: &[u32]) -> u64 {
    caps.iter().fold(0, |m, c| m | (1u64 << c))
}

fn status_of(out: &str, key: &str) -> String {
    out.lines()
        .find_map(|l| {
            l.strip_prefix(&format!("{key}:"))
                .map(|v| v.trim().to_string())
        })
        .unwrap_or_default()
}

#[test]
fn status_shows_seccomp_nnp_and_minimal_caps() {
    let env = Env::new();
    // no process.capabilities in the spec: ward's minimal set
    env.edit(|c| {
        c["process"].as_object_mut().unwrap().remove("capabilities");
    });
    let out = run_sh(&env, "status", "cat /proc/self/status");
    assert_eq!(status_of(&out, "Seccomp"), "2", "{out}");
    assert_eq!(status_of(&out, "Seccomp_filters"), "1", "{out}");
    assert_eq!(status_of(&out, "NoNewPrivs"), "1");
    // CHOWN DAC_OVERRIDE FOWNER FSETID KILL SETGID SETUID SETPCAP NET_BIND_SERVICE SYS_CHROOT AUDIT_WRITE
    let minimal = bits(&[0, 1, 3, 4, 5, 6, 7, 8, 10, 18, 29]);
    assert_eq!(
        u64::from_str_radix(&status_of(&out, "CapEff"), 16).unwrap(),
        minimal,
        "{out}"
    );
    assert_eq!(
        u64::from_str_radix(&status_of(&out, "CapBnd"), 16).unwrap(),
        minimal
    );
    assert_eq!(
        u64::from_str_radix(&status_of(&out, "CapInh"), 16).unwrap(),
        0
    );
    assert_eq!(
        u64::from_str_radix(&status_of(&out, "CapAmb"), 16).unwrap(),
        0
    );
}

#[test]
fn dangerous_caps_in_the_spec_are_dropped() {
    let env = Env::new();
    let all = json!([
        "CAP_SYS_ADMIN",
        "CAP_NET_RAW",
        "CAP_SYS_PTRACE",
        "CAP_MKNOD",
        "CAP_CHOWN",
        "CAP_KILL"
    ]);
    env.edit(|c| {
        for set in ["bounding", "effective", "permitted", "inheritable"] {
            c["process"]["capabilities"][set] = all.clone();
        }
        c["process"]["capabilities"]["ambient"] = json!([]);
    });
    let out = run_sh(&env, "caps", "cat /proc/self/status");
    let want = bits(&[0, 5]);
    assert_eq!(
        u64::from_str_radix(&status_of(&out, "CapEff"), 16).unwrap(),
        want,
        "{out}"
    );
    assert_eq!(
        u64::from_str_radix(&status_of(&out, "CapBnd"), 16).unwrap(),
        want
    );
    assert_eq!(
        u64::from_str_radix(&status_of(&out, "CapInh"), 16).unwrap(),
        0
    );
    // relaxed: the spec's sets as given
    env.annotate("run.ward.caps", "spec");
    let out = run_sh(&env, "capsrelaxed", "cat /proc/self/status");
    let eff = u64::from_str_radix(&status_of(&out, "CapEff"), 16).unwrap();
    assert!(
        eff & (1 << 21) != 0,
        "SYS_ADMIN granted when relaxed: {out}"
    );
}

const DENIED: &[&str] = &[
    "keyctl",
    "add_key",
    "unshare-user",
    "unshare-ns",
    "mount",
    "bpf",
    "io_uring_setup",
    "userfaultfd",
    "perf_event_open",
    "open_by_handle_at",
    "ptrace",
];

#[test]
fn default_seccomp_denies_attack_surface_and_allows_work() {
    let env = Env::new();
    env.with_probe();
    let script: String = DENIED.iter().map(|s| format!("echo {s}=$(probe {s}); ")).collect::<String>()
        + "echo getpid=$(probe getpid); echo nr1000=$(probe nr1000); echo write=$(probe write /tmp/f)";
    let out = run_sh(&env, "seccomp", &script);
    for s in DENIED {
        assert!(
            out.contains(&format!("{s}=EPERM")),
            "{s} should be EPERM: {out}"
        );
    }
    assert!(out.contains("getpid=ok"), "{out}");
    assert!(
        out.contains("nr1000=ENOSYS"),
        "newer syscalls get ENOSYS: {out}"
    );
    assert!(out.contains("write=ok"), "{out}");

    // the same probes with seccomp relaxed: keyctl, io_uring_setup and unshare are back
    env.annotate("run.ward.seccomp", "unconfined");
    let out = run_sh(&env, "seccompoff", &script);
    assert!(out.contains("keyctl=ok"), "{out}");
    assert!(!out.contains("io_uring_setup=EPERM"), "{out}");
    assert!(!out.contains("unshare-user=EPERM"), "{out}");
    let st = run_sh(&env, "seccompoff2", "cat /proc/self/status");
    assert_eq!(status_of(&st, "Seccomp"), "0", "{st}");
}

#[test]
fn spec_profile_is_stacked_with_actions_and_args() {
    let env = Env::new();
    env.with_probe();
    env.edit(|c| {
        c["linux"]["seccomp"] = json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "architectures": ["SCMP_ARCH_X86_64"],
            "syscalls": [
                {"names": ["getcwd"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13},
                {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_KILL_PROCESS"},
                {"names": ["getpriority"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_EQ"}]},
                {"names": ["no_such_syscall_xyz"], "action": "SCMP_ACT_ERRNO"}
            ]
        });
    });
    let out = run_sh(
        &env,
        "specprof",
        "grep Seccomp_filters /proc/self/status; echo getcwd=$(probe getcwd); echo prio0=$(probe getpriority 0); echo prio1=$(probe getpriority 1); echo keyctl=$(probe keyctl); probe mkdir /tmp/d; echo mkdir-exit=$?",
    );
    assert!(out.contains("Seccomp_filters:\t2"), "{out}");
    assert!(out.contains("getcwd=EACCES"), "{out}");
    assert!(out.contains("prio0=ok"), "{out}");
    assert!(out.contains("prio1=EPERM"), "{out}");
    // the spec allows everything by default, but cannot loosen ward's baseline
    assert!(out.contains("keyctl=EPERM"), "{out}");
    assert!(
        out.contains("mkdir-exit=159"),
        "KILL_PROCESS gives SIGSYS (128+31): {out}"
    );
}

#[test]
fn exec_runs_under_the_same_filters() {
    let env = Env::new();
    env.with_probe();
    env.edit(|c| {
        c["linux"]["seccomp"] = json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["getcwd"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13}]});
        c["process"]["capabilities"]["ambient"] = json!([]);
    });
    let id = env.id("execsec");
    env.start(&id);
    let out = env.exec(&id, &["sh", "-c", "grep -E 'Seccomp|NoNewPrivs|CapInh' /proc/self/status; echo keyctl=$(probe keyctl); echo getcwd=$(probe getcwd)"]);
    let o = stdout(&out);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(status_of(&o, "Seccomp"), "2", "{o}");
    assert_eq!(status_of(&o, "Seccomp_filters"), "2", "{o}");
    assert_eq!(status_of(&o, "NoNewPrivs"), "1");
    assert_eq!(status_of(&o, "CapInh"), "0000000000000000");
    assert!(
        o.contains("keyctl=EPERM") && o.contains("getcwd=EACCES"),
        "{o}"
    );
    // --cap cannot add a capability ward never grants
    let out = env.ward(&[
        "exec",
        "--cap",
        "CAP_SYS_ADMIN",
        &id,
        "grep",
        "CapEff",
        "/proc/self/status",
    ]);
    let eff =
        u64::from_str_radix(status_of(&stdout(&out), "CapEff").as_str(), 16).unwrap_or(u64::MAX);
    assert_eq!(eff & (1 << 21), 0, "{}", stdout(&out));
}

#[test]
fn readonly_rootfs_with_scratch_tmp() {
    let env = Env::new();
    env.with_probe();
    env.edit(|c| c["root"]["readonly"] = false.into());
    let out = run_sh(&env, "rofs", "echo root=$(probe write /x); echo tmp=$(probe write /tmp/x); echo run=$(probe write /run/x); grep ' /tmp ' /proc/self/mountinfo");
    assert!(out.contains("root=EROFS"), "{out}");
    assert!(out.contains("tmp=ok") && out.contains("run=ok"), "{out}");
    assert!(out.contains("nosuid") && out.contains("nodev"), "{out}");
    env.annotate("run.ward.rootfs", "writable");
    let out = run_sh(&env, "rwfs", "echo root=$(probe write /x)");
    assert!(out.contains("root=ok"), "{out}");
}

/// ward's /tmp and /run are two directories of one tmpfs (a superblock
/// fewer per container): one device, each with its own mode, flags and
/// contents; the marker option never shows as a mount option.
#[test]
fn scratch_mounts_share_one_tmpfs() {
    let env = Env::new();
    let out = run_sh(
        &env,
        "scratch",
        "stat -c '%n %d %a' /tmp /run; echo t > /tmp/t; echo r > /run/r; ls /tmp /run; \
         grep -E ' /(tmp|run) ' /proc/self/mountinfo",
    );
    let dev_mode = |path: &str| -> (String, String) {
        let l = out
            .lines()
            .find(|l| l.starts_with(&format!("{path} ")))
            .unwrap_or_else(|| panic!("no stat of {path}: {out}"));
        let f: Vec<&str> = l.split_whitespace().collect();
        (f[1].to_string(), f[2].to_string())
    };
    let (tmp_dev, tmp_mode) = dev_mode("/tmp");
    let (run_dev, run_mode) = dev_mode("/run");
    // Before 6.15 the kernel cannot clone a detached mount: one tmpfs each.
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap();
    let mut v = release
        .split(['.', '-'])
        .map(|x| x.parse::<u32>().unwrap_or(0));
    let (major, minor) = (v.next().unwrap_or(0), v.next().unwrap_or(0));
    if (major, minor) >= (6, 15) {
        assert_eq!(tmp_dev, run_dev, "one tmpfs: {out}");
    } else {
        assert_ne!(tmp_dev, run_dev, "one tmpfs each before 6.15: {out}");
    }
    assert_eq!(
        (tmp_mode.as_str(), run_mode.as_str()),
        ("1777", "755"),
        "{out}"
    );
    assert!(
        out.contains("/run:\nr\n\n/tmp:\nt\n"),
        "contents apart: {out}"
    );
    let mounts: Vec<&str> = out.lines().filter(|l| l.contains(" - tmpfs ")).collect();
    assert_eq!(mounts.len(), 2, "{out}");
    for m in mounts {
        assert!(m.contains("nosuid") && m.contains("nodev"), "{m}");
        assert!(!m.contains("x-ward"), "marker reached the kernel: {m}");
    }
}

#[test]
fn landlock_blocks_exec_from_writable_mounts() {
    let env = Env::new();
    let script = "cp /bin/busybox /tmp/true && (/tmp/true && echo tmp-exec=ok || echo tmp-exec=denied); /bin/sh -c 'echo bin-exec=ok'; mknod /tmp/n c 1 3 2>/dev/null && echo mknod=ok || echo mknod=denied";
    let out = run_sh(&env, "landlock", script);
    assert!(out.contains("tmp-exec=denied"), "{out}");
    assert!(out.contains("bin-exec=ok"), "{out}");
    assert!(out.contains("mknod=denied"), "{out}");
    env.annotate("run.ward.landlock", "off");
    let out = run_sh(&env, "landlockoff", script);
    assert!(out.contains("tmp-exec=ok"), "{out}");
}

#[test]
fn host_abstract_socket_unreachable_from_host_network_container() {
    use std::os::linux::net::SocketAddrExt;
    let name = format!("ward-test-{}", std::process::id());
    let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
    let _l = std::os::unix::net::UnixListener::bind_addr(&addr).unwrap();
    let env = Env::new();
    env.with_probe();
    env.edit(|c| {
        let ns = c["linux"]["namespaces"].as_array_mut().unwrap();
        ns.retain(|n| n["type"] != "network");
    });
    // Landlock scopes need ABI 6 (Linux 6.12); an older kernel (Debian 12's
    // 6.1) cannot refuse the connect, and ward's report must say so.
    // SAFETY: the VERSION query reads no memory.
    let abi = unsafe {
        libc::syscall(
            libc::SYS_landlock_create_ruleset,
            std::ptr::null::<libc::c_void>(),
            0usize,
            1u32,
        )
    };
    if abi < 6 {
        let id = env.id("abstractold");
        env.args(&["sleep", "1000"]);
        env.start(&id);
        let report = env.ok(&["inspect", &id]);
        assert!(
            report.contains("scope: abstract unix sockets (NOT ENFORCED"),
            "{report}"
        );
        env.ok(&["delete", "--force", &id]);
        return;
    }
    let out = run_sh(
        &env,
        "abstract",
        &format!("echo connect=$(probe connect-abstract {name})"),
    );
    assert!(out.contains("connect=EPERM"), "{out}");
    env.annotate("run.ward.landlock", "off");
    let out = run_sh(
        &env,
        "abstractoff",
        &format!("echo connect=$(probe connect-abstract {name})"),
    );
    assert!(out.contains("connect=ok"), "{out}");
}

#[test]
fn masked_paths_even_when_spec_lists_none() {
    let env = Env::new();
    env.edit(|c| {
        c["linux"]["maskedPaths"] = json!([]);
        c["linux"]["readonlyPaths"] = json!([]);
    });
    // /proc/sysrq-trigger is masked with /dev/null (as by runc): a write is
    // denied where the host's /dev is nodev, and goes to /dev/null elsewhere
    // (a devtmpfs /dev, as on systemd hosts); either way never to the kernel.
    let out = run_sh(&env, "masked", "wc -c < /proc/keys; wc -c < /proc/timer_list; if [ \"$(stat -c %t:%T /proc/sysrq-trigger)\" = 1:3 ]; then echo sysrq=masked; else echo 1 > /proc/sysrq-trigger 2>/dev/null && echo sysrq=written || echo sysrq=denied; fi; ls /sys/firmware | wc -l");
    let l: Vec<&str> = out.lines().collect();
    assert_eq!(l[0].trim(), "0", "{out}");
    assert_eq!(l[1].trim(), "0", "{out}");
    assert!(l[2] == "sysrq=masked" || l[2] == "sysrq=denied", "{out}");
    assert_eq!(l[3].trim(), "0", "{out}");
}

#[test]
fn inspect_reports_every_layer_and_relaxations() {
    let env = Env::new();
    let id = env.id("inspect");
    env.start(&id);
    // `start` returns once the init was told to go; it applies seccomp just
    // before its execve, which can take a while on a slow (emulated) machine.
    let t = std::time::Instant::now();
    let r: serde_json::Value = loop {
        let r: serde_json::Value =
            serde_json::from_str(&env.ok(&["inspect", "--format", "json", &id])).unwrap();
        if r["live"]["seccomp_mode"] == "2" || t.elapsed().as_secs() >= 10 {
            break r;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    let p = &r["policy"];
    assert_eq!(p["seccomp"]["baseline"], true, "{r}");
    assert!(
        p["seccomp"]["baseline_summary"]["syscalls_allowed"]
            .as_u64()
            .unwrap()
            > 100,
        "{r}"
    );
    assert_eq!(p["no_new_privs"], true);
    assert_eq!(p["rootfs_readonly"], true);
    assert!(p["landlock"].is_object());
    assert_eq!(p["pids_limit"], 1024);
    assert!(p["relaxations"].as_array().unwrap().is_empty());
    assert_eq!(r["live"]["seccomp_mode"], "2");
    assert_eq!(r["live"]["no_new_privs"], "1");
    let text = env.ok(&["inspect", &id]);
    for k in [
        "seccomp:",
        "capabilities:",
        "no_new_privs:",
        "rootfs:",
        "landlock:",
        "masked paths:",
        "relaxations:      none",
    ] {
        assert!(text.contains(k), "{k}: {text}");
    }
    env.ok(&["delete", "-f", &id]);

    env.annotate("run.ward.seccomp", "unconfined");
    env.annotate("run.ward.landlock", "off");
    let id = env.id("inspect2");
    let log = env.dir.path().join("relax.log");
    let out = env.ward(&[
        "--log",
        log.to_str().unwrap(),
        "create",
        "--bundle",
        env.bundle.to_str().unwrap(),
        &id,
    ]);
    assert!(out.status.success());
    assert!(
        stderr(&out).is_empty(),
        "stderr stays quiet on success: {}",
        stderr(&out)
    );
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        text.contains("level=warning") && text.contains("relaxed"),
        "a warning names the relaxation: {text}"
    );
    let r: serde_json::Value =
        serde_json::from_str(&env.ok(&["inspect", "-f", "json", &id])).unwrap();
    assert_eq!(r["policy"]["seccomp"]["baseline"], false);
    assert!(r["policy"]["landlock"].is_null());
    assert_eq!(
        r["policy"]["rootfs_readonly"], true,
        "only the asked layers are off"
    );
    assert_eq!(r["policy"]["relaxations"].as_array().unwrap().len(), 2);
}

#[test]
fn host_config_relaxes_every_container() {
    let env = Env::new();
    let cfg = env.dir.path().join("config.toml");
    std::fs::write(&cfg, "[relax]\nrootfs = \"writable\"\n").unwrap();
    env.with_probe();
    env.edit(|c| c["root"]["readonly"] = false.into());
    env.args(&["probe", "write", "/x"]);
    let id = env.id("hostcfg");
    let out = env
        .cmd(&["run", "--bundle", env.bundle.to_str().unwrap(), &id])
        .env("WARD_CONFIG", &cfg)
        .output()
        .unwrap();
    assert_eq!(stdout(&out), "ok\n", "{}", stderr(&out));
    std::fs::write(&cfg, "[relax]\nrootfs = \"sometimes\"\n").unwrap();
    let id = env.id("hostcfgbad");
    let out = env
        .cmd(&["create", "--bundle", env.bundle.to_str().unwrap(), &id])
        .env("WARD_CONFIG", &cfg)
        .output()
        .unwrap();
    assert_fails(&out, "config.toml");
    env.assert_gone(&id);
}

#[test]
fn bad_policy_input_is_rejected_at_create() {
    let env = Env::new();
    let good = std::fs::read(env.bundle.join("config.json")).unwrap();
    let cases: Vec<(&str, serde_json::Value, &str)> = vec![
        (
            "ann",
            json!({"annotations": {"run.ward.secomp": "unconfined"}}),
            "run.ward.secomp",
        ),
        (
            "act",
            json!({"linux": {"seccomp": {"defaultAction": "SCMP_ACT_FOO"}}}),
            "SCMP_ACT_FOO",
        ),
        (
            "op",
            json!({"linux": {"seccomp": {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_BOGUS"}]}]}}}),
            "SCMP_CMP_BOGUS",
        ),
        (
            "arch",
            json!({"linux": {"seccomp": {"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_VAX"]}}}),
            "SCMP_ARCH_VAX",
        ),
        (
            "ll",
            json!({"annotations": {"run.ward.landlock.spec": "{not json"}}),
            "run.ward.landlock.spec",
        ),
    ];
    for (name, patch, want) in cases {
        std::fs::write(env.bundle.join("config.json"), &good).unwrap();
        env.edit(|c| merge(c, &patch));
        let id = env.id(name);
        let out = env.ward(&["create", "--bundle", env.bundle.to_str().unwrap(), &id]);
        assert!(!out.status.success(), "{name}");
        assert!(stderr(&out).contains(want), "{name}: {}", stderr(&out));
        env.assert_gone(&id);
    }
}

fn merge(a: &mut serde_json::Value, b: &serde_json::Value) {
    match (a, b) {
        (serde_json::Value::Object(a), serde_json::Value::Object(b)) => {
            for (k, v) in b {
                merge(a.entry(k.clone()).or_insert(serde_json::Value::Null), v);
            }
        }
        (a, b) => *a = b.clone(),
    }
}
