//! `ward spec` and `ward features`.

use serde_json::json;

use crate::hardening::capabilities::cap_name;
use crate::hardening::landlock;

/// OCI runtime-spec version ward implements (`ociVersion` of `ward spec`,
/// `ociVersionMax` of `ward features`).
pub const OCI_VERSION: &str = "1.2.0";

/// `runc spec`'s template (runc's libcontainer/specconv Example), with
/// hostname "ward"; `rootless` applies runc's ToRootless, and ward then maps
/// the user's subordinate ids to container ids 1 and up. Returned as JSON (the
/// capability lists keep runc's sorted order) after checking it parses as a
/// spec.
pub fn default_spec(rootless: bool) -> Result<serde_json::Value, serde_json::Error> {
    let mut v = runc_template(cgroup2_unified());
    if rootless {
        let uid = nix::unistd::geteuid().as_raw();
        let gid = nix::unistd::getegid().as_raw();
        to_rootless(&mut v, uid, gid);
        add_subordinate_ids(&mut v, uid);
    }
    serde_json::from_value::<oci_spec::runtime::Spec>(v.clone())?;
    Ok(v)
}

/// runc adds a cgroup namespace only on a cgroup v2 (unified) host.
fn cgroup2_unified() -> bool {
    nix::sys::statfs::statfs("/sys/fs/cgroup")
        .map(|s| s.filesystem_type() == nix::sys::statfs::CGROUP2_SUPER_MAGIC)
        .unwrap_or(false)
}

