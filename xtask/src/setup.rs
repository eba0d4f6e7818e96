//! `cargo xtask setup`: everything a fresh machine needs, idempotently.
//!
//! 1. nightly's `rust-src` (for `-Z build-std=core` on `bpfel-unknown-none`), from rustup,
//!    or from `../shared/toolchain` when rustup cannot reach its server;
//! 2. `bpf-linker` 0.13, built against the nightly toolchain's own libLLVM (a working one is
//!    reused, a broken one rebuilt);
//! 3. `cargo-fuzz`, to build the fuzz targets;
//! 4. as root on Debian: the packages the tests use. Elsewhere: the exact command to run.
//!
//! Each command installs only what it needs ([`Needs`]): building needs 1 and 2, the demo
//! adds iproute2, the test suite and the benchmarks need everything.
use std::{
    fs,
    os::unix::fs::symlink,
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{Context as _, bail};

use crate::run::{NIGHTLY, cargo, nightly_cargo, output, rustup_run, status, step};

const BPF_LINKER_VERSION: &str = "0.13.0";
const CARGO_FUZZ_VERSION: &str = "0.13.2";
/// Debian packages the tests and the benchmarks use.
const TEST_PACKAGES: [&str; 8] = [
    "keepalived",
    "tcpdump",
    "nftables",
    "tshark",
    "iproute2",
    "iputils-ping",
    "bpftool",
    "python3-scapy",
];
/// Debian packages the demo uses (`ip` for namespaces, veths and addresses).
const DEMO_PACKAGES: [&str; 1] = ["iproute2"];

/// What a command needs installed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Needs {
    /// Building vrrpd: nightly rust-src and bpf-linker.
    Build,
    /// The demo: what building needs, and iproute2.
    Demo,
    /// The test suite and the benchmarks: everything, cargo-fuzz and the test packages too.
    All,
}

pub fn run(root: &Path, needs: Needs) -> anyhow::Result<()> {
    let sysroot = nightly_sysroot()?;
    rust_src(root, &sysroot)?;
    bpf_linker(&sysroot)?;
    match needs {
        Needs::Build => step("[setup 3/4] cargo-fuzz: not needed for this command"),
        Needs::Demo => step("[setup 3/4] cargo-fuzz: not needed for the demo"),
        Needs::All => cargo_fuzz()?,
    }
    match needs {
        Needs::Build => step("[setup 4/4] Debian packages: none needed for this command"),
        Needs::Demo => debian_packages("setup 4/4", &DEMO_PACKAGES)?,
        Needs::All => debian_packages("setup 4/4", &TEST_PACKAGES)?,
    }
    step("setup complete");
    Ok(())
}

fn nightly_sysroot() -> anyhow::Result<PathBuf> {
    let sysroot = output(rustup_run(NIGHTLY, "rustc").args(["--print", "sysroot"])).context(
        "the nightly toolchain is missing; install it with `rustup toolchain install nightly`",
    )?;
    Ok(PathBuf::from(sysroot))
}

fn rust_src(root: &Path, sysroot: &Path) -> anyhow::Result<()> {
    let core = sysroot.join("lib/rustlib/src/rust/library/core/Cargo.toml");
    if core.exists() {
        step("[setup 1/4] nightly rust-src: present");
        return Ok(());
    }
    step("[setup 1/4] nightly rust-src: installing with rustup");
    let added = Command::new("rustup")
        .args(["component", "add", "rust-src", "--toolchain", NIGHTLY])
        .status()
        .is_ok_and(|s| s.success());
    if added && core.exists() {
        return Ok(());
    }
    let archive = root.join("../shared/toolchain/rust-src-nightly-1.97.0-2026-05-19.tar.xz");
    if !archive.exists() {
        bail!(
            "rustup could not install rust-src for nightly, and {} is absent",
            archive.display()
        );
    }
    step("[setup 1/4] rustup failed; unpacking rust-src from ../shared/toolchain");
    let dest = sysroot.join("lib/rustlib/src");
    fs::create_dir_all(&dest)?;
    status(
        Command::new("tar")
            .arg("-C")
            .arg(&dest)
            .arg("-xJf")
            .arg(&archive),
    )?;
    if !core.exists() {
        bail!("{} did not provide {}", archive.display(), core.display());
    }
    Ok(())
}

