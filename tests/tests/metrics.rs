//! `vrrpd status --json` and the Prometheus endpoint (`--metrics-listen`) against the real
//! state, live: two vrrpd on one segment, the higher priority MASTER, then a failover when
//! it stops (priority 0). State, master, priorities, VIPs held, transitions, adverts in and
//! out (increasing), priority 0 in and out and the sync group's state are checked in
//! both, and against the VIPs the directors actually hold.
use std::{thread, time::Duration};

use anyhow::{Context as _, bail, ensure};
use serde_json::Value;
use tests::lab::{self, Daemon, Instance, Layout, Scratch, Topology};

const LAYOUT: Layout<'static> = Layout {
    subnets: &["10.0.8"],
    directors: 2,
    clients: &[],
};
const VIP: &str = "10.0.8.100";
/// Director `n`'s address (host `5 + n`).
const ADDRESSES: [&str; 2] = ["10.0.8.5", "10.0.8.6"];
const PORT: u16 = 9650;
/// How long a counter may take to move (a few advert intervals).
const MOVE_TIMEOUT: Duration = Duration::from_secs(10);

fn conf(priority: u8) -> String {
    let vip = format!("{VIP}/32");
    Instance::new("VI_1", "eth0", 61, priority, &[&vip])
        .no_auth()
        .conf()
        + "vrrp_sync_group VG1 {\n    group {\n        VI_1\n    }\n}\n"
}

fn start(t: &Topology, scratch: &Scratch, n: usize, priority: u8) -> anyhow::Result<Daemon> {
    let listen = format!("{}:{PORT}", ADDRESSES[n]);
    Daemon::vrrpd_with(
        t.director(n),
        scratch.write(&format!("d{n}.conf"), &conf(priority))?,
        &["--metrics-listen", &listen],
    )
}

/// The metrics of director `n`, once its endpoint answers (the daemon may still be
/// starting).
fn metrics(t: &Topology, n: usize, d: &Daemon) -> anyhow::Result<String> {
    let address = format!("{}:{PORT}", ADDRESSES[n]);
    let mut last = None;
    for _ in 0..50 {
        match lab::http_get(t.director(n), &address, "/metrics") {
            Ok((200, body)) => return Ok(body),
            Ok((code, body)) => bail!("GET /metrics: {code}\n{body}"),
            Err(error) => last = Some(error),
        }
        thread::sleep(Duration::from_millis(100));
    }
    bail!("no metrics on {address}: {last:?}\n{}", d.tail())
}

