//! Fault injection (issue 11, item 4), live against keepalived 2.2.7. Behaviour only; the
//! timings are printed, never asserted beyond generous bounds.
//!
//! - `kill -9` of the MASTER, started again 2 s later (`RestartSec=2` of
//!   `contrib/vrrpd.service`) in the crashed run's folder: the restarted director removes
//!   the VIP its crashed run left behind before taking part in the election (keepalived
//!   2.2.7 does too: `start_vrrp` → `vrrp_restore_interfaces_startup` →
//!   `vrrp_restore_interface(vrrp, false, true)`, logging "(VI_1) removing VIPs."),
//!   the two directors hold the VIP together for less than one master-down interval, and
//!   the peer accepts the restarted director's AH adverts (its sequence restarts at 0; it
//!   learns the peer's while BACKUP) and goes back to BACKUP. keepalived first, as the
//!   reference, then vrrpd; the peer is keepalived both times.
//! - A flapping link: the preferred director's eth0 changes state every 20 ms for 10 s,
//!   then stays up: the preferred director ends MASTER with the VIP, the other BACKUP,
//!   nothing in FAULT; vrrpd flapping against keepalived, then the reverse.
//! - A ring-buffer overrun in a running vrrpd: frozen (SIGSTOP), its XDP program still
//!   runs and fills the event ring (256 KiB, `EVENTS_BYTES`) with the events of a burst of
//!   higher-priority adverts on one instance; then the master of another instance stops,
//!   and that instance's PRIORITY_ZERO and MASTER_DOWN events are lost too. Thawed, vrrpd
//!   logs the loss, resynchronises from the maps and takes over; without the
//!   resynchronisation that instance would wait in BACKUP for ever (the kernel reports a
//!   master-down once).
use std::{
    collections::BTreeSet,
    io::Write as _,
    path::PathBuf,
    process::{Child, ChildStdin, Command, Stdio},
    thread,
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use anyhow::{Context as _, bail, ensure};
use tests::{
    NetNs,
    adverts::{frame, v2},
    flood::Flood,
    lab::{self, Daemon, Instance, Layout, Scratch, Side, Topology},
};
use vrrpd::wire::vrrp::AUTH_NONE;

const LAYOUT: Layout<'static> = Layout {
    subnets: &["10.0.9", "10.0.10"],
    directors: 2,
    clients: &[],
};

const VIP: &str = "10.0.9.100";
const VIP2: &str = "10.0.10.100";

/// The backup's (priority 100, advert_int 1) master-down interval: 3 × 1 s + skew
/// (256 − 100) / 256 s.
const MASTER_DOWN: Duration = Duration::from_micros(3_609_375);

/// `contrib/vrrpd.service`'s `RestartSec`.
const RESTART_SEC: Duration = Duration::from_secs(2);

fn conf(priority: u8) -> String {
    Instance::new("VI_1", "eth0", 51, priority, &[VIP]).conf()
}

/// Seconds since the epoch, as a float (the clock `ip -ts monitor` stamps with).
fn wall() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// `[2026-11-26T11:19:04.926331]` (UTC) in seconds since the epoch.
fn epoch_of(stamp: &str) -> Option<f64> {
    let (date, time) = stamp.split_once('T')?;
    let mut ymd = date.split('-').map(str::parse::<i64>);
    let (y, m, d) = (ymd.next()?.ok()?, ymd.next()?.ok()?, ymd.next()?.ok()?);
    let mut hms = time.split(':');
    let (h, min) = (
        hms.next()?.parse::<i64>().ok()?,
        hms.next()?.parse::<i64>().ok()?,
    );
    let s: f64 = hms.next()?.parse().ok()?;
    // Days from the civil date (H. Hinnant's `days_from_civil`).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * ((m + 9) % 12) + 2) / 5 + d - 1;
    let days = era * 146_097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719_468;
    Some((days * 86_400 + h * 3_600 + min * 60) as f64 + s)
}

/// `ip -ts monitor address` in a director's namespace: when a VIP came and went there.
#[derive(Debug)]
struct AddressWatch {
    child: Child,
    path: PathBuf,
    /// The VIPs held when the watch started.
    initial: BTreeSet<String>,
}

