//! The live lab: directors and clients in network namespaces, joined by bridges in a switch
//! namespace, each director running vrrpd or a real keepalived 2.2.7; VIP inspection,
//! daemon logs, packet captures on the switch, and one lock so that timed tests never share
//! the CPU with each other.
//!
//! Everything here cleans up on drop, also when the test panics: namespaces (with their
//! links), daemons (SIGTERM, then SIGKILL of keepalived's VRRP child and the parent),
//! captures, scratch folders. A missing prerequisite (root, keepalived, tcpdump, the vrrpd
//! binary) is an error saying how to get it, never a skip.
use std::{
    collections::BTreeSet,
    fs::File,
    net::IpAddr,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::atomic::{AtomicU32, Ordering},
    thread,
    time::{Duration, Instant},
};

use anyhow::{Context as _, bail, ensure};

use crate::{NetNs, ip};

/// How long [`Topology::expect`] waits for a VIP distribution.
pub const EXPECT_TIMEOUT: Duration = Duration::from_secs(15);

/// The keepalived release the live tests compare against.
pub const KEEPALIVED_VERSION: &str = "Keepalived v2.2.7";

static NEXT: AtomicU32 = AtomicU32::new(0);

/// The repository's root (paths in the tests are relative to it).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The vrrpd binary: `$VRRPD_BIN`, else `target/debug/vrrpd`.
pub fn vrrpd_bin() -> anyhow::Result<PathBuf> {
    let bin = std::env::var_os("VRRPD_BIN")
        .map_or_else(|| repo_root().join("target/debug/vrrpd"), PathBuf::from);
    ensure!(
        bin.exists(),
        "{} is missing: build vrrpd first (cargo build)",
        bin.display()
    );
    Ok(bin)
}

/// Fails unless `keepalived --version` is [`KEEPALIVED_VERSION`].
pub fn require_keepalived() -> anyhow::Result<()> {
    let out = Command::new("keepalived")
        .arg("--version")
        .output()
        .context("keepalived is not installed: `cargo xtask setup` installs keepalived 2.2.7")?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let version = text.lines().next().unwrap_or("").trim();
    ensure!(
        version.starts_with(KEEPALIVED_VERSION),
        "found `{version}`: the live tests compare vrrpd with {KEEPALIVED_VERSION} \
         (`cargo xtask setup` installs it)"
    );
    Ok(())
}

/// Fails unless tcpdump is installed.
pub fn require_tcpdump() -> anyhow::Result<()> {
    Command::new("tcpdump")
        .arg("--version")
        .output()
        .context("tcpdump is not installed: `cargo xtask setup` installs it")?;
    Ok(())
}

/// `nft` (nftables), which [`Topology::mute_adverts`] needs.
pub fn require_nft() -> anyhow::Result<()> {
    Command::new("nft").arg("--version").output().context(
        "nft is not installed: `cargo xtask setup` installs it (Debian package nftables)",
    )?;
    Ok(())
}

/// Held while a lab test runs: elections are timed and share two cores badly, so lab tests
/// run one at a time, also across test binaries (an exclusive `flock` on a file in the
/// temporary folder; released when the guard drops or the process dies).
#[derive(Debug)]
pub struct OneAtATime {
    _file: File,
}

/// Waits for the lab lock.
pub fn one_at_a_time() -> anyhow::Result<OneAtATime> {
    let path = std::env::temp_dir().join("vrrpd-lab.lock");
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("opening {}", path.display()))?;
    file.lock()
        .with_context(|| format!("locking {}", path.display()))?;
    Ok(OneAtATime { _file: file })
}

/// A folder in the temporary folder, removed (with its contents) on drop.
#[derive(Debug)]
pub struct Scratch {
    path: PathBuf,
}

impl Scratch {
    pub fn new(tag: &str) -> anyhow::Result<Self> {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!("vrrpd-lab-{}-{n}-{tag}", std::process::id()));
        std::fs::create_dir_all(&path).with_context(|| format!("creating {}", path.display()))?;
        Ok(Self { path })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes `name` in the folder and returns its path.
    pub fn write(&self, name: &str, contents: &str) -> anyhow::Result<PathBuf> {
        let path = self.path.join(name);
        std::fs::write(&path, contents).with_context(|| format!("writing {}", path.display()))?;
        Ok(path)
    }

    /// Writes an executable shell script `name` that appends its arguments, as one line, to
    /// `name.log` (read it back with [`Scratch::lines`]).
    pub fn recorder(&self, name: &str) -> anyhow::Result<PathBuf> {
        let log = self.path.join(format!("{name}.log"));
        let path = self.write(
            name,
            &format!("#!/bin/sh\necho \"$*\" >> '{}'\n", log.display()),
        )?;
        let status = Command::new("chmod").arg("0755").arg(&path).status()?;
        ensure!(status.success(), "chmod {} failed", path.display());
        Ok(path)
    }

