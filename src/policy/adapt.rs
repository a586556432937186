//! Spec values adapted to ward's user namespace. Clients such as Docker write
//! values for a container that runs with host ids (e.g. every gid in
//! `net.ipv4.ping_group_range`); inside ward's namespace only container ids
//! 0..size are mapped, and the kernel refuses an id it cannot map. Each change
//! is recorded, so `ward inspect` shows what the container got and why; a value
//! that cannot be adapted is refused, naming the field.

use oci_spec::runtime::Spec;

use super::Adaptation;
use crate::error::{Result, WardError};

const PING_GROUP_RANGE: &str = "net.ipv4.ping_group_range";

/// Adapts `spec` to a user namespace mapping container ids `0..size`.
pub fn to_userns(spec: &mut Spec, size: u32) -> Result<Vec<Adaptation>> {
    let mut out = Vec::new();
    let max = size.saturating_sub(1);
    if let Some(mut linux) = spec.linux().clone() {
        if let Some(mut sysctl) = linux.sysctl().clone() {
            if let Some(v) = sysctl.get(PING_GROUP_RANGE).cloned() {
                let field = format!("linux.sysctl[{PING_GROUP_RANGE:?}]");
                if let Some(to) = clamp_group_range(&field, &v, max)? {
                    out.push(Adaptation {
                        what: format!("{field}: {v:?} -> {to:?}"),
                        why: format!(
                            "only gids 0-{max} are mapped in the container's user namespace"
                        ),
                    });
                    sysctl.insert(PING_GROUP_RANGE.to_string(), to);
                    linux.set_sysctl(Some(sysctl));
                    spec.set_linux(Some(linux));
                }
            }
        }
    }
    check_mount_ids(spec, max)?;
    Ok(out)
}

/// `"lo hi"` with `hi` lowered to the last mapped gid. None: unchanged. The
/// kernel's "disabled" value (`hi < lo`, e.g. "1 0") is kept when mappable.
fn clamp_group_range(field: &str, value: &str, max: u32) -> Result<Option<String>> {
    let bad = |why: &str| WardError::Invalid(format!("{field} = {value:?}: {why}"));
    let nums: Vec<u32> = value
        .split_whitespace()
        .map(|n| n.parse::<u32>())
        .collect::<std::result::Result<_, _>>()
        .map_err(|_| bad("expected two gids, \"LOW HIGH\""))?;
    let [lo, hi] = nums[..] else {
        return Err(bad("expected two gids, \"LOW HIGH\""));
    };
    if lo > max {
        return Err(bad(&format!(
            "the lowest gid is outside the container's user namespace (gids 0-{max} are mapped)"
        )));
    }
    if hi <= max {
        return Ok(None);
    }
    Ok(Some(format!("{lo} {max}")))
}

/// Mount options that name an owner (`uid=`, `gid=`: tmpfs, devpts, ...) are
/// read in the container's user namespace; an id outside it would fail the
/// mount with a bare EINVAL.
fn check_mount_ids(spec: &Spec, max: u32) -> Result<()> {
    for (i, m) in spec.mounts().iter().flatten().enumerate() {
        for o in m.options().iter().flatten() {
            let Some((k, v)) = o.split_once('=') else {
                continue;
            };
            if !matches!(k, "uid" | "gid") {
                continue;
            }
            if let Ok(n) = v.parse::<u64>() {
                if n > u64::from(max) {
                    return Err(WardError::Invalid(format!(
                        "mounts[{i}] ({}): option {o:?} names an id outside the container's \
                         user namespace (ids 0-{max} are mapped)",
                        m.destination().display()
                    )));
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn group_range_is_clamped_to_the_mapping() {
        let f = "f";
        assert_eq!(
            clamp_group_range(f, "0 2147483647", 65535).unwrap(),
            Some("0 65535".into())
        );
        assert_eq!(clamp_group_range(f, "0 100", 65535).unwrap(), None);
        assert_eq!(clamp_group_range(f, "1 0", 65535).unwrap(), None);
        let e = clamp_group_range(f, "70000 80000", 65535).unwrap_err();
        assert!(e.to_string().contains("outside"), "{e}");
        assert!(clamp_group_range(f, "0", 65535).is_err());
        assert!(clamp_group_range(f, "a b", 65535).is_err());
    }
}
