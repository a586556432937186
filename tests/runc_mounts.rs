//! Mount and process-setup behaviours runc's integration tests check
//! (mounts.bats, run.bats, umask.bats, tty.bats), run under ward's defaults:
//! each is what the spec asks for, not one of ward's deviations.

mod common;
use common::*;
use serde_json::json;
use std::os::unix::fs::PermissionsExt;

fn add_mount(env: &Env, m: serde_json::Value) {
    env.edit(|c| c["mounts"].as_array_mut().unwrap().push(m));
}

/// A tmpfs without `mode=` over an existing directory takes that directory's
/// mode; an explicit `mode=` wins; over a directory made for it, tmpfs's own
/// 1777. The image's directory itself is not changed.
#[test]
fn tmpfs_mode_is_inherited_as_in_runc() {
    let env = Env::new();
    let dir = env.bundle.join("rootfs/tmpfs");
    std::fs::create_dir(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o710)).unwrap();
    add_mount(
        &env,
        json!({"type": "tmpfs", "source": "tmpfs", "destination": "/tmpfs", "options": ["rw", "nodev", "nosuid"]}),
    );
    add_mount(
        &env,
        json!({"type": "tmpfs", "source": "tmpfs", "destination": "/explicit", "options": ["mode=1500"]}),
    );
    add_mount(
        &env,
        json!({"type": "tmpfs", "source": "tmpfs", "destination": "/non-existent/foo", "options": ["rw"]}),
    );
    let out = run_sh(
        &env,
        "tmpfs-mode",
        "stat -c %a /tmpfs /explicit /non-existent/foo; grep ' /tmpfs ' /proc/self/mounts",
    );
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(&lines[..3], &["710", "1500", "1777"], "{out}");
    assert!(lines[3].contains("mode=710"), "{out}");
    let mode = std::fs::metadata(&dir).unwrap().permissions().mode() & 0o7777;
    assert_eq!(mode, 0o710);
}

/// `tmpcopyup`: the tmpfs starts with a copy of the image's directory (modes,
/// symlinks kept as links), and writes to it do not reach the image.
#[test]
fn tmpcopyup_copies_the_image_directory() {
    let env = Env::new();
    let d = env.bundle.join("rootfs/dir1");
    std::fs::create_dir_all(d.join("dir2")).unwrap();
    std::fs::set_permissions(d.join("dir2"), std::fs::Permissions::from_mode(0o777)).unwrap();
    std::fs::write(d.join("dir2/file"), "content").unwrap();
    std::os::unix::fs::symlink("/etc/passwd", d.join("link")).unwrap();
    add_mount(
        &env,
        json!({"type": "tmpfs", "source": "tmpfs", "destination": "/dir1", "options": ["tmpcopyup"]}),
    );
    let out = run_sh(
        &env,
        "copyup",
        "stat -c %a /dir1/dir2; cat /dir1/dir2/file; echo; readlink /dir1/link; \
         echo new > /dir1/dir2/new; grep ' /dir1 ' /proc/self/mounts | cut -d' ' -f3",
    );
    assert_eq!(out, "777\ncontent\n/etc/passwd\ntmpfs\n");
    assert!(!d.join("dir2/new").exists(), "the write reached the image");
}

/// A `/dev` mount with `ro` is read-only once its devices are made.
#[test]
fn read_only_dev_mount() {
    let env = Env::new();
    env.edit(|c| {
        for m in c["mounts"].as_array_mut().unwrap() {
            if m["destination"] == "/dev" {
                m["options"].as_array_mut().unwrap().push("ro".into());
            }
        }
    });
    let out = run_sh(
        &env,
        "ro-dev",
        "grep '^tmpfs /dev ' /proc/mounts; ls /dev/null >/dev/null && echo devices-ok",
    );
    assert!(out.starts_with("tmpfs /dev tmpfs ro,"), "{out}");
    assert!(out.contains("devices-ok"), "{out}");
}

/// `process.user.umask` applies to the init and to processes exec'd later.
#[test]
fn umask_applies_to_init_and_exec() {
    let env = Env::new();
    env.edit(|c| c["process"]["user"]["umask"] = 63.into());
    let id = env.id("umask");
    env.start(&id);
    let out = env.exec(
        &id,
        &["sh", "-c", "grep Umask /proc/1/status /proc/self/status"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let o = stdout(&out);
    assert_eq!(o.matches("0077").count(), 2, "{o}");
    env.ok(&["delete", "--force", &id]);
    env.assert_gone(&id);
}

/// A foreground `run` with `terminal: true`: the program's "\n" arrives as
/// "\n" (runc clears ONLCR on the pty), so output compares as printed.
#[test]
fn foreground_terminal_output_keeps_newlines() {
    let env = Env::new();
    env.edit(|c| c["process"]["terminal"] = true.into());
    env.args(&["sh", "-c", "echo one; echo two"]);
    let id = env.id("tty-nl");
    let out = env.run(&id);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "one\ntwo\n");
}
