//! Any number of virtual addresses (issue 10, item 2), live against keepalived 2.2.7: an
//! instance with 1, 16, 17, 20 and 100 VIPs on two directors, vrrpd on either side (and
//! vrrpd on both with 20, the case, where both directors held all 20 when the
//! kernel compared at most 16). Director 1 (priority 150) must hold every VIP and director
//! 2 (priority 100) none, also once a master-down interval has passed: the backup accepts
//! the master's adverts, whichever daemon sends them and whichever checks them.
use std::{thread, time::Duration};

use anyhow::ensure;
use tests::lab::{self, Daemon, Instance, Layout, Scratch, Side, Topology};

const LAYOUT: Layout<'static> = Layout {
    subnets: &["10.0.5"],
    directors: 2,
    clients: &[],
};

/// Longer than VRRPv2's master-down interval at 1 s adverts and priority 100 (3.61 s): a
/// backup that dropped the master's adverts would have taken over by then.
const MASTER_DOWN: Duration = Duration::from_millis(4500);

/// `count` VIPs 10.0.5.100, 10.0.5.101, ... (10.0.6.x beyond 10.0.5.254).
fn vips(count: usize) -> Vec<String> {
    (0..count)
        .map(|i| {
            let n = 100 + i;
            if n < 255 {
                format!("10.0.5.{n}")
            } else {
                format!("10.0.6.{}", n - 254)
            }
        })
        .collect()
}

/// One instance without authentication (AH verifies at most 30 addresses, see
/// docs/dataplane.md) carrying `vips`.
fn conf(vrid: u8, priority: u8, vips: &[String]) -> String {
    let vips: Vec<&str> = vips.iter().map(String::as_str).collect();
    Instance::new("VI_1", "eth0", vrid, priority, &vips)
        .no_auth()
        .conf()
}

/// The state of VI_1 as `daemon` reports it (vrrpd's status; keepalived: its log).
fn state(daemon: &Daemon) -> anyhow::Result<String> {
    match daemon.side() {
        Side::Vrrpd => Ok(daemon
            .states()?
            .into_iter()
            .find(|(name, _)| name == "VI_1")
            .map(|(_, state)| state)
            .unwrap_or_default()),
        Side::Keepalived => {
            let log = daemon.log_text();
            let last = log
                .lines()
                .rfind(|l| l.contains("(VI_1) Entering"))
                .unwrap_or("");
            Ok(["MASTER", "BACKUP", "FAULT"]
                .into_iter()
                .find(|s| last.contains(&format!("Entering {s} STATE")))
                .unwrap_or("")
                .to_owned())
        }
    }
}

/// Director 1 (`first`, priority 150) and director 2 (`second`, 100) with `count` VIPs:
/// director 1 holds them all, director 2 none and stays BACKUP.
fn pair(
    t: &Topology,
    scratch: &Scratch,
    first: Side,
    second: Side,
    count: usize,
    vrid: u8,
) -> anyhow::Result<()> {
    let all = vips(count);
    let step = format!("{count} VIPs, {first} (150) / {second} (100)");
    let mut d1 = Daemon::start(
        first,
        t.director(0),
        scratch.write(&format!("d1-{vrid}.conf"), &conf(vrid, 150, &all))?,
    )?;
    let mut d2 = Daemon::start(
        second,
        t.director(1),
        scratch.write(&format!("d2-{vrid}.conf"), &conf(vrid, 100, &all))?,
    )?;
    let holds: Vec<&str> = all.iter().map(String::as_str).collect();
    t.expect(&step, &[&holds, &[]], &[&d1, &d2])?;
    thread::sleep(MASTER_DOWN);
    t.expect(
        &format!("{step}, a master-down interval later"),
        &[&holds, &[]],
        &[&d1, &d2],
    )?;
    let states = (state(&d1)?, state(&d2)?);
    ensure!(
        states == ("MASTER".to_owned(), "BACKUP".to_owned()),
        "{step}: states {states:?}\n{}",
        lab::tails(&[&d1, &d2])
    );
    for d in [&d1, &d2] {
        let log = d.log_text();
        let refused: Vec<&str> = log
            .lines()
            .filter(|l| {
                l.contains("VIPs but received")
                    || l.contains("not present in MASTER advert")
                    || l.contains("ip number count")
            })
            .collect();
        ensure!(
            refused.is_empty(),
            "{step}: {} refused adverts:\n{}",
            d.side(),
            refused.join("\n")
        );
    }
    if first == Side::Vrrpd || second == Side::Vrrpd {
        // The vrrpd side counted no advert as bad_address_count or bad_address_list.
        for d in [&d1, &d2].into_iter().filter(|d| d.side() == Side::Vrrpd) {
            let status = d.status()?;
            let counted = |s: &serde_json::Value, reason: &str| {
                s["drops"][reason].as_u64().unwrap_or(0)
                    + s["counters"][reason].as_u64().unwrap_or(0)
            };
            let errors: u64 = status
                .iter()
                .map(|s| counted(s, "bad_address_count") + counted(s, "bad_address_list"))
                .sum();
            let text = serde_json::to_string(&status)?;
            ensure!(errors == 0, "{step}: vrrpd counted address errors: {text}");
        }
    }
    if second == Side::Vrrpd {
        // The backup verified the master's adverts in the kernel.
        let text = serde_json::to_string(&d2.status()?)?;
        ensure!(
            text.contains("\"valid\""),
            "{step}: the backup vrrpd counted no valid advert: {text}"
        );
    }
    d2.stop()?;
    d1.stop()?;
    t.expect(&format!("{step}: stopped"), &[&[], &[]], &[])?;
    Ok(())
}

#[test]
fn any_number_of_vips_against_keepalived() -> anyhow::Result<()> {
    lab::require_keepalived()?;
    let _serial = lab::one_at_a_time()?;
    let t = Topology::new("vip", &LAYOUT)?;
    let scratch = Scratch::new("vip")?;
    let mut vrid = 30;
    for count in [1, 16, 17, 20, 100] {
        for (first, second) in [
            (Side::Vrrpd, Side::Keepalived),
            (Side::Keepalived, Side::Vrrpd),
        ] {
            vrid += 1;
            pair(&t, &scratch, first, second, count, vrid)?;
        }
    }
    pair(&t, &scratch, Side::Vrrpd, Side::Vrrpd, 20, vrid + 1)
}
