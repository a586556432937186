//! Mount and process-setup behaviours runc's integration tests check
//! (mounts.bats, run.bats, umask.bats, tty.bats), run under ward's defaults:
//! each is what the spec asks for, not one of ward's deviations.

mod common;
use common::*;
use serde_json::json;
use std::os::unix::fs::PermissionsExt;
use std::process::Command;

fn add_mount(env: &Env, m: serde_json::Value) {
    env.edit(|c| c["mounts"].as_array_mut().unwrap().push(m));
}

/// A tmpfs without `mode=` over an existing directory takes that directory's
/// mode; an explicit `mode=` wins; over a directory made for it, tmpfs's own
/// 1777. The image's directory itself is not changed.
#[test]
fn tmpfs_mode_is_inherited_as_in_runc() {
    let env = Env::new();
    let dir = env.bundle.join("rootfs/tmpfs");
    std::fs::create_dir(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o710)).unwrap();
    add_mount(
        &env,
        json!({"type": "tmpfs", "source": "tmpfs", "destination": "/tmpfs", "options": ["rw", "nodev", "nosuid"]}),
    );
    add_mount(
        &env,
        json!({"type": "tmpfs", "source": "tmpfs", "destination": "/explicit", "options": ["mode=1500"]}),
    );
    add_mount(
        &env,
        json!({"type": "tmpfs", "source": "tmpfs", "destination": "/non-existent/foo", "options": ["rw"]}),
    );
    let out = run_sh(
        &env,
        "tmpfs-mode",
        "stat -c %a /tmpfs /explicit /non-existent/foo; grep ' /tmpfs ' /proc/self/mounts",
    );
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(&lines[..3], &["710", "1500", "1777"], "{out}");
    assert!(lines[3].contains("mode=710"), "{out}");
    let mode = std::fs::metadata(&dir).unwrap().permissions().mode() & 0o7777;
    assert_eq!(mode, 0o710);
}

/// `tmpcopyup`: the tmpfs starts with a copy of the image's directory (modes,
/// symlinks kept as links), and writes to it do not reach the image.
#[test]
fn tmpcopyup_copies_the_image_directory() {
    let env = Env::new();
    let d = env.bundle.join("rootfs/dir1");
    std::fs::create_dir_all(d.join("dir2")).unwrap();
    std::fs::set_permissions(d.join("dir2"), std::fs::Permissions::from_mode(0o777)).unwrap();
    std::fs::write(d.join("dir2/file"), "content").unwrap();
    std::os::unix::fs::symlink("/etc/passwd", d.join("link")).unwrap();
    add_mount(
        &env,
        json!({"type": "tmpfs", "source": "tmpfs", "destination": "/dir1", "options": ["tmpcopyup"]}),
    );
    let out = run_sh(
        &env,
        "copyup",
        "stat -c %a /dir1/dir2; cat /dir1/dir2/file; echo; readlink /dir1/link; \
         echo new > /dir1/dir2/new; grep ' /dir1 ' /proc/self/mounts | cut -d' ' -f3",
    );
    assert_eq!(out, "777\ncontent\n/etc/passwd\ntmpfs\n");
    assert!(!d.join("dir2/new").exists(), "the write reached the image");
}

/// A `/dev` mount with `ro` is read-only once its devices are made.
#[test]
fn read_only_dev_mount() {
    let env = Env::new();
    env.edit(|c| {
        for m in c["mounts"].as_array_mut().unwrap() {
            if m["destination"] == "/dev" {
                m["options"].as_array_mut().unwrap().push("ro".into());
            }
        }
    });
    let out = run_sh(
        &env,
        "ro-dev",
        "grep '^tmpfs /dev ' /proc/mounts; ls /dev/null >/dev/null && echo devices-ok",
    );
    assert!(out.starts_with("tmpfs /dev tmpfs ro,"), "{out}");
    assert!(out.contains("devices-ok"), "{out}");
}

