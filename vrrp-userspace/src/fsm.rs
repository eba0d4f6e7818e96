//! The VRRP state machine of one instance (RFC 5798 §6.4 with keepalived's choices). Pure:
//! `step(instance, event, now) -> actions`, no I/O, no clock; the controller turns the
//! actions into map writes, adverts, addresses and notifications. Sync groups are in
//! `sync`, on top of this.
//!
//! Which adverts change anything is decided in the kernel (see `vrrp-ebpf`): the events
//! here are what it reports (a higher or lower priority seen as MASTER, priority 0, the
//! master-down timer) plus what the daemon itself observes (interfaces, start, stop) and
//! the instance's own timers: the advert interval and the gratuitous ARP bursts are
//! deadlines kept here ([`Instance::deadline`]); the controller reports [`Event::Timer`]
//! when one is due, so tests inject time instead of sleeping (STYLE 6).
use std::{collections::BTreeSet, fmt, time::Duration};

use serde::{Deserialize, Serialize};
use vrrp_common::maps::{master_down_ns, skew_ns};

/// An instance's state (RFC 5798 §6.4, keepalived's FAULT).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum State {
    Init,
    Backup,
    Master,
    Fault,
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Init => "INIT",
            Self::Backup => "BACKUP",
            Self::Master => "MASTER",
            Self::Fault => "FAULT",
        })
    }
}

impl State {
    /// The value the XDP program expects.
    pub fn kernel(self) -> vrrp_common::maps::KernelState {
        use vrrp_common::maps::KernelState;
        match self {
            Self::Init => KernelState::INIT,
            Self::Backup => KernelState::BACKUP,
            Self::Master => KernelState::MASTER,
            Self::Fault => KernelState::FAULT,
        }
    }

    /// The word keepalived's `notify` script gets: STOP for an instance that stopped.
    pub fn notify_word(self) -> &'static str {
        match self {
            Self::Init => "STOP",
            Self::Backup => "BACKUP",
            Self::Master => "MASTER",
            Self::Fault => "FAULT",
        }
    }
}

/// Why an instance changed state, as `vrrpd status` and the metrics report it: the event
/// that moved it, read by [`Reason::of`] (a sync group or a reload moving it is said by
/// the controller, which knows).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// The daemon started it (or added it on reload).
    Start,
    /// No advert within the master-down interval (RFC 5798 §6.4.2).
    MasterDown,
    /// The master left: its priority 0 advert cut the wait to the skew time (§6.4.2).
    PriorityZero,
    /// A preempting BACKUP took over from a master of lower priority (§6.4.2, `preempt`).
    Preempt,
    /// As MASTER, an advert of higher priority (or equal, from a higher address) (§6.4.3).
    HigherPriority,
    /// As MASTER, a lower priority heard (no change of state, but kept for completeness).
    LowerPriority,
    /// Its interface, or one it tracks without a weight, went down.
    InterfaceFault,
    /// The interface came back.
    InterfaceUp,
    /// A tracked script or file with weight 0 failed.
    TrackFault,
    /// A tracked script or file with weight 0 recovered.
    TrackRecovered,
    /// Its effective priority changed (tracking weights).
    Priority,
    /// One of its own timers.
    Timer,
    /// Its sync group moved it.
    Group,
    /// A configuration reload moved it.
    Reload,
    /// The daemon stopped it.
    Stop,
}

impl Reason {
    /// The reason `event` gives for a change of state of an instance of priority
    /// `priority`.
    pub fn of(event: &Event, priority: u8) -> Self {
        match event {
            Event::Start => Self::Start,
            Event::MasterDown {
                last_advert: Some(seen),
            } if seen.priority == 0 => Self::PriorityZero,
            Event::MasterDown {
                last_advert: Some(seen),
            } if seen.priority < priority && !seen.held => Self::Preempt,
            Event::MasterDown { .. } => Self::MasterDown,
            Event::HigherPriority(_) => Self::HigherPriority,
            Event::LowerPriority(_) => Self::LowerPriority,
            Event::PriorityZero => Self::PriorityZero,
            Event::Timer => Self::Timer,
            Event::InterfaceDown(_) => Self::InterfaceFault,
            Event::InterfaceUp(_) => Self::InterfaceUp,
            Event::Fault(FaultReason::Interface(_)) => Self::InterfaceFault,
            Event::Fault(FaultReason::SyncGroup) => Self::Group,
            Event::Fault(_) => Self::TrackFault,
            Event::Recover(FaultReason::Interface(_)) => Self::InterfaceUp,
            Event::Recover(FaultReason::SyncGroup) => Self::Group,
            Event::Recover(_) => Self::TrackRecovered,
            Event::Priority(_) => Self::Priority,
            Event::Stop => Self::Stop,
            Event::SyncMaster | Event::SyncBackup | Event::SyncFault | Event::SyncRecover => {
                Self::Group
            }
        }
    }

