//! Landlock: the filesystem and scope policy applied as the last step before
//! execve, after pivot_root (so every path here is a container path).
//!
//! ward's own policy:
//! * the read-only tree (the rootfs, read-only mounts) is read + execute;
//! * beneath every writable mount (and /dev, /proc) it is read + write but
//!   never execute, so nothing written or downloaded can be run;
//! * device nodes (char/block) can never be created;
//! * abstract unix sockets and signals are scoped to the container (ABI 6).
//!
//! Landlock has no deny rules and a rule on a directory covers everything
//! beneath it, mounts included. "/ is read+execute but /tmp is not executable"
//! is therefore built by splitting: an ancestor of a no-exec mount only gets
//! the rights its no-exec descendants may have (read, or read+write when the
//! rootfs is writable), and each of its children that is not on the way to a
//! no-exec mount gets the full rights, enumerated with `read_dir` at apply
//! time. Mounts made read-only by the VFS keep their write protection from the
//! mount itself (Landlock write rights on a read-only mount are inert), so the
//! split is only needed for `Execute`.
//!
//! A stacked second ruleset, the runtime-spec PR 1241 `landlock` object
//! (carried through an annotation), can be applied with [`apply_spec`].

use std::collections::BTreeMap;
use std::ffi::CString;
use std::fs::File;
#[cfg(test)]
use std::os::fd::AsRawFd;
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use landlock::{
    Access, AccessFs, BitFlags, CompatLevel, Compatible, PathBeneath, Ruleset, RulesetAttr,
    RulesetCreatedAttr, RulesetStatus, Scope, ABI,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tracing::{debug, warn};

/// The newest Landlock ABI whose rights this module was written and tested
/// against. Newer kernels are used at this ABI (the crate's contract: rights of
/// a future ABI are never handled by surprise); older kernels get the best
/// subset through the crate's best-effort compatibility.
const TARGET_ABI: ABI = ABI::V7;
const TARGET_ABI_NUM: u8 = 7;

/// `LANDLOCK_CREATE_RULESET_VERSION` from <linux/landlock.h>.
const LANDLOCK_CREATE_RULESET_VERSION: libc::c_uint = 1;

#[derive(thiserror::Error, Debug)]
pub enum LandlockError {
    /// The PR 1241 object (annotation value) is malformed; `field` is a JSON path.
    #[error("{field}: {msg}")]
    Invalid { field: String, msg: String },
    /// A path that must be present (disableBestEffort) could not be opened.
    #[error("{path}: {source}")]
    Path {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The ruleset could not be built or enforced.
    #[error("ruleset: {0}")]
    Ruleset(#[from] landlock::RulesetError),
    /// disableBestEffort was asked for and the kernel could not enforce everything.
    #[error("landlock could only be {0} and disableBestEffort is set")]
    NotFullyEnforced(String),
}

fn invalid(field: impl Into<String>, msg: impl Into<String>) -> LandlockError {
    LandlockError::Invalid {
        field: field.into(),
        msg: msg.into(),
    }
}

/// ward's Landlock policy, derived at `create` from the final spec mounts.
/// Paths are container paths.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct LandlockPolicy {
    /// Trees that are read + execute (read-only mounts; "/" when the rootfs is
    /// read-only).
    pub read_exec: Vec<PathBuf>,
    /// Trees that are read + write, never execute (writable mounts, /dev, /proc).
    pub read_write: Vec<PathBuf>,
    /// Scope abstract unix sockets to the container (ABI 6).
    pub scope_abstract_unix: bool,
    /// Scope signals to the container (ABI 6).
    pub scope_signals: bool,
    /// The rootfs tree itself is read + write + execute (explicit relaxation);
    /// the writable mounts stay no-exec.
    pub rootfs_writable: bool,
}

/// Paths that are always read + write, no execute, whatever the spec says.
const ALWAYS_RW: &[&str] = &["/dev", "/proc"];

impl LandlockPolicy {
    /// Derive from the spec's mounts: a mount without the "ro"/"rro" option
    /// is writable (read + write, no exec); one with it is read + execute.
    /// When the same destination is mounted twice the last one wins, and a
    /// mount over a parent destination hides the earlier mounts beneath it.
    pub fn from_spec(spec: &oci_spec::runtime::Spec, rootfs_writable: bool) -> Self {
        // destination -> writable?
        let mut dests: Vec<(PathBuf, bool)> = Vec::new();
        for m in spec.mounts().iter().flatten() {
            let Some(dest) = normalize(m.destination()) else {
                continue;
            };
            let writable = !m
                .options()
                .iter()
                .flatten()
                .any(|o| o == "ro" || o == "rro");
            dests.retain(|(d, _)| !d.starts_with(&dest));
            dests.push((dest, writable));
        }
        for p in ALWAYS_RW {
            let p = PathBuf::from(p);
            match dests.iter_mut().find(|(d, _)| *d == p) {
                Some(entry) => entry.1 = true,
                None => dests.push((p, true)),
            }
        }
        let mut read_exec = Vec::new();
        if !rootfs_writable {
            read_exec.push(PathBuf::from("/"));
        }
        let mut read_write = Vec::new();
        for (d, w) in dests {
            if d == Path::new("/") {
                continue;
            }
            if w {
                read_write.push(d);
            } else {
                read_exec.push(d);
            }
        }
        LandlockPolicy {
            read_exec,
            read_write,
            scope_abstract_unix: true,
            scope_signals: true,
            rootfs_writable,
        }
    }

    /// The policy for a process joining the container with `exec`: it cannot
    /// join the init process's Landlock domain, so a signal scope would stop
    /// it signalling the container's own processes. The abstract unix socket
    /// scope is kept: it is what guards the host's abstract sockets when the
    /// container shares the host network namespace.
    pub fn for_exec(&self) -> Self {
        LandlockPolicy {
            scope_signals: false,
            ..self.clone()
        }
    }

    /// Parse the runtime-spec PR 1241 `landlock` object (annotation value).
    pub fn from_annotation(json: &str) -> Result<SpecLandlock, LandlockError> {
        SpecLandlock::parse(json)
    }
}

/// A Landlock filesystem access right, by its PR 1241 / kernel name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FsAccess {
    Execute,
    WriteFile,
    ReadFile,
    ReadDir,
    RemoveDir,
    RemoveFile,
    MakeChar,
    MakeDir,
    MakeReg,
    MakeSock,
    MakeFifo,
    MakeBlock,
    MakeSym,
    Refer,
    Truncate,
    IoctlDev,
}

const FS_ACCESS: &[(FsAccess, &str, AccessFs)] = &[
    (FsAccess::Execute, "execute", AccessFs::Execute),
    (FsAccess::WriteFile, "write_file", AccessFs::WriteFile),
    (FsAccess::ReadFile, "read_file", AccessFs::ReadFile),
    (FsAccess::ReadDir, "read_dir", AccessFs::ReadDir),
    (FsAccess::RemoveDir, "remove_dir", AccessFs::RemoveDir),
    (FsAccess::RemoveFile, "remove_file", AccessFs::RemoveFile),
    (FsAccess::MakeChar, "make_char", AccessFs::MakeChar),
    (FsAccess::MakeDir, "make_dir", AccessFs::MakeDir),
    (FsAccess::MakeReg, "make_reg", AccessFs::MakeReg),
    (FsAccess::MakeSock, "make_sock", AccessFs::MakeSock),
    (FsAccess::MakeFifo, "make_fifo", AccessFs::MakeFifo),
    (FsAccess::MakeBlock, "make_block", AccessFs::MakeBlock),
    (FsAccess::MakeSym, "make_sym", AccessFs::MakeSym),
    (FsAccess::Refer, "refer", AccessFs::Refer),
    (FsAccess::Truncate, "truncate", AccessFs::Truncate),
    (FsAccess::IoctlDev, "ioctl_dev", AccessFs::IoctlDev),
];

impl FsAccess {
    pub fn name(self) -> &'static str {
        FS_ACCESS
            .iter()
            .find(|e| e.0 == self)
            .map(|e| e.1)
            .unwrap_or("?")
    }

    /// Accepts the PR 1241 name ("read_file"), case-insensitively, and the
    /// kernel constant ("LANDLOCK_ACCESS_FS_READ_FILE").
    pub fn from_name(s: &str) -> Option<Self> {
        let lower = s.to_ascii_lowercase();
        let short = lower.strip_prefix("landlock_access_fs_").unwrap_or(&lower);
        FS_ACCESS.iter().find(|e| e.1 == short).map(|e| e.0)
    }

    fn flag(self) -> AccessFs {
        FS_ACCESS
            .iter()
            .find(|e| e.0 == self)
            .map(|e| e.2)
            .unwrap_or(AccessFs::Execute)
    }
}