/// `process.user.umask` applies to the init and to processes exec'd later.
#[test]
fn umask_applies_to_init_and_exec() {
    let env = Env::new();
    env.edit(|c| c["process"]["user"]["umask"] = 63.into());
    let id = env.id("umask");
    env.start(&id);
    let out = env.exec(
        &id,
        &["sh", "-c", "grep Umask /proc/1/status /proc/self/status"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let o = stdout(&out);
    assert_eq!(o.matches("0077").count(), 2, "{o}");
    env.ok(&["delete", "--force", &id]);
    env.assert_gone(&id);
}

/// A foreground `run` with `terminal: true`: the program's "\n" arrives as
/// "\n" (runc clears ONLCR on the pty), so output compares as printed.
#[test]
fn foreground_terminal_output_keeps_newlines() {
    let env = Env::new();
    env.edit(|c| c["process"]["terminal"] = true.into());
    env.args(&["sh", "-c", "echo one; echo two"]);
    let id = env.id("tty-nl");
    let out = env.run(&id);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "one\ntwo\n");
}

/// Masked paths as runc masks them: a path listed twice is masked once, and
/// masked directories share one read-only tmpfs.
#[test]
fn masked_paths_deduplicated_and_sharing_one_tmpfs() {
    let env = Env::new();
    for d in ["testdir", "testdir2", "testdir3"] {
        std::fs::create_dir(env.bundle.join("rootfs").join(d)).unwrap();
    }
    env.edit(|c| {
        let list = c["linux"]["maskedPaths"].as_array_mut().unwrap();
        for p in ["/testdir", "/testdir", "/testdir2", "/testdir3"] {
            list.push(p.into());
        }
    });
    let out = run_sh(
        &env,
        "masked",
        "grep -c ' /testdir ' /proc/self/mounts; stat -c %d /testdir /testdir2 /testdir3 | uniq | wc -l; \
         touch /testdir2/x 2>&1 | grep -c 'Read-only'",
    );
    assert_eq!(out, "1\n1\n1\n");
}

/// `/sys/fs/cgroup` with `ro` (runc's template) gives read-only cgroup
/// hierarchies, not only a read-only tmpfs above them (cgroup v1).
#[test]
fn read_only_cgroup_mount_reaches_every_hierarchy() {
    if std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
        eprintln!("skipped: cgroup v2 host (one cgroup2 mount)");
        return;
    }
    let env = Env::new();
    let out = run_sh(
        &env,
        "ro-cgroup",
        "grep ' /sys/fs/cgroup' /proc/self/mounts | cut -d' ' -f2,4",
    );
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines.len() > 2, "{out}");
    for l in lines {
        assert!(
            l.split(' ').nth(1).unwrap_or("").starts_with("ro,"),
            "{out}"
        );
    }
}

/// Bind sources the root of the spec's own user namespace cannot reach (a
/// 0700 directory of host root on the way) are opened by ward on the host
/// side, as runc's mount source fds are (userns.bats "inaccessible mounts").
#[test]
fn inaccessible_bind_sources_under_the_spec_user_namespace() {
    let env = Env::new();
    let secret = env.dir.path().join("secret");
    std::fs::create_dir_all(secret.join("data")).unwrap();
    std::fs::write(secret.join("data/file"), "inside").unwrap();
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o700)).unwrap();
    std::fs::set_permissions(secret.join("data"), std::fs::Permissions::from_mode(0o755)).unwrap();
    let src = secret.join("data").to_str().unwrap().to_string();
    // (the mount point exists: the mapped root could not create it)
    std::fs::create_dir(env.bundle.join("rootfs/data")).unwrap();
    env.edit(|c| {
        add_own_userns(c, 65536);
        c["mounts"].as_array_mut().unwrap().push(
            json!({"destination": "/data", "type": "bind", "source": src, "options": ["rbind", "ro"]}),
        );
    });
    let out = run_sh(&env, "inaccessible", "cat /data/file");
    assert_eq!(out, "inside");
}

