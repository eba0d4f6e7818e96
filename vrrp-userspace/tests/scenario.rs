//! Conformance scenarios (STYLE 7 and 16, holo's model): each `tests/scenarios/NAME.yaml`
//! describes directors (their configurations), operator events and the VIP distribution
//! expected at checkpoints; the run's transcript (every log line of every director, with
//! its time) must equal `NAME.expected`. `VRRPD_BLESS=1` rewrites the expected transcripts.
//!
//! Each director is the real [`Controller`] — the same code `vrrpd run` runs — with a fake
//! [`Platform`] and a fake clock. The fake kernel stands in for the XDP program: it keeps
//! each slot's state and master-down timer, and for every advert frame another director's
//! controller really emitted (decoded and authenticated with the receiver's key) it takes
//! the program's decision by calling the function the program calls
//! (`vrrp_common::policy::decide`, tested on the real program in `tests/tests/xdp_policy.rs`).
#![allow(
    clippy::unwrap_used,
    reason = "test harness: a failed unwrap is a failed test"
)]
use std::{
    collections::{BTreeMap, BTreeSet, HashMap},
    fmt::Write as _,
    net::{IpAddr, Ipv4Addr},
    path::{Path, PathBuf},
    time::Duration,
};

use serde::Deserialize;
use vrrp_common::{
    maps::event,
    policy::{self, Memory, Receiver},
};
use vrrpd::{
    config::{self, model::VirtualAddress},
    controller::{Controller, Input},
    fsm::{Event, Heard, SeenAdvert, State},
    platform::Platform,
    router::Handles,
    wire::{advert::AuthCheck, frame},
};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Scenario {
    directors: Vec<DirectorSpec>,
    duration: f64,
    events: Vec<Scripted>,
    checkpoints: Vec<BTreeMap<String, serde_yaml::Value>>,
    /// Adverts that must leave without a gap (a reload must not delay them).
    #[serde(default)]
    steady: Vec<Steady>,
}

