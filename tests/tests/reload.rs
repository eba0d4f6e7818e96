//! Reload (issue 12, item 1), live against keepalived 2.2.7: SIGHUP (keepalived's reload,
//! systemd's `ExecReload`) and `vrrpd reload --socket` read the configuration file again.
//!
//! - to a lower priority: the peer takes over and the daemon lives (vrrpd or keepalived
//!   reloading, keepalived as the peer; both figures printed);
//! - a broken file: refused with its `FILE:LINE:COL`, still running, still MASTER;
//! - an unchanged file: the peer sees no gap in the adverts (captured on the switch), no
//!   AH replay, no flap;
//! - an instance added (on an interface the daemon did not use yet) and one removed.
use std::{
    thread,
    time::{Duration, Instant},
};

use anyhow::{Context as _, ensure};
use tests::lab::{self, Capture, Daemon, Instance, Layout, Scratch, Side, Topology};

const LAYOUT: Layout<'static> = Layout {
    subnets: &["10.0.5", "10.0.6"],
    directors: 2,
    clients: &[],
};

/// One keepalived.conf instance with AH.
fn instance(name: &str, interface: &str, vrid: u8, priority: u8, vip: &str) -> String {
    Instance::new(name, interface, vrid, priority, &[vip]).conf()
}

const VIP1: &str = "10.0.5.100";
const VIP2: &str = "10.0.5.101";
const VIP3: &str = "10.0.6.102";

/// Reloads `d` the way an operator would: SIGHUP (vrrpd and keepalived alike).
fn hup(d: &Daemon) -> anyhow::Result<()> {
    d.kill("-HUP")
}

/// Director 1 (`side`, priority 150) is MASTER with keepalived (100) as BACKUP; its file is
/// rewritten with priority 50 and it is reloaded: keepalived takes over, director 1 lives
/// and holds nothing.
#[test]
fn reload_to_a_lower_priority_hands_over_and_lives() -> anyhow::Result<()> {
    lab::require_keepalived()?;
    let _serial = lab::one_at_a_time()?;
    let mut figures = Vec::new();
    for side in [Side::Keepalived, Side::Vrrpd] {
        let t = Topology::new("rlp", &LAYOUT)?;
        let scratch = Scratch::new("rlp")?;
        let d1_conf = scratch.write("d1.conf", &instance("VI_1", "eth0", 51, 150, VIP1))?;
        let d2_conf = scratch.write("d2.conf", &instance("VI_1", "eth0", 51, 100, VIP1))?;
        let mut d1 = Daemon::start(side, t.director(0), &d1_conf)?;
        let peer = Daemon::start(Side::Keepalived, t.director(1), &d2_conf)?;
        t.expect(&format!("{side} master"), &[&[VIP1], &[]], &[&d1, &peer])?;
        thread::sleep(Duration::from_secs(2));
        scratch.write("d1.conf", &instance("VI_1", "eth0", 51, 50, VIP1))?;
        hup(&d1)?;
        let took = t.expect_within(
            &format!("{side} reloaded to priority 50"),
            &[&[], &[VIP1]],
            &[&d1, &peer],
            Duration::from_secs(15),
        )?;
        figures.push(format!(
            "{side}: the peer took over {took:.2?} after SIGHUP"
        ));
        thread::sleep(Duration::from_secs(3));
        ensure!(d1.running()?, "{side} died on reload\n{}", d1.tail());
        t.expect(
            &format!("{side} after the reload"),
            &[&[], &[VIP1]],
            &[&d1, &peer],
        )?;
        if side == Side::Vrrpd {
            let status = d1.status()?;
            ensure!(
                status[0]["priority"] == 50 && status[0]["state"] == "BACKUP",
                "vrrpd after the reload: {status:?}\n{}",
                d1.tail()
            );
        }
        peer.ensure_no_auth_errors()?;
        d1.stop()?;
    }
    eprintln!("{}", figures.join("\n"));
    Ok(())
}