/// A mount destination written with the rootfs's host path in front names
/// the path inside the container, and a bind source in the rootfs sees the
/// mounts made before it (runc's "mount order" test).
#[test]
fn rootfs_prefixed_destinations_and_mount_order() {
    let env = Env::new();
    let rootfs = env.bundle.join("rootfs");
    let a = env.dir.path().join("bind-a");
    std::fs::create_dir_all(a.join("x")).unwrap();
    std::fs::write(a.join("x/file"), "a/x").unwrap();
    std::fs::create_dir_all(rootfs.join("final")).unwrap();
    let (a, r) = (
        a.to_str().unwrap().to_string(),
        rootfs.to_str().unwrap().to_string(),
    );
    env.edit(|c| {
        let m = c["mounts"].as_array_mut().unwrap();
        m.push(json!({"destination": "/mnt", "type": "bind", "source": a, "options": ["rbind"]}));
        // source and destination both spelled through the host path of the rootfs
        m.push(json!({"destination": format!("{r}/final"), "type": "bind",
                      "source": format!("{r}/mnt"), "options": ["rbind"]}));
    });
    env.annotate("run.ward.userns", "host");
    let out = run_sh(&env, "mount-order", "cat /final/x/file");
    assert_eq!(out, "a/x");
}

/// A bind destination through dangling symlinks is followed inside the
/// rootfs, creating what is missing, as runc does (/etc/hosts -> /jump/baz/hosts,
/// /jump -> /opt/foo/bar, none of it existing).
#[test]
fn bind_destination_through_dangling_symlinks() {
    let env = Env::new();
    let rootfs = env.bundle.join("rootfs");
    std::os::unix::fs::symlink("/opt/foo/bar", rootfs.join("jump")).unwrap();
    std::os::unix::fs::symlink("/jump/baz/hosts", rootfs.join("etc/hosts")).unwrap();
    let src = env.dir.path().join("hosts-src");
    std::fs::write(&src, "bound").unwrap();
    let s = src.to_str().unwrap().to_string();
    env.edit(|c| {
        c["mounts"].as_array_mut().unwrap().push(
            json!({"destination": "/etc/hosts", "type": "bind", "source": s, "options": ["bind"]}),
        )
    });
    let out = run_sh(
        &env,
        "dangling",
        "cat /opt/foo/bar/baz/hosts; echo; cat /etc/hosts",
    );
    assert_eq!(out, "bound\nbound");
    // Created in the image, inside the rootfs, and nowhere else.
    assert!(rootfs.join("opt/foo/bar/baz/hosts").exists());
}

/// `linux.mountLabel` on a host without SELinux: masked directories (ward's
/// defaults add some) get their tmpfs without a `context=` option, which the
/// kernel would refuse (runtime-tools' linux_mount_label under defaults).
#[test]
fn mount_label_without_selinux_masks_directories() {
    if std::path::Path::new("/sys/fs/selinux").exists() {
        eprintln!("skipped: SELinux is on");
        return;
    }
    let env = Env::new();
    std::fs::create_dir(env.bundle.join("rootfs/masked")).unwrap();
    env.edit(|c| {
        c["linux"]["mountLabel"] = "system_u:object_r:svirt_sandbox_file_t:s0:c715,c811".into();
        c["linux"]["maskedPaths"]
            .as_array_mut()
            .unwrap()
            .push("/masked".into());
    });
    let out = run_sh(
        &env,
        "mountlabel",
        "grep -c ' /masked tmpfs ro' /proc/self/mounts",
    );
    assert_eq!(out, "1\n");
}

/// A bind's own propagation option applies to it, in the order given
/// (idmap.bats "propagation flag"): `shared` makes a peer group, and a
/// later `private` undoes an earlier `shared`.
#[test]
fn bind_propagation_options_apply() {
    let env = Env::new();
    let src = env.dir.path().join("propsrc");
    std::fs::create_dir_all(&src).unwrap();
    let s = src.to_str().unwrap().to_string();
    add_mount(
        &env,
        json!({"destination": "/mnt/shared", "type": "bind", "source": s, "options": ["bind", "shared"]}),
    );
    add_mount(
        &env,
        json!({"destination": "/mnt/undone", "type": "bind", "source": s, "options": ["bind", "shared", "private"]}),
    );
    let info = run_sh(&env, "bindprop", "cat /proc/self/mountinfo");
    let line = |dest: &str| {
        info.lines()
            .find(|l| l.split(' ').nth(4) == Some(dest))
            .unwrap_or_else(|| panic!("{dest} not mounted: {info}"))
            .to_string()
    };
    assert!(line("/mnt/shared").contains(" shared:"), "{info}");
    assert!(!line("/mnt/undone").contains(" shared:"), "{info}");
}

