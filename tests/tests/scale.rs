//! Scale (issue 14): 250 VRRPv2 + IPSEC-AH instances (VRIDs 1–250, one VIP each,
//! `advert_int 1`) on eth0 of two directors running vrrpd, each in its own network
//! namespace on this host. The exact VIP distribution is asserted at start (250 on the
//! preferred director, 0 on the other) and after a failover (the preferred director stops:
//! priority 0), and neither daemon may report a master-down timer it could not arm.
//!
//! Timeouts are liveness bounds, not speed checks.
use std::{collections::BTreeSet, time::Duration};

use tests::lab::{self, Daemon, Layout, Scratch, Topology};

const INSTANCES: u16 = 250;
const LAYOUT: Layout<'static> = Layout {
    subnets: &["192.168.200"],
    directors: 2,
    clients: &[],
};
/// How long a distribution may take to appear: generous, for a shared 2-core machine.
const PATIENCE: Duration = Duration::from_secs(90);

/// Instance `vrid`'s VIP.
fn vip(vrid: u16) -> String {
    format!("10.50.{}.{}", vrid / 256, vrid % 256)
}

/// The keepalived.conf both directors use, with their own priority.
fn config(priority: u8) -> String {
    let mut text = String::new();
    for vrid in 1..=INSTANCES {
        text.push_str(&format!(
            "vrrp_instance VI_{vrid} {{\n    state BACKUP\n    interface eth0\n    \
             virtual_router_id {vrid}\n    priority {priority}\n    advert_int 1\n    \
             authentication {{\n        auth_type AH\n        auth_pass sc{vrid}\n    }}\n    \
             virtual_ipaddress {{\n        {}/32\n    }}\n}}\n",
            vip(vrid)
        ));
    }
    text
}

/// Every instance of `d` in `state`, its master-down timer in the kernel, and no timer
/// error or fallback counted.
fn check_status(d: &Daemon, who: &str, state: &str) -> anyhow::Result<()> {
    let status = d.status()?;
    anyhow::ensure!(
        status.len() == usize::from(INSTANCES),
        "{who}: {} instances in status",
        status.len()
    );
    for s in &status {
        let name = s["name"].as_str().unwrap_or("?");
        anyhow::ensure!(s["state"] == state, "{who}: {name} is {}", s["state"]);
        anyhow::ensure!(
            s["master_down_timer"] == "kernel",
            "{who}: {name}'s master-down timer is {}",
            s["master_down_timer"]
        );
        for counter in ["timer_errors", "timer_fallbacks", "events_lost"] {
            anyhow::ensure!(
                s["counters"].get(counter).is_none(),
                "{who}: {name} counted {counter}: {}",
                s["counters"]
            );
        }
    }
    Ok(())
}

#[test]
fn two_vrrpd_with_250_instances_elect_and_fail_over_exactly() -> anyhow::Result<()> {
    let _serial = lab::one_at_a_time()?;
    let t = Topology::new("sc", &LAYOUT)?;
    let scratch = Scratch::new("scale")?;
    let preferred = scratch.write("d1.conf", &config(150))?;
    let other = scratch.write("d2.conf", &config(100))?;
    let all: Vec<String> = (1..=INSTANCES).map(vip).collect();
    let all: Vec<&str> = all.iter().map(String::as_str).collect();

    let mut d1 = Daemon::vrrpd(t.director(0), &preferred)?;
    let d2 = Daemon::vrrpd(t.director(1), &other)?;
    t.expect_within("at start", &[&all, &[]], &[&d1, &d2], PATIENCE)?;
    check_status(&d1, "director 1", "MASTER")?;
    check_status(&d2, "director 2", "BACKUP")?;

    // The preferred director stops (priority 0): every instance moves.
    d1.stop()?;
    t.expect_within(
        "after director 1 stopped",
        &[&[], &all],
        &[&d1, &d2],
        PATIENCE,
    )?;
    check_status(&d2, "director 2", "MASTER")?;
    let held: BTreeSet<String> = t.vips(1)?;
    assert_eq!(held.len(), usize::from(INSTANCES));
    for (d, who) in [(&d1, "director 1"), (&d2, "director 2")] {
        d.ensure_no_auth_errors()?;
        let log = d.log_text();
        assert!(
            !log.contains("master-down timer not armed") && !log.contains("userspace timer"),
            "{who} logged a timer failure:\n{}",
            d.tail()
        );
    }
    Ok(())
}
