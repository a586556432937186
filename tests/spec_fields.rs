//! The spec's process and linux fields take effect inside the container.

mod common;
use common::*;
use serde_json::json;

#[test]
fn hostname_env_cwd_rlimits_oom_sysctl() {
    let env = Env::new();
    env.edit(|c| {
        c["hostname"] = "wardbox".into();
        c["process"]["env"] = json!(["PATH=/bin", "GREETING=hi there"]);
        c["process"]["cwd"] = "/etc".into();
        c["process"]["rlimits"] = json!([{"type": "RLIMIT_NOFILE", "hard": 512, "soft": 256}]);
        c["process"]["oomScoreAdj"] = 123.into();
        c["linux"]["sysctl"] = json!({"net.ipv4.ip_forward": "1"});
    });
    env.args(&["sh", "-c", "hostname; echo $GREETING; pwd; ulimit -n; ulimit -Hn; cat /proc/self/oom_score_adj; cat /proc/sys/net/ipv4/ip_forward"]);
    let id = env.id("fields");
    let out = env.run(&id);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "wardbox\nhi there\n/etc\n256\n512\n123\n1\n");
}

#[test]
fn masked_and_readonly_paths() {
    let env = Env::new();
    env.edit(|c| {
        c["linux"]["maskedPaths"] = json!(["/proc/cpuinfo"]);
        c["linux"]["readonlyPaths"] = json!(["/proc/sys"]);
    });
    env.args(&["sh", "-c", "wc -c < /proc/cpuinfo; wc -c < /proc/keys; echo x > /proc/sys/kernel/domainname && echo wrote || echo ro-ok"]);
    let id = env.id("masked");
    let out = env.run(&id);
    assert!(out.status.success(), "{}", stderr(&out));
    let o = stdout(&out);
    let lines: Vec<&str> = o.lines().collect();
    assert_eq!(lines[0].trim(), "0", "{o}");
    assert_eq!(lines[1].trim(), "0", "{o}");
    assert_eq!(lines[2], "ro-ok", "{o}");
}

#[test]
fn devices_and_mounts_with_options() {
    let env = Env::new();
    let host = env.dir.path().join("data");
    std::fs::create_dir_all(&host).unwrap();
    std::fs::write(host.join("f"), "content").unwrap();
    let h = host.to_str().unwrap().to_string();
    env.edit(|c| {
        let m = c["mounts"].as_array_mut().unwrap();
        m.push(json!({"destination": "/data", "type": "bind", "source": h, "options": ["rbind", "ro", "nosuid", "nodev"]}));
        m.push(json!({"destination": "/scratch", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "noexec", "size=1m", "mode=700"]}));
    });
    env.edit(|c| c["linux"]["rootfsPropagation"] = "rshared".into());
    env.args(&["sh", "-c", "cat /data/f; echo; echo x > /data/g 2>/dev/null && echo rw || echo ro; grep ' /scratch ' /proc/self/mountinfo; awk '$5 == \"/\"' /proc/self/mountinfo; ls -l /dev/null /dev/zero /dev/urandom /dev/tty | wc -l; head -c 4 /dev/zero | wc -c; stat -c %a /scratch"]);
    let id = env.id("mounts");
    let out = env.run(&id);
    assert!(out.status.success(), "{}", stderr(&out));
    let o = stdout(&out);
    let l: Vec<&str> = o.lines().collect();
    assert_eq!(l[0], "content");
    assert_eq!(l[1], "ro");
    assert!(
        l[2].contains("nosuid") && l[2].contains("noexec") && l[2].contains("size=1024k"),
        "{o}"
    );
    assert!(l[3].contains("shared:"), "rshared root: {o}");
    assert_eq!(l[4].trim(), "4");
    assert_eq!(l[5].trim(), "4");
    assert_eq!(l[6].trim(), "700");
}