/// ward's layers relaxed as `[relax]` with every key set would (tests/relax.rs).
fn relax_all(env: &Env) {
    env.relax_all();
}

/// `--no-pivot` (no_pivot.bats "must not expose bare /proc"): chroot keeps the
/// namespace's whole mount tree, and the kernel lets a nested user namespace
/// mount a fresh procfs or sysfs while any full, uncovered mount of that type
/// is in it. Every such mount outside the rootfs is gone before the chroot, not
/// only /proc and /sys: here a second procfs and sysfs sit elsewhere in the
/// mount namespace ward starts from (a private one, so the host is untouched).
#[test]
fn no_pivot_leaves_no_full_proc_or_sysfs_behind() {
    let env = Env::new();
    relax_all(&env);
    env.args(&[
        "unshare",
        "-mrpfn",
        "sh",
        "-c",
        "mount -t proc none /proc && echo proc-mounted; \
         mount -t sysfs -o ro none /sys && echo sysfs-mounted; echo done",
    ]);
    env.edit(|c| {
        for set in ["bounding", "permitted", "effective"] {
            c["process"]["capabilities"][set]
                .as_array_mut()
                .unwrap()
                .push("CAP_SETFCAP".into());
        }
    });
    let extra = env.dir.path().join("extra");
    for d in ["proc", "sys"] {
        std::fs::create_dir_all(extra.join(d)).unwrap();
    }
    let id = env.id("nopivot");
    let out = Command::new("unshare")
        .args(["-m", "--propagation", "private", "sh", "-c"])
        .arg("mount -t proc proc \"$0/proc\" && mount -t sysfs sysfs \"$0/sys\" && exec \"$@\"")
        .arg(&extra)
        .arg(WARD)
        .arg("--root")
        .arg(&env.root)
        .args(["run", "--no-pivot", "--bundle"])
        .arg(&env.bundle)
        .arg(&id)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let text = format!("{}{}", stdout(&out), stderr(&out));
    assert!(text.contains("done"), "the container did not run: {text}");
    assert!(!text.contains("proc-mounted"), "{text}");
    assert!(!text.contains("sysfs-mounted"), "{text}");
    assert!(text.contains("permission denied"), "{text}");
}

/// An id-mapped bind whose source lies in the rootfs is mapped at its turn in
/// the container's mount namespace, so it sees the mounts made before it
/// (mounts.bats "mount order, container idmap source"): without a user
/// namespace and under the spec's own, with every layer relaxed. ward staged
/// id-mapped binds on the host side before create, where that source is an
/// empty directory (or missing: "idmapped mount is not supported").
#[test]
fn idmapped_bind_of_a_source_inside_the_container_tree() {
    for own_userns in [false, true] {
        let env = Env::new();
        relax_all(&env);
        let rootfs = env.bundle.join("rootfs");
        let a = env.dir.path().join("bind-a");
        std::fs::create_dir_all(a.join("x")).unwrap();
        std::fs::write(a.join("x/file"), "a/x").unwrap();
        std::os::unix::fs::chown(a.join("x/file"), Some(42), Some(42)).unwrap();
        std::fs::create_dir_all(rootfs.join("final")).unwrap();
        let host = if own_userns { 3000000000u32 } else { 100000 };
        let map = json!([{"containerID": 0, "hostID": host, "size": 65536}]);
        let (a, r) = (
            a.to_str().unwrap().to_string(),
            rootfs.to_str().unwrap().to_string(),
        );
        env.edit(|c| {
            if own_userns {
                add_own_userns(c, 65536);
            }
            let m = c["mounts"].as_array_mut().unwrap();
            m.push(
                json!({"destination": "/mnt", "type": "bind", "source": a, "options": ["rbind"]}),
            );
            m.push(
                json!({"destination": "/final", "type": "bind", "source": format!("{r}/mnt"),
                          "options": ["rbind", "idmap"], "uidMappings": map, "gidMappings": map}),
            );
        });
        let out = run_sh(
            &env,
            "idmap-ctr-src",
            "cat /final/x/file; echo; stat -c %u:%g /final/x/file /mnt/x/file",
        );
        // Through the mapping, on-disk 42 is host 100042 without a user
        // namespace, container 42 in one mapped like the mount; the plain
        // bind shows host ids (42, or the overflow id in the namespace).
        let want = if own_userns {
            "a/x\n42:42\n65534:65534\n"
        } else {
            "a/x\n100042:100042\n42:42\n"
        };
        assert_eq!(out, want, "own_userns={own_userns}");
    }
}

