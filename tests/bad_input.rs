//! Bad input gets one clear error, a non-zero exit, and nothing left behind.

mod common;
use common::*;

fn create_fails(env: &Env, id: &str, want: &str) {
    let out = env.ward(&["create", "--bundle", env.bundle.to_str().unwrap(), id]);
    assert!(!out.status.success(), "create {id} should fail");
    let e = stderr(&out);
    assert!(e.contains(want), "stderr {e:?} should mention {want:?}");
    if common_valid(id) {
        env.assert_gone(id);
    }
    assert!(!env.root.join("@ward").join(id).exists());
}

fn common_valid(id: &str) -> bool {
    !id.is_empty() && !id.contains('/') && !id.contains("..")
}

#[test]
fn malformed_and_invalid_config() {
    let env = Env::new();
    let cfg = env.bundle.join("config.json");
    let good = std::fs::read(&cfg).unwrap();
    std::fs::write(&cfg, "{ not json").unwrap();
    create_fails(&env, &env.id("badjson"), "config.json");
    std::fs::write(&cfg, r#"{"ociVersion":"1.0.2","process":{"args":"sh","cwd":"/","user":{"uid":0,"gid":0}},"root":{"path":"rootfs"}}"#).unwrap();
    create_fails(&env, &env.id("badtype"), "invalid");
    std::fs::write(&cfg, &good).unwrap();
    env.edit(|c| c["process"]["cwd"] = "relative".into());
    create_fails(&env, &env.id("relcwd"), "process.cwd");
    std::fs::write(&cfg, &good).unwrap();
    env.edit(|c| c["ociVersion"] = "2.0.0".into());
    create_fails(&env, &env.id("ver"), "ociVersion");
    std::fs::write(&cfg, &good).unwrap();
    env.edit(|c| {
        c["mounts"].as_array_mut().unwrap().push(
            // (a relative one is taken from "/", as runc does: conformance.rs)
            serde_json::json!({"destination": "", "type": "tmpfs", "source": "tmpfs"}),
        )
    });
    create_fails(&env, &env.id("relmnt"), "mounts[");
    std::fs::write(&cfg, &good).unwrap();
    env.edit(|c| {
        c["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .push(serde_json::json!({"type": "bogus"}))
    });
    create_fails(&env, &env.id("badns"), "invalid");
    std::fs::write(&cfg, &good).unwrap();
    env.edit(|c| c["process"]["args"] = serde_json::json!([]));
    create_fails(&env, &env.id("noargs"), "process.args");
}

#[test]
fn missing_or_symlinked_rootfs_and_bundle() {
    let env = Env::new();
    env.edit(|c| c["root"]["path"] = "nope".into());
    create_fails(&env, &env.id("noroot"), "root.path");
    let real = env.bundle.join("rootfs");
    std::os::unix::fs::symlink(&real, env.bundle.join("linkfs")).unwrap();
    env.edit(|c| c["root"]["path"] = "linkfs".into());
    create_fails(&env, &env.id("linkroot"), "symlink");
    let out = env.ward(&[
        "create",
        "--bundle",
        "/nonexistent/bundle",
        &env.id("nobundle"),
    ]);
    assert_fails(&out, "/nonexistent/bundle");
}

#[test]
fn hostile_ids() {
    let env = Env::new();
    let long = "a".repeat(2000);
    for id in [
        "",
        "..",
        "a/b",
        "../../etc",
        "a b",
        "x;y",
        "ü",
        long.as_str(),
    ] {
        let out = env.ward(&["create", "--bundle", env.bundle.to_str().unwrap(), id]);
        assert!(!out.status.success(), "{id:?}");
        assert!(
            stderr(&out).contains("invalid container ID"),
            "{id:?}: {}",
            stderr(&out)
        );
        for cmd in ["state", "start", "delete", "kill"] {
            let out = env.ward(&[cmd, id]);
            assert!(!out.status.success(), "{cmd} {id:?}");
        }
    }
    // nothing at all was created in the state root
    let entries: Vec<_> = std::fs::read_dir(&env.root)
        .map(|r| r.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(entries.iter().all(|e| e == "@ward"), "{entries:?}");
}

#[test]
fn duplicate_id_and_wrong_state() {
    let env = Env::new();
    let id = env.id("dup");
    env.create(&id);
    let out = env.ward(&["create", "--bundle", env.bundle.to_str().unwrap(), &id]);
    assert_fails(&out, "already exists");
    assert_eq!(env.status(&id), "created", "the first container survives");
    env.ok(&["start", &id]);
    env.ok(&["kill", &id, "9"]);
    env.wait_status(&id, "stopped");
    let out = env.ward(&["start", &id]);
    assert_fails(&out, "stopped");
    let out = env.ward(&["start", "missing-ctr"]);
    assert!(stderr(&out).contains("does not exist"));
}

#[test]
fn unknown_flags_and_commands() {
    let env = Env::new();
    for args in [
        vec!["create", "--bogus", "x"],
        vec!["frobnicate"],
        vec!["kill"],
        vec!["list", "--format", "yaml"],
    ] {
        let out = env.ward(&args);
        assert!(!out.status.success(), "{args:?}");
        assert!(!stderr(&out).is_empty());
    }
}

#[test]
fn failed_start_of_missing_binary_cleans_up_on_run() {
    let env = Env::new();
    env.args(&["/bin/definitely-not-here"]);
    let id = env.id("nobin");
    let out = env.run(&id);
    assert!(!out.status.success());
    env.assert_gone(&id);
}

#[test]
fn hostile_bundles_huge_nested_absurd() {
    let env = Env::new();
    let cfg = env.bundle.join("config.json");
    let good = std::fs::read(&cfg).unwrap();
    // 9 MiB of whitespace-padded JSON
    let mut huge = good.clone();
    huge.extend(std::iter::repeat_n(b' ', 9 << 20));
    std::fs::write(&cfg, &huge).unwrap();
    create_fails(&env, &env.id("huge"), "too large");
    // deeply nested
    let nested = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    std::fs::write(
        &cfg,
        format!("{{\"ociVersion\":\"1.0.2\",\"annotations\":{nested}}}"),
    )
    .unwrap();
    create_fails(&env, &env.id("nested"), "config.json");
    // 20k mounts
    std::fs::write(&cfg, &good).unwrap();
    env.edit(|c| {
        let m = c["mounts"].as_array_mut().unwrap();
        for i in 0..20_000 {
            m.push(serde_json::json!({"destination": format!("/m{i}"), "type": "tmpfs", "source": "tmpfs"}));
        }
    });
    create_fails(&env, &env.id("manymounts"), "mounts");
    // negative and absurd resource values
    std::fs::write(&cfg, &good).unwrap();
    env.edit(|c| c["linux"]["resources"] = serde_json::json!({"memory": {"limit": -5}}));
    create_fails(&env, &env.id("negmem"), "memory");
    std::fs::write(&cfg, &good).unwrap();
    env.edit(|c| {
        c["process"]["rlimits"] =
            serde_json::json!([{"type": "RLIMIT_NOFILE", "hard": -1, "soft": 1}])
    });
    create_fails(&env, &env.id("negrlimit"), "config.json");
    std::fs::write(&cfg, &good).unwrap();
    env.edit(|c| {
        c["process"]["rlimits"] =
            serde_json::json!([{"type": "RLIMIT_BOGUS", "hard": 1, "soft": 1}])
    });
    create_fails(&env, &env.id("badrlimit"), "config.json");
}

#[test]
fn missing_program_fails_create_with_its_name() {
    let env = Env::new();
    env.args(&["/no/such/command"]);
    create_fails(&env, &env.id("noprog"), "/no/such/command");
    env.args(&["not-on-path-xyz"]);
    create_fails(&env, &env.id("nopath"), "not-on-path-xyz");
}

#[test]
fn systemd_driver_refuses_a_cgroupfs_path() {
    // With --systemd-cgroup a cgroupsPath names a unit (slice:prefix:name);
    // a directory path must not silently fall back to cgroupfs.
    let env = Env::new();
    env.edit(|c| c["linux"]["cgroupsPath"] = "/ward-test/abs".into());
    let id = env.id("sdabs");
    let out = env.ward(&[
        "--systemd-cgroup",
        "create",
        "--bundle",
        env.bundle.to_str().unwrap(),
        &id,
    ]);
    assert_fails(&out, "linux.cgroupsPath");
    assert_fails(&out, "slice:prefix:name");
    env.assert_gone(&id);
    assert!(!std::path::Path::new("/sys/fs/cgroup/pids/ward-test/abs").exists());
}