fn flags_of(list: &[FsAccess]) -> BitFlags<AccessFs> {
    list.iter().fold(BitFlags::EMPTY, |acc, a| acc | a.flag())
}

/// One `rules.pathBeneath` entry of the PR 1241 object.
#[derive(Clone, Debug, PartialEq)]
pub struct SpecPathBeneath {
    pub allowed_access: Vec<FsAccess>,
    pub paths: Vec<PathBuf>,
}

/// The parsed runtime-spec PR 1241 `landlock` object:
/// `{"ruleset":{"handledAccessFS":[..]},"rules":{"pathBeneath":[{"allowedAccess":[..],"paths":[..]}]},"disableBestEffort":false}`.
#[derive(Clone, Debug, PartialEq)]
pub struct SpecLandlock {
    pub handled_access_fs: Vec<FsAccess>,
    pub path_beneath: Vec<SpecPathBeneath>,
    pub disable_best_effort: bool,
}

fn check_keys(
    obj: &serde_json::Map<String, Value>,
    at: &str,
    known: &[&str],
) -> Result<(), LandlockError> {
    for k in obj.keys() {
        if !known.contains(&k.as_str()) {
            let field = if at.is_empty() {
                k.clone()
            } else {
                format!("{at}.{k}")
            };
            return Err(invalid(
                field,
                format!("unknown field (expected one of: {})", known.join(", ")),
            ));
        }
    }
    Ok(())
}

fn parse_access_list(v: &Value, field: &str) -> Result<Vec<FsAccess>, LandlockError> {
    let arr = v
        .as_array()
        .ok_or_else(|| invalid(field, "must be an array of strings"))?;
    let mut out = Vec::new();
    for (i, item) in arr.iter().enumerate() {
        let f = format!("{field}[{i}]");
        let s = item
            .as_str()
            .ok_or_else(|| invalid(&f, "must be a string"))?;
        let a = FsAccess::from_name(s).ok_or_else(|| {
            invalid(
                &f,
                format!(
                    "unknown access right {s:?} (known: {})",
                    FS_ACCESS.iter().map(|e| e.1).collect::<Vec<_>>().join(", ")
                ),
            )
        })?;
        if !out.contains(&a) {
            out.push(a);
        }
    }
    Ok(out)
}

impl SpecLandlock {
    pub fn parse(json: &str) -> Result<Self, LandlockError> {
        let v: Value = serde_json::from_str(json)
            .map_err(|e| invalid("landlock", format!("not valid JSON: {e}")))?;
        let obj = v
            .as_object()
            .ok_or_else(|| invalid("landlock", "must be a JSON object"))?;
        check_keys(obj, "", &["ruleset", "rules", "disableBestEffort"])?;

        let disable_best_effort = match obj.get("disableBestEffort") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            Some(_) => return Err(invalid("disableBestEffort", "must be a boolean")),
        };

