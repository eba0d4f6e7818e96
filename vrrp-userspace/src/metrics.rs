//! The Prometheus endpoint (`vrrpd run --metrics-listen ADDR:PORT`): the numbers of
//! `vrrpd status` as `vrrp_*` series in the text exposition format, rendered from a
//! status snapshot at each scrape ([`render`], pure), served by a minimal HTTP/1.1
//! responder ([`serve`]). Every series is listed in docs/running.md (Metrics).
//!
//! One series is the daemon's own, not an instance's: `vrrp_event_latency_seconds`, a
//! summary of the time from the XDP program's stamp on a kernel event to the controller
//! taking it ([`EventLatency`]).
//!
//! The instance's name is the label `vrrp_instance`, not `instance`: Prometheus gives
//! every scraped series an `instance` label of its own (the target), and would rename ours
//! to `exported_instance`.
use std::{collections::BTreeMap, time::Duration};

use prometheus_client::{
    encoding::text::encode,
    metrics::{counter::Counter, family::Family, gauge::Gauge},
    registry::Registry,
};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use crate::daemon::InstanceStatus;

/// The states an instance or a group can be in, as the one-hot `state` label says them.
pub const STATES: [&str; 4] = ["INIT", "BACKUP", "MASTER", "FAULT"];

type Labels = Vec<(&'static str, String)>;

/// How long a scraper may take to send its request, then to take the answer.
const IO_TIMEOUT: Duration = Duration::from_secs(2);

fn instance_labels(s: &InstanceStatus) -> Labels {
    vec![
        ("vrrp_instance", s.name.clone()),
        ("interface", s.interface.clone()),
        ("vrid", s.vrid.to_string()),
    ]
}

fn with(mut labels: Labels, key: &'static str, value: impl Into<String>) -> Labels {
    labels.push((key, value.into()));
    labels
}

/// How many of the latest kernel events the latency quantiles are taken over.
pub const LATENCY_WINDOW: usize = 1024;

/// The time from the XDP program's stamp on a kernel event (`bpf_ktime_get_ns()`, the
/// monotonic clock) to the controller taking the event off the ring buffer: the quantiles
/// over the last [`LATENCY_WINDOW`] events, the count and the sum since the start.
#[derive(Debug, Default, Clone)]
pub struct EventLatency {
    /// The latest samples in ns, a ring once full.
    window: Vec<u64>,
    next: usize,
    count: u64,
    sum_ns: u128,
}

impl EventLatency {
    /// Records one event stamped `stamped_ns` and taken at `taken_ns` (same clock).
    pub fn record(&mut self, stamped_ns: u64, taken_ns: u64) {
        let ns = taken_ns.saturating_sub(stamped_ns);
        if self.window.len() < LATENCY_WINDOW {
            self.window.push(ns);
        } else {
            self.window[self.next] = ns;
        }
        self.next = (self.next + 1) % LATENCY_WINDOW;
        self.count += 1;
        self.sum_ns += u128::from(ns);
    }

    /// Events recorded since the start.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// The `q` quantile (0 < q ≤ 1, nearest rank) of the window in seconds; `None` before
    /// the first event.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        let mut sorted = self.window.clone();
        sorted.sort_unstable();
        let rank = (q * sorted.len() as f64).ceil() as usize;
        let ns = *sorted.get(rank.clamp(1, sorted.len().max(1)) - 1)?;
        Some(ns as f64 / 1e9)
    }

    /// The summary's lines in the text format (HELP, TYPE, quantiles, sum, count).
    fn render(&self) -> String {
        let name = "vrrp_event_latency_seconds";
        let mut out = format!(
            "# HELP {name} From the XDP program's stamp on a kernel event to the controller \
             taking it (quantiles over the last {LATENCY_WINDOW} events)\n# TYPE {name} summary\n"
        );
        for q in ["0.5", "0.99"] {
            if let Some(v) = self.quantile(q.parse().unwrap_or(1.0)) {
                out.push_str(&format!("{name}{{quantile=\"{q}\"}} {v:.9}\n"));
            }
        }
        out.push_str(&format!(
            "{name}_sum {:.9}\n{name}_count {}\n",
            self.sum_ns as f64 / 1e9,
            self.count
        ));
        out
    }
}