#[test]
fn extra_device_node_is_created() {
    let env = Env::new();
    env.edit(|c| {
        c["linux"]["devices"] = json!([{"path": "/dev/mynull", "type": "c", "major": 1, "minor": 3, "fileMode": 438, "uid": 0, "gid": 0}]);
    });
    env.args(&[
        "sh",
        "-c",
        "stat -c '%t:%T %a' /dev/mynull; echo hi > /dev/mynull && echo ok",
    ]);
    let id = env.id("dev");
    let out = env.run(&id);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "1:3 666\nok\n");
}

#[test]
fn namespaces_joined_by_path() {
    let env = Env::new();
    let a = env.id("nsa");
    env.edit(|c| c["hostname"] = "first".into());
    env.start(&a);
    let pid = env.pid(&a);
    // a second container joining the first's uts and network namespaces
    let env2 = Env::new();
    env2.edit(|c| {
        let ns = c["linux"]["namespaces"].as_array_mut().unwrap();
        for n in ns.iter_mut() {
            if n["type"] == "uts" {
                n["path"] = format!("/proc/{pid}/ns/uts").into();
            }
            if n["type"] == "network" {
                n["path"] = format!("/proc/{pid}/ns/net").into();
            }
        }
        // no user namespace given: ward joins the one owning the joined
        // namespaces (the first container's), as a pod member would
        c.as_object_mut().unwrap().remove("hostname");
    });
    env2.args(&[
        "sh",
        "-c",
        "hostname; readlink /proc/self/ns/net; readlink /proc/self/ns/user",
    ]);
    let b = env2.id("nsb");
    let out = env2.run(&b);
    assert!(out.status.success(), "{}", stderr(&out));
    let net = std::fs::read_link(format!("/proc/{pid}/ns/net")).unwrap();
    let user = std::fs::read_link(format!("/proc/{pid}/ns/user")).unwrap();
    assert_eq!(
        stdout(&out),
        format!("first\n{}\n{}\n", net.display(), user.display())
    );

    // joining a namespace of the host's user namespace: host ids, recorded
    let env3 = Env::new();
    let host_uts = format!("/proc/{}/ns/uts", std::process::id());
    let hu = host_uts.clone();
    env3.edit(|c| {
        for n in c["linux"]["namespaces"].as_array_mut().unwrap().iter_mut() {
            if n["type"] == "uts" {
                n["path"] = hu.clone().into();
            }
        }
        c.as_object_mut().unwrap().remove("hostname");
    });
    let id3 = env3.id("nshost");
    env3.start(&id3);
    let r: serde_json::Value =
        serde_json::from_str(&env3.ok(&["inspect", "-f", "json", &id3])).unwrap();
    assert_eq!(r["policy"]["userns"], "host", "{r}");
    let why = r["policy"]["relaxations"][0]["source"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        why.starts_with("automatic") && why.contains(&host_uts),
        "{why}"
    );
}

#[test]
fn tmpcopyup_option_from_podman_is_accepted() {
    let env = Env::new();
    env.edit(|c| {
        c["mounts"].as_array_mut().unwrap().push(json!({"destination": "/tmp", "type": "tmpfs", "source": "tmpfs", "options": ["rw", "rprivate", "nosuid", "nodev", "tmpcopyup"]}));
    });
    env.args(&["sh", "-c", "echo x > /tmp/f && cat /tmp/f"]);
    let id = env.id("copyup");
    let out = env.run(&id);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "x\n");
}

