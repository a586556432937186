//! The per-container security policy: computed once at `create` from the spec,
//! ward's defaults and the relaxations asked for; saved beside the container's
//! state; applied the same way to the init process and to every `exec`.

pub mod adapt;
pub mod deviations;
pub mod hostns;
pub mod idmap;
pub mod relax;
pub mod report;

use std::path::Path;

use oci_spec::runtime::{LinuxPidsBuilder, LinuxResources, Spec};
use serde::{Deserialize, Serialize};

use crate::error::{io_err, Result, WardError};
use crate::hardening::capabilities::{self, CapSets};
use crate::hardening::landlock::{self, LandlockPolicy};
use crate::hardening::{rootfs, seccomp, userns};
use relax::{Layer, Relaxations};

/// A container whose spec sets no pids limit gets this one, so a fork bomb
/// stops inside it.
pub const DEFAULT_PIDS_LIMIT: i64 = 1024;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SeccompPolicy {
    /// ward's precompiled default-deny baseline is installed.
    pub baseline: bool,
    pub baseline_summary: Option<seccomp::FilterSummary>,
    /// The spec's own profile, compiled at create and stacked over the baseline.
    pub spec_summary: Option<seccomp::FilterSummary>,
    /// seccomp(2) flags for the spec's filter (`SECCOMP_FILTER_FLAG_*`;
    /// TSYNC, which ward always sets, not included).
    #[serde(default)]
    pub spec_flags: u32,
    /// The spec's filter has SCMP_ACT_NOTIFY rules: its listener goes to
    /// this agent, for the init and for every exec.
    #[serde(default)]
    pub listener: Option<NotifyListener>,
}

/// `linux.seccomp.listenerPath` and `listenerMetadata`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct NotifyListener {
    pub path: std::path::PathBuf,
    pub metadata: String,
}

/// How the spec's filter is installed: its flags and its listener.
///
/// - `flags` as the spec gives them; absent, SPEC_ALLOW (runc's default: the
///   filter does not make the kernel force its speculative store bypass
///   mitigation). ward's baseline is installed without it, so under the
///   baseline the kernel's seccomp mitigation mode still applies.
/// - SCMP_ACT_NOTIFY needs a `listenerPath`; the filter then gets
///   NEW_LISTENER. Without a notify rule `listenerPath` is ignored, as is
///   WAIT_KILLABLE_RECV (the kernel refuses it without a listener).
/// - The baseline stays under a notifying filter: the kernel answers with the
///   strongest action of all filters, and ERRNO outranks USER_NOTIF, so the
///   agent only ever sees syscalls ward's baseline allows; it cannot grant
///   one the baseline denies (relax the seccomp layer for that).
pub fn spec_filter_install(
    compiled: &seccomp::CompiledFilter,
) -> Result<(u32, Option<NotifyListener>)> {
    let mut flags = compiled.flags.unwrap_or(seccomp::FLAG_SPEC_ALLOW);
    if !compiled.notify {
        flags &= !seccomp::FLAG_WAIT_KILLABLE_RECV;
        return Ok((flags, None));
    }
    if compiled.listener_path.is_empty() {
        return Err(WardError::Invalid(
            "linux.seccomp.listenerPath: required when a rule uses SCMP_ACT_NOTIFY".into(),
        ));
    }
    Ok((
        flags | seccomp::FLAG_NEW_LISTENER,
        Some(NotifyListener {
            path: compiled.listener_path.clone().into(),
            metadata: compiled.listener_metadata.clone(),
        }),
    ))
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Policy {
    pub seccomp: SeccompPolicy,
    pub capabilities: CapSets,
    pub no_new_privs: bool,
    pub rootfs_readonly: bool,
    pub scratch_mounts: Vec<String>,
    pub masked_paths: Vec<String>,
    pub readonly_paths: Vec<String>,
    pub pids_limit: Option<i64>,
    pub landlock: Option<LandlockPolicy>,
    /// The PR 1241 object from the annotation, applied stacked on ward's own.
    pub landlock_spec: Option<String>,
    pub userns: UsernsPolicy,
    pub relaxations: Vec<relax::Relaxation>,
    /// What ward changed by itself to make the spec work under its defences
    /// (a bind kept at host ids, an overlay rootfs rebuilt), listed in the
    /// posture report.
    #[serde(default)]
    pub adaptations: Vec<Adaptation>,
}

/// One automatic adaptation: what was changed, and why.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Adaptation {
    pub what: String,
    pub why: String,
}

