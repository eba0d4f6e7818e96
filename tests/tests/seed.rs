//! The seed case study ("Failover using VRRP") live: two directors with eth0/eth1 on two
//! bridged segments and a client on the eth0 segment, each director running vrrpd or a
//! real keepalived 2.2.7 with the case study's configuration. Three pairings: vrrpd on
//! both; vrrpd on director 1 with keepalived on director 2; keepalived on 1 with vrrpd on
//! 2. Each asserts the seed's VIP distribution before, during and after the failure of
//! eth0 on director 1, that the client reaches VIP1 through whichever director holds it
//! (its neighbour entry moving to the new master's MAC), and that neither side saw an
//! authentication error.
use std::{
    collections::BTreeSet,
    fs::File,
    path::PathBuf,
    process::{Child, Command, Stdio},
    sync::Mutex,
    thread,
    time::{Duration, Instant},
};

use anyhow::{Context as _, bail, ensure};
use tests::{NetNs, ip};

/// The pairings share the CPU badly (elections are timed): one at a time.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

const VIP1: &str = "192.168.200.10";
const D1_INITIAL: [&str; 3] = ["192.168.100.10", "192.168.200.10", "192.168.200.11"];
const D2_INITIAL: [&str; 3] = ["192.168.100.11", "192.168.200.12", "192.168.200.13"];
const ALL: [&str; 6] = [
    "192.168.100.10",
    "192.168.100.11",
    "192.168.200.10",
    "192.168.200.11",
    "192.168.200.12",
    "192.168.200.13",
];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn vrrpd_bin() -> anyhow::Result<PathBuf> {
    let bin = std::env::var_os("VRRPD_BIN")
        .map_or_else(|| root().join("target/debug/vrrpd"), PathBuf::from);
    ensure!(
        bin.exists(),
        "{} is missing: build vrrpd first (cargo build)",
        bin.display()
    );
    Ok(bin)
}

/// The namespaces: a switch with two bridges, two directors, a client.
struct Topology {
    sw: NetNs,
    d: [NetNs; 2],
    client: NetNs,
}

impl Topology {
    fn new(tag: &str) -> anyhow::Result<Self> {
        let t = Self {
            sw: NetNs::new(&format!("{tag}sw"))?,
            d: [
                NetNs::new(&format!("{tag}d1"))?,
                NetNs::new(&format!("{tag}d2"))?,
            ],
            client: NetNs::new(&format!("{tag}c"))?,
        };
        for br in ["br0", "br1"] {
            t.sw.ip(&["link", "add", br, "type", "bridge"])?;
            t.sw.ip(&["link", "set", br, "up"])?;
        }
        for (n, d) in t.d.iter().enumerate() {
            for e in 0..2 {
                let peer = format!("d{}e{e}", n + 1);
                let eth = format!("eth{e}");
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
                    &peer,
                    "netns",
                    t.sw.name(),
                ])?;
                t.sw.ip(&["link", "set", &peer, "master", &format!("br{e}"), "up"])?;
                d.ip(&["link", "set", &eth, "up"])?;
            }
            let host = 5 + n;
            d.ip(&[
                "addr",
                "add",
                &format!("192.168.200.{host}/24"),
                "dev",
                "eth0",
            ])?;
            d.ip(&[
                "addr",
                "add",
                &format!("192.168.100.{host}/24"),
                "dev",
                "eth1",
            ])?;
        }
        ip(&[
            "link",
            "add",
            "eth0",
            "netns",
            t.client.name(),
            "type",
            "veth",
            "peer",
            "name",
            "ce0",
            "netns",
            t.sw.name(),
        ])?;
        t.sw.ip(&["link", "set", "ce0", "master", "br0", "up"])?;
        t.client
            .ip(&["addr", "add", "192.168.200.100/24", "dev", "eth0"])?;
        t.client.ip(&["link", "set", "eth0", "up"])?;
        Ok(t)
    }

    fn vips(&self, director: usize) -> anyhow::Result<BTreeSet<String>> {
        let out = self.d[director].exec(&["ip", "-4", "-o", "addr", "show"])?;
        Ok(out
            .split_whitespace()
            .filter_map(|w| w.strip_suffix("/32"))
            .map(str::to_owned)
            .collect())
    }

    fn mac(&self, director: usize) -> anyhow::Result<String> {
        let link = self.d[director].exec(&["ip", "-o", "link", "show", "eth0"])?;
        link.split_whitespace()
            .skip_while(|w| *w != "link/ether")
            .nth(1)
            .map(str::to_owned)
            .context("no MAC on eth0")
    }

    /// Waits (bounded) until the directors hold exactly `d1` and `d2`.
    fn expect(&self, step: &str, d1: &[&str], d2: &[&str], logs: &[&Daemon]) -> anyhow::Result<()> {
        let want = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<BTreeSet<_>>();
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let (got1, got2) = (self.vips(0)?, self.vips(1)?);
            if got1 == want(d1) && got2 == want(d2) {
                return Ok(());
            }
            if Instant::now() > deadline {
                let tails: Vec<String> = logs.iter().map(|d| d.tail()).collect();
                bail!(
                    "{step}: director 1 holds {got1:?}, director 2 holds {got2:?}; expected {d1:?} and {d2:?}\n{}",
                    tails.join("\n")
                );
            }
            thread::sleep(Duration::from_millis(100));
        }
    }

    /// The client reaches VIP1 and its neighbour entry for it is `mac`.
    fn client_reaches_vip1_at(&self, mac: &str) -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let ping = self
                .client
                .exec(&["ping", "-c", "1", "-W", "1", VIP1])
                .is_ok();
            let neigh = self
                .client
                .exec(&["ip", "neigh", "show", VIP1])
                .unwrap_or_default();
            if ping && neigh.contains(mac) {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!(
                    "client: ping {VIP1} ok={ping}, neighbour entry `{}`, expected {mac}",
                    neigh.trim()
                );
            }
            thread::sleep(Duration::from_millis(200));
        }
    }
}

