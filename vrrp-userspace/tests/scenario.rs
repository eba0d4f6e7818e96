//! Golden scenarios for the protocol core (STYLE.md 7): `tests/scenarios/*.yaml` describe
//! directors (their configurations), operator events and the VIP distribution expected at
//! checkpoints; the run's transcript (every transition and sync-group order, with its
//! time) must equal `*.expected`. `VRRPD_BLESS=1` rewrites the expected transcripts.
//!
//! Each director runs the real `sync::dispatch` / `fsm::step`. The network and the kernel
//! are simulated here: adverts reach the other director's instance of the same VRID while
//! both ends of the segment are up, and the decision the XDP program takes for a valid
//! advert (policy item 7 in `vrrp-ebpf/src/verdict.rs`, tested on the real program in
//! `tests/tests/xdp_policy.rs`) is mirrored in `Kernel::receive`.
#![allow(
    clippy::unwrap_used,
    reason = "test harness: a failed unwrap is a failed test"
)]
use std::{
    collections::{BTreeMap, BTreeSet},
    fmt::Write as _,
    net::IpAddr,
    path::{Path, PathBuf},
    time::Duration,
};

use serde::Deserialize;
use vrrpd::{
    config,
    fsm::{Action, Event, Instance, Params, State},
    sync::{self, Group},
};

#[derive(Deserialize)]
struct Scenario {
    directors: Vec<DirectorSpec>,
    duration: f64,
    events: Vec<Scripted>,
    checkpoints: Vec<BTreeMap<String, serde_yaml::Value>>,
}

#[derive(Deserialize)]
struct DirectorSpec {
    name: String,
    config: PathBuf,
    address: u8,
}

#[derive(Deserialize)]
struct Scripted {
    at: f64,
    director: String,
    #[serde(rename = "do")]
    action: String,
    interface: Option<String>,
}

/// What the kernel keeps for one instance (simulated).
#[derive(Default)]
struct Kernel {
    state: Option<State>,
    master_down_at: Option<Duration>,
    next_advert_at: Option<Duration>,
    advert_every: Duration,
    lower_seen_at: Option<Duration>,
    lower_event_at: Option<Duration>,
}

struct Director {
    name: String,
    address: u8,
    instances: Vec<Instance>,
    kernels: Vec<Kernel>,
    groups: Vec<Group>,
    interfaces: Vec<String>,
    vrids: Vec<u8>,
    vips: Vec<Vec<IpAddr>>,
    down: BTreeSet<String>,
    holding: BTreeSet<IpAddr>,
    garps: Vec<(Duration, String)>,
}

impl Director {
    fn new(spec: &DirectorSpec, root: &Path) -> Self {
        let config = config::load(&root.join(&spec.config), None)
            .unwrap_or_else(|e| panic!("{}", e.render()))
            .config;
        let n = config.instances.len();
        let groups = Group::from_config(&config);
        Self {
            name: spec.name.clone(),
            address: spec.address,
            instances: (0..n)
                .map(|i| Instance::new(Params::from_config(&config, i).unwrap()))
                .collect(),
            kernels: (0..n).map(|_| Kernel::default()).collect(),
            groups,
            interfaces: config
                .instances
                .iter()
                .map(|i| i.interface.clone())
                .collect(),
            vrids: config.instances.iter().map(|i| i.vrid.get()).collect(),
            vips: config
                .instances
                .iter()
                .map(|i| i.virtual_addresses.iter().map(|v| v.address).collect())
                .collect(),
            down: BTreeSet::new(),
            holding: BTreeSet::new(),
            garps: Vec::new(),
        }
    }

    fn link_up(&self, i: usize) -> bool {
        !self.down.contains(&self.interfaces[i])
    }
}

/// An advert on the wire: from director `from`, instance `index` (VRID and segment from it).
struct Advert {
    from: usize,
    index: usize,
    priority: u8,
}

