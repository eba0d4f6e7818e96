//! Health checks live against keepalived 2.2.7: a `vrrp_script` (`test -e FILE`, weight
//! -60) on the preferred director (150) tracked by its instance, in a sync group with
//! group notify scripts (and `sync_group_tracking_weight`: without it both daemons ignore a
//! weighted script of a group member, with keepalived's warning). The file goes: the director's priority drops to 90, below the
//! other director (100), which takes over; the file comes back: 150 again, and mastership
//! returns. Run twice, vrrpd on director 1 with keepalived on director 2 and the reverse;
//! the VIP must move both ways in both runs, and director 1's group notify calls must be
//! the same words whichever daemon made them. The times are printed (keepalived measured
//! 3.6 s to move over and 3.4 s to move back), not asserted.
use std::{
    path::Path,
    thread,
    time::{Duration, Instant},
};

use anyhow::{Context as _, bail, ensure};
use tests::lab::{self, Daemon, Instance, Layout, Scratch, Side, Topology};

const LAYOUT: Layout<'static> = Layout {
    subnets: &["10.0.7"],
    directors: 2,
    clients: &[],
};
const VIP: &str = "10.0.7.100";
/// How long the VIP may take to move (liveness, not speed: master down is 3.6 s).
const MOVE_BOUND: Duration = Duration::from_secs(20);

fn conf(priority: u8, check_file: &Path, group_notify: &Path) -> String {
    format!(
        "global_defs {{
    script_user root
}}
vrrp_script chk_file {{
    script \"/usr/bin/test -e {file}\"
    interval 1
    weight -60
}}
vrrp_sync_group VG {{
    group {{
        VI_1
    }}
    notify {notify}
    sync_group_tracking_weight
}}
{instance}",
        file = check_file.display(),
        notify = group_notify.display(),
        instance = Instance::new("VI_1", "eth0", 141, priority, &[VIP])
            .extra("    track_script {\n        chk_file\n    }\n")
            .conf(),
    )
}

#[derive(Debug)]
struct Moved {
    over: Duration,
    back: Duration,
    /// Director 1's group notify calls, one line of arguments each.
    group_notify: Vec<String>,
}

fn run(tag: &str, sides: [Side; 2]) -> anyhow::Result<Moved> {
    let t = Topology::new(tag, &LAYOUT)?;
    let scratch = Scratch::new(tag)?;
    let healthy = scratch.write("healthy", "")?;
    // Director 2's check never fails.
    let always = scratch.write("always", "")?;
    let d1_notify = scratch.recorder("d1-group")?;
    let d2_notify = scratch.recorder("d2-group")?;
    let c1 = scratch.write("d1.conf", &conf(150, &healthy, &d1_notify))?;
    let c2 = scratch.write("d2.conf", &conf(100, &always, &d2_notify))?;
    let d1 = Daemon::start(sides[0], t.director(0), &c1)?;
    t.expect("director 1 alone", &[&[VIP], &[]], &[&d1])?;
    let mut d2 = Daemon::start(sides[1], t.director(1), &c2)?;
    thread::sleep(Duration::from_secs(4));
    let both = [&d1, &d2];
    t.expect("both running", &[&[VIP], &[]], &both)?;

    std::fs::remove_file(&healthy)?;
    let over = t.expect_within(
        "check failing on director 1",
        &[&[], &[VIP]],
        &both,
        MOVE_BOUND,
    )?;
    thread::sleep(Duration::from_secs(2));
    t.expect("still failing", &[&[], &[VIP]], &both)?;
    std::fs::write(&healthy, "")?;
    let back = t.expect_within("check passing again", &[&[VIP], &[]], &both, MOVE_BOUND)?;
    thread::sleep(Duration::from_secs(2));
    t.expect("settled", &[&[VIP], &[]], &both)?;
    d2.stop()?;
    let mut d1 = d1;
    d1.stop()?;
    for d in [&d1, &d2] {
        d.ensure_no_auth_errors()?;
    }
    // The notify scripts run asynchronously: wait (bounded) until the calls are still.
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut last = scratch.lines("d1-group.log");
    loop {
        thread::sleep(Duration::from_millis(500));
        let now = scratch.lines("d1-group.log");
        if now == last || Instant::now() > deadline {
            break;
        }
        last = now;
    }
    Ok(Moved {
        over,
        back,
        group_notify: last,
    })
}

#[test]
fn a_failing_vrrp_script_moves_mastership_and_back_as_keepalived_does() -> anyhow::Result<()> {
    lab::require_keepalived()?;
    let _serial = lab::one_at_a_time()?;
    let mut results = Vec::new();
    for (tag, sides) in [
        ("tkv", [Side::Vrrpd, Side::Keepalived]),
        ("tkk", [Side::Keepalived, Side::Vrrpd]),
    ] {
        let result = run(tag, sides)
            .with_context(|| format!("director 1 = {}, director 2 = {}", sides[0], sides[1]));
        eprintln!("director 1 = {}: {result:?}", sides[0]);
        results.push(result);
    }
    let keepalived = results.pop().context("two runs")??;
    let vrrpd = results.pop().context("two runs")??;
    eprintln!(
        "VIP moved over after the check failed: vrrpd {:.2} s, keepalived {:.2} s; back after \
         it passed: vrrpd {:.2} s, keepalived {:.2} s",
        vrrpd.over.as_secs_f64(),
        keepalived.over.as_secs_f64(),
        vrrpd.back.as_secs_f64(),
        keepalived.back.as_secs_f64()
    );
    if vrrpd.group_notify != keepalived.group_notify {
        bail!(
            "director 1's group notify calls differ:\n  keepalived {:?}\n  vrrpd      {:?}",
            keepalived.group_notify,
            vrrpd.group_notify
        );
    }
    ensure!(
        !vrrpd.group_notify.is_empty(),
        "no group notify call at all"
    );
    Ok(())
}
