//! Crash safety: ward SIGKILLed at chosen points of create, start, exec and
//! delete, and after a sweep of delays; `delete --force` must recover and the
//! host must hold nothing of the container afterwards.

mod common;
use common::*;
use std::process::Command;
use std::time::{Duration, Instant};

fn spawn(env: &Env, args: &[&str], pause_at: Option<&str>) -> std::process::Child {
    let mut c: Command = env.cmd(args);
    c.stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    if let Some(p) = pause_at {
        c.env("WARD_TEST_PAUSE_AT", p);
    }
    c.spawn().unwrap()
}

fn wait_stopped(pid: u32) -> bool {
    let t = Instant::now();
    while t.elapsed() < Duration::from_secs(10) {
        let st = proc_status(pid as i32, "State");
        if st.starts_with('T') {
            return true;
        }
        if st.is_empty() || st.starts_with('Z') {
            return false;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    false
}

fn recover_and_check(env: &Env, id: &str) {
    env.ok(&["delete", "--force", id]);
    env.ok(&["list"]);
    env.assert_gone(id);
}

#[test]
fn kill_at_each_step_then_recover() {
    let env = Env::new();
    let bundle = env.bundle.to_str().unwrap().to_string();
    for point in ["create:claimed", "create:prepared", "create:built"] {
        let id = env.id("crash");
        let mut child = spawn(&env, &["create", "--bundle", &bundle, &id], Some(point));
        assert!(wait_stopped(child.id()), "ward did not reach {point}");
        child.kill().unwrap();
        child.wait().unwrap();
        recover_and_check(&env, &id);
    }
    // start, exec and delete of a created/running container
    for point in ["start:loaded", "exec:prepared", "delete:loaded"] {
        let id = env.id("crash2");
        env.create(&id);
        if point != "start:loaded" {
            env.ok(&["start", &id]);
        }
        let args: Vec<&str> = match point {
            "start:loaded" => vec!["start", &id],
            "exec:prepared" => vec!["exec", &id, "true"],
            _ => vec!["delete", "--force", &id],
        };
        let mut child = spawn(&env, &args, Some(point));
        assert!(wait_stopped(child.id()), "ward did not reach {point}");
        child.kill().unwrap();
        child.wait().unwrap();
        recover_and_check(&env, &id);
    }
}

#[test]
fn kill_after_a_sweep_of_delays() {
    let env = Env::new();
    let bundle = env.bundle.to_str().unwrap().to_string();
    let steps: u64 = if std::env::var("WARD_LONG_TESTS").is_ok() {
        60
    } else {
        15
    };
    for i in 0..steps {
        let id = env.id("sweep");
        let mut child = spawn(&env, &["run", "-d", "--bundle", &bundle, &id], None);
        std::thread::sleep(Duration::from_micros(i * 1500));
        let _ = child.kill();
        child.wait().unwrap();
        recover_and_check(&env, &id);
    }
}
