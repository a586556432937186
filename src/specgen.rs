//! `ward spec` and `ward features`.

use serde_json::json;

use crate::hardening::capabilities::cap_name;
use crate::hardening::landlock;

/// OCI runtime-spec version ward implements.
pub const OCI_VERSION: &str = "1.2.0";

/// runc's default spec (oci-spec's default mirrors it); `rootless` maps the
/// caller's ids as runc does.
pub fn default_spec(rootless: bool) -> oci_spec::runtime::Spec {
    if rootless {
        let uid = nix::unistd::geteuid().as_raw();
        let gid = nix::unistd::getegid().as_raw();
        let mut spec = oci_spec::runtime::Spec::rootless(uid, gid);
        add_subordinate_ids(&mut spec, uid);
        spec
    } else {
        oci_spec::runtime::Spec::default()
    }
}

/// Container ids 1.. map to the user's /etc/subuid and /etc/subgid range, so
/// the container has ordinary users too (written by newuidmap/newgidmap).
fn add_subordinate_ids(spec: &mut oci_spec::runtime::Spec, uid: u32) {
    use oci_spec::runtime::LinuxIdMappingBuilder;
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
    let Some(mut linux) = spec.linux().clone() else {
        return;
    };
    let extend = |maps: Option<Vec<oci_spec::runtime::LinuxIdMapping>>, start: u32, count: u32| {
        let mut v = maps.unwrap_or_default();
        if let Ok(m) = LinuxIdMappingBuilder::default()
            .container_id(1u32)
            .host_id(start)
            .size(count)
            .build()
        {
            v.push(m);
        }
        Some(v)
    };
    linux.set_uid_mappings(extend(linux.uid_mappings().clone(), us, uc));
    linux.set_gid_mappings(extend(linux.gid_mappings().clone(), gs, gc));
    spec.set_linux(Some(linux));
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
                            "SCMP_ACT_KILL_THREAD", "SCMP_ACT_LOG", "SCMP_ACT_TRACE", "SCMP_ACT_TRAP"],
                "operators": ["SCMP_CMP_EQ", "SCMP_CMP_GE", "SCMP_CMP_GT", "SCMP_CMP_LE",
                              "SCMP_CMP_LT", "SCMP_CMP_MASKED_EQ", "SCMP_CMP_NE"],
                "archs": ["SCMP_ARCH_X86_64"],
                "knownFlags": [],
                "supportedFlags": []
            },
            "apparmor": {"enabled": false},
            "selinux": {"enabled": false},
            "intelRdt": {"enabled": false},
            "mountExtensions": {"idmap": {"enabled": true}}
        },
        "annotations": {
            "run.oci.ward.landlock.abi": landlock::abi().map(|a| a.to_string()).unwrap_or_else(|| "none".into()),
            "run.oci.ward.seccomp": "default-deny baseline (precompiled), spec profiles stacked",
            "run.oci.ward.relaxations": crate::policy::relax::all_keys()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(" "),
            "org.opencontainers.runc.version": env!("CARGO_PKG_VERSION")
        }
    })
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