    /// Its name in `vrrpd status` and the metrics' `reason` label.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Start => "start",
            Self::MasterDown => "master_down",
            Self::PriorityZero => "priority_zero",
            Self::Preempt => "preempt",
            Self::HigherPriority => "higher_priority",
            Self::LowerPriority => "lower_priority",
            Self::InterfaceFault => "interface_fault",
            Self::InterfaceUp => "interface_up",
            Self::TrackFault => "track_fault",
            Self::TrackRecovered => "track_recovered",
            Self::Priority => "priority",
            Self::Timer => "timer",
            Self::Group => "group",
            Self::Reload => "reload",
            Self::Stop => "stop",
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the state machine needs from an instance's configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Params {
    pub name: String,
    pub priority: u8,
    /// VRRP version (2 or 3): the skew time depends on it.
    pub version: u8,
    /// Advert interval in centiseconds.
    pub interval_cs: u16,
    pub preempt: bool,
    pub preempt_delay: Duration,
    /// Start as MASTER (an address owner with `state MASTER`), else BACKUP.
    pub start_master: bool,
    /// `state MASTER` below 255 without AH: keepalived starts it as BACKUP but waits only
    /// one advert interval + the minimal skew for a master before taking over
    /// (`vrrp_init_state`).
    #[serde(default)]
    pub eager: bool,
    /// IPSEC-AH: on taking over, the sequence counter moves past adverts we may have missed.
    pub ah: bool,
    /// Gratuitous ARPs / unsolicited NAs per address in each burst after becoming MASTER.
    pub garp_repeat: u32,
    /// Delay of the second burst (none when zero).
    pub garp_delay: Duration,
    /// Period of refresh bursts while MASTER (none when zero), and their size.
    pub garp_refresh: Duration,
    pub garp_refresh_repeat: u32,
    /// As MASTER, on hearing a lower priority (after a split heals): a burst of this many
    /// per address at once (none when zero), and another after the delay (none when zero).
    /// keepalived's `garp_lower_prio_repeat` / `garp_lower_prio_delay`.
    pub garp_lower_repeat: u32,
    pub garp_lower_delay: Duration,
    /// Minimum gap between two gratuitous messages (`garp_interval`; zero: none). With a gap,
    /// each burst sends every address once, one message per gap: keepalived queues the
    /// repeats of an address under one pending flag, so they collapse the same way.
    pub garp_interval: Duration,
    /// How many virtual addresses the instance has (paced bursts count through them).
    pub addresses: u32,
}

impl Params {
    /// The parameters of instance `index` of `config`.
    pub fn from_config(config: &crate::config::Config, index: usize) -> Option<Self> {
        use crate::config::model::{AuthKind, InitialState, Version};
        let inst = config.instances.get(index)?;
        let garp = inst.garp.unwrap_or(config.global.garp);
        let ah = inst
            .authentication
            .as_ref()
            .is_some_and(|a| a.kind == AuthKind::Ah);
        Some(Self {
            name: inst.name.clone(),
            priority: inst.priority.get(),
            version: match inst.version {
                Version::V2 => 2,
                Version::V3 => 3,
            },
            interval_cs: u16::try_from(inst.advert_interval.centis()).unwrap_or(u16::MAX),
            preempt: inst.preempt,
            preempt_delay: inst.preempt_delay.as_duration(),
            start_master: inst.start_state() == InitialState::Master,
            // With AH keepalived clears `state MASTER` below 255 ("Initial state master is
            // incompatible with AH authentication"): it needs a sequence number first.
            eager: inst.state == InitialState::Master
                && inst.start_state() != InitialState::Master
                && !ah,
            ah,
            garp_repeat: garp.master_repeat,
            garp_delay: garp.master_delay.as_duration(),
            garp_refresh: garp.master_refresh.as_duration(),
            garp_refresh_repeat: garp.master_refresh_repeat,
            // keepalived: unset lower-priority values come from the global ones, which
            // default to the global master values (not the instance's overrides).
            garp_lower_repeat: garp
                .lower_prio_repeat
                .or(config.global.garp.lower_prio_repeat)
                .unwrap_or(config.global.garp.master_repeat),
            garp_lower_delay: garp
                .lower_prio_delay
                .or(config.global.garp.lower_prio_delay)
                .unwrap_or(config.global.garp.master_delay)
                .as_duration(),
            garp_interval: garp.interval.as_duration(),
            // Gratuitous messages go for the excluded addresses too, as in keepalived.
            addresses: u32::try_from(inst.all_addresses().count()).unwrap_or(u32::MAX),
        })
    }

    pub fn interval(&self) -> Duration {
        Duration::from_millis(u64::from(self.interval_cs) * 10)
    }

    /// 3 × interval + skew (RFC 5798 §6.1, keepalived's `VRRP_MS_DOWN_TIMER`).
    pub fn master_down(&self) -> Duration {
        Duration::from_nanos(master_down_ns(
            self.version,
            self.priority,
            self.interval_cs,
        ))
    }

    /// keepalived's `VRRP_TIMER_SKEW_MIN`: the skew of priority 255 (1/256 s for VRRPv2,
    /// interval/256 for VRRPv3).
    pub fn skew_min(&self) -> Duration {
        Duration::from_nanos(skew_ns(self.version, 255, self.interval_cs))
    }

    /// keepalived's `VRRP_TIMER_SKEW`: (256 − priority)/256 s for VRRPv2 whatever the
    /// interval, (256 − priority) × interval/256 for VRRPv3 (RFC 5798 §6.1).
    pub fn skew(&self) -> Duration {
        Duration::from_nanos(skew_ns(self.version, self.priority, self.interval_cs))
    }
}

/// The last valid advert the kernel saw for an instance, when a master-down timer expired.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeenAdvert {
    pub priority: u8,
    /// How long before the expiry it arrived.
    pub age: Duration,
    /// A `preempt_delay` hold was running in the kernel: it still accepts this lower
    /// master's adverts (see `vrrp_common::policy`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub held: bool,
}

/// An advert the kernel reported to a MASTER.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Heard {
    pub priority: u8,
    /// Sent from the instance's own address (another box, or a second daemon, using it).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub own_address: bool,
}

