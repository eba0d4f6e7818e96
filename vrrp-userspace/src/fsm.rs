//! The VRRP state machine of one instance (RFC 5798 §6.4 with keepalived's choices). Pure:
//! `step(instance, event, now) -> actions`, no I/O, no clock; the runtime turns the
//! actions into map writes, adverts, addresses and notifications. Sync groups are in
//! `sync`, on top of this.
//!
//! Which adverts change anything is decided in the kernel (see `vrrp-ebpf`): the events
//! here are what it reports (a higher or lower priority seen as MASTER, priority 0, the
//! master-down timer) plus what the daemon itself observes (interfaces, start, stop).
use std::{collections::BTreeSet, fmt, time::Duration};

use vrrp_common::maps::{master_down_ns, skew_ns};

/// An instance's state (RFC 5798 §6.4, keepalived's FAULT).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
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
    /// The value the XDP program expects (`vrrp_common::maps::state`).
    pub fn kernel(self) -> u8 {
        use vrrp_common::maps::state;
        match self {
            Self::Init => state::INIT,
            Self::Backup => state::BACKUP,
            Self::Master => state::MASTER,
            Self::Fault => state::FAULT,
        }
    }
}

/// What the state machine needs from an instance's configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Params {
    pub name: String,
    pub priority: u8,
    /// Advert interval in centiseconds.
    pub interval_cs: u16,
    pub preempt: bool,
    pub preempt_delay: Duration,
    /// Start as MASTER (an address owner with `state MASTER`), else BACKUP.
    pub start_master: bool,
    /// Gratuitous ARPs / unsolicited NAs per address in each burst.
    pub garp_repeat: u32,
    /// Delay of the second burst (none when zero).
    pub garp_delay: Duration,
}

impl Params {
    /// The parameters of instance `index` of `config`.
    pub fn from_config(config: &crate::config::Config, index: usize) -> Option<Self> {
        let inst = config.instances.get(index)?;
        let garp = inst.garp.unwrap_or(config.global.garp);
        Some(Self {
            name: inst.name.clone(),
            priority: inst.priority.get(),
            interval_cs: u16::try_from(inst.advert_interval.centis()).unwrap_or(u16::MAX),
            preempt: inst.preempt,
            preempt_delay: inst.preempt_delay.as_duration(),
            start_master: inst.start_state() == crate::config::model::InitialState::Master,
            garp_repeat: garp.master_repeat,
            garp_delay: garp.master_delay.as_duration(),
        })
    }

    pub fn interval(&self) -> Duration {
        Duration::from_millis(u64::from(self.interval_cs) * 10)
    }

    /// 3 × interval + skew (RFC 5798 §6.1); keepalived's owner starting as MASTER uses
    /// 1 × interval + skew, but it never waits on it.
    pub fn master_down(&self) -> Duration {
        Duration::from_nanos(master_down_ns(self.priority, self.interval_cs))
    }

    pub fn skew(&self) -> Duration {
        Duration::from_nanos(skew_ns(self.priority, self.interval_cs))
    }
}

/// Something that happened to an instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The daemon starts the instance.
    Start,
    /// The master-down timer expired (reported only in BACKUP). `lower_master_alive`: a
    /// lower-priority master is still advertising (we are about to preempt it).
    MasterDown {
        lower_master_alive: bool,
    },
    /// As MASTER: an advert of higher priority (or equal, from a higher address).
    HigherPriority,
    /// As MASTER: an advert of lower priority.
    LowerPriority,
    /// A master announced it is leaving (priority 0).
    PriorityZero,
    /// Our advert timer, as MASTER.
    AdvertDue,
    /// The instance's interface, or one it tracks without a weight, went down / up.
    InterfaceDown(String),
    InterfaceUp(String),
    /// The daemon stops.
    Stop,
    /// Sync group orders (see `sync`).
    SyncMaster,
    SyncBackup,
    SyncFault,
    SyncRecover,
}

