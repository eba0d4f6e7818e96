//! `cargo xtask test`: what CI runs.
use std::{path::Path, process::Command};

use anyhow::bail;

use crate::run::{cargo, nightly_cargo, output, status, step};

/// Fuzz targets, each run this many iterations after building (bounded, seconds each).
const FUZZ_RUNS: &str = "-runs=20000";

/// Each fuzz target with the folders (from the repository root) that seed its corpus, so
/// the bounded run starts from real input instead of random bytes.
const FUZZ_TARGETS: [(&str, &[&str]); 5] = [
    ("frame", &["testdata/vectors"]),
    ("advert", &["testdata/vectors"]),
    ("pcap", &["testdata/vectors"]),
    (
        "keepalived_conf",
        &[
            "vrrp-userspace/tests/config/seed",
            "vrrp-userspace/tests/config/broken",
            "vrrp-userspace/tests/config/valid/include.d",
            // Inputs the fuzzer once failed on, kept as regressions.
            "fuzz/seeds/keepalived_conf",
        ],
    ),
    (
        "yaml_conf",
        &["examples", "vrrp-userspace/tests/config/broken"],
    ),
];

pub fn run(root: &Path) -> anyhow::Result<()> {
    if output(Command::new("id").arg("-u")).as_deref() != Some("0") {
        bail!(
            "the test suite includes privileged tests (network namespaces, XDP attach); \
             run it as root: sudo -E cargo xtask test"
        );
    }
    step("[test 1/5] rustfmt");
    status(cargo().current_dir(root).args(["fmt", "--all", "--check"]))?;

    step("[test 2/5] clippy (host crates)");
    status(
        cargo()
            .current_dir(root)
            .args(["clippy", "--all-targets", "--", "-D", "warnings"]),
    )?;

    step("[test 3/5] clippy (XDP program, bpfel-unknown-none)");
    status(
        nightly_cargo()
            .current_dir(root)
            .args(["clippy", "--package", "vrrp-ebpf", "--release"])
            .args([
                "--target",
                "bpfel-unknown-none",
                "-Z",
                "build-std=core",
                "--",
                "-D",
                "warnings",
            ]),
    )?;

    step("[test 4/5] unit, codec and privileged integration tests");
    status(
        cargo()
            .current_dir(root)
            .args(["test", "--workspace", "--exclude", "vrrp-ebpf"]),
    )?;

    step("[test 5/5] fuzz targets: build, then a bounded run of each");
    let fuzz = root.join("fuzz");
    status(nightly_cargo().current_dir(&fuzz).args(["fuzz", "build"]))?;
    let listed =
        output(nightly_cargo().current_dir(&fuzz).args(["fuzz", "list"])).unwrap_or_default();
    let mut listed: Vec<&str> = listed.lines().collect();
    let mut known: Vec<&str> = FUZZ_TARGETS.iter().map(|(t, _)| *t).collect();
    listed.sort_unstable();
    known.sort_unstable();
    if listed != known {
        bail!(
            "fuzz targets {listed:?} differ from the ones xtask runs {known:?}: update FUZZ_TARGETS"
        );
    }
    for (target, seeds) in FUZZ_TARGETS {
        let corpus = fuzz.join("corpus").join(target);
        std::fs::create_dir_all(&corpus)?;
        status(
            nightly_cargo()
                .current_dir(&fuzz)
                .args(["fuzz", "run", target])
                .arg(&corpus)
                .args(seeds.iter().map(|s| root.join(s)))
                .args(["--", FUZZ_RUNS]),
        )?;
    }
    step("all tests passed");
    Ok(())
}
