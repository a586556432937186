//! Tests of the user namespace layer. They run as root; pools live in
//! tempdirs (the internal `*_in` functions take the directory, so no test
//! touches the process-global environment).

use super::*;
use std::collections::HashSet;
use std::os::fd::AsFd;
use std::os::unix::fs::MetadataExt;
use std::os::unix::process::CommandExt;
use std::sync::{Arc, Barrier};

fn test_pool(dir: &Path) -> Pool {
    Pool::from_entries(
        dir.to_path_buf(),
        Path::new("/nonexistent/subuid"),
        &[],
        Path::new("/nonexistent/subgid"),
        &[],
    )
    .unwrap()
}

fn slots_in(dir: &Path) -> Vec<u32> {
    let mut v: Vec<u32> = fs::read_dir(dir)
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .collect();
    v.sort();
    v
}

#[test]
fn default_pool_geometry() {
    let d = tempfile::tempdir().unwrap();
    let p = test_pool(d.path());
    assert_eq!(
        (p.uid_base, p.gid_base, p.slots, p.slot_size),
        (1 << 31, 1 << 31, 4096, 65536)
    );
    let last = p.range(4095).unwrap();
    assert_eq!(last.host_uid, 2147483648 + 4095 * 65536);
    assert!(last.host_uid.checked_add(last.size).is_some());
}

