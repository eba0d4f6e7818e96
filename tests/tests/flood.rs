//! Transitions under an advert flood (issue 11), live: keepalived 2.2.7 is the master
//! (priority 150), vrrpd the backup (100); forged AH adverts claiming the master at
//! priority 255 are sent at 50,000 frames per second into the backup's port
//! (`tests::flood`, AF_PACKET `sendmmsg` from the switch namespace). Behaviour only: the
//! timing is `cargo xtask bench flood`'s.
//!
//! - no spurious takeover while the flood runs;
//! - the master reloads to a lower priority that is still higher (150 → 120): the backup
//!   verifies the changed adverts (it reports priority 120) and stays BACKUP;
//! - the master stops (priority 0): the backup takes over;
//! - the old master comes back and preempts: the new master accepts it and yields;
//! - the master's link fails for a while and returns (the case study's failure): vrrpd
//!   takes over; keepalived, back as BACKUP, preempts with the IP id it stopped at (it
//!   moves its id only when it sends) and a sequence above vrrpd's: vrrpd yields;
//! - vrrpd is killed (SIGKILL) and started again while the flood goes on: with `--state`
//!   it reads the senders the crashed run kept at its last tick, verifies the master's
//!   adverts at once and stays BACKUP (without the file nothing would predict them, and
//!   the HMAC budget would leave it deaf).
use std::{thread, time::Duration};

use anyhow::{Context as _, ensure};
use tests::{
    flood::{self, Flood, Profile, Target},
    lab::{self, Daemon, Instance, Layout, Scratch, Topology},
};

const LAYOUT: Layout<'static> = Layout {
    subnets: &["10.0.7"],
    directors: 2,
    clients: &[],
};

const VIP: &str = "10.0.7.100";
/// Forged frames per second: 25 times the rate at which the HMAC budget alone failed.
const RATE: u64 = 50_000;

fn instance(priority: u8) -> String {
    Instance::new("VI_1", "eth0", 51, priority, &[VIP]).conf()
}

/// vrrpd's view of VI_1: (state, priority of the last advert it verified).
fn view(d: &Daemon) -> anyhow::Result<(String, u64)> {
    let status = d.status()?;
    let s = status
        .first()
        .ok_or_else(|| anyhow::anyhow!("no instance"))?;
    Ok((
        s["state"].as_str().unwrap_or_default().to_owned(),
        s["last_advert_priority"].as_u64().unwrap_or_default(),
    ))
}

/// Polls `d` for up to `bound` until `want` holds; every poll also checks `always`.
fn wait(
    d: &Daemon,
    bound: Duration,
    step: &str,
    want: impl Fn(&(String, u64)) -> bool,
) -> anyhow::Result<()> {
    let start = std::time::Instant::now();
    loop {
        // A daemon just started may not answer yet: that is "not yet", until the bound.
        let v = view(d);
        if v.as_ref().is_ok_and(&want) {
            return Ok(());
        }
        ensure!(
            start.elapsed() < bound,
            "{step}: vrrpd shows {v:?}\n{}",
            d.tail()
        );
        thread::sleep(Duration::from_millis(200));
    }
}

/// Checks for `span` that vrrpd stays BACKUP and director 1 keeps the VIP.
fn holds(t: &Topology, d2: &Daemon, span: Duration, step: &str) -> anyhow::Result<()> {
    let start = std::time::Instant::now();
    while start.elapsed() < span {
        let (state, _) = view(d2)?;
        ensure!(
            state == "BACKUP",
            "{step}: vrrpd became {state}\n{}",
            d2.tail()
        );
        t.expect(step, &[&[VIP], &[]], &[d2])?;
        thread::sleep(Duration::from_millis(250));
    }
    Ok(())
}