impl AddressWatch {
    fn start(t: &Topology, n: usize, scratch: &Scratch) -> anyhow::Result<Self> {
        let path = scratch.path().join(format!("d{}-addresses.log", n + 1));
        let child = Command::new("ip")
            .args(["-ts", "-n", t.director(n).name(), "monitor", "address"])
            .env("TZ", "UTC")
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&path)?)
            .stderr(Stdio::null())
            .spawn()
            .context("starting ip monitor")?;
        // No word when it listens: give it a moment (nothing changes meanwhile).
        thread::sleep(Duration::from_millis(300));
        Ok(Self {
            child,
            path,
            initial: t.vips(n)?,
        })
    }

    /// When `vip` was added (`true`) and deleted (`false`), in order.
    fn events(&self, vip: &str) -> Vec<(f64, bool)> {
        let needle = format!("inet {vip}/32 ");
        std::fs::read_to_string(&self.path)
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains(&needle))
            .filter_map(|l| {
                let (stamp, rest) = l.strip_prefix('[')?.split_once("] ")?;
                Some((epoch_of(stamp)?, !rest.starts_with("Deleted")))
            })
            .collect()
    }

    /// The spans (start, end) during which the director held `vip`, within `[from, to]`.
    fn held(&self, vip: &str, from: f64, to: f64) -> Vec<(f64, f64)> {
        let mut spans = Vec::new();
        let mut since = self.initial.contains(vip).then_some(f64::MIN);
        for (at, added) in self.events(vip) {
            match (added, since) {
                (true, None) => since = Some(at),
                (false, Some(start)) => {
                    spans.push((start, at));
                    since = None;
                }
                _ => {}
            }
        }
        if let Some(start) = since {
            spans.push((start, f64::MAX));
        }
        spans
            .into_iter()
            .map(|(a, b)| (a.max(from), b.min(to)))
            .filter(|(a, b)| a < b)
            .collect()
    }
}

impl Drop for AddressWatch {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// How long two sets of spans overlap, in seconds.
fn overlap(a: &[(f64, f64)], b: &[(f64, f64)]) -> f64 {
    a.iter()
        .flat_map(|x| {
            b.iter()
                .map(move |y| (x.1.min(y.1) - x.0.max(y.0)).max(0.0))
        })
        .sum()
}

/// The log's text from byte `mark` on.
fn since(d: &Daemon, mark: usize) -> String {
    d.log_text().get(mark..).unwrap_or_default().to_owned()
}

/// The state of the last `(VI_1) Entering X STATE` line of `log`.
fn last_state<'a>(log: &'a str, instance: &str) -> Option<&'a str> {
    let needle = format!("({instance}) Entering ");
    log.lines()
        .rev()
        .find_map(|l| l.split_once(&needle))
        .and_then(|(_, rest)| rest.split_whitespace().next())
}

/// `(VI_1) Entering STATE` lines of `log` (all states when `state` is empty).
fn entries(log: &str, instance: &str, state: &str) -> usize {
    log.matches(&format!("({instance}) Entering {state}"))
        .count()
}

/// The MASTER (director 1, priority 150, `side`) dies by SIGKILL and is started again
/// [`RESTART_SEC`] later; keepalived on director 2 (100) is the peer. Returns the figures.
/// Waits (at most 20 s) until director 1 alone holds the VIP, then checks that it still
/// does after longer than director 2's master-down interval, and that director 2 did not
/// enter MASTER meanwhile, not even briefly (it hears director 1's adverts); the time
/// until the first.
fn director_1_settles(
    t: &Topology,
    step: &str,
    d1: &Daemon,
    d2: &Daemon,
) -> anyhow::Result<Duration> {
    let took = t.expect_within(
        &format!("{step}: director 1 master"),
        &[&[VIP], &[]],
        &[d1, d2],
        Duration::from_secs(20),
    )?;
    let mark = d2.log_text().len();
    thread::sleep(MASTER_DOWN + Duration::from_secs(2));
    // One look, no waiting: a VIP that moved and came back must not pass.
    t.expect_within(
        &format!("{step}: director 1 stays master"),
        &[&[VIP], &[]],
        &[d1, d2],
        Duration::ZERO,
    )?;
    let later = since(d2, mark);
    ensure!(
        entries(&later, "VI_1", "MASTER") == 0,
        "{step}: director 2 ({}) entered MASTER after director 1 had settled:\n{later}",
        d2.side()
    );
    Ok(took)
}

