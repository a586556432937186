//! Test harness: each test gets its own temp dir holding a state root and a
//! busybox bundle, unique container IDs, and cleanup that runs even when the
//! test fails (Drop).

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::Value;

pub const WARD: &str = env!("CARGO_BIN_EXE_ward");
static COUNTER: AtomicUsize = AtomicUsize::new(0);

pub struct Env {
    pub dir: tempfile::TempDir,
    pub root: PathBuf,
    pub bundle: PathBuf,
    ids: Mutex<Vec<String>>,
}

/// Builds a busybox root filesystem at `rootfs`.
pub fn make_rootfs(rootfs: &Path) {
    for d in [
        "bin", "proc", "sys", "dev", "tmp", "etc", "run", "root", "mnt",
    ] {
        std::fs::create_dir_all(rootfs.join(d)).unwrap();
    }
    let bb = rootfs.join("bin/busybox");
    if std::fs::hard_link("/bin/busybox", &bb).is_err() {
        std::fs::copy("/bin/busybox", &bb).expect("busybox-static is installed (/bin/busybox)");
    }
    let out = Command::new("/bin/busybox").arg("--list").output().unwrap();
    for applet in String::from_utf8_lossy(&out.stdout).lines() {
        if applet != "busybox" {
            let _ = std::os::unix::fs::symlink("busybox", rootfs.join("bin").join(applet));
        }
    }
    std::fs::write(
        rootfs.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/sh\n",
    )
    .unwrap();
    std::fs::write(rootfs.join("etc/group"), "root:x:0:\nnobody:x:65534:\n").unwrap();
}

impl Env {
    pub fn new() -> Env {
        let dir = tempfile::Builder::new()
            .prefix("ward-test-")
            .tempdir()
            .unwrap();
        let root = dir.path().join("state");
        let bundle = dir.path().join("bundle");
        std::fs::create_dir_all(&bundle).unwrap();
        make_rootfs(&bundle.join("rootfs"));
        let env = Env {
            dir,
            root,
            bundle,
            ids: Mutex::new(Vec::new()),
        };
        let out = env.ward(&["spec", "--bundle", env.bundle.to_str().unwrap()]);
        assert!(out.status.success(), "ward spec: {}", stderr(&out));
        env.edit(|c| {
            c["process"]["terminal"] = false.into();
            c["process"]["args"] = serde_json::json!(["sleep", "1000"]);
        });
        env
    }

    /// A unique container ID, deleted (forced) when the Env drops.
    pub fn id(&self, name: &str) -> String {
        let id = format!(
            "{name}-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        self.ids.lock().unwrap().push(id.clone());
        id
    }

    pub fn config(&self) -> Value {
        serde_json::from_slice(&std::fs::read(self.bundle.join("config.json")).unwrap()).unwrap()
    }

    /// The spec brings its own user namespace: container ids 0..size mapped
    /// at host id 3000000000 (outside ward's pool), uids and gids alike.
    pub fn own_userns(&self, size: u32) {
        self.edit(|c| add_own_userns(c, size));
    }

    pub fn edit(&self, f: impl FnOnce(&mut Value)) {
        let mut c = self.config();
        f(&mut c);
        std::fs::write(
            self.bundle.join("config.json"),
            serde_json::to_vec_pretty(&c).unwrap(),
        )
        .unwrap();
    }

    pub fn args(&self, args: &[&str]) {
        let a: Vec<Value> = args.iter().map(|s| Value::from(*s)).collect();
        self.edit(|c| c["process"]["args"] = Value::Array(a));
    }

    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(WARD);
        c.arg("--root").arg(&self.root).args(args);
        c.stdin(Stdio::null());
        c
    }

    /// Runs ward with stdout/stderr in files, not pipes: a detached container
    /// inherits them and would hold a pipe open long after ward exits.
    pub fn ward(&self, args: &[&str]) -> Output {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let o = self.dir.path().join(format!("out-{n}"));
        let e = self.dir.path().join(format!("err-{n}"));
        let status = self
            .cmd(args)
            .stdout(std::fs::File::create(&o).unwrap())
            .stderr(std::fs::File::create(&e).unwrap())
            .status()
            .unwrap();
        let out = Output {
            status,
            stdout: std::fs::read(&o).unwrap_or_default(),
            stderr: std::fs::read(&e).unwrap_or_default(),
        };
        let _ = std::fs::remove_file(&o);
        let _ = std::fs::remove_file(&e);
        out
    }