#[test]
fn transitions_complete_under_a_forged_flood_keepalived_master() -> anyhow::Result<()> {
    lab::require_keepalived()?;
    let _serial = lab::one_at_a_time()?;
    let t = Topology::new("fld", &LAYOUT)?;
    let scratch = Scratch::new("fld")?;
    let d1_conf = scratch.write("d1.conf", &instance(150))?;
    let d2_conf = scratch.write("d2.conf", &instance(100))?;
    let mut d1 = Daemon::keepalived(t.director(0), &d1_conf)?;
    let state = scratch.path().join("d2.senders.json");
    let state_arg = state.to_str().context("a UTF-8 scratch path")?.to_owned();
    let d2 = Daemon::vrrpd_with(t.director(1), &d2_conf, &["--state", &state_arg])?;
    t.expect("keepalived master", &[&[VIP], &[]], &[&d1, &d2])?;
    wait(
        &d2,
        Duration::from_secs(10),
        "vrrpd hears the master",
        |v| v.0 == "BACKUP" && v.1 == 150,
    )?;

    // The forgeries claim director 1 (10.0.7.5), straight into director 2's port.
    let target = Target {
        src: [10, 0, 7, 5],
        vrid: 51,
        vips: vec![[10, 0, 7, 100]],
        replay: None,
    };
    let frames = flood::frames(Profile::ForgedHigher, &target, 1024);
    let flood = Flood::start(t.switch(), "d2e0", frames, RATE)?;

    holds(&t, &d2, Duration::from_secs(6), "under flood, at rest")?;

    // The master reloads to 120: its adverts change, the backup verifies them anyway.
    scratch.write("d1.conf", &instance(120))?;
    d1.kill("-HUP")?;
    wait(
        &d2,
        Duration::from_secs(10),
        "priority change verified under flood",
        |v| v.1 == 120,
    )?;
    holds(&t, &d2, Duration::from_secs(5), "after the priority change")?;

    // The master stops (priority 0): the backup takes over.
    d1.stop()?;
    t.expect("vrrpd takes over after priority 0", &[&[], &[VIP]], &[&d2])?;

    // The old master comes back (a fresh keepalived: IP id 1) and preempts at 150.
    scratch.write("d1.conf", &instance(150))?;
    let d1 = Daemon::keepalived(t.director(0), &d1_conf)?;
    t.expect_within(
        "the returning master is accepted under flood",
        &[&[VIP], &[]],
        &[&d1, &d2],
        Duration::from_secs(20),
    )?;
    wait(&d2, Duration::from_secs(10), "vrrpd back to BACKUP", |v| {
        v.0 == "BACKUP" && v.1 == 150
    })?;

    // The master's eth0 goes down: keepalived enters FAULT (its priority 0 cannot leave),
    // vrrpd takes over when the master-down timer fires. Some seconds later the link
    // returns: keepalived comes back as BACKUP, learns vrrpd's sequence from its adverts
    // and preempts with the IP id it would have sent next when its link went.
    t.set_link(0, "eth0", false)?;
    t.expect(
        "vrrpd takes over from the master whose link failed",
        &[&[], &[VIP]],
        &[&d1, &d2],
    )?;
    thread::sleep(Duration::from_secs(5));
    t.set_link(0, "eth0", true)?;
    t.expect_within(
        "the master back from its link failure is accepted under flood",
        &[&[VIP], &[]],
        &[&d1, &d2],
        Duration::from_secs(20),
    )?;
    wait(
        &d2,
        Duration::from_secs(10),
        "vrrpd back to BACKUP after the link failure",
        |v| v.0 == "BACKUP" && v.1 == 150,
    )?;

    // vrrpd dies (SIGKILL: no stop, nothing written then) and its supervisor starts it
    // again, under the flood: the senders come from the last tick's --state.
    let mut d2 = d2;
    d2.crash()?;
    ensure!(
        std::fs::read_to_string(&state)?.contains("\"10.0.7.5\""),
        "--state does not name the master"
    );
    let mark = d2.log_text().len();
    d2.restart()?;
    wait(
        &d2,
        Duration::from_secs(10),
        "the restarted vrrpd verifies the master under flood",
        |v| v.1 == 150,
    )?;
    holds(&t, &d2, Duration::from_secs(6), "after vrrpd restarted")?;
    let restarted = d2.log_text().get(mark..).unwrap_or_default().to_owned();
    ensure!(
        !restarted.contains("Entering MASTER STATE"),
        "the restarted vrrpd took over, if briefly\n{}",
        d2.tail()
    );
    ensure!(
        restarted.contains("1 AH sender(s) remembered"),
        "the restart did not read --state\n{}",
        d2.tail()
    );

    let stats = flood.stop()?;
    ensure!(stats.sent > 0, "the flood sent nothing");
    let status = d2.status()?;
    let counters = &status[0]["counters"];
    eprintln!(
        "flood: {} frames at {:.0}/s; vrrpd counters {counters}",
        stats.sent,
        stats.rate()
    );
    ensure!(
        counters["bad_icv"].as_u64().unwrap_or(0) + counters["hmac_budget"].as_u64().unwrap_or(0)
            > 0,
        "the forgeries reached vrrpd's program: {counters}"
    );
    Ok(())
}
