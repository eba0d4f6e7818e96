//! `vrrpd check` and `vrrpd convert`.
use std::{
    io::{self, Write as _},
    path::Path,
};

use anyhow::Context as _;
use vrrpd::config::{self, Format, Loaded};

/// Loads `path`, printing warnings (and errors, then failing) to stderr.
pub fn load_reporting(path: &Path, format: Option<Format>) -> anyhow::Result<Loaded> {
    match config::load(path, format) {
        Ok(loaded) => {
            for warning in &loaded.warnings {
                eprint!("{}", warning.render(&loaded.sources));
            }
            Ok(loaded)
        }
        Err(error) => {
            eprint!("{}", error.render());
            let count = error.errors().count();
            anyhow::bail!(
                "{}: {count} error{}",
                path.display(),
                if count == 1 { "" } else { "s" }
            )
        }
    }
}

/// `vrrpd check`: exit 0 when valid (warnings printed), 1 on errors. Like `keepalived -t`,
/// it also warns about interfaces that do not exist here.
pub fn check(path: &Path, format: Option<Format>) -> anyhow::Result<()> {
    let mut loaded = load_reporting(path, format)?;
    let system = config::system_warnings(&loaded);
    for warning in &system {
        eprint!("{}", warning.render(&loaded.sources));
    }
    loaded.warnings.extend(system);
    let c = &loaded.config;
    // Not println!: a reader that went away (`| head`) or a full disk is an error to
    // report (main exits quietly on a broken pipe), not a panic.
    writeln!(
        io::stdout(),
        "{}: OK ({} instance{}, {} sync group{}, {} script{}, {} warning{})",
        path.display(),
        c.instances.len(),
        plural(c.instances.len()),
        c.sync_groups.len(),
        plural(c.sync_groups.len()),
        c.scripts.len(),
        plural(c.scripts.len()),
        loaded.warnings.len(),
        plural(loaded.warnings.len()),
    )
    .context("writing to stdout")
}

/// `vrrpd convert`: the configuration as YAML on stdout.
pub fn convert(path: &Path, format: Option<Format>) -> anyhow::Result<()> {
    let loaded = load_reporting(path, format)?;
    let yaml = config::to_yaml(&loaded.config).context("encoding YAML")?;
    let mut out = io::stdout().lock();
    writeln!(out, "# Converted by vrrpd from {}", path.display())
        .and_then(|()| out.write_all(yaml.as_bytes()))
        .or_else(|e| {
            if e.kind() == io::ErrorKind::BrokenPipe {
                Ok(())
            } else {
                Err(e)
            }
        })
        .context("writing to stdout")
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}
