//! Where `vrrpd run` logs: standard error (colours only on a terminal), syslog (`/dev/log`,
//! facility daemon, as keepalived) or the systemd journal (structured fields kept).
use std::{
    io::{self, IsTerminal as _},
    os::unix::net::UnixDatagram,
    path::{Path, PathBuf},
    sync::Mutex,
};

use anyhow::Context as _;
use tracing::{Level, Metadata};
use tracing_subscriber::{EnvFilter, fmt::MakeWriter, layer::SubscriberExt as _};

/// `--log`: where the log goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Target {
    /// Standard error, one line per event; ANSI colours only when it is a terminal.
    #[default]
    Stderr,
    /// The local syslog daemon (`/dev/log`), facility daemon, tag `vrrpd[PID]`.
    Syslog,
    /// The systemd journal, with the structured fields (`instance`, `interface`, ...).
    Journald,
    /// Standard error, one JSON object per event (`timestamp`, `level`, `fields` with the
    /// message and the structured fields), for log shippers.
    Json,
}

/// `--log-level`: the least severe level logged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogLevel {
    Error,
    Warn,
    Info,
    Debug,
    Trace,
}

impl LogLevel {
    fn directive(self) -> &'static str {
        match self {
            Self::Error => "error",
            Self::Warn => "warn",
            Self::Info => "info",
            Self::Debug => "debug",
            Self::Trace => "trace",
        }
    }
}

/// The filter: `--log-level` when given, else `RUST_LOG` (full `tracing` directives),
/// else `info`.
fn filter(level: Option<LogLevel>) -> EnvFilter {
    match level {
        Some(level) => EnvFilter::new(level.directive()),
        None => EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
    }
}

/// Installs the global subscriber.
pub fn init(target: Target, level: Option<LogLevel>, syslog_socket: &Path) -> anyhow::Result<()> {
    let filter = filter(level);
    let subscriber = tracing_subscriber::registry().with(filter);
    match target {
        Target::Stderr => {
            let layer = tracing_subscriber::fmt::layer()
                .with_writer(io::stderr)
                .with_ansi(io::stderr().is_terminal())
                .with_target(false);
            tracing::subscriber::set_global_default(subscriber.with(layer))
        }
        Target::Syslog => {
            let writer = Syslog::connect(syslog_socket)?;
            // The syslog daemon stamps the time; the level is in the priority.
            let layer = tracing_subscriber::fmt::layer()
                .with_writer(writer)
                .with_ansi(false)
                .without_time()
                .with_level(false)
                .with_target(false);
            tracing::subscriber::set_global_default(subscriber.with(layer))
        }
        Target::Json => {
            let layer = tracing_subscriber::fmt::layer()
                .json()
                .with_writer(io::stderr)
                .with_target(false);
            tracing::subscriber::set_global_default(subscriber.with(layer))
        }
        Target::Journald => {
            let layer = tracing_journald::layer()
                .context("connecting to the systemd journal (is systemd-journald running?)")?
                .with_syslog_identifier("vrrpd".to_owned());
            tracing::subscriber::set_global_default(subscriber.with(layer))
        }
    }
    .context("installing the logger")
}

/// RFC 3164 messages on a local datagram socket: `<PRI>vrrpd[PID]: MESSAGE`.
#[derive(Debug)]
struct Syslog {
    path: PathBuf,
    socket: Mutex<UnixDatagram>,
    pid: u32,
}

/// syslog's facility daemon (3), as keepalived's default `LOG_DAEMON`.
const FACILITY_DAEMON: u8 = 3;

impl Syslog {
    fn connect(path: &Path) -> anyhow::Result<Self> {
        Ok(Self {
            path: path.to_path_buf(),
            socket: Mutex::new(Self::open(path).with_context(|| {
                format!(
                    "connecting to syslog at {} (is a syslog daemon running?)",
                    path.display()
                )
            })?),
            pid: std::process::id(),
        })
    }

    fn open(path: &Path) -> io::Result<UnixDatagram> {
        let socket = UnixDatagram::unbound()?;
        socket.connect(path)?;
        Ok(socket)
    }

    /// Sends one message; reconnects once if the syslog daemon was restarted. A log line
    /// that cannot be delivered is dropped: logging never stops the daemon.
    fn send(&self, severity: u8, message: &[u8]) {
        let mut datagram =
            format!("<{}>vrrpd[{}]: ", FACILITY_DAEMON * 8 + severity, self.pid).into_bytes();
        datagram.extend_from_slice(message.trim_ascii_end());
        let Ok(mut socket) = self.socket.lock() else {
            return;
        };
        if socket.send(&datagram).is_err()
            && let Ok(fresh) = Self::open(&self.path)
        {
            *socket = fresh;
            let _ = socket.send(&datagram);
        }
    }
}

/// syslog severity of a `tracing` level.
fn severity(level: &Level) -> u8 {
    match *level {
        Level::ERROR => 3,
        Level::WARN => 4,
        Level::INFO => 6,
        _ => 7,
    }
}

/// One event's formatted text, sent as one datagram when the formatter is done with it.
#[derive(Debug)]
struct SyslogLine<'a> {
    syslog: &'a Syslog,
    severity: u8,
    buffer: Vec<u8>,
}

impl io::Write for SyslogLine<'_> {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.buffer.extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for SyslogLine<'_> {
    fn drop(&mut self) {
        if !self.buffer.is_empty() {
            self.syslog.send(self.severity, &self.buffer);
        }
    }
}

impl<'a> MakeWriter<'a> for Syslog {
    type Writer = SyslogLine<'a>;

    fn make_writer(&'a self) -> Self::Writer {
        SyslogLine {
            syslog: self,
            severity: severity(&Level::INFO),
            buffer: Vec::new(),
        }
    }

    fn make_writer_for(&'a self, meta: &Metadata<'_>) -> Self::Writer {
        SyslogLine {
            syslog: self,
            severity: severity(meta.level()),
            buffer: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn syslog_priorities_are_facility_daemon_with_the_level_severity() {
        assert_eq!(FACILITY_DAEMON * 8 + severity(&Level::ERROR), 27);
        assert_eq!(FACILITY_DAEMON * 8 + severity(&Level::WARN), 28);
        assert_eq!(FACILITY_DAEMON * 8 + severity(&Level::INFO), 30);
        assert_eq!(FACILITY_DAEMON * 8 + severity(&Level::DEBUG), 31);
    }

    #[test]
    fn one_event_is_one_datagram() {
        let dir = std::env::temp_dir().join(format!("vrrpd-syslog-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("a scratch folder");
        let path = dir.join("log");
        let server = UnixDatagram::bind(&path).expect("a datagram socket");
        let syslog = Syslog::connect(&path).expect("connects");
        {
            let mut line = syslog.make_writer();
            io::Write::write_all(&mut line, b"(VI_1) Entering ").expect("buffered");
            io::Write::write_all(&mut line, b"MASTER STATE\n").expect("buffered");
        }
        let mut buffer = [0; 256];
        let n = server.recv(&mut buffer).expect("one datagram");
        let text = String::from_utf8_lossy(&buffer[..n]);
        assert_eq!(
            text,
            format!(
                "<30>vrrpd[{}]: (VI_1) Entering MASTER STATE",
                std::process::id()
            )
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
