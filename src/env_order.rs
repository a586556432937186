//! The order of a container process's environment, as runc gives it.
//!
//! libcontainer keeps the environment in a HashMap, so the process saw its
//! variables in a random order (runc's `env var with new-line is honored`
//! failed one run in three). runc keeps the spec's order, each name at the
//! place of its last occurrence (the value that wins), and appends what the
//! runtime adds itself (HOME).

use std::ffi::OsString;

/// `current` (the environment libcontainer set up: the values in force)
/// reordered: the names `spec_env` lists, in runc's order, then the others
/// in the order they came.
pub fn runc_order(
    spec_env: &[String],
    current: Vec<(OsString, OsString)>,
) -> Vec<(OsString, OsString)> {
    // Names in the order of their last occurrence in the spec.
    let mut names: Vec<&str> = Vec::new();
    let mut seen: Vec<&str> = Vec::new();
    for kv in spec_env.iter().rev() {
        let (name, value) = kv.split_once('=').unwrap_or((kv.as_str(), ""));
        if seen.contains(&name) {
            continue;
        }
        seen.push(name);
        // An empty HOME is replaced by the runtime's, which runc appends.
        if !(name == "HOME" && value.is_empty()) {
            names.push(name);
        }
    }
    names.reverse();
    let mut rest = current;
    let mut out = Vec::with_capacity(rest.len());
    for name in names {
        if let Some(i) = rest.iter().position(|(k, _)| k == name) {
            out.push(rest.remove(i));
        }
    }
    out.extend(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kv(k: &str, v: &str) -> (OsString, OsString) {
        (k.into(), v.into())
    }

    #[test]
    fn spec_order_then_the_runtimes_additions() {
        let spec: Vec<String> = ["NEW_LINE_ENV=\n", "PATH=/bin", "A=1", "B=2", "A=3"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let current = vec![
            kv("HOME", "/root"),
            kv("A", "3"),
            kv("PATH", "/bin"),
            kv("B", "2"),
            kv("NEW_LINE_ENV", "\n"),
        ];
        let got = runc_order(&spec, current);
        let names: Vec<_> = got.iter().map(|(k, _)| k.to_str().unwrap()).collect();
        // A sits where its last occurrence is, with the value that won.
        assert_eq!(names, ["NEW_LINE_ENV", "PATH", "B", "A", "HOME"]);
        assert_eq!(got[3].1, "3");
    }

    #[test]
    fn missing_names_skipped_and_an_empty_home_goes_last() {
        let spec = vec!["GONE=1".to_string(), "HOME=".to_string(), "X=1".to_string()];
        let got = runc_order(&spec, vec![kv("HOME", "/root"), kv("X", "1")]);
        let names: Vec<_> = got.iter().map(|(k, _)| k.to_str().unwrap()).collect();
        // An empty HOME in the spec: the runtime's HOME comes last, as in runc.
        assert_eq!(names, ["X", "HOME"]);
    }
}