/// A spec profile that denies getcwd (runtime-tools linux_seccomp) applies to
/// the container's process, not to the runtime's own checks: the init
/// verifies its cwd before installing any filter (here without
/// noNewPrivileges, where the filters go on before the capabilities are
/// dropped). The create failed with EPERM; runc fails it too ("getwd").
#[test]
fn spec_filter_denying_getcwd_still_starts() {
    let env = Env::new();
    relax_all(&env);
    env.edit(|c| {
        c["process"]["noNewPrivileges"] = false.into();
        c["process"]["cwd"] = "/tmp".into();
        c["linux"]["seccomp"] = json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "architectures": ["SCMP_ARCH_X86_64"],
            "syscalls": [{"names": ["getcwd"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]
        });
    });
    let out = run_sh(
        &env,
        "getcwd-denied",
        "grep '^Seccomp:' /proc/self/status; env pwd || echo getcwd-denied",
    );
    assert!(out.contains("Seccomp:\t2"), "{out}");
    assert!(out.contains("getcwd-denied"), "{out}");
}

/// The state a prestart, createRuntime or createContainer hook reads says
/// "created": they run after the runtime environment is created (runtime-spec
/// lifecycle steps 3-5; "creating" is step 2). runtime-tools' hooks_stdin
/// checks it; runc says "creating".
#[test]
fn create_hooks_see_the_created_state() {
    let env = Env::new();
    relax_all(&env);
    let out = env.dir.path().join("hook-states");
    std::fs::create_dir(&out).unwrap();
    let hook = |name: &str| {
        let f = out.join(name);
        json!({"path": "/bin/sh", "args": ["sh", "-c", format!("cat > {}", f.display())]})
    };
    env.edit(|c| {
        c["hooks"] = json!({
            "prestart": [hook("prestart")],
            "createRuntime": [hook("createRuntime")],
            "createContainer": [hook("createContainer")],
        });
    });
    env.args(&["true"]);
    let id = env.id("hookstate");
    let o = env.run(&id);
    assert!(o.status.success(), "{}", stderr(&o));
    for name in ["prestart", "createRuntime", "createContainer"] {
        let text = std::fs::read_to_string(out.join(name)).unwrap();
        let state: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(state["status"], "created", "{name}: {text}");
        assert_eq!(state["id"], id.as_str(), "{name}: {text}");
    }
}