/// Something that happened to an instance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Event {
    /// The daemon starts the instance.
    Start,
    /// The master-down timer expired (reported only in BACKUP), with the last valid advert
    /// seen (none: no advert since start).
    MasterDown {
        last_advert: Option<SeenAdvert>,
    },
    /// As MASTER: an advert of higher priority (or equal, from a higher address).
    HigherPriority(Heard),
    /// As MASTER: an advert of lower priority (or equal, from a lower or our own address).
    LowerPriority(Heard),
    /// A master announced it is leaving (priority 0).
    PriorityZero,
    /// The instance's [`Instance::deadline`] has come (advert, gratuitous ARPs).
    Timer,
    /// The instance's interface, or one it tracks without a weight, went down / up.
    InterfaceDown(String),
    InterfaceUp(String),
    /// A tracked script or file with weight 0 failed / recovered (see `tracking`).
    Fault(FaultReason),
    Recover(FaultReason),
    /// The effective priority changed (tracking weights, clamped 1–254): adverts and the
    /// kernel carry it from now on.
    Priority(u8),
    /// The daemon stops.
    Stop,
    /// Sync group orders (see `sync`).
    SyncMaster,
    SyncBackup,
    SyncFault,
    SyncRecover,
}

/// What the controller must do, in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Action {
    /// Tell the XDP program the new state.
    KernelState(State),
    /// (Re)arm the master-down timer in the kernel.
    ArmMasterDown(Duration),
    CancelMasterDown,
    /// Send one advert now with this priority (0: leaving).
    SendAdvert {
        priority: u8,
    },
    /// Move the AH sequence counter this far ahead (see [`TAKEOVER_SEQUENCE_MARGIN`]).
    AdvanceSequence(u32),
    AddVips,
    RemoveVips,
    /// Gratuitous ARPs (IPv4) / unsolicited NAs (IPv6), `repeat` per address, now: for every
    /// address, or only for the address at this index (paced by `garp_interval`).
    Gratuitous {
        repeat: u32,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        address: Option<u32>,
    },
    /// The instance's priority changed (keepalived lowers an address owner that meets
    /// another one to 254): tell the XDP program.
    KernelPriority(u8),
    /// A line for the log that is not a state change.
    Log(Note),
    /// Log `(NAME) Entering STATE STATE` and run the notify hooks (INIT: stopped).
    Notify(State),
}

/// How far the AH sequence jumps when an instance becomes MASTER. The master it replaces
/// may have sent adverts we never received (up to three: master-down is 3 intervals +
/// skew), so our counter may lag its last sequence number; receivers would drop our first
/// adverts as replays ("sequence number N already processed"). Receivers only need it to
/// increase: move past that window.
pub const TAKEOVER_SEQUENCE_MARGIN: u32 = 4;

/// What [`Action::Log`] reports (the controller words it as keepalived does).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Note {
    /// As MASTER: a lower priority heard; we answer with an advert (and gratuitous ARPs).
    LowerPriority { priority: u8, ours: u8 },
    /// As MASTER: our own priority from our own address.
    EqualPriorityFromOurAddress,
    /// As an address owner (255): another owner heard; we step down to 254.
    AnotherAddressOwner,
}

/// Why an instance is in FAULT.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum FaultReason {
    Interface(String),
    /// A tracked script with weight 0 fails (`reverse`: succeeds).
    Script(String),
    /// A tracked file says FAULT.
    File(String),
    /// Another member of its sync group is in FAULT.
    SyncGroup,
}

/// One instance's state-machine state, its timers included.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instance {
    pub params: Params,
    pub state: State,
    pub faults: BTreeSet<FaultReason>,
    /// When its master-down timer last expired without a master since (sync groups: it
    /// wants MASTER).
    pub wants_master_since: Option<Duration>,
    /// When it last entered BACKUP, and the master-down wait it armed then (an expiry
    /// sooner than that is stale).
    backup_since: Option<Duration>,
    backup_wait: Duration,
    /// As MASTER: when the next advert is due.
    next_advert: Option<Duration>,
    /// As MASTER: gratuitous ARP bursts still to send.
    garps: Vec<Burst>,
}

/// A gratuitous ARP burst to send at `at`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Burst {
    at: Duration,
    /// Messages per address.
    repeat: u32,
    /// A periodic refresh schedules the next one when it starts.
    refresh: bool,
    /// Paced by `garp_interval`: the address this part of the burst is for.
    address: u32,
}

impl AsRef<Self> for Instance {
    fn as_ref(&self) -> &Self {
        self
    }
}

impl AsMut<Self> for Instance {
    fn as_mut(&mut self) -> &mut Self {
        self
    }
}

impl Instance {
    pub fn new(params: Params) -> Self {
        Self {
            params,
            state: State::Init,
            faults: BTreeSet::new(),
            wants_master_since: None,
            backup_since: None,
            backup_wait: Duration::ZERO,
            next_advert: None,
            garps: Vec::new(),
        }
    }

    /// Takes new parameters (a reload) without leaving its state: its timers run on. A
    /// MASTER whose next advert is further away than the new interval sends it one new
    /// interval from `now`, so a shorter interval never leaves a gap.
    pub fn reconfigure(&mut self, params: Params, now: Duration) {
        let interval = params.interval();
        self.params = params;
        if let Some(at) = self.next_advert
            && at > now + interval
        {
            self.next_advert = Some(now + interval);
        }
    }

