//! The I/O side of health checks: runs each `vrrp_script` every `interval` (a run still
//! going when the next is due is not started twice, as keepalived skips it), with its
//! timeout, and reads tracked files once a second. Results go to the controller as
//! [`Input`]s over a channel; nothing here waits on the controller or blocks it.
//!
//! A script runs as `/bin/sh -c COMMAND` in its own process group, as its `user` (else
//! `script_user`), stdin/stdout/stderr on /dev/null. At its timeout (default: its interval)
//! the group gets SIGTERM, 2 s later SIGKILL (keepalived's `vrrp_script_child_thread`); a
//! timeout counts as a failure. Every child is reaped.
use std::{collections::HashMap, process::Stdio, time::Duration};

use tokio::{sync::mpsc, task::JoinHandle, time::MissedTickBehavior};

use crate::{config::Config, controller::Input, tracking::file_value};

/// How long a script has after SIGTERM before SIGKILL (keepalived: 2 s).
const TERM_GRACE: Duration = Duration::from_secs(2);
/// How often tracked files are read.
const FILE_POLL: Duration = Duration::from_secs(1);

/// A user's uid and gid from /etc/passwd (no NSS: local users only).
pub fn user_ids(name: &str) -> Option<(u32, u32)> {
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|line| {
        let fields: Vec<&str> = line.split(':').collect();
        match fields.as_slice() {
            [n, _, uid, gid, ..] if *n == name => Some((uid.parse().ok()?, gid.parse().ok()?)),
            _ => None,
        }
    })
}

/// `/bin/sh -c COMMAND` in its own process group, as `user` when given.
pub fn command(line: &str, user: Option<&str>) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new("/bin/sh");
    cmd.arg("-c")
        .arg(line)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .kill_on_drop(false);
    if let Some(user) = user {
        match user_ids(user) {
            Some((uid, gid)) => {
                cmd.uid(uid).gid(gid);
            }
            None => tracing::warn!("script user `{user}` is unknown; running `{line}` as vrrpd"),
        }
    }
    cmd
}

