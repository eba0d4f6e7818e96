//! `vrrpd`: command-line entry point.
use std::{
    io::{self, Read as _, Write as _},
    path::{Path, PathBuf},
    process::ExitCode,
    time::Duration,
};

use anyhow::Context as _;
use clap::{Args, Parser, Subcommand};
use vrrpd::config::Format;

mod cmd_config;
mod cmd_inspect;
mod cmd_run;
mod logging;
mod runfiles;

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
    /// Show the instances of a running daemon (`vrrpd run --socket [PATH]`).
    Status {
        /// The daemon's control socket.
        #[arg(long, default_value = runfiles::DEFAULT_SOCKET)]
        socket: PathBuf,
        /// One JSON object per instance instead of a table.
        #[arg(long)]
        json: bool,
        /// Seconds to wait for the daemon's answer.
        #[arg(long, default_value_t = 5.0)]
        timeout: f64,
    },
    /// Make a running daemon read its configuration file again (as SIGHUP does); exit 1
    /// when it refused the file (its errors are printed) or did not answer.
    Reload {
        /// The daemon's control socket.
        #[arg(long, default_value = runfiles::DEFAULT_SOCKET)]
        socket: PathBuf,
        /// Seconds to wait for the daemon's answer.
        #[arg(long, default_value_t = 10.0)]
        timeout: f64,
    },
    /// Validate a configuration (YAML, or keepalived.conf syntax); exit 1 on errors.
    Check(ConfigFile),
    /// Print a configuration (keepalived.conf or YAML) as vrrpd YAML.
    Convert(ConfigFile),
    /// Decode the VRRP adverts of a capture (pcap or pcapng) and check their authentication.
    Inspect {
        /// The capture to read (pcap or pcapng, Ethernet link type).
        #[arg(long)]
        pcap: PathBuf,
        /// The VRRP password (PASS) or AH key to verify adverts with; the exit status is 1
        /// when any advert fails to verify with it.
        #[arg(long)]
        password: Option<String>,
        /// One JSON object per line instead of a table.
        #[arg(long)]
        json: bool,
    },
}

/// The configuration file of `check` and `convert`: as a positional argument, or as
/// `--config` / `-f` (keepalived's option); `-` reads standard input.
#[derive(Debug, Args)]
struct ConfigFile {
    /// The configuration file (`-`: standard input).
    #[arg(value_name = "FILE", required_unless_present = "config")]
    file: Option<PathBuf>,
    /// The configuration file, as keepalived's `-f` (the same as FILE).
    #[arg(
        long,
        short = 'f',
        visible_alias = "use-file",
        value_name = "FILE",
        conflicts_with = "file"
    )]
    config: Option<PathBuf>,
    /// Syntax of the file (default: YAML for .yaml/.yml, keepalived otherwise; standard
    /// input is read as keepalived syntax unless `--format yaml`).
    #[arg(long, value_enum)]
    format: Option<Format>,
}

impl ConfigFile {
    fn path(&self) -> PathBuf {
        let given = self.config.as_deref().or(self.file.as_deref());
        config_path(given.unwrap_or(Path::new("-")))
    }
}

/// The file to read for a configuration given as `path`: `-` is standard input.
pub fn config_path(path: &Path) -> PathBuf {
    if path == Path::new("-") {
        PathBuf::from("/dev/stdin")
    } else {
        path.to_path_buf()
    }
}

/// Errors end the process with status 1 and one line naming the cause chain (no backtrace:
/// an invalid configuration is an answer, not a crash). A reader that went away (`| head`)
/// is not an error: what it wanted was written.
fn main() -> ExitCode {
    match dispatch(Cli::parse_from(keepalived_aliases(
        std::env::args_os().collect(),
    ))) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) if is_broken_pipe(&error) => ExitCode::SUCCESS,
        Err(error) => {
            // Not eprintln!: a closed standard error must not turn an error into a panic.
            let _ = writeln!(io::stderr(), "vrrpd: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// keepalived's `-t` / `--config-test` (check the configuration and exit): `vrrpd -t -f
/// FILE` runs `vrrpd check -f FILE`. Only without a subcommand: elsewhere `-t` is not ours.
fn keepalived_aliases(mut args: Vec<std::ffi::OsString>) -> Vec<std::ffi::OsString> {
    let is_test = |a: &std::ffi::OsString| a == "-t" || a == "--config-test";
    let subcommand = args.iter().skip(1).any(|a| {
        [
            "run", "status", "reload", "check", "convert", "inspect", "help",
        ]
        .iter()
        .any(|c| a == c)
    });
    if !subcommand && let Some(at) = args.iter().skip(1).position(is_test) {
        args.remove(at + 1);
        args.insert(1, "check".into());
    }
    args
}

/// Whether `error` comes from writing to a pipe whose reader has gone.
fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause
            .downcast_ref::<io::Error>()
            .is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe)
    })
}

fn dispatch(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Run(args) => {
            let (target, level, syslog) = args.logging();
            logging::init(target, level, syslog)?;
            tracing::info!(
                pid = std::process::id(),
                "Starting vrrpd v{}",
                env!("CARGO_PKG_VERSION")
            );
            let result = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .context("starting the tokio runtime")
                .and_then(|runtime| runtime.block_on(cmd_run::run(args)));
            if let Err(error) = &result
                && target != logging::Target::Stderr
                && !is_broken_pipe(error)
            {
                // Whoever reads the daemon's log sees why it stopped.
                tracing::error!("vrrpd: {error:#}");
            }
            result
        }
        Command::Status {
            socket,
            json,
            timeout,
        } => cmd_status(&socket, json, timeout),
        Command::Reload { socket, timeout } => cmd_reload(&socket, timeout),
        Command::Check(file) => cmd_config::check(&file.path(), file.format),
        Command::Convert(file) => cmd_config::convert(&file.path(), file.format),
        Command::Inspect {
            pcap,
            password,
            json,
        } => cmd_inspect::run(&pcap, password.as_deref(), json),
    }
}

