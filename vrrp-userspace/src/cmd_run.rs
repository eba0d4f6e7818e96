//! `vrrpd run`: attach the program to the given interfaces and report its counters.
//!
//! With `--config`, the daemon: every instance runs until SIGINT/SIGTERM (then priority 0,
//! VIPs removed, program detached); SIGHUP and `vrrpd reload` read the file again. With only `--interface`, it attaches the program,
//! prints its counters every `--stats-interval`, and detaches on SIGINT/SIGTERM; there
//! `--generic` forces generic (skb) mode. The daemon picks its attach mode itself (driver,
//! else generic), so `--generic` with `--config` is refused rather than silently ignored.
use std::{
    io::Write as _,
    path::{Path, PathBuf},
    time::Duration,
};

use anyhow::Context as _;
use clap::Args;
use tokio::signal::unix::{SignalKind, signal};
use vrrpd::config::Format;
use vrrpd::dataplane::{AttachMode, Dataplane};

use crate::{
    logging,
    runfiles::{self, ControlSocket, PidFile},
};

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Configuration file (YAML, or keepalived.conf syntax; `-`: standard input): the
    /// program is attached to every interface its instances use.
    #[arg(
        long,
        short = 'f',
        value_name = "FILE",
        required_unless_present = "interfaces"
    )]
    config: Option<PathBuf>,
    /// Syntax of the configuration (default: YAML for .yaml/.yml, keepalived otherwise).
    #[arg(long, value_enum, requires = "config")]
    format: Option<Format>,
    /// Answer `vrrpd status` on this Unix socket (with `--config`); without a path,
    /// /run/vrrpd/vrrpd.sock. A path that exists and is not a socket, or a socket another
    /// daemon answers on, is refused.
    #[arg(
        long,
        value_name = "PATH",
        requires = "config",
        num_args = 0..=1,
        default_missing_value = runfiles::DEFAULT_SOCKET
    )]
    socket: Option<PathBuf>,
    /// Serve Prometheus metrics (`vrrp_*`, see docs/running.md) over HTTP on this address
    /// and port (with `--config`), e.g. `127.0.0.1:9650` or `[::]:9650`.
    #[arg(long, value_name = "ADDR:PORT", requires = "config")]
    metrics_listen: Option<std::net::SocketAddr>,
    /// Write the daemon's pid here while it runs; without a path, /run/vrrpd/vrrpd.pid.
    /// A pid file naming a running vrrpd stops the start; a stale one is replaced.
    #[arg(
        long,
        value_name = "PATH",
        num_args = 0..=1,
        default_missing_value = runfiles::DEFAULT_PIDFILE
    )]
    pidfile: Option<PathBuf>,
    /// Keep the AH senders this daemon has verified here, and read them back at start, so
    /// that a restarted daemon can verify its master under an advert flood
    /// (docs/dataplane.md, "Flood safety"); without a path, /run/vrrpd/senders.json.
    #[arg(
        long,
        value_name = "PATH",
        requires = "config",
        num_args = 0..=1,
        default_missing_value = runfiles::DEFAULT_STATE
    )]
    state: Option<PathBuf>,
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
    /// Where the log goes.
    #[arg(long, value_enum, default_value_t)]
    log: logging::Target,
    /// The least severe level logged (default: `RUST_LOG` if set, else info).
    #[arg(long, value_enum)]
    log_level: Option<logging::LogLevel>,
    /// The syslog socket for `--log syslog`.
    #[arg(long, value_name = "PATH", default_value = "/dev/log")]
    syslog_socket: PathBuf,
}

impl RunArgs {
    /// The attach mode forced on the command line; `None`: driver mode where the interface
    /// allows it, else generic.
    fn forced_mode(&self) -> Option<AttachMode> {
        self.generic.then_some(AttachMode::Generic)
    }

    /// Where and what to log.
    pub fn logging(&self) -> (logging::Target, Option<logging::LogLevel>, &Path) {
        (self.log, self.log_level, &self.syslog_socket)
    }
}

/// Fails, naming what is missing, unless this process may load and attach XDP programs
/// (and, for the daemon, send adverts on packet sockets).
fn require_privileges(daemon: bool) -> anyhow::Result<()> {
    let missing = vrrpd::sys::missing_capabilities(daemon).context("reading our capabilities")?;
    if !missing.is_empty() {
        anyhow::bail!(
            "loading and attaching the XDP program needs root, or the capabilities CAP_BPF, \
             CAP_PERFMON and CAP_NET_ADMIN{}; this process lacks {}",
            if daemon { " and CAP_NET_RAW" } else { "" },
            missing.join(", ")
        );
    }
    Ok(())
}

pub async fn run(args: RunArgs) -> anyhow::Result<()> {
    let interval = Duration::try_from_secs_f64(args.stats_interval)
        .ok()
        .filter(|d| !d.is_zero())
        .context("--stats-interval must be a positive number of seconds")?;
    if let Some(path) = &args.config {
        let path = crate::config_path(path);
        let loaded = crate::cmd_config::load_reporting(&path, args.format)?;
        tracing::info!(
            config = %path.display(),
            instances = loaded.config.instances.len(),
            "configuration loaded"
        );
        // Claimed before anything is attached: a second daemon stops here, leaving the
        // first one's interfaces, socket and pid file alone.
        let _pidfile = args.pidfile.as_deref().map(PidFile::claim).transpose()?;
        let (_socket, listener) = args
            .socket
            .as_deref()
            .map(ControlSocket::bind)
            .transpose()?
            .unzip();
        require_privileges(true)?;
        let mut daemon = vrrpd::daemon::Daemon::new(&loaded.config).await?;
        // Standard input cannot be read twice: such a daemon refuses to reload.
        if path != Path::new("/dev/stdin") {
            daemon = daemon.reloading_from(path, args.format);
        }
        if let Some(state) = &args.state {
            daemon = daemon.remembering_senders(state);
        }
        if let Some(address) = args.metrics_listen {
            let listener = tokio::net::TcpListener::bind(address)
                .await
                .with_context(|| format!("--metrics-listen {address}"))?;
            tracing::info!(%address, "serving metrics on http://{address}/metrics");
            daemon = daemon.serving_metrics(listener);
        }
        return daemon.run(listener).await;
    }
    for interface in &args.interfaces {
        vrrpd::dataplane::require_interface(interface)?;
    }
    let _pidfile = args.pidfile.as_deref().map(PidFile::claim).transpose()?;
    require_privileges(false)?;
    let mut dataplane = Dataplane::load().context("loading the XDP program")?;
    for interface in &args.interfaces {
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
    // A failed write (the reader went away, or a full disk) ends the run like a signal
    // does: the program is detached first, then the error is reported.
    let mut output = Ok(());
    loop {
        tokio::select! {
            _ = ticker.tick() => {
                output = report(&dataplane);
                if output.is_err() {
                    break;
                }
            }
            _ = tokio::signal::ctrl_c() => break,
            _ = sigterm.recv() => break,
        }
    }
    if output.is_ok() {
        output = report(&dataplane);
    }
    dataplane
        .detach_all()
        .context("detaching the XDP program")?;
    tracing::info!("XDP program detached; exiting");
    output
}

/// Prints the counters on standard output.
fn report(dataplane: &Dataplane) -> anyhow::Result<()> {
    let counters = dataplane.counters()?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{counters}")
        .and_then(|()| out.flush())
        .context("writing the counters to stdout")
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
