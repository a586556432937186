//! ward's deviations from the spec under its defaults: the README's table
//! ("What ward applies to every container"), one entry per row, which
//! `ward features` lists under `annotations` as
//! `run.oci.ward.deviation.<key>` (tests/defaults_trace.rs keeps the two
//! the same). Each traced failure of runc's bats suite and runtime-tools'
//! validation under ward's defaults falls under one of these.

pub struct Deviation {
    /// The annotation's suffix.
    pub key: &'static str,
    /// The spec field, as the README's first column writes it.
    pub field: &'static str,
    /// What ward does by default, in short.
    pub default: &'static str,
    /// The layer(s) responsible.
    pub layers: &'static str,
    /// The relaxation(s) restoring the spec.
    pub restore: &'static str,
}

pub const DEVIATIONS: &[Deviation] = &[
    Deviation {
        key: "capabilities",
        field: "`process.capabilities`",
        default: "each set limited to ward's maximum (never SYS_ADMIN, NET_RAW, SYS_PTRACE, MKNOD, ...)",
        layers: "caps",
        restore: "run.ward.caps=spec",
    },
    Deviation {
        key: "root.readonly",
        field: "`root.readonly`",
        default: "read-only / with private tmpfs at /tmp and /run",
        layers: "rootfs",
        restore: "run.ward.rootfs=writable",
    },
    Deviation {
        key: "noNewPrivileges",
        field: "`process.noNewPrivileges`",
        default: "always on",
        layers: "nnp",
        restore: "run.ward.nnp=spec",
    },
    Deviation {
        key: "seccomp",
        field: "`linux.seccomp`",
        default: "ward's default-deny baseline under the spec's profile",
        layers: "seccomp",
        restore: "run.ward.seccomp=unconfined",
    },
    Deviation {
        key: "landlock",
        field: "— (no spec field)",
        default: "Landlock ruleset: no exec under writable mounts, no device nodes, no access outside the tree",
        layers: "landlock",
        restore: "run.ward.landlock=off",
    },
    Deviation {
        key: "userns",
        field: "`linux.namespaces` (user), `linux.uidMappings`, `linux.gidMappings`, id-bearing values",
        default: "a user namespace added: container ids 0-65535 on a private host range, rootfs and binds id-mapped",
        layers: "userns",
        restore: "run.ward.userns=host",
    },
    Deviation {
        key: "no-pid-namespace",
        field: "`linux.namespaces` without `pid`",
        default: "refused under ward's user namespace (no /proc can be mounted)",
        layers: "userns",
        restore: "run.ward.userns=host",
    },
    Deviation {
        key: "host-checked-capabilities",
        field: "`process.capabilities` the kernel checks in the host's user namespace",
        default: "EPERM: CAP_SYSLOG (/dev/kmsg), CAP_MKNOD, CAP_SYS_NICE (deadline/real-time scheduler) hold only in the container's user namespace",
        layers: "userns (with caps, landlock where they also apply)",
        restore: "run.ward.userns=host (and caps=spec, landlock=off)",
    },
    Deviation {
        key: "host-uids",
        field: "`process.user`, `linux.cgroupsPath` as seen from the host",
        default: "container uids are host uids of ward's range; cgroups not delegated to container root",
        layers: "userns",
        restore: "run.ward.userns=host",
    },
    Deviation {
        key: "seccomp-agent-ids",
        field: "`linux.seccomp.listenerPath` (an agent acting for the container)",
        default: "an agent's host ids are unmapped in ward's user namespace: files it creates on the container's mounts fail with EOVERFLOW",
        layers: "userns",
        restore: "run.ward.userns=host",
    },
    Deviation {
        key: "rootfsPropagation",
        field: "`linux.rootfsPropagation`",
        default: "the id-mapped rootfs has no peer group: slave/shared receive nothing",
        layers: "userns",
        restore: "run.ward.userns=host",
    },
    Deviation {
        key: "idmap-overflow",
        field: "`mounts[].uidMappings`, `mounts[].gidMappings` (idmap)",
        default: "host ids outside ward's range show as 65534",
        layers: "userns",
        restore: "run.ward.userns=host",
    },
    Deviation {
        key: "pids",
        field: "`linux.resources.pids`",
        default: "1024 when the spec sets no limit",
        layers: "pids",
        restore: "run.ward.pids=spec",
    },
    Deviation {
        key: "paths",
        field: "`linux.maskedPaths`, `linux.readonlyPaths`",
        default: "the spec's lists plus runc's defaults and ward's extras",
        layers: "paths",
        restore: "run.ward.paths=spec",
    },
    Deviation {
        key: "no-mount-namespace",
        field: "`linux.namespaces` without `mount`",
        default: "refused",
        layers: "rootfs, paths, userns",
        restore: "run.ward.rootfs=writable, run.ward.paths=spec, run.ward.userns=host",
    },
];

/// The annotations `ward features` lists, one per deviation.
pub fn annotations() -> impl Iterator<Item = (String, String)> {
    DEVIATIONS.iter().map(|d| {
        (
            format!("run.oci.ward.deviation.{}", d.key),
            format!(
                "{}: {} (layer {}; restored by {})",
                d.field.replace('`', ""),
                d.default,
                d.layers,
                d.restore
            ),
        )
    })
}
