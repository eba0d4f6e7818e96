//! Live conformance with keepalived 2.2.7: each test runs one scenario twice in network
//! namespaces, once with vrrpd as the preferred director (1) and keepalived as director 2,
//! once the other way round, and asserts that vrrpd does what keepalived does in the same
//! test. Both daemons read the same keepalived.conf (vrrpd reads that syntax too).
//!
//! - a sync group whose members share an interface comes back after that interface flaps
//!   (`vrrp-userspace/tests/scenarios/shared-interface.yaml`);
//! - VRRPv2 with `advert_int 3`: after the master's priority-0 advert the backup takes over
//!   after its skew time, measured on the wire (`advert-int-3.yaml`);
//! - on SIGTERM, `notify` and `notify_stop` are called with the same words.
use std::{
    net::{IpAddr, Ipv4Addr},
    thread,
    time::{Duration, Instant},
};

use anyhow::{Context as _, bail, ensure};
use tests::lab::{self, Capture, Daemon, Layout, Scratch, SeenAdvert, Side, Topology};

/// vrrpd as director 1 (the preferred one) with keepalived as director 2, and the reverse.
const PAIRINGS: [[Side; 2]; 2] = [
    [Side::Vrrpd, Side::Keepalived],
    [Side::Keepalived, Side::Vrrpd],
];

/// Priorities of the preferred director and of the other one.
const PRIORITIES: [u8; 2] = [150, 100];

/// One `vrrp_instance`, AH-authenticated (key `k@l`), preempting, starting as BACKUP.
fn vrrp_instance(
    name: &str,
    interface: &str,
    vrid: u8,
    priority: u8,
    advert_int: u8,
    vips: &[&str],
    extra: &str,
) -> String {
    let vips: String = vips.iter().map(|v| format!("        {v}\n")).collect();
    format!(
        "vrrp_instance {name} {{
    state BACKUP
    interface {interface}
    virtual_router_id {vrid}
    priority {priority}
    advert_int {advert_int}
    authentication {{
        auth_type AH
        auth_pass k@l
    }}
    virtual_ipaddress {{
{vips}    }}
{extra}}}
"
    )
}

/// Stops every daemon (in order), then checks that none reported an authentication error
/// and that each vrrpd removed its VIPs.
fn stop_all(t: &Topology, daemons: &mut [(usize, Daemon)]) -> anyhow::Result<()> {
    for (n, d) in daemons.iter_mut() {
        d.stop()
            .with_context(|| format!("stopping {} on director {}", d.side(), *n + 1))?;
    }
    for (n, d) in daemons.iter() {
        d.ensure_no_auth_errors()?;
        if d.side() == Side::Vrrpd {
            let left = t.vips(*n)?;
            ensure!(
                left.is_empty(),
                "director {} kept VIPs after vrrpd stopped: {left:?}",
                n + 1
            );
        }
    }
    Ok(())
}

/// Fails unless every instance of a vrrpd is in `want`.
fn expect_states(daemon: &Daemon, director: usize, want: &str) -> anyhow::Result<()> {
    let states = daemon.states()?;
    ensure!(
        !states.is_empty() && states.iter().all(|(_, s)| s == want),
        "director {director} (vrrpd): expected every instance {want}, got {states:?}\n{}",
        daemon.tail()
    );
    Ok(())
}

/// Runs both pairings, then returns their results, or an error naming each pairing's
/// outcome (keepalived's figure helps to read vrrpd's failure).
fn both_pairings<T: std::fmt::Debug>(
    run: impl Fn(&str, [Side; 2]) -> anyhow::Result<T>,
    tags: [&str; 2],
) -> anyhow::Result<[T; 2]> {
    let mut results = Vec::new();
    for (tag, sides) in tags.iter().zip(PAIRINGS) {
        let started = Instant::now();
        let result = run(tag, sides);
        eprintln!(
            "  director 1 = {}, director 2 = {}: {} ({:.1} s)",
            sides[0],
            sides[1],
            if result.is_ok() { "ok" } else { "FAILED" },
            started.elapsed().as_secs_f64()
        );
        results.push(result);
    }
    match (results.remove(0), results.remove(0)) {
        (Ok(a), Ok(b)) => Ok([a, b]),
        (a, b) => {
            let show = |sides: [Side; 2], r: anyhow::Result<T>| match r {
                Ok(v) => format!(
                    "director 1 = {}, director 2 = {}: ok, {v:?}",
                    sides[0], sides[1]
                ),
                Err(e) => format!(
                    "director 1 = {}, director 2 = {}: {e:#}",
                    sides[0], sides[1]
                ),
            };
            bail!("{}\n\n{}", show(PAIRINGS[0], a), show(PAIRINGS[1], b))
        }
    }
}