/// Which user namespace the container runs in.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "snake_case")]
pub enum UsernsPolicy {
    /// ward's default: a private range from the pool, rootfs id-mapped.
    Ward { range: userns::IdRange },
    /// The spec brought its own user namespace (mappings or a path).
    Spec,
    /// `run.ward.userns=host`: host ids, no user namespace.
    Host,
}

/// The outcome of building a policy: the policy, the spec libcontainer should
/// run, and the compiled spec seccomp filter (if any) to save.
pub struct Built {
    pub policy: Policy,
    pub spec: Spec,
    pub spec_filter: Option<Vec<u8>>,
}

/// Builds the policy. `range` is the id range allocated for ward's default user
/// namespace (None when the spec brings its own or the layer is relaxed);
/// `rootfs` is the image's root directory as the bundle names it.
pub fn build(
    spec: &Spec,
    relaxations: Relaxations,
    range: Option<userns::IdRange>,
    rootfs: &Path,
) -> Result<Built> {
    let mut spec = spec.clone();
    let relaxed = |l| relaxations.has(l);
    userns::validate_spec_mappings(&spec)?;
    let mut adaptations = Vec::new();
    let userns_policy = match range {
        Some(r) => {
            match &r.join {
                Some(p) => crate::hardening::userns_compat::join_userns(&mut spec, p),
                None => userns::apply_to_spec(&mut spec, &r),
            }
            adaptations = adapt::to_userns(&mut spec, r.size)?;
            for a in &adaptations {
                tracing::warn!("adapted {} ({})", a.what, a.why);
            }
            UsernsPolicy::Ward { range: r }
        }
        None if userns::spec_has_userns(&spec) => UsernsPolicy::Spec,
        None => UsernsPolicy::Host,
    };

    // Per-mount id mappings (idmap, ridmap, uidMappings) are applied where
    // ward stages binds: in its own user namespace, the spec's, or none, as
    // runc applies them (lifecycle/create.rs).

    // seccomp is ward's own: compile the spec's profile now (errors name the
    // field), and keep it away from libcontainer, which would only warn about it.
    // The spec's profile is the spec's, not ward's addition: it applies whether
    // or not ward's baseline is relaxed.
    let mut spec_filter = None;
    let mut spec_summary = None;
    let mut spec_flags = 0;
    let mut listener = None;
    let spec_profile = spec.linux().as_ref().and_then(|l| l.seccomp().clone());
    if let Some(profile) = &spec_profile {
        let compiled = seccomp::compile_oci(profile)?;
        (spec_flags, listener) = spec_filter_install(&compiled)?;
        spec_filter = Some(seccomp::to_bytes(&compiled.program));
        spec_summary = Some(compiled.summary);
    }
    if let Some(mut linux) = spec.linux().clone() {
        linux.set_seccomp(None);
        spec.set_linux(Some(linux));
    }
    let baseline = !relaxed(Layer::Seccomp);
    let baseline_summary = if baseline {
        Some(seccomp::baseline()?.summary)
    } else {
        None
    };

    // Capabilities.
    let mut process = spec.process().clone().unwrap_or_default();
    let spec_caps = process.capabilities().clone();
    let caps = capabilities::restrict(spec_caps.as_ref(), relaxed(Layer::Caps));
    let cap_sets = capabilities::describe(spec_caps.as_ref(), &caps);
    process.set_capabilities(Some(caps));
    // no_new_privs: always on unless relaxed, then as the spec says. Without it
    // the executor installs seccomp and Landlock while the process still holds
    // CAP_SYS_ADMIN (see executor.rs), so both layers stay in force.
    let no_new_privs = if relaxed(Layer::Nnp) {
        process.no_new_privileges() == Some(true)
    } else {
        true
    };
    process.set_no_new_privileges(Some(no_new_privs));
    spec.set_process(Some(process));

    // Rootfs, /proc and /sys.
    let scratch_mounts = if relaxed(Layer::Rootfs) {
        Vec::new()
    } else {
        let spec_userns = userns_policy == UsernsPolicy::Spec;
        let before = spec.clone();
        let added = rootfs::make_root_readonly(&mut spec, |dest| {
            !spec_userns || hostns::scratch_fits_spec_userns(&before, rootfs, dest)
        });
        for dest in ["/tmp", "/run"] {
            if spec_userns && !added.iter().any(|a| a == dest) && !has_mount(&before, dest) {
                adaptations.push(Adaptation {
                    what: format!("no scratch tmpfs at {dest}"),
                    why: format!(
                        "the image has no {dest} and the root of the spec's user namespace \
                         cannot create it"
                    ),
                });
            }
        }
        added
    };
    // The relaxation lifts ward's default; a spec that asks for read-only keeps it.
    let rootfs_readonly = spec.root().as_ref().and_then(|r| r.readonly()) == Some(true);
    let (masked_paths, readonly_paths) = if relaxed(Layer::Paths) {
        let linux = spec.linux().as_ref();
        (
            linux
                .and_then(|l| l.masked_paths().clone())
                .unwrap_or_default(),
            linux
                .and_then(|l| l.readonly_paths().clone())
                .unwrap_or_default(),
        )
    } else {
        rootfs::harden_proc_sys(&mut spec)
    };

    // pids limit.
    let pids_limit = if relaxed(Layer::Pids) {
        spec.linux()
            .as_ref()
            .and_then(|l| l.resources().as_ref())
            .and_then(|r| r.pids().as_ref())
            .map(|p| p.limit())
    } else {
        set_default_pids(&mut spec)?
    };

    // Landlock, derived from the final mounts.
    let landlock = if relaxed(Layer::Landlock) {
        None
    } else {
        Some(LandlockPolicy::from_spec(&spec, !rootfs_readonly))
    };
    if let Some(json) = &relaxations.landlock_spec {
        // Parse now so a bad value fails create, naming the annotation.
        LandlockPolicy::from_annotation(json).map_err(|e| {
            WardError::Invalid(format!("annotations[{:?}]: {e}", relax::LANDLOCK_SPEC_KEY))
        })?;
    }

    Ok(Built {
        policy: Policy {
            seccomp: SeccompPolicy {
                baseline,
                baseline_summary,
                spec_summary,
                spec_flags,
                listener,
            },
            capabilities: cap_sets,
            no_new_privs,
            rootfs_readonly,
            scratch_mounts,
            masked_paths,
            readonly_paths,
            pids_limit,
            landlock,
            landlock_spec: relaxations.landlock_spec.clone(),
            userns: userns_policy,
            relaxations: relaxations.list,
            adaptations,
        },
        spec,
        spec_filter,
    })
}