/// runc's "mount order" under ward's defaults (its own user namespace): a
/// bind source spelled with the rootfs's host path names the container's tree
/// as the mounts before it built it, through ward's id-mapped copy of the
/// rootfs, so ids stay as under runc. It named the bundle's own rootfs
/// directory, without those mounts ("prepare rootfs: No such file or
/// directory").
#[test]
fn mount_order_under_wards_user_namespace() {
    let env = Env::new();
    let rootfs = env.bundle.join("rootfs");
    let a = env.dir.path().join("bind-a");
    std::fs::create_dir_all(a.join("x")).unwrap();
    std::fs::write(a.join("x/file"), "a/x").unwrap();
    std::fs::create_dir_all(rootfs.join("final")).unwrap();
    let (a, r) = (
        a.to_str().unwrap().to_string(),
        rootfs.to_str().unwrap().to_string(),
    );
    env.edit(|c| {
        let m = c["mounts"].as_array_mut().unwrap();
        m.push(json!({"destination": "/mnt", "type": "bind", "source": a, "options": ["rbind"]}));
        m.push(json!({"destination": "/final", "type": "bind",
                      "source": format!("{r}/mnt"), "options": ["rbind"]}));
    });
    let out = run_sh(
        &env,
        "mount-order-ward",
        "cat /proc/self/uid_map; cat /final/x/file; echo; stat -c %u /final/x/file",
    );
    let lines: Vec<&str> = out.lines().collect();
    assert_ne!(
        lines[0].split_whitespace().nth(1),
        Some("0"),
        "ward's user namespace: {out}"
    );
    assert_eq!(&lines[1..], &["a/x", "0"], "{out}");
}

/// A FUSE mount made by host root without `allow_other` (bindfs
/// --no-allow-other), unmounted (lazily) on drop even if the test fails.
struct FuseMount(std::path::PathBuf);

impl Drop for FuseMount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// A bind whose source is a FUSE mount that refuses every other user
/// (mounts_sshfs.bats): the init, in a user namespace, cannot even stat it,
/// so ward's main process clones the tree host-side and the init only
/// attaches it. Under ward's own user namespace and under the spec's. The
/// container itself still cannot read through it (FUSE refuses it too, as
/// under runc): it sees the mount, and its stat is refused.
#[test]
fn fuse_bind_source_without_allow_other_under_userns() {
    if Command::new("bindfs").arg("--version").output().is_err() {
        skip(
            "fuse_bind_source_without_allow_other_under_userns",
            "bindfs is not installed (integration/setup.sh installs it)",
        );
        return;
    }
    for own in [false, true] {
        let env = Env::new();
        let data = env.dir.path().join("data");
        let mnt = env.dir.path().join("fuse");
        std::fs::create_dir_all(&data).unwrap();
        std::fs::create_dir_all(&mnt).unwrap();
        std::fs::write(data.join("hello"), "fuse").unwrap();
        let st = Command::new("bindfs")
            .arg("--no-allow-other")
            .arg(&data)
            .arg(&mnt)
            .status()
            .unwrap();
        assert!(st.success(), "bindfs failed");
        let _fuse = FuseMount(mnt.clone());
        // Host root, the mounter, reads through it.
        assert_eq!(std::fs::read_to_string(mnt.join("hello")).unwrap(), "fuse");
        if own {
            env.own_userns(65536);
        }
        add_mount(
            &env,
            json!({"type": "bind", "source": mnt, "destination": "/mnt", "options": ["bind"]}),
        );
        // A recursive read-only one, and a file inside the FUSE mount
        // (destinations made here: the spec's root cannot write the rootfs).
        std::fs::create_dir(env.bundle.join("rootfs/rmnt")).unwrap();
        std::fs::write(env.bundle.join("rootfs/hello"), "").unwrap();
        add_mount(
            &env,
            json!({"type": "bind", "source": mnt, "destination": "/rmnt", "options": ["rbind", "ro"]}),
        );
        add_mount(
            &env,
            json!({"type": "bind", "source": mnt.join("hello"), "destination": "/hello", "options": ["bind"]}),
        );
        let out = run_sh(
            &env,
            "fusebind",
            "grep -E ' /(mnt|rmnt|hello) ' /proc/self/mounts; cat /mnt/hello 2>&1 || echo refused",
        );
        let line = |d: &str| {
            out.lines()
                .find(|l| l.split(' ').nth(1) == Some(d))
                .unwrap_or_else(|| panic!("own userns {own}: no {d} in {out}"))
                .to_string()
        };
        assert!(line("/mnt").contains(" fuse"), "own userns {own}: {out}");
        assert!(line("/rmnt").contains(" ro,"), "own userns {own}: {out}");
        assert!(line("/hello").contains(" fuse"), "own userns {own}: {out}");
        assert!(out.contains("refused"), "own userns {own}: {out}");
    }
}