/// Where the libLLVM symlinks live. bpf-linker's rpath points here: it must stay put.
fn llvm_prefix() -> anyhow::Result<PathBuf> {
    let home = std::env::var_os("HOME").context("HOME is not set")?;
    Ok(PathBuf::from(home).join(".local/share/vrrpd/llvm"))
}

fn bpf_linker(sysroot: &Path) -> anyhow::Result<()> {
    let version = output(Command::new("bpf-linker").arg("--version"));
    if version
        .as_deref()
        .is_some_and(|v| v.contains(BPF_LINKER_VERSION))
    {
        step("[setup 2/4] bpf-linker: present and working");
        return Ok(());
    }
    let lib = sysroot.join("lib");
    let llvm = fs::read_dir(&lib)
        .with_context(|| format!("reading {}", lib.display()))?
        .filter_map(Result::ok)
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .find(|name| name.starts_with("libLLVM.so."))
        .with_context(|| format!("no libLLVM.so.* in {}", lib.display()))?;
    let prefix = llvm_prefix()?;
    let prefix_lib = prefix.join("lib");
    fs::create_dir_all(&prefix_lib)?;
    for name in ["libLLVM.so", llvm.as_str()] {
        let link = prefix_lib.join(name);
        let _ = fs::remove_file(&link);
        symlink(lib.join(&llvm), &link)
            .with_context(|| format!("linking {} to {}", link.display(), llvm))?;
    }
    step(&format!(
        "[setup 2/4] bpf-linker {BPF_LINKER_VERSION}: {} against nightly's {llvm} \
         (about 3 minutes on 2 cores; cargo prints each crate as it compiles)",
        if version.is_some() {
            "rebuilding"
        } else {
            "building"
        }
    ));
    status(
        nightly_cargo()
            .env("LLVM_PREFIX", &prefix)
            .args(["install", "bpf-linker", "--force", "--locked"])
            .args([
                "--version",
                BPF_LINKER_VERSION,
                "--no-default-features",
                "--features",
                "llvm-22",
            ]),
    )
    .context("building bpf-linker")?;
    if output(Command::new("bpf-linker").arg("--version")).is_none() {
        bail!(
            "bpf-linker was installed in {} but does not run from PATH; add that folder to PATH",
            cargo_bin()?.display()
        );
    }
    Ok(())
}

fn cargo_fuzz() -> anyhow::Result<()> {
    if output(cargo().args(["fuzz", "--version"])).is_some() {
        step("[setup 3/4] cargo-fuzz: present");
        return Ok(());
    }
    step("[setup 3/4] cargo-fuzz: installing from crates.io (about 1 minute)");
    status(cargo().args([
        "install",
        "cargo-fuzz",
        "--locked",
        "--version",
        CARGO_FUZZ_VERSION,
    ]))
}

/// Where `cargo install` puts binaries: `$CARGO_HOME/bin`, by default `~/.cargo/bin`.
fn cargo_bin() -> anyhow::Result<PathBuf> {
    let home = match std::env::var_os("CARGO_HOME") {
        Some(home) => PathBuf::from(home),
        None => PathBuf::from(std::env::var_os("HOME").context("HOME is not set")?).join(".cargo"),
    };
    Ok(home.join("bin"))
}

/// Installs the Debian packages among `packages` that are missing (as root), or stops with
/// the command to run; `label` names the step.
pub fn debian_packages(label: &str, packages: &[&str]) -> anyhow::Result<()> {
    let missing: Vec<&str> = packages
        .iter()
        .copied()
        .filter(|p| {
            output(Command::new("dpkg-query").args(["-W", "-f=${Status}", p]))
                .is_none_or(|s| !s.contains("install ok installed"))
        })
        .collect();
    if missing.is_empty() {
        step(&format!("[{label}] Debian packages: present"));
        return Ok(());
    }
    let install = format!("apt-get install -y {}", missing.join(" "));
    if output(Command::new("id").arg("-u")).as_deref() != Some("0") {
        bail!("missing Debian packages; run: sudo apt-get update && sudo {install}");
    }
    step(&format!(
        "[{label}] Debian packages: installing {}",
        missing.join(" ")
    ));
    status(Command::new("apt-get").arg("update").arg("-q"))?;
    status(
        Command::new("apt-get")
            .env("DEBIAN_FRONTEND", "noninteractive")
            .args(["install", "-y", "-q", "--no-install-recommends"])
            .args(&missing),
    )
}