struct Sim {
    directors: Vec<Director>,
    now: Duration,
    wire: Vec<Advert>,
    transcript: String,
}

impl Sim {
    fn log(&mut self, director: usize, line: &str) {
        let _ = writeln!(
            self.transcript,
            "{:6.2} {} {line}",
            self.now.as_secs_f64(),
            self.directors[director].name
        );
    }

    fn dispatch(&mut self, d: usize, index: usize, event: Event) {
        let now = self.now;
        let dir = &mut self.directors[d];
        let outcome = sync::dispatch(&mut dir.instances, &dir.groups, index, &event, now);
        for item in outcome.items {
            match item {
                sync::Item::Log(line) => self.log(d, &line),
                sync::Item::Step(i, actions) => {
                    for action in actions {
                        self.apply(d, i, action);
                    }
                }
            }
        }
    }

    fn apply(&mut self, d: usize, i: usize, action: Action) {
        let now = self.now;
        let name = self.directors[d].instances[i].params.name.clone();
        let dir = &mut self.directors[d];
        let k = &mut dir.kernels[i];
        match action {
            Action::KernelState(s) => k.state = Some(s),
            Action::ArmMasterDown(after) => k.master_down_at = Some(now + after),
            Action::CancelMasterDown => k.master_down_at = None,
            Action::StartAdverts(every) => {
                k.advert_every = every;
                k.next_advert_at = Some(now + every);
            }
            Action::StopAdverts => k.next_advert_at = None,
            Action::SendAdvert { priority } => {
                if dir.link_up(i) {
                    self.wire.push(Advert {
                        from: d,
                        index: i,
                        priority,
                    });
                }
            }
            Action::AddVips => dir.holding.extend(dir.vips[i].iter().copied()),
            Action::RemoveVips => {
                for v in &dir.vips[i] {
                    dir.holding.remove(v);
                }
            }
            Action::Gratuitous { repeat } => dir
                .garps
                .push((now, format!("({name}) {repeat} gratuitous ARPs per VIP"))),
            Action::GratuitousLater { after, repeat } => dir.garps.push((
                now + after,
                format!("({name}) {repeat} more gratuitous ARPs per VIP"),
            )),
            Action::Notify(state) => {
                let line = format!("({name}) Entering {state} STATE");
                self.log(d, &line);
            }
        }
    }

    /// The kernel's decision for a valid advert reaching director `d`'s instance `i`.
    fn receive(&mut self, d: usize, i: usize, priority: u8, source: u8) {
        let now = self.now;
        let inst = &self.directors[d].instances[i];
        let (mine, preempt, master_down, skew, interval) = (
            inst.params.priority,
            inst.params.preempt,
            inst.params.master_down(),
            inst.params.skew(),
            inst.params.interval(),
        );
        let own = self.directors[d].address;
        let k = &mut self.directors[d].kernels[i];
        match k.state {
            Some(State::Backup) => {
                if priority == 0 {
                    k.master_down_at = Some(now + skew);
                    self.dispatch(d, i, Event::PriorityZero);
                } else if priority >= mine || !preempt {
                    k.master_down_at = Some(now + master_down);
                } else {
                    k.lower_seen_at = Some(now);
                }
            }
            Some(State::Master) => {
                if priority == 0 {
                    self.dispatch(d, i, Event::PriorityZero);
                } else if priority > mine || (priority == mine && source > own) {
                    self.dispatch(d, i, Event::HigherPriority);
                } else if k
                    .lower_event_at
                    .is_none_or(|t| now.saturating_sub(t) >= interval)
                {
                    k.lower_event_at = Some(now);
                    self.dispatch(d, i, Event::LowerPriority);
                }
            }
            _ => {}
        }
    }

