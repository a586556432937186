//! Rootless ward: an unprivileged user made by the test runs containers with
//! its state under $XDG_RUNTIME_DIR/ward and its /etc/subuid range.

mod common;
use common::*;
use std::os::unix::process::CommandExt;
use std::process::Command;

const USER: &str = "ward-rootless-test";

fn user_ids() -> (u32, u32) {
    if nix::unistd::User::from_name(USER).unwrap().is_none() {
        // useradd also gives the user a /etc/subuid and /etc/subgid range.
        let st = Command::new("useradd")
            .args(["--no-create-home", "--shell", "/usr/sbin/nologin", USER])
            .status()
            .unwrap();
        assert!(st.success(), "useradd");
    }
    let u = nix::unistd::User::from_name(USER).unwrap().unwrap();
    (u.uid.as_raw(), u.gid.as_raw())
}

#[test]
fn rootless_create_start_exec_delete() {
    if systemd_driver() {
        // The user made here has no systemd manager of its own to ask for a
        // scope (no login, no lingering); integration/rootless-v2.sh runs
        // rootless ward through a delegated user manager instead.
        skip(
            "rootless_create_start_exec_delete",
            "rootless --systemd-cgroup needs the user's own systemd manager \
             (integration/rootless-v2.sh covers it); this test's user has none",
        );
        return;
    }
    let (uid, gid) = user_ids();
    let sub = std::fs::read_to_string("/etc/subuid").unwrap();
    let start = sub
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{USER}:")))
        .map(|r| r.split(':').next().unwrap().to_string());
    let env = Env::new();
    let dir = env.dir.path();
    std::fs::set_permissions(dir, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let run_dir = dir.join("xdg");
    let bundle = dir.join("rl-bundle");
    std::fs::create_dir_all(&run_dir).unwrap();
    std::fs::create_dir_all(&bundle).unwrap();
    make_rootfs(&bundle.join("rootfs"));
    for p in [&run_dir, &bundle] {
        nix::unistd::chown(p.as_path(), Some(uid.into()), Some(gid.into())).unwrap();
    }
    // stdio to files: a detached container would hold a pipe open
    let ward = |args: &[&str]| {
        let (o, e) = (dir.join("rl.out"), dir.join("rl.err"));
        let status = Command::new(WARD)
            .args(args)
            .current_dir(&bundle)
            .env("XDG_RUNTIME_DIR", &run_dir)
            .stdout(std::fs::File::create(&o).unwrap())
            .stderr(std::fs::File::create(&e).unwrap())
            .uid(uid)
            .gid(gid)
            .status()
            .unwrap();
        std::process::Output {
            status,
            stdout: std::fs::read(&o).unwrap(),
            stderr: std::fs::read(&e).unwrap(),
        }
    };
    let ok = |args: &[&str]| {
        let o = ward(args);
        assert!(o.status.success(), "ward {args:?}: {}", stderr(&o));
        stdout(&o)
    };
    ok(&["spec", "--rootless"]);
    let cfg = bundle.join("config.json");
    let mut c: serde_json::Value = serde_json::from_slice(&std::fs::read(&cfg).unwrap()).unwrap();
    c["process"]["terminal"] = false.into();
    c["process"]["args"] = serde_json::json!(["sh", "-c", "cat /proc/self/uid_map; id -u"]);
    std::fs::write(&cfg, serde_json::to_vec(&c).unwrap()).unwrap();
    let id = format!("rl-{}", std::process::id());
    let out = ok(&["run", "--bundle", ".", &id]);
    let lines: Vec<Vec<&str>> = out
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(lines[0], vec!["0", &uid.to_string(), "1"], "{out}");
    if let Some(s) = start {
        assert_eq!(
            lines[1][..2],
            ["1", s.as_str()],
            "subordinate ids mapped: {out}"
        );
    }
    assert_eq!(lines.last().unwrap(), &vec!["0"]);

    c["process"]["args"] = serde_json::json!(["sleep", "100"]);
    std::fs::write(&cfg, serde_json::to_vec(&c).unwrap()).unwrap();
    let id = format!("rl2-{}", std::process::id());
    ok(&["run", "-d", "--bundle", ".", &id]);
    let st: serde_json::Value = serde_json::from_str(&ok(&["state", &id])).unwrap();
    assert_eq!(st["status"], "running");
    let pid = st["pid"].as_i64().unwrap() as i32;
    assert!(
        proc_status(pid, "Uid").starts_with(&uid.to_string()),
        "runs as the user on the host"
    );
    assert_eq!(ok(&["exec", &id, "id", "-u"]).trim(), "0");
    ok(&["delete", "--force", &id]);
    let left: Vec<_> = std::fs::read_dir(run_dir.join("ward"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    // Nothing left, not even the per-root @ward dir of the last container.
    assert!(left.is_empty(), "{left:?}");
}
