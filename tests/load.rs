//! Concurrency and load: many containers through the full lifecycle in
//! parallel, with concurrent state/list/kill/exec on the same containers; no
//! error, no deadlock, no leak. WARD_LONG_TESTS=1 runs the full 200 x 16.

mod common;
use common::*;
use std::sync::Arc;

fn mounts_under(prefix: &str) -> usize {
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .filter(|l| l.contains(prefix))
        .count()
}

/// PIDs of ward processes (and their libcontainer children, which share the
/// command line until they exec) started with `--root root`.
fn ward_pids(root: &str) -> Vec<u32> {
    let mut pids = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(cmd) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
            continue;
        };
        let args: Vec<&[u8]> = cmd.split(|b| *b == 0).collect();
        if args
            .windows(2)
            .any(|w| w[0] == b"--root" && w[1] == root.as_bytes())
        {
            pids.push(pid);
        }
    }
    pids
}

#[test]
fn parallel_lifecycles_with_concurrent_queries() {
    let long = std::env::var("WARD_LONG_TESTS").is_ok();
    let (total, parallel) = if long { (200, 16) } else { (32, 8) };
    let env = Arc::new(Env::new());
    env.args(&[
        "sh",
        "-c",
        "trap 'exit 0' TERM; while true; do sleep 0.05; done",
    ]);
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let ids: Vec<String> = (0..total).map(|_| env.id("load")).collect();
    let ids = Arc::new(ids);
    // Meanwhile, sample the open fds of every ward process of this test (its
    // command line names this test's state root): an fd leak under load shows
    // as a growing count, and none may outlive the test.
    let root_arg = env.root.to_string_lossy().to_string();
    let sampling = Arc::new(std::sync::atomic::AtomicBool::new(true));
    // It also reads every state.json directly, as a client polling the state
    // root would: each read must parse (state is replaced by rename, never
    // rewritten in place).
    let sampler = {
        let (sampling, root_arg) = (sampling.clone(), root_arg.clone());
        let root = env.root.clone();
        std::thread::spawn(move || {
            let (mut max_fds, mut samples, mut states) = (0usize, 0usize, 0usize);
            while sampling.load(std::sync::atomic::Ordering::Relaxed) {
                for e in std::fs::read_dir(&root).into_iter().flatten().flatten() {
                    if let Ok(data) = std::fs::read(e.path().join("state.json")) {
                        assert!(
                            serde_json::from_slice::<serde_json::Value>(&data).is_ok(),
                            "torn state.json read: {:?}",
                            String::from_utf8_lossy(&data)
                        );
                        states += 1;
                    }
                }
                for pid in ward_pids(&root_arg) {
                    if let Ok(rd) = std::fs::read_dir(format!("/proc/{pid}/fd")) {
                        max_fds = max_fds.max(rd.count());
                        samples += 1;
                    }
                }
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            (max_fds, samples, states)
        })
    };
    let mut workers = Vec::new();
    for _ in 0..parallel {
        let (env, next, ids) = (env.clone(), next.clone(), ids.clone());
        workers.push(std::thread::spawn(move || {
            let mut errors = Vec::new();
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= ids.len() {
                    break;
                }
                let id = &ids[i];
                let bundle = env.bundle.to_str().unwrap();
                let steps: Vec<Vec<&str>> = vec![
                    vec!["create", "--bundle", bundle, id],
                    vec!["state", id],
                    vec!["start", id],
                    vec!["list", "-q"],
                    vec!["exec", id, "true"],
                    vec!["ps", "-f", "json", id],
                    vec!["kill", id, "TERM"],
                ];
                for s in &steps {
                    let out = env.ward(s);
                    if !out.status.success() {
                        errors.push(format!("{s:?}: {}", stderr(&out)));
                    }
                }
                // a neighbour's state while it may be changing
                let other = &ids[(i + 1) % ids.len()];
                let _ = env.ward(&["state", other]);
                let t = std::time::Instant::now();
                while env.status(id) != "stopped" && t.elapsed().as_secs() < 20 {
                    std::thread::sleep(std::time::Duration::from_millis(10));
                }
                let out = env.ward(&["delete", id]);
                if !out.status.success() {
                    errors.push(format!("delete {id}: {}", stderr(&out)));
                }
            }
            errors
        }));
    }
    let errors: Vec<String> = workers
        .into_iter()
        .flat_map(|w| w.join().unwrap())
        .collect();
    assert!(
        errors.is_empty(),
        "{} errors, first: {:?}",
        errors.len(),
        errors.iter().take(3).collect::<Vec<_>>()
    );
    sampling.store(false, std::sync::atomic::Ordering::Relaxed);
    let (max_fds, samples, states) = sampler.join().unwrap();
    eprintln!(
        "fds of ward processes under load: max {max_fds} over {samples} samples; {states} state.json reads, none torn"
    );
    assert!(states > 50, "too few state.json reads ({states})");
    assert!(
        samples > 50,
        "too few samples of ward processes ({samples})"
    );
    assert!(max_fds <= 32, "a ward process held {max_fds} fds");
    assert!(
        ward_pids(&root_arg).is_empty(),
        "ward processes outlived their commands"
    );
    for id in ids.iter() {
        env.assert_gone(id);
    }
    // per-ID checks (assert_gone covers state dirs and cgroups); other tests run
    // in parallel, so global counts would not be this test's.
    let dir = env.dir.path().to_string_lossy().to_string();
    assert_eq!(mounts_under(&dir), 0, "mounts leaked under {dir}");
    let left: Vec<_> = std::fs::read_dir(&env.root)
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert!(left.iter().all(|n| n == "@ward"), "{left:?}");
}

#[test]
fn fork_bomb_stops_at_the_pids_limit() {
    let env = Env::new();
    env.edit(|c| c["linux"]["resources"]["pids"] = serde_json::json!({"limit": 64}));
    env.args(&[
        "sh",
        "-c",
        "(while true; do sleep 30 & done) 2>/dev/null; sleep 100",
    ]);
    let id = env.id("bomb");
    env.start(&id);
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let v: serde_json::Value = serde_json::from_str(&env.ok(&["ps", "-f", "json", &id])).unwrap();
    let n = v.as_array().unwrap().len();
    assert!((32..=64).contains(&n), "processes in the container: {n}");
    // the host still starts containers while the bomb runs
    let env2 = Env::new();
    env2.args(&["true"]);
    let id2 = env2.id("nextdoor");
    assert!(env2.run(&id2).status.success());
    env.ok(&["delete", "--force", &id]);
    env.assert_gone(&id);
}

#[test]
fn memory_limit_ooms_inside_the_container() {
    let env = Env::new();
    env.edit(|c| {
        c["linux"]["resources"]["memory"] =
            serde_json::json!({"limit": 32 * 1024 * 1024, "swap": 32 * 1024 * 1024})
    });
    // a shell variable that doubles until the cgroup OOM killer ends it
    env.args(&[
        "sh",
        "-c",
        "x=0123456789abcdef; while true; do x=$x$x; done",
    ]);
    let id = env.id("oom");
    let out = env.run(&id);
    assert_eq!(out.status.code(), Some(137), "{}", stderr(&out));
    // the host is fine: we are still here, and a new container runs
    env.args(&["true"]);
    let id = env.id("afteroom");
    assert!(env.run(&id).status.success());
}

#[test]
fn unexpected_death_is_reported_stopped() {
    let env = Env::new();
    let id = env.id("dies");
    env.start(&id);
    let pid = env.pid(&id);
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    env.wait_status(&id, "stopped");
    env.ok(&["delete", &id]);
    env.assert_gone(&id);
}