    /// Runs ward and asserts success, returning stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.ward(args);
        assert!(
            out.status.success(),
            "ward {args:?} failed ({:?}): {}",
            out.status.code(),
            stderr(&out)
        );
        stdout(&out)
    }

    pub fn create(&self, id: &str) {
        self.ok(&["create", "--bundle", self.bundle.to_str().unwrap(), id]);
    }

    /// create + start.
    pub fn start(&self, id: &str) {
        self.create(id);
        self.ok(&["start", id]);
    }

    pub fn state(&self, id: &str) -> Value {
        serde_json::from_str(&self.ok(&["state", id])).unwrap()
    }

    pub fn status(&self, id: &str) -> String {
        self.state(id)["status"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    pub fn pid(&self, id: &str) -> i32 {
        self.state(id)["pid"].as_i64().unwrap() as i32
    }

    pub fn wait_status(&self, id: &str, want: &str) {
        let t = Instant::now();
        loop {
            let s = self.status(id);
            if s == want {
                return;
            }
            assert!(
                t.elapsed() < Duration::from_secs(10),
                "{id} stayed {s}, wanted {want}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// `ward run` in the foreground, capturing output.
    pub fn run(&self, id: &str) -> Output {
        self.ward(&["run", "--bundle", self.bundle.to_str().unwrap(), id])
    }

    /// `run --keep` to completion: the container stays, stopped.
    pub fn run_kept(&self, id: &str) {
        self.ok(&[
            "run",
            "--keep",
            "--bundle",
            self.bundle.to_str().unwrap(),
            id,
        ]);
    }

    /// `exec` args in a container, capturing output.
    pub fn exec(&self, id: &str, args: &[&str]) -> Output {
        let mut a = vec!["exec", id];
        a.extend_from_slice(args);
        self.ward(&a)
    }

    /// A host directory bind-mounted read-write at `dest` in the container.
    pub fn bind_dir(&self, name: &str, dest: &str) -> PathBuf {
        let host = self.dir.path().join(name);
        std::fs::create_dir_all(&host).unwrap();
        // container root is an unprivileged host uid under ward's default user
        // namespace: the shared directory must be writable by it.
        std::fs::set_permissions(&host, std::os::unix::fs::PermissionsExt::from_mode(0o777))
            .unwrap();
        let h = host.to_str().unwrap().to_string();
        let d = dest.to_string();
        self.edit(|c| {
            c["mounts"].as_array_mut().unwrap().push(serde_json::json!({
                "destination": d, "type": "bind", "source": h, "options": ["rbind", "rw"]
            }))
        });
        host
    }

    /// Nothing is left in the state root for this ID.
    pub fn assert_gone(&self, id: &str) {
        assert!(
            !self.root.join(id).exists(),
            "state dir of {id} left behind"
        );
        assert!(
            !self.root.join("@ward").join(id).exists(),
            "ward dir of {id} left behind"
        );
        for ctl in ["pids", "memory", "cpu", "freezer", "unified"] {
            let p = Path::new("/sys/fs/cgroup").join(ctl).join("ward").join(id);
            if p.exists() {
                // Say what holds it, to tell a late writer from a missed removal.
                let procs = std::fs::read_to_string(p.join("cgroup.procs")).unwrap_or_default();
                let holders: Vec<String> = procs
                    .lines()
                    .map(|pid| {
                        let comm = std::fs::read_to_string(format!("/proc/{pid}/comm"));
                        format!("{pid} {:?}", comm.unwrap_or_default().trim())
                    })
                    .collect();
                panic!("cgroup {} left behind, processes: {holders:?}", p.display());
            }
        }
        assert!(
            !Path::new("/sys/fs/cgroup/ward").join(id).exists(),
            "v2 cgroup left behind"
        );
        // the systemd driver's default (system.slice:ward:ID)
        let scope = format!("/sys/fs/cgroup/system.slice/ward-{id}.scope");
        assert!(!Path::new(&scope).exists(), "{scope} left behind");
        // no id range still held by this container
        let key = self.range_owner(id);
        if let Ok(rd) = std::fs::read_dir("/run/ward-ranges") {
            for e in rd.flatten() {
                let owner = slot_owner(&e.path());
                assert!(
                    owner != key && owner != id,
                    "id range {:?} still held",
                    e.file_name()
                );
            }
        }
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        for id in self.ids.lock().unwrap().iter() {
            let _ = self.cmd(&["delete", "--force", id]).output();
        }
    }
}

/// The guest lane runs the tests once per cgroup driver and says which in
/// WARD_TEST_CGROUP_DRIVER (in-guest.sh); `ward` is then a wrapper adding
/// `--systemd-cgroup` for the systemd driver.
pub fn systemd_driver() -> bool {
    std::env::var("WARD_TEST_CGROUP_DRIVER").is_ok_and(|d| d == "systemd")
}

/// Whether the running kernel is older than MAJOR.MINOR.
pub fn kernel_older_than(major: u32, minor: u32) -> bool {
    let rel = std::fs::read_to_string("/proc/sys/kernel/osrelease").expect("osrelease");
    let mut it = rel
        .split(|c: char| !c.is_ascii_digit())
        .map(|n| n.parse::<u32>().unwrap_or(0));
    let v = (it.next().unwrap_or(0), it.next().unwrap_or(0));
    v < (major, minor)
}

/// Says why a test does not apply here and that it was skipped, on the
/// process's stderr itself: libtest captures print!/eprint! of a passing
/// test, and a skip must not look like a silent pass. in-guest.sh counts
/// these lines.
pub fn skip(test: &str, reason: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr().lock(), "SKIPPED {test}: {reason}");
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).to_string()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).to_string()
}

/// A field of /proc/<pid>/status.
pub fn proc_status(pid: i32, key: &str) -> String {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    s.lines()
        .find_map(|l| {
            l.strip_prefix(&format!("{key}:"))
                .map(|v| v.trim().to_string())
        })
        .unwrap_or_default()
}

/// The static probe program (tests/probe/probe.c), built once per test binary.
pub fn probe_binary() -> PathBuf {
    static P: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    P.get_or_init(|| {
        // cargo's per-target scratch dir, so nothing is left in /tmp; rebuilt
        // when probe.c is newer, renamed into place so parallel test binaries
        // never see a half-written file.
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR"));
        std::fs::create_dir_all(dir).unwrap();
        let out = dir.join("probe");
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/probe/probe.c");
        let mtime = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
        if mtime(&out).is_some() && mtime(&out) >= mtime(&src) {
            return out;
        }
        let tmp = dir.join(format!("probe-{}", std::process::id()));
        let st = Command::new("cc")
            .args(["-static", "-O1", "-o"])
            .arg(&tmp)
            .arg(&src)
            .status()
            .expect("cc is installed");
        assert!(st.success(), "building the probe");
        std::fs::rename(&tmp, &out).unwrap();
        out
    })
    .clone()
}

impl Env {
    /// Puts the probe at /bin/probe in the rootfs.
    pub fn with_probe(&self) {
        std::fs::copy(probe_binary(), self.bundle.join("rootfs/bin/probe")).unwrap();
    }

    pub fn annotate(&self, k: &str, v: &str) {
        let (k, v) = (k.to_string(), v.to_string());
        self.edit(|c| {
            if !c["annotations"].is_object() {
                c["annotations"] = serde_json::json!({});
            }
            c["annotations"][k] = v.into();
        });
    }
}

/// The command failed and its stderr says `want`.
pub fn assert_fails(out: &Output, want: &str) {
    assert!(!out.status.success(), "should have failed: {}", stdout(out));
    assert!(
        stderr(out).contains(want),
        "stderr {:?} should mention {want:?}",
        stderr(out)
    );
}

/// The container id holding an id range slot of /run/ward-ranges (the slot
/// is a symlink to its owner), or "" if the slot is free.
impl Env {
    /// The name ward claims this container's id range under: its ward
    /// directory in this state root.
    pub fn range_owner(&self, id: &str) -> String {
        std::fs::canonicalize(&self.root)
            .unwrap_or_else(|_| self.root.clone())
            .join("@ward")
            .join(id)
            .to_string_lossy()
            .into_owned()
    }
}

pub fn slot_owner(slot: &Path) -> String {
    std::fs::read_link(slot)
        .map(|t| t.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// `sh -c SCRIPT` run to completion in a new container; asserts success and
/// returns its stdout.
pub fn run_sh(env: &Env, name: &str, script: &str) -> String {
    env.args(&["sh", "-c", script]);
    let id = env.id(name);
    let out = env.run(&id);
    assert!(
        out.status.success(),
        "{name}: {}\n{}",
        stderr(&out),
        stdout(&out)
    );
    stdout(&out)
}

/// Removes a cgroup subtree in every v1 hierarchy (and the unified one), deepest first.
pub struct CgroupTree(pub String);

impl Drop for CgroupTree {
    fn drop(&mut self) {
        let Ok(hier) = std::fs::read_dir("/sys/fs/cgroup") else {
            return;
        };
        for h in hier.flatten() {
            let top = h.path().join(&self.0);
            let mut dirs: Vec<PathBuf> = Vec::new();
            let mut stack = vec![top.clone()];
            while let Some(d) = stack.pop() {
                if let Ok(rd) = std::fs::read_dir(&d) {
                    for e in rd.flatten() {
                        if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                            stack.push(e.path());
                        }
                    }
                    dirs.push(d);
                }
            }
            dirs.sort_by_key(|d| std::cmp::Reverse(d.components().count()));
            for d in dirs {
                let _ = std::fs::remove_dir(d);
            }
        }
    }
}

/// `Env::own_userns` on a config being edited (with other changes).
pub fn add_own_userns(c: &mut Value, size: u32) {
    c["linux"]["namespaces"]
        .as_array_mut()
        .unwrap()
        .push(serde_json::json!({"type": "user"}));
    let map = serde_json::json!([{"containerID": 0, "hostID": 3000000000u32, "size": size}]);
    c["linux"]["uidMappings"] = map.clone();
    c["linux"]["gidMappings"] = map;
}

/// Every relaxation `ward features` lists, with the value that lifts it
/// (what `[relax]` with every key set does).
pub const ALL_RELAXATIONS: &[(&str, &str)] = &[
    ("run.ward.seccomp", "unconfined"),
    ("run.ward.rootfs", "writable"),
    ("run.ward.landlock", "off"),
    ("run.ward.caps", "spec"),
    ("run.ward.userns", "host"),
    ("run.ward.nnp", "spec"),
    ("run.ward.pids", "spec"),
    ("run.ward.paths", "spec"),
];

impl Env {
    /// Relaxes every ward layer for this bundle's containers.
    pub fn relax_all(&self) {
        for (k, v) in ALL_RELAXATIONS {
            self.annotate(k, v);
        }
    }
}