#[test]
fn concurrent_allocations_are_disjoint() {
    let d = tempfile::tempdir().unwrap();
    let pool = Arc::new(test_pool(d.path()));
    let n = 16;
    let barrier = Arc::new(Barrier::new(n));
    let handles: Vec<_> = (0..n)
        .map(|i| {
            let (pool, barrier) = (pool.clone(), barrier.clone());
            std::thread::spawn(move || {
                barrier.wait();
                (0..4)
                    .map(|k| allocate_in(&pool, &format!("c{i}-{k}")).unwrap())
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let ranges: Vec<IdRange> = handles
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();
    assert_eq!(ranges.len(), n * 4);
    let slots: HashSet<u32> = ranges.iter().map(|r| r.slot).collect();
    assert_eq!(
        slots.len(),
        ranges.len(),
        "two allocations got the same slot"
    );
    for (i, a) in ranges.iter().enumerate() {
        for b in &ranges[i + 1..] {
            assert!(a.host_uid + a.size <= b.host_uid || b.host_uid + b.size <= a.host_uid);
            assert!(a.host_gid + a.size <= b.host_gid || b.host_gid + b.size <= a.host_gid);
        }
    }
    // Every slot on disk is owned, and no temporary entries are left.
    for slot in slots_in(d.path()) {
        assert!(read_owner(&d.path().join(slot.to_string())).is_some());
    }
    let names: Vec<String> = fs::read_dir(d.path())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert!(names.iter().all(|n| !n.starts_with('.')), "{names:?}");
    assert_eq!(names.len(), n * 4);
}

#[test]
fn release_and_reallocate_reuses_slot() {
    let d = tempfile::tempdir().unwrap();
    let pool = test_pool(d.path());
    let a = allocate_in(&pool, "a").unwrap();
    let b = allocate_in(&pool, "b").unwrap();
    assert_eq!((a.slot, b.slot), (0, 1));
    assert_eq!(a.host_uid, 1 << 31);
    assert_eq!(b.host_uid, (1 << 31) + 65536);
    assert_eq!(read_owner(&d.path().join("1")).as_deref(), Some("b"));
    release_in(d.path(), &a);
    release_in(d.path(), &a); // idempotent
    assert_eq!(slots_in(d.path()), vec![1]);
    let c = allocate_in(&pool, "c").unwrap();
    assert_eq!(c, a, "freed slot is reused");
    assert_eq!(read_owner(&d.path().join("0")).as_deref(), Some("c"));
}

#[test]
fn release_owner_frees_only_that_owner() {
    let d = tempfile::tempdir().unwrap();
    let pool = test_pool(d.path());
    let x1 = allocate_in(&pool, "x").unwrap();
    let _y = allocate_in(&pool, "y").unwrap();
    let x2 = allocate_in(&pool, "x").unwrap();
    // A leftover of a dead ward process (pid 0 never names a live one
    // under /proc) and an ownerless slot dir.
    fs::create_dir(d.path().join(".new-999999999-1")).unwrap();
    release_owner_in(d.path(), "x");
    assert_eq!(slots_in(d.path()), vec![1]);
    assert!(!d.path().join(".new-999999999-1").exists());
    assert_eq!(allocate_in(&pool, "z").unwrap(), x1);
    assert_eq!(allocate_in(&pool, "z").unwrap(), x2);
    // release_if_owner checks ownership.
    assert!(!release_if_owner_in(d.path(), x1.slot, "x"));
    assert!(release_if_owner_in(d.path(), x1.slot, "z"));
    assert_eq!(slots_in(d.path()), vec![1, 2]);
}

#[test]
fn exhausted_pool_says_so() {
    let d = tempfile::tempdir().unwrap();
    let mut pool = test_pool(d.path());
    pool.slots = 2;
    allocate_in(&pool, "a").unwrap();
    allocate_in(&pool, "b").unwrap();
    let e = allocate_in(&pool, "c").unwrap_err();
    assert!(matches!(e, UsernsError::PoolExhausted { .. }));
    let msg = e.to_string();
    assert!(msg.starts_with("no free id range in pool "), "{msg}");
    assert!(msg.contains(&d.path().display().to_string()), "{msg}");
    assert!(allocate_in(&pool, "").is_err());
    assert!(allocate_in(&pool, "a\nb").is_err());
}

#[test]
fn subordinate_ids_of_other_users_are_skipped() {
    let d = tempfile::tempdir().unwrap();
    let other = |start| SubIdEntry {
        name: "alice".into(),
        start,
        count: 10,
    };
    let pool = Pool::from_entries(
        d.path().to_path_buf(),
        Path::new("/etc/subuid"),
        &[other((1 << 31) + 65535)],
        Path::new("/etc/subgid"),
        &[other((1 << 31) + 65536 + 100)],
    )
    .unwrap();
    // slot 0 overlaps alice's uids, slot 1 her gids.
    assert!(pool.range(0).is_none() && pool.range(1).is_none());
    assert_eq!(allocate_in(&pool, "a").unwrap().slot, 2);
}

#[test]
fn pool_from_subid_files() {
    let d = tempfile::tempdir().unwrap();
    let su = d.path().join("subuid");
    let sg = d.path().join("subgid");
    fs::write(
        &su,
        "# comment\nbob:100000:65536\nward:1000000:200000\nward:5:5\n",
    )
    .unwrap();
    fs::write(&sg, "ward:3000000:131072\nbroken line\n").unwrap();
    let pool = Pool::from_files(d.path().join("pool"), &su, &sg).unwrap();
    assert_eq!(
        (pool.uid_base, pool.gid_base, pool.slots),
        (1000000, 3000000, 2)
    );
    assert_eq!(pool.exclude_uids, vec![(100000, 165536)]);
    let r = allocate_in(&pool, "a").unwrap();
    assert_eq!((r.host_uid, r.host_gid, r.size), (1000000, 3000000, 65536));
    let r = allocate_in(&pool, "b").unwrap();
    assert_eq!((r.host_uid, r.host_gid), (1065536, 3065536));
    assert!(matches!(
        allocate_in(&pool, "c"),
        Err(UsernsError::PoolExhausted { .. })
    ));

    // Only one side configured: an error naming the file to fix.
    fs::write(&sg, "bob:100000:65536\n").unwrap();
    let e = Pool::from_files(d.path().join("pool"), &su, &sg).unwrap_err();
    assert!(e.to_string().contains("subgid: no `ward` entry"), "{e}");
    // Too small.
    fs::write(&sg, "ward:3000000:1000\n").unwrap();
    let e = Pool::from_files(d.path().join("pool"), &su, &sg).unwrap_err();
    assert!(e.to_string().contains("at least 65536"), "{e}");
}

fn range0() -> IdRange {
    IdRange {
        slot: 0,
        host_uid: 1 << 31,
        host_gid: (1 << 31) + 65536,
        size: 65536,
        join: None,
    }
}

#[test]
fn apply_to_spec_adds_user_namespace() {
    let mut spec = Spec::default();
    assert!(!spec_has_userns(&spec));
    let before = spec.linux().as_ref().unwrap().namespaces().clone().unwrap();
    apply_to_spec(&mut spec, &range0());
    assert!(spec_has_userns(&spec));
    let linux = spec.linux().as_ref().unwrap();
    let ns = linux.namespaces().as_ref().unwrap();
    assert_eq!(ns.len(), before.len() + 1);
    assert_eq!(
        ns.iter()
            .filter(|n| n.typ() == LinuxNamespaceType::User)
            .count(),
        1
    );
    let u = &linux.uid_mappings().as_ref().unwrap()[..];
    let g = &linux.gid_mappings().as_ref().unwrap()[..];
    assert_eq!(u.len(), 1);
    assert_eq!(
        (u[0].container_id(), u[0].host_id(), u[0].size()),
        (0, 1 << 31, 65536)
    );
    assert_eq!(
        (g[0].container_id(), g[0].host_id(), g[0].size()),
        (0, (1 << 31) + 65536, 65536)
    );
    validate_spec_mappings(&spec).unwrap();

    // Applying again (or to a spec with its own user namespace) changes nothing.
    let copy = spec.clone();
    apply_to_spec(
        &mut spec,
        &IdRange {
            slot: 9,
            ..range0()
        },
    );
    assert_eq!(spec, copy);

    // A spec without a linux section gets just the user namespace.
    let mut spec = Spec::default();
    spec.set_linux(None);
    apply_to_spec(&mut spec, &range0());
    let linux = spec.linux().as_ref().unwrap();
    assert_eq!(linux.namespaces().as_ref().unwrap().len(), 1);
    assert!(linux.masked_paths().is_none());
    assert!(spec_has_userns(&spec));
}

fn spec_with(uids: &[(u32, u32, u32)], gids: &[(u32, u32, u32)]) -> Spec {
    let maps = |v: &[(u32, u32, u32)]| {
        v.iter()
            .map(|&(c, h, s)| {
                LinuxIdMappingBuilder::default()
                    .container_id(c)
                    .host_id(h)
                    .size(s)
                    .build()
                    .unwrap()
            })
            .collect::<Vec<_>>()
    };
    let mut spec = Spec::default();
    let linux = spec.linux_mut().as_mut().unwrap();
    let mut ns = linux.namespaces().clone().unwrap();
    let mut user = LinuxNamespace::default();
    user.set_typ(LinuxNamespaceType::User);
    ns.push(user);
    linux.set_namespaces(Some(ns));
    linux.set_uid_mappings(Some(maps(uids)));
    linux.set_gid_mappings(Some(maps(gids)));
    spec
}

#[test]
fn validate_spec_mappings_accepts_normal_and_rejects_bad() {
    let ok = spec_with(
        &[(0, 100000, 1000), (1000, 200000, 64536)],
        &[(0, 100000, 65536)],
    );
    validate_spec_mappings(&ok).unwrap();
    // Boundary: the last mappable id is 4294967294.
    validate_spec_mappings(&spec_with(&[(0, u32::MAX - 10, 10)], &[(0, 1, 1)])).unwrap();

    let err = |s: Spec| validate_spec_mappings(&s).unwrap_err().to_string();

    let e = err(spec_with(&[(0, 100000, 10), (5, 300000, 10)], &[(0, 1, 1)]));
    assert_eq!(
        e,
        "linux.uidMappings[1]: overlaps linux.uidMappings[0] on the container side; each id may be mapped only once"
    );
    let e = err(spec_with(
        &[(0, 100000, 10), (10, 100009, 10)],
        &[(0, 1, 1)],
    ));
    assert!(
        e.starts_with("linux.uidMappings[1]: overlaps linux.uidMappings[0] on the host side"),
        "{e}"
    );
    let e = err(spec_with(&[(0, 1, 1)], &[(0, 10, 5), (5, 100, 0)]));
    assert!(e.starts_with("linux.gidMappings[1]: size is 0"), "{e}");
    let e = err(spec_with(&[(0, u32::MAX - 10, 11)], &[(0, 1, 1)]));
    assert!(
        e.starts_with("linux.uidMappings[0]: hostID 4294967285 + size 11 overflows"),
        "{e}"
    );
    let e = err(spec_with(&[(u32::MAX, 1, 1)], &[(0, 1, 1)]));
    assert!(e.starts_with("linux.uidMappings[0]: containerID"), "{e}");
    let many: Vec<_> = (0..341).map(|i| (i * 10, 100000 + i * 10, 10)).collect();
    validate_spec_mappings(&spec_with(&many[..340], &[(0, 1, 1)])).unwrap();
    let e = err(spec_with(&many, &[(0, 1, 1)]));
    assert!(e.starts_with("linux.uidMappings: 341 mappings"), "{e}");
    // A created user namespace without mappings.
    let e = err(spec_with(&[(0, 1, 1)], &[]));
    assert!(
        e.starts_with("linux.gidMappings: the spec creates a user namespace"),
        "{e}"
    );
    // No linux section / no userns: nothing to check.
    validate_spec_mappings(&Spec::default()).unwrap();
}

#[test]
fn userns_fd_is_a_user_namespace_with_the_mapping() {
    let range = range0();
    let fd = userns_fd(&range).unwrap();
    let link = fs::read_link(format!("/proc/self/fd/{}", fd.as_raw_fd())).unwrap();
    let link = link.to_string_lossy().into_owned();
    assert!(link.starts_with("user:["), "{link}");
    assert_ne!(
        fs::read_link("/proc/self/ns/user")
            .unwrap()
            .to_string_lossy(),
        link
    );
    // Join it in a child and read the maps from inside.
    let raw = fd.as_raw_fd();
    let out = unsafe {
        std::process::Command::new("cat")
            .args(["/proc/self/uid_map", "/proc/self/gid_map"])
            .pre_exec(move || {
                if libc::setns(raw, libc::CLONE_NEWUSER) != 0 {
                    return Err(io::Error::last_os_error());
                }
                Ok(())
            })
            .output()
            .unwrap()
    };
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<Vec<&str>> = text
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(
        lines,
        vec![
            vec!["0", "2147483648", "65536"],
            vec!["0", "2147549184", "65536"]
        ]
    );
    // No helper child left behind (zombie or alive). Other tests create
    // helpers concurrently, so only a child that stays around counts.
    let me = std::process::id().to_string();
    let children = || -> Vec<PathBuf> {
        fs::read_dir("/proc")
            .unwrap()
            .flatten()
            .filter(|e| {
                fs::read_to_string(e.path().join("stat")).is_ok_and(|stat| {
                    let ppid = stat.rsplit(')').next().unwrap().split_whitespace().nth(1);
                    ppid == Some(me.as_str())
                })
            })
            .map(|e| e.path())
            .collect()
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while !children().is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "helpers left: {:?}",
            children()
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

#[test]
fn userns_fd_is_cheap() {
    let t = std::time::Instant::now();
    for _ in 0..20 {
        userns_fd(&range0()).unwrap();
    }
    let per = t.elapsed() / 20;
    eprintln!("userns_fd: {per:?} per namespace");
    assert!(
        per < std::time::Duration::from_millis(50),
        "{per:?} per namespace"
    );
}

fn mount_points() -> Vec<String> {
    fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .map(|l| l.split(' ').nth(4).unwrap().to_string())
        .collect()
}

#[test]
fn idmapped_rootfs_maps_owners_without_chown() {
    let d = tempfile::tempdir_in("/tmp").unwrap();
    let rootfs = d.path().join("rootfs");
    let target = d.path().join("target");
    fs::create_dir_all(rootfs.join("etc")).unwrap();
    fs::create_dir(&target).unwrap();
    let file = rootfs.join("etc/passwd");
    fs::write(&file, "root:x:0:0::/root:/bin/sh\n").unwrap();
    std::os::unix::fs::chown(&file, Some(0), Some(0)).unwrap();
    let other = rootfs.join("etc/app");
    fs::write(&other, "x").unwrap();
    std::os::unix::fs::chown(&other, Some(1000), Some(1001)).unwrap();

    let range = range0();
    idmapped_rootfs(&rootfs, &target, userns_fd(&range).unwrap().as_fd()).unwrap();
    let tstr = target.display().to_string();
    assert!(mount_points().contains(&tstr));

    let md = fs::metadata(target.join("etc/passwd")).unwrap();
    assert_eq!((md.uid(), md.gid()), (range.host_uid, range.host_gid));
    let md = fs::metadata(target.join("etc/app")).unwrap();
    assert_eq!(
        (md.uid(), md.gid()),
        (range.host_uid + 1000, range.host_gid + 1001)
    );
    assert_eq!(
        fs::read_to_string(target.join("etc/passwd")).unwrap(),
        "root:x:0:0::/root:/bin/sh\n"
    );
    // On disk nothing changed.
    let md = fs::metadata(&file).unwrap();
    assert_eq!((md.uid(), md.gid()), (0, 0));
    let md = fs::metadata(&other).unwrap();
    assert_eq!((md.uid(), md.gid()), (1000, 1001));
    // The mount is private: no propagation peer of the host's mount.
    let info = fs::read_to_string("/proc/self/mountinfo").unwrap();
    let line = info
        .lines()
        .find(|l| l.split(' ').nth(4) == Some(tstr.as_str()))
        .unwrap();
    assert!(!line.contains("shared:"), "{line}");

    unmount_rootfs(&target);
    assert!(!mount_points().contains(&tstr));
    unmount_rootfs(&target); // not mounted: ignored
    unmount_rootfs(&d.path().join("missing"));
}

#[test]
fn not_idmappable_submount_is_reported() {
    let d = tempfile::tempdir_in("/tmp").unwrap();
    let rootfs = d.path().join("rootfs");
    let target = d.path().join("target");
    fs::create_dir_all(rootfs.join("sub")).unwrap();
    fs::create_dir(&target).unwrap();
    // ramfs does not support id-mapped mounts.
    nix::mount::mount(
        Some("ramfs"),
        &rootfs.join("sub"),
        Some("ramfs"),
        nix::mount::MsFlags::empty(),
        None::<&str>,
    )
    .unwrap();
    let r = idmapped_rootfs(&rootfs, &target, userns_fd(&range0()).unwrap().as_fd());
    unmount_rootfs(&target);
    nix::mount::umount2(&rootfs.join("sub"), nix::mount::MntFlags::MNT_DETACH).unwrap();
    let e = r.unwrap_err();
    assert!(matches!(e, UsernsError::NotIdmappable { .. }), "{e}");
    let msg = e.to_string();
    assert!(msg.contains(&rootfs.display().to_string()), "{msg}");
    assert!(
        msg.contains("ext4, xfs, btrfs, tmpfs or overlayfs"),
        "{msg}"
    );
    assert!(msg.contains("run.ward.userns=host"), "{msg}");
    assert!(!mount_points().contains(&target.display().to_string()));
}

/// A bind whose submount cannot be id-mapped keeps the submount at host ids
/// and maps the rest; a spec mapping builds its own namespace.
#[test]
fn bind_with_unmappable_submount_maps_the_rest() {
    let d = tempfile::tempdir_in("/tmp").unwrap();
    let src = d.path().join("src");
    let target = d.path().join("target");
    fs::create_dir_all(src.join("sub")).unwrap();
    fs::create_dir(&target).unwrap();
    fs::write(src.join("f"), "x").unwrap();
    nix::mount::mount(
        Some("ramfs"),
        &src.join("sub"),
        Some("ramfs"),
        nix::mount::MsFlags::empty(),
        None::<&str>,
    )
    .unwrap();
    let shape = BindShape {
        recursive: true,
        map_submounts: true,
        strict: false,
    };
    let ns = userns_fd(&range0()).unwrap();
    let r = idmapped_bind(&src, &target, ns.as_fd(), shape);
    let f_uid = fs::metadata(target.join("f")).map(|m| m.uid());
    let sub_uid = fs::metadata(target.join("sub")).map(|m| m.uid());
    unmount_rootfs(&target);
    nix::mount::umount2(&src.join("sub"), nix::mount::MntFlags::MNT_DETACH).unwrap();
    match r.unwrap() {
        Idmapped::Partly(kept) => {
            assert_eq!(kept.len(), 1, "{kept:?}");
            assert_eq!(kept[0].0, src.join("sub"));
            assert!(kept[0].1.starts_with("ramfs"), "{kept:?}");
        }
        other => panic!("expected a partly mapped tree, got {other:?}"),
    }
    assert_eq!(f_uid.unwrap(), range0().host_uid);
    assert_eq!(sub_uid.unwrap(), 0, "the ramfs kept host ids");

    // Non-recursive bind of a file with the spec's own mapping 0 -> 4000.
    let file_t = d.path().join("file-target");
    fs::write(&file_t, "").unwrap();
    let m = |c: u32, h: u32, n: u32| {
        LinuxIdMappingBuilder::default()
            .container_id(c)
            .host_id(h)
            .size(n)
            .build()
            .unwrap()
    };
    let ns = userns_fd_for("mounts[0]", &[m(0, 4000, 10)], &[m(0, 5000, 10)]).unwrap();
    let plain = BindShape {
        recursive: false,
        map_submounts: false,
        strict: false,
    };
    assert_eq!(
        idmapped_bind(&src.join("f"), &file_t, ns.as_fd(), plain).unwrap(),
        Idmapped::All
    );
    let md = fs::metadata(&file_t).map(|m| (m.uid(), m.gid()));
    unmount_rootfs(&file_t);
    assert_eq!(md.unwrap(), (4000, 5000));
    let bad = userns_fd_for("mounts[3]", &[m(0, 4000, 0)], &[m(0, 5000, 10)]).unwrap_err();
    assert!(
        bad.to_string().contains("mounts[3].uidMappings[0]"),
        "{bad}"
    );
}
