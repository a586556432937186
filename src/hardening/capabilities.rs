//! Capabilities: the spec's sets intersected with ward's allowed maximum.
//!
//! A spec without `process.capabilities` gets ward's minimal set, never full root.
//! The inheritable set is emptied (CVE-2022-29162) except for what ambient needs,
//! since the kernel only keeps an ambient capability that is also inheritable.

use std::collections::HashSet;

use oci_spec::runtime::{Capabilities, Capability, LinuxCapabilities, LinuxCapabilitiesBuilder};
use serde::{Deserialize, Serialize};

/// Never granted unless the user relaxes the capability layer.
pub const NEVER: &[Capability] = &[
    Capability::SysAdmin,
    Capability::SysModule,
    Capability::SysRawio,
    Capability::SysPtrace,
    Capability::SysBoot,
    Capability::SysTime,
    Capability::Syslog,
    Capability::DacReadSearch,
    Capability::NetAdmin,
    Capability::NetRaw,
    Capability::MacAdmin,
    Capability::MacOverride,
    Capability::Bpf,
    Capability::Perfmon,
    Capability::SysResource,
    Capability::LinuxImmutable,
    Capability::Mknod,
    Capability::AuditControl,
    Capability::IpcLock,
    Capability::WakeAlarm,
    Capability::BlockSuspend,
    Capability::SysNice,
    Capability::Setfcap,
    Capability::CheckpointRestore,
];

/// What a container gets when its spec names no capabilities: enough for a
/// root process to manage its own files and drop to another user.
pub const MINIMAL: &[Capability] = &[
    Capability::Chown,
    Capability::DacOverride,
    Capability::Fowner,
    Capability::Fsetid,
    Capability::Kill,
    Capability::Setgid,
    Capability::Setuid,
    Capability::Setpcap,
    Capability::NetBindService,
    Capability::AuditWrite,
    Capability::SysChroot,
];

/// The sets in force, by name, for the state and the posture report.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct CapSets {
    pub bounding: Vec<String>,
    pub effective: Vec<String>,
    pub permitted: Vec<String>,
    pub inheritable: Vec<String>,
    pub ambient: Vec<String>,
    /// Capabilities the spec asked for that ward dropped.
    pub dropped: Vec<String>,
}

fn allowed(c: &Capability) -> bool {
    !NEVER.contains(c)
}

/// Computes the capabilities a container gets. `honour_spec` is the
/// `run.ward.caps=spec` relaxation: the spec's sets are used exactly as given
/// (no `process.capabilities` means no capabilities, as in runc).
pub fn restrict(spec_caps: Option<&LinuxCapabilities>, honour_spec: bool) -> LinuxCapabilities {
    let Some(caps) = spec_caps else {
        // Relaxed, a spec without capabilities gets none (as runc does);
        // otherwise ward's minimal set.
        if honour_spec {
            return empty();
        }
        let minimal: Capabilities = MINIMAL.iter().copied().collect();
        return build(
            &minimal,
            &minimal,
            &minimal,
            &HashSet::new(),
            &HashSet::new(),
        );
    };
    if honour_spec {
        return caps.clone();
    }
    let keep = |s: &Option<Capabilities>| -> Capabilities {
        s.iter().flatten().copied().filter(allowed).collect()
    };
    let bounding = keep(caps.bounding());
    let permitted: Capabilities = keep(caps.permitted())
        .intersection(&bounding)
        .copied()
        .collect();
    let effective: Capabilities = keep(caps.effective())
        .intersection(&permitted)
        .copied()
        .collect();
    let ambient: Capabilities = keep(caps.ambient())
        .intersection(&permitted)
        .copied()
        .collect();
    // Inheritable carries only what ambient needs.
    let inheritable = ambient.clone();
    build(&bounding, &effective, &permitted, &inheritable, &ambient)
}

fn build(
    b: &Capabilities,
    e: &Capabilities,
    p: &Capabilities,
    i: &Capabilities,
    a: &Capabilities,
) -> LinuxCapabilities {
    // The builder cannot fail for these fields; fall back to the default (empty
    // in oci-spec? no: full default) is never wanted, so build by hand.
    LinuxCapabilitiesBuilder::default()
        .bounding(b.clone())
        .effective(e.clone())
        .permitted(p.clone())
        .inheritable(i.clone())
        .ambient(a.clone())
        .build()
        .unwrap_or_else(|_| empty())
}

fn empty() -> LinuxCapabilities {
    let mut c = LinuxCapabilities::default();
    c.set_bounding(Some(HashSet::new()))
        .set_effective(Some(HashSet::new()))
        .set_permitted(Some(HashSet::new()))
        .set_inheritable(Some(HashSet::new()))
        .set_ambient(Some(HashSet::new()));
    c
}

pub fn cap_name(c: &Capability) -> String {
    format!("CAP_{c}")
}

fn names(s: &Option<Capabilities>) -> Vec<String> {
    let mut v: Vec<String> = s.iter().flatten().map(cap_name).collect();
    v.sort();
    v
}

pub fn describe(spec_caps: Option<&LinuxCapabilities>, applied: &LinuxCapabilities) -> CapSets {
    let asked: HashSet<String> = spec_caps
        .map(|c| {
            [
                c.bounding(),
                c.effective(),
                c.permitted(),
                c.inheritable(),
                c.ambient(),
            ]
            .into_iter()
            .flat_map(|s| s.iter().flatten().map(cap_name))
            .collect()
        })
        .unwrap_or_default();
    let granted: HashSet<String> = names(applied.bounding())
        .into_iter()
        .chain(names(applied.permitted()))
        .collect();
    let mut dropped: Vec<String> = asked.difference(&granted).cloned().collect();
    dropped.sort();
    CapSets {
        bounding: names(applied.bounding()),
        effective: names(applied.effective()),
        permitted: names(applied.permitted()),
        inheritable: names(applied.inheritable()),
        ambient: names(applied.ambient()),
        dropped,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_spec_caps_gets_minimal() {
        let c = restrict(None, false);
        let b = c.bounding().clone().unwrap_or_default();
        assert_eq!(b.len(), MINIMAL.len());
        assert!(c.inheritable().clone().unwrap_or_default().is_empty());
        assert!(!b.contains(&Capability::SysAdmin));
    }

    #[test]
    fn dangerous_caps_are_dropped_and_inheritable_emptied() {
        let all: Capabilities = [Capability::SysAdmin, Capability::Chown, Capability::NetRaw]
            .into_iter()
            .collect();
        let spec = build(&all, &all, &all, &all, &HashSet::new());
        let c = restrict(Some(&spec), false);
        let e = c.effective().clone().unwrap_or_default();
        assert!(e.contains(&Capability::Chown));
        assert!(!e.contains(&Capability::SysAdmin));
        assert!(!e.contains(&Capability::NetRaw));
        assert!(c.inheritable().clone().unwrap_or_default().is_empty());
        let d = describe(Some(&spec), &c);
        assert_eq!(d.dropped, vec!["CAP_NET_RAW", "CAP_SYS_ADMIN"]);
    }

    #[test]
    fn relaxation_keeps_spec() {
        let all: Capabilities = [Capability::SysAdmin].into_iter().collect();
        let spec = build(&all, &all, &all, &all, &HashSet::new());
        assert_eq!(restrict(Some(&spec), true), spec);
        assert_eq!(restrict(None, true), empty());
    }
}