/// A file that fails to load is refused with its position, logged, and the daemon runs on
/// with its configuration, MASTER; keepalived too refuses it and lives.
#[test]
fn a_broken_reload_is_refused_and_the_master_runs_on() -> anyhow::Result<()> {
    lab::require_keepalived()?;
    let _serial = lab::one_at_a_time()?;
    let t = Topology::new("rbr", &LAYOUT)?;
    let scratch = Scratch::new("rbr")?;
    for side in [Side::Keepalived, Side::Vrrpd] {
        let conf = scratch.write("d1.conf", &instance("VI_1", "eth0", 51, 150, VIP1))?;
        let mut d = Daemon::start(side, t.director(0), &conf)?;
        t.expect(&format!("{side} master"), &[&[VIP1], &[]], &[&d])?;
        // An unterminated block: a syntax error either daemon must refuse.
        let broken =
            instance("VI_1", "eth0", 51, 50, VIP1).replace("advert_int 1", "advert_int 1 {");
        scratch.write("d1.conf", &broken)?;
        hup(&d)?;
        thread::sleep(Duration::from_secs(4));
        ensure!(d.running()?, "{side} died on a broken reload\n{}", d.tail());
        t.expect(
            &format!("{side} after a broken reload"),
            &[&[VIP1], &[]],
            &[&d],
        )?;
        if side == Side::Vrrpd {
            let log = d.log_text();
            let at = format!("{}:", conf.display());
            ensure!(
                log.contains("refused, still running the previous configuration")
                    && log.contains(&at),
                "vrrpd did not log the refusal with the file's position\n{}",
                d.tail()
            );
            let status = d.status()?;
            ensure!(
                status[0]["state"] == "MASTER" && status[0]["priority"] == 150,
                "{status:?}"
            );
            // The same through the control socket: exit 1, the diagnostics on stderr.
            let out = d.reload()?;
            let stderr = String::from_utf8_lossy(&out.stderr);
            ensure!(
                out.status.code() == Some(1) && stderr.contains(&at),
                "vrrpd reload: {:?} {stderr}",
                out.status
            );
            // Fixed: `vrrpd reload` applies it and says what changed.
            scratch.write("d1.conf", &instance("VI_1", "eth0", 51, 140, VIP1))?;
            let out = d.reload()?;
            let stdout = String::from_utf8_lossy(&out.stdout);
            ensure!(
                out.status.success() && stdout.contains("1 changed (VI_1)"),
                "vrrpd reload: {:?} {stdout} {}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            );
            ensure!(d.status()?[0]["priority"] == 140, "{:?}", d.status()?);
            t.expect("vrrpd after a good reload", &[&[VIP1], &[]], &[&d])?;
        }
        d.stop()?;
        t.expect(&format!("{side} stopped"), &[&[], &[]], &[&d])?;
    }
    Ok(())
}

/// The largest gap between two adverts of `src`, priority above 0, among `frames`.
fn widest_gap(frames: &[lab::Captured], src: &str) -> anyhow::Result<(Duration, usize)> {
    let times: Vec<Duration> = lab::adverts(frames)
        .iter()
        .filter(|a| a.src.to_string() == src && a.priority != 0)
        .map(|a| a.at)
        .collect();
    ensure!(
        times.len() > 2,
        "{} adverts from {src} captured",
        times.len()
    );
    let widest = times
        .windows(2)
        .map(|w| w[1].saturating_sub(w[0]))
        .max()
        .context("no interval")?;
    Ok((widest, times.len()))
}

/// Reloading an unchanged file, three times, a MASTER keeps its advert rhythm (no advert
/// missed: every interval below 1.5 × advert_int), its AH sequence (keepalived as the peer
/// logs no replay) and its state (one MASTER entry, the peer never MASTER). keepalived's
/// own figure is printed for comparison.
#[test]
fn an_unchanged_reload_leaves_no_gap_in_the_adverts() -> anyhow::Result<()> {
    lab::require_keepalived()?;
    let _serial = lab::one_at_a_time()?;
    let mut figures = Vec::new();
    for side in [Side::Keepalived, Side::Vrrpd] {
        let t = Topology::new("rnc", &LAYOUT)?;
        let scratch = Scratch::new("rnc")?;
        let d1_conf = scratch.write("d1.conf", &instance("VI_1", "eth0", 51, 150, VIP1))?;
        let d2_conf = scratch.write("d2.conf", &instance("VI_1", "eth0", 51, 100, VIP1))?;
        let d1 = Daemon::start(side, t.director(0), &d1_conf)?;
        let peer = Daemon::start(Side::Keepalived, t.director(1), &d2_conf)?;
        t.expect(&format!("{side} master"), &[&[VIP1], &[]], &[&d1, &peer])?;
        let capture = Capture::start(t.switch(), "br0", scratch.path())?;
        thread::sleep(Duration::from_secs(2));
        // The start may have had the peer MASTER for a moment: only what follows counts.
        let (peer_before, d1_before) = (peer.log_text().len(), d1.log_text().len());
        for _ in 0..3 {
            hup(&d1)?;
            thread::sleep(Duration::from_millis(1500));
        }
        if side == Side::Vrrpd {
            let out = d1.reload()?;
            ensure!(
                out.status.success()
                    && String::from_utf8_lossy(&out.stdout).contains("1 unchanged, 0 changed"),
                "vrrpd reload: {out:?}"
            );
        }
        thread::sleep(Duration::from_secs(3));
        let frames = capture.finish()?;
        let (widest, count) = widest_gap(&frames, "10.0.5.5")?;
        figures.push(format!(
            "{side}: {count} adverts across the reloads, at most {widest:.3?} apart"
        ));
        eprintln!("{}", figures.last().map_or("", String::as_str));
        t.expect(
            &format!("{side} after the reloads"),
            &[&[VIP1], &[]],
            &[&d1, &peer],
        )?;
        peer.ensure_no_auth_errors()?;
        ensure!(
            !peer.log_text()[peer_before..].contains("Entering MASTER STATE"),
            "the peer became MASTER during {side}'s reloads\n{}",
            peer.tail()
        );
        if side == Side::Vrrpd {
            ensure!(
                widest < Duration::from_millis(1500),
                "vrrpd missed an advert while reloading: {widest:?} between two\n{}",
                d1.tail()
            );
            ensure!(
                !d1.log_text()[d1_before..].contains("Entering"),
                "vrrpd changed state while reloading\n{}",
                d1.tail()
            );
        }
    }
    eprintln!("{}", figures.join("\n"));
    Ok(())
}

/// vrrpd runs VI_1 and VI_2 on eth0 (priority 150) against keepalived (100, with VI_3 on
/// eth1 too); a reload removes VI_2 and adds VI_3 on eth1, which vrrpd did not use: VI_2's
/// address moves to keepalived at once (priority 0), vrrpd attaches to eth1, joins
/// 224.0.0.18 there and takes VI_3 over; VI_1 never moves.
#[test]
fn a_reload_adds_and_removes_instances() -> anyhow::Result<()> {
    lab::require_keepalived()?;
    let _serial = lab::one_at_a_time()?;
    let t = Topology::new("rar", &LAYOUT)?;
    let scratch = Scratch::new("rar")?;
    let before = instance("VI_1", "eth0", 51, 150, VIP1) + &instance("VI_2", "eth0", 52, 150, VIP2);
    let d1_conf = scratch.write("d1.conf", &before)?;
    let d2_conf = scratch.write(
        "d2.conf",
        &(instance("VI_1", "eth0", 51, 100, VIP1)
            + &instance("VI_2", "eth0", 52, 100, VIP2)
            + &instance("VI_3", "eth1", 53, 100, VIP3)),
    )?;
    let mut d1 = Daemon::vrrpd(t.director(0), &d1_conf)?;
    let peer = Daemon::keepalived(t.director(1), &d2_conf)?;
    t.expect("before", &[&[VIP1, VIP2], &[VIP3]], &[&d1, &peer])?;
    let eth1 = || t.director(0).exec(&["ip", "link", "show", "eth1"]);
    ensure!(!eth1()?.contains("xdp"), "XDP on eth1 before the reload");

    let after = instance("VI_1", "eth0", 51, 150, VIP1) + &instance("VI_3", "eth1", 53, 150, VIP3);
    scratch.write("d1.conf", &after)?;
    let asked = Instant::now();
    hup(&d1)?;
    t.expect("VI_2 released", &[&[VIP1, VIP3], &[VIP2]], &[&d1, &peer])?;
    eprintln!(
        "VI_2 on keepalived and VI_3 on vrrpd {:.2?} after SIGHUP",
        asked.elapsed()
    );
    ensure!(
        eth1()?.contains("xdp"),
        "no XDP on eth1 after the reload: {}",
        eth1()?
    );
    let groups = t
        .director(0)
        .exec(&["ip", "-4", "maddr", "show", "dev", "eth1"])?;
    ensure!(
        groups.contains("224.0.0.18"),
        "224.0.0.18 not joined on eth1: {groups}"
    );
    let states = d1.states()?;
    ensure!(
        states
            == vec![
                ("VI_1".to_owned(), "MASTER".to_owned()),
                ("VI_3".to_owned(), "MASTER".to_owned())
            ],
        "{states:?}"
    );
    let log = d1.log_text();
    ensure!(
        log.matches("(VI_1) Entering MASTER STATE").count() == 1,
        "VI_1 moved during the reload\n{}",
        d1.tail()
    );
    ensure!(
        log.contains("1 unchanged, 0 changed, 1 added (VI_3), 1 removed (VI_2)"),
        "{}",
        d1.tail()
    );
    peer.ensure_no_auth_errors()?;
    // Back: VI_3 removed again, eth1 let go.
    scratch.write("d1.conf", &instance("VI_1", "eth0", 51, 150, VIP1))?;
    hup(&d1)?;
    t.expect("VI_3 released", &[&[VIP1], &[VIP2, VIP3]], &[&d1, &peer])?;
    ensure!(!eth1()?.contains("xdp"), "XDP left on eth1: {}", eth1()?);
    d1.stop()?;
    Ok(())
}