fn kill_and_restart(side: Side) -> anyhow::Result<String> {
    let t = Topology::new("k9", &LAYOUT)?;
    let scratch = Scratch::new("k9")?;
    let mut d1 = Daemon::start(side, t.director(0), scratch.write("d1.conf", &conf(150))?)?;
    let d2 = Daemon::keepalived(t.director(1), scratch.write("d2.conf", &conf(100))?)?;
    t.expect(&format!("{side} master"), &[&[VIP], &[]], &[&d1, &d2])?;
    // Some adverts, so that the peer's AH sequence is well past the restarted one's 0.
    thread::sleep(Duration::from_secs(3));
    let watches = [
        AddressWatch::start(&t, 0, &scratch)?,
        AddressWatch::start(&t, 1, &scratch)?,
    ];
    let (d1_mark, d2_mark) = (d1.log_text().len(), d2.log_text().len());

    // kill -9 (the lab's crash: SIGSTOP first, so that keepalived's parent cannot
    // respawn its VRRP child; a single process for vrrpd).
    let killed = wall();
    d1.crash()?;
    ensure!(
        t.vips(0)?.contains(VIP),
        "{side} took its VIP with it on SIGKILL: nothing left behind to test"
    );
    thread::sleep(RESTART_SEC.saturating_sub(Duration::from_secs_f64(wall() - killed)));
    let restarted = wall();
    d1.restart()?;

    // The peer takes over when the dead director's adverts stop and goes back to BACKUP
    // when the restarted one is master again. Only then can director 1 have settled:
    // until the restart removes it, the crashed run's stale VIP looks like a master.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let log2 = since(&d2, d2_mark);
        let took_over = log2.find("(VI_1) Entering MASTER STATE");
        let yielded = log2.rfind("(VI_1) Entering BACKUP STATE");
        if matches!((took_over, yielded), (Some(m), Some(b)) if m < b) {
            break;
        }
        ensure!(
            Instant::now() < deadline,
            "the peer did not take over and go back to BACKUP within 20 s:\n{log2}"
        );
        thread::sleep(Duration::from_millis(50));
    }
    // The peer must accept the restarted director's adverts: were they dropped, it would
    // take over again.
    director_1_settles(&t, &format!("restarted {side}"), &d1, &d2)?;
    let end = wall();

    // The stale VIP went before the restarted director took part: after the restart,
    // the first change of the VIP on director 1 is its removal.
    let after: Vec<(f64, bool)> = watches[0]
        .events(VIP)
        .into_iter()
        .filter(|(at, _)| *at >= restarted)
        .collect();
    let Some(&(removed, false)) = after.first() else {
        bail!(
            "the restarted {side} did not remove the VIP its crashed run left behind \
             (changes of {VIP} on director 1 after the restart: {after:?})\n{}",
            d1.tail()
        );
    };
    let back = after
        .iter()
        .find(|(_, added)| *added)
        .map_or(f64::NAN, |(at, _)| at - restarted);
    let log1 = since(&d1, d1_mark);
    let said = match side {
        Side::Vrrpd => "left behind by a previous run",
        Side::Keepalived => "(VI_1) removing VIPs.",
    };
    ensure!(
        log1.contains(said),
        "the restarted {side} did not say `{said}`\n{}",
        d1.tail()
    );

    d2.ensure_no_auth_errors()?;
    d1.ensure_no_auth_errors()?;

    let held1 = watches[0].held(VIP, killed, end);
    let held2 = watches[1].held(VIP, killed, end);
    let dual = overlap(&held1, &held2);
    let peer: f64 = held2.iter().map(|(a, b)| b - a).sum();
    ensure!(
        dual <= MASTER_DOWN.as_secs_f64(),
        "both directors held {VIP} for {dual:.3} s, more than one master-down interval \
         ({MASTER_DOWN:?}): director 1 {held1:?}, director 2 {held2:?}"
    );
    Ok(format!(
        "{side} killed, restarted after {:.2} s: stale VIP removed {:.0} ms after the \
         restart, MASTER again {back:.2} s after it; keepalived peer held the VIP {peer:.2} s; \
         both held it {:.1} ms",
        restarted - killed,
        (removed - restarted) * 1e3,
        dual * 1e3,
    ))
}

#[test]
fn a_master_killed_with_sigkill_and_restarted_removes_its_stale_vip_and_recovers()
-> anyhow::Result<()> {
    lab::require_keepalived()?;
    let _serial = lab::one_at_a_time()?;
    let mut figures = Vec::new();
    // keepalived first: what vrrpd is compared with.
    for side in [Side::Keepalived, Side::Vrrpd] {
        figures.push(kill_and_restart(side).with_context(|| format!("{side} killed"))?);
    }
    eprintln!("{}", figures.join("\n"));
    Ok(())
}

/// `ip -batch -` in a namespace, fed one command per line: a link changes state at a
/// steady cadence without a process per change.
#[derive(Debug)]
struct Batch {
    child: Child,
    stdin: Option<ChildStdin>,
}

