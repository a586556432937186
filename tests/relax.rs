//! A relaxation lifts only ward's addition to a layer: whatever the spec itself
//! asks for in that layer still applies (issue #15, conformance).

mod common;
use common::*;
use serde_json::json;

fn status_of(out: &str, key: &str) -> String {
    out.lines()
        .find_map(|l| {
            l.strip_prefix(&format!("{key}:"))
                .map(|v| v.trim().to_string())
        })
        .unwrap_or_default()
}

fn hex(out: &str, key: &str) -> u64 {
    u64::from_str_radix(&status_of(out, key), 16).unwrap_or_else(|_| panic!("{key}: {out}"))
}

fn bits(caps: &[u32]) -> u64 {
    caps.iter().fold(0, |m, c| m | (1u64 << c))
}

#[test]
fn seccomp_relaxed_keeps_the_spec_profile() {
    let env = Env::new();
    env.with_probe();
    env.annotate("run.ward.seccomp", "unconfined");
    env.edit(|c| {
        c["linux"]["seccomp"] = json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]
        });
    });
    let out = run_sh(
        &env,
        "sc-spec",
        "grep -E '^Seccomp' /proc/self/status; echo mkdir=$(probe mkdir /tmp/d); echo keyctl=$(probe keyctl)",
    );
    assert_eq!(status_of(&out, "Seccomp"), "2", "{out}");
    assert_eq!(
        status_of(&out, "Seccomp_filters"),
        "1",
        "only the spec's filter: {out}"
    );
    assert!(
        out.contains("mkdir=EPERM"),
        "the spec profile applies: {out}"
    );
    assert!(
        out.contains("keyctl=ok"),
        "ward's baseline is lifted: {out}"
    );

    // relaxed without a spec profile: no filter at all
    env.edit(|c| {
        c["linux"].as_object_mut().unwrap().remove("seccomp");
    });
    let out = run_sh(&env, "sc-none", "cat /proc/self/status");
    assert_eq!(status_of(&out, "Seccomp"), "0", "{out}");
}

#[test]
fn caps_relaxed_gives_exactly_the_spec_sets() {
    let env = Env::new();
    env.annotate("run.ward.caps", "spec");
    env.edit(|c| {
        let three = json!(["CAP_CHOWN", "CAP_SYS_ADMIN", "CAP_NET_RAW"]);
        c["process"]["capabilities"] = json!({
            "bounding": three, "effective": three, "permitted": three,
            "inheritable": ["CAP_NET_RAW"], "ambient": []
        });
    });
    let out = run_sh(&env, "caps-spec", "cat /proc/self/status");
    let want = bits(&[0, 13, 21]);
    assert_eq!(hex(&out, "CapBnd"), want, "{out}");
    assert_eq!(hex(&out, "CapEff"), want, "{out}");
    assert_eq!(hex(&out, "CapPrm"), want, "{out}");
    assert_eq!(hex(&out, "CapInh"), bits(&[13]), "{out}");
    assert_eq!(hex(&out, "CapAmb"), 0, "{out}");

    // no process.capabilities: none at all (runc), not ward's minimal set
    env.edit(|c| {
        c["process"].as_object_mut().unwrap().remove("capabilities");
    });
    let out = run_sh(&env, "caps-none", "cat /proc/self/status");
    for k in ["CapBnd", "CapEff", "CapPrm", "CapInh", "CapAmb"] {
        assert_eq!(hex(&out, k), 0, "{k}: {out}");
    }
}

#[test]
fn rootfs_relaxed_honours_the_spec_readonly_root() {
    let env = Env::new();
    env.with_probe();
    env.annotate("run.ward.rootfs", "writable");
    env.edit(|c| c["root"]["readonly"] = true.into());
    let out = run_sh(
        &env,
        "ro-spec",
        "echo root=$(probe write /x); echo tmp=$(probe write /tmp/x); grep -c ' /tmp ' /proc/self/mountinfo; true",
    );
    assert!(out.contains("root=EROFS"), "spec root.readonly: {out}");
    // no scratch tmpfs from ward: /tmp is part of the read-only root
    assert!(out.contains("tmp=EROFS"), "{out}");
    assert!(out.lines().any(|l| l == "0"), "no /tmp mount: {out}");

    env.edit(|c| c["root"]["readonly"] = false.into());
    let out = run_sh(&env, "rw-spec", "echo root=$(probe write /x)");
    assert!(out.contains("root=ok"), "{out}");
}