// --- (a) sync group members sharing an interface ---------------------------------------

/// eth0 (10.0.0.0/24) carries VI_A and VI_B, eth1 (10.0.1.0/24) VI_C; one sync group.
const SHARED: Layout<'static> = Layout {
    subnets: &["10.0.0", "10.0.1"],
    directors: 2,
    clients: &[],
};
const SHARED_VIPS: [&str; 3] = ["10.0.0.100", "10.0.0.101", "10.0.1.100"];

fn shared_interface_conf(priority: u8) -> String {
    let mut conf = String::from(
        "vrrp_sync_group VG {\n    group {\n        VI_A\n        VI_B\n        VI_C\n    }\n}\n",
    );
    conf += &vrrp_instance("VI_A", "eth0", 71, priority, 1, &["10.0.0.100"], "");
    conf += &vrrp_instance("VI_B", "eth0", 72, priority, 1, &["10.0.0.101"], "");
    conf += &vrrp_instance("VI_C", "eth1", 73, priority, 1, &["10.0.1.100"], "");
    conf
}

/// Director 1 takes the group, loses eth0 (director 2 takes all three, director 1 stays
/// out while eth0 is down), gets eth0 back: returns how long after eth0 came back up
/// director 1 held the three VIPs again (and director 2 none).
fn shared_interface_flap(tag: &str, sides: [Side; 2]) -> anyhow::Result<Duration> {
    let t = Topology::new(tag, &SHARED)?;
    let scratch = Scratch::new(tag)?;
    let mut daemons: Vec<(usize, Daemon)> = Vec::new();
    let mut confs = Vec::new();
    for (n, priority) in PRIORITIES.iter().enumerate() {
        confs.push(scratch.write(
            &format!("d{}.conf", n + 1),
            &shared_interface_conf(*priority),
        )?);
    }
    // Director 1 first, so that it is MASTER before director 2 starts: no start-up race.
    daemons.push((0, Daemon::start(sides[0], t.director(0), &confs[0])?));
    t.expect("director 1 alone", &[&SHARED_VIPS, &[]], &[&daemons[0].1])?;
    daemons.push((1, Daemon::start(sides[1], t.director(1), &confs[1])?));
    thread::sleep(Duration::from_secs(4));
    let refs: Vec<&Daemon> = daemons.iter().map(|(_, d)| d).collect();
    t.expect("both running", &[&SHARED_VIPS, &[]], &refs)?;
    for (n, d) in &daemons {
        if d.side() == Side::Vrrpd {
            expect_states(d, n + 1, if *n == 0 { "MASTER" } else { "BACKUP" })?;
        }
    }

    t.set_link(0, "eth0", false)?;
    t.expect("eth0 down on director 1", &[&[], &SHARED_VIPS], &refs)?;
    // The group stays in FAULT while eth0 is down, VI_C (on eth1) included.
    thread::sleep(Duration::from_secs(3));
    t.expect("eth0 still down on director 1", &[&[], &SHARED_VIPS], &refs)?;
    if daemons[0].1.side() == Side::Vrrpd {
        expect_states(&daemons[0].1, 1, "FAULT")?;
    }

    t.set_link(0, "eth0", true)?;
    let recovered = t.expect_within(
        "eth0 up again on director 1",
        &[&SHARED_VIPS, &[]],
        &refs,
        Duration::from_secs(15),
    )?;
    for (n, d) in &daemons {
        if d.side() == Side::Vrrpd {
            expect_states(d, n + 1, if *n == 0 { "MASTER" } else { "BACKUP" })?;
        }
    }
    drop(refs);
    stop_all(&t, &mut daemons)?;
    Ok(recovered)
}

