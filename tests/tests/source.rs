//! The address adverts are sent from, chosen as keepalived chooses it, live against
//! keepalived 2.2.7 on the same director:
//!
//! - `mcast_src_ip` is honoured, even for an address that is a secondary;
//! - without it, the interface's primary address; when that address goes away and another
//!   takes its place (a secondary promoted), the adverts follow without a restart.
use std::{
    net::{IpAddr, Ipv4Addr},
    thread,
    time::Duration,
};

use anyhow::{Context as _, ensure};
use tests::lab::{self, Capture, Daemon, Instance, Layout, Scratch, SeenAdvert, Side, Topology};

const LAYOUT: Layout<'static> = Layout {
    subnets: &["10.0.6"],
    directors: 1,
    clients: &[],
};
const VIP: &str = "10.0.6.100";
const VRID: u8 = 131;
const PRIMARY: Ipv4Addr = Ipv4Addr::new(10, 0, 6, 5);
const SECONDARY: Ipv4Addr = Ipv4Addr::new(10, 0, 6, 55);

fn conf(extra: &str) -> String {
    Instance::new("VI_1", "eth0", VRID, 150, &[VIP])
        .auth("PASS", "secret")
        .extra(extra)
        .conf()
}

/// The sources of our VRID's adverts (not the priority-0 one) captured between `from` and
/// `to` (since the epoch).
fn sources(seen: &[SeenAdvert], from: Duration, to: Duration) -> Vec<IpAddr> {
    seen.iter()
        .filter(|a| a.vrid == VRID && a.at > from && a.at < to && a.priority != 0)
        .map(|a| a.src)
        .collect()
}

fn since_epoch() -> Duration {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
}

/// `side` alone on the director with `mcast_src_ip` set to a secondary address: every
/// advert comes from it.
fn configured(side: Side) -> anyhow::Result<Vec<IpAddr>> {
    let tag = format!("sc{}", &side.to_string()[..1]);
    let t = Topology::new(&tag, &LAYOUT)?;
    let scratch = Scratch::new(&tag)?;
    t.director(0)
        .ip(&["addr", "add", &format!("{SECONDARY}/24"), "dev", "eth0"])?;
    let capture = Capture::start(t.switch(), "br0", scratch.path())?;
    let config = scratch.write("d1.conf", &conf(&format!("    mcast_src_ip {SECONDARY}\n")))?;
    let mut d = Daemon::start(side, t.director(0), &config)?;
    t.expect(&format!("{side} master"), &[&[VIP]], &[&d])?;
    thread::sleep(Duration::from_secs(3));
    d.stop()?;
    Ok(sources(
        &lab::adverts(&capture.finish()?),
        Duration::ZERO,
        Duration::MAX,
    ))
}

/// `side` alone, no configured source: adverts from the primary address; the primary is
/// then deleted and a secondary promoted in its place: adverts from the new primary.
fn follows_the_primary(side: Side) -> anyhow::Result<(Vec<IpAddr>, Vec<IpAddr>)> {
    let tag = format!("sp{}", &side.to_string()[..1]);
    let t = Topology::new(&tag, &LAYOUT)?;
    let scratch = Scratch::new(&tag)?;
    let d1 = t.director(0);
    d1.exec(&["sysctl", "-qw", "net.ipv4.conf.eth0.promote_secondaries=1"])?;
    d1.ip(&["addr", "add", &format!("{SECONDARY}/24"), "dev", "eth0"])?;
    let capture = Capture::start(t.switch(), "br0", scratch.path())?;
    let mut d = Daemon::start(side, d1, scratch.write("d1.conf", &conf(""))?)?;
    t.expect(&format!("{side} master"), &[&[VIP]], &[&d])?;
    thread::sleep(Duration::from_secs(2));
    let changed = since_epoch();
    d1.ip(&["addr", "del", &format!("{PRIMARY}/24"), "dev", "eth0"])?;
    let left = d1.exec(&["ip", "-4", "-o", "addr", "show", "dev", "eth0"])?;
    ensure!(
        left.contains(&SECONDARY.to_string()),
        "{SECONDARY} was not promoted: {left}"
    );
    thread::sleep(Duration::from_secs(4));
    t.expect(&format!("{side} still master"), &[&[VIP]], &[&d])?;
    d.stop()?;
    let seen = lab::adverts(&capture.finish()?);
    // An advert sent while the address changed may carry either source.
    Ok((
        sources(&seen, Duration::ZERO, changed),
        sources(&seen, changed + Duration::from_millis(1500), Duration::MAX),
    ))
}

#[test]
fn mcast_src_ip_is_honoured_as_keepalived_does() -> anyhow::Result<()> {
    lab::require_keepalived()?;
    lab::require_tcpdump()?;
    let _serial = lab::one_at_a_time()?;
    for side in [Side::Keepalived, Side::Vrrpd] {
        let seen = configured(side).with_context(|| format!("{side}"))?;
        eprintln!("mcast_src_ip {SECONDARY}: {side} sent from {seen:?}");
        ensure!(!seen.is_empty(), "no advert from {side}");
        ensure!(
            seen.iter().all(|s| *s == IpAddr::V4(SECONDARY)),
            "{side} did not send from mcast_src_ip {SECONDARY}: {seen:?}"
        );
    }
    Ok(())
}

#[test]
fn the_source_follows_the_primary_address_as_keepalived_does() -> anyhow::Result<()> {
    lab::require_keepalived()?;
    lab::require_tcpdump()?;
    let _serial = lab::one_at_a_time()?;
    for side in [Side::Keepalived, Side::Vrrpd] {
        let (before, after) = follows_the_primary(side).with_context(|| format!("{side}"))?;
        eprintln!("{side}: before the change {before:?}, after {after:?}");
        ensure!(
            !before.is_empty() && before.iter().all(|s| *s == IpAddr::V4(PRIMARY)),
            "{side} did not send from the primary {PRIMARY} (the secondary {SECONDARY} was \
             there too): {before:?}"
        );
        ensure!(
            !after.is_empty() && after.iter().all(|s| *s == IpAddr::V4(SECONDARY)),
            "{side} did not follow the promoted {SECONDARY} once {PRIMARY} was deleted: \
             {after:?}"
        );
    }
    Ok(())
}