#[test]
fn landlock_relaxed_still_applies_the_spec_ruleset() {
    let env = Env::new();
    env.with_probe();
    env.annotate("run.ward.landlock", "off");
    let ruleset = json!({
        "ruleset": {"handledAccessFS": ["make_dir"]},
        "rules": {"pathBeneath": [{"allowedAccess": ["make_dir"], "paths": ["/run"]}]}
    });
    env.annotate("run.ward.landlock.spec", &ruleset.to_string());
    let script = "echo tmp=$(probe mkdir /tmp/d); echo run=$(probe mkdir /run/d); cp /bin/busybox /tmp/true && /tmp/true && echo tmp-exec=ok; true";
    let out = run_sh(&env, "ll-spec", script);
    assert!(
        out.contains("tmp=EACCES"),
        "the spec ruleset applies: {out}"
    );
    assert!(out.contains("run=ok"), "{out}");
    assert!(
        out.contains("tmp-exec=ok"),
        "ward's own ruleset is lifted: {out}"
    );
}

#[test]
fn userns_relaxed_keeps_the_spec_user_namespace() {
    let env = Env::new();
    env.annotate("run.ward.userns", "host");
    env.own_userns(1000);
    let out = run_sh(&env, "userns-spec", "cat /proc/self/uid_map");
    let m: Vec<&str> = out.split_whitespace().collect();
    assert_eq!(m, vec!["0", "3000000000", "1000"], "{out}");
}

/// `run.ward.nnp=spec`: no_new_privs as the spec says, every other layer kept.
#[test]
fn nnp_relaxed_follows_the_spec_and_keeps_other_layers() {
    use std::os::unix::fs::PermissionsExt;
    let env = Env::new();
    env.with_probe();
    // a setuid-root copy of the probe, run by uid 1000
    let suid = env.bundle.join("rootfs/bin/suid-probe");
    std::fs::copy(env.bundle.join("rootfs/bin/probe"), &suid).unwrap();
    std::os::unix::fs::chown(&suid, Some(0), Some(0)).unwrap();
    std::fs::set_permissions(&suid, std::fs::Permissions::from_mode(0o4755)).unwrap();
    env.edit(|c| {
        c["process"]["user"] = json!({"uid": 1000, "gid": 1000});
        c["process"]["noNewPrivileges"] = false.into();
    });
    let script = "grep -E '^(NoNewPrivs|Seccomp|Seccomp_filters|CapBnd):' /proc/self/status; \
                  suid-probe ids; echo keyctl=$(probe keyctl); \
                  cp /bin/busybox /tmp/true && (/tmp/true && echo tmp-exec=ok || echo tmp-exec=denied)";

    // default: no_new_privs on whatever the spec says, setuid does not elevate
    let out = run_sh(&env, "nnp-default", script);
    assert_eq!(status_of(&out, "NoNewPrivs"), "1", "{out}");
    assert!(out.contains("uid=1000 euid=1000"), "{out}");

    env.annotate("run.ward.nnp", "spec");
    let out = run_sh(&env, "nnp-spec", script);
    assert_eq!(status_of(&out, "NoNewPrivs"), "0", "{out}");
    assert!(out.contains("uid=1000 euid=0"), "setuid elevates: {out}");
    // the other layers are all still in force
    assert_eq!(status_of(&out, "Seccomp"), "2", "{out}");
    assert_eq!(status_of(&out, "Seccomp_filters"), "1", "{out}");
    assert!(out.contains("keyctl=EPERM"), "{out}");
    assert!(out.contains("tmp-exec=denied"), "Landlock: {out}");
    assert_eq!(
        hex(&out, "CapBnd") & (1 << 21),
        0,
        "no CAP_SYS_ADMIN: {out}"
    );

    // exec: the container spec's value, or --no-new-privs
    let id = env.id("nnp-exec");
    env.args(&["sleep", "1000"]);
    env.start(&id);
    let st = |extra: &[&str]| {
        let mut a = vec!["exec"];
        a.extend_from_slice(extra);
        a.extend_from_slice(&[&id, "sh", "-c", "grep -E '^(NoNewPrivs|Seccomp):' /proc/self/status; cp /bin/busybox /tmp/t2 && (/tmp/t2 true && echo tmp-exec=ok || echo tmp-exec=denied)"]);
        let out = env.ward(&a);
        assert!(out.status.success(), "{}", stderr(&out));
        stdout(&out)
    };
    let out = st(&[]);
    assert_eq!(status_of(&out, "NoNewPrivs"), "0", "{out}");
    assert_eq!(status_of(&out, "Seccomp"), "2", "{out}");
    assert!(out.contains("tmp-exec=denied"), "{out}");
    let out = st(&["--no-new-privs"]);
    assert_eq!(status_of(&out, "NoNewPrivs"), "1", "{out}");
    assert_eq!(status_of(&out, "Seccomp"), "2", "{out}");

    // a spec asking for no_new_privs keeps it when relaxed
    env.ok(&["delete", "-f", &id]);
    env.edit(|c| c["process"]["noNewPrivileges"] = true.into());
    let out = run_sh(&env, "nnp-spec-on", script);
    assert_eq!(status_of(&out, "NoNewPrivs"), "1", "{out}");
    assert!(out.contains("uid=1000 euid=1000"), "{out}");
}