/// `ward spec` writes runc's template (hostname "ward"), and it runs as is
/// apart from the terminal and the command.
#[test]
fn ward_spec_is_runcs_template_and_runs() {
    let env = Env::new();
    let d = env.dir.path().join("runc-like");
    std::fs::create_dir_all(&d).unwrap();
    env.ok(&["spec", "--bundle", d.to_str().unwrap()]);
    let c: serde_json::Value =
        serde_json::from_slice(&std::fs::read(d.join("config.json")).unwrap()).unwrap();
    let v = c["ociVersion"].as_str().unwrap();
    assert!(v.starts_with("1.2.") && !v.contains("dev"), "{v}");
    assert_eq!(c["hostname"], "ward");
    assert_eq!(c["process"]["terminal"], true);
    assert_eq!(c["process"]["args"], json!(["sh"]));
    assert_eq!(c["process"]["noNewPrivileges"], true);
    assert_eq!(c["process"]["user"], json!({"uid": 0, "gid": 0}));
    assert_eq!(c["root"], json!({"path": "rootfs", "readonly": true}));
    let caps = json!(["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]);
    assert_eq!(
        c["process"]["capabilities"],
        json!({"bounding": caps, "effective": caps, "permitted": caps}),
        "no inheritable or ambient set"
    );
    assert_eq!(
        c["linux"]["resources"]["devices"],
        json!([{"allow": false, "access": "rwm"}])
    );
    let ns: Vec<&str> = c["linux"]["namespaces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["type"].as_str().unwrap())
        .collect();
    let v2 = std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists();
    let mut want = vec!["pid", "network", "ipc", "uts", "mount"];
    if v2 {
        want.push("cgroup"); // as runc: a cgroup namespace only on a unified host
    }
    assert_eq!(ns, want);
    assert_eq!(
        c["linux"]["maskedPaths"],
        json!([
            "/proc/acpi",
            "/proc/asound",
            "/proc/kcore",
            "/proc/keys",
            "/proc/latency_stats",
            "/proc/timer_list",
            "/proc/timer_stats",
            "/proc/sched_debug",
            "/sys/firmware",
            "/proc/scsi",
            "/sys/devices/virtual/tpm"
        ])
    );
    assert_eq!(
        c["linux"]["readonlyPaths"],
        json!([
            "/proc/bus",
            "/proc/fs",
            "/proc/irq",
            "/proc/sys",
            "/proc/sysrq-trigger"
        ])
    );
    let dests: Vec<&str> = c["mounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["destination"].as_str().unwrap())
        .collect();
    assert_eq!(
        dests,
        [
            "/proc",
            "/dev",
            "/dev/pts",
            "/dev/shm",
            "/dev/mqueue",
            "/sys",
            "/sys/fs/cgroup"
        ]
    );

    // the template runs under ward, changed only to run without a terminal
    make_rootfs(&d.join("rootfs"));
    let mut c = c;
    c["process"]["terminal"] = false.into();
    c["process"]["args"] = json!(["sh", "-c", "hostname; grep CapBnd /proc/self/status"]);
    std::fs::write(d.join("config.json"), serde_json::to_vec(&c).unwrap()).unwrap();
    let id = env.id("runc-template");
    let out = env.ward(&["run", "--bundle", d.to_str().unwrap(), &id]);
    assert!(out.status.success(), "{}", stderr(&out));
    let o = stdout(&out);
    assert!(o.starts_with("ward\n"), "{o}");
    // AUDIT_WRITE(29) KILL(5) NET_BIND_SERVICE(10)
    assert!(o.contains("CapBnd:\t0000000020000420"), "{o}");

    // --rootless: runc's ToRootless
    let r = env.dir.path().join("runc-rootless");
    std::fs::create_dir_all(&r).unwrap();
    env.ok(&["spec", "--rootless", "--bundle", r.to_str().unwrap()]);
    let c: serde_json::Value =
        serde_json::from_slice(&std::fs::read(r.join("config.json")).unwrap()).unwrap();
    let ns: Vec<&str> = c["linux"]["namespaces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["type"].as_str().unwrap())
        .collect();
    assert!(!ns.contains(&"network"), "{ns:?}");
    assert_eq!(ns.last(), Some(&"user"));
    assert_eq!(
        c["linux"]["uidMappings"][0],
        json!({"containerID": 0, "hostID": 0, "size": 1})
    );
    assert_eq!(
        c["linux"]["gidMappings"][0],
        json!({"containerID": 0, "hostID": 0, "size": 1})
    );
    assert!(c["linux"]["resources"].is_null());
    let sys = c["mounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["destination"] == "/sys")
        .unwrap();
    assert_eq!(
        sys,
        &json!({"destination": "/sys", "type": "none", "source": "/sys",
                "options": ["rbind", "nosuid", "noexec", "nodev", "ro"]})
    );
    let text = serde_json::to_string(&c["mounts"]).unwrap();
    assert!(!text.contains("gid=") && !text.contains("uid="), "{text}");
}