        let handled_access_fs = match obj.get("ruleset") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Object(rs)) => {
                check_keys(rs, "ruleset", &["handledAccessFS"])?;
                match rs.get("handledAccessFS") {
                    None | Some(Value::Null) => Vec::new(),
                    Some(l) => parse_access_list(l, "ruleset.handledAccessFS")?,
                }
            }
            Some(_) => return Err(invalid("ruleset", "must be an object")),
        };
        if handled_access_fs.is_empty() {
            return Err(invalid(
                "ruleset.handledAccessFS",
                "must list at least one access right (a ruleset handling nothing restricts nothing)",
            ));
        }
        let handled = flags_of(&handled_access_fs);

        let mut path_beneath = Vec::new();
        match obj.get("rules") {
            None | Some(Value::Null) => {}
            Some(Value::Object(rules)) => {
                check_keys(rules, "rules", &["pathBeneath"])?;
                match rules.get("pathBeneath") {
                    None | Some(Value::Null) => {}
                    Some(Value::Array(entries)) => {
                        for (i, e) in entries.iter().enumerate() {
                            let at = format!("rules.pathBeneath[{i}]");
                            let eo = e
                                .as_object()
                                .ok_or_else(|| invalid(&at, "must be an object"))?;
                            check_keys(eo, &at, &["allowedAccess", "paths"])?;
                            let af = format!("{at}.allowedAccess");
                            let allowed_access = match eo.get("allowedAccess") {
                                None | Some(Value::Null) => Vec::new(),
                                Some(l) => parse_access_list(l, &af)?,
                            };
                            for a in &allowed_access {
                                if !handled.contains(a.flag()) {
                                    return Err(invalid(
                                        &af,
                                        format!("{:?} is not in ruleset.handledAccessFS", a.name()),
                                    ));
                                }
                            }
                            let pf = format!("{at}.paths");
                            let mut paths = Vec::new();
                            match eo.get("paths") {
                                None | Some(Value::Null) => {}
                                Some(Value::Array(ps)) => {
                                    for (j, p) in ps.iter().enumerate() {
                                        let f = format!("{pf}[{j}]");
                                        let s = p
                                            .as_str()
                                            .ok_or_else(|| invalid(&f, "must be a string"))?;
                                        if !s.starts_with('/') {
                                            return Err(invalid(&f, "must be an absolute path"));
                                        }
                                        paths.push(PathBuf::from(s));
                                    }
                                }
                                Some(_) => return Err(invalid(pf, "must be an array of strings")),
                            }
                            path_beneath.push(SpecPathBeneath {
                                allowed_access,
                                paths,
                            });
                        }
                    }
                    Some(_) => {
                        return Err(invalid("rules.pathBeneath", "must be an array of objects"))
                    }
                }
            }
            Some(_) => return Err(invalid("rules", "must be an object")),
        }

        Ok(SpecLandlock {
            handled_access_fs,
            path_beneath,
            disable_best_effort,
        })
    }
}

/// Outcome of applying a ruleset, for logs and the posture report.
#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct LandlockStatus {
    /// The Landlock ABI in use: the kernel's, capped at the newest ABI ward
    /// knows (7). None when the kernel has no Landlock.
    pub abi: Option<u8>,
    /// "full" | "partial" | "not enforced"
    pub enforced: String,
    /// Human readable rules, e.g. "/usr: read,execute".
    pub rules: Vec<String>,
}

/// The kernel's Landlock ABI version, None if Landlock is absent or disabled.
pub fn abi() -> Option<u8> {
    // SAFETY: with a NULL attr, size 0 and the VERSION flag the kernel only
    // returns the ABI version (or -1 with errno); no memory is read.
    let v = unsafe {
        libc::syscall(
            libc::SYS_landlock_create_ruleset,
            std::ptr::null::<libc::c_void>(),
            0usize,
            LANDLOCK_CREATE_RULESET_VERSION,
        )
    };
    if v > 0 {
        Some(u8::try_from(v).unwrap_or(u8::MAX))
    } else {
        None
    }
}

fn abi_in_use() -> Option<u8> {
    abi().map(|k| k.min(TARGET_ABI_NUM))
}

// ---- access sets -----------------------------------------------------------

fn read() -> BitFlags<AccessFs> {
    AccessFs::ReadFile | AccessFs::ReadDir
}

fn read_exec() -> BitFlags<AccessFs> {
    AccessFs::from_read(TARGET_ABI)
}

/// Every write right but device node creation.
fn write() -> BitFlags<AccessFs> {
    AccessFs::from_write(TARGET_ABI) & !(AccessFs::MakeChar | AccessFs::MakeBlock)
}

fn read_write() -> BitFlags<AccessFs> {
    read() | write()
}

fn handled() -> BitFlags<AccessFs> {
    AccessFs::from_all(TARGET_ABI)
}

/// Rights that make sense on a non-directory.
fn file_mask() -> BitFlags<AccessFs> {
    AccessFs::from_file(TARGET_ABI)
}

/// "read,write,execute", or the kernel names of a partial set.
fn render(a: BitFlags<AccessFs>) -> String {
    // A rule on a file only carries file rights: "read" is read_file there.
    let file_rule = !a.contains(AccessFs::ReadDir) && (a & !file_mask()).is_empty();
    let (r, w) = if file_rule {
        (BitFlags::from(AccessFs::ReadFile), write() & file_mask())
    } else {
        (read(), write())
    };
    let mut out: Vec<String> = Vec::new();
    let mut rest = a;
    if a.contains(r) {
        out.push("read".into());
        rest &= !r;
    }
    if a.contains(w) {
        out.push("write".into());
        rest &= !w;
    }
    if a.contains(AccessFs::Execute) {
        out.push("execute".into());
        rest &= !AccessFs::Execute;
    }
    for (_, name, f) in FS_ACCESS {
        if rest.contains(*f) {
            out.push((*name).to_string());
        }
    }
    if out.is_empty() {
        "none".into()
    } else {
        out.join(",")
    }
}

// ---- planning --------------------------------------------------------------

/// Lexically normalises a container path: absolute, no ".", ".." resolved.
fn normalize(p: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::from("/");
    for c in p.components() {
        match c {
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
            Component::ParentDir => {
                out.pop();
            }
            Component::Normal(n) => out.push(n),
        }
    }
    Some(out)
}

/// Container path for a host path under `root`.
fn container_path(root: &Path, p: &Path) -> String {
    match p.strip_prefix(root) {
        Ok(rel) if rel.as_os_str().is_empty() => "/".into(),
        Ok(rel) => format!("/{}", rel.display()),
        Err(_) => p.display().to_string(),
    }
}

/// One rule to add: a path (under the root) and the rights beneath it.
#[derive(Debug, Clone, PartialEq)]
struct Rule {
    path: PathBuf,
    access: BitFlags<AccessFs>,
}

/// Resolves the policy's container paths under `root` (canonical, symlinks
/// followed inside the container) into anchors: path -> wanted rights.
fn anchors(root: &Path, policy: &LandlockPolicy) -> BTreeMap<PathBuf, BitFlags<AccessFs>> {
    let mut map: BTreeMap<PathBuf, BitFlags<AccessFs>> = BTreeMap::new();
    let base = if policy.rootfs_writable {
        read_write() | AccessFs::Execute
    } else {
        read_exec()
    };
    map.insert(root.to_path_buf(), base);

    let resolve = |p: &Path| -> Option<PathBuf> {
        let norm = normalize(p)?;
        let rel = norm.strip_prefix("/").ok()?;
        let joined = root.join(rel);
        match std::fs::canonicalize(&joined) {
            Ok(c) if c.starts_with(root) => Some(c),
            Ok(c) => {
                warn!(path = %p.display(), resolved = %c.display(), "landlock: path resolves outside the root, skipped");
                None
            }
            Err(e) => {
                debug!(path = %p.display(), error = %e, "landlock: path absent, skipped");
                None
            }
        }
    };
    // A path listed both read_write and read_exec is writable, and a
    // writable path never gets execute.
    let mut rw = Vec::new();
    for p in &policy.read_write {
        if let Some(c) = resolve(p) {
            rw.push(c);
        }
    }
    for p in &policy.read_exec {
        if let Some(c) = resolve(p) {
            if rw.contains(&c) {
                continue;
            }
            if c == root {
                // The base already carries the rootfs rights.
                continue;
            }
            map.insert(c, read_exec());
        }
    }
    for c in rw {
        map.insert(c, read_write());
    }
    map
}

