//! Container root is not host root: ward's default user namespace.

mod common;
use common::*;
use std::process::Command;

fn uid_map_of(pid: i32) -> Vec<u64> {
    std::fs::read_to_string(format!("/proc/{pid}/uid_map"))
        .unwrap()
        .split_whitespace()
        .map(|n| n.parse().unwrap())
        .collect()
}

#[test]
fn default_userns_maps_root_to_an_unprivileged_range() {
    let env = Env::new();
    let host = env.bind_dir("shared", "/shared");
    std::fs::write(host.join("hostfile"), "host-owned").unwrap();
    std::fs::set_permissions(
        host.join("hostfile"),
        std::os::unix::fs::PermissionsExt::from_mode(0o644),
    )
    .unwrap();
    let id = env.id("userns");
    env.start(&id);
    let pid = env.pid(&id);
    let map = uid_map_of(pid);
    assert_eq!(map[0], 0);
    assert!(
        map[1] >= 1 << 31,
        "host id {} is not in ward's range",
        map[1]
    );
    assert_eq!(map[2], 65536);
    // the process seen from the host runs as that unprivileged uid
    let uid_line = proc_status(pid, "Uid");
    assert!(
        uid_line.split_whitespace().all(|u| u == map[1].to_string()),
        "{uid_line}"
    );

    let out = env.exec(&id, &["sh", "-c", "cat /proc/self/uid_map; id -u; stat -c %u:%g /bin/busybox /etc/passwd; echo t > /tmp/t && echo tmp-ok; echo x >> /shared/hostfile 2>/dev/null && echo host-written || echo host-denied; echo new > /shared/mine && echo shared-dir-ok"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let o = stdout(&out);
    let first: Vec<&str> = o.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(first, vec!["0", &map[1].to_string(), "65536"], "{o}");
    assert!(o.contains("\n0\n"), "id -u inside is 0: {o}");
    assert!(
        o.contains("0:0\n0:0\n"),
        "image files owned by container root: {o}"
    );
    assert!(o.contains("tmp-ok"), "{o}");
    // binds are id-mapped with the container's user namespace: container
    // root is host root inside them only, as under runc
    assert!(
        o.contains("host-written"),
        "container root writes a host-root-owned file of a bind: {o}"
    );
    assert!(o.contains("shared-dir-ok"), "{o}");
    // nothing on disk was chowned
    use std::os::unix::fs::MetadataExt;
    let bb = std::fs::metadata(env.bundle.join("rootfs/bin/busybox")).unwrap();
    assert_eq!((bb.uid(), bb.gid()), (0, 0));
    assert_eq!(
        std::fs::read_to_string(host.join("hostfile")).unwrap(),
        "host-ownedx\n"
    );
    // a file the container created in the bind is owned by host root, not by
    // its mapped root (the bind is id-mapped)
    assert_eq!(std::fs::metadata(host.join("mine")).unwrap().uid(), 0);
    // exec joined the same user namespace
    let exec_ns = env.exec(&id, &["readlink", "/proc/self/ns/user"]);
    assert_eq!(
        stdout(&exec_ns).trim(),
        std::fs::read_link(format!("/proc/{pid}/ns/user"))
            .unwrap()
            .to_str()
            .unwrap()
    );
    // the posture report shows the map
    let r: serde_json::Value =
        serde_json::from_str(&env.ok(&["inspect", "-f", "json", &id])).unwrap();
    assert_eq!(
        r["policy"]["userns"]["ward"]["range"]["host_uid"].as_u64(),
        Some(map[1]),
        "{r}"
    );
    assert!(r["live"]["uid_map"]
        .as_str()
        .unwrap()
        .starts_with(&format!("0 {} 65536", map[1])));
}

#[test]
fn concurrent_containers_get_disjoint_ranges_reused_after_delete() {
    let env = std::sync::Arc::new(Env::new());
    let ids: Vec<String> = (0..4).map(|_| env.id("range")).collect();
    let handles: Vec<_> = ids
        .iter()
        .cloned()
        .map(|id| {
            let env = env.clone();
            std::thread::spawn(move || env.start(&id))
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let mut starts: Vec<u64> = ids.iter().map(|id| uid_map_of(env.pid(id))[1]).collect();
    starts.sort();
    for w in starts.windows(2) {
        assert!(w[1] >= w[0] + 65536, "overlapping ranges: {starts:?}");
    }
    let freed = uid_map_of(env.pid(&ids[0]))[1];
    let slot = (freed - (1 << 31)) / 65536;
    let slot_dir = std::path::Path::new("/run/ward-ranges").join(slot.to_string());
    assert_eq!(
        common::slot_owner(&slot_dir),
        env.range_owner(&ids[0]),
        "slot {slot} is held by its container while it lives"
    );
    env.ok(&["delete", "--force", &ids[0]]);
    // released: gone, or already taken by another container (tests and
    // other ward users share the pool)
    let owner = common::slot_owner(&slot_dir);
    assert_ne!(
        owner,
        env.range_owner(&ids[0]),
        "slot {slot} still held after delete"
    );
    let again = env.id("range");
    env.start(&again);
    let reused = uid_map_of(env.pid(&again))[1];
    let live: Vec<u64> = starts.iter().copied().filter(|&s| s != freed).collect();
    assert!(
        !live.contains(&reused),
        "new range {reused} overlaps a live one: {live:?}"
    );
}

#[test]
fn relaxation_restores_host_ids() {
    let env = Env::new();
    env.annotate("run.ward.userns", "host");
    env.args(&["cat", "/proc/self/uid_map"]);
    let id = env.id("hostids");
    let out = env.run(&id);
    let text = stdout(&out);
    let m: Vec<&str> = text.split_whitespace().collect();
    assert_eq!(m, vec!["0", "0", "4294967295"], "{}", stderr(&out));
}

#[test]
fn spec_mappings_are_honoured_and_bad_ones_rejected() {
    let env = Env::new();
    env.own_userns(1000);
    env.args(&["cat", "/proc/self/uid_map"]);
    let id = env.id("specmap");
    let out = env.run(&id);
    let text = stdout(&out);
    let m: Vec<&str> = text.split_whitespace().collect();
    assert_eq!(m, vec!["0", "3000000000", "1000"], "{}", stderr(&out));

    env.edit(|c| {
        c["linux"]["uidMappings"] = serde_json::json!([
            {"containerID": 0, "hostID": 3000000000u32, "size": 1000},
            {"containerID": 1000, "hostID": 3000000500u32, "size": 1000}
        ]);
    });
    let id = env.id("overlap");
    let out = env.ward(&["create", "--bundle", env.bundle.to_str().unwrap(), &id]);
    assert_fails(&out, "uidMappings[1]");
    env.assert_gone(&id);
}

#[test]
fn state_root_and_bundle_under_a_private_directory() {
    let env = Env::new();
    std::fs::set_permissions(
        env.dir.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o700),
    )
    .unwrap();
    env.args(&["sh", "-c", "id -u; ls /bin/busybox"]);
    let id = env.id("private");
    let out = env.run(&id);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "0\n/bin/busybox\n");
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(
        !mounts.contains(env.dir.path().to_str().unwrap()),
        "id-mapped rootfs left mounted"
    );
}

struct Unmount(std::path::PathBuf);
impl Drop for Unmount {
    fn drop(&mut self) {
        let _ = nix::mount::umount2(&self.0, nix::mount::MntFlags::MNT_DETACH);
    }
}

/// containerd and podman hand over an overlayfs rootfs: ward id-maps its
/// layers under a new read-only overlay, so the default user namespace holds.
#[test]
fn overlay_rootfs_gets_idmapped_layers() {
    if kernel_older_than(6, 3) {
        // The non-empty upperdir is copied to ward's tmpfs (/run) and id-mapped
        // as a layer; tmpfs takes id-mapped mounts from 6.3 on (Debian 12: 6.1),
        // so there ward falls back to host ids, recorded.
        skip(
            "overlay_rootfs_gets_idmapped_layers",
            "kernel before 6.3: a tmpfs copy of the upperdir cannot be id-mapped",
        );
        return;
    }
    let env = Env::new();
    let base = env.dir.path().join("ovl");
    for d in ["lower", "upper", "work", "merged"] {
        std::fs::create_dir_all(base.join(d)).unwrap();
    }
    std::fs::rename(env.bundle.join("rootfs"), base.join("lower/rootfs")).unwrap();
    std::fs::write(base.join("upper/from-upper"), "up").unwrap();
    let opts = format!(
        "lowerdir={},upperdir={},workdir={}",
        base.join("lower/rootfs").display(),
        base.join("upper").display(),
        base.join("work").display()
    );
    nix::mount::mount(
        Some("overlay"),
        &base.join("merged"),
        Some("overlay"),
        nix::mount::MsFlags::empty(),
        Some(opts.as_str()),
    )
    .unwrap();
    let _guard = Unmount(base.join("merged"));
    let merged = base.join("merged").to_str().unwrap().to_string();
    env.edit(|c| c["root"]["path"] = merged.into());
    env.args(&[
        "sh",
        "-c",
        "cat /proc/self/uid_map; stat -c %u /bin/busybox /from-upper; cat /from-upper",
    ]);
    let id = env.id("overlay");
    let out = env.run(&id);
    assert!(out.status.success(), "{}", stderr(&out));
    let o = stdout(&out);
    let first: Vec<&str> = o.lines().next().unwrap().split_whitespace().collect();
    assert_ne!(first[1], "0", "user namespace in force: {o}");
    assert!(
        o.contains("\n0\n0\nup"),
        "layers owned by container root: {o}"
    );
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let lines = mounts
        .lines()
        .filter(|l| l.contains(base.to_str().unwrap()))
        .count();
    assert_eq!(lines, 1, "only the test's own overlay remains: {mounts}");
}

#[test]
fn idmapped_rootfs_mounts_stay_private_under_a_shared_root() {
    // On a systemd host every mount is shared: a private mount moved under a
    // shared parent turns shared again, and its copies would spread to peer
    // namespaces. Simulated here in a mount namespace whose mounts are all
    // shared; ward's mounts under its staging base must come out private
    // while they exist (the create is frozen once they are made), and be
    // gone from the host's table once the container holds its own copies.
    let env = Env::new();
    let id = env.id("shared");
    let script = format!(
        "WARD_TEST_PAUSE_AT=create:prepared {w} --root {r} create --bundle {b} {id} & p=$!; \
         n=0; until [ \"$(cut -d' ' -f3 /proc/$p/stat)\" = T ]; do \
           n=$((n+1)); [ $n -lt 400 ] || {{ kill -KILL $p; exit 1; }}; sleep 0.05; done; \
         s=$(readlink {r}/@ward/{id}/rootfs-idmapped); echo staged=$s; \
         findmnt -rn -o TARGET,PROPAGATION; \
         kill -CONT $p; wait $p || exit 1; \
         echo after-create; findmnt -rn -o TARGET,PROPAGATION; \
         [ -e \"$s\" ] || echo staging-dir-gone; \
         [ -e {r}/@ward/{id}/rootfs-idmapped ] || echo staging-link-gone; \
         pid=$({w} --root {r} state {id} | sed -n 's/.*\"pid\": *\\([0-9]*\\).*/\\1/p'); \
         echo container-root: $(awk '$5 == \"/\"' /proc/$pid/mountinfo); \
         {w} --root {r} delete --force {id}",
        w = WARD,
        r = env.root.display(),
        b = env.bundle.display(),
    );
    let out = sh_in_mount_ns("shared", &script);
    let table = stdout(&out);
    let (during, after) = table
        .split_once("after-create\n")
        .unwrap_or_else(|| panic!("create did not finish: {table}"));
    // This container's staging dir (other containers' may be mounted too).
    let staged = during
        .lines()
        .find_map(|l| l.strip_prefix("staged="))
        .filter(|s| s.starts_with("/run/ward-rootfs/"))
        .unwrap_or_else(|| panic!("no staging dir: {table}"));
    // The base and this container's staged mounts, as findmnt listed them.
    let ward = |t: &str| -> Vec<String> {
        t.lines()
            .filter(|l| l.starts_with(&format!("{staged}/")) || l.starts_with("/run/ward-rootfs "))
            .map(String::from)
            .collect()
    };
    // The rootfs (a plain directory on ext4/tmpfs) is not mounted
    // host-side: the init attaches it id-mapped, cloned by libcontainer's
    // main process. Nor is the host-built /dev, a detached mount the main
    // process hands over.
    assert!(
        !ward(during)
            .iter()
            .any(|l| l.starts_with(&format!("{staged}/dev "))),
        "/dev mounted host-side: {table}"
    );
    assert!(
        !ward(during)
            .iter()
            .any(|l| l.starts_with(&format!("{staged}/root "))),
        "rootfs mounted host-side: {table}"
    );
    // The container's root came from a clone of a shared mount: it must
    // not stay in the host's peer group (its mounts would reach the host).
    let root_line = after
        .lines()
        .find_map(|l| l.strip_prefix("container-root: "))
        .unwrap_or_else(|| panic!("no container root line: {table}"));
    assert!(
        root_line.contains("idmapped"),
        "root not id-mapped: {root_line}"
    );
    assert!(
        !root_line.contains("shared:"),
        "container root shared with the host: {root_line}"
    );
    for l in ward(during).iter().chain(ward(after).iter()) {
        assert!(l.ends_with(" private"), "not private: {l}\n{table}");
    }
    assert!(
        !ward(after)
            .iter()
            .any(|l| l.starts_with(&format!("{staged}/"))),
        "staged mounts left in the host's table after create: {table}"
    );
    // Nor their mount points: a running container keeps no inode there
    // (delete finds its id range in the policy).
    assert!(
        after.contains("staging-dir-gone\nstaging-link-gone\n"),
        "{table}"
    );
    env.assert_gone(&id);
}

#[test]
fn rootfs_with_a_submount_is_idmapped_whole() {
    // A rootfs with something mounted below it is id-mapped host-side (a
    // submount may refuse the mapping, and then the container falls back
    // to host ids before it exists); the submount is mapped too.
    let env = Env::new();
    env.args(&[
        "sh",
        "-c",
        "stat -c %u /data/f /bin/busybox; grep -c idmapped /proc/self/mountinfo",
    ]);
    let id = env.id("submount");
    let rootfs = env.bundle.join("rootfs");
    std::fs::create_dir_all(rootfs.join("data")).unwrap();
    let script = format!(
        "mount -t tmpfs tmpfs {d} && echo x > {d}/f && \
         {w} --root {r} run --bundle {b} {id}",
        d = rootfs.join("data").display(),
        w = WARD,
        r = env.root.display(),
        b = env.bundle.display(),
    );
    let out = sh_in_mount_ns("private", &script);
    let o = stdout(&out);
    let lines: Vec<&str> = o.lines().collect();
    assert_eq!(
        lines.first(),
        Some(&"0"),
        "submount file owned by container root: {o}"
    );
    assert_eq!(
        lines.get(1),
        Some(&"0"),
        "image file owned by container root: {o}"
    );
    let mapped: u32 = lines.get(2).and_then(|n| n.parse().ok()).unwrap_or(0);
    assert!(mapped >= 2, "root and /data id-mapped: {o}");
    env.assert_gone(&id);
}

#[test]
fn concurrent_first_creates_make_one_staging_base_mount() {
    // The first creates of a boot set up /run/ward-rootfs as a private mount
    // point. Several at once must not each bind it onto itself: the stacked
    // lower mount keeps the host's propagation (shared on a systemd host).
    // Simulated in a mount namespace where the base is not set up yet; the
    // creates are released at once (every reader of a FIFO sees its EOF).
    let env = Env::new();
    let ids: Vec<String> = (0..8).map(|i| env.id(&format!("base{i}"))).collect();
    let list = ids.join(" ");
    let script = format!(
        "while mountpoint -q /run/ward-rootfs; do umount -l /run/ward-rootfs || exit 1; done; \
         f=$(mktemp -u); mkfifo $f; \
         for id in {list}; do (read x < $f; exec {w} --root {r} create --bundle {b} $id) & done; \
         sleep 0.3; : > $f; wait; rm $f; \
         echo bases=$(awk '$5 == \"/run/ward-rootfs\"' /proc/self/mountinfo | wc -l); \
         echo created=$({w} --root {r} list -q | wc -l); \
         for id in {list}; do {w} --root {r} delete --force $id; done",
        w = WARD,
        r = env.root.display(),
        b = env.bundle.display(),
    );
    let out = sh_in_mount_ns("private", &script);
    let o = stdout(&out);
    assert!(
        o.contains("created=8"),
        "every create worked: {o}\n{}",
        stderr(&out)
    );
    assert!(
        o.contains("bases=1\n"),
        "one mount at /run/ward-rootfs: {o}"
    );
    for id in &ids {
        env.assert_gone(id);
    }
}

/// Under ward's user namespace /dev is one tmpfs built on the host side, not
/// a tmpfs plus a bind per device: the default devices and the spec's (here
/// one in a subdirectory, owned by a non-root user) are nodes in it, usable,
/// with the spec's mode and owner; the container still cannot make nodes.
#[test]
fn dev_is_one_host_built_tmpfs() {
    let env = Env::new();
    env.edit(|c| {
        c["linux"]["devices"] = serde_json::json!([
            {"path": "/dev/net/tun", "type": "c", "major": 10, "minor": 200,
             "fileMode": 0o600, "uid": 1000, "gid": 1000}
        ]);
    });
    let o = run_sh(
        &env,
        "hostdev",
        "awk '$5 ~ \"^/dev\" {for (i = 7; i <= NF; i++) if ($i == \"-\") {print $5, $(i+1); break}}' \
           /proc/self/mountinfo; \
         stat -c '%F %t:%T %a %u:%g' /dev/null /dev/net/tun; stat -c '%u %a' /dev/net; \
         echo x > /dev/null && head -c 2 /dev/zero | wc -c; \
         mknod /dev/sdz b 8 0 2>/dev/null && echo mknod-allowed || echo mknod-denied; \
         awk '{print $2}' /proc/self/uid_map",
    );
    let lines: Vec<&str> = o.lines().collect();
    assert_eq!(
        lines[..4],
        [
            "/dev tmpfs",
            "/dev/pts devpts",
            "/dev/shm tmpfs",
            "/dev/mqueue mqueue"
        ],
        "{o}"
    );
    assert_eq!(
        lines[4..],
        [
            "character special file 1:3 666 0:0",
            "character special file a:c8 600 1000:1000",
            "0 755",
            "2",
            "mknod-denied",
            lines.last().copied().unwrap_or_default(),
        ],
        "{o}"
    );
    assert_ne!(lines.last(), Some(&"0"), "user namespace in force: {o}");
}

/// Runs `script` with sh in a new mount namespace with the given propagation;
/// fails the test unless it exits 0.
fn sh_in_mount_ns(propagation: &str, script: &str) -> std::process::Output {
    let out = Command::new("unshare")
        .args(["-m", "--propagation", propagation, "sh", "-c", script])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    out
}