    /// The lines of `name` in the folder (none when it does not exist).
    pub fn lines(&self, name: &str) -> Vec<String> {
        std::fs::read_to_string(self.path.join(name))
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// The shape of a lab: segments (one bridge each), directors on every segment, clients.
#[derive(Debug, Clone, Copy)]
pub struct Layout<'a> {
    /// The /24 of each segment, as its first three octets (`"192.168.200"`). Segment `s` is
    /// bridge `br<s>` in the switch and `eth<s>` on every director.
    pub subnets: &'a [&'a str],
    /// Director `n` (from 0) has host address `5 + n` on every segment.
    pub directors: usize,
    /// The segment of each client; client `k` (from 0) is host `100 + k` on its `eth0`.
    pub clients: &'a [usize],
}

/// The namespaces of a [`Layout`]: a switch, the directors, the clients. Dropping it deletes
/// them with every link in them.
#[derive(Debug)]
pub struct Topology {
    // Directors and clients first: dropping their namespaces removes the veth pairs before
    // the switch goes.
    directors: Vec<NetNs>,
    clients: Vec<NetNs>,
    sw: NetNs,
}

impl Topology {
    pub fn new(tag: &str, layout: &Layout<'_>) -> anyhow::Result<Self> {
        let mut t = Self {
            directors: Vec::new(),
            clients: Vec::new(),
            sw: NetNs::new(&format!("{tag}sw"))?,
        };
        for (s, _) in layout.subnets.iter().enumerate() {
            let br = format!("br{s}");
            t.sw.ip(&["link", "add", &br, "type", "bridge"])?;
            t.sw.ip(&["link", "set", &br, "up"])?;
        }
        for n in 0..layout.directors {
            let d = NetNs::new(&format!("{tag}d{}", n + 1))?;
            for (s, subnet) in layout.subnets.iter().enumerate() {
                let eth = format!("eth{s}");
                t.plug(&d, &eth, &format!("d{}e{s}", n + 1), s)?;
                d.ip(&[
                    "addr",
                    "add",
                    &format!("{subnet}.{}/24", 5 + n),
                    "dev",
                    &eth,
                ])?;
            }
            t.directors.push(d);
        }
        for (k, &s) in layout.clients.iter().enumerate() {
            let subnet = layout
                .subnets
                .get(s)
                .with_context(|| format!("client {k} is on segment {s}, which does not exist"))?;
            let c = NetNs::new(&format!("{tag}c{}", k + 1))?;
            t.plug(&c, "eth0", &format!("c{}e0", k + 1), s)?;
            c.ip(&[
                "addr",
                "add",
                &format!("{subnet}.{}/24", 100 + k),
                "dev",
                "eth0",
            ])?;
            t.clients.push(c);
        }
        Ok(t)
    }

    /// A veth pair: `eth` in `ns` (up), `peer` in the switch, enslaved to `br<segment>` (up).
    fn plug(&self, ns: &NetNs, eth: &str, peer: &str, segment: usize) -> anyhow::Result<()> {
        ip(&[
            "link",
            "add",
            eth,
            "netns",
            ns.name(),
            "type",
            "veth",
            "peer",
            "name",
            peer,
            "netns",
            self.sw.name(),
        ])?;
        self.sw
            .ip(&["link", "set", peer, "master", &format!("br{segment}"), "up"])?;
        ns.ip(&["link", "set", eth, "up"])
    }

    /// Deletes `eth<segment>` of director `n` (its veth peer in the switch goes with it).
    pub fn unplug(&self, n: usize, segment: usize) -> anyhow::Result<()> {
        self.directors[n].ip(&["link", "del", &format!("eth{segment}")])
    }

    /// Creates `eth<segment>` of director `n` again after [`Topology::unplug`], on the same
    /// bridge, with `address` (`10.0.5.5/24`), up.
    pub fn replug(&self, n: usize, segment: usize, address: &str) -> anyhow::Result<()> {
        let eth = format!("eth{segment}");
        let d = &self.directors[n];
        ip(&[
            "link",
            "add",
            &eth,
            "netns",
            d.name(),
            "type",
            "veth",
            "peer",
            "name",
            &format!("d{}e{segment}", n + 1),
            "netns",
            self.sw.name(),
        ])?;
        self.sw.ip(&[
            "link",
            "set",
            &format!("d{}e{segment}", n + 1),
            "master",
            &format!("br{segment}"),
            "up",
        ])?;
        d.ip(&["addr", "add", address, "dev", &eth])?;
        d.ip(&["link", "set", &eth, "up"])
    }

    /// The switch namespace (bridge `br<s>` per segment).
    pub fn switch(&self) -> &NetNs {
        &self.sw
    }

    /// Director `n`, from 0.
    pub fn director(&self, n: usize) -> &NetNs {
        &self.directors[n]
    }

    /// Client `k`, from 0.
    pub fn client(&self, k: usize) -> &NetNs {
        &self.clients[k]
    }

    /// Sets `eth` of director `n` up or down.
    pub fn set_link(&self, n: usize, eth: &str, up: bool) -> anyhow::Result<()> {
        self.directors[n].ip(&["link", "set", eth, if up { "up" } else { "down" }])
    }

