//! The controller: the configured virtual routers and their sync groups. It feeds inputs
//! (kernel events, link changes, timer expiries, start and stop) through the protocol core
//! (`sync`, `fsm`) and executes the actions through a [`Platform`]. It decides nothing
//! itself: every protocol decision is in the core, so the conformance tests, which drive
//! this controller with a fake platform and a fake clock, run the same code as the daemon.
use std::{collections::HashMap, time::Duration};

use serde::{Deserialize, Serialize};

use crate::{
    config::Config,
    fsm::{Action, Event, Note, State},
    platform::{KernelDeadline, Platform},
    router::{Handles, VirtualRouter},
    sync::{self, Group, Item},
};

/// Something the world tells the controller; `now` comes with it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Input {
    /// Start every instance.
    Start,
    /// An event for the instance in kernel slot `slot` (from the XDP program).
    Kernel { slot: u32, event: Event },
    /// An interface went up or down.
    Link { name: String, up: bool },
    /// Some instance's deadline has come ([`Controller::deadline`]).
    Timer,
    /// Stop every instance (priority 0 for MASTERs, VIPs removed).
    Stop,
}

/// The running instances.
#[derive(Debug)]
pub struct Controller<P> {
    routers: Vec<VirtualRouter>,
    groups: Vec<Group>,
    /// Interfaces that matter (instances' own and tracked ones): up or not.
    links: HashMap<String, bool>,
    platform: P,
}

impl<P: Platform> Controller<P> {
    /// The instances of `config`, instance `i` in kernel slot `i`, with the system handles
    /// the caller resolved (`handles[i]`) and the current state of the interfaces.
    pub fn new(
        config: &Config,
        handles: Vec<Handles>,
        links: HashMap<String, bool>,
        platform: P,
    ) -> Self {
        let routers = handles
            .into_iter()
            .enumerate()
            .filter_map(|(index, h)| {
                let slot = u32::try_from(index).ok()?;
                VirtualRouter::from_config(config, index, slot, h)
            })
            .collect();
        Self {
            routers,
            groups: Group::from_config(config),
            links,
            platform,
        }
    }

    pub fn routers(&self) -> &[VirtualRouter] {
        &self.routers
    }

    pub fn groups(&self) -> &[Group] {
        &self.groups
    }

    pub fn platform(&self) -> &P {
        &self.platform
    }

    pub fn platform_mut(&mut self) -> &mut P {
        &mut self.platform
    }

    /// When [`Input::Timer`] is next due: the state machines' timers and the userspace
    /// master-down timers standing in for ones the kernel could not arm.
    pub fn deadline(&self) -> Option<Duration> {
        self.routers
            .iter()
            .flat_map(|r| [r.fsm.deadline(), r.userspace_master_down])
            .flatten()
            .min()
    }

    /// A userspace master-down timer ended: ask the kernel where the deadline stands
    /// (adverts keep moving it even when its timer could not be armed), and report
    /// MASTER_DOWN as the kernel would have.
    async fn userspace_master_down(&mut self, index: usize, now: Duration) {
        let r = &mut self.routers[index];
        let slot = r.slot;
        match self.platform.master_down_deadline(slot) {
            Ok(KernelDeadline::Pending(left)) => r.userspace_master_down = Some(now + left),
            Ok(KernelDeadline::NotArmed) => r.userspace_master_down = None,
            Ok(KernelDeadline::Passed(last_advert)) => {
                r.userspace_master_down = None;
                // Only a BACKUP cares, as in the kernel's callback.
                if r.state() == State::Backup {
                    self.dispatch(index, Event::MasterDown { last_advert }, now)
                        .await;
                }
            }
            Err(error) => {
                // Without the kernel's deadline, the timer's own end is the master down.
                let name = r.name.clone();
                r.userspace_master_down = None;
                self.platform.log(&format!(
                    "({name}) reading the master-down deadline failed: {error:#}"
                ));
                if self.routers[index].state() == State::Backup {
                    let event = Event::MasterDown { last_advert: None };
                    self.dispatch(index, event, now).await;
                }
            }
        }
    }

    /// Handles one input at `now` (time since the controller started).
    pub async fn handle(&mut self, input: Input, now: Duration) {
        match input {
            Input::Start => {
                for index in 0..self.routers.len() {
                    let r = &self.routers[index];
                    let down: Vec<String> = std::iter::once(r.interface.clone())
                        .chain(r.tracked.iter().cloned())
                        .filter(|name| self.links.get(name) == Some(&false))
                        .collect();
                    for name in down {
                        self.dispatch(index, Event::InterfaceDown(name), now).await;
                    }
                    self.dispatch(index, Event::Start, now).await;
                }
            }
            Input::Kernel { slot, event } => {
                if let Some(index) = self.routers.iter().position(|r| r.slot == slot) {
                    self.dispatch(index, event, now).await;
                }
            }
            Input::Link { name, up } => {
                if self.links.get(&name) == Some(&up) || !self.links.contains_key(&name) {
                    return;
                }
                self.links.insert(name.clone(), up);
                self.platform.log(&format!(
                    "interface {name} is {}",
                    if up { "up" } else { "down" }
                ));
                for index in 0..self.routers.len() {
                    if self.routers[index].watches(&name) {
                        let event = if up {
                            Event::InterfaceUp(name.clone())
                        } else {
                            Event::InterfaceDown(name.clone())
                        };
                        self.dispatch(index, event, now).await;
                    }
                }
            }
            Input::Timer => {
                for index in 0..self.routers.len() {
                    if self.routers[index]
                        .userspace_master_down
                        .is_some_and(|at| at <= now)
                    {
                        self.userspace_master_down(index, now).await;
                    }
                    if self.routers[index]
                        .fsm
                        .deadline()
                        .is_some_and(|at| at <= now)
                    {
                        self.dispatch(index, Event::Timer, now).await;
                    }
                }
            }
            Input::Stop => {
                for index in 0..self.routers.len() {
                    self.dispatch(index, Event::Stop, now).await;
                }
            }
        }
    }