fn is_dir_nofollow(p: &Path) -> Option<bool> {
    let md = std::fs::symlink_metadata(p).ok()?;
    let ft = md.file_type();
    if ft.is_dir() {
        Some(true)
    } else if ft.is_file() {
        Some(false)
    } else {
        None
    }
}

/// Computes the rules: see the module documentation.
fn plan(root: &Path, anchors: &BTreeMap<PathBuf, BitFlags<AccessFs>>) -> Vec<Rule> {
    let mut out = Vec::new();
    let base = anchors.get(root).copied().unwrap_or_else(read_exec);
    visit(root, base, BitFlags::EMPTY, anchors, &mut out);
    out
}

fn push(
    out: &mut Vec<Rule>,
    path: &Path,
    access: BitFlags<AccessFs>,
    inherited: BitFlags<AccessFs>,
    anchor: bool,
) {
    // Redundant rules are dropped, except on the policy's own paths (kept so
    // the status lists them).
    if !access.is_empty() && (anchor || !inherited.contains(access)) {
        out.push(Rule {
            path: path.to_path_buf(),
            access,
        });
    }
}

fn visit(
    p: &Path,
    want: BitFlags<AccessFs>,
    inherited: BitFlags<AccessFs>,
    anchors: &BTreeMap<PathBuf, BitFlags<AccessFs>>,
    out: &mut Vec<Rule>,
) {
    let below: Vec<(&PathBuf, &BitFlags<AccessFs>)> = anchors
        .range::<Path, _>((std::ops::Bound::Excluded(p), std::ops::Bound::Unbounded))
        .take_while(|(a, _)| a.starts_with(p))
        .filter(|(a, _)| a.as_path() != p)
        .collect();
    let lacks_exec = below.iter().any(|(_, f)| !f.contains(AccessFs::Execute));
    let here = if lacks_exec {
        want & !AccessFs::Execute
    } else {
        want
    };
    push(out, p, here, inherited, anchors.contains_key(p));
    let inherited = inherited | here;
    if below.is_empty() {
        return;
    }
    if !lacks_exec {
        // No split needed; the top-most anchors below add their own rights.
        for (a, f) in &below {
            let covered = below
                .iter()
                .any(|(b, _)| b.as_path() != a.as_path() && a.starts_with(b));
            if !covered {
                visit(a, **f, inherited, anchors, out);
            }
        }
        return;
    }
    let entries = match std::fs::read_dir(p) {
        Ok(e) => e,
        Err(e) => {
            warn!(path = %p.display(), error = %e, "landlock: cannot list an ancestor of a no-exec mount; its other children get no access");
            // The anchors below still get their own rules.
            for (a, f) in &below {
                let covered = below
                    .iter()
                    .any(|(b, _)| b.as_path() != a.as_path() && a.starts_with(b));
                if !covered {
                    visit(a, **f, inherited, anchors, out);
                }
            }
            return;
        }
    };
    let mut children: Vec<PathBuf> = entries.flatten().map(|e| p.join(e.file_name())).collect();
    children.sort();
    for c in children {
        if let Some(f) = anchors.get(&c) {
            visit(&c, *f, inherited, anchors, out);
            continue;
        }
        let on_the_way = below.iter().any(|(a, _)| a.starts_with(&c));
        match is_dir_nofollow(&c) {
            Some(true) if on_the_way => visit(&c, want, inherited, anchors, out),
            Some(true) => push(out, &c, want, inherited, false),
            Some(false) => push(out, &c, want & file_mask(), inherited, false),
            None => {
                debug!(path = %c.display(), "landlock: not a directory or regular file (symlink, device, ...), no rule")
            }
        }
    }
}

/// Opens a rule target without following a final symlink.
fn open_path(p: &Path) -> std::io::Result<(OwnedFd, bool)> {
    let c = CString::new(p.as_os_str().as_bytes())
        .map_err(|_| std::io::Error::from_raw_os_error(libc::EINVAL))?;
    // SAFETY: c is NUL-terminated; these flags need no mode argument.
    let fd = unsafe {
        libc::open(
            c.as_ptr(),
            libc::O_PATH | libc::O_NOFOLLOW | libc::O_CLOEXEC,
        )
    };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: fd is valid, newly opened and owned by nobody else.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    let f = File::from(fd);
    let md = f.metadata()?;
    if md.file_type().is_symlink() {
        return Err(std::io::Error::from_raw_os_error(libc::ELOOP));
    }
    Ok((OwnedFd::from(f), md.is_dir()))
}

fn status_name(s: &RulesetStatus) -> &'static str {
    match s {
        RulesetStatus::FullyEnforced => "full",
        RulesetStatus::PartiallyEnforced => "partial",
        RulesetStatus::NotEnforced => "not enforced",
    }
}

// ---- apply -----------------------------------------------------------------

/// Applies ward's policy to the calling thread (and what it execs). Runs
/// after pivot_root, with no_new_privs set or CAP_SYS_ADMIN held; it never
/// sets no_new_privs itself.
pub fn apply(policy: &LandlockPolicy) -> Result<LandlockStatus, LandlockError> {
    apply_under(Path::new("/"), policy)
}

