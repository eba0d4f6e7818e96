//! `vrrpd check` agrees with `keepalived -t` (2.2.7) on every keepalived-syntax fixture:
//! where keepalived reports something (its exit status is not 0), vrrpd reports an error or
//! a warning; where keepalived is silent, so is vrrpd (but for its own notes about features
//! it does not act on yet, whose messages name vrrpd). `keepalived -t` has one exit status
//! for warnings and errors alike (5), so this is the comparison it allows; how vrrpd is
//! stricter where keepalived works around a mistake is listed in docs/configuration.md
//! ("Where vrrpd check and keepalived -t differ").
//!
//! keepalived runs in configuration-test mode only (`-t`, no fork, console log, no
//! syslog): it reads the file and exits, touching nothing on the host. Both sides look at
//! the same interfaces (`vrrpd check` warns about missing ones, as keepalived does).
#![allow(
    clippy::unwrap_used,
    reason = "test helpers: a failed unwrap is a failed test"
)]
use std::{
    fs,
    path::{Path, PathBuf},
    process::Command,
};

use vrrpd::config;

/// Fixtures on which the two disagree, with the reason (each also in docs/configuration.md).
const DIFFERENCES: &[(&str, &str)] = &[];

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/config")
}

/// Every `.conf` fixture (not the files only included by others).
fn conf_fixtures() -> Vec<PathBuf> {
    let mut out = Vec::new();
    for dir in ["broken", "defaults", "seed", "valid"] {
        for entry in fs::read_dir(fixtures().join(dir)).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "conf") {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

/// Whether `keepalived -t` reports anything about `path`, and what it printed.
fn keepalived_flags(path: &Path) -> (bool, String) {
    let output = Command::new("keepalived")
        .args(["-t", "-n", "-l", "-G", "-f"])
        .arg(path)
        .output()
        .unwrap_or_else(|e| {
            panic!("keepalived 2.2.7 is needed for this test ({e}): run `cargo xtask setup`")
        });
    let text = String::from_utf8_lossy(&output.stdout).into_owned()
        + &String::from_utf8_lossy(&output.stderr);
    (!output.status.success(), text)
}

/// Whether `vrrpd check` reports anything about `path` (vrrpd's own notes aside).
fn vrrpd_flags(path: &Path) -> (bool, String) {
    match config::load(path, None) {
        Err(error) => (true, error.render()),
        Ok(mut loaded) => {
            let system = config::system_warnings(&loaded);
            loaded.warnings.extend(system);
            let shared: Vec<String> = loaded
                .warnings
                .iter()
                .filter(|w| !w.message.contains("vrrpd"))
                .map(|w| w.render(&loaded.sources))
                .collect();
            (!shared.is_empty(), shared.concat())
        }
    }
}

#[test]
fn vrrpd_check_agrees_with_keepalived_t() {
    let version = Command::new("keepalived")
        .arg("--version")
        .output()
        .unwrap_or_else(|e| {
            panic!("keepalived 2.2.7 is needed for this test ({e}): run `cargo xtask setup`")
        });
    let banner = String::from_utf8_lossy(&version.stderr).into_owned()
        + &String::from_utf8_lossy(&version.stdout);
    assert!(
        banner.contains("v2.2.7"),
        "keepalived 2.2.7 is needed (found {banner}): run `cargo xtask setup`"
    );
    let mut disagreements = Vec::new();
    let mut compared = 0;
    for path in conf_fixtures() {
        let name = path.strip_prefix(fixtures()).unwrap().display().to_string();
        let (keepalived, said) = keepalived_flags(&path);
        let (vrrpd, reported) = vrrpd_flags(&path);
        let documented = DIFFERENCES.iter().any(|(f, _)| *f == name);
        if (keepalived != vrrpd) != documented {
            disagreements.push(format!(
                "{name}: keepalived -t {}, vrrpd check {}{}\n--- keepalived:\n{said}--- vrrpd:\n{reported}",
                if keepalived { "reports" } else { "is silent" },
                if vrrpd { "reports" } else { "is silent" },
                if documented { " (listed as a difference, but they agree)" } else { "" },
            ));
        }
        compared += 1;
    }
    assert!(
        disagreements.is_empty(),
        "{} of {compared} fixtures:\n{}",
        disagreements.len(),
        disagreements.join("\n")
    );
    assert!(compared >= 40, "only {compared} fixtures");
}