/// vrrpd or keepalived in a director's namespace, logging to a file; killed on drop.
struct Daemon {
    child: Child,
    log: PathBuf,
    keepalived: bool,
    run_dir: PathBuf,
}

impl Daemon {
    fn vrrpd(ns: &NetNs, config: &str) -> anyhow::Result<Self> {
        let bin = vrrpd_bin()?;
        Self::spawn(ns, false, |dir| {
            let mut c = Command::new("ip");
            c.args(["netns", "exec", ns.name()])
                .arg(&bin)
                .args(["run", "--config"])
                .arg(root().join(config));
            c.arg("--socket")
                .arg(dir.join("vrrpd.sock"))
                .arg("--pidfile")
                .arg(dir.join("vrrpd.pid"));
            c
        })
    }

    /// `vrrpd status --json` of this daemon, one object per instance.
    fn status(&self) -> anyhow::Result<Vec<serde_json::Value>> {
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

    fn keepalived(ns: &NetNs, config: &str) -> anyhow::Result<Self> {
        Self::spawn(ns, true, |dir| {
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
            .arg(root().join(config))
            .arg("--pid")
            .arg(dir.join("keepalived.pid"))
            .arg("--vrrp_pid")
            .arg(dir.join("vrrp.pid"));
            c
        })
    }

    fn spawn(
        ns: &NetNs,
        keepalived: bool,
        command: impl FnOnce(&PathBuf) -> Command,
    ) -> anyhow::Result<Self> {
        let dir = std::env::temp_dir().join(format!("vrrpd-seed-{}", ns.name()));
        std::fs::create_dir_all(&dir)?;
        let log = dir.join(if keepalived {
            "keepalived.log"
        } else {
            "vrrpd.log"
        });
        let file = File::create(&log)?;
        let child = command(&dir)
            .stdin(Stdio::null())
            .stdout(file.try_clone()?)
            .stderr(file)
            .spawn()
            .with_context(|| {
                format!(
                    "starting {} in {}",
                    if keepalived { "keepalived" } else { "vrrpd" },
                    ns.name()
                )
            })?;
        Ok(Self {
            child,
            log,
            keepalived,
            run_dir: dir,
        })
    }

    fn tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        format!(
            "--- {}:\n{}",
            self.log.display(),
            lines[lines.len().saturating_sub(25)..].join("\n")
        )
    }