    /// Stops (`muted`) or lets through again the VRRP adverts (IP protocols 112 and 51) the
    /// switch forwards *to* director `n` on segment `segment`: with both directors muted
    /// the segment is split (each side still up, hearing no one); unmuting one side first
    /// heals it in one direction only. An nftables set of muted ports in the switch's
    /// bridge `forward` hook; a capture on the bridge still sees every advert sent.
    pub fn mute_adverts(&self, n: usize, segment: usize, muted: bool) -> anyhow::Result<()> {
        require_nft()?;
        let nft = |rule: &str| -> anyhow::Result<()> { self.sw.exec(&["nft", rule]).map(|_| ()) };
        if !self
            .sw
            .exec(&["nft", "list", "tables"])?
            .contains("bridge lab")
        {
            nft("add table bridge lab")?;
            nft("add set bridge lab muted { type ifname; }")?;
            nft(
                "add chain bridge lab forward { type filter hook forward priority 0; policy accept; }",
            )?;
            nft("add rule bridge lab forward oifname @muted ip protocol { 51, 112 } drop")?;
        }
        let port = format!("d{}e{segment}", n + 1);
        let verb = if muted { "add" } else { "delete" };
        nft(&format!("{verb} element bridge lab muted {{ \"{port}\" }}"))
    }

    /// The IPv4 /32 addresses (VIPs) director `n` holds, on any interface.
    pub fn vips(&self, n: usize) -> anyhow::Result<BTreeSet<String>> {
        let out = self.directors[n].exec(&["ip", "-4", "-o", "addr", "show"])?;
        Ok(out
            .split_whitespace()
            .filter_map(|w| w.strip_suffix("/32"))
            .map(str::to_owned)
            .collect())
    }

    /// The MAC address of `eth` on director `n`.
    pub fn mac(&self, n: usize, eth: &str) -> anyhow::Result<String> {
        let link = self.directors[n].exec(&["ip", "-o", "link", "show", eth])?;
        link.split_whitespace()
            .skip_while(|w| *w != "link/ether")
            .nth(1)
            .map(str::to_owned)
            .with_context(|| format!("no MAC on {eth}"))
    }

    /// Waits (at most [`EXPECT_TIMEOUT`]) until director `n` holds exactly `want[n]`, for
    /// every director; the error shows what each holds and the tails of `logs`.
    pub fn expect(&self, step: &str, want: &[&[&str]], logs: &[&Daemon]) -> anyhow::Result<()> {
        self.expect_within(step, want, logs, EXPECT_TIMEOUT)
            .map(|_| ())
    }

    /// [`Topology::expect`] with its own bound; returns how long the distribution took.
    pub fn expect_within(
        &self,
        step: &str,
        want: &[&[&str]],
        logs: &[&Daemon],
        timeout: Duration,
    ) -> anyhow::Result<Duration> {
        ensure!(
            want.len() == self.directors.len(),
            "{step}: {} expected VIP sets for {} directors",
            want.len(),
            self.directors.len()
        );
        let want: Vec<BTreeSet<String>> = want
            .iter()
            .map(|v| v.iter().map(|s| (*s).to_owned()).collect())
            .collect();
        let start = Instant::now();
        loop {
            let got = (0..self.directors.len())
                .map(|n| self.vips(n))
                .collect::<anyhow::Result<Vec<_>>>()?;
            if got == want {
                return Ok(start.elapsed());
            }
            if start.elapsed() > timeout {
                let holds: Vec<String> = got
                    .iter()
                    .enumerate()
                    .map(|(n, g)| format!("director {} holds {g:?}", n + 1))
                    .collect();
                let expected: Vec<String> = want
                    .iter()
                    .enumerate()
                    .map(|(n, w)| format!("director {} {w:?}", n + 1))
                    .collect();
                bail!(
                    "{step}: {}; expected {} (after {timeout:?})\n{}",
                    holds.join(", "),
                    expected.join(", "),
                    tails(logs)
                );
            }
            thread::sleep(Duration::from_millis(100));
        }
    }

    /// Waits (at most 10 s) until client `k` pings `vip` and its neighbour entry for it is
    /// `mac`.
    pub fn client_reaches(&self, k: usize, vip: &str, mac: &str) -> anyhow::Result<()> {
        let client = &self.clients[k];
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let ping = client.exec(&["ping", "-c", "1", "-W", "1", vip]).is_ok();
            let neigh = client
                .exec(&["ip", "neigh", "show", vip])
                .unwrap_or_default();
            if ping && neigh.contains(mac) {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!(
                    "client {}: ping {vip} ok={ping}, neighbour entry `{}`, expected {mac}",
                    k + 1,
                    neigh.trim()
                );
            }
            thread::sleep(Duration::from_millis(200));
        }
    }
}

/// The last lines of each daemon's log, for error messages.
pub fn tails(logs: &[&Daemon]) -> String {
    logs.iter().map(|d| d.tail()).collect::<Vec<_>>().join("\n")
}

/// Which daemon runs on a director.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Vrrpd,
    Keepalived,
}

impl std::fmt::Display for Side {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Vrrpd => "vrrpd",
            Self::Keepalived => "keepalived",
        })
    }
}

/// vrrpd or keepalived in a director's namespace, logging to a file (keepalived's console
/// output goes to the file; this build of keepalived has no `--log-file`); stopped on drop.
#[derive(Debug)]
pub struct Daemon {
    child: Child,
    log: PathBuf,
    side: Side,
    run_dir: PathBuf,
    /// The command line, program first, for [`Daemon::restart`].
    argv: Vec<std::ffi::OsString>,
}

