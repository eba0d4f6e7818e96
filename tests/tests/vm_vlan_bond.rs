//! VRRP on a VLAN over an active-backup bond, and on the bond's untagged parent with the
//! same VRID, live against keepalived 2.2.7: vrrpd on director 1 (priority 150), keepalived
//! on director 2 (100), each director's two links enslaved to `bond0` and plugged into one
//! bridge. It needs 8021q and bonding, which this machine's kernel lacks: `cargo xtask test`
//! runs it in a VM on a Debian kernel (the kernel matrix), and `cargo test` does not run it
//! by default (`test = false` in `tests/Cargo.toml`).
//!
//! Steps: vrrpd takes both VIPs; the bond's active slave loses its carrier and the bond
//! fails over, vrrpd keeps both VIPs past keepalived's master-down interval; vrrpd stops and
//! keepalived takes both; vrrpd starts again and takes both back.
use std::{
    collections::BTreeSet,
    thread,
    time::{Duration, Instant},
};

use anyhow::{Context as _, bail, ensure};
use tests::{
    NetNs,
    lab::{self, Daemon, Scratch},
};

const UNTAGGED_VIP: &str = "10.0.0.10";
const TAGGED_VIP: &str = "10.100.0.10";
const BOTH: [&str; 2] = [UNTAGGED_VIP, TAGGED_VIP];

/// The same configuration on both directors but for the priority: VRID 51 on the bond
/// (PASS) and on its VLAN 100 (IPSEC-AH).
fn config(priority: u8) -> String {
    format!(
        "vrrp_instance UNTAGGED {{
    state BACKUP
    interface bond0
    virtual_router_id 51
    priority {priority}
    advert_int 1
    authentication {{
        auth_type PASS
        auth_pass vlanbond
    }}
    virtual_ipaddress {{
        {UNTAGGED_VIP}/32
    }}
}}
vrrp_instance TAGGED {{
    state BACKUP
    interface bond0.100
    virtual_router_id 51
    priority {priority}
    advert_int 1
    authentication {{
        auth_type AH
        auth_pass k@l
    }}
    virtual_ipaddress {{
        {TAGGED_VIP}/32
    }}
}}
"
    )
}

/// A director: links `eth0` and `eth1` (peers `d<n>eth0`, `d<n>eth1` on the switch's `br0`) enslaved
/// to an active-backup `bond0` (10.0.0.<4+n>), and `bond0.100` (10.100.0.<4+n>).
fn director(sw: &NetNs, n: usize) -> anyhow::Result<NetNs> {
    let d = NetNs::new(&format!("vb{n}"))?;
    d.ip(&[
        "link",
        "add",
        "bond0",
        "type",
        "bond",
        "mode",
        "active-backup",
        "miimon",
        "100",
    ])
    .context("creating an active-backup bond (is the bonding module available?)")?;
    for slave in ["eth0", "eth1"] {
        let peer = format!("d{n}{slave}");
        tests::ip(&[
            "link",
            "add",
            slave,
            "netns",
            d.name(),
            "type",
            "veth",
            "peer",
            "name",
            &peer,
            "netns",
            sw.name(),
        ])?;
        sw.ip(&["link", "set", &peer, "master", "br0", "up"])?;
        d.ip(&["link", "set", slave, "master", "bond0"])?;
        d.ip(&["link", "set", slave, "up"])?;
    }
    d.ip(&["link", "set", "bond0", "up"])?;
    d.ip(&[
        "link",
        "add",
        "link",
        "bond0",
        "name",
        "bond0.100",
        "type",
        "vlan",
        "id",
        "100",
    ])
    .context("creating VLAN 100 on the bond (is the 8021q module available?)")?;
    d.ip(&["link", "set", "bond0.100", "up"])?;
    d.ip(&[
        "addr",
        "add",
        &format!("10.0.0.{}/24", 4 + n),
        "dev",
        "bond0",
    ])?;
    d.ip(&[
        "addr",
        "add",
        &format!("10.100.0.{}/24", 4 + n),
        "dev",
        "bond0.100",
    ])?;
    Ok(d)
}

/// The VIPs of this test that `ns` holds.
fn held(ns: &NetNs) -> anyhow::Result<BTreeSet<String>> {
    Ok(lab::addresses(ns)?
        .into_iter()
        .filter(|a| BOTH.contains(&a.as_str()))
        .collect())
}