/// A sync group whose members VI_A and VI_B share eth0 (VI_C on eth1): eth0 down then up on
/// the preferred director. keepalived takes the whole group back (about 3.5 s after eth0
/// returns: the master-down interval against the other director's lower priority); vrrpd
/// must too, within a liveness bound of 15 s (a past vrrpd left them in FAULT for good).
#[test]
fn sync_group_sharing_an_interface_recovers_after_a_flap() -> anyhow::Result<()> {
    lab::require_keepalived()?;
    let _serial = lab::one_at_a_time()?;
    eprintln!("sync group sharing eth0, eth0 flapped on director 1:");
    let [vrrpd_first, keepalived_first] = both_pairings(shared_interface_flap, ["ksv", "ksk"])?;
    eprintln!(
        "  back to MASTER after eth0 up: director 1 vrrpd {:.2} s, director 1 keepalived {:.2} s",
        vrrpd_first.as_secs_f64(),
        keepalived_first.as_secs_f64()
    );
    Ok(())
}

// --- (b) VRRPv2 skew time with advert_int 3 --------------------------------------------

const SKEW: Layout<'static> = Layout {
    subnets: &["10.0.1"],
    directors: 2,
    clients: &[],
};
const SKEW_VIP: &str = "10.0.1.100";
const SKEW_VRID: u8 = 81;

/// VRRPv2 skew time of the backup: (256 - 100)/256 s (keepalived's `VRRP_TIMER_SKEW`,
/// whatever `advert_int`).
const EXPECTED_SKEW: Duration = Duration::from_micros(609_375);

/// A window telling the skew time (0.61 s) from the master-down interval (3 x 3 s + skew
/// = 9.6 s) and from one advert interval (3 s).
const SKEW_WINDOW: (Duration, Duration) = (Duration::from_millis(400), Duration::from_millis(1500));

/// How far vrrpd's gap may be from keepalived's.
const SKEW_TOLERANCE: Duration = Duration::from_millis(350);

/// Director `n`'s (from 0) address on the skew test's segment.
fn skew_director(n: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(10, 0, 1, 5 + n))
}