/// Every relaxation `ward features` lists, with the value that lifts it.
const ALL: &[(&str, &str)] = ALL_RELAXATIONS;

#[test]
fn features_lists_every_relaxation() {
    let env = Env::new();
    let f: serde_json::Value = serde_json::from_str(&env.ok(&["features"])).unwrap();
    assert!(f["ociVersionMax"].as_str().unwrap().starts_with("1."));
    let a = f["annotations"].as_object().unwrap();
    for (k, v) in ALL {
        assert_eq!(a.get(*k).and_then(|x| x.as_str()), Some(*v), "{k}: {a:?}");
    }
    assert!(a.contains_key("run.ward.landlock.spec"), "{a:?}");
    let listed = a
        .keys()
        .filter(|k| k.starts_with("run.ward.") && *k != "run.ward.landlock.spec")
        .count();
    assert_eq!(
        listed,
        ALL.len(),
        "a relaxation this test does not know: {a:?}"
    );
}

/// With every layer relaxed, the container gets what the spec says and nothing
/// ward would add: the conformance baseline of issue #15.
#[test]
fn everything_relaxed_runs_the_spec_as_given() {
    let env = Env::new();
    env.edit(|c| {
        let two = json!(["CAP_CHOWN", "CAP_SYS_ADMIN"]);
        c["process"]["capabilities"] = json!({"bounding": two, "effective": two, "permitted": two});
        c["process"]["noNewPrivileges"] = false.into();
        c["root"]["readonly"] = false.into();
        c["linux"]["maskedPaths"] = json!(["/proc/keys"]);
        c["linux"]["readonlyPaths"] = json!([]);
    });
    let script = "grep -E '^(NoNewPrivs|Seccomp|CapBnd|CapEff):' /proc/self/status; \
                  awk '{print \"uid_map=\" $1 \",\" $2 \",\" $3}' /proc/self/uid_map; \
                  echo keys=$(wc -c < /proc/keys); \
                  echo sysro=$(grep -c ' /proc/sys ' /proc/self/mountinfo); \
                  echo tmpmnt=$(grep -c ' /tmp ' /proc/self/mountinfo); \
                  echo pids.max=$(cat /sys/fs/cgroup/pids/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids.max); \
                  echo x > /rootfile && echo root=rw; \
                  cp /bin/busybox /tmp/true && /tmp/true && echo tmp-exec=ok; true";

    // ward's defaults on the same spec, for contrast
    let out = run_sh(&env, "all-default", script);
    assert!(out.contains("pids.max=1024"), "{out}");
    assert!(out.contains("keys=0"), "{out}");
    assert!(!out.contains("sysro=0"), "{out}");
    assert!(!out.contains("root=rw"), "{out}");

    for (k, v) in ALL {
        env.annotate(k, v);
    }
    let out = run_sh(&env, "all-relaxed", script);
    assert_eq!(status_of(&out, "NoNewPrivs"), "0", "{out}");
    assert_eq!(status_of(&out, "Seccomp"), "0", "{out}");
    assert_eq!(hex(&out, "CapBnd"), bits(&[0, 21]), "{out}");
    assert_eq!(hex(&out, "CapEff"), bits(&[0, 21]), "{out}");
    assert!(out.contains("uid_map=0,0,4294967295"), "{out}");
    assert!(out.contains("keys=0"), "the spec's masked path: {out}");
    assert!(out.contains("sysro=0"), "no read-only /proc/sys: {out}");
    assert!(out.contains("tmpmnt=0"), "no scratch tmpfs: {out}");
    // No pids limit from ward; with the systemd driver the scope still gets
    // systemd's DefaultTasksMax, as any unit (and runc's and crun's scopes) does.
    let unlimited = if systemd_driver() {
        let o = std::process::Command::new("systemctl")
            .args(["show", "-p", "DefaultTasksMax", "--value"])
            .output()
            .unwrap();
        stdout(&o).trim().replace("infinity", "max")
    } else {
        "max".to_string()
    };
    assert!(
        out.contains(&format!("pids.max={unlimited}\n")),
        "no pids limit (want {unlimited}): {out}"
    );
    assert!(out.contains("root=rw"), "{out}");
    assert!(out.contains("tmp-exec=ok"), "no Landlock: {out}");
    let id = env.id("all-relaxed-inspect");
    env.create(&id);
    let r: serde_json::Value =
        serde_json::from_str(&env.ok(&["inspect", "-f", "json", &id])).unwrap();
    let p = &r["policy"];
    assert_eq!(p["relaxations"].as_array().unwrap().len(), ALL.len(), "{r}");
    assert!(p["pids_limit"].is_null(), "{r}");
    assert_eq!(p["masked_paths"], json!(["/proc/keys"]), "{r}");
    assert_eq!(p["no_new_privs"], false, "{r}");
}