fn set(vips: &[&str]) -> BTreeSet<String> {
    vips.iter().map(|v| (*v).to_owned()).collect()
}

/// Waits (at most `within`) until director 1 holds `d1` and director 2 holds `d2`.
fn expect(
    step: &str,
    ds: [&NetNs; 2],
    want: [&[&str]; 2],
    within: Duration,
    logs: &[&Daemon],
) -> anyhow::Result<()> {
    let start = Instant::now();
    loop {
        let got = [held(ds[0])?, held(ds[1])?];
        if got == [set(want[0]), set(want[1])] {
            return Ok(());
        }
        if start.elapsed() > within {
            bail!(
                "{step}: director 1 holds {:?}, director 2 {:?}; expected {:?} and {:?} \
                 within {within:?}\n{}",
                got[0],
                got[1],
                want[0],
                want[1],
                lab::tails(logs)
            );
        }
        thread::sleep(Duration::from_millis(100));
    }
}

/// Fails if the distribution differs from `want` at any sample during `period`.
fn holds_for(
    step: &str,
    ds: [&NetNs; 2],
    want: [&[&str]; 2],
    period: Duration,
    logs: &[&Daemon],
) -> anyhow::Result<()> {
    let start = Instant::now();
    while start.elapsed() < period {
        let got = [held(ds[0])?, held(ds[1])?];
        ensure!(
            got == [set(want[0]), set(want[1])],
            "{step}: after {:?} director 1 holds {:?}, director 2 {:?}; expected {:?} and \
             {:?}\n{}",
            start.elapsed(),
            got[0],
            got[1],
            want[0],
            want[1],
            lab::tails(logs)
        );
        thread::sleep(Duration::from_millis(100));
    }
    Ok(())
}

fn active_slave(d: &NetNs) -> anyhow::Result<String> {
    Ok(
        d.exec(&["cat", "/sys/class/net/bond0/bonding/active_slave"])?
            .trim()
            .to_owned(),
    )
}

#[test]
fn vlan_over_bond_and_untagged_parent_against_keepalived() -> anyhow::Result<()> {
    lab::require_keepalived()?;
    let _serial = lab::one_at_a_time()?;
    let sw = NetNs::new("vbsw")?;
    sw.ip(&["link", "add", "br0", "type", "bridge"])?;
    sw.ip(&["link", "set", "br0", "up"])?;
    let d1 = director(&sw, 1)?;
    let d2 = director(&sw, 2)?;
    let scratch = Scratch::new("vlanbond")?;
    let c1 = scratch.write("director1.conf", &config(150))?;
    let c2 = scratch.write("director2.conf", &config(100))?;
    let ds = [&d1, &d2];
    let slow = Duration::from_secs(20);

    let keepalived = Daemon::keepalived(&d2, &c2)?;
    let mut vrrpd = Daemon::vrrpd(&d1, &c1)?;
    expect("start", ds, [&BOTH, &[]], slow, &[&vrrpd, &keepalived])?;

    // The active slave's carrier goes: the bond moves to the other slave, and the adverts
    // with it; keepalived never misses enough of them to take over.
    let before = active_slave(&d1)?;
    let peer = format!("d1{before}");
    sw.ip(&["link", "set", &peer, "down"])?;
    let start = Instant::now();
    let after = loop {
        let now = active_slave(&d1)?;
        if now != before && !now.is_empty() {
            break now;
        }
        ensure!(
            start.elapsed() < Duration::from_secs(10),
            "the bond did not fail over from {before}"
        );
        thread::sleep(Duration::from_millis(100));
    };
    holds_for(
        &format!("bond failed over from {before} to {after}"),
        ds,
        [&BOTH, &[]],
        Duration::from_secs(6),
        &[&vrrpd, &keepalived],
    )?;
    sw.ip(&["link", "set", &peer, "up"])?;

    vrrpd.stop()?;
    expect(
        "vrrpd stopped (priority 0)",
        ds,
        [&[], &BOTH],
        slow,
        &[&vrrpd, &keepalived],
    )?;

    vrrpd.restart()?;
    expect(
        "vrrpd back, preempting",
        ds,
        [&BOTH, &[]],
        slow,
        &[&vrrpd, &keepalived],
    )?;
    keepalived.ensure_no_auth_errors()?;
    vrrpd.ensure_no_auth_errors()?;
    Ok(())
}