/// Between `from` and `to` (seconds), `director` sends VRID `vrid`'s adverts at most
/// `interval` seconds apart.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Steady {
    director: String,
    vrid: u8,
    from: f64,
    to: f64,
    interval: f64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DirectorSpec {
    name: String,
    config: PathBuf,
    /// Last octet of the director's address on every segment (x.y.z.ADDRESS).
    address: u8,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Scripted {
    at: f64,
    director: String,
    #[serde(rename = "do")]
    action: String,
    interface: Option<String>,
    /// `reload`: the configuration the director reads again.
    config: Option<PathBuf>,
    /// `script_ok` / `script_fail`: the `vrrp_script` whose run ended.
    script: Option<String>,
    /// `file`: the tracked file (`script` names it) now holds this number.
    value: Option<i64>,
}

/// What the fake kernel keeps for one slot.
#[derive(Debug, Default, Clone)]
struct Slot {
    state: Option<State>,
    master_down_at: Option<Duration>,
    /// The last valid advert: priority and arrival.
    last: Option<(u8, Duration)>,
    /// The policy's memory (preempt hold, LOWER_PRIORITY rate limit).
    memory: Memory,
    sequence: u32,
}

/// A director's world: fake kernel maps, addresses, wire and scripts.
#[derive(Debug, Default)]
struct Fake {
    now: Duration,
    slots: BTreeMap<u32, Slot>,
    holding: BTreeSet<IpAddr>,
    /// Interfaces that are down: nothing is sent or received there.
    down: BTreeSet<String>,
    outbox: Vec<(String, Vec<u8>)>,
    /// Gratuitous ARPs sent per interface since the last transcript line.
    gratuitous: BTreeMap<String, usize>,
    lines: Vec<String>,
    /// When each advert left, per VRID (the largest gap is checked across reloads).
    adverts: BTreeMap<u8, Vec<Duration>>,
}

impl Platform for Fake {
    fn set_state(&mut self, slot: u32, state: State) -> anyhow::Result<()> {
        let s = self.slots.entry(slot).or_default();
        s.state = Some(state);
        // A state change starts a new epoch: a preempt hold does not outlive it.
        s.memory.hold_until_ns = 0;
        Ok(())
    }

    fn set_priority(&mut self, slot: u32, priority: u8) -> anyhow::Result<()> {
        self.lines
            .push(format!("kernel: slot {slot} priority {priority}"));
        Ok(())
    }

    fn arm_master_down(&mut self, slot: u32, after: Duration) -> anyhow::Result<()> {
        self.slots.entry(slot).or_default().master_down_at = Some(self.now + after);
        Ok(())
    }

    fn cancel_master_down(&mut self, slot: u32) -> anyhow::Result<()> {
        self.slots.entry(slot).or_default().master_down_at = None;
        Ok(())
    }

    fn advance_sequence(&mut self, slot: u32, by: u32) -> anyhow::Result<()> {
        let s = self.slots.entry(slot).or_default();
        s.sequence = s.sequence.saturating_add(by);
        Ok(())
    }

    fn next_sequence(&mut self, slot: u32) -> anyhow::Result<u32> {
        let s = self.slots.entry(slot).or_default();
        s.sequence += 1;
        Ok(s.sequence)
    }

    async fn add_address(&mut self, _ifindex: u32, vip: &VirtualAddress) -> anyhow::Result<()> {
        self.holding.insert(vip.address);
        Ok(())
    }

    async fn del_address(&mut self, _ifindex: u32, address: IpAddr) -> anyhow::Result<()> {
        self.holding.remove(&address);
        Ok(())
    }

    fn send(&mut self, interface: &str, frame: &[u8]) -> std::io::Result<()> {
        if self.down.contains(interface) {
            return Err(std::io::Error::other("interface down"));
        }
        if frame.get(12..14) == Some(&[0x08, 0x06]) {
            *self.gratuitous.entry(interface.to_owned()).or_default() += 1;
        } else {
            if let Ok(decoded) = frame::decode(frame)
                && decoded.advert.advert.vrrp.priority != 0
            {
                let vrid = decoded.advert.advert.vrrp.vrid;
                self.adverts.entry(vrid).or_default().push(self.now);
            }
            self.outbox.push((interface.to_owned(), frame.to_vec()));
        }
        Ok(())
    }

    fn run_script(&mut self, command: &str) {
        self.lines.push(format!("runs `{command}`"));
    }

    fn log(&mut self, line: &str) {
        self.lines.push(line.to_owned());
    }

    fn notify_fifo(&mut self, line: &str) {
        self.lines.push(format!("fifo: {line}"));
    }

    fn install(
        &mut self,
        slot: u32,
        _config: &vrrp_common::maps::InstanceConfig,
    ) -> anyhow::Result<()> {
        self.slots.insert(slot, Slot::default());
        Ok(())
    }

    fn uninstall(&mut self, slot: u32) -> anyhow::Result<()> {
        self.slots.remove(&slot);
        Ok(())
    }
}

/// The configuration at `path` (relative to the repository), and what the fake system
/// knows of its instances: interface `ethN` has index N + 1 and MAC 02:00:00:00:A:N, and
/// the director's address on each segment is x.y.z.A.
fn load(path: &Path, address: u8) -> (config::Config, Vec<Handles>, HashMap<String, bool>) {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let config = config::load(&root.join(path), None)
        .unwrap_or_else(|e| panic!("{}", e.render()))
        .config;
    let mut links = HashMap::new();
    let handles = config
        .instances
        .iter()
        .map(|inst| {
            links.insert(inst.interface.clone(), true);
            let IpAddr::V4(first) = inst.virtual_addresses[0].address else {
                panic!("the scenarios use IPv4 segments");
            };
            let [a, b, c, _] = first.octets();
            let n: u8 = inst.interface.trim_start_matches("eth").parse().unwrap();
            Handles {
                ifindex: u32::from(n) + 1,
                mac: [2, 0, 0, 0, address, n],
                own: IpAddr::V4(Ipv4Addr::new(a, b, c, address)),
                vip_ifindex: Vec::new(),
            }
        })
        .collect();
    (config, handles, links)
}

struct Director {
    name: String,
    /// Last octet of its addresses.
    address: u8,
    controller: Controller<Fake>,
}

impl Director {
    fn new(spec: &DirectorSpec) -> Self {
        let (config, handles, links) = load(&spec.config, spec.address);
        Self {
            name: spec.name.clone(),
            address: spec.address,
            controller: Controller::new(&config, handles, links, Fake::default()),
        }
    }

    async fn handle(&mut self, input: Input, now: Duration) {
        self.controller.platform_mut().now = now;
        self.controller.handle(input, now).await;
    }
}

struct Sim {
    directors: Vec<Director>,
    /// The segment is split: frames reach no other director.
    split: bool,
    now: Duration,
    transcript: String,
}

impl Sim {
    /// Moves every director's log lines into the transcript.
    fn collect(&mut self) {
        for d in &mut self.directors {
            let fake = d.controller.platform_mut();
            for (interface, count) in std::mem::take(&mut fake.gratuitous) {
                fake.lines
                    .push(format!("sends {count} gratuitous ARPs on {interface}"));
            }
            for line in std::mem::take(&mut d.controller.platform_mut().lines) {
                let _ = writeln!(
                    self.transcript,
                    "{:6.2} {} {line}",
                    self.now.as_secs_f64(),
                    d.name
                );
            }
        }
    }

    /// Delivers every frame sent so far, until no more are sent.
    async fn deliver(&mut self) {
        loop {
            self.collect();
            let mut sent = Vec::new();
            for (from, d) in self.directors.iter_mut().enumerate() {
                for (interface, bytes) in std::mem::take(&mut d.controller.platform_mut().outbox) {
                    sent.push((from, interface, bytes));
                }
            }
            if sent.is_empty() {
                return;
            }
            if self.split {
                continue;
            }
            for (from, interface, bytes) in sent {
                for to in 0..self.directors.len() {
                    if to != from {
                        self.receive(to, &interface, &bytes).await;
                    }
                }
            }
        }
    }

    /// The XDP program's decision for a frame reaching director `to` on `interface`.
    async fn receive(&mut self, to: usize, interface: &str, bytes: &[u8]) {
        let now = self.now;
        let Ok(decoded) = frame::decode(bytes) else {
            return; // gratuitous ARPs and the like
        };
        let director = &mut self.directors[to];
        if director.controller.platform().down.contains(interface) {
            return;
        }
        let advert = &decoded.advert.advert;
        let Some(router) = director
            .controller
            .routers()
            .iter()
            .find(|r| r.interface == interface && r.vrid == advert.vrrp.vrid)
        else {
            return;
        };
        if let Some((_, password)) = &router.auth
            && decoded.advert.authenticate(password) != AuthCheck::Valid
        {
            panic!("{}: an advert failed authentication", director.name);
        }
        let (slot, own) = (router.slot, router.own);
        let p = &router.fsm.params;
        let mut me = Receiver {
            master: false,
            priority: router.priority(),
            version: p.version,
            preempt: p.preempt,
            preempt_delay_ns: u64::try_from(p.preempt_delay.as_nanos()).unwrap(),
            interval_cs: p.interval_cs,
        };
        let priority = advert.vrrp.priority;
        let source = advert.ip.src();
        let heard = policy::Advert {
            priority,
            interval_cs: advert.vrrp.version.interval_cs(),
            higher_address: source > own,
        };
        let fake = director.controller.platform_mut();
        let s = fake.slots.entry(slot).or_default();
        match s.state {
            Some(State::Backup) => {}
            Some(State::Master) => me.master = true,
            _ => return,
        }
        s.last = Some((priority, now));
        let now_ns = u64::try_from(now.as_nanos()).unwrap();
        let d = policy::decide(&me, &heard, s.memory, now_ns);
        s.memory = d.memory;
        if let Some(after) = d.arm_ns {
            s.master_down_at = Some(now + Duration::from_nanos(after));
        }
        let heard = Heard {
            priority,
            own_address: source == own,
        };
        let event = match d.event {
            0 => return,
            event::PRIORITY_ZERO => Event::PriorityZero,
            event::HIGHER_PRIORITY => Event::HigherPriority(heard),
            event::LOWER_PRIORITY => Event::LowerPriority(heard),
            other => panic!("the policy raised event kind {other} for an advert"),
        };
        director.handle(Input::Kernel { slot, event }, now).await;
    }

    /// Timers: the fake kernel's master-down expiries, then the controllers' deadlines.
    async fn tick(&mut self) {
        let now = self.now;
        for d in 0..self.directors.len() {
            let fake = self.directors[d].controller.platform_mut();
            let expired: Vec<(u32, Option<SeenAdvert>)> = fake
                .slots
                .iter_mut()
                .filter(|(_, s)| {
                    s.state == Some(State::Backup) && s.master_down_at.is_some_and(|t| t <= now)
                })
                .map(|(slot, s)| {
                    s.master_down_at = None;
                    let now_ns = u64::try_from(now.as_nanos()).unwrap();
                    let seen = s.last.map(|(priority, at)| SeenAdvert {
                        priority,
                        age: now - at,
                        held: now_ns < s.memory.hold_until_ns,
                    });
                    (*slot, seen)
                })
                .collect();
            for (slot, last_advert) in expired {
                let event = Event::MasterDown { last_advert };
                self.directors[d]
                    .handle(Input::Kernel { slot, event }, now)
                    .await;
                self.deliver().await;
            }
            if self.directors[d]
                .controller
                .deadline()
                .is_some_and(|t| t <= now)
            {
                self.directors[d].handle(Input::Timer, now).await;
                self.deliver().await;
            }
        }
    }

    async fn scripted(&mut self, e: &Scripted) {
        let now = self.now;
        let d = self
            .directors
            .iter()
            .position(|x| x.name == e.director)
            .unwrap();
        let director = &mut self.directors[d];
        match e.action.as_str() {
            "start" => director.handle(Input::Start, now).await,
            "split" => self.split = true,
            "heal" => self.split = false,
            "stop" => director.handle(Input::Stop, now).await,
            "link_down" | "link_up" => {
                let name = e.interface.clone().unwrap();
                let up = e.action == "link_up";
                let fake = director.controller.platform_mut();
                if up {
                    fake.down.remove(&name);
                } else {
                    // Adverts sent by the instances going to FAULT can no longer leave.
                    fake.down.insert(name.clone());
                }
                director.handle(Input::Link { name, up }, now).await;
            }
            "reload" => {
                let (config, handles, links) = load(e.config.as_ref().unwrap(), director.address);
                director.controller.platform_mut().now = now;
                let report = director
                    .controller
                    .reload(&config, handles, links, now)
                    .await;
                director
                    .controller
                    .platform_mut()
                    .lines
                    .push(format!("reloaded: {report}"));
            }
            "script_ok" | "script_fail" => {
                let name = e.script.clone().unwrap();
                let ok = e.action == "script_ok";
                director.handle(Input::Script { name, ok }, now).await;
            }
            "file" => {
                let name = e.script.clone().unwrap();
                let value = e.value.unwrap();
                director.handle(Input::File { name, value }, now).await;
            }
            other => panic!("unknown scripted action {other}"),
        }
        self.deliver().await;
    }
}

async fn run_async(name: &str) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/scenarios");
    let scenario: Scenario =
        serde_yaml::from_str(&std::fs::read_to_string(dir.join(format!("{name}.yaml"))).unwrap())
            .unwrap();
    let mut sim = Sim {
        split: false,
        directors: scenario.directors.iter().map(Director::new).collect(),
        now: Duration::ZERO,
        transcript: String::new(),
    };
    // Whole milliseconds, so scripted times compare exactly.
    let tick = Duration::from_millis(10);
    let end = Duration::from_secs_f64(scenario.duration);
    let mut checkpoints = scenario.checkpoints.iter().peekable();
    while sim.now <= end {
        let now = sim.now;
        for e in scenario
            .events
            .iter()
            .filter(|e| Duration::from_millis((e.at * 1000.0).round() as u64) == now)
        {
            sim.scripted(e).await;
        }
        sim.tick().await;
        if let Some(cp) = checkpoints.peek()
            && Duration::from_secs_f64(cp["at"].as_f64().unwrap()) <= sim.now
        {
            let _ = writeln!(
                sim.transcript,
                "{:6.2} -- checkpoint --",
                sim.now.as_secs_f64()
            );
            for director in &sim.directors {
                let holding: Vec<String> = director
                    .controller
                    .platform()
                    .holding
                    .iter()
                    .map(ToString::to_string)
                    .collect();
                let _ = writeln!(
                    sim.transcript,
                    "       {} holds [{}]",
                    director.name,
                    holding.join(", ")
                );
                let expected: Vec<String> = cp[director.name.as_str()]
                    .as_sequence()
                    .unwrap()
                    .iter()
                    .map(|v| v.as_str().unwrap().to_owned())
                    .collect();
                let mut sorted = holding.clone();
                sorted.sort();
                let mut want = expected.clone();
                want.sort();
                assert_eq!(
                    sorted,
                    want,
                    "{name}: {} at {:.2} s\n{}",
                    director.name,
                    sim.now.as_secs_f64(),
                    sim.transcript
                );
            }
            checkpoints.next();
        }
        sim.now += tick;
    }
    assert!(
        checkpoints.next().is_none(),
        "{name}: checkpoints after the end of the run"
    );
    for steady in &scenario.steady {
        let director = sim
            .directors
            .iter()
            .find(|d| d.name == steady.director)
            .unwrap();
        let (from, to) = (
            Duration::from_secs_f64(steady.from),
            Duration::from_secs_f64(steady.to),
        );
        let sent: Vec<Duration> = director.controller.platform().adverts[&steady.vrid]
            .iter()
            .copied()
            .filter(|t| (from..=to).contains(t))
            .collect();
        let widest = sent.windows(2).map(|w| w[1] - w[0]).max().unwrap();
        assert!(
            sent.first().unwrap().as_secs_f64() - steady.from <= steady.interval
                && steady.to - sent.last().unwrap().as_secs_f64() <= steady.interval
                && widest <= Duration::from_secs_f64(steady.interval),
            "{name}: {} VRID {}: adverts {:?} apart at most, sent at {sent:?}",
            steady.director,
            steady.vrid,
            widest
        );
    }
    let expected_path = dir.join(format!("{name}.expected"));
    if std::env::var_os("VRRPD_BLESS").is_some() {
        std::fs::write(&expected_path, &sim.transcript).unwrap();
    }
    let expected = std::fs::read_to_string(&expected_path).unwrap_or_else(|_| {
        panic!(
            "{} missing: run with VRRPD_BLESS=1 to create it",
            expected_path.display()
        )
    });
    assert_eq!(
        sim.transcript,
        expected,
        "{name}: transcript differs from {} (VRRPD_BLESS=1 regenerates it)",
        expected_path.display()
    );
}