    /// Whether its own master-down expired recently enough to still stand (a new
    /// expiry refreshes it; a returning master stops the expiries).
    pub fn wants_master(&self, now: Duration) -> bool {
        self.state == State::Master
            || self.wants_master_since.is_some_and(|since| {
                now.saturating_sub(since) <= self.params.master_down() + self.params.interval()
            })
    }

    /// Whether it is in FAULT for a reason of its own (not only its sync group's).
    pub fn own_fault(&self) -> bool {
        self.faults.iter().any(|f| *f != FaultReason::SyncGroup)
    }

    /// When [`Event::Timer`] is next due (none: no timer runs).
    pub fn deadline(&self) -> Option<Duration> {
        self.next_advert
            .into_iter()
            .chain(self.garps.iter().map(|b| b.at))
            .min()
    }

    /// The master-down decision (keepalived's `vrrp_state_backup` and RFC 5798 §6.4.2):
    /// whether an expiry means "no usable master", what a hold still asks to wait.
    pub fn master_down(&self, last: Option<SeenAdvert>, now: Duration) -> Down {
        let p = &self.params;
        let Some(last) = last.filter(|l| l.priority != 0 && l.age < p.master_down()) else {
            // No master heard: stale only if the timer cannot have run out yet (an expiry
            // queued before the instance last entered BACKUP, or a resynchronisation).
            let waited = self.backup_since.map(|t| now.saturating_sub(t));
            if last.is_none() && waited.is_some_and(|w| w < self.backup_wait) {
                return Down::Stale;
            }
            return Down::TakeOver;
        };
        // A master the kernel still accepts (not lower, we may not preempt, or a
        // preempt_delay hold runs) refreshed the timer after this expiry was queued: stale.
        if last.priority >= p.priority || !p.preempt || last.held {
            return Down::Stale;
        }
        // A live lower-priority master whose adverts the kernel no longer accepts.
        Down::TakeOver
    }
}

/// What an expired master-down timer means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Down {
    /// No usable master: take over.
    TakeOver,
    /// A valid master advert arrived after the expiry was queued: ignore it.
    Stale,
}

/// After kernel events were lost: the event that brings `inst` back in line with the last
/// valid advert the kernel saw. A BACKUP gets a master-down check (discarded as stale while
/// a valid master is alive); a MASTER whose kernel saw a higher priority recently yields.
pub fn resync_event(inst: &Instance, last: Option<SeenAdvert>) -> Option<Event> {
    match inst.state {
        State::Backup => Some(Event::MasterDown { last_advert: last }),
        State::Master => last
            .filter(|l| l.priority > inst.params.priority && l.age < inst.params.master_down())
            .map(|l| {
                Event::HigherPriority(Heard {
                    priority: l.priority,
                    own_address: false,
                })
            }),
        _ => None,
    }
}

/// Applies `event` at `now`; returns what the controller must do.
pub fn step(inst: &mut Instance, event: &Event, now: Duration) -> Vec<Action> {
    let mut out = Vec::new();
    let state = inst.state;
    match (state, event) {
        (_, Event::Stop) => {
            if state == State::Master {
                leave_master(inst, &mut out, true);
            }
            out.push(Action::CancelMasterDown);
            out.push(Action::KernelState(State::Init));
            inst.state = State::Init;
            inst.wants_master_since = None;
            if state != State::Init {
                out.push(Action::Notify(State::Init));
            }
        }
        (State::Init, Event::Start) => {
            if inst.faults.is_empty() {
                up(inst, &mut out, now);
                if inst.state == State::Backup && inst.params.eager {
                    let wait = inst.params.interval() + inst.params.skew_min();
                    inst.backup_wait = wait;
                    for action in &mut out {
                        if let Action::ArmMasterDown(after) = action {
                            *after = wait;
                        }
                    }
                }
            } else {
                enter_fault(inst, &mut out);
            }
        }
        (_, Event::InterfaceDown(name)) => {
            inst.faults.insert(FaultReason::Interface(name.clone()));
            if state != State::Fault && state != State::Init {
                enter_fault(inst, &mut out);
            }
        }
        (_, Event::InterfaceUp(name)) => {
            inst.faults.remove(&FaultReason::Interface(name.clone()));
            if state == State::Fault && inst.faults.is_empty() {
                up(inst, &mut out, now);
            }
        }
        (_, Event::Fault(reason)) => {
            inst.faults.insert(reason.clone());
            if state != State::Fault && state != State::Init {
                enter_fault(inst, &mut out);
            }
        }
        (_, Event::Recover(reason)) => {
            inst.faults.remove(reason);
            if state == State::Fault && inst.faults.is_empty() {
                up(inst, &mut out, now);
            }
        }
        // keepalived's vrrp_set_effective_priority: the next advert carries it, the
        // kernel judges adverts against it (as BACKUP: whether to preempt).
        (_, Event::Priority(priority)) if inst.params.priority != *priority => {
            inst.params.priority = *priority;
            out.push(Action::KernelPriority(*priority));
        }
        (_, Event::SyncFault) => {
            // Honoured in INIT too: the instance starts in FAULT.
            inst.faults.insert(FaultReason::SyncGroup);
            if state == State::Backup || state == State::Master {
                enter_fault(inst, &mut out);
            }
        }
        (_, Event::SyncRecover) => {
            inst.faults.remove(&FaultReason::SyncGroup);
            if state == State::Fault && inst.faults.is_empty() {
                up(inst, &mut out, now);
            }
        }
        (State::Backup, Event::MasterDown { last_advert }) => {
            match inst.master_down(*last_advert, now) {
                Down::TakeOver => {
                    inst.wants_master_since = Some(now);
                    enter_master(inst, &mut out, now);
                }
                Down::Stale => {}
            }
        }
        (State::Backup, Event::SyncMaster) => enter_master(inst, &mut out, now),
        (State::Master, Event::HigherPriority(heard) | Event::LowerPriority(heard))
            if heard.priority == OWNER && inst.params.priority == OWNER && !heard.own_address =>
        {
            // keepalived: two address owners is a configuration error; the one that hears
            // the other first steps down to 254 (until a reload) and yields.
            out.push(Action::Log(Note::AnotherAddressOwner));
            inst.params.priority = OWNER - 1;
            out.push(Action::KernelPriority(inst.params.priority));
            leave_master(inst, &mut out, false);
            enter_backup(inst, &mut out, now);
        }
        (State::Master, Event::HigherPriority(_) | Event::SyncBackup) => {
            // Yielding sends no priority 0 (keepalived): the new master is already there.
            leave_master(inst, &mut out, false);
            enter_backup(inst, &mut out, now);
        }
        (State::Master, Event::LowerPriority(heard))
            if heard.own_address && heard.priority == inst.params.priority =>
        {
            // keepalived warns and changes nothing (its own adverts never loop back, so
            // this is another box using our address).
            out.push(Action::Log(Note::EqualPriorityFromOurAddress));
            answered(inst, now);
        }
        (State::Master, Event::LowerPriority(heard)) => {
            // keepalived's vrrp_state_master_rx: force a new election with an advert, and
            // refresh the neighbours' caches (the case after a split heals).
            let p = &inst.params;
            out.push(Action::Log(Note::LowerPriority {
                priority: heard.priority,
                ours: p.priority,
            }));
            out.push(Action::SendAdvert {
                priority: p.priority,
            });
            if p.garp_lower_repeat > 0 {
                let (repeat, delay) = (p.garp_lower_repeat, p.garp_lower_delay);
                send_burst(inst, &mut out, now, repeat, 0);
                if !delay.is_zero() {
                    schedule(inst, now + delay, repeat, false);
                }
            }
            answered(inst, now);
        }
        (State::Master, Event::PriorityZero) => {
            out.push(Action::SendAdvert {
                priority: inst.params.priority,
            });
            answered(inst, now);
        }
        (State::Master, Event::Timer) => timers_due(inst, &mut out, now),
        // Everything else changes nothing: a BACKUP told of priority 0 already had its
        // timer shortened by the kernel; stale timers and orders are ignored.
        _ => {}
    }
    out
}

