//! `vrrpd run`: attach the program to the given interfaces and report its counters.
//!
//! With `--config`, the daemon: every instance runs until SIGINT/SIGTERM (then priority 0,
//! VIPs removed, program detached). With only `--interface`, it attaches the program,
//! prints its counters every `--stats-interval`, and detaches on SIGINT/SIGTERM; there
//! `--generic` forces generic (skb) mode. The daemon picks its attach mode itself (driver,
//! else generic), so `--generic` with `--config` is refused rather than silently ignored.
use std::time::Duration;

use anyhow::Context as _;
use clap::Args;
use tokio::signal::unix::{SignalKind, signal};
use vrrpd::config::Format;
use vrrpd::dataplane::{AttachMode, Dataplane};

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Configuration file (YAML, or keepalived.conf syntax): the program is attached to
    /// every interface its instances use.
    #[arg(long, required_unless_present = "interfaces")]
    config: Option<std::path::PathBuf>,
    /// Syntax of the configuration (default: YAML for .yaml/.yml, keepalived otherwise).
    #[arg(long, value_enum, requires = "config")]
    format: Option<Format>,
    /// Answer `vrrpd status --socket PATH` on this Unix socket (with `--config`).
    #[arg(long, requires = "config")]
    socket: Option<std::path::PathBuf>,
    /// Write the daemon's pid here while it runs.
    #[arg(long)]
    pidfile: Option<std::path::PathBuf>,
    /// Without `--config`: interface to attach the XDP program to and watch (repeatable).
    #[arg(long = "interface", short = 'i')]
    interfaces: Vec<String>,
    /// Without `--config`: attach in generic (skb) mode instead of trying driver mode
    /// first. (With `--config` the daemon tries driver mode and falls back to generic mode
    /// by itself; forcing generic mode there is not supported yet, so the combination is
    /// refused rather than ignored.)
    #[arg(long, conflicts_with = "config")]
    generic: bool,
    /// Seconds between two counter reports.
    #[arg(long, default_value_t = 1.0)]
    stats_interval: f64,
}

impl RunArgs {
    /// The attach mode forced on the command line; `None`: driver mode where the interface
    /// allows it, else generic.
    fn forced_mode(&self) -> Option<AttachMode> {
        self.generic.then_some(AttachMode::Generic)
    }
}

/// The pid file, removed when the daemon exits.
struct PidFile(std::path::PathBuf);

impl PidFile {
    fn create(path: &std::path::Path) -> anyhow::Result<Self> {
        std::fs::write(path, format!("{}\n", std::process::id()))
            .with_context(|| format!("writing the pid file {}", path.display()))?;
        Ok(Self(path.to_path_buf()))
    }
}

impl Drop for PidFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

pub async fn run(args: RunArgs) -> anyhow::Result<()> {
    let interval = Duration::try_from_secs_f64(args.stats_interval)
        .ok()
        .filter(|d| !d.is_zero())
        .context("--stats-interval must be a positive number of seconds")?;
    if let Some(path) = &args.config {
        let loaded = crate::cmd_config::load_reporting(path, args.format)?;
        tracing::info!(
            config = %path.display(),
            instances = loaded.config.instances.len(),
            "configuration loaded"
        );
        let daemon = vrrpd::daemon::Daemon::new(&loaded.config).await?;
        let _pidfile = args.pidfile.as_deref().map(PidFile::create).transpose()?;
        return daemon.run(args.socket.clone()).await;
    }
    let interfaces = args.interfaces.clone();
    let mut dataplane = Dataplane::load().context("loading the XDP program")?;
    for interface in &interfaces {
        let mode = match args.forced_mode() {
            Some(mode) => {
                dataplane.attach(interface, mode)?;
                mode
            }
            None => dataplane.attach_preferring_driver(interface)?,
        };
        tracing::info!(interface, %mode, "XDP program attached to {interface} ({mode} mode)");
    }
    let mut sigterm = signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
    let mut ticker = tokio::time::interval(interval);
    ticker.tick().await;
    loop {
        tokio::select! {
            _ = ticker.tick() => {
                let counters = dataplane.counters()?;
                println!("{counters}");
            }
            _ = tokio::signal::ctrl_c() => break,
            _ = sigterm.recv() => break,
        }
    }
    let counters = dataplane.counters()?;
    println!("{counters}");
    dataplane
        .detach_all()
        .context("detaching the XDP program")?;
    tracing::info!("XDP program detached; exiting");
    Ok(())
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    /// `vrrpd run` as the command line parses it.
    #[derive(Debug, Parser)]
    struct Run {
        #[command(flatten)]
        args: RunArgs,
    }

    fn parse(args: &[&str]) -> Result<RunArgs, clap::Error> {
        Run::try_parse_from(std::iter::once("run").chain(args.iter().copied())).map(|r| r.args)
    }

    #[test]
    fn generic_forces_generic_mode_on_the_given_interfaces() {
        let args = parse(&["--interface", "eth0", "--generic"]).expect("valid");
        assert_eq!(args.forced_mode(), Some(AttachMode::Generic));
        let args = parse(&["--interface", "eth0"]).expect("valid");
        assert_eq!(args.forced_mode(), None);
    }

    /// `--generic` used to be silently ignored with `--config`: now it is refused, naming
    /// both options.
    #[test]
    fn generic_with_a_configuration_is_refused_not_ignored() {
        let error = parse(&["--config", "vrrpd.yaml", "--generic"]).expect_err("refused");
        assert_eq!(error.kind(), clap::error::ErrorKind::ArgumentConflict);
        let text = error.to_string();
        assert!(
            text.contains("--generic") && text.contains("--config"),
            "{text}"
        );
        assert!(parse(&["--config", "vrrpd.yaml"]).is_ok());
    }
}