/// The `vrrp_*` series of `statuses` (one entry per instance, as `vrrpd status --json`
/// gives them) and the daemon's event latency, in the Prometheus text format.
pub fn render(statuses: &[InstanceStatus], latency: &EventLatency) -> String {
    let state = Family::<Labels, Gauge>::default();
    let priority = Family::<Labels, Gauge>::default();
    let effective = Family::<Labels, Gauge>::default();
    let master_priority = Family::<Labels, Gauge>::default();
    let vips = Family::<Labels, Gauge>::default();
    let vips_held = Family::<Labels, Gauge>::default();
    let sent = Family::<Labels, Counter>::default();
    let received = Family::<Labels, Counter>::default();
    let zero_sent = Family::<Labels, Counter>::default();
    let zero_received = Family::<Labels, Counter>::default();
    let transitions = Family::<Labels, Counter>::default();
    let last_transition = Family::<Labels, Gauge>::default();
    let drops = Family::<Labels, Counter>::default();
    let fallback = Family::<Labels, Gauge>::default();
    let fallbacks = Family::<Labels, Counter>::default();
    let group_state = Family::<Labels, Gauge>::default();

    let mut groups: BTreeMap<&str, &str> = BTreeMap::new();
    for s in statuses {
        let labels = instance_labels(s);
        for name in STATES {
            let hot = i64::from(s.state == name);
            state
                .get_or_create(&with(labels.clone(), "state", name))
                .set(hot);
        }
        priority
            .get_or_create(&labels)
            .set(i64::from(s.base_priority));
        effective.get_or_create(&labels).set(i64::from(s.priority));
        master_priority
            .get_or_create(&labels)
            .set(s.master_priority.map_or(-1, i64::from));
        vips.get_or_create(&labels)
            .set(i64::try_from(s.virtual_addresses.len()).unwrap_or(i64::MAX));
        vips_held
            .get_or_create(&labels)
            .set(i64::try_from(s.vips_held.len()).unwrap_or(i64::MAX));
        sent.get_or_create(&labels).inc_by(s.adverts_sent);
        received.get_or_create(&labels).inc_by(s.adverts_received);
        zero_sent
            .get_or_create(&labels)
            .inc_by(s.priority_zero_sent);
        zero_received
            .get_or_create(&labels)
            .inc_by(s.priority_zero_received);
        for name in STATES {
            let n = s.transitions.get(name).copied().unwrap_or(0);
            transitions
                .get_or_create(&with(labels.clone(), "to", name))
                .inc_by(n);
        }
        if let Some(t) = &s.last_transition {
            last_transition
                .get_or_create(&labels)
                .set(i64::try_from(t.at_unix_ms / 1000).unwrap_or(i64::MAX));
        }
        for (reason, n) in &s.drops {
            drops
                .get_or_create(&with(labels.clone(), "reason", reason.clone()))
                .inc_by(*n);
        }
        fallback
            .get_or_create(&labels)
            .set(i64::from(s.master_down_timer != "kernel"));
        fallbacks
            .get_or_create(&labels)
            .inc_by(s.counters.get("timer_fallbacks").copied().unwrap_or(0));
        if let Some(group) = &s.sync_group {
            groups
                .entry(group)
                .or_insert(s.sync_group_state.as_deref().unwrap_or("INIT"));
        }
    }
    for (group, current) in groups {
        for name in STATES {
            group_state
                .get_or_create(&vec![
                    ("group", group.to_owned()),
                    ("state", name.to_owned()),
                ])
                .set(i64::from(current == name));
        }
    }

    let mut registry = Registry::default();
    let r = &mut registry;
    r.register(
        "vrrp_instance_state",
        "1 for the instance's state (INIT, BACKUP, MASTER, FAULT), 0 for the others",
        state,
    );
    r.register(
        "vrrp_instance_priority",
        "The configured priority",
        priority,
    );
    r.register(
        "vrrp_instance_effective_priority",
        "The priority advertised, tracking applied",
        effective,
    );
    r.register(
        "vrrp_instance_master_priority",
        "The master's priority as the instance knows it (-1: none)",
        master_priority,
    );
    r.register("vrrp_instance_vips", "Virtual addresses configured", vips);
    r.register(
        "vrrp_instance_vips_held",
        "Virtual addresses held (all as MASTER, none otherwise)",
        vips_held,
    );
    r.register(
        "vrrp_adverts_sent",
        "Adverts sent, priority 0 included",
        sent,
    );
    r.register(
        "vrrp_adverts_received",
        "Adverts received that passed every check (the kernel's valid counter)",
        received,
    );
    r.register(
        "vrrp_priority_zero_sent",
        "Priority 0 adverts sent (leaving MASTER)",
        zero_sent,
    );
    r.register(
        "vrrp_priority_zero_received",
        "Priority 0 adverts the kernel reported",
        zero_received,
    );
    r.register(
        "vrrp_transitions",
        "Changes of state, by the state entered",
        transitions,
    );
    r.register(
        "vrrp_last_transition_timestamp_seconds",
        "When the instance last changed state (Unix time)",
        last_transition,
    );
    r.register(
        "vrrp_kernel_drops",
        "Adverts the XDP program dropped, by reason",
        drops,
    );
    r.register(
        "vrrp_master_down_timer_fallback",
        "1 while the master-down timer runs in userspace (the kernel could not arm it)",
        fallback,
    );
    r.register(
        "vrrp_master_down_timer_fallbacks",
        "Times the kernel refused to arm the master-down timer",
        fallbacks,
    );
    r.register(
        "vrrp_group_state",
        "1 for the sync group's state, 0 for the others",
        group_state,
    );
    let mut text = String::new();
    // Writing into a String cannot fail.
    let _ = encode(&mut text, &registry);
    // The summary goes before the exposition's closing `# EOF`.
    let end = text.rfind("# EOF").unwrap_or(text.len());
    text.insert_str(end, &latency.render());
    text
}