/// The priority of an address owner (RFC 5798 §5.2.4).
pub const OWNER: u8 = 255;

/// As MASTER, after answering an advert: keepalived restarts its advert timer from the
/// answer, so the next periodic advert is an interval after it.
fn answered(inst: &mut Instance, now: Duration) {
    inst.next_advert = Some(now + inst.params.interval());
}

/// Queues a gratuitous ARP burst for `at`.
fn schedule(inst: &mut Instance, at: Duration, repeat: u32, refresh: bool) {
    inst.garps.push(Burst {
        at,
        repeat,
        refresh,
        address: 0,
    });
}

/// As MASTER: the advert and the gratuitous ARP bursts whose time has come.
fn timers_due(inst: &mut Instance, out: &mut Vec<Action>, now: Duration) {
    if let Some(at) = inst.next_advert
        && at <= now
    {
        out.push(Action::SendAdvert {
            priority: inst.params.priority,
        });
        // The next one an interval after this one was due; after a stall, from now.
        let next = at + inst.params.interval();
        inst.next_advert = Some(if next > now {
            next
        } else {
            now + inst.params.interval()
        });
    }
    let (due, later): (Vec<Burst>, Vec<Burst>) = inst.garps.iter().partition(|b| b.at <= now);
    inst.garps = later;
    let period = inst.params.garp_refresh;
    for burst in due {
        if burst.refresh {
            schedule(inst, now + period, burst.repeat, true);
        }
        send_burst(inst, out, now, burst.repeat, burst.address);
    }
}

/// Sends a gratuitous ARP burst from address `from` on: all of it now, or, paced by
/// `garp_interval`, that address now and the rest one gap apart.
fn send_burst(inst: &mut Instance, out: &mut Vec<Action>, now: Duration, repeat: u32, from: u32) {
    let (gap, addresses) = (inst.params.garp_interval, inst.params.addresses);
    if gap.is_zero() {
        out.push(Action::Gratuitous {
            repeat,
            address: None,
        });
        return;
    }
    if from < addresses {
        out.push(Action::Gratuitous {
            repeat: 1,
            address: Some(from),
        });
    }
    if from + 1 < addresses {
        inst.garps.push(Burst {
            at: now + gap,
            repeat,
            refresh: false,
            address: from + 1,
        });
    }
}

/// Leaving FAULT or INIT: keepalived's `try_up_instance`.
fn up(inst: &mut Instance, out: &mut Vec<Action>, now: Duration) {
    if inst.params.start_master {
        enter_master(inst, out, now);
    } else {
        enter_backup(inst, out, now);
    }
}

fn enter_master(inst: &mut Instance, out: &mut Vec<Action>, now: Duration) {
    inst.state = State::Master;
    let p = &inst.params;
    out.push(Action::KernelState(State::Master));
    if p.ah {
        out.push(Action::AdvanceSequence(TAKEOVER_SEQUENCE_MARGIN));
    }
    out.push(Action::CancelMasterDown);
    out.push(Action::SendAdvert {
        priority: p.priority,
    });
    inst.next_advert = Some(now + p.interval());
    out.push(Action::AddVips);
    let (repeat, delay, refresh) = (p.garp_repeat, p.garp_delay, p.garp_refresh);
    let refresh_repeat = p.garp_refresh_repeat;
    inst.garps.clear();
    send_burst(inst, out, now, repeat, 0);
    if !delay.is_zero() {
        schedule(inst, now + delay, repeat, false);
    }
    if !refresh.is_zero() {
        schedule(inst, now + refresh, refresh_repeat, true);
    }
    out.push(Action::Notify(State::Master));
}

