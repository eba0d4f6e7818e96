//! Interfaces that go away and come back (issue 10, item 4), live against keepalived 2.2.7:
//!
//! - the preferred director's eth0 is deleted (the backup takes over) and created again
//!   with the same name, address and segment: the preferred director takes the VIP back,
//!   as keepalived does, without a restart (the program re-attached, a new packet socket,
//!   224.0.0.18 joined again); vrrpd on either side, both figures printed;
//! - an interface missing at start does not stop the instances on the others: its instance
//!   waits in FAULT and runs once the interface appears.
use std::{thread, time::Duration};

use anyhow::ensure;
use tests::lab::{self, Daemon, Instance, Layout, Scratch, Side, Topology};

const LAYOUT: Layout<'static> = Layout {
    subnets: &["10.0.5", "10.0.6"],
    directors: 2,
    clients: &[],
};

const VIP: &str = "10.0.5.100";
const VIP2: &str = "10.0.6.100";

fn instance(name: &str, interface: &str, vrid: u8, priority: u8, vip: &str) -> String {
    Instance::new(name, interface, vrid, priority, &[vip]).conf()
}

/// Director 1 (preferred, 150) and director 2 (100), one of them vrrpd and the other
/// keepalived; director 1's eth0 is deleted, then created again.
#[test]
fn the_preferred_director_takes_the_vip_back_when_its_interface_returns() -> anyhow::Result<()> {
    lab::require_keepalived()?;
    let _serial = lab::one_at_a_time()?;
    let mut figures = Vec::new();
    for (d1_side, d2_side) in [
        (Side::Keepalived, Side::Vrrpd),
        (Side::Vrrpd, Side::Keepalived),
    ] {
        let t = Topology::new("lif", &LAYOUT)?;
        let scratch = Scratch::new("lif")?;
        let mut d1 = Daemon::start(
            d1_side,
            t.director(0),
            scratch.write("d1.conf", &instance("VI_1", "eth0", 51, 150, VIP))?,
        )?;
        let d2 = Daemon::start(
            d2_side,
            t.director(1),
            scratch.write("d2.conf", &instance("VI_1", "eth0", 51, 100, VIP))?,
        )?;
        t.expect(&format!("{d1_side} preferred"), &[&[VIP], &[]], &[&d1, &d2])?;
        t.unplug(0, 0)?;
        t.expect(
            &format!("{d1_side}'s eth0 deleted"),
            &[&[], &[VIP]],
            &[&d1, &d2],
        )?;
        thread::sleep(Duration::from_secs(2));
        ensure!(
            d1.running()?,
            "{d1_side} died with its interface\n{}",
            d1.tail()
        );
        t.replug(0, 0, "10.0.5.5/24")?;
        let back = t.expect_within(
            &format!("{d1_side}'s eth0 back"),
            &[&[VIP], &[]],
            &[&d1, &d2],
            Duration::from_secs(15),
        )?;
        figures.push(format!(
            "{d1_side} preferred ({d2_side} backup): VIP back {back:.2?} after eth0 returned"
        ));
        if d1_side == Side::Vrrpd {
            let link = t.director(0).exec(&["ip", "link", "show", "eth0"])?;
            ensure!(
                link.contains("xdp"),
                "no XDP program on the new eth0: {link}"
            );
            let groups = t
                .director(0)
                .exec(&["ip", "-4", "maddr", "show", "dev", "eth0"])?;
            ensure!(
                groups.contains("224.0.0.18"),
                "224.0.0.18 not joined on the new eth0: {groups}"
            );
            let log = d1.log_text();
            ensure!(
                log.contains("(VI_1) Entering FAULT STATE"),
                "vrrpd did not go to FAULT with its interface\n{}",
                d1.tail()
            );
        }
        // Stable: the backup hears the preferred director again (adverts sent on the new
        // interface, AH sequence accepted).
        thread::sleep(Duration::from_secs(5));
        t.expect(
            &format!("{d1_side} still MASTER"),
            &[&[VIP], &[]],
            &[&d1, &d2],
        )?;
        d2.ensure_no_auth_errors()?;
        d1.ensure_no_auth_errors()?;
        d1.stop()?;
    }
    eprintln!("{}", figures.join("\n"));
    Ok(())
}

/// vrrpd with VI_1 on eth0 and VI_2 on eth1, eth1 deleted before it starts: VI_1 runs
/// (MASTER), VI_2 waits in FAULT; eth1 created: VI_2 becomes MASTER.
#[test]
fn an_interface_missing_at_start_does_not_stop_the_others() -> anyhow::Result<()> {
    let _serial = lab::one_at_a_time()?;
    let t = Topology::new("lms", &LAYOUT)?;
    let scratch = Scratch::new("lms")?;
    t.unplug(0, 1)?;
    let conf = instance("VI_1", "eth0", 51, 150, VIP) + &instance("VI_2", "eth1", 52, 150, VIP2);
    let mut d = Daemon::vrrpd(t.director(0), scratch.write("d1.conf", &conf)?)?;
    t.expect("VI_1 without eth1", &[&[VIP], &[]], &[&d])?;
    ensure!(d.running()?, "vrrpd stopped\n{}", d.tail());
    let states = d.states()?;
    ensure!(
        states
            == vec![
                ("VI_1".to_owned(), "MASTER".to_owned()),
                ("VI_2".to_owned(), "FAULT".to_owned())
            ],
        "{states:?}\n{}",
        d.tail()
    );
    t.replug(0, 1, "10.0.6.5/24")?;
    t.expect("eth1 appeared", &[&[VIP, VIP2], &[]], &[&d])?;
    let link = t.director(0).exec(&["ip", "link", "show", "eth1"])?;
    ensure!(link.contains("xdp"), "no XDP program on eth1: {link}");
    d.stop()?;
    t.expect("stopped", &[&[], &[]], &[&d])?;
    Ok(())
}