    async fn dispatch(&mut self, index: usize, event: Event, now: Duration) {
        let outcome = sync::dispatch(&mut self.routers, &self.groups, index, &event, now);
        for item in outcome.items {
            match item {
                Item::Log(line) => self.platform.log(&line),
                Item::Step(i, actions) => {
                    for action in actions {
                        if let Err(error) = self.apply(i, action, now).await {
                            let name = &self.routers[i].name;
                            self.platform.log(&format!("({name}) {error:#}"));
                        }
                    }
                }
            }
        }
    }

    async fn apply(&mut self, index: usize, action: Action, now: Duration) -> anyhow::Result<()> {
        let r = &mut self.routers[index];
        let slot = r.slot;
        match action {
            Action::KernelState(state) => self.platform.set_state(slot, state)?,
            Action::AdvanceSequence(by) => self.platform.advance_sequence(slot, by)?,
            Action::ArmMasterDown(after) => match self.platform.arm_master_down(slot, after) {
                Ok(()) => r.userspace_master_down = None,
                Err(error) => {
                    // Never silently unable to take over: a userspace timer stands in.
                    r.userspace_master_down = Some(now + after);
                    r.timer_fallbacks += 1;
                    let line = format!(
                        "({}) the kernel could not arm the master-down timer ({error:#}); \
                         using a userspace timer",
                        r.name
                    );
                    self.platform.log(&line);
                }
            },
            Action::CancelMasterDown => {
                r.userspace_master_down = None;
                self.platform.cancel_master_down(slot)?;
            }
            Action::SendAdvert { priority } => {
                let sequence = if r.uses_ah() {
                    self.platform.next_sequence(slot)?
                } else {
                    0
                };
                let frame = r.advert_frame(priority, sequence)?;
                if let Err(error) = self.platform.send(&r.interface, &frame) {
                    // A down interface cannot send (FAULT's priority 0 on a failed link).
                    tracing::debug!(instance = %r.name, "advert not sent: {error}");
                }
            }
            Action::AddVips => {
                for vip in &r.vips {
                    self.platform
                        .add_address(vip.ifindex, &vip.address)
                        .await
                        .map_err(|e| e.context(format!("adding {}", vip.address.address)))?;
                }
            }
            Action::RemoveVips => {
                for vip in &r.vips {
                    self.platform
                        .del_address(vip.ifindex, vip.address.address)
                        .await
                        .map_err(|e| e.context(format!("removing {}", vip.address.address)))?;
                }
            }
            Action::Gratuitous { repeat, address } => {
                let frames = r.gratuitous_frames();
                let chosen = frames
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| address.is_none_or(|a| usize::try_from(a) == Ok(*i)));
                for (_, frame) in chosen {
                    for _ in 0..repeat {
                        let _ = self.platform.send(&r.interface, frame);
                    }
                }
            }
            Action::KernelPriority(priority) => self.platform.set_priority(slot, priority)?,
            Action::Log(note) => {
                let line = match note {
                    Note::LowerPriority { priority, ours } => format!(
                        "({}) Received advert with lower priority {priority}, ours {ours}, \
                         forcing new election",
                        r.name
                    ),
                    Note::EqualPriorityFromOurAddress => format!(
                        "({}) WARNING - equal priority advert received from remote host with \
                         our IP address.",
                        r.name
                    ),
                    Note::AnotherAddressOwner => format!(
                        "({}) CONFIGURATION ERROR: local instance and a remote instance are \
                         both configured as address owner, please fix - reducing local priority",
                        r.name
                    ),
                };
                self.platform.log(&line);
            }
            Action::Notify(state) => self.notify(index, state),
        }
        Ok(())
    }

    /// keepalived's log line and notify hooks (`notify_master` etc. without arguments,
    /// `notify` with `INSTANCE NAME STATE PRIORITY`; STOP for a stopped instance).
    fn notify(&mut self, index: usize, state: State) {
        let r = &self.routers[index];
        let line = match state {
            State::Init => format!("({}) Stopped", r.name),
            _ => format!("({}) Entering {state} STATE", r.name),
        };
        let specific = match state {
            State::Master => r.notify.master.clone(),
            State::Backup => r.notify.backup.clone(),
            State::Fault => r.notify.fault.clone(),
            State::Init => r.notify.stop.clone(),
        };
        let any = r.notify.any.as_deref().map(|cmd| {
            format!(
                "{cmd} INSTANCE {} {} {}",
                r.name,
                state.notify_word(),
                r.priority()
            )
        });
        self.platform.log(&line);
        for command in specific.into_iter().chain(any) {
            self.platform.run_script(&command);
        }
    }
}
