//! `cargo xtask deb`: the Debian package, `target/debian/vrrpd_VERSION_ARCH.deb`, built with
//! `dpkg-deb` from a staged tree (no packaging tool to install: the package is four files
//! and three maintainer scripts):
//!
//! - `/usr/sbin/vrrpd` (release build, stripped);
//! - `/lib/systemd/system/vrrpd.service` (`contrib/vrrpd.service`);
//! - `/etc/vrrpd/vrrpd.yaml` (`contrib/vrrpd.yaml`, a conffile: kept on upgrade and remove);
//! - `/usr/share/doc/vrrpd/` (README and the docs).
//!
//! The service is not enabled on install: its configuration must be written first.
use std::{
    fs,
    os::unix::fs::PermissionsExt as _,
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{Context as _, bail};

use crate::run::{build_release, output, status, step};

/// Builds the package; returns its path.
pub fn run(root: &Path) -> anyhow::Result<PathBuf> {
    let vrrpd = build_release(root)?;
    let version = workspace_version(root)?;
    let arch = output(Command::new("dpkg").arg("--print-architecture"))
        .context("dpkg --print-architecture failed: building the package needs dpkg (Debian)")?;
    let out = root.join("target/debian");
    let stage = out.join(format!("vrrpd_{version}_{arch}"));
    if stage.exists() {
        fs::remove_dir_all(&stage)?;
    }
    step(&format!("staging the package in {}", stage.display()));
    let sbin = stage.join("usr/sbin/vrrpd");
    copy(&vrrpd, &sbin, 0o755)?;
    status(Command::new("strip").arg("--strip-unneeded").arg(&sbin))?;
    copy(
        &root.join("contrib/vrrpd.service"),
        &stage.join("lib/systemd/system/vrrpd.service"),
        0o644,
    )?;
    copy(
        &root.join("contrib/vrrpd.yaml"),
        &stage.join("etc/vrrpd/vrrpd.yaml"),
        0o640,
    )?;
    let doc = stage.join("usr/share/doc/vrrpd");
    copy(&root.join("README.md"), &doc.join("README.md"), 0o644)?;
    for page in fs::read_dir(root.join("docs"))? {
        let page = page?.path();
        if page.extension().is_some_and(|e| e == "md") {
            copy(
                &page,
                &doc.join(page.file_name().unwrap_or_default()),
                0o644,
            )?;
        }
    }
    let debian = stage.join("DEBIAN");
    write(
        &debian.join("control"),
        &control(
            &version,
            &arch,
            &glibc_needed(&sbin)?,
            installed_kib(&stage)?,
        ),
        0o644,
    )?;
    write(&debian.join("conffiles"), "/etc/vrrpd/vrrpd.yaml\n", 0o644)?;
    write(&debian.join("postinst"), POSTINST, 0o755)?;
    write(&debian.join("prerm"), PRERM, 0o755)?;
    write(&debian.join("postrm"), POSTRM, 0o755)?;
    let deb = out.join(format!("vrrpd_{version}_{arch}.deb"));
    step(&format!("building {}", deb.display()));
    status(
        Command::new("dpkg-deb")
            .args(["--root-owner-group", "--build"])
            .arg(&stage)
            .arg(&deb),
    )?;
    println!("{}", deb.display());
    Ok(deb)
}

fn control(version: &str, arch: &str, glibc: &str, kib: u64) -> String {
    format!(
        "Package: vrrpd
Version: {version}
Architecture: {arch}
Maintainer: vrrpd developers <vrrpd@localhost>
Installed-Size: {kib}
Depends: libc6 (>= {glibc}), libgcc-s1
Suggests: keepalived
Section: net
Priority: optional
Description: VRRP daemon with an XDP fast path, compatible with keepalived
 vrrpd runs VRRP (v2 and v3, PASS and IPSEC-AH) with keepalived's failover semantics
 and wire format. An XDP program on each VRRP interface validates adverts at line rate
 and passes only state-changing events to the daemon, so advert floods leave it idle.
 It reads keepalived.conf as well as its own YAML.
"
    )
}

const POSTINST: &str = "#!/bin/sh
set -e
if [ \"$1\" = configure ] && [ -d /run/systemd/system ]; then
    systemctl daemon-reload >/dev/null || true
fi
exit 0
";

const PRERM: &str = "#!/bin/sh
set -e
if [ -d /run/systemd/system ]; then
    systemctl stop vrrpd.service >/dev/null 2>&1 || true
fi
exit 0
";

const POSTRM: &str = "#!/bin/sh
set -e
if [ -d /run/systemd/system ]; then
    systemctl daemon-reload >/dev/null || true
fi
if [ \"$1\" = purge ]; then
    rmdir /etc/vrrpd 2>/dev/null || true
fi
exit 0
";

/// The workspace's `version = "..."` (Cargo.toml, `[workspace.package]`).
fn workspace_version(root: &Path) -> anyhow::Result<String> {
    let manifest = fs::read_to_string(root.join("Cargo.toml"))?;
    manifest
        .lines()
        .find_map(|l| {
            let v = l.trim().strip_prefix("version")?.trim().strip_prefix('=')?;
            Some(v.trim().trim_matches('"').to_owned())
        })
        .context("no version in the workspace's Cargo.toml")
}

/// The newest `GLIBC_x.y` symbol version the binary uses: the `libc6` it needs.
fn glibc_needed(binary: &Path) -> anyhow::Result<String> {
    let symbols = output(Command::new("objdump").arg("-T").arg(binary))
        .context("objdump -T failed (Debian package binutils)")?;
    let mut versions: Vec<Vec<u32>> = symbols
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '.'))
        .filter_map(|w| w.strip_prefix("GLIBC_"))
        .filter_map(|v| v.split('.').map(|n| n.parse().ok()).collect())
        .collect();
    versions.sort();
    let Some(newest) = versions.last() else {
        bail!("{} uses no versioned glibc symbol", binary.display());
    };
    Ok(newest
        .iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join("."))
}

/// The staged files' size in KiB (the control file's `Installed-Size`).
fn installed_kib(dir: &Path) -> anyhow::Result<u64> {
    let mut bytes = 0;
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let meta = entry.metadata()?;
        bytes += if meta.is_dir() {
            installed_kib(&entry.path())? * 1024
        } else {
            meta.len()
        };
    }
    Ok(bytes.div_ceil(1024))
}

fn copy(from: &Path, to: &Path, mode: u32) -> anyhow::Result<()> {
    if let Some(parent) = to.parent() {
        fs::create_dir_all(parent)?;
    }
    fs::copy(from, to)
        .with_context(|| format!("copying {} to {}", from.display(), to.display()))?;
    fs::set_permissions(to, fs::Permissions::from_mode(mode))?;
    Ok(())
}

fn write(to: &Path, contents: &str, mode: u32) -> anyhow::Result<()> {
    if let Some(parent) = to.parent() {
        fs::create_dir_all(parent)?;
    }
    fs::write(to, contents)?;
    fs::set_permissions(to, fs::Permissions::from_mode(mode))?;
    Ok(())
}
