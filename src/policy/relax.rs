//! Relaxations: how a user explicitly turns a default defence off.
//!
//! Per container through annotations under `run.ward.`, host-wide through
//! `/etc/ward/config.toml` (or `$WARD_CONFIG`). Unknown keys are errors, so a typo
//! never silently leaves a layer on or off.

use std::collections::HashMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::error::{Result, WardError};

pub const PREFIX: &str = "run.ward.";
pub const HOST_CONFIG: &str = "/etc/ward/config.toml";
/// The runtime-spec PR 1241 `linux.landlock` object, carried as an annotation.
pub const LANDLOCK_SPEC_KEY: &str = "run.ward.landlock.spec";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Layer {
    Seccomp,
    Rootfs,
    Landlock,
    Caps,
    Userns,
    /// `process.noNewPrivileges` as the spec says, instead of always on.
    Nnp,
    /// No default pids limit: `linux.resources.pids` as the spec says.
    Pids,
    /// `linux.maskedPaths` and `linux.readonlyPaths` exactly as the spec lists.
    Paths,
}

/// (layer, the only value that relaxes it)
const KEYS: &[(&str, Layer, &str)] = &[
    ("seccomp", Layer::Seccomp, "unconfined"),
    ("rootfs", Layer::Rootfs, "writable"),
    ("landlock", Layer::Landlock, "off"),
    ("caps", Layer::Caps, "spec"),
    ("userns", Layer::Userns, "host"),
    ("nnp", Layer::Nnp, "spec"),
    ("pids", Layer::Pids, "spec"),
    ("paths", Layer::Paths, "spec"),
];

/// Every relaxation as `run.ward.KEY=VALUE`, for `ward features` and docs.
pub fn all_keys() -> impl Iterator<Item = (String, &'static str)> {
    KEYS.iter().map(|(k, _, v)| (format!("{PREFIX}{k}"), *v))
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Relaxation {
    pub layer: Layer,
    pub value: String,
    /// "annotation" or the host config file's path.
    pub source: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Relaxations {
    pub list: Vec<Relaxation>,
    pub landlock_spec: Option<String>,
}

impl Relaxations {
    pub fn has(&self, layer: Layer) -> bool {
        self.list.iter().any(|r| r.layer == layer)
    }
}

/// Host-wide config: `[relax]` with the same keys as the annotations.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct HostConfig {
    #[serde(default)]
    relax: HashMap<String, String>,
}

fn host_config_path() -> PathBuf {
    match std::env::var_os("WARD_CONFIG") {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => PathBuf::from(HOST_CONFIG),
    }
}

fn parse_one(key: &str, value: &str, field: &str, source: &str) -> Result<Relaxation> {
    let Some(&(_, layer, relaxed)) = KEYS.iter().find(|(k, _, _)| *k == key) else {
        let known: Vec<&str> = KEYS.iter().map(|(k, _, _)| *k).collect();
        return Err(WardError::Invalid(format!(
            "{field}: unknown ward relaxation {key:?} (known: {})",
            known.join(", ")
        )));
    };
    if value != relaxed {
        return Err(WardError::Invalid(format!(
            "{field}: value {value:?} not understood; the only value is {relaxed:?}"
        )));
    }
    Ok(Relaxation {
        layer,
        value: value.to_string(),
        source: source.to_string(),
    })
}

/// Reads the host config (if present) and the spec's annotations.
pub fn collect(annotations: Option<&HashMap<String, String>>) -> Result<Relaxations> {
    collect_with(annotations, &[])
}

/// Where relaxations given on ward's command line come from. Docker before API
/// 1.43 passes no annotations; a runtime registered a second time with
/// `"runtimeArgs": ["--relax", "seccomp=unconfined"]` is its per-container way.
pub const CLI_SOURCE: &str = "command line (--relax)";

/// As `collect`, plus `--relax LAYER=VALUE` arguments from the command line.
pub fn collect_with(
    annotations: Option<&HashMap<String, String>>,
    cli: &[String],
) -> Result<Relaxations> {
    let mut out = Relaxations::default();
    for arg in cli {
        let Some((k, v)) = arg.split_once('=') else {
            return Err(WardError::Invalid(format!(
                "--relax {arg:?}: expected LAYER=VALUE, e.g. seccomp=unconfined"
            )));
        };
        let r = parse_one(k, v, &format!("--relax {arg:?}"), CLI_SOURCE)?;
        if !out.has(r.layer) {
            out.list.push(r);
        }
    }
    let path = host_config_path();
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let cfg: HostConfig = toml::from_str(&text)
                .map_err(|e| WardError::Invalid(format!("{}: {e}", path.display())))?;
            let mut keys: Vec<_> = cfg.relax.iter().collect();
            keys.sort();
            for (k, v) in keys {
                let field = format!("{} [relax].{k}", path.display());
                let r = parse_one(k, v, &field, &path.display().to_string())?;
                if !out.has(r.layer) {
                    out.list.push(r);
                }
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => {
            return Err(WardError::Invalid(format!("{}: {e}", path.display())));
        }
    }
    let mut anns: Vec<_> = annotations.into_iter().flatten().collect();
    anns.sort();
    for (k, v) in anns {
        let Some(key) = k.strip_prefix(PREFIX) else {
            continue;
        };
        if k == LANDLOCK_SPEC_KEY {
            out.landlock_spec = Some(v.clone());
            continue;
        }
        let r = parse_one(key, v, &format!("annotations[{k:?}]"), "annotation")?;
        if !out.has(r.layer) {
            out.list.push(r);
        }
    }
    for r in &out.list {
        tracing::warn!(
            "security layer {:?} relaxed ({}={}, from {})",
            r.layer,
            r.layer_key(),
            r.value,
            r.source
        );
    }
    Ok(out)
}

impl Relaxation {
    pub fn layer_key(&self) -> &'static str {
        KEYS.iter()
            .find(|(_, l, _)| *l == self.layer)
            .map(|(k, _, _)| *k)
            .unwrap_or("?")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn anns(kv: &[(&str, &str)]) -> HashMap<String, String> {
        kv.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn annotations_relax_layers() {
        let a = anns(&[
            ("run.ward.seccomp", "unconfined"),
            ("run.ward.rootfs", "writable"),
            ("other.key", "x"),
        ]);
        let r = collect(Some(&a)).unwrap();
        assert!(r.has(Layer::Seccomp) && r.has(Layer::Rootfs));
        assert!(!r.has(Layer::Landlock));
    }

    #[test]
    fn command_line_relaxations() {
        let r = collect_with(None, &["caps=spec".into()]).unwrap();
        assert!(r.has(Layer::Caps) && !r.has(Layer::Seccomp));
        assert_eq!(r.list[0].source, CLI_SOURCE);
        let e = collect_with(None, &["caps".into()]).unwrap_err();
        assert!(e.to_string().contains("LAYER=VALUE"), "{e}");
        let e = collect_with(None, &["secomp=unconfined".into()]).unwrap_err();
        assert!(e.to_string().contains("--relax"), "{e}");
    }

    #[test]
    fn unknown_key_or_value_is_an_error() {
        let e = collect(Some(&anns(&[("run.ward.secomp", "unconfined")]))).unwrap_err();
        assert!(e.to_string().contains("run.ward.secomp"), "{e}");
        assert!(collect(Some(&anns(&[("run.ward.seccomp", "off")]))).is_err());
    }
}
