//! What a container costs the host beyond its own process: ward must not
//! pay per container for what can be shared (integration/bench.sh's density
//! scenario measures the bytes; these tests pin the mechanisms).

mod common;

use common::*;

/// Every masked directory shows the same empty, read-only tmpfs: one
/// superblock per container instead of one per directory.
#[test]
fn masked_directories_share_one_read_only_tmpfs() {
    let env = Env::new();
    let out = run_sh(
        &env,
        "maskdirs",
        "for d in /proc/acpi /sys/firmware /sys/kernel/debug /sys/kernel/security; do \
           [ -d $d ] || continue; \
           echo \"$(stat -f -c %T $d) $(stat -c %d $d) $(ls -A $d | wc -l)\"; \
           touch $d/x 2>/dev/null && echo written; mkdir $d/y 2>/dev/null && echo made; true; \
         done",
    );
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines.len() >= 2, "fewer than two masked directories: {out}");
    for l in &lines {
        let f: Vec<&str> = l.split_whitespace().collect();
        assert_eq!(f.len(), 3, "{out}");
        assert_eq!(f[0], "tmpfs", "{out}");
        assert_eq!(f[2], "0", "masked directory not empty: {out}");
        assert_eq!(f[1], lines[0].split_whitespace().nth(1).unwrap(), "{out}");
    }
}

/// libcontainer's per-container directory holds one state file: the
/// create-time config (hooks, cgroup path) is inside state.json, not a
/// second file (on the tmpfs state root every file is a page and an
/// inode). `delete` still finds the cgroup through it.
#[test]
fn container_state_is_one_file() {
    let env = Env::new();
    let id = env.id("onestate");
    env.create(&id);
    let mut files: Vec<String> = std::fs::read_dir(env.root.join(&id))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n != "notify.sock")
        .collect();
    files.sort();
    assert_eq!(files, vec!["state.json"]);
    let state: serde_json::Value =
        serde_json::from_slice(&std::fs::read(env.root.join(&id).join("state.json")).unwrap())
            .unwrap();
    let cg = state["youkiConfig"]["cgroup_path"]
        .as_str()
        .unwrap()
        .to_string();
    env.ok(&["delete", "--force", &id]);
    env.assert_gone(&id);
    assert!(!cg.is_empty());
}
