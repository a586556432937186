//! Reading a config.json or process.json as leniently as runc does, before the
//! typed parse: what runc accepts with a warning is accepted here with the same
//! warning, and what runc refuses with its own words (memory policy) is refused
//! with those words, so tools written against runc see the same outcome.

use serde_json::Value;

/// runc's upper bound for a node or CPU number (`configs.MaxCPU`).
const MAX_NODE: u64 = 64 * 1024;

const MPOL_MODES: &[&str] = &[
    "MPOL_DEFAULT",
    "MPOL_PREFERRED",
    "MPOL_BIND",
    "MPOL_INTERLEAVE",
    "MPOL_LOCAL",
    "MPOL_PREFERRED_MANY",
    "MPOL_WEIGHTED_INTERLEAVE",
];
const MPOL_FLAGS: &[&str] = &[
    "MPOL_F_NUMA_BALANCING",
    "MPOL_F_RELATIVE_NODES",
    "MPOL_F_STATIC_NODES",
];

/// Normalises a whole config.json in place. Returns runc's warnings for what
/// was dropped or adjusted; an error names what runc would refuse.
pub fn normalize_config(v: &mut Value) -> Result<Vec<String>, String> {
    let mut warnings = Vec::new();
    if let Some(p) = v.get_mut("process") {
        warnings.extend(drop_unknown_caps(p));
    }
    if let Some(mounts) = v.get_mut("mounts").and_then(Value::as_array_mut) {
        for (i, m) in mounts.iter_mut().enumerate() {
            if let Some(Value::String(d)) = m.get_mut("destination") {
                if d.is_empty() {
                    return Err(format!("mounts[{i}].destination: empty"));
                }
                if !d.starts_with('/') {
                    // runc joins a relative destination to the rootfs, as if
                    // it began with "/", after this warning.
                    warnings.push(format!(
                        "mount destination {d} is not absolute. Support for non-absolute \
                         mount destinations will be removed in a future release."
                    ));
                    *d = format!("/{d}");
                }
            }
        }
    }
    if let Some(linux) = v.get_mut("linux") {
        if let Some(nss) = linux.get_mut("namespaces").and_then(Value::as_array_mut) {
            for ns in nss {
                // An empty path means "a new namespace", as in runc.
                if let Some(obj) = ns.as_object_mut() {
                    if obj.get("path").and_then(Value::as_str) == Some("") {
                        obj.remove("path");
                    }
                }
            }
        }
        if let Some(mp) = linux.get("memoryPolicy") {
            check_memory_policy(mp)?;
        }
    }
    Ok(warnings)
}

/// Normalises a process.json (`exec -p`): runc runs a process without `user`
/// as uid 0, gid 0.
pub fn normalize_process(p: &mut Value) -> Vec<String> {
    if let Some(obj) = p.as_object_mut() {
        obj.entry("user")
            .or_insert_with(|| serde_json::json!({"uid": 0, "gid": 0}));
    }
    drop_unknown_caps(p)
}

/// runc drops capability names it does not know, with one warning.
fn drop_unknown_caps(process: &mut Value) -> Vec<String> {
    let Some(caps) = process
        .get_mut("capabilities")
        .and_then(Value::as_object_mut)
    else {
        return Vec::new();
    };
    let mut unknown = std::collections::BTreeSet::new();
    for set in caps.values_mut() {
        if let Some(list) = set.as_array_mut() {
            list.retain(|c| {
                let known =
                    serde_json::from_value::<oci_spec::runtime::Capability>(c.clone()).is_ok();
                if !known {
                    unknown.insert(c.as_str().unwrap_or("?").to_string());
                }
                known
            });
        }
    }
    if unknown.is_empty() {
        return Vec::new();
    }
    let list: Vec<String> = unknown.into_iter().collect();
    vec![format!(
        "ignoring unknown or unavailable capabilities: [{}]",
        list.join(" ")
    )]
}

/// `linux.memoryPolicy`, checked with runc's messages (specconv and validator).
fn check_memory_policy(mp: &Value) -> Result<(), String> {
    let mode = mp.get("mode").and_then(Value::as_str).unwrap_or("");
    if !MPOL_MODES.contains(&mode) {
        return Err(format!("invalid memory policy mode {mode:?}"));
    }
    let nodes = mp.get("nodes").and_then(Value::as_str).unwrap_or("");
    let count =
        count_nodes(nodes).map_err(|e| format!("invalid memory policy nodes {nodes:?}: {e}"))?;
    for f in mp
        .get("flags")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let f = f.as_str().unwrap_or("");
        if !MPOL_FLAGS.contains(&f) {
            return Err(format!("invalid memory policy flag {f:?}"));
        }
    }
    match mode {
        "MPOL_DEFAULT" | "MPOL_LOCAL" if count != 0 => Err(format!(
            "memory policy mode requires 0 nodes but got {count}"
        )),
        "MPOL_BIND" | "MPOL_INTERLEAVE" | "MPOL_PREFERRED_MANY" | "MPOL_WEIGHTED_INTERLEAVE"
            if count == 0 =>
        {
            Err("memory policy mode requires at least one node but got 0".into())
        }
        _ => Ok(()),
    }
}

/// Counts the distinct nodes of "0-3,5" (runc's `ToCPUSet`).
fn count_nodes(s: &str) -> Result<usize, String> {
    let num = |v: &str| -> Result<u64, String> {
        let n: u64 = v
            .parse()
            .map_err(|_| format!("parsing {v:?}: invalid syntax"))?;
        if n > MAX_NODE {
            return Err(format!("values larger than {MAX_NODE} are not supported"));
        }
        Ok(n)
    };
    let mut set = std::collections::BTreeSet::new();
    let mut any = false;
    for r in s.split(',').map(str::trim).filter(|r| !r.is_empty()) {
        any = true;
        let (a, b) = match r.split_once('-') {
            Some((a, b)) => (num(a)?, num(b)?),
            None => (num(r)?, num(r)?),
        };
        if a > b {
            return Err(format!("invalid range: {r}"));
        }
        set.extend(a..=b);
    }
    if !any && !s.is_empty() {
        return Err(format!("no members found in set {s:?}"));
    }
    Ok(set.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn memory_policy_messages_are_runcs() {
        let check = |v: Value| check_memory_policy(&v).err().unwrap_or_default();
        assert!(check(json!({})).contains("invalid memory policy mode"));
        assert!(check(json!({"mode": "INTERLEAVE"})).contains("invalid memory policy mode"));
        assert!(
            check(json!({"mode": "MPOL_PREFERRED", "flags": ["badflag"]}))
                .contains("invalid memory policy flag")
        );
        assert!(check(json!({"mode": "MPOL_BIND", "nodes": "0-9876543210"}))
            .contains("invalid memory policy node"));
        assert!(check(json!({"mode": "MPOL_DEFAULT", "nodes": "0-7"}))
            .contains("mode requires 0 nodes but got 8"));
        assert_eq!(check(json!({"mode": "MPOL_DEFAULT"})), "");
    }
}