/// Runs scenario `name` (one line per case below).
fn run(name: &str) {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(run_async(name));
}

/// A failing `vrrp_script` with weight −60 moves mastership to the peer and back; rise and
/// fall count results; `notify` and `notify_fifo` carry the effective priority.
#[test]
fn a_failing_script_with_weight_minus_60_moves_mastership_and_back() {
    run("track-script");
}

/// A script with weight 0 is a FAULT while it fails; a weighted tracked interface moves
/// the priority; the priority stays within 1–254.
#[test]
fn weight_zero_faults_interface_weights_and_clamping() {
    run("track-fault");
}

/// A sync group's tracked script takes every member to FAULT and back; group notify gets
/// `GROUP NAME STATE`; the members' own weights are ignored (no sync_group_tracking_weight).
#[test]
fn sync_group_tracking_and_group_notify() {
    run("track-group");
}

#[test]
fn seed_case_study() {
    run("seed");
}

#[test]
fn sync_group_members_sharing_an_interface_recover_after_it_flaps() {
    run("shared-interface");
}

#[test]
fn vrrpv2_skew_ignores_advert_int_and_stop_notifies_stop() {
    run("advert-int-3");
}

#[test]
fn preempt_delay_holds_from_the_first_lower_advert_and_yields_to_master_down() {
    run("preempt-delay");
}

#[test]
fn a_master_hearing_a_lower_priority_after_a_split_sends_an_advert_and_garps() {
    run("split");
}

#[test]
fn two_address_owners_step_down_to_254() {
    run("owners");
}

#[test]
fn reload_keeps_unchanged_instances_and_applies_priority_removal_and_addition() {
    run("reload");
}