impl Daemon {
    /// Starts `side` with `config` (relative to the repository root, or absolute); vrrpd
    /// reads YAML or keepalived.conf, keepalived only the latter.
    pub fn start(side: Side, ns: &NetNs, config: impl AsRef<Path>) -> anyhow::Result<Self> {
        match side {
            Side::Vrrpd => Self::vrrpd(ns, config),
            Side::Keepalived => Self::keepalived(ns, config),
        }
    }

    /// `vrrpd run` with a control socket and pid file of its own.
    pub fn vrrpd(ns: &NetNs, config: impl AsRef<Path>) -> anyhow::Result<Self> {
        Self::vrrpd_with(ns, config, &[])
    }

    /// `vrrpd run` as [`Daemon::vrrpd`] starts it, with `extra` arguments after the others
    /// (`--metrics-listen ADDR:PORT`).
    pub fn vrrpd_with(
        ns: &NetNs,
        config: impl AsRef<Path>,
        extra: &[&str],
    ) -> anyhow::Result<Self> {
        let bin = vrrpd_bin()?;
        let config = repo_root().join(config);
        Self::spawn(ns, Side::Vrrpd, |dir| {
            let mut c = Command::new("ip");
            c.args(["netns", "exec", ns.name()])
                .arg(&bin)
                .args(["run", "--config"])
                .arg(&config)
                .arg("--socket")
                .arg(dir.join("vrrpd.sock"))
                .arg("--pidfile")
                .arg(dir.join("vrrpd.pid"))
                .args(extra);
            c
        })
    }

    /// keepalived's VRRP subsystem in the foreground, detailed logs, no syslog.
    pub fn keepalived(ns: &NetNs, config: impl AsRef<Path>) -> anyhow::Result<Self> {
        require_keepalived()?;
        let config = repo_root().join(config);
        Self::spawn(ns, Side::Keepalived, |dir| {
            let mut c = Command::new("ip");
            c.args([
                "netns",
                "exec",
                ns.name(),
                "keepalived",
                "--dont-fork",
                "--log-console",
                "--no-syslog",
                "--log-detail",
                "--vrrp",
            ])
            .arg("--use-file")
            .arg(&config)
            .arg("--pid")
            .arg(dir.join("keepalived.pid"))
            .arg("--vrrp_pid")
            .arg(dir.join("vrrp.pid"));
            c
        })
    }

    fn spawn(
        ns: &NetNs,
        side: Side,
        command: impl FnOnce(&Path) -> Command,
    ) -> anyhow::Result<Self> {
        let dir = std::env::temp_dir().join(format!("vrrpd-lab-{}", ns.name()));
        std::fs::create_dir_all(&dir)?;
        let log = dir.join(format!("{side}.log"));
        let file = File::create(&log)?;
        let mut command = command(&dir);
        let argv = std::iter::once(command.get_program())
            .chain(command.get_args())
            .map(ToOwned::to_owned)
            .collect();
        let child = command
            .stdin(Stdio::null())
            .stdout(file.try_clone()?)
            .stderr(file)
            .spawn()
            .with_context(|| format!("starting {side} in {}", ns.name()))?;
        Ok(Self {
            child,
            log,
            side,
            run_dir: dir,
            argv,
        })
    }

    /// Starts the daemon again after [`Daemon::crash`], as its supervisor would: the same
    /// command line in the same run folder (the crashed run's pid files and control socket
    /// are still there), its log appended to the crashed run's.
    pub fn restart(&mut self) -> anyhow::Result<()> {
        ensure!(
            self.child.try_wait()?.is_some(),
            "{} is still running: crash or stop it first",
            self.side
        );
        let (program, args) = self.argv.split_first().context("no command line")?;
        let file = File::options().append(true).open(&self.log)?;
        self.child = Command::new(program)
            .args(args)
            .stdin(Stdio::null())
            .stdout(file.try_clone()?)
            .stderr(file)
            .spawn()
            .with_context(|| format!("restarting {}", self.side))?;
        Ok(())
    }

    pub fn side(&self) -> Side {
        self.side
    }

    /// The daemon's log file.
    pub fn log(&self) -> &Path {
        &self.log
    }