/// The value of the sample `series{labels}` (labels as written, in order).
fn sample(text: &str, series: &str, labels: &str) -> anyhow::Result<f64> {
    let key = format!("{series}{{{labels}}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&key))
        .with_context(|| format!("no {key}in\n{text}"))?
        .trim()
        .parse()
        .with_context(|| format!("{key}is not a number"))
}

const INSTANCE: &str = r#"vrrp_instance="VI_1",interface="eth0",vrid="61""#;

fn instance_sample(text: &str, series: &str, extra: &str) -> anyhow::Result<u64> {
    let labels = if extra.is_empty() {
        INSTANCE.to_owned()
    } else {
        format!("{INSTANCE},{extra}")
    };
    // Counts are whole numbers: the f64 of the text format holds them exactly.
    Ok(sample(text, series, &labels)? as u64)
}

/// The one instance in `vrrpd status --json` of `d`.
fn status(d: &Daemon) -> anyhow::Result<Value> {
    let mut all = d.status()?;
    ensure!(all.len() == 1, "one instance expected: {all:?}");
    Ok(all.remove(0))
}

fn u(v: &Value, key: &str) -> u64 {
    v[key].as_u64().unwrap_or(u64::MAX)
}

/// The status and the metrics of director `n` agree with `state`, the master `master`
/// (index of the director) of priority `master_priority`, and the VIPs it holds.
fn check(
    t: &Topology,
    n: usize,
    d: &Daemon,
    state: &str,
    master: usize,
    master_priority: u64,
) -> anyhow::Result<(Value, String)> {
    let s = status(d)?;
    let text = metrics(t, n, d)?;
    let held = t.vips(n)?;
    let context = || format!("director {}: {s}\n{text}", n + 1);
    ensure!(s["state"] == state, "state: {}", context());
    ensure!(
        s["master"] == ADDRESSES[master] && u(&s, "master_priority") == master_priority,
        "master: {}",
        context()
    );
    let vips_held: Vec<String> = s["vips_held"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str())
                .map(|v| v.split('/').next().unwrap_or("").to_owned())
                .collect()
        })
        .unwrap_or_default();
    ensure!(
        vips_held
            .iter()
            .cloned()
            .collect::<std::collections::BTreeSet<_>>()
            == held,
        "VIPs held: status says {vips_held:?}, the interface has {held:?}: {}",
        context()
    );
    for name in ["INIT", "BACKUP", "MASTER", "FAULT"] {
        let want = u64::from(name == state);
        let got = instance_sample(&text, "vrrp_instance_state", &format!(r#"state="{name}""#))?;
        ensure!(
            got == want,
            "vrrp_instance_state {name} = {got}: {}",
            context()
        );
    }
    ensure!(
        instance_sample(&text, "vrrp_instance_master_priority", "")? == master_priority,
        "vrrp_instance_master_priority: {}",
        context()
    );
    ensure!(
        instance_sample(&text, "vrrp_instance_vips_held", "")? == held.len() as u64,
        "vrrp_instance_vips_held: {}",
        context()
    );
    ensure!(
        s["sync_group"] == "VG1" && s["sync_group_state"] == state,
        "group: {}",
        context()
    );
    for name in ["INIT", "BACKUP", "MASTER", "FAULT"] {
        let got = sample(
            &text,
            "vrrp_group_state",
            &format!(r#"group="VG1",state="{name}""#),
        )?;
        ensure!(
            got == f64::from(u8::from(name == state)),
            "vrrp_group_state {name}: {}",
            context()
        );
    }
    let plain = d.status_text()?;
    ensure!(
        plain.starts_with(&format!("(VI_1) {state:<6} eth0 vrid 61"))
            && plain.contains(&format!("VRRP_Group(VG1) {state}")),
        "vrrpd status:\n{plain}"
    );
    for (state, count) in s["transitions"].as_object().into_iter().flatten() {
        let got = instance_sample(&text, "vrrp_transitions_total", &format!(r#"to="{state}""#))?;
        // The metrics are read after the status: nothing moved in between in a steady state.
        ensure!(
            Some(got) == count.as_u64(),
            "vrrp_transitions_total to {state}: {}",
            context()
        );
    }
    Ok((s, text))
}

/// Waits until `series` of director `n` exceeds `above`.
fn grows(t: &Topology, n: usize, d: &Daemon, series: &str, above: u64) -> anyhow::Result<u64> {
    let start = std::time::Instant::now();
    loop {
        let now = instance_sample(&metrics(t, n, d)?, series, "")?;
        if now > above {
            return Ok(now);
        }
        if start.elapsed() > MOVE_TIMEOUT {
            bail!("{series} stayed at {now} (not above {above})\n{}", d.tail());
        }
        thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn status_and_metrics_follow_a_failover() -> anyhow::Result<()> {
    let _serial = lab::one_at_a_time()?;
    let t = Topology::new("mtr", &LAYOUT)?;
    let scratch = Scratch::new("mtr")?;
    let mut high = start(&t, &scratch, 0, 150)?;
    t.expect("director 1 alone", &[&[VIP], &[]], &[&high])?;
    let low = start(&t, &scratch, 1, 100)?;
    // Director 2 has heard director 1 once its status names it as master.
    let start_wait = std::time::Instant::now();
    // (Its control socket appears once it runs: until then, no status.)
    while status(&low).map_or(true, |s| s["master"] != ADDRESSES[0]) {
        ensure!(
            start_wait.elapsed() < MOVE_TIMEOUT,
            "director 2 never saw director 1: {:?}\n{}",
            status(&low),
            low.tail()
        );
        thread::sleep(Duration::from_millis(200));
    }
    t.expect("director 1 MASTER", &[&[VIP], &[]], &[&high, &low])?;

    let (s1, m1) = check(&t, 0, &high, "MASTER", 0, 150)?;
    ensure!(
        u(&s1, "priority") == 150 && u(&s1, "base_priority") == 150,
        "priorities: {s1}"
    );
    ensure!(s1["transitions"]["MASTER"] == 1, "transitions: {s1}");
    let last = &s1["last_transition"];
    ensure!(
        last["from"] == "BACKUP" && last["to"] == "MASTER" && last["reason"] == "master_down",
        "director 1's last transition: {s1}"
    );
    ensure!(u(&s1, "priority_zero_sent") == 0, "{s1}");
    let (s2, _) = check(&t, 1, &low, "BACKUP", 0, 150)?;
    ensure!(
        s2["last_transition"]["to"] == "BACKUP" && s2["last_transition"]["reason"] == "start",
        "director 2's last transition: {s2}"
    );
    ensure!(
        s2.get("transitions")
            .and_then(|t| t.get("MASTER"))
            .is_none(),
        "{s2}"
    );
    ensure!(
        s1["drops"]
            .as_object()
            .is_some_and(|d| d.contains_key("bad_ttl")),
        "every drop reason is listed: {s1}"
    );
    ensure!(
        instance_sample(&m1, "vrrp_kernel_drops_total", r#"reason="bad_ttl""#).is_ok(),
        "vrrp_kernel_drops_total by reason: {m1}"
    );

    // Adverts out of the MASTER and into the BACKUP keep counting, in both views.
    let sent = u(&s1, "adverts_sent");
    ensure!(sent > 0, "director 1 sent no advert: {s1}");
    grows(&t, 0, &high, "vrrp_adverts_sent_total", sent)?;
    let received = u(&s2, "adverts_received");
    ensure!(received > 0, "director 2 received no advert: {s2}");
    grows(&t, 1, &low, "vrrp_adverts_received_total", received)?;
    ensure!(
        u(&status(&high)?, "adverts_sent") > sent,
        "status adverts_sent did not move"
    );

    // Failover: director 1 leaves with priority 0, director 2 takes over.
    high.stop()?;
    t.expect("director 2 after the failover", &[&[], &[VIP]], &[&low])?;
    let (s2, m2) = check(&t, 1, &low, "MASTER", 1, 100)?;
    let last = &s2["last_transition"];
    ensure!(
        last["from"] == "BACKUP" && last["to"] == "MASTER" && last["reason"] == "priority_zero",
        "director 2's last transition: {s2}"
    );
    ensure!(s2["transitions"]["MASTER"] == 1, "transitions: {s2}");
    ensure!(u(&s2, "priority_zero_received") >= 1, "priority 0 in: {s2}");
    ensure!(
        instance_sample(&m2, "vrrp_priority_zero_received_total", "")? >= 1,
        "vrrp_priority_zero_received_total: {m2}"
    );
    let plain = low.status_text()?;
    ensure!(
        plain.contains("last transition BACKUP -> MASTER (priority_zero)")
            && plain.contains("master this router (priority 100)")
            && plain.contains(&format!("held {VIP}/32")),
        "vrrpd status:\n{plain}"
    );
    let at = s2["last_transition"]["at_unix_ms"].as_u64().unwrap_or(0) / 1000;
    ensure!(
        instance_sample(&m2, "vrrp_last_transition_timestamp_seconds", "")? == at,
        "vrrp_last_transition_timestamp_seconds: {s2}\n{m2}"
    );
    let sent = u(&s2, "adverts_sent");
    grows(&t, 1, &low, "vrrp_adverts_sent_total", sent)?;
    Ok(())
}
