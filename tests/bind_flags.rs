//! A bind mount's flags as runc gives them (mounts_sshfs.bats): with no flag
//! option the source's flags stay; with any, exactly the listed ones, except
//! that in a user namespace the source's ro/nosuid/nodev/noexec are locked by
//! the kernel and kept, and naming their opposite fails the create.

mod common;
use common::*;
use serde_json::json;
use std::path::PathBuf;
use std::process::Command;

/// A tmpfs whose mount is ro,nosuid,noexec,nosymfollow (or `flags`);
/// unmounted on drop.
struct Source(PathBuf);

impl Source {
    fn new(env: &Env) -> Self {
        Self::with(env, "ro,nosuid,noexec,nosymfollow")
    }

    fn with(env: &Env, flags: &str) -> Self {
        let d = env.dir.path().join("flagged");
        std::fs::create_dir(&d).unwrap();
        let ok = |args: &[&str]| {
            let st = Command::new("mount").args(args).status().unwrap();
            assert!(st.success(), "mount {args:?}");
        };
        ok(&["-t", "tmpfs", "tmpfs", d.to_str().unwrap()]);
        let s = Source(d);
        std::fs::write(s.0.join("file"), "x").unwrap();
        ok(&[
            "-o",
            &format!("remount,bind,{flags}"),
            s.0.to_str().unwrap(),
        ]);
        s
    }
}

impl Drop for Source {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// The container's view of /mnt's flags, bound from `src` with `options`.
fn flags(env: &Env, src: &Source, name: &str, options: &[&str]) -> std::process::Output {
    let s = src.0.to_str().unwrap().to_string();
    env.edit(|c| {
        let m = c["mounts"].as_array_mut().unwrap();
        m.retain(|m| m["destination"] != "/mnt");
        m.push(json!({"destination": "/mnt", "type": "bind", "source": s, "options": options}));
    });
    env.args(&["sh", "-c", "grep ' /mnt ' /proc/self/mounts"]);
    let id = env.id(name);
    let out = env.run(&id);
    env.assert_gone(&id);
    out
}

fn has(line: &str, flag: &str) -> bool {
    line.split_whitespace()
        .nth(3)
        .is_some_and(|o| o.split(',').any(|f| f == flag))
}

#[test]
fn bind_flags_without_a_user_namespace() {
    let env = Env::new();
    env.annotate("run.ward.userns", "host");
    let src = Source::new(&env);
    let keep = stdout(&flags(&env, &src, "bf-keep", &["bind"]));
    for f in ["ro", "nosuid", "noexec", "nosymfollow"] {
        assert!(has(&keep, f), "{f}: {keep}");
    }
    let dev = stdout(&flags(&env, &src, "bf-dev", &["bind", "dev"]));
    assert!(has(&dev, "rw"), "{dev}");
    for f in ["ro", "nosuid", "noexec", "nosymfollow"] {
        assert!(!has(&dev, f), "{f}: {dev}");
    }
    let ro = stdout(&flags(&env, &src, "bf-ro", &["bind", "ro", "nodev"]));
    assert!(has(&ro, "ro") && has(&ro, "nodev"), "{ro}");
    assert!(!has(&ro, "noexec") && !has(&ro, "nosuid"), "{ro}");
}

#[test]
fn bind_flags_in_wards_user_namespace_keep_the_locked_ones() {
    let env = Env::new();
    let src = Source::new(&env);
    let dev = stdout(&flags(&env, &src, "bf-udev", &["bind", "dev"]));
    for f in ["ro", "nosuid", "noexec"] {
        assert!(has(&dev, f), "locked {f} kept: {dev}");
    }
    assert!(!has(&dev, "nosymfollow"), "not lockable: {dev}");
    let out = flags(&env, &src, "bf-urw", &["bind", "rw"]);
    assert!(
        !out.status.success(),
        "rw over a locked ro: {}",
        stdout(&out)
    );
    assert!(
        stderr(&out).contains("Operation not permitted") || stderr(&out).contains("EPERM"),
        "{}",
        stderr(&out)
    );
}

/// atime options replace the source's atime settings (runc): `relatime` over
/// a noatime source clears noatime, `nodiratime` alone gives
/// relatime,nodiratime; none named keeps the source's.
#[test]
fn bind_atime_options() {
    let env = Env::new();
    env.annotate("run.ward.userns", "host");
    let src = Source::with(&env, "noatime");
    let keep = stdout(&flags(&env, &src, "bf-akeep", &["bind", "nodev"]));
    assert!(has(&keep, "noatime"), "{keep}");
    let rel = stdout(&flags(&env, &src, "bf-arel", &["bind", "relatime"]));
    assert!(has(&rel, "relatime") && !has(&rel, "noatime"), "{rel}");
    let nodir = stdout(&flags(&env, &src, "bf-anodir", &["bind", "nodiratime"]));
    assert!(
        has(&nodir, "nodiratime") && has(&nodir, "relatime") && !has(&nodir, "noatime"),
        "{nodir}"
    );
}

/// In a user namespace the source's atime settings are locked: asking for
/// other ones fails the create, as under runc; naming none keeps them.
#[test]
fn bind_atime_is_locked_in_a_user_namespace() {
    let env = Env::new();
    let src = Source::with(&env, "noatime");
    let keep = stdout(&flags(&env, &src, "bf-ulkeep", &["bind", "nodev"]));
    assert!(has(&keep, "noatime"), "{keep}");
    let out = flags(&env, &src, "bf-ulstrict", &["bind", "strictatime"]);
    assert!(!out.status.success(), "{}", stdout(&out));
}
