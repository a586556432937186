//! Docker under ward's defaults (issue #12): bind mounts and volumes are
//! id-mapped with the container's user namespace, so they behave as under
//! runc; an overlayfs rootfs keeps the user namespace when read-only, and
//! never makes the kernel warn about an upperdir in use by two overlays.

mod common;
use common::*;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

fn mountinfo() -> String {
    std::fs::read_to_string("/proc/self/mountinfo").unwrap()
}

/// How often the kernel has warned that an overlay layer is in use by
/// another overlay. The log is host-wide: count just around one create.
fn inuse_warnings() -> usize {
    let out = std::process::Command::new("dmesg").output().unwrap();
    assert!(out.status.success(), "dmesg: {}", stderr(&out));
    stdout(&out).matches("in-use as upperdir").count()
}

fn inspect(env: &Env, id: &str) -> serde_json::Value {
    serde_json::from_str(&env.ok(&["inspect", "-f", "json", id])).unwrap()
}

/// The staging dir of a container's id-mapped rootfs and binds.
fn staging_dir(report: &serde_json::Value) -> PathBuf {
    let slot = report["policy"]["userns"]["ward"]["range"]["slot"]
        .as_u64()
        .expect("ward's user namespace");
    Path::new("/run/ward-rootfs").join(slot.to_string())
}

fn add_bind(env: &Env, src: &Path, dest: &str, opts: &[&str]) {
    let (s, d) = (src.to_str().unwrap().to_string(), dest.to_string());
    let o: Vec<String> = opts.iter().map(|s| s.to_string()).collect();
    env.edit(|c| {
        c["mounts"].as_array_mut().unwrap().push(serde_json::json!({
            "destination": d, "type": "bind", "source": s, "options": o
        }))
    });
}

fn uid_map_inside(o: &str) -> Vec<String> {
    o.lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .map(String::from)
        .collect()
}