    /// The whole log.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// `vrrpd status --json` of this daemon, one object per instance.
    pub fn status(&self) -> anyhow::Result<Vec<serde_json::Value>> {
        ensure!(
            self.side == Side::Vrrpd,
            "`vrrpd status` asked of keepalived"
        );
        let out = Command::new(vrrpd_bin()?)
            .args(["status", "--json", "--socket"])
            .arg(self.run_dir.join("vrrpd.sock"))
            .output()?;
        ensure!(
            out.status.success(),
            "vrrpd status: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| Ok(serde_json::from_str(l)?))
            .collect()
    }

    /// `vrrpd status` of this daemon as an operator reads it (text).
    pub fn status_text(&self) -> anyhow::Result<String> {
        ensure!(
            self.side == Side::Vrrpd,
            "`vrrpd status` asked of keepalived"
        );
        let out = Command::new(vrrpd_bin()?)
            .args(["status", "--socket"])
            .arg(self.run_dir.join("vrrpd.sock"))
            .output()?;
        ensure!(
            out.status.success(),
            "vrrpd status: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// `vrrpd reload` of this daemon (its control socket): the command's output, whatever
    /// its exit status.
    pub fn reload(&self) -> anyhow::Result<std::process::Output> {
        ensure!(
            self.side == Side::Vrrpd,
            "`vrrpd reload` asked of keepalived"
        );
        Ok(Command::new(vrrpd_bin()?)
            .args(["reload", "--socket"])
            .arg(self.run_dir.join("vrrpd.sock"))
            .output()?)
    }

    /// `(name, state)` of each instance, from `vrrpd status`.
    pub fn states(&self) -> anyhow::Result<Vec<(String, String)>> {
        Ok(self
            .status()?
            .iter()
            .map(|s| {
                (
                    s["name"].as_str().unwrap_or("").to_owned(),
                    s["state"].as_str().unwrap_or("").to_owned(),
                )
            })
            .collect())
    }

    /// The last 25 lines of the log, headed by its path.
    pub fn tail(&self) -> String {
        let text = self.log_text();
        let lines: Vec<&str> = text.lines().collect();
        format!(
            "--- {}:\n{}",
            self.log.display(),
            lines[lines.len().saturating_sub(25)..].join("\n")
        )
    }

    /// SIGSTOP to the daemon (and keepalived's VRRP child): to its peers it dies without a
    /// word (no priority-0 advert), but it can be thawed and stopped cleanly afterwards.
    pub fn freeze(&self) -> anyhow::Result<()> {
        self.signal("-STOP")
    }

    /// SIGCONT after [`Daemon::freeze`].
    pub fn thaw(&self) -> anyhow::Result<()> {
        self.signal("-CONT")
    }

    fn signal(&self, signal: &str) -> anyhow::Result<()> {
        let mut pids = vec![self.child.id().to_string()];
        if let Ok(pid) = std::fs::read_to_string(self.run_dir.join("vrrp.pid")) {
            pids.push(pid.trim().to_owned());
        }
        let status = Command::new("kill").arg(signal).args(&pids).status()?;
        ensure!(status.success(), "kill {signal} {pids:?}: {status}");
        Ok(())
    }

    /// SIGTERM, then wait (bounded) for a clean exit (keepalived's parent exits non-zero
    /// when its child stops on a signal: accepted).
    pub fn stop(&mut self) -> anyhow::Result<()> {
        self.stop_with("-TERM")
    }

    /// Sends `signal` (`"-QUIT"`) to the daemon's main process only (keepalived's parent
    /// forwards to its children), without waiting.
    pub fn kill(&self, signal: &str) -> anyhow::Result<()> {
        let status = Command::new("kill")
            .arg(signal)
            .arg(self.child.id().to_string())
            .status()?;
        ensure!(
            status.success(),
            "kill {signal} {}: {status}",
            self.child.id()
        );
        Ok(())
    }

    /// The daemon's process ids: the main process, then keepalived's VRRP child once its
    /// pid file is written.
    pub fn pids(&self) -> Vec<u32> {
        let mut pids = vec![self.child.id()];
        if let Ok(pid) = std::fs::read_to_string(self.run_dir.join("vrrp.pid"))
            && let Ok(pid) = pid.trim().parse()
        {
            pids.push(pid);
        }
        pids
    }

    /// The director dies without a word (no priority-0 advert, its VIPs left behind):
    /// every process stopped (SIGSTOP, until /proc says so: keepalived's parent must not
    /// respawn its VRRP child, nor the child hear of its parent's death), then SIGKILL,
    /// the VRRP child first; waits (bounded) until the main process is gone.
    pub fn crash(&mut self) -> anyhow::Result<()> {
        let pids = self.pids();
        let signal = |signal: &str, pid: u32| -> anyhow::Result<()> {
            let status = Command::new("kill")
                .arg(signal)
                .arg(pid.to_string())
                .status()?;
            ensure!(status.success(), "kill {signal} {pid}: {status}");
            Ok(())
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        for &pid in &pids {
            signal("-STOP", pid)?;
        }
        for &pid in &pids {
            while !std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .unwrap_or_default()
                .rsplit_once(')')
                .is_some_and(|(_, rest)| rest.trim_start().starts_with('T'))
            {
                ensure!(Instant::now() < deadline, "{pid} did not stop on SIGSTOP");
                thread::sleep(Duration::from_millis(1));
            }
        }
        for &pid in pids.iter().rev() {
            signal("-KILL", pid)?;
        }
        while self.child.try_wait()?.is_none() {
            ensure!(
                Instant::now() < deadline,
                "still running 10 s after SIGKILL"
            );
            thread::sleep(Duration::from_millis(10));
        }
        Ok(())
    }

    /// Whether the daemon's main process is still running.
    pub fn running(&mut self) -> anyhow::Result<bool> {
        Ok(self.child.try_wait()?.is_none())
    }

    /// [`Daemon::stop`] with another signal, which must end the daemon as cleanly.
    pub fn stop_with(&mut self, signal: &str) -> anyhow::Result<()> {
        if let Some(status) = self.child.try_wait()? {
            ensure!(
                status.success() || self.side == Side::Keepalived,
                "had already exited with {status}\n{}",
                self.tail()
            );
            return Ok(());
        }
        self.kill(signal)?;
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait()? {
                ensure!(
                    status.success() || self.side == Side::Keepalived,
                    "exited with {status} on {signal}\n{}",
                    self.tail()
                );
                return Ok(());
            }
            thread::sleep(Duration::from_millis(50));
        }
        bail!("did not stop within 10 s\n{}", self.tail())
    }

    /// Fails, quoting its log, if the daemon reported an authentication problem.
    pub fn ensure_no_auth_errors(&self) -> anyhow::Result<()> {
        let errors = self.auth_errors();
        ensure!(
            errors.is_empty(),
            "authentication errors in {}:\n{}",
            self.log().display(),
            errors.join("\n")
        );
        Ok(())
    }

    /// Authentication problems the daemon reported.
    pub fn auth_errors(&self) -> Vec<String> {
        self.log_text()
            .lines()
            .filter(|l| match self.side {
                // keepalived's receive errors (vrrp.c): bad ICV, SPI, replayed sequence,
                // PASS, auth type.
                Side::Keepalived => [
                    "IPSEC-AH : invalid",
                    "invalid IPSEC SPI",
                    "already processed",
                    "invalid passwd",
                    "auth, expecting",
                    "Invalid auth type",
                    "AH header but auth type",
                ]
                .iter()
                .any(|needle| l.contains(needle)),
                Side::Vrrpd => [
                    "bad_icv",
                    "bad_spi",
                    "replay",
                    "auth_mismatch",
                    "bad_password",
                    "bad_auth_type",
                    "hmac_budget",
                ]
                .iter()
                .any(|c| l.contains(&format!("{c}="))),
            })
            .map(str::to_owned)
            .collect()
    }
}

impl Drop for Daemon {
    /// Also on failure: SIGTERM (keepalived stops its VRRP child), then SIGKILL for both
    /// processes if they are still there.
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(self.child.id().to_string())
                .status();
            let deadline = Instant::now() + Duration::from_secs(3);
            while matches!(self.child.try_wait(), Ok(None)) && Instant::now() < deadline {
                thread::sleep(Duration::from_millis(50));
            }
        }
        if let Ok(pid) = std::fs::read_to_string(self.run_dir.join("vrrp.pid")) {
            let _ = Command::new("kill")
                .arg("-KILL")
                .arg(pid.trim())
                .stderr(Stdio::null())
                .status();
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.run_dir);
    }
}

/// A frame captured by [`Capture`], with its kernel timestamp.
#[derive(Debug, Clone)]
pub struct Captured {
    pub at: Duration,
    pub frame: Vec<u8>,
}

/// A VRRP advert seen on the wire, decoded with vrrpd's codec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeenAdvert {
    /// Capture timestamp (since the epoch).
    pub at: Duration,
    pub src: IpAddr,
    pub vrid: u8,
    pub priority: u8,
}

