//! `cargo xtask bench ...`: builds the benchmark binaries of the `tests` crate (release),
//! runs them as root, and puts each one's section into BENCHMARKS.md, leaving the other
//! sections as they are.
use std::{
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::Context as _;

use crate::run::{build_release, cargo, status, step};

/// What `cargo xtask bench` measures.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Bench {
    /// The XDP program per packet class (BPF_PROG_TEST_RUN) against a bare XDP_PASS
    /// program, and its HMAC against native Rust.
    Xdp,
    /// vrrpd against keepalived 2.2.7 at 1 to 1,000 instances: CPU and memory at rest,
    /// start-up, convergence, failover (stop and kill -9) in namespaces; the XDP cost per
    /// packet with 1 and 255 VRIDs on one interface. About 15 minutes.
    Scale,
    /// vrrpd and keepalived 2.2.7 as the backup under a forged-AH flood at 1 k, 10 k,
    /// 100 k frames/s and the generator's maximum, against no flood: CPU, spurious
    /// takeovers, every transition timed; absorption against a bare XDP_DROP program;
    /// event latency. About 10 minutes.
    Flood,
}

/// Builds and runs a benchmark (as root: it loads BPF programs); `args` go to the
/// benchmark binary (scale: `--counts 1,10 --rest 5` for a short trial; flood:
/// `--rates 100000`).
pub fn run(root: &Path, what: Bench, args: &[String]) -> anyhow::Result<()> {
    let out = root.join("target/bench");
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    match what {
        Bench::Xdp => {
            let xdp_bench = build_bin(root, "xdp-bench")?;
            step("running: BPF_PROG_TEST_RUN per packet class, baseline in the same run");
            let section = out.join("xdp.md");
            status(
                Command::new(xdp_bench)
                    .args(args)
                    .arg("--output")
                    .arg(&section),
            )?;
            splice(root, "## `cargo xtask bench xdp`", &section)
        }
        Bench::Scale => {
            let vrrpd = build_release(root)?;
            let xdp_bench = build_bin(root, "xdp-bench")?;
            let scale_bench = build_bin(root, "scale_bench")?;
            step("running: the XDP program with 1, 255 and 1,000 instances (BPF_PROG_TEST_RUN)");
            let vrids = out.join("vrids.md");
            status(
                Command::new(xdp_bench)
                    .arg("--vrids")
                    .arg("--output")
                    .arg(&vrids),
            )?;
            step("running: vrrpd and keepalived 2.2.7 at 1, 10, 100, 250 and 1,000 instances");
            let section = out.join("scale.md");
            status(
                Command::new(scale_bench)
                    .env("VRRPD_BIN", &vrrpd)
                    .args(args)
                    .arg("--xdp-table")
                    .arg(&vrids)
                    .arg("--output")
                    .arg(&section),
            )?;
            splice(root, "## `cargo xtask bench scale`", &section)
        }
        Bench::Flood => {
            let vrrpd = build_release(root)?;
            let flood_bench = build_bin(root, "flood_bench")?;
            step("running: vrrpd and keepalived 2.2.7 as the backup under a forged-AH flood");
            let section = out.join("flood.md");
            status(
                Command::new(flood_bench)
                    .env("VRRPD_BIN", &vrrpd)
                    .args(args)
                    .arg("--output")
                    .arg(&section),
            )?;
            splice(root, "## `cargo xtask bench flood`", &section)
        }
    }
}

/// Builds a binary of the `tests` crate in release mode; returns its path.
fn build_bin(root: &Path, name: &str) -> anyhow::Result<PathBuf> {
    step(&format!("building {name} (release)"));
    status(cargo().current_dir(root).args([
        "build",
        "--release",
        "--package",
        "tests",
        "--bin",
        name,
    ]))?;
    Ok(root.join("target/release").join(name))
}

/// Replaces the section of BENCHMARKS.md that starts with the line `heading` (up to the
/// next `## ` heading) by the contents of `section`, or appends it.
fn splice(root: &Path, heading: &str, section: &Path) -> anyhow::Result<()> {
    let path = root.join("BENCHMARKS.md");
    let new = std::fs::read_to_string(section)
        .with_context(|| format!("reading {}", section.display()))?;
    let old = std::fs::read_to_string(&path).unwrap_or_else(|_| "# Benchmarks\n".into());
    let text = spliced(&old, heading, &new);
    std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
    eprintln!("{} updated ({heading})", path.display());
    Ok(())
}

fn spliced(old: &str, heading: &str, new: &str) -> String {
    let new = format!("{}\n", new.trim_end());
    let lines: Vec<&str> = old.lines().collect();
    let Some(start) = lines.iter().position(|l| *l == heading) else {
        return format!("{}\n\n{new}", old.trim_end());
    };
    let end = lines[start + 1..]
        .iter()
        .position(|l| l.starts_with("## "))
        .map_or(lines.len(), |i| start + 1 + i);
    let mut out = lines[..start].join("\n");
    out.push('\n');
    out.push_str(&new);
    if end < lines.len() {
        out.push('\n');
        out.push_str(&lines[end..].join("\n"));
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::spliced;

    #[test]
    fn a_section_is_replaced_in_place_or_appended() {
        let old = "# Benchmarks\n\n## a\n\nold a\n\n## b\n\nold b\n";
        assert_eq!(
            spliced(old, "## a", "## a\n\nnew a\n"),
            "# Benchmarks\n\n## a\n\nnew a\n\n## b\n\nold b\n"
        );
        assert_eq!(
            spliced(old, "## b", "## b\n\nnew b"),
            "# Benchmarks\n\n## a\n\nold a\n\n## b\n\nnew b\n"
        );
        assert_eq!(
            spliced(old, "## c", "## c\n\nc\n"),
            "# Benchmarks\n\n## a\n\nold a\n\n## b\n\nold b\n\n## c\n\nc\n"
        );
    }
}