/// Signals process group `pgid` (the script and whatever it started), with kill(1): the
/// shell keeps `unsafe` out of this module.
fn signal_group(pgid: u32, signal: &str) {
    let _ = std::process::Command::new("kill")
        .args(["-s", signal, "--", &format!("-{pgid}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// Runs `line` once; `true` when it exits 0 before `timeout`. A script still running at
/// its timeout is terminated (SIGTERM, then SIGKILL) and reaped, and fails.
pub async fn run_once(name: &str, line: &str, user: Option<&str>, timeout: Duration) -> bool {
    let mut child = match command(line, user).spawn() {
        Ok(child) => child,
        Err(error) => {
            tracing::warn!("VRRP_Script({name}) cannot start `{line}`: {error}");
            return false;
        }
    };
    match tokio::time::timeout(timeout, child.wait()).await {
        Ok(Ok(status)) => status.success(),
        Ok(Err(error)) => {
            tracing::warn!("VRRP_Script({name}) waiting failed: {error}");
            false
        }
        Err(_) => {
            tracing::info!("VRRP_Script({name}) timed out");
            if let Some(pid) = child.id() {
                signal_group(pid, "TERM");
                if tokio::time::timeout(TERM_GRACE, child.wait())
                    .await
                    .is_err()
                {
                    tracing::warn!("Process [{pid}] didn't respond to SIGTERM");
                    signal_group(pid, "KILL");
                    let _ = child.start_kill();
                    let _ = child.wait().await;
                }
            }
            false
        }
    }
}

/// The running checks of one configuration.
#[derive(Debug, Default)]
pub struct Checks {
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for Checks {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

impl Checks {
    /// Starts a task per script that some instance or group tracks, and the file reader;
    /// results go to `tx`.
    pub fn start(config: &Config, tx: &mpsc::UnboundedSender<Input>) -> Self {
        let mut tasks = Vec::new();
        let used = |name: &str| {
            config
                .instances
                .iter()
                .flat_map(|i| &i.track_scripts)
                .chain(config.sync_groups.iter().flat_map(|g| &g.track_scripts))
                .any(|t| t.name == name)
        };
        for s in config.scripts.iter().filter(|s| used(&s.name)) {
            let (name, line) = (s.name.clone(), s.command.clone());
            let user = s.user.clone().or_else(|| config.global.script_user.clone());
            let interval = s.interval.as_duration().max(Duration::from_millis(10));
            let timeout = s
                .timeout
                .map(|t| t.as_duration())
                .filter(|t| !t.is_zero())
                .unwrap_or(interval);
            let tx = tx.clone();
            tasks.push(tokio::spawn(async move {
                let mut ticks = tokio::time::interval(interval);
                ticks.set_missed_tick_behavior(MissedTickBehavior::Skip);
                loop {
                    ticks.tick().await;
                    let ok = run_once(&name, &line, user.as_deref(), timeout).await;
                    let input = Input::Script {
                        name: name.clone(),
                        ok,
                    };
                    if tx.send(input).is_err() {
                        return;
                    }
                }
            }));
        }
        let files: Vec<(String, String)> = config
            .track_files
            .iter()
            .map(|f| (f.name.clone(), f.file.clone()))
            .collect();
        if !files.is_empty() {
            let tx = tx.clone();
            tasks.push(tokio::spawn(async move {
                let mut last: HashMap<String, i64> = HashMap::new();
                let mut ticks = tokio::time::interval(FILE_POLL);
                loop {
                    ticks.tick().await;
                    for (name, path) in &files {
                        // A few bytes once a second: read in place.
                        let value =
                            std::fs::read_to_string(path).map_or(0, |text| file_value(&text));
                        if last.get(name) != Some(&value) {
                            last.insert(name.clone(), value);
                            let input = Input::File {
                                name: name.clone(),
                                value,
                            };
                            if tx.send(input).is_err() {
                                return;
                            }
                        }
                    }
                }
            }));
        }
        Self { tasks }
    }
}

/// The daemon's side of the checks: one channel for the results of every configuration
/// the daemon runs, and the checks of the current one (a reload starts them again).
#[derive(Debug)]
pub struct Runner {
    tx: mpsc::UnboundedSender<Input>,
    rx: Option<mpsc::UnboundedReceiver<Input>>,
    checks: Checks,
}

impl Default for Runner {
    fn default() -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        Self {
            tx,
            rx: Some(rx),
            checks: Checks::default(),
        }
    }
}

impl Runner {
    /// Runs `config`'s checks (the previous ones stop).
    pub fn start(&mut self, config: &Config) {
        self.checks = Checks::start(config, &self.tx);
    }

    /// Where the results arrive (once).
    pub fn results(&mut self) -> Option<mpsc::UnboundedReceiver<Input>> {
        self.rx.take()
    }
}

/// keepalived's `notify_fifo`: created when missing (mkfifo(1)), opened read-write and
/// non-blocking so that no reader never blocks the daemon (a full FIFO drops lines).
pub fn open_fifo(path: &str) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    if !std::path::Path::new(path).exists() {
        let status = std::process::Command::new("mkfifo")
            .args(["-m", "0600", path])
            .status()?;
        if !status.success() {
            return Err(std::io::Error::other(format!("mkfifo {path}: {status}")));
        }
    }
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
}

/// Starts a notify command without waiting for it; a task reaps it.
pub fn notify(line: &str, user: Option<&str>) {
    let mut cmd = command(line, user);
    match cmd.spawn() {
        Ok(mut child) => {
            let line = line.to_owned();
            tokio::spawn(async move {
                if let Ok(status) = child.wait().await
                    && !status.success()
                {
                    tracing::warn!("notify `{line}` exited with {status}");
                }
            });
        }
        Err(error) => tracing::warn!("notify `{line}` failed to start: {error}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_script_passes_fails_and_a_hung_one_is_killed() {
        assert!(run_once("t", "exit 0", None, Duration::from_secs(5)).await);
        assert!(!run_once("t", "exit 3", None, Duration::from_secs(5)).await);
        let started = std::time::Instant::now();
        assert!(!run_once("t", "sleep 30", None, Duration::from_millis(200)).await);
        // Liveness bound only: well before the sleep would end.
        assert!(started.elapsed() < Duration::from_secs(20));
    }
}