/// tcpdump on an interface of a namespace (usually a bridge of the switch), writing VRRP
/// and AH packets to a pcap file; killed on drop.
#[derive(Debug)]
pub struct Capture {
    child: Child,
    pcap: PathBuf,
    stderr: PathBuf,
}

impl Capture {
    /// Starts tcpdump on `iface` in `ns` for VRRP adverts (plain or in AH), writing into
    /// `dir`, and waits until it listens.
    pub fn start(ns: &NetNs, iface: &str, dir: &Path) -> anyhow::Result<Self> {
        Self::start_filtered(ns, iface, dir, "ip proto 112 or ip proto 51")
    }

    /// [`Capture::start`] with a tcpdump filter of the caller's (`"arp or ip proto 112"`).
    pub fn start_filtered(
        ns: &NetNs,
        iface: &str,
        dir: &Path,
        filter: &str,
    ) -> anyhow::Result<Self> {
        require_tcpdump()?;
        let pcap = dir.join(format!("{iface}.pcap"));
        let stderr = dir.join(format!("{iface}.tcpdump.log"));
        let child = Command::new("ip")
            .args(["netns", "exec", ns.name(), "tcpdump", "-i", iface])
            // Packet-buffered, full frames, microseconds, no name lookups; stay root so the
            // file in a root-owned folder stays writable.
            .args(["-U", "-n", "-s", "0", "-Z", "root"])
            .args(["--time-stamp-precision=micro", "-w"])
            .arg(&pcap)
            .arg(filter)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(File::create(&stderr)?)
            .spawn()
            .context("starting tcpdump")?;
        let mut capture = Self {
            child,
            pcap,
            stderr,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let said = std::fs::read_to_string(&capture.stderr).unwrap_or_default();
            if said.contains("listening on") {
                return Ok(capture);
            }
            if let Some(status) = capture.child.try_wait()? {
                bail!("tcpdump on {iface} exited with {status}: {said}");
            }
            if Instant::now() > deadline {
                bail!("tcpdump on {iface} not listening after 10 s: {said}");
            }
            thread::sleep(Duration::from_millis(50));
        }
    }

