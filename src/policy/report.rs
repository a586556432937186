//! The posture report (`ward inspect`): per layer, what is in force for a
//! container, from its saved policy and, while it runs, from the kernel's view
//! of its init process.

use std::fmt::Write as _;

use serde::Serialize;

use super::Policy;
use crate::error::Result;
use crate::hardening::landlock;
use crate::lifecycle;
use crate::paths::StateRoot;

#[derive(Debug, Serialize)]
pub struct Posture {
    pub id: String,
    pub status: String,
    pub policy: Policy,
    pub landlock_abi: Option<u8>,
    pub landlock_rules: Vec<String>,
    /// From /proc/<init>/status and uid_map while the container runs.
    pub live: Option<Live>,
}

#[derive(Debug, Serialize)]
pub struct Live {
    pub pid: i32,
    pub seccomp_mode: String,
    pub seccomp_filters: String,
    pub no_new_privs: String,
    pub cap_eff: String,
    pub cap_bnd: String,
    pub uid_map: String,
    pub gid_map: String,
}

pub fn posture(root: &StateRoot, id: &str) -> Result<Posture> {
    let c = lifecycle::load(root, id)?;
    let policy = Policy::load(&root.policy_file(id))?;
    let status = lifecycle::status_name(c.status()).to_string();
    let live = match (c.status(), c.pid()) {
        (libcontainer::container::ContainerStatus::Stopped, _) | (_, None) => None,
        (_, Some(pid)) => live(pid.as_raw()),
    };
    let landlock_rules = policy
        .landlock
        .as_ref()
        .map(landlock::describe)
        .unwrap_or_default();
    Ok(Posture {
        id: id.to_string(),
        status,
        policy,
        landlock_abi: landlock::abi(),
        landlock_rules,
        live,
    })
}

fn live(pid: i32) -> Option<Live> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |k: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(k).map(|v| v.trim().to_string()))
            .unwrap_or_default()
    };
    let map = |f: &str| {
        std::fs::read_to_string(format!("/proc/{pid}/{f}"))
            .map(|s| s.split_whitespace().collect::<Vec<_>>().join(" "))
            .unwrap_or_default()
    };
    Some(Live {
        pid,
        seccomp_mode: field("Seccomp:"),
        seccomp_filters: field("Seccomp_filters:"),
        no_new_privs: field("NoNewPrivs:"),
        cap_eff: field("CapEff:"),
        cap_bnd: field("CapBnd:"),
        uid_map: map("uid_map"),
        gid_map: map("gid_map"),
    })
}

impl Posture {
    pub fn render(&self) -> String {
        let p = &self.policy;
        let mut s = String::new();
        let on_off = |b: bool| if b { "on" } else { "OFF (relaxed)" };
        let _ = writeln!(s, "container {} ({})", self.id, self.status);
        let _ = writeln!(s, "seccomp:          {}", on_off(p.seccomp.baseline));
        if let Some(b) = &p.seccomp.baseline_summary {
            let _ = writeln!(
                s,
                "  baseline:       {} (default {}, {} syscalls allowed, {} BPF instructions)",
                b.source, b.default_action, b.syscalls_allowed, b.instructions
            );
        }
        if let Some(b) = &p.seccomp.spec_summary {
            let _ = writeln!(
                s,
                "  spec profile:   stacked (default {}, {} syscalls allowed, {} rules, {} skipped)",
                b.default_action,
                b.syscalls_allowed,
                b.rules,
                b.skipped_syscalls.len()
            );
        }
        let c = &p.capabilities;
        let _ = writeln!(s, "capabilities:");
        for (n, v) in [
            ("bounding", &c.bounding),
            ("effective", &c.effective),
            ("permitted", &c.permitted),
            ("inheritable", &c.inheritable),
            ("ambient", &c.ambient),
            ("dropped", &c.dropped),
        ] {
            let list = if v.is_empty() {
                "(none)".to_string()
            } else {
                v.join(" ")
            };
            let _ = writeln!(s, "  {n:<15} {list}");
        }
        let _ = writeln!(s, "no_new_privs:     {}", on_off(p.no_new_privs));
        let _ = writeln!(
            s,
            "user namespace:   {}",
            match &p.userns {
                super::UsernsPolicy::Ward { range } => format!(
                    "ward default: 0-{} -> host uid {} gid {} (rootfs id-mapped)",
                    range.size - 1,
                    range.host_uid,
                    range.host_gid
                ),
                super::UsernsPolicy::Spec => "from the spec's mappings".to_string(),
                super::UsernsPolicy::Host => "HOST ids (relaxed)".to_string(),
            }
        );
        let _ = writeln!(
            s,
            "rootfs:           {}",
            if p.rootfs_readonly {
                format!("read-only (scratch tmpfs: {})", p.scratch_mounts.join(" "))
            } else {
                "WRITABLE (relaxed)".to_string()
            }
        );
        let _ = writeln!(
            s,
            "landlock:         {} (kernel ABI {})",
            on_off(p.landlock.is_some()),
            self.landlock_abi
                .map(|a| a.to_string())
                .unwrap_or_else(|| "absent".into())
        );
        for r in &self.landlock_rules {
            let _ = writeln!(s, "  {r}");
        }
        if p.landlock_spec.is_some() {
            let _ = writeln!(s, "  + linux.landlock object from annotation (stacked)");
        }
        let _ = writeln!(
            s,
            "pids limit:       {}",
            p.pids_limit
                .map(|l| l.to_string())
                .unwrap_or_else(|| "none".into())
        );
        let _ = writeln!(s, "masked paths:     {}", p.masked_paths.join(" "));
        let _ = writeln!(s, "read-only paths:  {}", p.readonly_paths.join(" "));
        if p.relaxations.is_empty() {
            let _ = writeln!(s, "relaxations:      none");
        } else {
            let _ = writeln!(s, "relaxations:");
            for r in &p.relaxations {
                let _ = writeln!(
                    s,
                    "  run.ward.{}={} (from {})",
                    r.layer_key(),
                    r.value,
                    r.source
                );
            }
        }
        if !p.adaptations.is_empty() {
            let _ = writeln!(s, "adaptations:");
            for a in &p.adaptations {
                let _ = writeln!(s, "  {} ({})", a.what, a.why);
            }
        }
        if let Some(l) = &self.live {
            let _ = writeln!(s, "live (init pid {}):", l.pid);
            let _ = writeln!(
                s,
                "  Seccomp: {}  Seccomp_filters: {}  NoNewPrivs: {}",
                l.seccomp_mode, l.seccomp_filters, l.no_new_privs
            );
            let _ = writeln!(s, "  CapEff: {}  CapBnd: {}", l.cap_eff, l.cap_bnd);
            let _ = writeln!(s, "  uid_map: {}  gid_map: {}", l.uid_map, l.gid_map);
        }
        s
    }
}
