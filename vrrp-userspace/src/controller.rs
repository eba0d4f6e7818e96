//! The controller: the configured virtual routers and their sync groups. It feeds inputs
//! (kernel events, link changes, timer expiries, start and stop) through the protocol core
//! (`sync`, `fsm`) and executes the actions through a [`Platform`]. It decides nothing
//! itself: every protocol decision is in the core, so the conformance tests, which drive
//! this controller with a fake platform and a fake clock, run the same code as the daemon.
use std::{
    collections::{BTreeSet, HashMap},
    net::IpAddr,
    time::Duration,
};

use serde::{Deserialize, Serialize};

use crate::{
    config::Config,
    fsm::{Action, Event, FaultReason, Note, Reason, State},
    platform::{KernelDeadline, Platform},
    router::{Handles, Transition, VirtualRouter},
    sync::{self, Group, Item, Outcome},
    tracking::{self, Counter, Source, World},
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
    /// A `vrrp_script` run ended: exit 0 (`ok`), or not (failed, timed out).
    Script { name: String, ok: bool },
    /// A tracked file (`vrrp_track_file`) now holds this number.
    File { name: String, value: i64 },
}

/// What a reload did, instance names in the new configuration's words (removed ones in
/// the old one's).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reloaded {
    pub unchanged: Vec<String>,
    pub changed: Vec<String>,
    pub added: Vec<String>,
    pub removed: Vec<String>,
}

impl std::fmt::Display for Reloaded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let list = |names: &[String]| {
            if names.is_empty() {
                String::new()
            } else {
                format!(" ({})", names.join(", "))
            }
        };
        write!(
            f,
            "{} unchanged, {} changed{}, {} added{}, {} removed{}",
            self.unchanged.len(),
            self.changed.len(),
            list(&self.changed),
            self.added.len(),
            list(&self.added),
            self.removed.len(),
            list(&self.removed)
        )
    }
}

/// What identifies an instance across a reload, as keepalived's `vrrp_exist`: its
/// interface, VRID and address family (IPv6: true), not its name.
pub type Identity = (String, u8, bool);

/// For each instance of a new configuration (`new`), the running instance it continues
/// (an index into `old`), if any; each running one is continued at most once.
pub fn continues(old: &[Identity], new: &[Identity]) -> Vec<Option<usize>> {
    let mut taken = BTreeSet::new();
    new.iter()
        .map(|id| {
            let found = old
                .iter()
                .enumerate()
                .position(|(i, o)| o == id && !taken.contains(&i))?;
            taken.insert(found);
            Some(found)
        })
        .collect()
}

/// The running instances.
#[derive(Debug)]
pub struct Controller<P> {
    routers: Vec<VirtualRouter>,
    groups: Vec<Group>,
    /// Interfaces that matter (instances' own and tracked ones): up or not.
    links: HashMap<String, bool>,
    /// Scripts' result counters and tracked files' numbers.
    world: World,
    /// Each script's counter settings (rise, fall, init_fail), to keep counters a reload
    /// leaves unchanged.
    script_settings: HashMap<String, (u32, u32, bool)>,
    /// Each sync group's last notified state.
    group_states: HashMap<String, State>,
    /// keepalived's `notify_fifo`: lines go to the platform.
    fifo: bool,
    /// keepalived's `script_user`: notify commands run as this user.
    script_user: Option<String>,
    /// A reload is under way: the changes of state it makes say so.
    reloading: bool,
    platform: P,
}

