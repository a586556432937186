//! Regression tests for the runtime escape classes in ../shared/SECURITY-NOTES.md:
//! each is a real attempt from inside a container or from a hostile bundle.

mod common;
use common::*;
use serde_json::json;
use std::os::unix::fs::OpenOptionsExt;
use std::time::{Duration, Instant};

fn wait_stopped(pid: u32) {
    let t = Instant::now();
    while !proc_status(pid as i32, "State").starts_with('T') {
        assert!(t.elapsed() < Duration::from_secs(10), "{pid} never stopped");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// CVE-2019-5736, with ward's user namespace: the runtime process that joins
/// the container is non-dumpable and owned by the host's user namespace, so no
/// container process can open its /proc/<pid>/exe.
#[test]
fn runtime_exe_unreachable_from_container_during_exec() {
    let env = Env::new();
    env.with_probe();
    let id = env.id("exe");
    env.start(&id);
    let mut joining = env
        .cmd(&["exec", &id, "true"])
        .env("WARD_TEST_PAUSE_AT", "executor:joined")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // the runtime inside the container stops itself; find it from inside
    let t = Instant::now();
    let mut seen = String::new();
    while t.elapsed() < Duration::from_secs(10) {
        seen = stdout(&env.exec(&id, &["probe", "open-ward-exe"]));
        if !seen.contains("none") && !seen.is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        !seen.contains("none") && !seen.is_empty(),
        "runtime never seen inside: {seen}"
    );
    assert!(
        !seen.contains("opened"),
        "container opened the runtime's exe: {seen}"
    );
    joining.kill().unwrap();
    joining.wait().unwrap();
    env.ok(&["delete", "--force", &id]);
}

/// CVE-2019-5736 without a user namespace (relaxed): ward runs from a sealed
/// memfd while it joins, so /proc/<pid>/exe is not the on-disk binary and
/// cannot be written.
#[test]
fn runtime_binary_is_sealed_during_exec_without_userns() {
    let env = Env::new();
    env.annotate("run.ward.userns", "host");
    let id = env.id("exe");
    env.start(&id);
    let mut child = env
        .cmd(&["exec", &id, "true"])
        .env("WARD_TEST_PAUSE_AT", "exec:prepared")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id();
    wait_stopped(pid);
    let exe = std::fs::read_link(format!("/proc/{pid}/exe")).unwrap();
    // A binary on a read-only mount (the guest lane's 9p share) cannot be
    // overwritten where it lies, and ward runs it as it is (selfprotect.rs).
    let readonly = nix::sys::statvfs::statvfs(&exe)
        .is_ok_and(|s| s.flags().contains(nix::sys::statvfs::FsFlags::ST_RDONLY));
    assert!(
        exe.to_string_lossy().starts_with("/memfd:ward") || readonly,
        "{exe:?}: neither a sealed copy nor on a read-only mount"
    );
    let w = std::fs::OpenOptions::new()
        .write(true)
        .open(format!("/proc/{pid}/exe"));
    assert!(w.is_err(), "the runtime image is writable");
    child.kill().unwrap();
    child.wait().unwrap();
    env.ok(&["state", &id]);
}

/// CVE-2024-21626: no host fd leaks into the container, and a cwd of
/// /proc/self/fd/N cannot put the workload outside its root.
#[test]
fn no_leaked_fds_and_no_cwd_through_proc_fd() {
    let env = Env::new();
    env.args(&["sh", "-c", "ls /proc/self/fd"]);
    let id = env.id("fds");
    let out = env.run(&id);
    assert!(out.status.success(), "{}", stderr(&out));
    let fds: Vec<String> = stdout(&out).split_whitespace().map(String::from).collect();
    // 0,1,2 and the directory fd ls itself opened
    assert!(fds.len() <= 4, "fds visible in the container: {fds:?}");
    for n in 3..12 {
        env.edit(|c| c["process"]["cwd"] = format!("/proc/self/fd/{n}").into());
        env.args(&["sh", "-c", "pwd -P; ls ../../../../../.. | head -50"]);
        let id = env.id("cwdfd");
        let out = env.run(&id);
        let o = stdout(&out);
        assert!(
            !out.status.success()
                || !(o.contains("ward-test") || o.contains("boot") || o.contains("usr")),
            "cwd /proc/self/fd/{n} reached the host: {o}"
        );
    }
}

/// A host directory holding one file, `marker` = "host": the target that
/// symlink attacks aim at.
fn host_target(env: &Env) -> std::path::PathBuf {
    let target = env.dir.path().join("host-target");
    std::fs::create_dir_all(&target).unwrap();
    std::fs::write(target.join("marker"), "host").unwrap();
    target
}

/// Nothing was mounted on `target` in the host's mount namespace, and nothing
/// in it was written or added.
fn assert_host_target_untouched(target: &std::path::Path) {
    let host_mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(
        !host_mounts.contains(target.to_str().unwrap()),
        "mounted on the host target"
    );
    let entries: Vec<_> = std::fs::read_dir(target)
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(entries, vec!["marker"], "written through the symlink");
    assert_eq!(
        std::fs::read_to_string(target.join("marker")).unwrap(),
        "host"
    );
}

/// CVE-2019-19921/2021-30465/2023-27561: a mount destination that is a
/// symlink pointing out of the rootfs must not mount outside it.
#[test]
fn symlinked_mount_destination_stays_inside_rootfs() {
    let env = Env::new();
    let target = host_target(&env);
    let rootfs = env.bundle.join("rootfs");
    std::os::unix::fs::symlink(&target, rootfs.join("evil")).unwrap();
    std::os::unix::fs::symlink(
        "../../../../../../../../../..".to_string() + target.to_str().unwrap(),
        rootfs.join("evil2"),
    )
    .unwrap();
    env.edit(|c| {
        let m = c["mounts"].as_array_mut().unwrap();
        m.push(json!({"destination": "/evil", "type": "tmpfs", "source": "tmpfs", "options": ["size=1m"]}));
        m.push(json!({"destination": "/evil2/sub", "type": "tmpfs", "source": "tmpfs", "options": ["size=1m"]}));
    });
    env.args(&["sh", "-c", "echo inside > /evil/written 2>/dev/null; true"]);
    let id = env.id("symlink");
    let _ = env.run(&id);
    assert_host_target_untouched(&target);
}

/// CVE-2025-31133 family: an image whose /dev/null is a symlink to a host-ish
/// file cannot redirect masking, and masked paths still read empty.
#[test]
fn fake_dev_null_in_image_does_not_redirect_masking() {
    let env = Env::new();
    let victim = env.dir.path().join("victim");
    std::fs::write(&victim, "precious").unwrap();
    let dev = env.bundle.join("rootfs/dev");
    std::os::unix::fs::symlink(&victim, dev.join("null")).unwrap();
    std::os::unix::fs::symlink(&victim, dev.join("console")).unwrap();
    env.args(&[
        "sh",
        "-c",
        "wc -c < /proc/keys; echo gotcha > /dev/null; stat -c %t:%T /dev/null",
    ]);
    let id = env.id("fakenull");
    let out = env.run(&id);
    assert!(out.status.success(), "{}", stderr(&out));
    let o = stdout(&out);
    assert!(o.starts_with('0'), "{o}");
    assert!(o.contains("1:3"), "/dev/null is the real char device: {o}");
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
}

/// CVE-2022-0492: no cgroup v1 release_agent is writable or mountable, with
/// the defaults and with seccomp relaxed (capabilities still stop it).
#[test]
fn cgroup_release_agent_unreachable() {
    for relax in [false, true] {
        let env = Env::new();
        env.with_probe();
        if relax {
            env.annotate("run.ward.seccomp", "unconfined");
        }
        env.args(&["sh", "-c", "for f in $(find /sys/fs/cgroup -maxdepth 2 -name release_agent 2>/dev/null); do echo /x > $f 2>/dev/null && echo WROTE $f; done; mkdir -p /tmp/cg; mount -t cgroup -o memory cgroup /tmp/cg 2>/dev/null && echo MOUNTED; echo mount=$(probe mount); echo done"]);
        let id = env.id("relagent");
        let out = env.run(&id);
        let o = stdout(&out);
        assert!(o.contains("done"), "{o} {}", stderr(&out));
        assert!(
            !o.contains("WROTE") && !o.contains("MOUNTED"),
            "relaxed={relax}: {o}"
        );
    }
}

/// "shocker": open_by_handle_at fails, by seccomp and, relaxed, by capabilities.
#[test]
fn open_by_handle_at_fails_even_with_seccomp_relaxed() {
    for relax in [false, true] {
        let env = Env::new();
        env.with_probe();
        if relax {
            env.annotate("run.ward.seccomp", "unconfined");
        }
        env.args(&["probe", "open_by_handle_at"]);
        let id = env.id("shocker");
        let out = env.run(&id);
        assert_eq!(stdout(&out).trim(), "EPERM", "relaxed={relax}");
    }
}

/// CVE-2022-29162: exec'd processes get an empty inheritable set.
#[test]
fn exec_inheritable_set_is_empty() {
    let env = Env::new();
    // runc's default spec asks for ambient capabilities (which need inheritable);
    // a spec that asks for none must get an empty inheritable set.
    env.edit(|c| c["process"]["capabilities"]["ambient"] = json!([]));
    let id = env.id("inh");
    env.start(&id);
    let out = env.exec(&id, &["grep", "CapInh", "/proc/self/status"]);
    assert!(
        stdout(&out).contains("0000000000000000"),
        "{}",
        stdout(&out)
    );
    let p = env.dir.path().join("p.json");
    std::fs::write(&p, json!({"args": ["grep", "CapInh", "/proc/self/status"], "cwd": "/", "user": {"uid": 0, "gid": 0},
        "capabilities": {"bounding": ["CAP_KILL", "CAP_SYS_ADMIN"], "effective": ["CAP_KILL"], "permitted": ["CAP_KILL"], "inheritable": ["CAP_KILL", "CAP_SYS_ADMIN"]}}).to_string()).unwrap();
    let out = env.ward(&["exec", "--process", p.to_str().unwrap(), &id]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("0000000000000000"),
        "{}",
        stdout(&out)
    );
}

/// Hostile --pid-file and --console-socket paths give a clear error and
/// leave nothing behind.
#[test]
fn hostile_pid_file_and_console_socket() {
    let env = Env::new();
    let id = env.id("pidfile");
    let out = env.ward(&[
        "create",
        "--bundle",
        env.bundle.to_str().unwrap(),
        "--pid-file",
        "/nonexistent-dir/x/pid",
        &id,
    ]);
    assert_fails(&out, "pid");
    env.assert_gone(&id);
    env.edit(|c| c["process"]["terminal"] = true.into());
    let id = env.id("consock");
    let out = env.ward(&[
        "create",
        "--bundle",
        env.bundle.to_str().unwrap(),
        "--console-socket",
        "/etc/passwd",
        &id,
    ]);
    assert!(!out.status.success());
    env.assert_gone(&id);
    let _ = std::fs::OpenOptions::new().mode(0o600);
}

/// CVE-2021-30465 class, raced: while containers are created, another process
/// keeps swapping a mount destination inside the rootfs between a real
/// directory and a symlink to a host directory (atomic RENAME_EXCHANGE). No
/// create may mount onto, or write into, the host directory, whichever way
/// each race falls; a create that loses the race fails cleanly.
#[test]
fn raced_symlink_swap_of_mount_destination() {
    use std::ffi::CString;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    let env = Env::new();
    let target = host_target(&env);
    let rootfs = env.bundle.join("rootfs");
    std::fs::create_dir(rootfs.join("racey")).unwrap();
    std::os::unix::fs::symlink(&target, rootfs.join("racey-alt")).unwrap();
    env.edit(|c| {
        let m = c["mounts"].as_array_mut().unwrap();
        m.push(json!({"destination": "/racey", "type": "tmpfs", "source": "tmpfs", "options": ["size=1m"]}));
    });
    env.args(&["sh", "-c", "echo inside > /racey/written 2>/dev/null; true"]);

    let stop = Arc::new(AtomicBool::new(false));
    let swaps = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let racer = {
        let (stop, swaps) = (stop.clone(), swaps.clone());
        let a = CString::new(rootfs.join("racey").to_str().unwrap()).unwrap();
        let b = CString::new(rootfs.join("racey-alt").to_str().unwrap()).unwrap();
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                // SAFETY: two valid NUL-terminated paths; renameat2 has no
                // other memory effects.
                let rc = unsafe {
                    libc::renameat2(
                        libc::AT_FDCWD,
                        a.as_ptr(),
                        libc::AT_FDCWD,
                        b.as_ptr(),
                        libc::RENAME_EXCHANGE,
                    )
                };
                assert_eq!(rc, 0, "renameat2: {}", std::io::Error::last_os_error());
                swaps.fetch_add(1, Ordering::Relaxed);
            }
        })
    };

    let (mut ok, mut failed) = (0, 0);
    for i in 0..16 {
        // Half the runs without ward's user namespace: container root is host
        // root there, the case this CVE class was about.
        env.edit(|c| {
            let a = c["annotations"].as_object_mut();
            let host = i % 2 == 1;
            match a {
                Some(a) if host => {
                    a.insert("run.ward.userns".into(), "host".into());
                }
                Some(a) => {
                    a.remove("run.ward.userns");
                }
                None if host => c["annotations"] = json!({"run.ward.userns": "host"}),
                None => {}
            }
        });
        let id = env.id("race");
        let out = env.run(&id);
        if out.status.success() {
            ok += 1;
        } else {
            failed += 1;
            let _ = env.ward(&["delete", "--force", &id]);
            env.assert_gone(&id);
        }
        let host_mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
        assert!(
            !host_mounts.contains(target.to_str().unwrap()),
            "run {i}: mounted on the host target"
        );
    }
    stop.store(true, Ordering::Relaxed);
    racer.join().unwrap();
    assert!(swaps.load(Ordering::Relaxed) > 100, "the race did not run");
    assert_host_target_untouched(&target);
    eprintln!("raced creates: {ok} ran, {failed} refused");
}

