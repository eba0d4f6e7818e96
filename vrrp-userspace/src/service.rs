//! systemd's service protocol (`sd_notify(3)`) without libsystemd: `READY=1` once the
//! daemon takes part in elections, `RELOADING=1` then `READY=1` around a reload,
//! `STOPPING=1` when it leaves, and `WATCHDOG=1` at half the interval systemd asks for
//! (`WatchdogSec=` in the unit). Nothing is sent unless systemd set `NOTIFY_SOCKET`; a
//! failed send is logged once and never stops the daemon.
use std::{
    io,
    os::unix::net::{SocketAddr, UnixDatagram},
    sync::atomic::{AtomicBool, Ordering},
    time::Duration,
};

/// Where systemd listens, and how often it wants a sign of life.
#[derive(Debug)]
pub struct Notifier {
    target: Option<(UnixDatagram, SocketAddr)>,
    watchdog: Option<Duration>,
    failed: AtomicBool,
}

impl Notifier {
    /// From the environment systemd gives a `Type=notify` service (`NOTIFY_SOCKET`,
    /// `WATCHDOG_USEC`, `WATCHDOG_PID`). Notify scripts inherit the variables; with the
    /// unit's `NotifyAccess=main` systemd ignores anything they might send.
    pub fn from_env() -> Self {
        let socket = std::env::var("NOTIFY_SOCKET").ok();
        let watchdog_for_us = std::env::var("WATCHDOG_PID")
            .ok()
            .is_none_or(|pid| pid.trim() == std::process::id().to_string());
        let watchdog = std::env::var("WATCHDOG_USEC")
            .ok()
            .filter(|_| watchdog_for_us);
        Self::new(socket.as_deref(), watchdog.as_deref())
    }

    /// `socket`: `NOTIFY_SOCKET` (a path, or `@name` for an abstract socket);
    /// `watchdog_usec`: `WATCHDOG_USEC`.
    pub fn new(socket: Option<&str>, watchdog_usec: Option<&str>) -> Self {
        let target = socket.and_then(|s| {
            let address = match s.strip_prefix('@') {
                Some(name) => {
                    use std::os::linux::net::SocketAddrExt as _;
                    SocketAddr::from_abstract_name(name.as_bytes())
                }
                None => SocketAddr::from_pathname(s),
            };
            match (UnixDatagram::unbound(), address) {
                (Ok(socket), Ok(address)) => Some((socket, address)),
                (Err(e), _) | (_, Err(e)) => {
                    tracing::warn!("NOTIFY_SOCKET {s}: {e}; not telling systemd our state");
                    None
                }
            }
        });
        let watchdog = watchdog_usec
            .and_then(|u| u.trim().parse::<u64>().ok())
            .filter(|u| *u > 0)
            .map(|u| Duration::from_micros(u) / 2);
        Self {
            target,
            watchdog,
            failed: AtomicBool::new(false),
        }
    }

    /// How often [`Notifier::watchdog`] must be called (half systemd's interval).
    pub fn watchdog_interval(&self) -> Option<Duration> {
        self.target.as_ref().and(self.watchdog)
    }

    /// Startup is done: every instance runs.
    pub fn ready(&self, status: &str) {
        self.send(&format!(
            "READY=1\nSTATUS={status}\nMAINPID={}",
            std::process::id()
        ));
    }

    /// A reload begins (`READY=1` ends it).
    pub fn reloading(&self) {
        let now = crate::sys::monotonic_ns() / 1000;
        self.send(&format!("RELOADING=1\nMONOTONIC_USEC={now}"));
    }

    /// The daemon is leaving.
    pub fn stopping(&self) {
        self.send("STOPPING=1");
    }

    /// A sign of life for `WatchdogSec=`.
    pub fn watchdog(&self) {
        self.send("WATCHDOG=1");
    }

    fn send(&self, message: &str) {
        let Some((socket, address)) = &self.target else {
            return;
        };
        if let Err(e) = socket.send_to_addr(message.as_bytes(), address) {
            self.report(&e);
        }
    }

    fn report(&self, e: &io::Error) {
        if !self.failed.swap(true, Ordering::Relaxed) {
            tracing::warn!("telling systemd our state failed: {e} (not repeated)");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn receive(socket: &UnixDatagram) -> String {
        let mut buf = [0u8; 256];
        let n = socket.recv(&mut buf).expect("a message");
        String::from_utf8_lossy(&buf[..n]).into_owned()
    }

    #[test]
    fn messages_reach_the_socket_systemd_named() {
        let dir = std::env::temp_dir().join(format!("vrrpd-notify-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("a folder");
        let path = dir.join("notify");
        let _ = std::fs::remove_file(&path);
        let systemd = UnixDatagram::bind(&path).expect("a socket");
        let notifier = Notifier::new(path.to_str(), Some("10000000"));
        assert_eq!(notifier.watchdog_interval(), Some(Duration::from_secs(5)));
        notifier.ready("4 instances");
        let ready = receive(&systemd);
        assert!(
            ready.starts_with("READY=1\nSTATUS=4 instances\nMAINPID="),
            "{ready}"
        );
        notifier.reloading();
        assert!(receive(&systemd).starts_with("RELOADING=1\nMONOTONIC_USEC="));
        notifier.watchdog();
        assert_eq!(receive(&systemd), "WATCHDOG=1");
        notifier.stopping();
        assert_eq!(receive(&systemd), "STOPPING=1");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn abstract_sockets_are_reached_too() {
        use std::os::linux::net::SocketAddrExt as _;
        let name = format!("vrrpd-notify-test-{}", std::process::id());
        let address = SocketAddr::from_abstract_name(name.as_bytes()).expect("a name");
        let systemd = UnixDatagram::bind_addr(&address).expect("a socket");
        Notifier::new(Some(&format!("@{name}")), None).stopping();
        assert_eq!(receive(&systemd), "STOPPING=1");
    }

    #[test]
    fn without_systemd_nothing_is_sent_and_no_watchdog_is_kept() {
        let notifier = Notifier::new(None, Some("10000000"));
        assert_eq!(notifier.watchdog_interval(), None);
        notifier.ready("x");
        assert!(!notifier.failed.load(Ordering::Relaxed));
    }
}
