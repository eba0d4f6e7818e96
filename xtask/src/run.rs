//! Building and running vrrpd; the small process helpers every xtask command shares.
use std::{
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{Context as _, bail};

/// Runs `command`, streaming its output; fails with the command line if it fails.
pub fn status(command: &mut Command) -> anyhow::Result<()> {
    let status = command
        .status()
        .with_context(|| format!("could not start {command:?}"))?;
    if !status.success() {
        bail!("{command:?} failed ({status})");
    }
    Ok(())
}

/// Runs `command` quietly and returns its stdout, or `None` if it failed or does not exist.
pub fn output(command: &mut Command) -> Option<String> {
    let out = command.output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// A `cargo` command using the toolchain that runs xtask (stable).
pub fn cargo() -> Command {
    Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
}

/// The toolchain the XDP program, its clippy run and the fuzz targets need.
pub const NIGHTLY: &str = "nightly";

/// A program (`cargo`, `rustc`) of the rustup toolchain `toolchain`: `rustup run TOOLCHAIN
/// PROGRAM`. Never `$CARGO +toolchain`: `$CARGO` is the toolchain's own binary, and only
/// rustup's proxy understands `+toolchain`.
pub fn rustup_run(toolchain: &str, program: &str) -> Command {
    let mut command = Command::new("rustup");
    command.args(["run", toolchain, program]);
    command
}

/// A `cargo` command of the nightly toolchain.
pub fn nightly_cargo() -> Command {
    rustup_run(NIGHTLY, "cargo")
}

/// Prints a step header so long steps never look hung.
pub fn step(what: &str) {
    eprintln!("\x1b[1m==> {what}\x1b[0m");
}

/// Builds vrrpd in release mode; returns the binary's path.
pub fn build_release(root: &Path) -> anyhow::Result<PathBuf> {
    step("building vrrpd and its XDP program (release)");
    status(
        cargo()
            .current_dir(root)
            .args(["build", "--release", "--package", "vrrp-userspace"]),
    )?;
    Ok(root.join("target/release/vrrpd"))
}

/// Runs `vrrpd run ARGS` in the foreground and returns when it exits.
pub fn exec_vrrpd(vrrpd: &Path, args: &[String]) -> anyhow::Result<()> {
    step(&format!(
        "running {} run {}",
        vrrpd.display(),
        args.join(" ")
    ));
    let mut command = Command::new(vrrpd);
    command.arg("run").args(args);
    status(&mut command)
}