    /// Stops tcpdump (SIGINT: it flushes and exits) and returns the frames it wrote.
    pub fn finish(mut self) -> anyhow::Result<Vec<Captured>> {
        Command::new("kill")
            .arg("-INT")
            .arg(self.child.id().to_string())
            .status()?;
        let deadline = Instant::now() + Duration::from_secs(5);
        while self.child.try_wait()?.is_none() {
            ensure!(Instant::now() < deadline, "tcpdump did not stop within 5 s");
            thread::sleep(Duration::from_millis(50));
        }
        let file =
            File::open(&self.pcap).with_context(|| format!("opening {}", self.pcap.display()))?;
        let mut reader = pcap_file::pcap::PcapReader::new(file)
            .with_context(|| format!("reading {}", self.pcap.display()))?;
        let mut frames = Vec::new();
        while let Some(packet) = reader.next_packet() {
            let packet = packet?;
            frames.push(Captured {
                at: packet.timestamp,
                frame: packet.data.into_owned(),
            });
        }
        Ok(frames)
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The VRRP adverts among `frames` (anything else is skipped), in capture order.
pub fn adverts(frames: &[Captured]) -> Vec<SeenAdvert> {
    frames
        .iter()
        .filter_map(|c| {
            let frame = vrrpd::wire::frame::decode(&c.frame).ok()?;
            let advert = frame.advert.advert;
            Some(SeenAdvert {
                at: c.at,
                src: advert.ip.src(),
                vrid: advert.vrrp.vrid,
                priority: advert.vrrp.priority,
            })
        })
        .collect()
}

/// A gratuitous ARP seen on the wire: who announced which address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeenGarp {
    /// Capture timestamp (since the epoch).
    pub at: Duration,
    /// The announcing MAC (the ARP sender), as `ip link` prints it.
    pub mac: String,
    pub address: std::net::Ipv4Addr,
}

/// The gratuitous ARPs among `frames` (sender address = target address), in capture order.
pub fn gratuitous_arps(frames: &[Captured]) -> Vec<SeenGarp> {
    use vrrpd::wire::{arp, ethernet};
    frames
        .iter()
        .filter_map(|c| {
            let (eth, payload) = ethernet::Repr::parse(&c.frame).ok()?;
            if eth.ethertype != ethernet::ETHERTYPE_ARP {
                return None;
            }
            let arp = arp::Repr::parse(payload).ok()?;
            (arp.sender_ip == arp.target_ip).then(|| SeenGarp {
                at: c.at,
                mac: arp
                    .sender_mac
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect::<Vec<_>>()
                    .join(":"),
                address: arp.sender_ip,
            })
        })
        .collect()
}

/// The /32 addresses (VIPs) namespace `ns` holds, on any interface: `ip -n`, without
/// `netns exec` (which remounts /sys), a few ms per read for benchmarks that poll.
pub fn addresses(ns: &NetNs) -> anyhow::Result<BTreeSet<String>> {
    let out = Command::new("ip")
        .args(["-n", ns.name(), "-4", "-o", "addr", "show"])
        .output()?;
    ensure!(out.status.success(), "ip -n {} addr show failed", ns.name());
    Ok(String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .filter_map(|w| w.strip_suffix("/32"))
        .map(str::to_owned)
        .collect())
}

/// CPU time (utime + stime, all threads) of `pids` in seconds, from /proc/PID/stat.
pub fn cpu_seconds(pids: &[u32]) -> anyhow::Result<f64> {
    let tick = 100.0; // USER_HZ: /proc reports clock ticks of 1/100 s on Linux.
    let mut total = 0u64;
    for pid in pids {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .with_context(|| format!("reading /proc/{pid}/stat"))?;
        // Fields after the command name (which may contain spaces) in parentheses: state
        // is field 3, utime field 14, stime field 15.
        let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let field = |n: usize| -> anyhow::Result<u64> {
            Ok(fields
                .get(n - 3)
                .with_context(|| format!("/proc/{pid}/stat has no field {n}"))?
                .parse()?)
        };
        total += field(14)? + field(15)?;
    }
    Ok(total as f64 / tick)
}

/// The load averages (1, 5, 15 min) from /proc/loadavg, for benchmark reports.
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

/// The machine, for benchmark reports: `CPU model, N cores, M GiB, Linux RELEASE`.
pub fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let cores = thread::available_parallelism().map_or(0, |n| n.get());
    let memory = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines().next().map(|l| {
                l.split_whitespace()
                    .nth(1)
                    .unwrap_or("0")
                    .parse::<u64>()
                    .unwrap_or(0)
            })
        })
        .map_or(0, |kb| kb / 1024 / 1024);
    format!(
        "{cpu}, {cores} cores, {memory} GiB, Linux {}",
        kernel.trim()
    )
}

/// `GET path` over HTTP/1.1 to `address` (`host:port`) from inside `ns`, the connection
/// closed by the server: the status code and the body.
pub fn http_get(ns: &NetNs, address: &str, path: &str) -> anyhow::Result<(u16, String)> {
    use std::io::{Read as _, Write as _};
    let (address, path) = (address.to_owned(), path.to_owned());
    ns.run(move || {
        let mut stream = std::net::TcpStream::connect(&address)
            .with_context(|| format!("connecting to {address}"))?;
        stream.set_read_timeout(Some(Duration::from_secs(5)))?;
        write!(
            stream,
            "GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n"
        )?;
        let mut answer = String::new();
        stream.read_to_string(&mut answer)?;
        let (head, body) = answer
            .split_once("\r\n\r\n")
            .with_context(|| format!("no end of headers in {answer:?}"))?;
        let code = head
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .with_context(|| format!("no status in {head:?}"))?;
        Ok((code, body.to_owned()))
    })
}

