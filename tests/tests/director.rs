//! What a real director needs beyond the namespaces' defaults, live against keepalived
//! 2.2.7:
//!
//! - VRRP's multicast group is joined on the VRRP interface while the daemon runs (a NIC
//!   that filters multicast would otherwise never hand the adverts to XDP);
//! - no signal leaves VIPs behind: SIGHUP and SIGUSR1 keep the daemon running as MASTER
//!   (keepalived reloads and dumps), and every other signal whose default action would end
//!   the process ends it as SIGTERM does, with the VIPs removed.
use std::{thread, time::Duration};

use anyhow::{Context as _, ensure};
use tests::lab::{self, Daemon, Instance, Layout, Scratch, Side, Topology};

const LAYOUT: Layout<'static> = Layout {
    subnets: &["10.0.5"],
    directors: 2,
    clients: &[],
};
const VIP: &str = "10.0.5.100";

/// One AH-authenticated instance; each director gets its own VRID, so that the two daemons
/// run side by side without electing each other.
fn conf(vrid: u8) -> String {
    Instance::new("VI_1", "eth0", vrid, 150, &[VIP]).conf()
}

/// The IPv4 multicast groups joined on eth0 of director `n`.
fn groups(t: &Topology, n: usize) -> anyhow::Result<Vec<String>> {
    let out = t
        .director(n)
        .exec(&["ip", "-4", "maddr", "show", "dev", "eth0"])?;
    Ok(out
        .lines()
        .filter_map(|l| l.trim().strip_prefix("inet"))
        .map(|g| g.trim().to_owned())
        .collect())
}

/// vrrpd on director 1 and keepalived on director 2: both list 224.0.0.18 on eth0 while
/// they run; vrrpd's membership goes with it.
#[test]
fn the_vrrp_group_is_joined_on_the_interface_as_keepalived_does() -> anyhow::Result<()> {
    lab::require_keepalived()?;
    let _serial = lab::one_at_a_time()?;
    let t = Topology::new("dmc", &LAYOUT)?;
    let scratch = Scratch::new("dmc")?;
    let before = groups(&t, 0)?;
    ensure!(
        !before.iter().any(|g| g == "224.0.0.18"),
        "224.0.0.18 joined before any daemon ran: {before:?}"
    );
    let mut vrrpd = Daemon::start(
        Side::Vrrpd,
        t.director(0),
        scratch.write("d1.conf", &conf(121))?,
    )?;
    let keepalived = Daemon::start(
        Side::Keepalived,
        t.director(1),
        scratch.write("d2.conf", &conf(122))?,
    )?;
    t.expect("both running", &[&[VIP], &[VIP]], &[&vrrpd, &keepalived])?;
    let (ours, theirs) = (groups(&t, 0)?, groups(&t, 1)?);
    eprintln!("eth0 groups: vrrpd {ours:?}, keepalived {theirs:?}");
    ensure!(
        theirs.iter().any(|g| g == "224.0.0.18"),
        "keepalived did not join 224.0.0.18 on eth0: {theirs:?}"
    );
    ensure!(
        ours.iter().any(|g| g == "224.0.0.18"),
        "vrrpd did not join 224.0.0.18 on eth0 (keepalived did): {ours:?}\n{}",
        vrrpd.tail()
    );
    vrrpd.stop()?;
    let after = groups(&t, 0)?;
    ensure!(
        !after.iter().any(|g| g == "224.0.0.18"),
        "224.0.0.18 still joined after vrrpd stopped: {after:?}"
    );
    Ok(())
}

/// Starts `side` alone on director 1 and waits until it holds the VIP.
fn master(t: &Topology, scratch: &Scratch, side: Side) -> anyhow::Result<Daemon> {
    let d = Daemon::start(side, t.director(0), scratch.write("d1.conf", &conf(123))?)?;
    t.expect(&format!("{side} master"), &[&[VIP], &[]], &[&d])?;
    Ok(d)
}

/// SIGHUP and SIGUSR1 to a MASTER: keepalived reloads or dumps and stays MASTER; so must
/// vrrpd (until it can reload, it says so and keeps its configuration).
#[test]
fn sighup_and_sigusr1_leave_a_master_running() -> anyhow::Result<()> {
    lab::require_keepalived()?;
    let _serial = lab::one_at_a_time()?;
    let t = Topology::new("dhu", &LAYOUT)?;
    let scratch = Scratch::new("dhu")?;
    for side in [Side::Keepalived, Side::Vrrpd] {
        let mut d = master(&t, &scratch, side)?;
        for signal in ["-HUP", "-USR1"] {
            d.kill(signal)?;
            thread::sleep(Duration::from_secs(2));
            ensure!(d.running()?, "{side} died on {signal}\n{}", d.tail());
            t.expect(&format!("{side} after {signal}"), &[&[VIP], &[]], &[&d])?;
        }
        if side == Side::Vrrpd {
            let log = d.log_text();
            ensure!(
                log.contains("SIGHUP") && log.contains("SIGUSR1: {"),
                "vrrpd did not log what it did on SIGHUP and SIGUSR1\n{}",
                d.tail()
            );
        }
        d.stop()?;
        t.expect(&format!("{side} stopped"), &[&[], &[]], &[&d])?;
    }
    Ok(())
}

/// Signals whose default action ends a process: vrrpd ends as on SIGTERM, exit status 0
/// and no VIP left on the interface.
#[test]
fn terminating_signals_end_vrrpd_cleanly() -> anyhow::Result<()> {
    let _serial = lab::one_at_a_time()?;
    let t = Topology::new("dsg", &LAYOUT)?;
    let scratch = Scratch::new("dsg")?;
    for signal in ["-QUIT", "-ALRM", "-PWR", "-XCPU", "-USR2"] {
        let mut d = master(&t, &scratch, Side::Vrrpd)?;
        if signal == "-USR2" {
            // A dump, like SIGUSR1: not a stop.
            d.kill(signal)?;
            thread::sleep(Duration::from_secs(1));
            ensure!(d.running()?, "vrrpd died on SIGUSR2\n{}", d.tail());
            d.stop()?;
        } else {
            d.stop_with(signal)
                .with_context(|| format!("vrrpd on {signal}"))?;
        }
        let left = t.vips(0)?;
        ensure!(
            left.is_empty(),
            "vrrpd left {left:?} behind on {signal}\n{}",
            d.tail()
        );
    }
    Ok(())
}
