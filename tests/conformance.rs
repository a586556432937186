//! runtime-spec behaviours the OCI validation suite and runc's tests check
//! from outside, under ward.

mod common;
use common::*;
use serde_json::json;
use std::path::PathBuf;

/// Removes a cgroup subtree in every v1 hierarchy (and the unified one), deepest first.
struct CgroupTree(String);

impl Drop for CgroupTree {
    fn drop(&mut self) {
        let Ok(hier) = std::fs::read_dir("/sys/fs/cgroup") else {
            return;
        };
        for h in hier.flatten() {
            let top = h.path().join(&self.0);
            let mut dirs: Vec<PathBuf> = Vec::new();
            let mut stack = vec![top.clone()];
            while let Some(d) = stack.pop() {
                if let Ok(rd) = std::fs::read_dir(&d) {
                    for e in rd.flatten() {
                        if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                            stack.push(e.path());
                        }
                    }
                    dirs.push(d);
                }
            }
            dirs.sort_by_key(|d| std::cmp::Reverse(d.components().count()));
            for d in dirs {
                let _ = std::fs::remove_dir(d);
            }
        }
    }
}

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