/// A `vrrp_instance` in keepalived.conf syntax (vrrpd reads the same text), as the live
/// tests write them: `state BACKUP`, `advert_int 1` and IPSEC-AH with the key `k@l` unless
/// changed, then the VIPs and any `extra` lines.
#[derive(Debug, Clone)]
pub struct Instance {
    pub name: String,
    pub interface: String,
    pub vrid: u8,
    pub priority: u8,
    pub advert_int: u8,
    /// `(auth_type, auth_pass)`; `None`: no authentication block.
    pub auth: Option<(String, String)>,
    pub vips: Vec<String>,
    /// Lines added at the end of the block, each indented by the caller.
    pub extra: String,
}

impl Instance {
    /// `name` on `interface` with VRID `vrid` at `priority`, holding `vips`; AH, key `k@l`.
    pub fn new(name: &str, interface: &str, vrid: u8, priority: u8, vips: &[&str]) -> Self {
        Self {
            name: name.to_owned(),
            interface: interface.to_owned(),
            vrid,
            priority,
            advert_int: 1,
            auth: Some(("AH".to_owned(), "k@l".to_owned())),
            vips: vips.iter().map(|v| (*v).to_owned()).collect(),
            extra: String::new(),
        }
    }

    pub fn advert_int(mut self, seconds: u8) -> Self {
        self.advert_int = seconds;
        self
    }

    /// `auth_type` (`AH`, `PASS`) and `auth_pass`.
    pub fn auth(mut self, kind: &str, password: &str) -> Self {
        self.auth = Some((kind.to_owned(), password.to_owned()));
        self
    }

    pub fn no_auth(mut self) -> Self {
        self.auth = None;
        self
    }

    /// Lines for the end of the block (`"    preempt_delay 8\n"`).
    pub fn extra(mut self, lines: &str) -> Self {
        self.extra.push_str(lines);
        self
    }

    /// The block's text.
    pub fn conf(&self) -> String {
        let auth = self.auth.as_ref().map_or_else(String::new, |(kind, pass)| {
            format!(
                "    authentication {{\n        auth_type {kind}\n        auth_pass {pass}\n    }}\n"
            )
        });
        let vips: String = self.vips.iter().map(|v| format!("        {v}\n")).collect();
        format!(
            "vrrp_instance {name} {{\n    state BACKUP\n    interface {interface}\n    \
             virtual_router_id {vrid}\n    priority {priority}\n    advert_int {advert_int}\n\
             {auth}    virtual_ipaddress {{\n{vips}    }}\n{extra}}}\n",
            name = self.name,
            interface = self.interface,
            vrid = self.vrid,
            priority = self.priority,
            advert_int = self.advert_int,
            extra = self.extra,
        )
    }
}

/// The many-instance configuration of the scale test and benchmark: instance `n` (from 0)
/// on `eth{n / 255}` with VRID `n % 255 + 1`, AH key `sc{n}`, VIP [`scale_vip`]`(n)`/32.
pub fn scale_config(count: usize, priority: u8) -> String {
    (0..count)
        .map(|n| {
            let (eth, vrid) = scale_placement(n);
            let vip = format!("{}/32", scale_vip(n));
            Instance::new(
                &format!("VI_{n}"),
                &format!("eth{eth}"),
                vrid,
                priority,
                &[&vip],
            )
            .auth("AH", &format!("sc{n}"))
            .conf()
        })
        .collect()
}

/// Instance `n`'s (from 0) segment and VRID in [`scale_config`]: 255 VRIDs per segment.
pub fn scale_placement(n: usize) -> (usize, u8) {
    (n / 255, u8::try_from(n % 255 + 1).unwrap_or(u8::MAX))
}

/// Instance `n`'s VIP in [`scale_config`].
pub fn scale_vip(n: usize) -> String {
    format!("10.50.{}.{}", n / 250, n % 250 + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_instance_is_the_text_the_tests_wrote_by_hand() {
        let text = Instance::new("VI_1", "eth0", 51, 150, &["10.0.0.1", "10.0.0.2"])
            .extra("    preempt_delay 8\n")
            .conf();
        assert_eq!(
            text,
            "vrrp_instance VI_1 {\n    state BACKUP\n    interface eth0\n    \
             virtual_router_id 51\n    priority 150\n    advert_int 1\n    authentication {\n        \
             auth_type AH\n        auth_pass k@l\n    }\n    virtual_ipaddress {\n        \
             10.0.0.1\n        10.0.0.2\n    }\n    preempt_delay 8\n}\n"
        );
        let bare = Instance::new("VI_2", "eth1", 2, 100, &["10.0.0.3"])
            .no_auth()
            .advert_int(3)
            .conf();
        assert!(!bare.contains("authentication") && bare.contains("advert_int 3"));
        assert_eq!(scale_placement(255), (1, 1));
        assert!(scale_config(2, 100).contains("auth_pass sc1\n"));
    }
}