impl Batch {
    fn start(ns: &NetNs) -> anyhow::Result<Self> {
        let mut child = Command::new("ip")
            .args(["-n", ns.name(), "-batch", "-"])
            .stdin(Stdio::piped())
            .spawn()
            .context("starting ip -batch")?;
        let stdin = child.stdin.take();
        Ok(Self { child, stdin })
    }

    fn run(&mut self, command: &str) -> anyhow::Result<()> {
        let stdin = self.stdin.as_mut().context("ip -batch closed")?;
        writeln!(stdin, "{command}")?;
        stdin.flush()?;
        Ok(())
    }

    /// Closes its input and waits for it; fails if a command failed.
    fn finish(mut self) -> anyhow::Result<()> {
        drop(self.stdin.take());
        let status = self.child.wait()?;
        ensure!(status.success(), "ip -batch: {status}");
        Ok(())
    }
}

impl Drop for Batch {
    fn drop(&mut self) {
        drop(self.stdin.take());
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Sets `eth` of `ns` down and up, one change every `every`, for `span`; then up for good.
/// Returns the number of changes and how long they took.
fn flap(ns: &NetNs, eth: &str, every: Duration, span: Duration) -> anyhow::Result<(u32, f64)> {
    let mut batch = Batch::start(ns)?;
    let start = Instant::now();
    let mut changes = 0u32;
    while start.elapsed() < span {
        let up = changes % 2 == 1;
        batch.run(&format!(
            "link set {eth} {}",
            if up { "up" } else { "down" }
        ))?;
        changes += 1;
        let next = every * changes;
        thread::sleep(next.saturating_sub(start.elapsed()));
    }
    if changes % 2 == 1 {
        batch.run(&format!("link set {eth} up"))?;
        changes += 1;
    }
    batch.finish()?;
    Ok((changes, start.elapsed().as_secs_f64()))
}

/// Director 1 (150) flaps its eth0; director 2 (100) is steady. Returns the figures.
fn flapping(flapper: Side, steady: Side) -> anyhow::Result<String> {
    let t = Topology::new("flp", &LAYOUT)?;
    let scratch = Scratch::new("flp")?;
    let d1 = Daemon::start(
        flapper,
        t.director(0),
        scratch.write("d1.conf", &conf(150))?,
    )?;
    let d2 = Daemon::start(steady, t.director(1), scratch.write("d2.conf", &conf(100))?)?;
    t.expect(&format!("{flapper} master"), &[&[VIP], &[]], &[&d1, &d2])?;

    let (changes, took) = flap(
        t.director(0),
        "eth0",
        Duration::from_millis(20),
        Duration::from_secs(10),
    )?;
    let settled = director_1_settles(&t, &format!("{flapper}'s eth0 up for good"), &d1, &d2)?;

    for (d, want) in [(&d1, "MASTER"), (&d2, "BACKUP")] {
        let log = d.log_text();
        let state = last_state(&log, "VI_1");
        ensure!(
            state == Some(want),
            "{} ended {state:?}, not {want}\n{}",
            d.side(),
            d.tail()
        );
        if d.side() == Side::Vrrpd {
            let states = d.states()?;
            ensure!(
                states == [("VI_1".to_owned(), want.to_owned())],
                "vrrpd's status: {states:?}\n{}",
                d.tail()
            );
        }
        d.ensure_no_auth_errors()?;
    }
    let (log1, log2) = (d1.log_text(), d2.log_text());
    Ok(format!(
        "{flapper} flapping ({steady} steady): {changes} changes in {took:.2} s; \
         {flapper} entered FAULT {} times, MASTER {} times; {steady} entered MASTER {} times; \
         settled {settled:.2?} after the last up",
        entries(&log1, "VI_1", "FAULT"),
        entries(&log1, "VI_1", "MASTER"),
        entries(&log2, "VI_1", "MASTER"),
    ))
}

#[test]
fn a_flapping_link_ends_with_the_preferred_director_master() -> anyhow::Result<()> {
    lab::require_keepalived()?;
    let _serial = lab::one_at_a_time()?;
    let mut figures = Vec::new();
    for (flapper, steady) in [
        (Side::Vrrpd, Side::Keepalived),
        (Side::Keepalived, Side::Vrrpd),
    ] {
        figures.push(flapping(flapper, steady).with_context(|| format!("{flapper} flapping"))?);
    }
    eprintln!("{}", figures.join("\n"));
    Ok(())
}

/// vrrpd on director 1: VI_1 (AH, 100) backs up keepalived (150) on director 2; VI_2
/// (unauthenticated, no peer) is MASTER on eth1. vrrpd is frozen; a burst of adverts
/// claiming VI_2 at priority 200 fills its event ring; keepalived stops (priority 0) and
/// VI_1's events are lost; vrrpd is thawed.
#[test]
fn an_event_ring_overrun_is_detected_and_resynchronised() -> anyhow::Result<()> {
    lab::require_keepalived()?;
    let _serial = lab::one_at_a_time()?;
    let t = Topology::new("rng", &LAYOUT)?;
    let scratch = Scratch::new("rng")?;
    let vi2 = Instance::new("VI_2", "eth1", 52, 100, &[VIP2])
        .no_auth()
        .conf();
    let d1 = Daemon::vrrpd(
        t.director(0),
        scratch.write("d1.conf", &(conf(100) + &vi2))?,
    )?;
    let mut d2 = Daemon::keepalived(t.director(1), scratch.write("d2.conf", &conf(150))?)?;
    t.expect(
        "keepalived VI_1, vrrpd VI_2",
        &[&[VIP2], &[VIP]],
        &[&d1, &d2],
    )?;
    let states = d1.states()?;
    ensure!(
        states
            == [
                ("VI_1".to_owned(), "BACKUP".to_owned()),
                ("VI_2".to_owned(), "MASTER".to_owned())
            ],
        "{states:?}\n{}",
        d1.tail()
    );

    d1.freeze()?;
    // Each of these raises a HIGHER_PRIORITY event for VI_2 (a MASTER at 100): 20,000 of
    // them, where the ring holds 4,096 (256 KiB of 64-byte records).
    let higher = frame(
        &v2(
            [10, 0, 10, 9],
            52,
            200,
            &[[10, 0, 10, 100]],
            AUTH_NONE,
            [0; 8],
            None,
        ),
        b"",
    );
    let flood = Flood::start(t.switch(), "d1e1", vec![higher], 20_000)?;
    thread::sleep(Duration::from_secs(1));
    let burst = flood.stop()?;
    // keepalived leaves (priority 0): VI_1's PRIORITY_ZERO, then its MASTER_DOWN, find
    // the ring full.
    d2.stop()?;
    thread::sleep(MASTER_DOWN + Duration::from_secs(1));
    ensure!(
        t.vips(0)?.len() == 1,
        "director 1 changed VIPs while vrrpd was frozen"
    );
    let thawed = Instant::now();
    d1.thaw()?;
    // VI_1 takes over at once (a MASTER_DOWN check from the resynchronisation); VI_2
    // may still yield to the burst's stale events and come back after master-down.
    while !t.vips(0)?.contains(VIP) {
        ensure!(
            thawed.elapsed() < Duration::from_secs(10),
            "VI_1 still BACKUP 10 s after the thaw: its lost events were not recovered\n{}",
            d1.tail()
        );
        thread::sleep(Duration::from_millis(20));
    }
    let took = thawed.elapsed();
    t.expect("VI_1 and VI_2 MASTER", &[&[VIP, VIP2], &[]], &[&d1])?;

    let log = d1.log_text();
    let overflowed = log
        .lines()
        .find(|l| l.contains("event ring buffer overflowed: resynchronising"))
        .with_context(|| format!("vrrpd did not log the lost events\n{}", d1.tail()))?
        .to_owned();
    let states = d1.states()?;
    ensure!(
        states
            == [
                ("VI_1".to_owned(), "MASTER".to_owned()),
                ("VI_2".to_owned(), "MASTER".to_owned())
            ],
        "{states:?}\n{}",
        d1.tail()
    );
    let status = d1.status()?;
    let counters = |name: &str| {
        status
            .iter()
            .find(|s| s["name"] == name)
            .map_or(serde_json::Value::Null, |s| s["counters"].clone())
    };
    let lost = |name: &str| counters(name)["events_lost"].as_u64().unwrap_or(0);
    ensure!(
        lost("VI_1") >= 1,
        "none of VI_1's events was lost, the test proves nothing: {}",
        counters("VI_1")
    );
    ensure!(
        lost("VI_2") > 10_000,
        "VI_2's burst did not overrun the ring: {}",
        counters("VI_2")
    );
    eprintln!(
        "ring overrun: {} adverts in {:.2?} into frozen vrrpd; events lost: VI_1 {}, VI_2 {}; \
         VI_1 MASTER {took:.2?} after the thaw, both VIPs {:.2?}; vrrpd said: {overflowed}",
        burst.sent,
        burst.elapsed,
        lost("VI_1"),
        lost("VI_2"),
        thawed.elapsed(),
    );
    Ok(())
}