/// CVE-2025-52881 class: a bundle mount placed over a procfs file the runtime
/// writes during create (a sysctl, oom_score_adj) must not redirect that
/// write into the mount's source on the host.
#[test]
fn procfs_writes_not_redirected_by_overmounts() {
    for host_ids in [false, true] {
        let env = Env::new();
        if host_ids {
            env.annotate("run.ward.userns", "host");
        }
        let victim = env.dir.path().join("victim");
        std::fs::write(&victim, "precious\n").unwrap();
        std::fs::set_permissions(&victim, std::os::unix::fs::PermissionsExt::from_mode(0o666))
            .unwrap();
        let v = victim.to_str().unwrap().to_string();
        env.edit(|c| {
            c["linux"]["sysctl"] = json!({"kernel.domainname": "redirected"});
            c["process"]["oomScoreAdj"] = json!(123);
            let m = c["mounts"].as_array_mut().unwrap();
            for dest in ["/proc/sys/kernel/domainname", "/proc/self/oom_score_adj"] {
                m.push(json!({"destination": dest, "type": "bind", "source": v, "options": ["bind", "rw"]}));
            }
        });
        env.args(&["true"]);
        let id = env.id("procredir");
        let out = env.run(&id);
        if !out.status.success() {
            // refusing the bundle is fine; leaving something behind is not
            let _ = env.ward(&["delete", "--force", &id]);
            env.assert_gone(&id);
        }
        eprintln!(
            "host_ids={host_ids}: exit {:?}: {}",
            out.status.code(),
            stderr(&out).trim()
        );
        assert_eq!(
            std::fs::read_to_string(&victim).unwrap(),
            "precious\n",
            "host_ids={host_ids}: a procfs write landed in the host file ({})",
            stderr(&out)
        );
    }
}
