//! `vrrpd run`: attach the program to the given interfaces and report its counters.
//!
//! With `--config`, the daemon: every instance runs until SIGINT/SIGTERM (then priority 0,
//! VIPs removed, program detached). With only `--interface`, it attaches the program,
//! prints its counters every `--stats-interval`, and detaches on SIGINT/SIGTERM.
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
    /// Attach in generic (skb) mode instead of trying driver mode first.
    #[arg(long)]
    generic: bool,
    /// Seconds between two counter reports.
    #[arg(long, default_value_t = 1.0)]
    stats_interval: f64,
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
        let mode = if args.generic {
            dataplane.attach(interface, AttachMode::Generic)?;
            AttachMode::Generic
        } else {
            dataplane.attach_preferring_driver(interface)?
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