fn has_mount(spec: &Spec, dest: &str) -> bool {
    spec.mounts()
        .iter()
        .flatten()
        .any(|m| m.destination() == Path::new(dest))
}

fn set_default_pids(spec: &mut Spec) -> Result<Option<i64>> {
    let mut linux = spec.linux().clone().unwrap_or_default();
    let mut res: LinuxResources = linux.resources().clone().unwrap_or_default();
    if let Some(p) = res.pids() {
        return Ok(Some(p.limit()));
    }
    let pids = LinuxPidsBuilder::default()
        .limit(DEFAULT_PIDS_LIMIT)
        .build()
        .map_err(|e| WardError::Invalid(format!("linux.resources.pids: {e}")))?;
    res.set_pids(Some(pids));
    linux.set_resources(Some(res));
    spec.set_linux(Some(linux));
    Ok(Some(DEFAULT_PIDS_LIMIT))
}

impl Policy {
    /// Whether an exec'd process gets no_new_privs whatever it asks for:
    /// always, unless the nnp layer is relaxed; then as runc: `--no-new-privs`
    /// (`flag`), else the process's own value (process.json, or the container
    /// spec's, which libcontainer falls back to).
    pub fn exec_forces_no_new_privs(&self, flag: bool) -> bool {
        flag || !self.relaxations.iter().any(|r| r.layer == Layer::Nnp)
    }

