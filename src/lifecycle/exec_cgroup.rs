//! `exec --cgroup [CONTROLLERS:]PATH`: run the new process in an existing
//! sub-cgroup of the container's cgroup, as runc does. A bare PATH applies to
//! every hierarchy, `memory:sub` or `cpu,cpuacct:sub` (cgroup v1) to the
//! hierarchies holding those controllers; `/` names the container's own
//! cgroup. A path may not leave the container's cgroup.

use std::collections::HashMap;
use std::path::{Component, Path, PathBuf};

use libcgroups::common::{get_cgroup_setup, CgroupSetup, DEFAULT_CGROUP_ROOT};

use crate::error::{Result, WardError};

/// One directory per hierarchy the process joins, with whether the join must
/// succeed (a hierarchy without controllers is best effort, as for create).
pub type Joins = Vec<(PathBuf, bool)>;

/// The directories an exec with these `--cgroup` arguments joins, or None
/// (no argument: the container's cgroup, as every exec).
pub fn resolve(container_cgroup: &Path, args: &[String]) -> Result<Option<Joins>> {
    if args.is_empty() {
        return Ok(None);
    }
    if super::cgroup_path::is_systemd_path(container_cgroup) {
        return Err(WardError::Invalid(format!(
            "exec --cgroup: the container's cgroup is a systemd unit ({}); \
             only cgroupfs paths are supported",
            container_cgroup.display()
        )));
    }
    let (all, per) = parse(args)?;
    let base = container_cgroup
        .strip_prefix("/")
        .unwrap_or(container_cgroup);
    match get_cgroup_setup() {
        Ok(CgroupSetup::Unified) => {
            if let Some(ctrl) = per.keys().next() {
                return Err(WardError::Invalid(format!(
                    "exec --cgroup {ctrl}:...: cgroup v2 has one hierarchy, give a path without controllers"
                )));
            }
            let root = Path::new(DEFAULT_CGROUP_ROOT).join(base);
            Ok(Some(vec![(sub_dir(&root, all.as_deref())?, true)]))
        }
        Ok(_) => v1_joins(base, all.as_deref(), &per).map(Some),
        Err(e) => Err(WardError::Invalid(format!(
            "exec --cgroup: cannot tell the cgroup setup: {e}"
        ))),
    }
}

/// Splits the arguments into the path for every hierarchy and the paths per
/// controller name.
fn parse(args: &[String]) -> Result<(Option<String>, HashMap<String, String>)> {
    let mut all = None;
    let mut per = HashMap::new();
    for a in args {
        match a.split_once(':') {
            None => all = Some(a.clone()),
            Some((ctrls, path)) => {
                for c in ctrls.split(',').filter(|c| !c.is_empty()) {
                    per.insert(c.to_string(), path.to_string());
                }
            }
        }
    }
    Ok((all, per))
}

/// `root` joined with `sub`, refused when it leaves `root` (runc's words).
fn sub_dir(root: &Path, sub: Option<&str>) -> Result<PathBuf> {
    let Some(sub) = sub else {
        return Ok(root.to_path_buf());
    };
    let bad = || WardError::Invalid(format!("bad sub cgroup path: {sub}"));
    let mut out = root.to_path_buf();
    let mut depth = 0usize;
    for c in Path::new(sub).components() {
        match c {
            Component::RootDir | Component::CurDir => {}
            Component::ParentDir => {
                if depth == 0 {
                    return Err(bad());
                }
                depth -= 1;
                out.pop();
            }
            Component::Normal(n) => {
                depth += 1;
                out.push(n);
            }
            Component::Prefix(_) => return Err(bad()),
        }
    }
    Ok(out)
}

/// A mounted cgroup v1 hierarchy (or the hybrid host's cgroup2 tree, with
/// no controllers) and the controller names it holds.
struct Hierarchy {
    mount: PathBuf,
    controllers: Vec<String>,
}

fn v1_joins(base: &Path, all: Option<&str>, per: &HashMap<String, String>) -> Result<Joins> {
    let hierarchies = hierarchies()?;
    for ctrl in per.keys() {
        if !hierarchies.iter().any(|h| h.controllers.contains(ctrl)) {
            return Err(WardError::Invalid(format!("unknown controller {ctrl:?}")));
        }
    }
    let mut joins = Vec::new();
    for h in &hierarchies {
        let sub = h
            .controllers
            .iter()
            .find_map(|c| per.get(c))
            .map(String::as_str)
            .or(all);
        let root = h.mount.join(base);
        let dir = sub_dir(&root, sub)?;
        // Named hierarchies and the hybrid cgroup2 tree carry no limits: a
        // sub-cgroup made only where limits are falls back to the container's.
        let required = h.controllers.iter().any(|c| !c.starts_with("name="));
        if required {
            joins.push((dir, true));
        } else if dir.is_dir() {
            joins.push((dir, false));
        } else {
            joins.push((root, false));
        }
    }
    Ok(joins)
}

/// cgroup v1 controller names (a mount's other options are not controllers).
const V1_CONTROLLERS: &[&str] = &[
    "cpuset",
    "cpu",
    "cpuacct",
    "blkio",
    "memory",
    "devices",
    "freezer",
    "net_cls",
    "perf_event",
    "net_prio",
    "hugetlb",
    "pids",
    "rdma",
    "misc",
];

/// The cgroup hierarchies in ward's mount namespace, one mount each.
fn hierarchies() -> Result<Vec<Hierarchy>> {
    let text = crate::fsutil::read_mountinfo()
        .map_err(|e| WardError::Invalid(format!("reading /proc/self/mountinfo: {e}")))?;
    let mut out: Vec<Hierarchy> = Vec::new();
    for line in text.lines() {
        let Some((pre, post)) = line.split_once(" - ") else {
            continue;
        };
        let mut post = post.split(' ');
        let fstype = post.next().unwrap_or("");
        let _source = post.next();
        let opts = post.next().unwrap_or("");
        let mount = match pre.split(' ').nth(4) {
            Some(m) => PathBuf::from(m),
            None => continue,
        };
        let controllers: Vec<String> = match fstype {
            "cgroup" => opts
                .split(',')
                .filter(|o| V1_CONTROLLERS.contains(o) || o.starts_with("name="))
                .map(str::to_string)
                .collect(),
            "cgroup2" => Vec::new(),
            _ => continue,
        };
        // The same hierarchy mounted twice is joined once.
        if out.iter().any(|h| h.controllers == controllers) {
            continue;
        }
        out.push(Hierarchy { mount, controllers });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sub_paths_stay_inside() {
        let root = Path::new("/sys/fs/cgroup/memory/c");
        assert_eq!(sub_dir(root, None).unwrap(), root);
        assert_eq!(sub_dir(root, Some("/")).unwrap(), root);
        assert_eq!(sub_dir(root, Some("a/../b")).unwrap(), root.join("b"));
        assert!(sub_dir(root, Some("..")).is_err());
        assert!(sub_dir(root, Some("a/../../x")).is_err());
    }
}