fn runc_template(cgroupns: bool) -> serde_json::Value {
    let caps = json!(["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]);
    let mut namespaces = vec![
        json!({"type": "pid"}),
        json!({"type": "network"}),
        json!({"type": "ipc"}),
        json!({"type": "uts"}),
        json!({"type": "mount"}),
    ];
    if cgroupns {
        namespaces.push(json!({"type": "cgroup"}));
    }
    json!({
        "ociVersion": OCI_VERSION,
        "process": {
            "terminal": true,
            "user": {"uid": 0, "gid": 0},
            "args": ["sh"],
            "env": [
                "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                "TERM=xterm"
            ],
            "cwd": "/",
            "capabilities": {"bounding": caps, "effective": caps, "permitted": caps},
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
            "noNewPrivileges": true
        },
        "root": {"path": "rootfs", "readonly": true},
        "hostname": "ward",
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
             "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
             "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
            {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
             "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
            {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
             "options": ["nosuid", "noexec", "nodev"]},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs",
             "options": ["nosuid", "noexec", "nodev", "ro"]},
            {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
             "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]}
        ],
        "linux": {
            "resources": {"devices": [{"allow": false, "access": "rwm"}]},
            "namespaces": namespaces,
            "maskedPaths": RUNC_MASKED,
            "readonlyPaths": RUNC_READONLY
        }
    })
}

/// runc's template masked and read-only paths.
pub const RUNC_MASKED: &[&str] = &[
    "/proc/acpi",
    "/proc/asound",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/sys/firmware",
    "/proc/scsi",
    "/sys/devices/virtual/tpm",
];
pub const RUNC_READONLY: &[&str] = &[
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

/// runc's ToRootless: no network namespace, a user namespace mapping the
/// caller to root, /sys bind-mounted, no uid=/gid= mount options, no cgroup
/// resources.
fn to_rootless(v: &mut serde_json::Value, uid: u32, gid: u32) {
    let linux = &mut v["linux"];
    if let Some(ns) = linux["namespaces"].as_array_mut() {
        ns.retain(|n| n["type"] != "network" && n["type"] != "user");
        ns.push(json!({"type": "user"}));
    }
    linux["uidMappings"] = json!([{"containerID": 0, "hostID": uid, "size": 1}]);
    linux["gidMappings"] = json!([{"containerID": 0, "hostID": gid, "size": 1}]);
    if let Some(l) = linux.as_object_mut() {
        l.remove("resources");
    }
    if let Some(mounts) = v["mounts"].as_array_mut() {
        for m in mounts.iter_mut() {
            if m["destination"] == "/sys" {
                *m = json!({"destination": "/sys", "type": "none", "source": "/sys",
                            "options": ["rbind", "nosuid", "noexec", "nodev", "ro"]});
                continue;
            }
            if let Some(opts) = m["options"].as_array_mut() {
                opts.retain(|o| {
                    let o = o.as_str().unwrap_or_default();
                    !o.starts_with("gid=") && !o.starts_with("uid=")
                });
            }
        }
    }
}

/// Container ids 1.. map to the user's /etc/subuid and /etc/subgid range, so
/// the container has ordinary users too (written by newuidmap/newgidmap).
fn add_subordinate_ids(v: &mut serde_json::Value, uid: u32) {
    let Some(name) = nix::unistd::User::from_uid(uid.into())
        .ok()
        .flatten()
        .map(|u| u.name)
    else {
        return;
    };
    let range = |file: &str| -> Option<(u32, u32)> {
        let text = std::fs::read_to_string(file).ok()?;
        text.lines().find_map(|l| {
            let mut f = l.split(':');
            let who = f.next()?;
            if who != name && who != uid.to_string() {
                return None;
            }
            Some((f.next()?.parse().ok()?, f.next()?.parse().ok()?))
        })
    };
    let (Some((us, uc)), Some((gs, gc))) = (range("/etc/subuid"), range("/etc/subgid")) else {
        return;
    };
    for (key, start, count) in [("uidMappings", us, uc), ("gidMappings", gs, gc)] {
        if let Some(maps) = v["linux"][key].as_array_mut() {
            maps.push(json!({"containerID": 1, "hostID": start, "size": count}));
        }
    }
}

/// The OCI features document (runtime-spec features.md).
pub fn features() -> serde_json::Value {
    let all_caps: Vec<String> = ALL_CAPS.iter().map(cap_name).collect();
    json!({
        "ociVersionMin": "1.0.0",
        "ociVersionMax": OCI_VERSION,
        "hooks": ["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"],
        "mountOptions": [
            "async", "atime", "bind", "defaults", "dev", "diratime", "dirsync", "exec",
            "idmap", "mand", "noatime", "nodev", "nodiratime", "noexec", "nomand",
            "norelatime", "nostrictatime", "nosuid", "nosymfollow", "private", "rbind",
            "relatime", "remount", "ridmap", "ro", "rprivate", "rro", "rrw", "rshared",
            "rslave", "runbindable", "rw", "shared", "slave", "strictatime", "suid",
            "symfollow", "sync", "unbindable"
        ],
        "linux": {
            "namespaces": ["cgroup", "ipc", "mount", "network", "pid", "user", "uts", "time"],
            "capabilities": all_caps,
            "cgroup": {"v1": true, "v2": true, "systemd": true, "systemdUser": true, "rdma": false},
            "seccomp": {
                "enabled": true,
                "actions": ["SCMP_ACT_ALLOW", "SCMP_ACT_ERRNO", "SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS",
                            "SCMP_ACT_KILL_THREAD", "SCMP_ACT_LOG", "SCMP_ACT_NOTIFY", "SCMP_ACT_TRACE",
                            "SCMP_ACT_TRAP"],
                "operators": ["SCMP_CMP_EQ", "SCMP_CMP_GE", "SCMP_CMP_GT", "SCMP_CMP_LE",
                              "SCMP_CMP_LT", "SCMP_CMP_MASKED_EQ", "SCMP_CMP_NE"],
                "archs": ["SCMP_ARCH_X86_64"],
                "knownFlags": crate::hardening::seccomp::KNOWN_FLAGS.iter().map(|(n, _)| *n).collect::<Vec<_>>(),
                "supportedFlags": crate::hardening::seccomp::supported_flags()
            },
            "apparmor": {"enabled": false},
            "selinux": {"enabled": false},
            "intelRdt": {"enabled": false},
            "mountExtensions": {"idmap": {"enabled": true}}
        },
        "annotations": annotations()
    })
}

/// runc's features list runtime facts under "annotations"; ward adds every
/// annotation it understands: each relaxation key with the value that lifts
/// that layer (restoring the spec), the Landlock ruleset annotation, and each
/// deviation from the spec under its defaults (`run.oci.ward.deviation.*`).
fn annotations() -> serde_json::Value {
    let mut a = serde_json::Map::new();
    for (k, v) in crate::policy::relax::all_keys() {
        a.insert(k, v.into());
    }
    // The README's deviations table, row by row.
    for (k, v) in crate::policy::deviations::annotations() {
        a.insert(k, v.into());
    }
    a.insert(
        crate::policy::relax::LANDLOCK_SPEC_KEY.into(),
        "runtime-spec PR 1241 linux.landlock object (JSON), stacked on ward's ruleset".into(),
    );
    a.insert(
        "run.oci.ward.landlock.abi".into(),
        landlock::abi()
            .map(|a| a.to_string())
            .unwrap_or_else(|| "none".into())
            .into(),
    );
    a.insert(
        "run.oci.ward.seccomp".into(),
        "default-deny baseline (precompiled), spec profiles stacked".into(),
    );
    a.insert(
        "org.opencontainers.runc.version".into(),
        env!("CARGO_PKG_VERSION").into(),
    );
    serde_json::Value::Object(a)
}

use oci_spec::runtime::Capability as C;
const ALL_CAPS: &[C] = &[
    C::AuditControl,
    C::AuditRead,
    C::AuditWrite,
    C::BlockSuspend,
    C::Bpf,
    C::CheckpointRestore,
    C::Chown,
    C::DacOverride,
    C::DacReadSearch,
    C::Fowner,
    C::Fsetid,
    C::IpcLock,
    C::IpcOwner,
    C::Kill,
    C::Lease,
    C::LinuxImmutable,
    C::MacAdmin,
    C::MacOverride,
    C::Mknod,
    C::NetAdmin,
    C::NetBindService,
    C::NetBroadcast,
    C::NetRaw,
    C::Perfmon,
    C::Setfcap,
    C::Setgid,
    C::Setpcap,
    C::Setuid,
    C::SysAdmin,
    C::SysBoot,
    C::SysChroot,
    C::SysModule,
    C::SysNice,
    C::SysPacct,
    C::SysPtrace,
    C::SysRawio,
    C::SysResource,
    C::SysTime,
    C::SysTtyConfig,
    C::Syslog,
    C::WakeAlarm,
];