/// What the runtime must do, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
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
    /// Advertise every interval from now on / stop.
    StartAdverts(Duration),
    StopAdverts,
    AddVips,
    RemoveVips,
    /// Gratuitous ARPs (IPv4) / unsolicited NAs (IPv6) for every address, now / later.
    Gratuitous {
        repeat: u32,
    },
    GratuitousLater {
        after: Duration,
        repeat: u32,
    },
    /// Log `(NAME) Entering STATE STATE` and run the notify hooks.
    Notify(State),
}

/// Why an instance is in FAULT.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum FaultReason {
    Interface(String),
    /// Another member of its sync group is in FAULT.
    SyncGroup,
}

/// One instance's state-machine state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instance {
    pub params: Params,
    pub state: State,
    pub faults: BTreeSet<FaultReason>,
    started_at: Option<Duration>,
    /// When its master-down timer last expired without a master since (sync groups: it
    /// wants MASTER).
    pub wants_master_since: Option<Duration>,
}

impl Instance {
    pub fn new(params: Params) -> Self {
        Self {
            params,
            state: State::Init,
            faults: BTreeSet::new(),
            started_at: None,
            wants_master_since: None,
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
}

/// Applies `event` at `now`; returns what the runtime must do.
pub fn step(inst: &mut Instance, event: &Event, now: Duration) -> Vec<Action> {
    let mut out = Vec::new();
    let state = inst.state;
    match (state, event) {
        (_, Event::Stop) => {
            if state == State::Master {
                leave_master(&mut out, true);
            }
            out.push(Action::CancelMasterDown);
            out.push(Action::KernelState(State::Init));
            inst.state = State::Init;
            inst.wants_master_since = None;
        }
        (State::Init, Event::Start) => {
            inst.started_at = Some(now);
            if inst.faults.is_empty() {
                up(inst, &mut out);
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
                up(inst, &mut out);
            }
        }
        (State::Fault | State::Backup | State::Master, Event::SyncFault) => {
            inst.faults.insert(FaultReason::SyncGroup);
            if state != State::Fault {
                enter_fault(inst, &mut out);
            }
        }
        (_, Event::SyncRecover) => {
            inst.faults.remove(&FaultReason::SyncGroup);
            if state == State::Fault && inst.faults.is_empty() {
                up(inst, &mut out);
            }
        }
        (State::Backup, Event::MasterDown { lower_master_alive }) => {
            if let Some(left) = preempt_hold(inst, *lower_master_alive, now) {
                // keepalived's preempt_delay: do not preempt a live master yet.
                out.push(Action::ArmMasterDown(left));
            } else {
                inst.wants_master_since = Some(now);
                enter_master(inst, &mut out);
            }
        }
        (State::Backup, Event::SyncMaster) => enter_master(inst, &mut out),
        (State::Master, Event::HigherPriority | Event::SyncBackup) => {
            // Yielding sends no priority 0 (keepalived): the new master is already there.
            leave_master(&mut out, false);
            enter_backup(inst, &mut out);
        }
        (State::Master, Event::LowerPriority | Event::PriorityZero | Event::AdvertDue) => {
            out.push(Action::SendAdvert {
                priority: inst.params.priority,
            });
        }
        // Everything else changes nothing: a BACKUP told of priority 0 already had its
        // timer shortened by the kernel; stale timers and orders are ignored.
        _ => {}
    }
    out
}

/// Leaving FAULT or INIT: keepalived's `try_up_instance`.
fn up(inst: &mut Instance, out: &mut Vec<Action>) {
    if inst.params.start_master {
        enter_master(inst, out);
    } else {
        enter_backup(inst, out);
    }
}

fn enter_master(inst: &mut Instance, out: &mut Vec<Action>) {
    inst.state = State::Master;
    let p = &inst.params;
    out.push(Action::KernelState(State::Master));
    out.push(Action::CancelMasterDown);
    out.push(Action::SendAdvert {
        priority: p.priority,
    });
    out.push(Action::StartAdverts(p.interval()));
    out.push(Action::AddVips);
    out.push(Action::Gratuitous {
        repeat: p.garp_repeat,
    });
    if !p.garp_delay.is_zero() {
        out.push(Action::GratuitousLater {
            after: p.garp_delay,
            repeat: p.garp_repeat,
        });
    }
    out.push(Action::Notify(State::Master));
}

fn enter_backup(inst: &mut Instance, out: &mut Vec<Action>) {
    inst.state = State::Backup;
    inst.wants_master_since = None;
    out.push(Action::KernelState(State::Backup));
    out.push(Action::ArmMasterDown(inst.params.master_down()));
    out.push(Action::Notify(State::Backup));
}

fn enter_fault(inst: &mut Instance, out: &mut Vec<Action>) {
    if inst.state == State::Master {
        // A MASTER going to FAULT tells the backups at once (priority 0).
        leave_master(out, true);
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
fn leave_master(out: &mut Vec<Action>, announce: bool) {
    out.push(Action::StopAdverts);
    if announce {
        out.push(Action::SendAdvert { priority: 0 });
    }
    out.push(Action::RemoveVips);
}

/// How long keepalived's `preempt_delay` still holds back a BACKUP whose master-down timer
/// expired while a lower-priority master advertises (`None`: it may take over).
pub fn preempt_hold(inst: &Instance, lower_master_alive: bool, now: Duration) -> Option<Duration> {
    let left = inst
        .started_at
        .map(|t| (t + inst.params.preempt_delay).saturating_sub(now))
        .unwrap_or_default();
    (lower_master_alive && !left.is_zero()).then_some(left)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(priority: u8, start_master: bool) -> Params {
        Params {
            name: "VI_1".into(),
            priority,
            interval_cs: 100,
            preempt: true,
            preempt_delay: Duration::ZERO,
            start_master,
            garp_repeat: 5,
            garp_delay: Duration::from_secs(5),
        }
    }

    const T0: Duration = Duration::ZERO;

    fn master(priority: u8) -> Instance {
        let mut i = Instance::new(params(priority, false));
        step(&mut i, &Event::Start, T0);
        step(
            &mut i,
            &Event::MasterDown {
                lower_master_alive: false,
            },
            T0,
        );
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
                Action::StartAdverts(Duration::from_secs(1)),
                Action::AddVips,
                Action::Gratuitous { repeat: 5 },
                Action::GratuitousLater {
                    after: Duration::from_secs(5),
                    repeat: 5
                },
                Action::Notify(State::Master),
            ]
        );
    }

    #[test]
    fn a_master_answers_lower_priorities_and_priority_zero_with_an_advert() {
        let mut i = master(150);
        for event in [Event::LowerPriority, Event::PriorityZero, Event::AdvertDue] {
            assert_eq!(
                step(&mut i, &event, T0),
                vec![Action::SendAdvert { priority: 150 }]
            );
        }
        assert_eq!(i.state, State::Master);
    }

    #[test]
    fn yielding_sends_no_priority_zero_but_fault_and_stop_do() {
        let mut yielding = master(100);
        let actions = step(&mut yielding, &Event::HigherPriority, T0);
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
    fn preempt_delay_holds_back_a_takeover_from_a_live_lower_master() {
        let mut p = params(150, false);
        p.preempt_delay = Duration::from_secs(30);
        let mut i = Instance::new(p);
        step(&mut i, &Event::Start, T0);
        let at = Duration::from_secs(4);
        let actions = step(
            &mut i,
            &Event::MasterDown {
                lower_master_alive: true,
            },
            at,
        );
        assert_eq!(
            actions,
            vec![Action::ArmMasterDown(Duration::from_secs(26))]
        );
        assert_eq!(i.state, State::Backup);
        // No master at all: take over at once, delay or not.
        step(
            &mut i,
            &Event::MasterDown {
                lower_master_alive: false,
            },
            at,
        );
        assert_eq!(i.state, State::Master);
    }

    #[test]
    fn an_interface_down_at_start_means_fault() {
        let mut i = Instance::new(params(100, false));
        step(&mut i, &Event::InterfaceDown("eth0".into()), T0);
        step(&mut i, &Event::Start, T0);
        assert_eq!(i.state, State::Fault);
    }
}