    fn deliver(&mut self) {
        while !self.wire.is_empty() {
            let Advert {
                from,
                index,
                priority,
            } = self.wire.remove(0);
            let (vrid, segment) = (
                self.directors[from].vrids[index],
                self.directors[from].interfaces[index].clone(),
            );
            let source = self.directors[from].address;
            for d in 0..self.directors.len() {
                if d == from {
                    continue;
                }
                let target = (0..self.directors[d].vrids.len()).find(|j| {
                    self.directors[d].vrids[*j] == vrid
                        && self.directors[d].interfaces[*j] == segment
                });
                if let Some(j) = target
                    && self.directors[d].link_up(j)
                {
                    self.receive(d, j, priority, source);
                }
            }
        }
    }

    fn tick(&mut self) {
        for d in 0..self.directors.len() {
            for i in 0..self.directors[d].instances.len() {
                let k = &self.directors[d].kernels[i];
                let lower_alive = k.lower_seen_at.is_some_and(|t| {
                    self.now.saturating_sub(t) < self.directors[d].instances[i].params.master_down()
                });
                if k.state == Some(State::Backup) && k.master_down_at.is_some_and(|t| t <= self.now)
                {
                    self.directors[d].kernels[i].master_down_at = None;
                    self.dispatch(
                        d,
                        i,
                        Event::MasterDown {
                            lower_master_alive: lower_alive,
                        },
                    );
                    self.deliver();
                }
                let k = &mut self.directors[d].kernels[i];
                if k.next_advert_at.is_some_and(|t| t <= self.now) {
                    k.next_advert_at = Some(self.now + k.advert_every);
                    self.dispatch(d, i, Event::AdvertDue);
                    self.deliver();
                }
            }
        }
    }

    fn scripted(&mut self, e: &Scripted) {
        let d = self
            .directors
            .iter()
            .position(|x| x.name == e.director)
            .unwrap();
        let n = self.directors[d].instances.len();
        match e.action.as_str() {
            "start" => (0..n).for_each(|i| self.dispatch(d, i, Event::Start)),
            "stop" => {
                self.log(d, "stops (priority 0 sent for its MASTER instances)");
                (0..n).for_each(|i| self.dispatch(d, i, Event::Stop));
            }
            "link_down" | "link_up" => {
                let name = e.interface.clone().unwrap();
                self.log(
                    d,
                    &format!(
                        "link {name} {}",
                        if e.action == "link_up" { "up" } else { "down" }
                    ),
                );
                if e.action == "link_down" {
                    // Adverts sent by the instances going to FAULT can no longer leave.
                    self.directors[d].down.insert(name.clone());
                }
                for i in 0..n {
                    if self.directors[d].interfaces[i] == name {
                        let event = if e.action == "link_up" {
                            Event::InterfaceUp(name.clone())
                        } else {
                            Event::InterfaceDown(name.clone())
                        };
                        self.dispatch(d, i, event);
                    }
                }
                if e.action == "link_up" {
                    self.directors[d].down.remove(&name);
                }
            }
            other => panic!("unknown scripted action {other}"),
        }
        self.deliver();
    }
}

fn run(name: &str) {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/scenarios");
    let scenario: Scenario =
        serde_yaml::from_str(&std::fs::read_to_string(dir.join(format!("{name}.yaml"))).unwrap())
            .unwrap();
    let mut sim = Sim {
        directors: scenario
            .directors
            .iter()
            .map(|s| Director::new(s, &root))
            .collect(),
        now: Duration::ZERO,
        wire: Vec::new(),
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
            sim.scripted(e);
        }
        sim.tick();
        if let Some(cp) = checkpoints.peek()
            && Duration::from_secs_f64(cp["at"].as_f64().unwrap()) <= sim.now
        {
            let _ = writeln!(
                sim.transcript,
                "{:6.2} -- checkpoint --",
                sim.now.as_secs_f64()
            );
            for director in &sim.directors {
                let holding: Vec<String> =
                    director.holding.iter().map(ToString::to_string).collect();
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
                    "{name}: {} at {:.2} s",
                    director.name,
                    sim.now.as_secs_f64()
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

#[test]
fn seed_case_study() {
    run("seed");
}
