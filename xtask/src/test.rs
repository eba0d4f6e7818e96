//! `cargo xtask test`: what CI runs.
use std::{path::Path, process::Command};

use anyhow::bail;

use crate::run::{cargo, output, status, step};

/// Fuzz targets, each run this many iterations after building (bounded, a few seconds).
const FUZZ_RUNS: &str = "-runs=20000";

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
        Command::new("cargo")
            .current_dir(root)
            .args(["+nightly", "clippy", "--package", "vrrp-ebpf", "--release"])
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
    status(
        Command::new("cargo")
            .current_dir(&fuzz)
            .args(["+nightly", "fuzz", "build"]),
    )?;
    let targets = output(
        Command::new("cargo")
            .current_dir(&fuzz)
            .args(["+nightly", "fuzz", "list"]),
    )
    .unwrap_or_default();
    if targets.is_empty() {
        bail!("`cargo fuzz list` found no fuzz targets");
    }
    for target in targets.lines() {
        status(
            Command::new("cargo")
                .current_dir(&fuzz)
                .args(["+nightly", "fuzz", "run", target, "--", FUZZ_RUNS]),
        )?;
    }
    step("all tests passed");
    Ok(())
}