/// Answers one HTTP/1.1 request on `stream` with `body` (the metrics, rendered when the
/// connection was accepted): `GET /metrics` (or `/`) gets 200, any other path 404, any
/// other method 405. One request per connection (`Connection: close`); a scraper that
/// says nothing, or does not read, is dropped after [`IO_TIMEOUT`].
pub async fn serve(mut stream: tokio::net::TcpStream, body: String) {
    let mut request = Vec::new();
    let mut buf = [0; 1024];
    let read = tokio::time::timeout(IO_TIMEOUT, async {
        // The request line and headers end with an empty line; the body (none) is ignored.
        while !request.windows(4).any(|w| w == b"\r\n\r\n") && request.len() < 16 * 1024 {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => request.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    if read.is_err() {
        return;
    }
    let answer = respond(&String::from_utf8_lossy(&request), &body);
    let _ = tokio::time::timeout(IO_TIMEOUT, async {
        let _ = stream.write_all(answer.as_bytes()).await;
        let _ = stream.shutdown().await;
    })
    .await;
}

/// The whole HTTP answer to `request` (its text up to the empty line).
fn respond(request: &str, body: &str) -> String {
    let mut words = request.lines().next().unwrap_or("").split_whitespace();
    let (method, path) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
    let path = path.split('?').next().unwrap_or("");
    let (status, content_type, body) = match (method, path) {
        ("GET" | "HEAD", "/metrics" | "/") => {
            ("200 OK", "text/plain; version=0.0.4; charset=utf-8", body)
        }
        ("GET" | "HEAD", _) => ("404 Not Found", "text/plain", "not found: try /metrics\n"),
        _ => ("405 Method Not Allowed", "text/plain", "GET only\n"),
    };
    let mut answer = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n",
        body.len()
    );
    if method != "HEAD" {
        answer.push_str(body);
    }
    answer
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::daemon::TransitionStatus;

    fn master() -> InstanceStatus {
        InstanceStatus {
            name: "VI_1".to_owned(),
            interface: "eth0".to_owned(),
            vrid: 51,
            priority: 140,
            base_priority: 150,
            state: "MASTER".to_owned(),
            sync_group: Some("VG1".to_owned()),
            sync_group_state: Some("MASTER".to_owned()),
            virtual_addresses: vec!["192.0.2.10/24".to_owned(), "192.0.2.11/24".to_owned()],
            vips_held: vec!["192.0.2.10/24".to_owned(), "192.0.2.11/24".to_owned()],
            master_priority: Some(140),
            last_transition: Some(TransitionStatus {
                at_unix_ms: 1_700_000_000_500,
                from: "BACKUP".to_owned(),
                to: "MASTER".to_owned(),
                reason: "master_down".to_owned(),
            }),
            transitions: [("BACKUP".to_owned(), 1), ("MASTER".to_owned(), 1)].into(),
            adverts_sent: 12,
            adverts_received: 3,
            priority_zero_sent: 0,
            priority_zero_received: 1,
            drops: [("bad_ttl".to_owned(), 2), ("replay".to_owned(), 0)].into(),
            counters: [("timer_fallbacks".to_owned(), 1)].into(),
            master_down_timer: "kernel".to_owned(),
            ..InstanceStatus::default()
        }
    }

    /// The lines of `text` for series `name` (its samples, without HELP/TYPE).
    fn samples<'a>(text: &'a str, name: &str) -> Vec<&'a str> {
        text.lines()
            .filter(|l| l.starts_with(&format!("{name}{{")) || l.starts_with(&format!("{name} ")))
            .collect()
    }

    #[test]
    fn an_instance_renders_every_series() {
        let text = render(&[master()], &EventLatency::default());
        let l = r#"vrrp_instance="VI_1",interface="eth0",vrid="51""#;
        assert!(text.contains("# TYPE vrrp_instance_state gauge"), "{text}");
        assert!(text.contains("# TYPE vrrp_adverts_sent counter"), "{text}");
        let one_hot = samples(&text, "vrrp_instance_state");
        assert_eq!(one_hot.len(), 4, "{text}");
        assert!(
            one_hot.contains(&format!(r#"vrrp_instance_state{{{l},state="MASTER"}} 1"#).as_str())
        );
        assert!(
            one_hot.contains(&format!(r#"vrrp_instance_state{{{l},state="BACKUP"}} 0"#).as_str())
        );
        for line in [
            format!("vrrp_instance_priority{{{l}}} 150"),
            format!("vrrp_instance_effective_priority{{{l}}} 140"),
            format!("vrrp_instance_master_priority{{{l}}} 140"),
            format!("vrrp_instance_vips{{{l}}} 2"),
            format!("vrrp_instance_vips_held{{{l}}} 2"),
            format!("vrrp_adverts_sent_total{{{l}}} 12"),
            format!("vrrp_adverts_received_total{{{l}}} 3"),
            format!("vrrp_priority_zero_sent_total{{{l}}} 0"),
            format!("vrrp_priority_zero_received_total{{{l}}} 1"),
            format!(r#"vrrp_transitions_total{{{l},to="MASTER"}} 1"#),
            format!(r#"vrrp_transitions_total{{{l},to="FAULT"}} 0"#),
            format!("vrrp_last_transition_timestamp_seconds{{{l}}} 1700000000"),
            format!(r#"vrrp_kernel_drops_total{{{l},reason="bad_ttl"}} 2"#),
            format!(r#"vrrp_kernel_drops_total{{{l},reason="replay"}} 0"#),
            format!("vrrp_master_down_timer_fallback{{{l}}} 0"),
            format!("vrrp_master_down_timer_fallbacks_total{{{l}}} 1"),
            r#"vrrp_group_state{group="VG1",state="MASTER"} 1"#.to_owned(),
            r#"vrrp_group_state{group="VG1",state="FAULT"} 0"#.to_owned(),
        ] {
            assert!(text.lines().any(|t| t == line), "no `{line}` in\n{text}");
        }
        assert!(text.ends_with("# EOF\n"), "{text}");
    }

    #[test]
    fn no_instance_renders_only_the_descriptions() {
        let text = render(&[], &EventLatency::default());
        assert!(text.contains("# HELP vrrp_instance_state"), "{text}");
        assert!(samples(&text, "vrrp_instance_state").is_empty());
    }

    #[test]
    fn event_latency_is_a_summary_over_the_latest_events() {
        let mut latency = EventLatency::default();
        let empty = render(&[], &latency);
        assert!(empty.contains("# TYPE vrrp_event_latency_seconds summary"));
        assert!(samples(&empty, "vrrp_event_latency_seconds").is_empty());
        assert!(empty.contains("vrrp_event_latency_seconds_count 0\n# EOF\n"));
        // 100 events of 1..=100 µs: the median is 50 µs, the 99th percentile 99 µs.
        for us in 1..=100u64 {
            latency.record(1_000_000, 1_000_000 + us * 1000);
        }
        let text = render(&[], &latency);
        for line in [
            r#"vrrp_event_latency_seconds{quantile="0.5"} 0.000050000"#,
            r#"vrrp_event_latency_seconds{quantile="0.99"} 0.000099000"#,
            "vrrp_event_latency_seconds_sum 0.005050000",
            "vrrp_event_latency_seconds_count 100",
        ] {
            assert!(text.lines().any(|t| t == line), "no `{line}` in\n{text}");
        }
        // The window keeps the latest events; the count and sum keep them all. A stamp
        // from the future (another clock) counts as 0, not as a wrapped huge value.
        for _ in 0..LATENCY_WINDOW {
            latency.record(5_000, 2_000);
        }
        assert_eq!(latency.quantile(0.99), Some(0.0));
        assert_eq!(latency.count(), 100 + LATENCY_WINDOW as u64);
    }

    #[test]
    fn the_responder_serves_metrics_and_refuses_the_rest() {
        let ok = respond("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", "vrrp 1\n");
        assert!(ok.starts_with("HTTP/1.1 200 OK\r\n"), "{ok}");
        assert!(ok.contains("Content-Length: 7\r\n") && ok.ends_with("\r\n\r\nvrrp 1\n"));
        let head = respond("HEAD / HTTP/1.1\r\n\r\n", "vrrp 1\n");
        assert!(head.ends_with("\r\n\r\n") && head.contains("Content-Length: 7"));
        assert!(respond("GET /x HTTP/1.1\r\n\r\n", "").starts_with("HTTP/1.1 404"));
        assert!(respond("POST /metrics HTTP/1.1\r\n\r\n", "").starts_with("HTTP/1.1 405"));
        assert!(respond("", "").starts_with("HTTP/1.1 405"));
    }
}