    /// SIGTERM, then wait (bounded) for a clean exit.
    fn stop(&mut self) -> anyhow::Result<()> {
        Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status()?;
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait()? {
                ensure!(
                    status.success() || self.keepalived,
                    "exited with {status}\n{}",
                    self.tail()
                );
                return Ok(());
            }
            thread::sleep(Duration::from_millis(50));
        }
        bail!("did not stop within 10 s\n{}", self.tail())
    }

    /// Authentication problems the daemon reported.
    fn auth_errors(&self) -> Vec<String> {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        text.lines()
            .filter(|l| {
                if self.keepalived {
                    // keepalived's receive errors (vrrp.c): bad ICV, SPI, replayed sequence,
                    // PASS, auth type.
                    [
                        "IPSEC-AH : invalid",
                        "invalid IPSEC SPI",
                        "already processed",
                        "invalid passwd",
                        "auth, expecting",
                        "Invalid auth type",
                        "AH header but auth type",
                    ]
                    .iter()
                    .any(|needle| l.contains(needle))
                } else {
                    [
                        "bad_icv",
                        "bad_spi",
                        "replay",
                        "auth_mismatch",
                        "bad_password",
                        "bad_auth_type",
                        "hmac_budget",
                    ]
                    .iter()
                    .any(|c| l.contains(&format!("{c}=")))
                }
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

#[derive(Clone, Copy)]
enum Side {
    Vrrpd,
    Keepalived,
}

fn run(tag: &str, sides: [Side; 2]) -> anyhow::Result<()> {
    let _serial = ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let t = Topology::new(tag)?;
    let configs = [
        (
            "examples/director1.yaml",
            "vrrp-userspace/tests/config/seed/director1.conf",
        ),
        (
            "examples/director2.yaml",
            "vrrp-userspace/tests/config/seed/director2.conf",
        ),
    ];
    if matches!(sides[0], Side::Vrrpd) {
        // A VIP of director 1's configuration left behind by a crashed run (VI_3's, for
        // which director 1 is BACKUP): vrrpd removes it before taking part in elections,
        // so the initial distribution below proves it.
        t.d[0].ip(&["addr", "add", "192.168.200.12/32", "dev", "eth0"])?;
    }
    let mut daemons = Vec::new();
    for (n, side) in sides.iter().enumerate() {
        daemons.push(match side {
            Side::Vrrpd => Daemon::vrrpd(&t.d[n], configs[n].0)?,
            Side::Keepalived => Daemon::keepalived(&t.d[n], configs[n].1)?,
        });
    }
    let (mac1, mac2) = (t.mac(0)?, t.mac(1)?);
    let refs: Vec<&Daemon> = daemons.iter().collect();
    t.expect("at start", &D1_INITIAL, &D2_INITIAL, &refs)?;
    t.client_reaches_vip1_at(&mac1)?;
    // `vrrpd status` on each vrrpd: the seed's states, and the backups verifying adverts.
    for (n, side) in sides.iter().enumerate() {
        if matches!(side, Side::Vrrpd) {
            let status = daemons[n].status()?;
            let states: Vec<(String, String)> = status
                .iter()
                .map(|s| {
                    (
                        s["name"].as_str().unwrap_or("").to_owned(),
                        s["state"].as_str().unwrap_or("").to_owned(),
                    )
                })
                .collect();
            let mine = if n == 0 {
                ["VI_1", "VI_2"]
            } else {
                ["VI_3", "VI_4"]
            };
            for (name, state) in &states {
                let want = if mine.contains(&name.as_str()) {
                    "MASTER"
                } else {
                    "BACKUP"
                };
                ensure!(
                    state == want,
                    "director {}: {name} is {state}, expected {want}: {states:?}",
                    n + 1
                );
            }
            let backup = status
                .iter()
                .find(|s| s["state"] == "BACKUP")
                .context("a BACKUP instance")?;
            ensure!(
                backup["counters"]["valid"].as_u64().unwrap_or(0) > 0,
                "director {}: no valid adverts counted: {backup}",
                n + 1
            );
        }
    }
    t.d[0].ip(&["link", "set", "eth0", "down"])?;
    t.expect("eth0 down on director 1", &[], &ALL, &refs)?;
    t.client_reaches_vip1_at(&mac2)?;
    t.d[0].ip(&["link", "set", "eth0", "up"])?;
    t.expect("eth0 up again", &D1_INITIAL, &D2_INITIAL, &refs)?;
    t.client_reaches_vip1_at(&mac1)?;
    for d in &mut daemons {
        d.stop()?;
    }
    for d in &daemons {
        let errors = d.auth_errors();
        ensure!(
            errors.is_empty(),
            "authentication errors in {}:\n{}",
            d.log.display(),
            errors.join("\n")
        );
    }
    // Each vrrpd removed its VIPs when it stopped.
    for (n, side) in sides.iter().enumerate() {
        if matches!(side, Side::Vrrpd) {
            ensure!(
                t.vips(n)?.is_empty(),
                "director {} kept VIPs after stopping: {:?}",
                n + 1,
                t.vips(n)?
            );
        }
    }
    Ok(())
}

#[test]
fn seed_vrrpd_on_both_directors() -> anyhow::Result<()> {
    run("sv", [Side::Vrrpd, Side::Vrrpd])
}

#[test]
fn seed_vrrpd_with_keepalived_on_director_2() -> anyhow::Result<()> {
    run("svk", [Side::Vrrpd, Side::Keepalived])
}

#[test]
fn seed_keepalived_on_director_1_with_vrrpd() -> anyhow::Result<()> {
    run("skv", [Side::Keepalived, Side::Vrrpd])
}