    /// The effective spec libcontainer runs, with this policy under the
    /// top-level key `wardPolicy` (JSON readers ignore unknown properties,
    /// as the runtime-spec requires of them). One file instead of two: on
    /// the tmpfs a state root lives on each file is an inode and a page of
    /// memory for as long as the container exists.
    pub fn effective_config(&self, spec: &Spec) -> Result<Vec<u8>> {
        #[derive(Serialize)]
        struct Effective<'a> {
            #[serde(flatten)]
            spec: &'a Spec,
            #[serde(rename = "wardPolicy")]
            policy: &'a Policy,
        }
        serde_json::to_vec(&Effective { spec, policy: self })
            .map_err(|e| WardError::Invalid(format!("serialising effective spec: {e}")))
    }

    /// The policy of an effective config written by [`Self::effective_config`],
    /// or the `policy.json` beside it (containers created by ward before
    /// the two were one file).
    pub fn load(config: &Path) -> Result<Self> {
        #[derive(Deserialize)]
        struct Holder {
            #[serde(rename = "wardPolicy")]
            policy: Option<Policy>,
        }
        let data =
            std::fs::read(config).map_err(io_err(format!("reading {}", config.display())))?;
        let held: Holder = serde_json::from_slice(&data)
            .map_err(|e| WardError::Invalid(format!("{}: {e}", config.display())))?;
        if let Some(p) = held.policy {
            return Ok(p);
        }
        let old = config.with_file_name("policy.json");
        let data = std::fs::read(&old).map_err(io_err(format!("reading {}", old.display())))?;
        serde_json::from_slice(&data)
            .map_err(|e| WardError::Invalid(format!("{}: {e}", old.display())))
    }
}

/// The id-range pool slot held by the container whose effective config is
/// `config` (ward's own user namespace, not a joined one), read without
/// building the whole policy: delete needs nothing else of it.
pub fn recorded_slot(config: &Path) -> Option<u32> {
    #[derive(Deserialize)]
    struct Holder {
        #[serde(rename = "wardPolicy")]
        policy: Option<Held>,
    }
    #[derive(Deserialize)]
    struct Held {
        userns: Userns,
    }
    #[derive(Deserialize)]
    #[serde(rename_all = "snake_case")]
    enum Userns {
        Ward { range: Range },
        Spec,
        Host,
    }
    #[derive(Deserialize)]
    struct Range {
        slot: u32,
        #[serde(default)]
        join: Option<serde::de::IgnoredAny>,
    }
    let data = std::fs::read(config).ok()?;
    let held: Holder = serde_json::from_slice(&data).ok()?;
    match held.policy?.userns {
        Userns::Ward { range } if range.join.is_none() => Some(range.slot),
        _ => None,
    }
}

/// Is Landlock available at all? For reports.
pub fn landlock_abi() -> Option<u8> {
    landlock::abi()
}

/// Whether ward should give this container its own user namespace.
pub fn wants_default_userns(spec: &Spec, relaxations: &Relaxations) -> bool {
    !relaxations.has(Layer::Userns) && !userns::spec_has_userns(spec)
}
