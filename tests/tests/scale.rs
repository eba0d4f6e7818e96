//! Scale (issue 14): 300 VRRPv2 + IPSEC-AH instances (one VIP each, `advert_int 1`) on two
//! directors, each in its own network namespace on this host: VRIDs 1–255 on eth0 and 1–45
//! on eth1, in the three pairings vrrpd/vrrpd, vrrpd/keepalived and keepalived/vrrpd
//! (keepalived 2.2.7; the preferred director first). The exact VIP distribution is asserted
//! at start (all on the preferred director, none on the other), after the preferred director
//! stops (priority 0), after it comes back (preemption) and after it dies (`kill -9`). A
//! vrrpd may not report a master-down timer it could not arm, and no daemon an
//! authentication error.
//!
//! 1,000 instances (four interfaces) are `cargo xtask bench scale`'s, which checks the same
//! distributions: a vrrpd stops its instances one after the other, a few ms each in a debug
//! build on a loaded machine, so at 1,000 the last ones can fall silent for longer than the
//! peer's master-down time before their priority-0 advert, and the peer, master by then,
//! and the stopping vrrpd count each other's adverts as replays (docs/scale.md).
//!
//! Timeouts are liveness bounds, not speed checks; the phases' durations are printed, and
//! measured properly by `cargo xtask bench scale`.
use std::time::{Duration, Instant};

use tests::lab::{self, Daemon, Layout, Scratch, Side, Topology};

/// The instances of each test.
const INSTANCES: usize = 300;
/// Segments (eth0, eth1): 255 instances on the first.
const SUBNETS: [&str; 2] = ["192.168.200", "192.168.201"];
/// How long a distribution may take to appear: generous, for a shared 2-core machine.
const PATIENCE: Duration = Duration::from_secs(90);

/// The keepalived.conf both directors use (vrrpd and keepalived alike), with their own
/// priority: [`lab::scale_config`].
fn config(count: usize, priority: u8) -> String {
    lab::scale_config(count, priority)
}

/// Every instance of vrrpd `d` in `state`, its master-down timer in the kernel, and no timer
/// error or fallback counted.
fn check_status(d: &Daemon, count: usize, who: &str, state: &str) -> anyhow::Result<()> {
    let status = d.status()?;
    anyhow::ensure!(
        status.len() == count,
        "{who}: {} instances in status",
        status.len()
    );
    for s in &status {
        let name = s["name"].as_str().unwrap_or("?");
        anyhow::ensure!(s["state"] == state, "{who}: {name} is {}", s["state"]);
        anyhow::ensure!(
            s["master_down_timer"] == "kernel",
            "{who}: {name}'s master-down timer is {}",
            s["master_down_timer"]
        );
        for counter in ["timer_errors", "timer_fallbacks", "events_lost"] {
            anyhow::ensure!(
                s["counters"].get(counter).is_none(),
                "{who}: {name} counted {counter}: {}",
                s["counters"]
            );
        }
    }
    Ok(())
}

/// `count` instances, director 1 (priority 150) running `sides[0]` and director 2 (100)
/// `sides[1]`: all VIPs on director 1; once it stopped, all on director 2; once it is back,
/// all on director 1 again (preemption); once it died (`kill -9`), all on director 2 — and
/// still on director 1, which had no chance to remove them.
fn elect_and_fail_over(tag: &str, sides: [Side; 2], count: usize) -> anyhow::Result<()> {
    let _serial = lab::one_at_a_time()?;
    let layout = Layout {
        subnets: &SUBNETS[..count.div_ceil(255)],
        directors: 2,
        clients: &[],
    };
    let t = Topology::new(tag, &layout)?;
    let scratch = Scratch::new(tag)?;
    let preferred = scratch.write("d1.conf", &config(count, 150))?;
    let other = scratch.write("d2.conf", &config(count, 100))?;
    let all: Vec<String> = (0..count).map(lab::scale_vip).collect();
    let all: Vec<&str> = all.iter().map(String::as_str).collect();
    let who = ["director 1", "director 2"];
    let phase = |what: &str, since: Instant| {
        eprintln!(
            "{tag} {}/{} ({count}): {what} after {:?}",
            sides[0],
            sides[1],
            since.elapsed()
        );
    };

    let since = Instant::now();
    let mut d1 = Daemon::start(sides[0], t.director(0), &preferred)?;
    let d2 = Daemon::start(sides[1], t.director(1), &other)?;
    t.expect_within("at start", &[&all, &[]], &[&d1, &d2], PATIENCE)?;
    phase("every VIP on director 1 from start", since);
    for (d, (who, state)) in [&d1, &d2].iter().zip(who.iter().zip(["MASTER", "BACKUP"])) {
        if d.side() == Side::Vrrpd {
            check_status(d, count, who, state)?;
        }
    }

    // The preferred director stops (priority 0): every instance moves.
    let since = Instant::now();
    d1.stop()?;
    t.expect_within(
        "after director 1 stopped",
        &[&[], &all],
        &[&d1, &d2],
        PATIENCE,
    )?;
    phase("every VIP on director 2 from director 1's SIGTERM", since);
    if d2.side() == Side::Vrrpd {
        check_status(&d2, count, who[1], "MASTER")?;
    }
    d1.ensure_no_auth_errors()?;
    let mut logs = vec![d1.log_text()];
    // Its run folder (socket, pid files, log) is reused by the next daemon there.
    drop(d1);

    // Back: it preempts every instance.
    let since = Instant::now();
    let mut d1 = Daemon::start(sides[0], t.director(0), &preferred)?;
    t.expect_within(
        "after director 1 came back",
        &[&all, &[]],
        &[&d1, &d2],
        PATIENCE,
    )?;
    phase("every VIP back on director 1 from its restart", since);
    for (d, (who, state)) in [&d1, &d2].iter().zip(who.iter().zip(["MASTER", "BACKUP"])) {
        if d.side() == Side::Vrrpd {
            check_status(d, count, who, state)?;
        }
    }

    // It dies: every instance moves after its master-down time.
    let since = Instant::now();
    d1.crash()?;
    t.expect_within(
        "after director 1 died",
        &[&all, &all],
        &[&d1, &d2],
        PATIENCE,
    )?;
    phase("every VIP on director 2 from director 1's SIGKILL", since);
    if d2.side() == Side::Vrrpd {
        check_status(&d2, count, who[1], "MASTER")?;
    }

    logs.push(d1.log_text());
    d2.ensure_no_auth_errors()?;
    logs.push(d2.log_text());
    for (log, who) in logs
        .iter()
        .zip(["director 1 (first run)", "director 1", "director 2"])
    {
        let failure = log
            .lines()
            .find(|l| l.contains("master-down timer not armed") || l.contains("userspace timer"));
        anyhow::ensure!(
            failure.is_none(),
            "{who} logged a timer failure: {failure:?}"
        );
    }
    d1.ensure_no_auth_errors()?;
    Ok(())
}

#[test]
fn two_vrrpd_elect_and_fail_over_exactly() -> anyhow::Result<()> {
    elect_and_fail_over("scvv", [Side::Vrrpd, Side::Vrrpd], INSTANCES)
}

#[test]
fn vrrpd_and_keepalived_elect_and_fail_over_exactly() -> anyhow::Result<()> {
    elect_and_fail_over("scvk", [Side::Vrrpd, Side::Keepalived], INSTANCES)
}

#[test]
fn keepalived_and_vrrpd_elect_and_fail_over_exactly() -> anyhow::Result<()> {
    elect_and_fail_over("sckv", [Side::Keepalived, Side::Vrrpd], INSTANCES)
}
