//! `vrrpd`: command-line entry point.
use std::{path::PathBuf, process::ExitCode};

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use vrrpd::config::Format;

mod cmd_config;
mod cmd_inspect;
mod cmd_run;

/// An XDP-accelerated VRRP daemon, wire-compatible with keepalived.
#[derive(Debug, Parser)]
#[command(name = "vrrpd", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Attach the XDP program and run in the foreground until SIGINT/SIGTERM.
    Run(cmd_run::RunArgs),
    /// Show the instances of a running daemon (`vrrpd run --socket PATH`).
    Status {
        /// The daemon's control socket.
        #[arg(long)]
        socket: PathBuf,
        /// One JSON object per instance instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Validate a configuration (YAML, or keepalived.conf syntax); exit 1 on errors.
    Check {
        /// The configuration file.
        #[arg(long)]
        config: PathBuf,
        /// Syntax of the file (default: YAML for .yaml/.yml, keepalived otherwise).
        #[arg(long, value_enum)]
        format: Option<Format>,
    },
    /// Print a configuration (keepalived.conf or YAML) as vrrpd YAML.
    Convert {
        /// The configuration file.
        file: PathBuf,
        /// Syntax of the file (default: YAML for .yaml/.yml, keepalived otherwise).
        #[arg(long, value_enum)]
        format: Option<Format>,
    },
    /// Decode the VRRP adverts of a packet capture (pcap) and check their authentication.
    Inspect {
        /// The capture to read (pcap, Ethernet link type).
        #[arg(long)]
        pcap: PathBuf,
        /// The VRRP password (PASS) or AH key to verify adverts with.
        #[arg(long)]
        password: Option<String>,
        /// One JSON object per line instead of a table.
        #[arg(long)]
        json: bool,
    },
}

/// Errors end the process with status 1 and one line naming the cause chain (no backtrace:
/// an invalid configuration is an answer, not a crash).
fn main() -> ExitCode {
    match dispatch(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("vrrpd: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn dispatch(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Run(args) => {
            init_logging();
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .context("starting the tokio runtime")?;
            runtime.block_on(cmd_run::run(args))
        }
        Command::Status { socket, json } => cmd_status(&socket, json),
        Command::Check { config, format } => cmd_config::check(&config, format),
        Command::Convert { file, format } => cmd_config::convert(&file, format),
        Command::Inspect {
            pcap,
            password,
            json,
        } => cmd_inspect::run(&pcap, password.as_deref(), json),
    }
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .init();
}

/// `vrrpd status`: one request on the daemon's control socket.
fn cmd_status(socket: &std::path::Path, json: bool) -> anyhow::Result<()> {
    use std::io::Read as _;
    let mut stream = std::os::unix::net::UnixStream::connect(socket).with_context(|| {
        format!(
            "connecting to {} (is vrrpd running with --socket?)",
            socket.display()
        )
    })?;
    let mut text = String::new();
    stream
        .read_to_string(&mut text)
        .context("reading the status")?;
    for line in text.lines() {
        if json {
            println!("{line}");
            continue;
        }
        let s: vrrpd::daemon::InstanceStatus =
            serde_json::from_str(line).context("decoding the status")?;
        let from = s.last_advert_from.map_or("-".to_owned(), |a| {
            format!("{a} (priority {})", s.last_advert_priority)
        });
        let counters: Vec<String> = s.counters.iter().map(|(k, v)| format!("{k}={v}")).collect();
        println!(
            "({}) {:<6} {} vrid {} priority {}  last advert from {from}\n    {}",
            s.name,
            s.state,
            s.interface,
            s.vrid,
            s.priority,
            if counters.is_empty() {
                "-".to_owned()
            } else {
                counters.join(" ")
            }
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory as _;

    use super::*;

    #[test]
    fn the_command_line_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn run_refuses_generic_with_a_configuration() {
        let error = Cli::try_parse_from(["vrrpd", "run", "--config", "a.conf", "--generic"])
            .expect_err("--generic is not honoured with --config yet");
        assert_eq!(error.kind(), clap::error::ErrorKind::ArgumentConflict);
        assert!(Cli::try_parse_from(["vrrpd", "run", "-i", "eth0", "--generic"]).is_ok());
    }
}