#[test]
fn binds_are_idmapped_like_runc() {
    let env = Env::new();
    // Root-owned 0755, as a host directory or a Docker volume is: container
    // root can write it only if the bind maps it to host root.
    let dir = env.dir.path().join("hostdir");
    std::fs::create_dir(&dir).unwrap();
    std::fs::set_permissions(&dir, PermissionsExt::from_mode(0o755)).unwrap();
    std::fs::write(dir.join("old"), "old").unwrap();
    // A file owned by host uid 1000, mode 0600: writable by container uid 1000.
    let file = env.dir.path().join("userfile");
    std::fs::write(&file, "").unwrap();
    std::os::unix::fs::chown(&file, Some(1000), Some(1000)).unwrap();
    std::fs::set_permissions(&file, PermissionsExt::from_mode(0o600)).unwrap();
    let ro = env.dir.path().join("rodir");
    std::fs::create_dir(&ro).unwrap();
    add_bind(&env, &dir, "/data", &["rbind", "rw"]);
    add_bind(&env, &file, "/userfile", &["bind", "rw"]);
    add_bind(&env, &ro, "/ro", &["rbind", "ro"]);
    let id = env.id("binds");
    env.start(&id);
    let report = inspect(&env, &id);
    let staged = staging_dir(&report);

    let out = env.exec(
        &id,
        &[
            "sh",
            "-c",
            "cat /proc/self/uid_map; stat -c %u:%g /data /data/old; \
             echo new > /data/new && echo data-ok; \
             touch /ro/x 2>/dev/null && echo ro-written || echo ro-denied",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let o = stdout(&out);
    let map = uid_map_inside(&o);
    assert_ne!(map, vec!["0", "0", "4294967295"], "user namespace: {o}");
    assert!(
        map[1].parse::<u64>().unwrap() >= 1 << 31,
        "private range: {o}"
    );
    assert!(o.contains("0:0\n0:0\n"), "bind shows host root as 0: {o}");
    assert!(o.contains("data-ok"), "{o}");
    assert!(
        o.contains("ro-denied"),
        "read-only bind stays read-only: {o}"
    );
    let md = std::fs::metadata(dir.join("new")).unwrap();
    assert_eq!((md.uid(), md.gid()), (0, 0), "written as host root");
    assert!(!ro.join("x").exists());

    // Container uid 1000 writes the file host uid 1000 owns; uid 1001 cannot.
    let out = env.exec(
        &id,
        &[
            "--user",
            "1000:1000",
            "sh",
            "-c",
            "stat -c %u /userfile; echo user >> /userfile && echo user-ok",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "1000\nuser-ok\n");
    let out = env.exec(
        &id,
        &["--user", "1001:1001", "sh", "-c", "echo x >> /userfile"],
    );
    assert!(
        !out.status.success(),
        "uid 1001 wrote a 0600 file of uid 1000"
    );
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "user\n");
    assert_eq!(std::fs::metadata(&file).unwrap().uid(), 1000);
    // Nothing to report: every bind took the mapping.
    assert_eq!(
        report["policy"]["adaptations"].as_array().map(Vec::len),
        Some(0),
        "{report}"
    );

    env.ok(&["delete", "--force", &id]);
    env.assert_gone(&id);
    let mi = mountinfo();
    assert!(
        !mi.contains(&format!("{} ", staged.display()))
            && !mi.contains(&format!("{}/", staged.display())),
        "staged binds left mounted: {mi}"
    );
}

/// Where the kernel cannot id-map a bind source, the bind stays plain and the
/// posture report says so; an rbind's submount that cannot be id-mapped keeps
/// host ids while the rest is mapped.
#[test]
fn unmappable_binds_stay_plain_and_are_reported() {
    let env = Env::new();
    let dir = env.dir.path().join("withsub");
    std::fs::create_dir_all(dir.join("sub")).unwrap();
    nix::mount::mount(
        Some("ramfs"),
        &dir.join("sub"),
        Some("ramfs"),
        nix::mount::MsFlags::empty(),
        None::<&str>,
    )
    .unwrap();
    struct Unmount(PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = nix::mount::umount2(&self.0, nix::mount::MntFlags::MNT_DETACH);
        }
    }
    let _guard = Unmount(dir.join("sub"));
    std::fs::write(dir.join("sub/in-ramfs"), "r").unwrap();
    std::fs::write(dir.join("top"), "t").unwrap();
    add_bind(&env, &dir, "/withsub", &["rbind", "rw"]);
    add_bind(
        &env,
        Path::new("/sys/kernel"),
        "/syskernel",
        &["rbind", "ro"],
    );
    let id = env.id("plainbinds");
    env.start(&id);
    let out = env.exec(
        &id,
        &[
            "sh",
            "-c",
            "stat -c %u /withsub/top /withsub/sub/in-ramfs; ls /syskernel >/dev/null && echo sys-ok",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    // 65534: host root is unmapped in the container (the ramfs kept host ids).
    assert_eq!(stdout(&out), "0\n65534\nsys-ok\n");
    let report = inspect(&env, &id);
    let adaptations = report["policy"]["adaptations"].to_string();
    assert!(
        adaptations.contains("/withsub") && adaptations.contains("ramfs"),
        "{adaptations}"
    );
    assert!(
        adaptations.contains("/syskernel") && adaptations.contains("sysfs"),
        "{adaptations}"
    );
    let text = env.ok(&["inspect", &id]);
    assert!(text.contains("adaptations:"), "{text}");
    assert!(text.contains("submounts not id-mapped"), "{text}");
    env.ok(&["delete", "--force", &id]);
    env.assert_gone(&id);
}

/// An overlay like Docker's overlay2 hands over: lower = the busybox rootfs,
/// upper and work empty (or `upper` filled by the caller), mounted at
/// bundle/rootfs. Unmounted on drop.
struct Overlay {
    base: PathBuf,
    merged: PathBuf,
}

impl Overlay {
    fn new(env: &Env, fill_upper: impl FnOnce(&Path)) -> Overlay {
        let base = env.dir.path().join("ovl");
        for d in ["lower", "upper", "work"] {
            std::fs::create_dir_all(base.join(d)).unwrap();
        }
        let merged = env.bundle.join("rootfs");
        std::fs::rename(&merged, base.join("lower/rootfs")).unwrap();
        std::fs::create_dir(&merged).unwrap();
        fill_upper(&base.join("upper"));
        let opts = format!(
            "lowerdir={},upperdir={},workdir={}",
            base.join("lower/rootfs").display(),
            base.join("upper").display(),
            base.join("work").display()
        );
        nix::mount::mount(
            Some("overlay"),
            &merged,
            Some("overlay"),
            nix::mount::MsFlags::empty(),
            Some(opts.as_str()),
        )
        .unwrap();
        Overlay { base, merged }
    }

    /// Lines of mountinfo naming the test's overlay dirs: only its own mount.
    fn mounts_left(&self) -> usize {
        mountinfo()
            .lines()
            .filter(|l| l.contains(self.base.to_str().unwrap()))
            .count()
    }
}

impl Drop for Overlay {
    fn drop(&mut self) {
        let _ = nix::mount::umount2(&self.merged, nix::mount::MntFlags::MNT_DETACH);
    }
}

#[test]
fn readonly_overlay_rootfs_keeps_the_user_namespace() {
    let env = Env::new();
    let ovl = Overlay::new(&env, |_| {});
    env.args(&[
        "sh",
        "-c",
        "cat /proc/self/uid_map; stat -c %u /bin/busybox; \
         touch /x 2>/dev/null && echo root-written || echo root-ro; \
         echo t > /tmp/t && echo tmp-ok",
    ]);
    let id = env.id("ovl-ro");
    let before = inuse_warnings();
    let out = env.ward(&[
        "run",
        "--keep",
        "--bundle",
        env.bundle.to_str().unwrap(),
        &id,
    ]);
    assert_eq!(inuse_warnings(), before, "kernel warned: layer in use");
    assert!(out.status.success(), "{}", stderr(&out));
    let report = inspect(&env, &id);
    let staged = staging_dir(&report);
    // The host's copy of the staged overlay went once the init had its own.
    assert!(std::fs::metadata(&staged).is_ok(), "staging dir kept");
    assert!(!mountinfo().contains(staged.to_str().unwrap()));
    env.ok(&["delete", &id]);
    let o = stdout(&out);
    let map = uid_map_inside(&o);
    assert_ne!(map[1], "0", "user namespace in force: {o}");
    assert!(o.contains("\n0\nroot-ro\ntmp-ok\n"), "{o}");
    let what = report["policy"]["adaptations"].to_string();
    assert!(what.contains("overlayfs"), "{report}");
    assert!(
        report["policy"]["relaxations"]
            .as_array()
            .unwrap()
            .is_empty(),
        "{report}"
    );
    // Nothing written through to the caller's upperdir, nothing left mounted.
    assert_eq!(
        std::fs::read_dir(ovl.base.join("upper")).unwrap().count(),
        0
    );
    env.assert_gone(&id);
    assert_eq!(ovl.mounts_left(), 1, "{}", mountinfo());
    assert!(!mountinfo().contains(staged.to_str().unwrap()));
}

/// A non-empty upperdir (a restarted container, or docker cp before start):
/// the read-only container sees it, whiteouts included, without the upperdir
/// becoming a layer of a second overlay.
#[test]
fn readonly_overlay_shows_a_filled_upperdir() {
    let env = Env::new();
    let _ovl = Overlay::new(&env, |upper| {
        std::fs::create_dir(upper.join("etc")).unwrap();
        std::fs::write(upper.join("etc/from-upper"), "up").unwrap();
        std::os::unix::fs::chown(upper.join("etc/from-upper"), Some(1000), Some(1000)).unwrap();
        // A whiteout hides the lower /etc/group.
        nix::sys::stat::mknod(
            &upper.join("etc/group"),
            nix::sys::stat::SFlag::S_IFCHR,
            nix::sys::stat::Mode::empty(),
            0,
        )
        .unwrap();
    });
    env.args(&[
        "sh",
        "-c",
        "stat -c %u /etc/from-upper; cat /etc/from-upper; echo; \
         test -e /etc/group && echo group-there || echo group-hidden",
    ]);
    let id = env.id("ovl-filled");
    let before = inuse_warnings();
    let out = env.run(&id);
    assert_eq!(inuse_warnings(), before, "kernel warned: layer in use");
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "1000\nup\ngroup-hidden\n");
}

/// A writable overlay rootfs: writes must land in the caller's upperdir, owned
/// as runc leaves them. The kernel cannot id-map an overlayfs mount (6.18), so
/// ward runs it with host ids and says exactly why.
#[test]
fn writable_overlay_rootfs_writes_to_the_upperdir() {
    let env = Env::new();
    let ovl = Overlay::new(&env, |_| {});
    env.annotate("run.ward.rootfs", "writable");
    // What Docker asks for without --read-only.
    env.edit(|c| c["root"]["readonly"] = false.into());
    env.args(&[
        "sh",
        "-c",
        "cat /proc/self/uid_map; echo w > /written && echo written",
    ]);
    let id = env.id("ovl-rw");
    let before = inuse_warnings();
    env.run_kept(&id);
    assert_eq!(inuse_warnings(), before, "kernel warned: layer in use");
    let md = std::fs::metadata(ovl.base.join("upper/written")).expect("write in the upperdir");
    assert_eq!((md.uid(), md.gid()), (0, 0));
    let report = inspect(&env, &id);
    let relax = report["policy"]["relaxations"].to_string();
    if report["policy"]["userns"]["ward"].is_object() {
        // A kernel that id-maps overlayfs mounts: the user namespace holds.
        assert_eq!(relax, "[]");
    } else {
        assert!(
            relax.contains("writable overlayfs") && relax.contains("cannot id-map an overlayfs"),
            "{relax}"
        );
        assert!(!relax.contains("put the rootfs on"), "{relax}");
    }
    env.ok(&["delete", &id]);
    env.assert_gone(&id);
    assert_eq!(ovl.mounts_left(), 1, "{}", mountinfo());
}

/// A spec with its own user namespace and per-mount id mappings (what
/// containerd asks for user-namespaced pods): the binds are id-mapped with
/// the mount's mappings, or the container's for a bare `idmap`.
#[test]
fn spec_mount_mappings_are_honoured() {
    let env = Env::new();
    let map = serde_json::json!([{"containerID": 0, "hostID": 3000000000u32, "size": 65536}]);
    env.edit(|c| {
        c["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .push(serde_json::json!({"type": "user"}));
        c["linux"]["uidMappings"] = map.clone();
        c["linux"]["gidMappings"] = map.clone();
    });
    let (a, b) = (env.dir.path().join("a"), env.dir.path().join("b"));
    for d in [&a, &b] {
        std::fs::create_dir(d).unwrap();
        std::fs::set_permissions(d, PermissionsExt::from_mode(0o755)).unwrap();
    }
    let (sa, sb) = (
        a.to_str().unwrap().to_string(),
        b.to_str().unwrap().to_string(),
    );
    env.edit(|c| {
        let mounts = c["mounts"].as_array_mut().unwrap();
        mounts.push(serde_json::json!({
            "destination": "/a", "type": "bind", "source": sa, "options": ["rbind", "rw"],
            "uidMappings": map, "gidMappings": map
        }));
        mounts.push(serde_json::json!({
            "destination": "/b", "type": "bind", "source": sb, "options": ["bind", "rw", "idmap"]
        }));
    });
    env.args(&[
        "sh",
        "-c",
        "cat /proc/self/uid_map; echo a > /a/f && echo b > /b/f && stat -c %u /a/f /b/f",
    ]);
    // The rootfs is not id-mapped under the spec's own namespace, so its
    // (host root's) mount points must exist already.
    for d in ["a", "b"] {
        std::fs::create_dir(env.bundle.join("rootfs").join(d)).unwrap();
    }
    let id = env.id("specidmap");
    let out = env.run(&id);
    assert!(out.status.success(), "{}", stderr(&out));
    let o = stdout(&out);
    assert_eq!(uid_map_inside(&o), vec!["0", "3000000000", "65536"], "{o}");
    assert!(o.ends_with("0\n0\n"), "{o}");
    for d in [&a, &b] {
        assert_eq!(std::fs::metadata(d.join("f")).unwrap().uid(), 0);
    }
    env.assert_gone(&id);
    assert!(!mountinfo().contains(a.to_str().unwrap()));
}

/// A mapping the spec asks for is never dropped silently: a source the
/// kernel cannot id-map fails the create, naming the mount.
#[test]
fn spec_idmap_on_an_unmappable_source_fails() {
    let env = Env::new();
    add_bind(
        &env,
        Path::new("/sys/kernel"),
        "/sk",
        &["rbind", "ro", "ridmap"],
    );
    let id = env.id("badidmap");
    let out = env.ward(&["create", "--bundle", env.bundle.to_str().unwrap(), &id]);
    assert_fails(&out, "mounts[");
    assert!(
        stderr(&out).contains("/sk") && stderr(&out).contains("sysfs"),
        "{}",
        stderr(&out)
    );
    env.assert_gone(&id);
}

/// An upperdir too large to copy (over 64 MiB) cannot be shown id-mapped:
/// the container runs with host ids, and the report says why.
#[test]
fn readonly_overlay_with_a_large_upperdir_falls_back_to_host_ids() {
    let env = Env::new();
    let ovl = Overlay::new(&env, |upper| {
        let f = std::fs::File::create(upper.join("big")).unwrap();
        f.set_len(65 << 20).unwrap(); // sparse: no disk space used
    });
    env.args(&["cat", "/proc/self/uid_map"]);
    let id = env.id("ovl-big");
    let before = inuse_warnings();
    let o = env.ok(&[
        "run",
        "--keep",
        "--bundle",
        env.bundle.to_str().unwrap(),
        &id,
    ]);
    assert_eq!(inuse_warnings(), before, "kernel warned: layer in use");
    assert_eq!(uid_map_inside(&o), vec!["0", "0", "4294967295"], "{o}");
    let relax = inspect(&env, &id)["policy"]["relaxations"].to_string();
    assert!(relax.contains("at most 64 MiB"), "{relax}");
    env.ok(&["delete", &id]);
    env.assert_gone(&id);
    assert_eq!(ovl.mounts_left(), 1, "{}", mountinfo());
    assert_eq!(
        std::fs::read_dir(ovl.base.join("upper")).unwrap().count(),
        1
    );
}

/// A container without a user namespace (`userns=host`) may still ask for an
/// id-mapped bind with the mount's own mappings, as runc allows (idmap.bats
/// "[no userns]"): with [0 -> 100000], a file of uid 42 on disk shows as
/// 100042 through it. libcontainer refused it ("idmapped mount is not
/// supported"); ward stages it.
#[test]
fn idmapped_bind_without_a_user_namespace() {
    let env = Env::new();
    env.annotate("run.ward.userns", "host");
    let src = env.dir.path().join("owned");
    std::fs::create_dir(&src).unwrap();
    std::fs::write(src.join("f"), "x").unwrap();
    std::os::unix::fs::chown(src.join("f"), Some(42), Some(42)).unwrap();
    let map = serde_json::json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
    let s = src.to_str().unwrap().to_string();
    env.edit(|c| {
        c["mounts"].as_array_mut().unwrap().push(serde_json::json!({
            "destination": "/owned", "type": "bind", "source": s,
            "options": ["bind", "idmap"], "uidMappings": map, "gidMappings": map
        }));
    });
    env.args(&[
        "sh",
        "-c",
        "readlink /proc/self/ns/user; stat -c %u:%g /owned/f",
    ]);
    let id = env.id("idmap-nouserns");
    let out = env.run(&id);
    assert!(out.status.success(), "{}", stderr(&out));
    let o = stdout(&out);
    let host_ns = std::fs::read_link("/proc/self/ns/user").unwrap();
    assert!(o.starts_with(host_ns.to_str().unwrap()), "{o}");
    assert!(o.ends_with("100042:100042\n"), "{o}");
    env.assert_gone(&id);
    assert!(!mountinfo().contains(src.to_str().unwrap()));
}

/// Under the spec's own user namespace a plain bind (no `idmap`, no
/// mappings of its own) is not id-mapped, with ward's defaults as with every
/// layer relaxed: host root's files show as the overflow id, as under runc
/// (idmap.bats "bind mount [userns]"), and the container's root cannot write
/// them. Id-mapping it with the spec's maps showed them as 0:0, owned by the
/// container's root.
#[test]
fn plain_bind_under_the_spec_user_namespace_keeps_host_ids() {
    let env = Env::new();
    env.own_userns(65536);
    let src = env.dir.path().join("hostroot");
    std::fs::create_dir(&src).unwrap();
    std::fs::write(src.join("f"), "x").unwrap();
    std::fs::set_permissions(&src, PermissionsExt::from_mode(0o755)).unwrap();
    add_bind(&env, &src, "/plain", &["rbind", "rw"]);
    // The rootfs is not id-mapped under the spec's namespace: host root's
    // mount point must exist already.
    std::fs::create_dir(env.bundle.join("rootfs/plain")).unwrap();
    env.args(&[
        "sh",
        "-c",
        "stat -c %u:%g /plain/f; echo y > /plain/f && echo written; true",
    ]);
    for relaxed in [false, true] {
        if relaxed {
            env.annotate("run.ward.userns", "host");
            env.annotate("run.ward.rootfs", "writable");
        }
        let id = env.id("plainbind");
        let out = env.run(&id);
        assert!(out.status.success(), "{}", stderr(&out));
        let o = stdout(&out);
        assert!(o.starts_with("65534:65534\n"), "relaxed={relaxed}: {o}");
        assert!(!o.contains("written"), "relaxed={relaxed}: {o}");
        env.assert_gone(&id);
    }
    assert_eq!(std::fs::read_to_string(src.join("f")).unwrap(), "x");
}

/// A bare `idmap` under a user namespace the spec joins by path (no mappings
/// in the spec) takes that namespace's mapping (idmap.bats "idmap flag,
/// implied mapping, userns join"): host root's file shows as the
/// container's root through it. ward refused the create ("the spec's user
/// namespace has no linux.uidMappings").
#[test]
fn implied_idmap_under_a_joined_user_namespace() {
    let owner = Env::new();
    owner.own_userns(65536);
    let owner_id = owner.id("userns-owner");
    owner.start(&owner_id);
    let pid = owner.pid(&owner_id);

    let env = Env::new();
    env.annotate("run.ward.userns", "host");
    env.annotate("run.ward.rootfs", "writable");
    let src = env.dir.path().join("tree");
    std::fs::create_dir(&src).unwrap();
    std::fs::write(src.join("f"), "x").unwrap();
    std::fs::set_permissions(&src, PermissionsExt::from_mode(0o755)).unwrap();
    add_bind(&env, &src, "/tree", &["rbind", "idmap"]);
    std::fs::create_dir(env.bundle.join("rootfs/tree")).unwrap();
    let ns = format!("/proc/{pid}/ns/user");
    env.edit(|c| {
        c["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .push(serde_json::json!({"type": "user", "path": ns}));
    });
    env.args(&["sh", "-c", "cat /proc/self/uid_map; stat -c %u:%g /tree/f"]);
    let id = env.id("idmap-join");
    let out = env.run(&id);
    assert!(out.status.success(), "{}", stderr(&out));
    let o = stdout(&out);
    assert_eq!(uid_map_inside(&o), vec!["0", "3000000000", "65536"], "{o}");
    assert!(o.ends_with("0:0\n"), "{o}");
    env.assert_gone(&id);
    owner.ok(&["delete", "--force", &owner_id]);
}
