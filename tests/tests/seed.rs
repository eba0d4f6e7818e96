//! The seed case study ("Failover using VRRP") live: two directors with eth0/eth1 on two
//! bridged segments and a client on the eth0 segment, each director running vrrpd or a
//! real keepalived 2.2.7 with the case study's configuration. Three pairings: vrrpd on
//! both; vrrpd on director 1 with keepalived on director 2; keepalived on 1 with vrrpd on
//! 2. Each asserts the seed's VIP distribution before, during and after the failure of
//! eth0 on director 1, that the client reaches VIP1 through whichever director holds it
//! (its neighbour entry moving to the new master's MAC), and that neither side saw an
//! authentication error.
use anyhow::{Context as _, ensure};
use tests::lab::{self, Daemon, Layout, Side, Topology};

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

/// The case study's network: eth0 on 192.168.200.0/24 (with the client), eth1 on
/// 192.168.100.0/24; directors .5 and .6, the client .100.
const SEED: Layout<'static> = Layout {
    subnets: &["192.168.200", "192.168.100"],
    directors: 2,
    clients: &[0],
};

fn run(tag: &str, sides: [Side; 2]) -> anyhow::Result<()> {
    let _serial = lab::one_at_a_time()?;
    let t = Topology::new(tag, &SEED)?;
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
        t.director(0)
            .ip(&["addr", "add", "192.168.200.12/32", "dev", "eth0"])?;
    }
    let mut daemons = Vec::new();
    for (n, side) in sides.iter().enumerate() {
        daemons.push(match side {
            Side::Vrrpd => Daemon::vrrpd(t.director(n), configs[n].0)?,
            Side::Keepalived => Daemon::keepalived(t.director(n), configs[n].1)?,
        });
    }
    let (mac1, mac2) = (t.mac(0, "eth0")?, t.mac(1, "eth0")?);
    let refs: Vec<&Daemon> = daemons.iter().collect();
    t.expect("at start", &[&D1_INITIAL, &D2_INITIAL], &refs)?;
    t.client_reaches(0, VIP1, &mac1)?;
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
    t.set_link(0, "eth0", false)?;
    t.expect("eth0 down on director 1", &[&[], &ALL], &refs)?;
    t.client_reaches(0, VIP1, &mac2)?;
    t.set_link(0, "eth0", true)?;
    t.expect("eth0 up again", &[&D1_INITIAL, &D2_INITIAL], &refs)?;
    t.client_reaches(0, VIP1, &mac1)?;
    for d in &mut daemons {
        d.stop()?;
    }
    for d in &daemons {
        d.ensure_no_auth_errors()?;
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
