//! `cargo xtask setup-check`: proves the install path from nothing (STYLE habit 17).
//!
//! A machine that already has `bpf-linker` and `cargo-fuzz` never runs the steps that build
//! them, so a green test run says nothing about a fresh machine. This command makes a
//! scratch environment where those tools are absent — a temporary `HOME` and `CARGO_HOME`
//! whose `bin` holds only rustup's proxies, the real `RUSTUP_HOME` (the toolchains
//! themselves are the machine's), a `PATH` without any folder holding cargo, rustup,
//! bpf-linker or cargo-fuzz — and runs there what a new user runs: `cargo xtask setup`, then
//! a build of `vrrpd` (with its embedded XDP program) that must use the `bpf-linker` the
//! setup produced. Any broken install step fails it. The scratch folder is removed
//! afterwards, on failure too.
use std::{
    ffi::OsString,
    fs,
    os::unix::fs::symlink,
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{Context as _, bail};

use crate::run::{output, status, step};

/// rustup's proxies: rustup dispatches on the name it was started as.
const PROXIES: [&str; 8] = [
    "cargo",
    "rustc",
    "rustup",
    "rustdoc",
    "rustfmt",
    "cargo-fmt",
    "cargo-clippy",
    "clippy-driver",
];

/// Tools the setup installs, and folders holding them must not be on the scratch PATH.
const INSTALLED: [&str; 2] = ["bpf-linker", "cargo-fuzz"];

/// Removes the scratch folder when dropped, so a failed check leaves nothing behind.
struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

pub fn run(root: &Path) -> anyhow::Result<()> {
    let rustup = find_on_path("rustup").context("rustup is not on PATH")?;
    let rustup = fs::canonicalize(&rustup).unwrap_or(rustup);
    let rustup_home = match std::env::var_os("RUSTUP_HOME") {
        Some(home) => PathBuf::from(home),
        None => PathBuf::from(std::env::var_os("HOME").context("HOME is not set")?).join(".rustup"),
    };

    let scratch = Scratch(root.join("target/setup-check"));
    let _ = fs::remove_dir_all(&scratch.0);
    let home = scratch.0.join("home");
    let cargo_home = scratch.0.join("cargo");
    let bin = cargo_home.join("bin");
    fs::create_dir_all(&home)?;
    fs::create_dir_all(&bin)?;
    for proxy in PROXIES {
        symlink(&rustup, bin.join(proxy))
            .with_context(|| format!("linking the rustup proxy {proxy}"))?;
    }
    let path = scratch_path(&bin)?;

    let scratch_env = |command: &mut Command| {
        // Nothing of the running cargo may leak in: its binary, home, target folder or
        // toolchain choice would let the check use what the machine already has.
        for (name, _) in std::env::vars_os() {
            let name = name.to_string_lossy();
            if name.starts_with("CARGO") || name.starts_with("RUSTC") || name == "RUSTUP_TOOLCHAIN"
            {
                command.env_remove(name.as_ref());
            }
        }
        command
            .current_dir(root)
            .env("HOME", &home)
            .env("CARGO_HOME", &cargo_home)
            .env("RUSTUP_HOME", &rustup_home)
            .env("PATH", &path)
            .env("CARGO_TARGET_DIR", scratch.0.join("target"))
            .env("CARGO_TERM_COLOR", "never");
    };

    // Where the scratch PATH finds `tool`, if anywhere.
    let which = |tool: &str| {
        let mut command = Command::new("sh");
        command.args(["-c", &format!("command -v {tool}")]);
        scratch_env(&mut command);
        output(&mut command)
    };

    step(&format!(
        "[setup-check 1/3] scratch environment in {}: HOME, CARGO_HOME with rustup's proxies only",
        scratch.0.display()
    ));
    for tool in INSTALLED {
        if let Some(found) = which(tool) {
            bail!("{tool} is still reachable in the scratch environment at {found}");
        }
    }

    step("[setup-check 2/3] cargo xtask setup, from nothing");
    let mut setup = Command::new(bin.join("cargo"));
    setup.args(["xtask", "setup"]);
    scratch_env(&mut setup);
    status(&mut setup).context("`cargo xtask setup` failed in the scratch environment")?;

    step("[setup-check 3/3] building vrrpd with the bpf-linker the setup produced");
    let linker = which("bpf-linker").context("the setup left no bpf-linker on PATH")?;
    if Path::new(&linker) != bin.join("bpf-linker") {
        bail!(
            "the scratch PATH finds bpf-linker at {linker}, not the one the setup built in {}",
            bin.display()
        );
    }
    let mut build = Command::new(bin.join("cargo"));
    build.args(["build", "--package", "vrrp-userspace", "--bin", "vrrpd"]);
    scratch_env(&mut build);
    status(&mut build).context("building vrrpd in the scratch environment")?;
    let vrrpd = scratch.0.join("target/debug/vrrpd");
    status(Command::new(&vrrpd).arg("--version"))
        .context("the vrrpd built in the scratch environment does not run")?;

    step("setup-check passed: a fresh machine installs and builds vrrpd");
    Ok(())
}

/// The scratch `PATH`: the scratch `bin` first, then every folder of the current `PATH`
/// that holds none of rustup's proxies nor the tools the setup installs.
fn scratch_path(bin: &Path) -> anyhow::Result<OsString> {
    let current = std::env::var_os("PATH").unwrap_or_default();
    let kept = std::env::split_paths(&current).filter(|dir| {
        !PROXIES
            .iter()
            .chain(INSTALLED.iter())
            .any(|tool| dir.join(tool).exists())
    });
    std::env::join_paths(std::iter::once(bin.to_path_buf()).chain(kept))
        .context("building the scratch PATH")
}

fn find_on_path(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|candidate| candidate.is_file())
}