/// `vrrpd status`: one request on the daemon's control socket.
fn cmd_status(socket: &Path, json: bool, timeout: f64) -> anyhow::Result<()> {
    let timeout = Duration::try_from_secs_f64(timeout)
        .ok()
        .filter(|d| !d.is_zero())
        .context("--timeout must be a positive number of seconds")?;
    let text = query(socket, &vrrpd::daemon::Request::Status, timeout)?;
    let mut out = io::stdout().lock();
    let mut statuses = Vec::new();
    for line in text.lines() {
        if json {
            writeln!(out, "{line}")?;
            continue;
        }
        let s: vrrpd::daemon::InstanceStatus =
            serde_json::from_str(line).context("decoding the status")?;
        writeln!(out, "{}", vrrpd::daemon::format_status(&s))?;
        statuses.push(s);
    }
    write!(out, "{}", vrrpd::daemon::format_groups(&statuses))?;
    out.flush()?;
    Ok(())
}

/// `vrrpd reload`: the daemon reads its configuration file again; its answer is printed
/// (what changed, or the file's errors, then exit 1).
fn cmd_reload(socket: &Path, timeout: f64) -> anyhow::Result<()> {
    let timeout = Duration::try_from_secs_f64(timeout)
        .ok()
        .filter(|d| !d.is_zero())
        .context("--timeout must be a positive number of seconds")?;
    let text = query(socket, &vrrpd::daemon::Request::Reload, timeout)?;
    let answer: vrrpd::daemon::ReloadAnswer =
        serde_json::from_str(text.trim()).context("decoding the daemon's answer")?;
    if !answer.ok {
        anyhow::bail!("{}", answer.message);
    }
    writeln!(io::stdout(), "reloaded: {}", answer.message).context("writing to stdout")
}

/// Sends `request` on the control socket and reads the daemon's answer, within `timeout`.
fn query(
    socket: &Path,
    request: &vrrpd::daemon::Request,
    timeout: Duration,
) -> anyhow::Result<String> {
    let shown = socket.display();
    let mut stream = std::os::unix::net::UnixStream::connect(socket).map_err(|error| {
        let why = match error.kind() {
            io::ErrorKind::NotFound => {
                format!("no control socket at {shown} (is vrrpd running with --socket {shown}?)")
            }
            io::ErrorKind::PermissionDenied => format!(
                "permission denied on {shown}: the control socket is the daemon's user's \
                 (run vrrpd status as root, or as that user)"
            ),
            io::ErrorKind::ConnectionRefused => {
                format!("nothing answers on {shown}: the daemon that created it is not running")
            }
            _ => format!("connecting to {shown}"),
        };
        anyhow::Error::new(error).context(why)
    })?;
    stream
        .set_read_timeout(Some(timeout))
        .context("setting the timeout")?;
    stream
        .set_write_timeout(Some(timeout))
        .context("setting the timeout")?;
    // One line, then our side closed: the daemon answers and closes.
    stream
        .write_all(format!("{}\n", request.line()).as_bytes())
        .and_then(|()| stream.shutdown(std::net::Shutdown::Write))
        .with_context(|| format!("sending the request to {shown}"))?;
    let mut text = String::new();
    match stream.read_to_string(&mut text) {
        Ok(_) => Ok(text),
        Err(error)
            if matches!(
                error.kind(),
                io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
            ) =>
        {
            anyhow::bail!(
                "no answer on {shown} within {} s: is it a vrrpd control socket?",
                timeout.as_secs_f64()
            )
        }
        Err(error) => Err(error).with_context(|| format!("reading the status from {shown}")),
    }
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

    fn config_of(args: &[&str]) -> PathBuf {
        match Cli::try_parse_from(args).expect("parses").command {
            Command::Check(file) | Command::Convert(file) => file.path(),
            other => panic!("not check/convert: {other:?}"),
        }
    }

    /// keepalived's habits: `-f FILE`, and check/convert take the file either way.
    #[test]
    fn check_and_convert_take_the_file_positionally_or_as_config_or_f() {
        for command in ["check", "convert"] {
            for args in [
                vec!["vrrpd", command, "a.conf"],
                vec!["vrrpd", command, "--config", "a.conf"],
                vec!["vrrpd", command, "-f", "a.conf"],
            ] {
                assert_eq!(config_of(&args), PathBuf::from("a.conf"), "{args:?}");
            }
            assert_eq!(
                config_of(&["vrrpd", command, "-"]),
                PathBuf::from("/dev/stdin")
            );
            let both = Cli::try_parse_from(["vrrpd", command, "a.conf", "--config", "b.conf"]);
            assert_eq!(
                both.expect_err("two files").kind(),
                clap::error::ErrorKind::ArgumentConflict
            );
            let none = Cli::try_parse_from(["vrrpd", command]);
            assert_eq!(
                none.expect_err("no file").kind(),
                clap::error::ErrorKind::MissingRequiredArgument
            );
        }
    }

    #[test]
    fn broken_pipes_are_recognised_through_context() {
        let error = anyhow::Error::new(io::Error::from(io::ErrorKind::BrokenPipe))
            .context("writing to stdout");
        assert!(is_broken_pipe(&error));
        let full = anyhow::Error::new(io::Error::from(io::ErrorKind::StorageFull))
            .context("writing to stdout");
        assert!(!is_broken_pipe(&full));
    }
}
