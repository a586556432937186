//! Behaviours found by tracing runc's bats suite under ward's defaults
//! (issue #15): each failure there is either a row of the README's
//! deviations table or a bug fixed here. These run with ward's defaults (its
//! user namespace, read-only root with scratch /tmp and /run, ...).

mod common;
use common::*;
use serde_json::json;

/// The process sees its environment in the spec's order, each name where its
/// last occurrence is, with ward's HOME last, as runc gives it (libcontainer
/// set it from a HashMap: runc's `env var with new-line is honored` failed
/// one run in three). Several runs, since a random order can match by luck.
#[test]
fn environment_keeps_the_spec_order() {
    let env = Env::new();
    env.edit(|c| {
        c["process"]["env"] = json!([
            "NEW_LINE_ENV=\n",
            "PATH=/usr/bin:/bin",
            "ZED=1",
            "ALPHA=2",
            "MID=3",
            "ZED=4"
        ])
    });
    env.args(&["env"]);
    for n in 0..4 {
        let id = env.id(&format!("envorder{n}"));
        let out = env.run(&id);
        assert!(out.status.success(), "{}", stderr(&out));
        assert_eq!(
            stdout(&out),
            "NEW_LINE_ENV=\n\nPATH=/usr/bin:/bin\nALPHA=2\nMID=3\nZED=4\nHOME=/root\n"
        );
        env.assert_gone(&id);
    }
    // An exec'd process too, with `--env` after the container's.
    env.args(&["sleep", "1000"]);
    let id = env.id("envorder-exec");
    env.start(&id);
    let out = env.ward(&["exec", "--env", "BETA=5", "--env", "ALPHA=6", &id, "env"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let names: Vec<String> = stdout(&out)
        .lines()
        .filter_map(|l| l.split_once('=').map(|(k, _)| k.to_string()))
        .collect();
    assert_eq!(
        names,
        [
            "NEW_LINE_ENV",
            "PATH",
            "MID",
            "ZED",
            "BETA",
            "ALPHA",
            "HOME"
        ],
        "{}",
        stdout(&out)
    );
    env.ok(&["delete", "--force", &id]);
    env.assert_gone(&id);
}