/// [`apply`] with the container's "/" at `root` (tests; `apply` uses "/").
pub fn apply_under(root: &Path, policy: &LandlockPolicy) -> Result<LandlockStatus, LandlockError> {
    let root = std::fs::canonicalize(root).map_err(|source| LandlockError::Path {
        path: root.to_path_buf(),
        source,
    })?;
    let anchors = anchors(&root, policy);
    let rules = plan(&root, &anchors);

    let mut scopes: BitFlags<Scope> = BitFlags::EMPTY;
    if policy.scope_abstract_unix {
        scopes |= Scope::AbstractUnixSocket;
    }
    if policy.scope_signals {
        scopes |= Scope::Signal;
    }
    let mut ruleset = Ruleset::default().handle_access(handled())?;
    if !scopes.is_empty() {
        ruleset = ruleset.scope(scopes)?;
    }
    // no_new_privs is the policy's (libcontainer sets it); without it the
    // caller holds CAP_SYS_ADMIN, which restrict_self accepts instead.
    let mut created = ruleset.create()?.no_new_privs(false);
    let mut described = Vec::new();
    for r in &rules {
        let (fd, is_dir) = match open_path(&r.path) {
            Ok(x) => x,
            Err(e) => {
                debug!(path = %r.path.display(), error = %e, "landlock: rule target gone, skipped");
                continue;
            }
        };
        let access = if is_dir {
            r.access
        } else {
            r.access & file_mask()
        };
        if access.is_empty() {
            continue;
        }
        let shown = format!("{}: {}", container_path(&root, &r.path), render(access));
        // A rule the kernel refuses only means less access (fail closed):
        // log it and go on rather than fail the container.
        match (&mut created).add_rule(PathBeneath::new(fd, access)) {
            Ok(_) => described.push(shown),
            Err(e) => {
                warn!(rule = %shown, error = %e, "landlock: rule refused, path left inaccessible")
            }
        }
    }
    if policy.scope_abstract_unix {
        described.push("scope: abstract unix sockets".into());
    }
    if policy.scope_signals {
        described.push("scope: signals".into());
    }
    let status = created.restrict_self()?;
    let enforced = status_name(&status.ruleset).to_string();
    let abi = match status.ruleset {
        RulesetStatus::NotEnforced => None,
        _ => abi_in_use(),
    };
    if status.ruleset != RulesetStatus::FullyEnforced {
        warn!(enforced = %enforced, kernel_abi = ?self::abi(), "landlock: policy not fully enforced");
    }
    debug!(abi = ?abi, rules = described.len(), "landlock: applied");
    Ok(LandlockStatus {
        abi,
        enforced,
        rules: described,
    })
}

/// Applies the PR 1241 object as an additional, stacked ruleset.
pub fn apply_spec(spec: &SpecLandlock) -> Result<LandlockStatus, LandlockError> {
    apply_spec_under(Path::new("/"), spec)
}

/// [`apply_spec`] with the container's "/" at `root`.
pub fn apply_spec_under(root: &Path, spec: &SpecLandlock) -> Result<LandlockStatus, LandlockError> {
    let level = if spec.disable_best_effort {
        CompatLevel::HardRequirement
    } else {
        CompatLevel::BestEffort
    };
    let handled = flags_of(&spec.handled_access_fs);
    let mut created = Ruleset::default()
        .set_compatibility(level)
        .handle_access(handled)?
        .create()?
        .no_new_privs(false);
    let mut described = Vec::new();
    for (i, entry) in spec.path_beneath.iter().enumerate() {
        let access = flags_of(&entry.allowed_access);
        if access.is_empty() {
            continue;
        }
        for p in &entry.paths {
            let host = normalize(p)
                .and_then(|n| n.strip_prefix("/").ok().map(|r| root.join(r)))
                .unwrap_or_else(|| root.to_path_buf());
            // Follows symlinks, like the spec's paths are meant to be resolved.
            let f = match open_follow(&host) {
                Ok(f) => f,
                Err(source) => {
                    if spec.disable_best_effort {
                        return Err(LandlockError::Path {
                            path: p.clone(),
                            source,
                        });
                    }
                    debug!(index = i, path = %p.display(), error = %source, "landlock annotation: path absent, skipped");
                    continue;
                }
            };
            let f = File::from(f);
            let is_dir = f.metadata().map(|m| m.is_dir()).unwrap_or(true);
            let a = if is_dir { access } else { access & file_mask() };
            if a.is_empty() {
                continue;
            }
            let shown = format!("{}: {}", p.display(), render(a));
            if spec.disable_best_effort {
                created = created.add_rule(PathBeneath::new(f, a))?;
                described.push(shown);
            } else {
                match (&mut created).add_rule(PathBeneath::new(f, a)) {
                    Ok(_) => described.push(shown),
                    Err(e) => {
                        warn!(rule = %shown, error = %e, "landlock annotation: rule refused, path left inaccessible")
                    }
                }
            }
        }
    }
    let status = created.restrict_self()?;
    let enforced = status_name(&status.ruleset).to_string();
    if spec.disable_best_effort && status.ruleset != RulesetStatus::FullyEnforced {
        return Err(LandlockError::NotFullyEnforced(enforced));
    }
    let abi = match status.ruleset {
        RulesetStatus::NotEnforced => None,
        _ => abi_in_use(),
    };
    Ok(LandlockStatus {
        abi,
        enforced,
        rules: described,
    })
}

