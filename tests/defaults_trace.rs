//! Behaviours found by tracing runc's bats suite under ward's defaults
//! (issue #15): each failure there is either a row of the README's
//! deviations table or a bug fixed here. These run with ward's defaults (its
//! user namespace, read-only root with scratch /tmp and /run, ...).

mod common;
use common::*;
use serde_json::json;

/// The process sees its environment in the spec's order, each name where its
/// last occurrence is, with ward's HOME last, as runc gives it (libcontainer
/// set it from a HashMap: runc's `env var with new-line is honored` failed
/// one run in three). Several runs, since a random order can match by luck.
#[test]
fn environment_keeps_the_spec_order() {
    let env = Env::new();
    env.edit(|c| {
        c["process"]["env"] = json!([
            "NEW_LINE_ENV=\n",
            "PATH=/usr/bin:/bin",
            "ZED=1",
            "ALPHA=2",
            "MID=3",
            "ZED=4"
        ])
    });
    env.args(&["env"]);
    for n in 0..4 {
        let id = env.id(&format!("envorder{n}"));
        let out = env.run(&id);
        assert!(out.status.success(), "{}", stderr(&out));
        assert_eq!(
            stdout(&out),
            "NEW_LINE_ENV=\n\nPATH=/usr/bin:/bin\nALPHA=2\nMID=3\nZED=4\nHOME=/root\n"
        );
        env.assert_gone(&id);
    }
    // An exec'd process too, with `--env` after the container's.
    env.args(&["sleep", "1000"]);
    let id = env.id("envorder-exec");
    env.start(&id);
    let out = env.ward(&["exec", "--env", "BETA=5", "--env", "ALPHA=6", &id, "env"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let names: Vec<String> = stdout(&out)
        .lines()
        .filter_map(|l| l.split_once('=').map(|(k, _)| k.to_string()))
        .collect();
    assert_eq!(
        names,
        [
            "NEW_LINE_ENV",
            "PATH",
            "MID",
            "ZED",
            "BETA",
            "ALPHA",
            "HOME"
        ],
        "{}",
        stdout(&out)
    );
    env.ok(&["delete", "--force", &id]);
    env.assert_gone(&id);
}

/// A created init holds no namespace descriptor of ward's: the user
/// namespace create made for the id-mapped mounts was still open when the
/// init was cloned (runc's `detect fd leak` test: `user:[...]`).
#[test]
fn created_init_holds_no_namespace_descriptor() {
    let env = Env::new();
    let id = env.id("nsfdleak");
    env.create(&id);
    let pid = env.pid(&id);
    // The container runs in ward's user namespace (the case that leaked).
    let uid_map = std::fs::read_to_string(format!("/proc/{pid}/uid_map")).unwrap();
    assert!(
        !uid_map.split_whitespace().eq(["0", "0", "4294967295"]),
        "not in ward's user namespace: {uid_map}"
    );
    let mut targets = Vec::new();
    for e in std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .flatten()
    {
        let t = std::fs::read_link(e.path()).unwrap_or_default();
        targets.push(t.to_string_lossy().to_string());
    }
    assert!(!targets.is_empty());
    for t in &targets {
        for ns in [
            "user:[", "mnt:[", "pid:[", "net:[", "ipc:[", "uts:[", "cgroup:[",
        ] {
            assert!(!t.starts_with(ns), "{t} in {targets:?}");
        }
    }
    env.ok(&["delete", "--force", &id]);
    env.assert_gone(&id);
}

/// A bind whose destination leads under /tmp through symlinks in the image
/// (dangling ones included) lands on ward's scratch tmpfs, visible, not
/// hidden under it (runc's `bind mount through a dangling symlink` tests;
/// the same for an image's /etc/resolv.conf -> /run/... link).
#[test]
fn bind_through_a_symlink_into_scratch_tmp_stays_visible() {
    let env = Env::new();
    let rootfs = env.bundle.join("rootfs");
    std::os::unix::fs::symlink("/tmp/foo/bar", rootfs.join("jump")).unwrap();
    std::os::unix::fs::symlink("/jump/baz/hosts", rootfs.join("etc/hosts")).unwrap();
    std::os::unix::fs::symlink("/run/resolve/stub.conf", rootfs.join("etc/resolv.conf")).unwrap();
    let src = env.dir.path().join("hosts-src");
    std::fs::write(&src, "10.0.0.1 bound\n").unwrap();
    std::fs::set_permissions(&src, std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();
    let s = src.to_str().unwrap().to_string();
    env.edit(|c| {
        let m = c["mounts"].as_array_mut().unwrap();
        m.push(json!({"destination": "/etc/hosts", "type": "bind", "source": s, "options": ["bind"]}));
        m.push(json!({"destination": "/etc/resolv.conf", "type": "bind", "source": s, "options": ["bind"]}));
    });
    let out = run_sh(
        &env,
        "symlinkbind",
        "cat /tmp/foo/bar/baz/hosts /etc/hosts /run/resolve/stub.conf; \
         grep -c ' /tmp/foo/bar/baz/hosts ' /proc/self/mounts; \
         grep -c ' /run/resolve/stub.conf ' /proc/self/mounts; \
         touch /tmp/w && echo tmp-writable",
    );
    assert_eq!(
        out, "10.0.0.1 bound\n10.0.0.1 bound\n10.0.0.1 bound\n1\n1\ntmp-writable\n",
        "{out}"
    );
    // Nothing was created in the image: the mount points are on the tmpfs.
    assert!(!rootfs.join("tmp/foo").exists());
    assert!(!rootfs.join("run/resolve").exists());
}

/// No pid namespace under ward's user namespace: refused before anything is
/// created, naming the cause and the relaxation (it failed deep in
/// libcontainer with `prepare rootfs: EPERM`); relaxed, it runs.
#[test]
fn host_pid_namespace_under_wards_userns_is_refused_clearly() {
    let env = Env::new();
    env.edit(|c| {
        let ns = c["linux"]["namespaces"].as_array_mut().unwrap();
        ns.retain(|n| n["type"] != "pid");
    });
    env.args(&["true"]);
    let id = env.id("hostpid");
    let b = env.bundle.to_str().unwrap().to_string();
    let out = env.ward(&["create", "--bundle", &b, &id]);
    assert_fails(&out, "no pid namespace");
    assert_fails(&out, "userns=host");
    env.assert_gone(&id);
    assert!(
        !env.ward(&["state", &id]).status.success(),
        "a refused create left state"
    );
    env.annotate("run.ward.userns", "host");
    env.args(&["sh", "-c", "test -d /proc/1 && echo host-pids"]);
    let id = env.id("hostpid-relaxed");
    let out = env.run(&id);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "host-pids\n");
    env.assert_gone(&id);
}

/// `ward features` lists the README's deviations table, row by row: every
/// row's spec field is one `run.oci.ward.deviation.*` annotation, naming its
/// relaxation, and there is no annotation without a row.
#[test]
fn features_mirror_the_readmes_deviations_table() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let table = readme
        .split("| spec field | ward's default | layer | relaxation restoring the spec |")
        .nth(1)
        .expect("README has the deviations table");
    let rows: Vec<(String, String)> = table
        .lines()
        .skip(2)
        .take_while(|l| l.starts_with("| "))
        .map(|l| {
            let cells: Vec<&str> = l.trim_matches('|').split(" | ").map(str::trim).collect();
            (cells[0].replace('`', ""), cells[3].to_string())
        })
        .collect();
    assert!(rows.len() >= 10, "{rows:?}");
    let env = Env::new();
    let f: serde_json::Value = serde_json::from_str(&env.ok(&["features"])).unwrap();
    let listed: Vec<String> = f["annotations"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(k, _)| k.starts_with("run.oci.ward.deviation."))
        .map(|(_, v)| v.as_str().unwrap().to_string())
        .collect();
    assert_eq!(listed.len(), rows.len(), "{listed:#?}\n{rows:#?}");
    for (field, restore) in &rows {
        let hit: Vec<&String> = listed
            .iter()
            .filter(|v| v.starts_with(&format!("{field}: ")))
            .collect();
        assert_eq!(hit.len(), 1, "row {field:?}: {listed:#?}");
        // The relaxation the README names is the one features names.
        let key = restore
            .split('`')
            .nth(1)
            .unwrap_or_default()
            .trim_start_matches("run.ward.");
        assert!(
            hit[0].contains(key),
            "row {field:?}: {} lacks {key}",
            hit[0]
        );
    }
}

/// A bind source inside the bundle's rootfs names the container's tree as
/// mounted so far, as in runc ("container bind-mount source"): here
/// `rootfs/mnt/x` exists only through the earlier bind at /mnt. Under ward's
/// user namespace the rootfs is mounted id-mapped elsewhere; the source used
/// to name the bare image (create failed with ENOENT).
#[test]
fn bind_source_inside_the_rootfs_sees_earlier_mounts() {
    let env = Env::new();
    let rootfs = env.bundle.join("rootfs");
    std::fs::create_dir_all(rootfs.join("final")).unwrap();
    let a = env.dir.path().join("bind-src-a");
    std::fs::create_dir_all(a.join("x")).unwrap();
    std::fs::write(a.join("x/file"), "a/x\n").unwrap();
    for d in [&a, &a.join("x")] {
        std::fs::set_permissions(d, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    }
    let (a, inner) = (
        a.to_str().unwrap().to_string(),
        rootfs.join("mnt/x").to_str().unwrap().to_string(),
    );
    assert!(!rootfs.join("mnt/x").exists());
    env.edit(|c| {
        let m = c["mounts"].as_array_mut().unwrap();
        m.push(json!({"destination": "/mnt", "type": "bind", "source": a, "options": ["rbind"]}));
        m.push(
            json!({"destination": "/final", "type": "bind", "source": inner, "options": ["rbind"]}),
        );
    });
    let out = run_sh(&env, "ctrsrc", "cat /final/file; stat -c %u /final/file");
    // The file, owned by host root, shows as container root: the source was
    // taken from the id-mapped tree.
    assert_eq!(out, "a/x\n0\n", "{out}");
    // Relative to the bundle, the same.
    env.edit(|c| {
        let m = c["mounts"].as_array_mut().unwrap();
        let last = m.len() - 1;
        m[last]["source"] = "rootfs/mnt/x".into();
    });
    assert_eq!(run_sh(&env, "ctrsrc-rel", "cat /final/file"), "a/x\n");
}