/// Director 1 (150) is master with `advert_int 3`, director 2 (100) its backup; director 1
/// stops. Returns the gap on the wire between director 1's priority-0 advert and director
/// 2's first advert.
fn skew_takeover(tag: &str, sides: [Side; 2]) -> anyhow::Result<Duration> {
    let t = Topology::new(tag, &SKEW)?;
    let scratch = Scratch::new(tag)?;
    let capture = Capture::start(t.switch(), "br0", scratch.path())?;
    let mut confs = Vec::new();
    for (n, priority) in PRIORITIES.iter().enumerate() {
        let conf = vrrp_instance("VI_1", "eth0", SKEW_VRID, *priority, 3, &[SKEW_VIP], "");
        confs.push(scratch.write(&format!("d{}.conf", n + 1), &conf)?);
    }
    let mut d1 = Daemon::start(sides[0], t.director(0), &confs[0])?;
    // Alone, director 1 takes over after 3 x 3 s + skew = 9.4 s.
    t.expect_within(
        "director 1 alone",
        &[&[SKEW_VIP], &[]],
        &[&d1],
        Duration::from_secs(20),
    )?;
    let d2 = Daemon::start(sides[1], t.director(1), &confs[1])?;
    // Two adverts of director 1's reach director 2.
    thread::sleep(Duration::from_secs(7));
    t.expect("both running", &[&[SKEW_VIP], &[]], &[&d1, &d2])?;
    d1.stop().context("stopping director 1")?;
    t.expect("director 1 stopped", &[&[], &[SKEW_VIP]], &[&d1, &d2])?;
    // Director 2's first advert is on the wire even if it came after its VIP (a gap that
    // long then fails the window below instead of going unseen).
    thread::sleep(Duration::from_millis(3500));
    let mut stopped: Vec<(usize, Daemon)> = vec![(0, d1), (1, d2)];
    stop_all(&t, &mut stopped)?;
    let seen: Vec<SeenAdvert> = lab::adverts(&capture.finish()?)
        .into_iter()
        .filter(|a| a.vrid == SKEW_VRID)
        .collect();
    let (d1_addr, d2_addr) = (skew_director(0), skew_director(1));
    let show = || {
        seen.iter()
            .map(|a| {
                format!(
                    "{:.6} {} priority {}",
                    a.at.as_secs_f64(),
                    a.src,
                    a.priority
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    };
    // Director 1's adverts came every 3 s (advert_int 3 is in effect).
    let d1_times: Vec<Duration> = seen
        .iter()
        .filter(|a| a.src == d1_addr && a.priority == PRIORITIES[0])
        .map(|a| a.at)
        .collect();
    ensure!(
        d1_times.len() >= 3,
        "fewer than 3 adverts from director 1 ({}):\n{}",
        sides[0],
        show()
    );
    for pair in d1_times.windows(2) {
        let interval = pair[1] - pair[0];
        ensure!(
            interval > Duration::from_millis(2500) && interval < Duration::from_millis(3500),
            "director 1 ({}) advertised {interval:?} apart, not every 3 s:\n{}",
            sides[0],
            show()
        );
    }
    let stop = seen
        .iter()
        .position(|a| a.src == d1_addr && a.priority == 0)
        .with_context(|| {
            format!(
                "no priority-0 advert from director 1 ({}):\n{}",
                sides[0],
                show()
            )
        })?;
    ensure!(
        !seen[..stop].iter().any(|a| a.src == d2_addr),
        "director 2 ({}) advertised while director 1 was master:\n{}",
        sides[1],
        show()
    );
    let takeover = seen[stop..]
        .iter()
        .find(|a| a.src == d2_addr)
        .with_context(|| {
            format!(
                "no advert from director 2 ({}) after the priority-0 advert:\n{}",
                sides[1],
                show()
            )
        })?;
    ensure!(
        takeover.priority == PRIORITIES[1],
        "director 2 ({}) took over with priority {}:\n{}",
        sides[1],
        takeover.priority,
        show()
    );
    Ok(takeover.at - seen[stop].at)
}

/// VRRPv2, `advert_int 3`: master at 150 stops (priority 0), the backup at 100 must take
/// over after its skew time (256 - 100)/256 s = 0.61 s, not after the master-down interval.
/// Measured on the wire, for keepalived as the backup and for vrrpd as the backup.
#[test]
fn vrrpv2_backup_takes_over_after_skew_time_with_advert_int_3() -> anyhow::Result<()> {
    lab::require_keepalived()?;
    lab::require_tcpdump()?;
    let _serial = lab::one_at_a_time()?;
    eprintln!("VRRPv2 advert_int 3, master (150) stops, backup (100) takes over:");
    // Director 2 is the backup: keepalived in the first pairing, vrrpd in the second.
    let [keepalived_gap, vrrpd_gap] = both_pairings(skew_takeover, ["kbv", "kbk"])?;
    eprintln!(
        "  priority-0 advert to the backup's first advert: keepalived {:.4} s, vrrpd {:.4} s \
         (skew time {:.4} s)",
        keepalived_gap.as_secs_f64(),
        vrrpd_gap.as_secs_f64(),
        EXPECTED_SKEW.as_secs_f64()
    );
    for (who, gap) in [("keepalived", keepalived_gap), ("vrrpd", vrrpd_gap)] {
        ensure!(
            gap >= SKEW_WINDOW.0 && gap <= SKEW_WINDOW.1,
            "{who} as the backup took over {gap:?} after the priority-0 advert: outside \
             {SKEW_WINDOW:?} (skew time {EXPECTED_SKEW:?}; master down would be ~9.6 s)"
        );
    }
    ensure!(
        vrrpd_gap.abs_diff(keepalived_gap) <= SKEW_TOLERANCE,
        "vrrpd took over {vrrpd_gap:?} after the priority-0 advert, keepalived {keepalived_gap:?}: \
         more than {SKEW_TOLERANCE:?} apart"
    );
    Ok(())
}

// --- (c) notify scripts on stop -------------------------------------------------------------

const NOTIFY: Layout<'static> = Layout {
    subnets: &["10.0.2"],
    directors: 2,
    clients: &[],
};
const NOTIFY_VIP: &str = "10.0.2.100";

/// What one director's scripts were called with: `notify` (every transition) and
/// `notify_stop`, one line of arguments per call.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Calls {
    notify: Vec<String>,
    notify_stop: Vec<String>,
}

/// Director 1 (150) becomes master, director 2 (100) backup; director 2 stops, then
/// director 1 (so each stops from a state of its own, with no transition in between).
fn stop_notifications(tag: &str, sides: [Side; 2]) -> anyhow::Result<[Calls; 2]> {
    let t = Topology::new(tag, &NOTIFY)?;
    let scratch = Scratch::new(tag)?;
    let mut confs = Vec::new();
    for (n, priority) in PRIORITIES.iter().enumerate() {
        let any = scratch.recorder(&format!("d{}-notify", n + 1))?;
        let stop = scratch.recorder(&format!("d{}-notify-stop", n + 1))?;
        let extra = format!(
            "    notify {}\n    notify_stop {}\n",
            any.display(),
            stop.display()
        );
        let conf = format!(
            "global_defs {{\n    script_user root\n}}\n{}",
            vrrp_instance("VI_1", "eth0", 91, *priority, 1, &[NOTIFY_VIP], &extra)
        );
        confs.push(scratch.write(&format!("d{}.conf", n + 1), &conf)?);
    }
    let d1 = Daemon::start(sides[0], t.director(0), &confs[0])?;
    t.expect("director 1 alone", &[&[NOTIFY_VIP], &[]], &[&d1])?;
    let d2 = Daemon::start(sides[1], t.director(1), &confs[1])?;
    thread::sleep(Duration::from_secs(3));
    t.expect("both running", &[&[NOTIFY_VIP], &[]], &[&d1, &d2])?;
    let calls = |n: usize| Calls {
        notify: scratch.lines(&format!("d{n}-notify.log")),
        notify_stop: scratch.lines(&format!("d{n}-notify-stop.log")),
    };
    let mut daemons = vec![(1, d2), (0, d1)];
    stop_all(&t, &mut daemons)?;
    // The scripts run asynchronously: wait (bounded) until both directors' calls are still
    // for half a second.
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut last = [calls(1), calls(2)];
    loop {
        thread::sleep(Duration::from_millis(500));
        let now = [calls(1), calls(2)];
        if now == last || Instant::now() > deadline {
            return Ok(now);
        }
        last = now;
    }
}

/// `notify` and `notify_stop` on SIGTERM: vrrpd calls them with the same arguments as
/// keepalived, in the same roles (the preferred director stopping from MASTER, the other
/// from BACKUP), over the whole run.
#[test]
fn stop_runs_notify_scripts_as_keepalived_does() -> anyhow::Result<()> {
    lab::require_keepalived()?;
    let _serial = lab::one_at_a_time()?;
    eprintln!("notify / notify_stop, backup stopped then master:");
    let [vrrpd_first, keepalived_first] = both_pairings(stop_notifications, ["knv", "knk"])?;
    let roles = [
        (
            "director 1 (MASTER, 150)",
            &vrrpd_first[0],
            &keepalived_first[0],
        ),
        (
            "director 2 (BACKUP, 100)",
            &keepalived_first[1],
            &vrrpd_first[1],
        ),
    ];
    let mut differ = Vec::new();
    for (role, vrrpd, keepalived) in roles {
        eprintln!("  {role}:\n    keepalived {keepalived:?}\n    vrrpd      {vrrpd:?}");
        if vrrpd != keepalived {
            differ.push(format!(
                "{role}: keepalived called {keepalived:#?}\nvrrpd called {vrrpd:#?}"
            ));
        }
    }
    ensure!(differ.is_empty(), "{}", differ.join("\n"));
    Ok(())
}