fn enter_backup(inst: &mut Instance, out: &mut Vec<Action>, now: Duration) {
    inst.state = State::Backup;
    inst.wants_master_since = None;
    inst.backup_since = Some(now);
    inst.backup_wait = inst.params.master_down();
    out.push(Action::KernelState(State::Backup));
    out.push(Action::ArmMasterDown(inst.params.master_down()));
    out.push(Action::Notify(State::Backup));
}

fn enter_fault(inst: &mut Instance, out: &mut Vec<Action>) {
    if inst.state == State::Master {
        // A MASTER going to FAULT tells the backups at once (priority 0).
        leave_master(inst, out, true);
    }
    inst.state = State::Fault;
    inst.wants_master_since = None;
    out.push(Action::CancelMasterDown);
    out.push(Action::KernelState(State::Fault));
    out.push(Action::Notify(State::Fault));
}

/// Stops being MASTER, announcing it with a priority-0 advert when `announce` (shutdown,
/// FAULT), so that a backup takes over after its skew time instead of a full
/// master-down interval.
fn leave_master(inst: &mut Instance, out: &mut Vec<Action>, announce: bool) {
    inst.next_advert = None;
    inst.garps.clear();
    if announce {
        out.push(Action::SendAdvert { priority: 0 });
    }
    out.push(Action::RemoveVips);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_master_down_after_priority_zero_or_a_lower_master_says_so() {
        let seen = |priority| Event::MasterDown {
            last_advert: Some(SeenAdvert {
                priority,
                age: Duration::ZERO,
                held: false,
            }),
        };
        assert_eq!(Reason::of(&seen(0), 100), Reason::PriorityZero);
        assert_eq!(Reason::of(&seen(50), 100), Reason::Preempt);
        assert_eq!(Reason::of(&seen(150), 100), Reason::MasterDown);
        let none = Event::MasterDown { last_advert: None };
        assert_eq!(Reason::of(&none, 100), Reason::MasterDown);
        assert_eq!(
            Reason::of(&Event::InterfaceDown("eth0".into()), 100).to_string(),
            "interface_fault"
        );
        assert_eq!(Reason::of(&Event::SyncBackup, 100), Reason::Group);
    }

    fn params(priority: u8, start_master: bool) -> Params {
        Params {
            name: "VI_1".into(),
            priority,
            version: 2,
            interval_cs: 100,
            preempt: true,
            preempt_delay: Duration::ZERO,
            start_master,
            eager: false,
            ah: false,
            garp_repeat: 5,
            garp_delay: Duration::from_secs(5),
            garp_refresh: Duration::ZERO,
            garp_refresh_repeat: 1,
            garp_lower_repeat: 5,
            garp_lower_delay: Duration::from_secs(5),
            garp_interval: Duration::ZERO,
            addresses: 2,
        }
    }

    fn heard(priority: u8) -> Heard {
        Heard {
            priority,
            own_address: false,
        }
    }

    fn all(repeat: u32) -> Action {
        Action::Gratuitous {
            repeat,
            address: None,
        }
    }

    fn lower_master(priority: u8) -> Event {
        Event::MasterDown {
            last_advert: Some(SeenAdvert {
                priority,
                age: Duration::from_millis(500),
                held: false,
            }),
        }
    }

    const T0: Duration = Duration::ZERO;
    /// Past any master-down interval of these tests.
    const LATER: Duration = Duration::from_secs(4);

    fn master(priority: u8) -> Instance {
        let mut i = Instance::new(params(priority, false));
        step(&mut i, &Event::Start, T0);
        step(&mut i, &Event::MasterDown { last_advert: None }, LATER);
        assert_eq!(i.state, State::Master);
        i
    }

    #[test]
    fn an_instance_starts_as_backup_with_the_master_down_timer() {
        let mut i = Instance::new(params(150, false));
        let actions = step(&mut i, &Event::Start, T0);
        assert_eq!(i.state, State::Backup);
        // 3 s + (256 - 150) / 256 s.
        assert!(actions.contains(&Action::ArmMasterDown(Duration::from_nanos(3_414_062_500))));
        assert!(actions.contains(&Action::Notify(State::Backup)));
    }

    #[test]
    fn an_owner_starts_as_master_with_adverts_vips_and_two_garp_bursts() {
        let mut i = Instance::new(params(255, true));
        let actions = step(&mut i, &Event::Start, T0);
        assert_eq!(i.state, State::Master);
        assert_eq!(
            actions,
            vec![
                Action::KernelState(State::Master),
                Action::CancelMasterDown,
                Action::SendAdvert { priority: 255 },
                Action::AddVips,
                all(5),
                Action::Notify(State::Master),
            ]
        );
        // Then an advert every interval, and the second burst after garp_master_delay.
        assert_eq!(i.deadline(), Some(Duration::from_secs(1)));
        let at = |s: u64| Duration::from_secs(s);
        assert_eq!(
            step(&mut i, &Event::Timer, at(1)),
            vec![Action::SendAdvert { priority: 255 }]
        );
        for s in 2..5 {
            step(&mut i, &Event::Timer, at(s));
        }
        assert_eq!(
            step(&mut i, &Event::Timer, at(5)),
            vec![Action::SendAdvert { priority: 255 }, all(5)]
        );
        assert_eq!(i.deadline(), Some(at(6)));
    }

    #[test]
    fn an_ah_master_moves_its_sequence_past_adverts_it_may_have_missed() {
        let mut p = params(150, false);
        p.ah = true;
        let mut i = Instance::new(p);
        step(&mut i, &Event::Start, T0);
        // An expiry before the master-down interval ran is stale.
        assert!(step(&mut i, &Event::MasterDown { last_advert: None }, T0).is_empty());
        let actions = step(&mut i, &Event::MasterDown { last_advert: None }, LATER);
        assert!(actions.contains(&Action::AdvanceSequence(TAKEOVER_SEQUENCE_MARGIN)));
    }

    #[test]
    fn vrrpv2_skew_ignores_the_interval_and_vrrpv3_scales_by_it() {
        // keepalived's VRRP_TIMER_SKEW: v2 (256 - p)/256 s, v3 (256 - p) * interval/256.
        let mut p = params(100, false);
        p.interval_cs = 300;
        assert_eq!(p.skew(), Duration::from_nanos(609_375_000));
        assert_eq!(p.master_down(), Duration::from_nanos(9_609_375_000));
        p.version = 3;
        assert_eq!(p.skew(), Duration::from_nanos(1_828_125_000));
    }

    #[test]
    fn a_master_down_that_raced_with_a_valid_advert_is_discarded() {
        let mut i = Instance::new(params(100, false));
        step(&mut i, &Event::Start, T0);
        // The master (150) advertised after the timer expired: the kernel re-armed it.
        assert!(step(&mut i, &lower_master(150), T0).is_empty());
        assert_eq!(i.state, State::Backup);
        // A master gone silent for longer than master-down is no master.
        let silent = Event::MasterDown {
            last_advert: Some(SeenAdvert {
                priority: 150,
                age: Duration::from_secs(5),
                held: false,
            }),
        };
        step(&mut i, &silent, T0);
        assert_eq!(i.state, State::Master);
    }

    #[test]
    fn a_resync_checks_backups_and_yields_masters_that_missed_a_higher_priority() {
        let seen = |priority, ms| {
            Some(SeenAdvert {
                priority,
                age: Duration::from_millis(ms),
                held: false,
            })
        };
        let mut backup = Instance::new(params(100, false));
        step(&mut backup, &Event::Start, T0);
        assert_eq!(
            resync_event(&backup, seen(150, 500)),
            Some(Event::MasterDown {
                last_advert: seen(150, 500)
            })
        );
        let master = master(150);
        assert_eq!(
            resync_event(&master, seen(200, 500)),
            Some(Event::HigherPriority(heard(200)))
        );
        assert_eq!(resync_event(&master, seen(100, 500)), None);
        assert_eq!(resync_event(&master, seen(200, 5000)), None);
    }

    #[test]
    fn stop_notifies_stop_once() {
        let mut i = master(150);
        let actions = step(&mut i, &Event::Stop, T0);
        assert_eq!(actions.last(), Some(&Action::Notify(State::Init)));
        assert_eq!(State::Init.notify_word(), "STOP");
        assert!(!step(&mut i, &Event::Stop, T0).contains(&Action::Notify(State::Init)));
    }

    #[test]
    fn a_master_answers_priority_zero_with_an_advert() {
        let mut i = master(150);
        assert_eq!(
            step(&mut i, &Event::PriorityZero, LATER),
            vec![Action::SendAdvert { priority: 150 }]
        );
        assert_eq!(i.state, State::Master);
        // keepalived restarts its advert timer from the answer.
        assert_eq!(i.deadline(), Some(LATER + Duration::from_secs(1)));
    }

    #[test]
    fn a_master_hearing_a_lower_priority_forces_an_election_and_refreshes_caches() {
        // After a split heals: advert, garp_lower_prio_repeat at once and again after
        // garp_lower_prio_delay (keepalived's vrrp_state_master_rx).
        let mut i = master(150);
        let at = Duration::from_secs(20);
        assert_eq!(
            step(&mut i, &Event::LowerPriority(heard(100)), at),
            vec![
                Action::Log(Note::LowerPriority {
                    priority: 100,
                    ours: 150
                }),
                Action::SendAdvert { priority: 150 },
                all(5),
            ]
        );
        assert!(step(&mut i, &Event::Timer, at + Duration::from_secs(5)).contains(&all(5)));
        assert_eq!(i.state, State::Master);
    }

    #[test]
    fn our_own_address_at_our_priority_is_only_a_warning() {
        let mut i = master(150);
        let ours = Heard {
            priority: 150,
            own_address: true,
        };
        assert_eq!(
            step(&mut i, &Event::LowerPriority(ours), LATER),
            vec![Action::Log(Note::EqualPriorityFromOurAddress)]
        );
        assert_eq!(i.state, State::Master);
    }

    #[test]
    fn an_address_owner_meeting_another_steps_down_to_254() {
        for event in [
            Event::LowerPriority(heard(255)),
            Event::HigherPriority(heard(255)),
        ] {
            let mut i = Instance::new(params(255, true));
            step(&mut i, &Event::Start, T0);
            let actions = step(&mut i, &event, LATER);
            assert_eq!(actions[0], Action::Log(Note::AnotherAddressOwner));
            assert!(actions.contains(&Action::KernelPriority(254)));
            assert!(actions.contains(&Action::RemoveVips));
            assert_eq!((i.state, i.params.priority), (State::Backup, 254));
        }
    }

    #[test]
    fn garp_interval_paces_a_burst_one_address_per_gap() {
        let mut p = params(255, true);
        p.garp_interval = Duration::from_millis(100);
        p.garp_delay = Duration::ZERO;
        let mut i = Instance::new(p);
        let one = |a| Action::Gratuitous {
            repeat: 1,
            address: Some(a),
        };
        assert!(step(&mut i, &Event::Start, T0).contains(&one(0)));
        let gap = Duration::from_millis(100);
        assert_eq!(i.deadline(), Some(gap));
        assert_eq!(step(&mut i, &Event::Timer, gap), vec![one(1)]);
        // Two addresses: the burst is over; next is the advert.
        assert_eq!(i.deadline(), Some(Duration::from_secs(1)));
    }

    #[test]
    fn yielding_sends_no_priority_zero_but_fault_and_stop_do() {
        let mut yielding = master(100);
        let actions = step(&mut yielding, &Event::HigherPriority(heard(200)), T0);
        assert_eq!(yielding.state, State::Backup);
        assert!(!actions.contains(&Action::SendAdvert { priority: 0 }));
        assert!(actions.contains(&Action::RemoveVips));

        let mut faulty = master(100);
        let actions = step(&mut faulty, &Event::InterfaceDown("eth0".into()), T0);
        assert_eq!(faulty.state, State::Fault);
        assert!(actions.contains(&Action::SendAdvert { priority: 0 }));
        assert!(actions.contains(&Action::RemoveVips));
        // Back up when the interface returns: BACKUP first, as at start.
        step(&mut faulty, &Event::InterfaceUp("eth0".into()), T0);
        assert_eq!(faulty.state, State::Backup);

        let mut stopping = master(100);
        let actions = step(&mut stopping, &Event::Stop, T0);
        assert_eq!(stopping.state, State::Init);
        assert!(actions.contains(&Action::SendAdvert { priority: 0 }));
        assert!(actions.contains(&Action::RemoveVips));
    }

    #[test]
    fn a_backup_ignores_priority_zero_the_kernel_already_shortened_its_timer() {
        let mut i = Instance::new(params(100, false));
        step(&mut i, &Event::Start, T0);
        assert!(step(&mut i, &Event::PriorityZero, T0).is_empty());
    }

    #[test]
    fn a_live_lower_master_is_kept_while_the_kernel_holds_preemption() {
        // The hold itself runs in the kernel (vrrp_common::policy); an expiry reported
        // while it runs (a resynchronisation) is stale.
        let mut i = Instance::new(params(150, false));
        step(&mut i, &Event::Start, T0);
        let held = Event::MasterDown {
            last_advert: Some(SeenAdvert {
                priority: 100,
                age: Duration::from_millis(500),
                held: true,
            }),
        };
        assert!(step(&mut i, &held, LATER).is_empty());
        assert_eq!(i.state, State::Backup);
        // Once the hold has run out the kernel ignores the lower master: take over.
        step(&mut i, &lower_master(100), LATER);
        assert_eq!(i.state, State::Master);
    }

    #[test]
    fn state_master_below_255_waits_one_interval_for_a_master_at_start() {
        let mut p = params(150, false);
        p.eager = true;
        let mut i = Instance::new(p);
        let wait = Duration::from_secs(1) + Duration::from_nanos(3_906_250);
        assert!(step(&mut i, &Event::Start, T0).contains(&Action::ArmMasterDown(wait)));
        assert_eq!(i.state, State::Backup);
        step(&mut i, &Event::MasterDown { last_advert: None }, wait);
        assert_eq!(i.state, State::Master);
        // Later entries into BACKUP wait the full master-down interval.
        let actions = step(&mut i, &Event::HigherPriority(heard(200)), LATER);
        assert!(actions.contains(&Action::ArmMasterDown(i.params.master_down())));
    }

    #[test]
    fn lower_priority_garps_default_to_the_global_master_values_not_the_instances() {
        let params = |instance_lines: &str| {
            let text = format!(
                "global_defs {{\n vrrp_garp_master_repeat 3\n vrrp_garp_master_delay 7\n}}\n\
                 vrrp_instance VI_1 {{\n interface eth0\n virtual_router_id 1\n\
                 priority 100\n {instance_lines}\n virtual_ipaddress {{\n 10.0.0.1\n }}\n}}\n"
            );
            let mut sources = crate::config::diag::Sources::default();
            let mut diagnostics = Vec::new();
            let (config, _) = crate::config::keepalived::parse_str(
                std::path::Path::new("t.conf"),
                &text,
                &mut sources,
                &mut diagnostics,
            )
            .expect("parses");
            Params::from_config(&config, 0).expect("one instance")
        };
        let p = params("garp_master_repeat 9");
        assert_eq!((p.garp_repeat, p.garp_lower_repeat), (9, 3));
        assert_eq!(p.garp_lower_delay, Duration::from_secs(7));
        let p = params("garp_lower_prio_repeat 2\n garp_lower_prio_delay 0");
        assert_eq!(
            (p.garp_lower_repeat, p.garp_lower_delay),
            (2, Duration::ZERO)
        );
    }

    #[test]
    fn an_interface_down_at_start_means_fault() {
        let mut i = Instance::new(params(100, false));
        step(&mut i, &Event::InterfaceDown("eth0".into()), T0);
        step(&mut i, &Event::Start, T0);
        assert_eq!(i.state, State::Fault);
    }
}