/// O_PATH open following symlinks (the spec's paths are resolved like any path).
fn open_follow(p: &Path) -> std::io::Result<OwnedFd> {
    let c = CString::new(p.as_os_str().as_bytes())
        .map_err(|_| std::io::Error::from_raw_os_error(libc::EINVAL))?;
    // SAFETY: c is NUL-terminated; these flags need no mode argument.
    let fd = unsafe { libc::open(c.as_ptr(), libc::O_PATH | libc::O_CLOEXEC) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: fd is valid, newly opened and owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// What [`apply`] would grant, for the posture report. No syscalls: the
/// children of split directories are only known at apply time.
pub fn describe(policy: &LandlockPolicy) -> Vec<String> {
    let mut out = Vec::new();
    let mut rw: Vec<PathBuf> = policy
        .read_write
        .iter()
        .filter_map(|p| normalize(p))
        .collect();
    rw.sort();
    rw.dedup();
    let mut rx: Vec<PathBuf> = policy
        .read_exec
        .iter()
        .filter_map(|p| normalize(p))
        .filter(|p| !rw.contains(p) && p != Path::new("/"))
        .collect();
    rx.sort();
    rx.dedup();
    let root = if policy.rootfs_writable {
        "read,write,execute"
    } else {
        "read,execute"
    };
    let mut line = format!("/: {root}");
    if !rw.is_empty() {
        line.push_str(" (except beneath the no-exec paths below)");
    }
    out.push(line);
    for p in &rx {
        out.push(format!("{}: read,execute", p.display()));
    }
    for p in &rw {
        out.push(format!("{}: read,write (no execute)", p.display()));
    }
    out.push("device nodes (make_char, make_block): denied everywhere".into());
    if policy.scope_abstract_unix {
        out.push(scope_line("abstract unix sockets", abi()));
    }
    if policy.scope_signals {
        out.push(scope_line("signals", abi()));
    }
    out
}

/// Scopes need Landlock ABI 6 (Linux 6.12): on an older kernel (Debian 12's
/// 6.1 has ABI 2) the report says the scope is not enforced.
fn scope_line(what: &str, kernel_abi: Option<u8>) -> String {
    match kernel_abi {
        Some(a) if a >= 6 => format!("scope: {what}"),
        Some(a) => format!("scope: {what} (NOT ENFORCED: needs Landlock ABI 6, kernel has {a})"),
        None => format!("scope: {what} (NOT ENFORCED: no Landlock in this kernel)"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::sys::wait::{waitpid, WaitStatus};
    use nix::unistd::{fork, ForkResult};
    use oci_spec::runtime::{MountBuilder, RootBuilder, Spec};
    use std::os::unix::fs::PermissionsExt;

    fn mount(dest: &str, typ: &str, options: &[&str]) -> oci_spec::runtime::Mount {
        MountBuilder::default()
            .destination(dest)
            .typ(typ)
            .source(typ)
            .options(options.iter().map(|s| s.to_string()).collect::<Vec<_>>())
            .build()
            .unwrap()
    }

    fn typical_spec() -> Spec {
        let mut spec = Spec::default();
        spec.set_root(Some(
            RootBuilder::default()
                .path("rootfs")
                .readonly(true)
                .build()
                .unwrap(),
        ));
        spec.set_mounts(Some(vec![
            mount("/proc", "proc", &["nosuid", "noexec", "nodev"]),
            mount("/dev", "tmpfs", &["nosuid", "strictatime", "mode=755"]),
            mount("/dev/pts", "devpts", &["nosuid", "noexec", "newinstance"]),
            mount("/sys", "sysfs", &["nosuid", "noexec", "nodev", "ro"]),
            mount("/tmp", "tmpfs", &["nosuid", "nodev", "mode=1777"]),
            mount("/data", "bind", &["rbind", "rw"]),
            mount("/config/", "bind", &["rbind", "ro"]),
        ]));
        spec
    }

    fn pb(v: &[&str]) -> Vec<PathBuf> {
        v.iter().map(PathBuf::from).collect()
    }

    #[test]
    fn from_spec_typical() {
        let spec = typical_spec();
        let ro = !spec.root().as_ref().unwrap().readonly().unwrap_or(false);
        let p = LandlockPolicy::from_spec(&spec, ro);
        assert_eq!(p.read_exec, pb(&["/", "/sys", "/config"]));
        assert_eq!(
            p.read_write,
            pb(&["/proc", "/dev", "/dev/pts", "/tmp", "/data"])
        );
        assert!(p.scope_abstract_unix && p.scope_signals && !p.rootfs_writable);
        // Round-trips through the saved policy.
        let j = serde_json::to_string(&p).unwrap();
        assert_eq!(serde_json::from_str::<LandlockPolicy>(&j).unwrap(), p);
    }

    #[test]
    fn from_spec_writable_root_and_overrides() {
        let mut spec = Spec::default();
        spec.set_mounts(Some(vec![
            mount("/run/secrets", "bind", &["ro"]),
            mount("/run", "tmpfs", &[]),    // hides /run/secrets
            mount("/vol", "bind", &["ro"]), // overridden by the next
            mount("/vol", "bind", &["rw"]),
            mount("/proc", "proc", &["ro"]), // /proc is always rw-no-exec
        ]));
        let p = LandlockPolicy::from_spec(&spec, true);
        assert!(p.rootfs_writable);
        assert!(p.read_exec.is_empty(), "{:?}", p.read_exec);
        assert_eq!(p.read_write, pb(&["/run", "/vol", "/proc", "/dev"]));
        let e = p.for_exec();
        assert!(e.scope_abstract_unix && !e.scope_signals);
    }

    const GOOD: &str = r#"{
        "ruleset": {"handledAccessFS": ["execute", "write_file", "read_file", "read_dir", "LANDLOCK_ACCESS_FS_MAKE_REG"]},
        "rules": {"pathBeneath": [
            {"allowedAccess": ["execute", "read_file", "read_dir"], "paths": ["/usr", "/bin"]},
            {"allowedAccess": ["read_file", "write_file", "make_reg"], "paths": ["/tmp"]}
        ]},
        "disableBestEffort": false
    }"#;

    #[test]
    fn annotation_good() {
        let s = LandlockPolicy::from_annotation(GOOD).unwrap();
        assert_eq!(s.handled_access_fs.len(), 5);
        assert!(s.handled_access_fs.contains(&FsAccess::MakeReg));
        assert_eq!(s.path_beneath.len(), 2);
        assert_eq!(s.path_beneath[0].paths, pb(&["/usr", "/bin"]));
        assert_eq!(
            s.path_beneath[1].allowed_access,
            vec![FsAccess::ReadFile, FsAccess::WriteFile, FsAccess::MakeReg]
        );
        assert!(!s.disable_best_effort);
        let s = LandlockPolicy::from_annotation(
            r#"{"ruleset":{"handledAccessFS":["truncate","refer","ioctl_dev"]},"disableBestEffort":true}"#,
        )
        .unwrap();
        assert!(s.disable_best_effort && s.path_beneath.is_empty());
    }

    #[test]
    fn annotation_bad() {
        let cases: &[(&str, &str)] = &[
            ("not json", "landlock"),
            ("[]", "landlock"),
            (
                r#"{"ruleset":{"handledAccessFS":["exec"]}}"#,
                "ruleset.handledAccessFS[0]",
            ),
            (
                r#"{"ruleset":{"handledAccessFS":"read_file"}}"#,
                "ruleset.handledAccessFS",
            ),
            (r#"{"ruleset":{}}"#, "ruleset.handledAccessFS"),
            (
                r#"{"ruleset":{"handledAcessFS":["read_file"]}}"#,
                "ruleset.handledAcessFS",
            ),
            (
                r#"{"ruleset":{"handledAccessFS":["read_file"]},"rules":{"pathBeneath":[{"allowedAccess":["read_file","bogus"],"paths":["/"]}]}}"#,
                "rules.pathBeneath[0].allowedAccess[1]",
            ),
            (
                r#"{"ruleset":{"handledAccessFS":["read_file"]},"rules":{"pathBeneath":[{"allowedAccess":["execute"],"paths":["/"]}]}}"#,
                "rules.pathBeneath[0].allowedAccess",
            ),
            (
                r#"{"ruleset":{"handledAccessFS":["read_file"]},"rules":{"pathBeneath":[{"allowedAccess":["read_file"],"paths":["usr"]}]}}"#,
                "rules.pathBeneath[0].paths[0]",
            ),
            (
                r#"{"ruleset":{"handledAccessFS":["read_file"]},"disableBestEffort":"yes"}"#,
                "disableBestEffort",
            ),
            (
                r#"{"ruleset":{"handledAccessFS":["read_file"]},"rules":{"netPort":[]}}"#,
                "rules.netPort",
            ),
        ];
        for (json, field) in cases {
            match LandlockPolicy::from_annotation(json) {
                Err(LandlockError::Invalid { field: f, msg }) => {
                    assert_eq!(&f, field, "{json}: {msg}")
                }
                other => panic!("{json}: expected error on {field}, got {other:?}"),
            }
        }
        let e = LandlockPolicy::from_annotation(cases[2].0)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("ruleset.handledAccessFS[0]") && e.contains("\"exec\""),
            "{e}"
        );
    }

    fn mk(root: &Path, dirs: &[&str], files: &[&str]) {
        for d in dirs {
            std::fs::create_dir_all(root.join(d)).unwrap();
        }
        for f in files {
            std::fs::write(root.join(f), b"x").unwrap();
        }
    }

    fn planned(root: &Path, policy: &LandlockPolicy) -> Vec<(String, BitFlags<AccessFs>)> {
        let root = std::fs::canonicalize(root).unwrap();
        plan(&root, &anchors(&root, policy))
            .into_iter()
            .map(|r| (container_path(&root, &r.path), r.access))
            .collect()
    }

    #[test]
    fn plan_splits_ancestors_of_no_exec_mounts() {
        let t = tempfile::tempdir().unwrap();
        mk(
            t.path(),
            &["usr/bin", "tmp", "opt/cache", "opt/tool", "dev", "proc"],
            &["init"],
        );
        std::os::unix::fs::symlink("/tmp", t.path().join("evil")).unwrap();
        let policy = LandlockPolicy {
            read_exec: pb(&["/", "/opt", "/missing"]),
            read_write: pb(&["/tmp", "/opt/cache", "/dev", "/proc"]),
            scope_abstract_unix: true,
            scope_signals: true,
            rootfs_writable: false,
        };
        let got = planned(t.path(), &policy);
        let want = vec![
            ("/".to_string(), read()),
            ("/dev".into(), read_write()),
            ("/init".into(), read_exec() & file_mask()),
            ("/opt".into(), read()),
            ("/opt/cache".into(), read_write()),
            ("/opt/tool".into(), read_exec()),
            ("/proc".into(), read_write()),
            ("/tmp".into(), read_write()),
            ("/usr".into(), read_exec()),
        ];
        assert_eq!(got, want);
        for (_, a) in &got {
            assert!(!a.contains(AccessFs::MakeChar) && !a.contains(AccessFs::MakeBlock));
        }

        // Writable rootfs: the tree is rwx, the mounts stay no-exec.
        let policy = LandlockPolicy {
            read_exec: vec![],
            read_write: pb(&["/tmp", "/opt/cache", "/dev", "/proc"]),
            rootfs_writable: true,
            ..policy
        };
        let rwx = read_write() | AccessFs::Execute;
        let got = planned(t.path(), &policy);
        let want = vec![
            ("/".to_string(), read_write()),
            ("/dev".into(), read_write()),
            ("/init".into(), rwx & file_mask()),
            // /opt: split, but its rights are already inherited from "/".
            ("/opt/cache".into(), read_write()),
            ("/opt/tool".into(), rwx),
            ("/proc".into(), read_write()),
            ("/tmp".into(), read_write()),
            ("/usr".into(), rwx),
        ];
        assert_eq!(got, want);
    }

    #[test]
    fn describe_lists_policy() {
        let p = LandlockPolicy::from_spec(&typical_spec(), false);
        let d = describe(&p);
        assert!(d[0].starts_with("/: read,execute"), "{d:?}");
        assert!(
            d.contains(&"/tmp: read,write (no execute)".to_string()),
            "{d:?}"
        );
        assert!(d.contains(&"/config: read,execute".to_string()), "{d:?}");
        assert!(d
            .iter()
            .any(|l| l.starts_with("scope: abstract unix sockets")));
        assert_eq!(scope_line("signals", Some(6)), "scope: signals");
        assert!(scope_line("signals", Some(2)).contains("NOT ENFORCED"));
        assert!(scope_line("signals", None).contains("NOT ENFORCED"));
        assert!(d.iter().any(|l| l.contains("make_char")));
        assert_eq!(render(read_exec()), "read,execute");
        assert_eq!(render(read_write()), "read,write");
        assert_eq!(render(read_write() & file_mask()), "read,write");
        assert_eq!(
            render(AccessFs::ReadFile | AccessFs::MakeReg),
            "read_file,make_reg"
        );
    }

    /// Runs `f` in a forked child; returns its exit code.
    fn in_child(f: impl FnOnce() -> i32) -> i32 {
        match unsafe { fork() }.expect("fork") {
            ForkResult::Child => {
                let code = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or(99);
                unsafe { libc::_exit(code) }
            }
            ForkResult::Parent { child } => match waitpid(child, None).expect("waitpid") {
                WaitStatus::Exited(_, code) => code,
                other => panic!("child: {other:?}"),
            },
        }
    }

    fn errno_of<T>(r: std::io::Result<T>) -> Option<i32> {
        r.err().and_then(|e| e.raw_os_error())
    }

    fn set_nnp() {
        assert_eq!(
            unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) },
            0
        );
    }

    const OK: i32 = 42;

    #[test]
    fn enforcement_exec_write_mknod_scopes() {
        let Some(kabi) = abi() else {
            eprintln!("no Landlock in this kernel: skipped");
            return;
        };
        let t = tempfile::tempdir().unwrap();
        let base = std::fs::canonicalize(t.path()).unwrap();
        std::fs::create_dir(base.join("ro")).unwrap();
        std::fs::create_dir(base.join("rw")).unwrap();
        std::fs::copy("/bin/true", base.join("ro/true")).unwrap();
        std::fs::set_permissions(base.join("ro/true"), std::fs::Permissions::from_mode(0o755))
            .unwrap();

        // An abstract socket bound outside the sandbox.
        use nix::sys::socket::{
            bind, connect, listen, socket, AddressFamily, Backlog, SockFlag, SockType, UnixAddr,
        };
        let name = format!("ward-landlock-test-{}", std::process::id());
        let addr = UnixAddr::new_abstract(name.as_bytes()).unwrap();
        let srv = socket(
            AddressFamily::Unix,
            SockType::Stream,
            SockFlag::SOCK_CLOEXEC,
            None,
        )
        .unwrap();
        bind(srv.as_raw_fd(), &addr).unwrap();
        listen(&srv, Backlog::new(8).unwrap()).unwrap();

        let policy = LandlockPolicy {
            read_exec: pb(&["/"]),
            read_write: vec![base.join("rw"), "/proc".into(), "/dev".into()],
            scope_abstract_unix: true,
            scope_signals: true,
            rootfs_writable: false,
        };
        let code = in_child(|| {
            let try_connect = || {
                let s = socket(
                    AddressFamily::Unix,
                    SockType::Stream,
                    SockFlag::SOCK_CLOEXEC,
                    None,
                )
                .unwrap();
                connect(s.as_raw_fd(), &addr)
            };
            if try_connect().is_err() {
                return 20; // the socket works before Landlock
            }
            set_nnp();
            let st = match apply_under(Path::new("/"), &policy) {
                Ok(st) => st,
                Err(e) => {
                    eprintln!("apply: {e}");
                    return 10;
                }
            };
            if st.enforced != "full" || st.abi != Some(kabi.min(7)) {
                eprintln!("status: {st:?}");
                return 11;
            }
            // exec on the read-only tree works (in a grandchild).
            let ro_true = CString::new(base.join("ro/true").as_os_str().as_bytes()).unwrap();
            match unsafe { fork() } {
                Ok(ForkResult::Child) => {
                    let _ = nix::unistd::execv(&ro_true, &[&ro_true]);
                    unsafe { libc::_exit(1) }
                }
                Ok(ForkResult::Parent { child }) => {
                    if !matches!(waitpid(child, None), Ok(WaitStatus::Exited(_, 0))) {
                        return 12;
                    }
                }
                Err(_) => return 12,
            }
            // Writing beneath the writable mount works...
            let rw_true = base.join("rw/true");
            if std::fs::copy("/bin/true", &rw_true).is_err()
                || std::fs::set_permissions(&rw_true, std::fs::Permissions::from_mode(0o755))
                    .is_err()
            {
                return 13;
            }
            // ... but not on the read-only tree.
            if errno_of(std::fs::write(base.join("ro/new"), b"x")) != Some(libc::EACCES) {
                return 16;
            }
            // No device nodes, even as root, even where writes are allowed.
            let node = CString::new(base.join("rw/null").as_os_str().as_bytes()).unwrap();
            let r =
                unsafe { libc::mknod(node.as_ptr(), libc::S_IFCHR | 0o666, libc::makedev(1, 3)) };
            if r == 0 || std::io::Error::last_os_error().raw_os_error() != Some(libc::EACCES) {
                return 15;
            }
            // /dev stays usable.
            if std::fs::OpenOptions::new()
                .write(true)
                .open("/dev/null")
                .is_err()
            {
                return 19;
            }
            if kabi >= 6 {
                // The abstract socket from outside is out of scope...
                if try_connect() != Err(nix::errno::Errno::EPERM) {
                    return 17;
                }
                // ... and so is signalling the parent.
                if unsafe { libc::kill(libc::getppid(), 0) } == 0
                    || std::io::Error::last_os_error().raw_os_error() != Some(libc::EPERM)
                {
                    return 18;
                }
            }
            // Nothing written can be run. (Last: success would replace us.)
            let rw_c = CString::new(rw_true.as_os_str().as_bytes()).unwrap();
            match nix::unistd::execv(&rw_c, &[&rw_c]) {
                Err(nix::errno::Errno::EACCES) => OK,
                _ => 14,
            }
        });
        assert_eq!(code, OK, "child failed check {code}");
    }

    #[test]
    fn enforcement_under_root_prefix() {
        if abi().is_none() {
            return;
        }
        let t = tempfile::tempdir().unwrap();
        mk(t.path(), &["etc", "rw"], &["etc/conf"]);
        let root = t.path().to_path_buf();
        let policy = LandlockPolicy {
            read_exec: pb(&["/"]),
            read_write: pb(&["/rw", "/not-there"]),
            scope_abstract_unix: false,
            scope_signals: false,
            rootfs_writable: false,
        };
        let code = in_child(|| {
            set_nnp();
            if apply_under(&root, &policy).is_err() {
                return 10;
            }
            if std::fs::read(root.join("etc/conf")).is_err() {
                return 11;
            }
            if errno_of(std::fs::write(root.join("etc/new"), b"x")) != Some(libc::EACCES) {
                return 12;
            }
            if std::fs::write(root.join("rw/new"), b"x").is_err() {
                return 13;
            }
            // Outside the container root: nothing.
            if errno_of(std::fs::read("/etc/hostname")) != Some(libc::EACCES) {
                return 14;
            }
            OK
        });
        assert_eq!(code, OK, "child failed check {code}");
    }

    #[test]
    fn annotation_ruleset_stacks() {
        if abi().is_none() {
            return;
        }
        let t = tempfile::tempdir().unwrap();
        mk(t.path(), &["rw", "other"], &[]);
        let root = t.path().to_path_buf();
        let spec = LandlockPolicy::from_annotation(
            r#"{"ruleset":{"handledAccessFS":["write_file","make_reg","truncate"]},
                "rules":{"pathBeneath":[{"allowedAccess":["write_file","make_reg","truncate"],"paths":["/rw","/absent"]}]}}"#,
        )
        .unwrap();
        let code = in_child(|| {
            set_nnp();
            let st = match apply_spec_under(&root, &spec) {
                Ok(st) => st,
                Err(_) => return 10,
            };
            if st.enforced != "full"
                || st.rules != vec!["/rw: write_file,make_reg,truncate".to_string()]
            {
                eprintln!("{st:?}");
                return 11;
            }
            if std::fs::write(root.join("rw/x"), b"x").is_err() {
                return 12;
            }
            if errno_of(std::fs::write(root.join("other/x"), b"x")) != Some(libc::EACCES) {
                return 13;
            }
            // Reading is not handled by this ruleset.
            if std::fs::read("/etc/hostname").is_err() {
                return 14;
            }
            OK
        });
        assert_eq!(code, OK, "child failed check {code}");

        // disableBestEffort: an absent path is an error.
        let strict = LandlockPolicy::from_annotation(
            r#"{"ruleset":{"handledAccessFS":["write_file"]},"disableBestEffort":true,
                "rules":{"pathBeneath":[{"allowedAccess":["write_file"],"paths":["/absent"]}]}}"#,
        )
        .unwrap();
        let code = in_child(|| match apply_spec_under(&root, &strict) {
            Err(LandlockError::Path { .. }) => OK,
            _ => 10,
        });
        assert_eq!(code, OK);
    }
}