fn script_settings(config: &Config) -> HashMap<String, (u32, u32, bool)> {
    config
        .scripts
        .iter()
        .map(|s| (s.name.clone(), (s.rise, s.fall, s.init_fail)))
        .collect()
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
        let settings = script_settings(config);
        let world = World {
            scripts: settings
                .iter()
                .map(|(n, (rise, fall, init_fail))| {
                    (n.clone(), Counter::new(*rise, *fall, *init_fail))
                })
                .collect(),
            links: links.clone(),
            files: HashMap::new(),
        };
        Self {
            routers,
            groups: Group::from_config(config),
            links,
            world,
            script_settings: settings,
            group_states: HashMap::new(),
            fifo: config.global.notify_fifo.is_some(),
            script_user: config.global.script_user.clone(),
            reloading: false,
            platform,
        }
    }

    /// Installs every instance in the kernel (before [`Input::Start`]).
    pub fn install(&mut self) -> anyhow::Result<()> {
        for r in &self.routers {
            self.platform
                .install(r.slot, &r.kernel_config())
                .map_err(|e| e.context(format!("({}) installing in the XDP program", r.name)))?;
        }
        Ok(())
    }

    /// Takes a reloaded configuration (`handles[i]` for its instance `i`, `links` for its
    /// interfaces): an instance that continues a running one (same interface, VRID and
    /// family: [`continues`]) keeps its state, VIPs, AH counter and timers, and takes its
    /// new parameters in place (VIPs added and removed as MASTER, the kernel's copy
    /// rewritten); a running instance that none continues stops (priority 0 as MASTER,
    /// VIPs removed) and leaves the kernel; a new one is installed and starts (BACKUP).
    /// A sync group that lost a member goes to BACKUP, as keepalived ("Detected instance
    /// removed from sync-group, forcing BACKUP"); the others keep their state.
    pub async fn reload(
        &mut self,
        config: &Config,
        handles: Vec<Handles>,
        links: HashMap<String, bool>,
        now: Duration,
    ) -> Reloaded {
        self.reloading = true;
        let report = self.reload_inner(config, handles, links, now).await;
        self.reloading = false;
        report
    }

    async fn reload_inner(
        &mut self,
        config: &Config,
        handles: Vec<Handles>,
        links: HashMap<String, bool>,
        now: Duration,
    ) -> Reloaded {
        let mut report = Reloaded::default();
        let identity = |r: &VirtualRouter| (r.interface.clone(), r.vrid, r.own.is_ipv6());
        let old_ids: Vec<Identity> = self.routers.iter().map(identity).collect();
        let new_ids: Vec<Identity> = config
            .instances
            .iter()
            .zip(&handles)
            .map(|(i, h)| (i.interface.clone(), i.vrid.get(), h.own.is_ipv6()))
            .collect();
        let continued = continues(&old_ids, &new_ids);
        let kept: BTreeSet<usize> = continued.iter().flatten().copied().collect();
        let old_groups: HashMap<String, BTreeSet<Identity>> = self
            .groups
            .iter()
            .map(|g| {
                let members = g.members.iter().map(|m| old_ids[*m].clone()).collect();
                (g.name.clone(), members)
            })
            .collect();

        // Removed: stopped under their old groups.
        for index in 0..self.routers.len() {
            if !kept.contains(&index) {
                let name = self.routers[index].name.clone();
                self.platform
                    .log(&format!("({name}) removed from the configuration"));
                self.dispatch(index, Event::Stop, now).await;
                report.removed.push(name);
            }
        }
        let mut old: Vec<Option<VirtualRouter>> = std::mem::take(&mut self.routers)
            .into_iter()
            .map(Some)
            .collect();
        let mut used: BTreeSet<u32> = kept
            .iter()
            .filter_map(|o| old[*o].as_ref().map(|r| r.slot))
            .collect();
        let mut routers = Vec::new();
        let mut changed = Vec::new();
        let mut added = Vec::new();
        for (index, h) in handles.into_iter().enumerate() {
            let previous = continued[index].and_then(|o| old[o].take());
            let slot = match &previous {
                Some(r) => r.slot,
                None => {
                    let free = (0..).find(|s| !used.contains(s)).unwrap_or(u32::MAX);
                    used.insert(free);
                    free
                }
            };
            let Some(next) = VirtualRouter::from_config(config, index, slot, h) else {
                continue;
            };
            match previous {
                Some(mut r) => {
                    let changes = r.reconfigure(next, now);
                    if changes.any {
                        changed.push((routers.len(), changes));
                        report.changed.push(r.name.clone());
                    } else {
                        report.unchanged.push(r.name.clone());
                    }
                    routers.push(r);
                }
                None => {
                    added.push(routers.len());
                    report.added.push(next.name.clone());
                    routers.push(next);
                }
            }
        }
        for r in old.into_iter().flatten() {
            if let Err(error) = self.platform.uninstall(r.slot) {
                let line = format!("({}) leaving the XDP program: {error:#}", r.name);
                self.platform.log(&line);
            }
        }
        self.routers = routers;
        self.groups = Group::from_config(config);
        self.group_states
            .retain(|name, _| config.sync_groups.iter().any(|g| &g.name == name));
        self.fifo = config.global.notify_fifo.is_some();
        self.script_user = config.global.script_user.clone();
        for (name, up) in links {
            self.links.entry(name.clone()).or_insert(up);
            self.world.links.entry(name).or_insert(up);
        }
        // Scripts whose counting is unchanged keep their counters; the others start over.
        let settings = script_settings(config);
        self.world.scripts.retain(|name, _| {
            settings.get(name) == self.script_settings.get(name) && settings.contains_key(name)
        });
        for (name, (rise, fall, init_fail)) in &settings {
            self.world
                .scripts
                .entry(name.clone())
                .or_insert_with(|| Counter::new(*rise, *fall, *init_fail));
        }
        self.script_settings = settings;

        for (index, changes) in changed {
            self.apply_changes(index, changes, now).await;
        }
        // Groups that lost a member go to BACKUP.
        let ids: Vec<Identity> = self.routers.iter().map(identity).collect();
        for g in self.groups.clone() {
            let lost = old_groups.get(&g.name).is_some_and(|before| {
                let now_in: BTreeSet<&Identity> = g.members.iter().map(|m| &ids[*m]).collect();
                before.iter().any(|id| !now_in.contains(id))
            });
            if !lost {
                continue;
            }
            self.platform.log(&format!(
                "VRRP_Group({}) Detected instance removed from sync-group, forcing BACKUP",
                g.name
            ));
            if let Some(master) = g
                .members
                .iter()
                .copied()
                .find(|m| self.routers[*m].state() == State::Master)
            {
                self.dispatch(master, Event::SyncBackup, now).await;
            }
        }
        let before = self.states();
        let outcome = sync::settle_all(&mut self.routers, &self.groups, now);
        self.execute(outcome, now).await;
        self.record_transitions(&before, None, Reason::Reload, now);
        for index in 0..self.routers.len() {
            if !added.contains(&index) {
                self.retrack(index, now).await;
            }
        }
        for index in added {
            let r = &self.routers[index];
            let (slot, config) = (r.slot, r.kernel_config());
            self.platform
                .log(&format!("({}) added to the configuration", r.name));
            match self.platform.install(slot, &config) {
                Ok(()) => self.start(index, now).await,
                Err(error) => {
                    let line = format!(
                        "({}) installing in the XDP program: {error:#}; not started",
                        r.name
                    );
                    self.platform.log(&line);
                }
            }
        }
        report
    }

    /// A continued instance's new parameters: the kernel's copy rewritten, the interfaces it
    /// watches brought in line, and, as MASTER, VIPs removed and added (with a gratuitous
    /// burst for the new ones, as keepalived sends after a reload that added addresses).
    async fn apply_changes(
        &mut self,
        index: usize,
        changes: crate::router::Changes,
        now: Duration,
    ) {
        let r = &self.routers[index];
        let name = r.name.clone();
        self.platform.log(&format!("({name}) reconfigured"));
        if let Err(error) = self.platform.update(r.slot, &r.kernel_config()) {
            self.platform
                .log(&format!("({name}) updating the XDP program: {error:#}"));
        }
        if r.state() == State::Master {
            let repeat = r.fsm.params.garp_repeat;
            for vip in &changes.vips_removed {
                if let Err(error) = self
                    .platform
                    .del_address(vip.ifindex, vip.address.address)
                    .await
                {
                    let line = format!("({name}) removing {}: {error:#}", vip.address.address);
                    self.platform.log(&line);
                }
            }
            for vip in &changes.vips_added {
                if let Err(error) = self.platform.add_address(vip.ifindex, &vip.address).await {
                    let line = format!("({name}) adding {}: {error:#}", vip.address.address);
                    self.platform.log(&line);
                }
            }
            if !changes.vips_added.is_empty() && repeat > 0 {
                let action = Action::Gratuitous {
                    repeat,
                    address: None,
                };
                if let Err(error) = self.apply(index, action, now).await {
                    self.platform.log(&format!("({name}) {error:#}"));
                }
            }
        }
        // Interfaces it no longer watches release their faults; newly watched ones that
        // are down bring one.
        let r = &self.routers[index];
        let stale: Vec<String> = r
            .fsm
            .faults
            .iter()
            .filter_map(|f| match f {
                FaultReason::Interface(n) if !r.watches(n) => Some(n.clone()),
                _ => None,
            })
            .collect();
        let down: Vec<String> = std::iter::once(r.interface.clone())
            .chain(r.tracked.iter().cloned())
            .filter(|n| self.links.get(n) == Some(&false))
            .filter(|n| !r.fsm.faults.contains(&FaultReason::Interface(n.clone())))
            .collect();
        for n in stale {
            self.dispatch(index, Event::InterfaceUp(n), now).await;
        }
        for n in down {
            self.dispatch(index, Event::InterfaceDown(n), now).await;
        }
    }

    /// Interface `name` is back with a new index (deleted and created again): every address
    /// that went on its old index goes on the new one, the instances on it take its index,
    /// MAC and (per family, when it has one) the address to send from, and the kernel's
    /// copies are rewritten (their key holds the index).
    pub fn rebind(
        &mut self,
        name: &str,
        ifindex: u32,
        mac: [u8; 6],
        own: impl Fn(&VirtualRouter) -> Option<IpAddr>,
    ) {
        let Some(old) = self
            .routers
            .iter()
            .find(|r| r.interface == name)
            .map(|r| r.ifindex)
        else {
            return;
        };
        for index in 0..self.routers.len() {
            let address = own(&self.routers[index]);
            let r = &mut self.routers[index];
            let before = (r.ifindex, r.mac, r.own, r.vips.clone());
            if r.interface == name {
                r.rebind(ifindex, mac, address);
            } else {
                for vip in &mut r.vips {
                    if vip.ifindex == old {
                        vip.ifindex = ifindex;
                    }
                }
            }
            if before == (r.ifindex, r.mac, r.own, r.vips.clone()) {
                continue;
            }
            if before.2 != r.own {
                let line = format!("({}) sends from {} (was {})", r.name, r.own, before.2);
                self.platform.log(&line);
            }
            let (slot, config) = (r.slot, r.kernel_config());
            if let Err(error) = self.platform.update(slot, &config) {
                let line = format!("({}) updating the XDP program: {error:#}", r.name);
                self.platform.log(&line);
            }
        }
    }

    /// Instance `index` starts: its tracking applied (priority, weight-0 faults), FAULT
    /// for each watched interface that is down, then up.
    async fn start(&mut self, index: usize, now: Duration) {
        self.retrack(index, now).await;
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
                    self.start(index, now).await;
                }
            }
            Input::Kernel { slot, event } => {
                if let Some(index) = self.routers.iter().position(|r| r.slot == slot) {
                    self.dispatch(index, event, now).await;
                }
            }
            Input::Link { name, up } => {
                let tracked = self.routers.iter().any(|r| {
                    r.tracking
                        .iter()
                        .any(|t| t.source == Source::Interface(name.clone()))
                });
                if self.links.get(&name) == Some(&up)
                    || !(self.links.contains_key(&name) || tracked)
                {
                    return;
                }
                self.links.insert(name.clone(), up);
                self.world.links.insert(name.clone(), up);
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
                self.retrack_all(&Source::Interface(name), now).await;
            }
            Input::Script { name, ok } => {
                let Some(counter) = self.world.scripts.get_mut(&name) else {
                    return;
                };
                if let Some(good) = counter.report(ok) {
                    let word = if good { "succeeded" } else { "failed" };
                    self.platform.log(&format!("VRRP_Script({name}) {word}"));
                    self.retrack_all(&Source::Script(name), now).await;
                }
            }
            Input::File { name, value } => {
                if self.world.files.get(&name) == Some(&value) {
                    return;
                }
                self.platform
                    .log(&format!("VRRP_Track_File({name}) now {value}"));
                self.world.files.insert(name.clone(), value);
                self.retrack_all(&Source::File(name), now).await;
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

    /// Every started instance that tracks `source` takes its new tracking state.
    async fn retrack_all(&mut self, source: &Source, now: Duration) {
        for index in 0..self.routers.len() {
            let r = &self.routers[index];
            if r.tracking.iter().any(|t| &t.source == source) {
                self.retrack(index, now).await;
            }
        }
    }

    /// Brings instance `index` in line with what it tracks (`tracking::evaluate`): faults
    /// of weight-0 scripts and files raised or cleared, the effective priority changed
    /// (keepalived's "Changing effective priority from 150 to 90").
    async fn retrack(&mut self, index: usize, now: Duration) {
        let r = &self.routers[index];
        let eval = tracking::evaluate(r.base_priority, &r.tracking, &self.world);
        let tracked_fault =
            |f: &FaultReason| matches!(f, FaultReason::Script(_) | FaultReason::File(_));
        let cleared: Vec<FaultReason> = r
            .fsm
            .faults
            .iter()
            .filter(|f| tracked_fault(f) && !eval.faults.contains(f))
            .cloned()
            .collect();
        let raised: Vec<FaultReason> = eval
            .faults
            .iter()
            .filter(|f| !r.fsm.faults.contains(f))
            .cloned()
            .collect();
        let current = r.fsm.params.priority;
        // An address owner that stepped down to 254 stays there until a reload.
        let stepped_down = r.base_priority == crate::fsm::OWNER && current == crate::fsm::OWNER - 1;
        if eval.priority != current && !stepped_down {
            let line = format!(
                "({}) Changing effective priority from {current} to {}",
                r.name, eval.priority
            );
            self.platform.log(&line);
            self.dispatch(index, Event::Priority(eval.priority), now)
                .await;
        }
        for reason in raised {
            self.dispatch(index, Event::Fault(reason), now).await;
        }
        for reason in cleared {
            self.dispatch(index, Event::Recover(reason), now).await;
        }
    }

    async fn dispatch(&mut self, index: usize, event: Event, now: Duration) {
        let before = self.states();
        let reason = match (&self.reloading, &event) {
            (_, Event::Start | Event::Stop) | (false, _) => {
                Reason::of(&event, self.routers[index].priority())
            }
            (true, _) => Reason::Reload,
        };
        if event == Event::PriorityZero {
            self.routers[index].stats.priority_zero_received += 1;
        }
        let outcome = sync::dispatch(&mut self.routers, &self.groups, index, &event, now);
        self.execute(outcome, now).await;
        self.record_transitions(&before, Some(index), reason, now);
    }

    fn states(&self) -> Vec<State> {
        self.routers.iter().map(VirtualRouter::state).collect()
    }

    /// Records each instance whose state is no longer `before[i]`: for `reason` when it is
    /// instance `cause` (or there is none), else moved by its sync group.
    fn record_transitions(
        &mut self,
        before: &[State],
        cause: Option<usize>,
        reason: Reason,
        now: Duration,
    ) {
        for (index, (r, from)) in self.routers.iter_mut().zip(before).enumerate() {
            if r.state() != *from {
                r.stats.transition(Transition {
                    at: now,
                    from: *from,
                    to: r.state(),
                    reason: if cause.is_none_or(|c| c == index) {
                        reason
                    } else {
                        Reason::Group
                    },
                });
            }
        }
    }

    /// The state each sync group last took (as its notify hooks were told).
    pub fn group_state(&self, name: &str) -> Option<State> {
        self.group_states.get(name).copied()
    }

    /// Carries out what the core decided, then notifies the sync groups whose state
    /// changed.
    async fn execute(&mut self, outcome: Outcome, now: Duration) {
        let touched = !outcome.items.is_empty();
        self.execute_items(outcome, now).await;
        if touched {
            self.notify_groups();
        }
    }

    /// keepalived's `notify_group_exec`: a group's `notify_master`... without arguments,
    /// `notify` with `GROUP NAME STATE`, and `GROUP "NAME" STATE` on the notify FIFO.
    fn notify_groups(&mut self) {
        for g in &self.groups {
            let states: Vec<State> = g.members.iter().map(|m| self.routers[*m].state()).collect();
            let previous = self.group_states.get(&g.name).copied();
            let Some(state) = sync::group_state(&states, previous) else {
                continue;
            };
            self.group_states.insert(g.name.clone(), state);
            let specific = match state {
                State::Master => g.notify.master.clone(),
                State::Backup => g.notify.backup.clone(),
                State::Fault => g.notify.fault.clone(),
                State::Init => g.notify.stop.clone(),
            };
            let word = state.notify_word();
            let any = g
                .notify
                .any
                .as_deref()
                // keepalived passes a group's priority as 0 (measured live, 2.2.7).
                .map(|cmd| format!("{cmd} GROUP {} {word} 0", g.name));
            for command in specific.into_iter().chain(any) {
                self.platform
                    .run_script_as(&command, self.script_user.as_deref());
            }
            if self.fifo {
                self.platform
                    .notify_fifo(&format!("GROUP \"{}\" {word} 0", g.name));
            }
        }
    }

    async fn execute_items(&mut self, outcome: Outcome, now: Duration) {
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
                } else {
                    r.stats.adverts_sent += 1;
                    if priority == 0 {
                        r.stats.priority_zero_sent += 1;
                    }
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
            self.platform
                .run_script_as(&command, self.script_user.as_deref());
        }
        if self.fifo {
            let line = format!(
                "INSTANCE \"{}\" {} {}",
                r.name,
                state.notify_word(),
                r.priority()
            );
            self.platform.notify_fifo(&line);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(interface: &str, vrid: u8, v6: bool) -> Identity {
        (interface.to_owned(), vrid, v6)
    }

    /// keepalived's `vrrp_exist`: the same interface, VRID and family continue an instance,
    /// whatever its name; each running instance is continued once.
    #[test]
    fn an_instance_continues_the_one_with_its_interface_vrid_and_family() {
        let old = [
            id("eth0", 51, false),
            id("eth0", 52, false),
            id("eth1", 51, false),
        ];
        let new = [
            id("eth1", 51, false),
            id("eth0", 51, true),
            id("eth0", 51, false),
            id("eth0", 51, false),
            id("eth2", 52, false),
        ];
        assert_eq!(
            continues(&old, &new),
            vec![Some(2), None, Some(0), None, None]
        );
    }

    #[test]
    fn the_reload_summary_names_what_moved() {
        let report = Reloaded {
            unchanged: vec!["VI_1".into()],
            changed: vec!["VI_2".into()],
            added: vec![],
            removed: vec!["VI_3".into(), "VI_4".into()],
        };
        assert_eq!(
            report.to_string(),
            "1 unchanged, 1 changed (VI_2), 0 added, 2 removed (VI_3, VI_4)"
        );
    }
}
