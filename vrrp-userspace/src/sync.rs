//! Sync groups (keepalived's `vrrp_sync_group`): instances that change state together.
//! Pure, on top of `fsm`: one event for one instance becomes steps for its whole group.
//!
//! - MASTER only when every member wants MASTER: a member whose master-down timer expires
//!   waits (its timer re-armed) until all of them did; then all go MASTER together.
//! - One member in FAULT forces the others to FAULT (MASTERs among them send priority 0);
//!   when no member has a fault of its own any more, they all come back up.
//! - One member yielding to a higher priority takes the other MASTERs to BACKUP.
use std::time::Duration;

use crate::fsm::{self, Action, Down, Event, FaultReason, Instance, State};

/// A sync group: indices into the instance list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    pub name: String,
    pub members: Vec<usize>,
    /// Its notify hooks (`notify_master`..., `notify` with `GROUP NAME STATE`).
    pub notify: crate::config::model::Notify,
}

/// One thing an event did, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    /// Actions for the instance at this index.
    Step(usize, Vec<Action>),
    /// A group log line (`VRRP_Group(VG1) Syncing instances to MASTER state`).
    Log(String),
}

impl Group {
    /// The sync groups of `config`, members as indices into its instances.
    pub fn from_config(config: &crate::config::Config) -> Vec<Self> {
        config
            .sync_groups
            .iter()
            .map(|g| Self {
                name: g.name.clone(),
                members: g
                    .members
                    .iter()
                    .filter_map(|m| config.instances.iter().position(|i| &i.name == m))
                    .collect(),
                notify: g.notify.clone(),
            })
            .collect()
    }
}

/// A sync group's state from its members' (keepalived's group notifications): FAULT as
/// soon as one member is in FAULT, MASTER or BACKUP once all members are, STOP (INIT) once
/// all stopped after running; otherwise (members on their way) it keeps its state.
/// Returns the new state when it changed from `previous`.
pub fn group_state(members: &[State], previous: Option<State>) -> Option<State> {
    let all = |s: State| !members.is_empty() && members.iter().all(|m| *m == s);
    let next = if members.contains(&State::Fault) {
        State::Fault
    } else if all(State::Master) {
        State::Master
    } else if all(State::Backup) {
        State::Backup
    } else if all(State::Init) && previous.is_some() {
        State::Init
    } else {
        return None;
    };
    (Some(next) != previous).then_some(next)
}

/// What one event did, in the order it happened (keepalived logs a member's own
/// transition before the group order it causes).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outcome {
    pub items: Vec<Item>,
}

impl Outcome {
    fn push(&mut self, index: usize, actions: Vec<Action>) {
        if !actions.is_empty() {
            self.items.push(Item::Step(index, actions));
        }
    }

    fn log(&mut self, line: String) {
        self.items.push(Item::Log(line));
    }
}

/// Applies `event` to instance `index`, and to its sync group when it has one.
pub fn dispatch<T: AsRef<Instance> + AsMut<Instance>>(
    instances: &mut [T],
    groups: &[Group],
    index: usize,
    event: &Event,
    now: Duration,
) -> Outcome {
    let mut outcome = Outcome::default();
    let Some(inst) = instances.get_mut(index).map(T::as_mut) else {
        return outcome;
    };
    let Some(group) = groups.iter().find(|g| g.members.contains(&index)) else {
        let actions = fsm::step(inst, event, now);
        outcome.push(index, actions);
        return outcome;
    };
    let others: Vec<usize> = group
        .members
        .iter()
        .copied()
        .filter(|m| *m != index)
        .collect();

    if let (State::Backup, Event::MasterDown { last_advert }) = (inst.state, event) {
        match inst.master_down(*last_advert, now) {
            Down::Stale => return outcome,
            Down::TakeOver => {}
        }
        inst.wants_master_since = Some(now);
        let wait = inst.params.master_down();
        let all_want = others.iter().all(|m| {
            instances
                .get(*m)
                .is_some_and(|o| o.as_ref().wants_master(now))
        });
        if !all_want {
            // Wait for the others; time out again meanwhile.
            outcome.push(index, vec![Action::ArmMasterDown(wait)]);
            return outcome;
        }
        outcome.log(format!(
            "VRRP_Group({}) Syncing instances to MASTER state",
            group.name
        ));
        for m in std::iter::once(index).chain(others) {
            if let Some(member) = instances.get_mut(m).map(T::as_mut) {
                let actions = fsm::step(member, &Event::SyncMaster, now);
                outcome.push(m, actions);
            }
        }
        return outcome;
    }

    let before = inst.state;
    let actions = fsm::step(inst, event, now);
    let after = inst.state;
    outcome.push(index, actions);
    if before == State::Master && after == State::Backup {
        // One member yielding to a higher priority takes the other MASTERs to BACKUP.
        outcome.log(format!(
            "VRRP_Group({}) Syncing instances to BACKUP state",
            group.name
        ));
        for m in others {
            if let Some(member) = instances.get_mut(m).map(T::as_mut) {
                let actions = fsm::step(member, &Event::SyncBackup, now);
                outcome.push(m, actions);
            }
        }
        return outcome;
    }
    settle_faults(instances, group, now, &mut outcome);
    outcome
}

/// After the groups changed (a reload): an instance no longer in any group drops a fault
/// it held only for its old group, and every group's fault rule is applied afresh.
pub fn settle_all<T: AsRef<Instance> + AsMut<Instance>>(
    instances: &mut [T],
    groups: &[Group],
    now: Duration,
) -> Outcome {
    let mut outcome = Outcome::default();
    for index in 0..instances.len() {
        let grouped = groups.iter().any(|g| g.members.contains(&index));
        if let Some(inst) = instances.get_mut(index).map(T::as_mut)
            && !grouped
            && inst.faults.contains(&FaultReason::SyncGroup)
        {
            let actions = fsm::step(inst, &Event::SyncRecover, now);
            outcome.push(index, actions);
        }
    }
    for group in groups {
        settle_faults(instances, group, now, &mut outcome);
    }
    outcome
}

/// The group's fault rule, re-evaluated after every event of a member: while any member
/// has a fault of its own, every other member holds the group's fault (so a member whose
/// own fault clears first stays in FAULT); once none has, they all recover together. This
/// also settles members that share an interface: each gets its own fault and the group's,
/// and the last one to recover releases them all.
fn settle_faults<T: AsRef<Instance> + AsMut<Instance>>(
    instances: &mut [T],
    group: &Group,
    now: Duration,
    outcome: &mut Outcome,
) {
    let faulty: Vec<usize> = group
        .members
        .iter()
        .copied()
        .filter(|m| instances.get(*m).is_some_and(|i| i.as_ref().own_fault()))
        .collect();
    let (order, word) = if faulty.is_empty() {
        (Event::SyncRecover, "BACKUP")
    } else {
        (Event::SyncFault, "FAULT")
    };
    let targets: Vec<usize> = group
        .members
        .iter()
        .copied()
        .filter(|m| {
            instances.get(*m).map(T::as_ref).is_some_and(|i| {
                let held = i.faults.contains(&FaultReason::SyncGroup);
                match order {
                    // Everyone but a sole faulty member holds the group's fault.
                    Event::SyncFault => !held && faulty.iter().any(|f| f != m),
                    _ => held,
                }
            })
        })
        .collect();
    if targets.is_empty() {
        return;
    }
    let moves = targets.iter().any(|m| {
        instances
            .get(*m)
            .map(T::as_ref)
            .is_some_and(|i| match order {
                Event::SyncFault => matches!(i.state, State::Backup | State::Master),
                _ => i.state == State::Fault && i.faults.len() == 1,
            })
    });
    if moves {
        outcome.log(format!(
            "VRRP_Group({}) Syncing instances to {word} state",
            group.name
        ));
    }
    for m in targets {
        if let Some(member) = instances.get_mut(m).map(T::as_mut) {
            let actions = fsm::step(member, &order, now);
            outcome.push(m, actions);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fsm::Params;

    fn member(name: &str) -> Instance {
        Instance::new(Params {
            name: name.into(),
            priority: 150,
            version: 2,
            interval_cs: 100,
            preempt: true,
            preempt_delay: Duration::ZERO,
            start_master: false,
            eager: false,
            ah: false,
            garp_repeat: 5,
            garp_delay: Duration::ZERO,
            garp_refresh: Duration::ZERO,
            garp_refresh_repeat: 1,
            garp_lower_repeat: 0,
            garp_lower_delay: Duration::ZERO,
            garp_interval: Duration::ZERO,
            addresses: 1,
        })
    }

    fn group() -> (Vec<Instance>, Vec<Group>) {
        let groups = vec![Group {
            name: "VG".into(),
            members: vec![0, 1],
            notify: Default::default(),
        }];
        (vec![member("A"), member("B")], groups)
    }

    #[test]
    fn a_group_is_master_or_backup_once_all_are_and_fault_at_once() {
        use State::*;
        assert_eq!(group_state(&[Backup, Backup], None), Some(Backup));
        assert_eq!(group_state(&[Master, Backup], Some(Backup)), None);
        assert_eq!(group_state(&[Master, Master], Some(Backup)), Some(Master));
        assert_eq!(group_state(&[Fault, Master], Some(Master)), Some(Fault));
        assert_eq!(group_state(&[Init, Init], Some(Master)), Some(Init));
        assert_eq!(group_state(&[Init, Init], None), None);
    }

    #[test]
    fn a_group_fault_seen_in_init_starts_the_other_member_in_fault() {
        let (mut i, g) = group();
        let t = Duration::ZERO;
        dispatch(&mut i, &g, 0, &Event::InterfaceDown("eth0".into()), t);
        dispatch(&mut i, &g, 0, &Event::Start, t);
        dispatch(&mut i, &g, 1, &Event::Start, t);
        assert_eq!((i[0].state, i[1].state), (State::Fault, State::Fault));
        // The interface returns: both come up together.
        dispatch(&mut i, &g, 0, &Event::InterfaceUp("eth0".into()), t);
        assert_eq!((i[0].state, i[1].state), (State::Backup, State::Backup));
    }

    /// A reload that takes the faulty member out of the group releases the other one.
    #[test]
    fn a_member_held_in_fault_by_a_member_a_reload_removed_recovers() {
        let (mut i, g) = group();
        let t = Duration::ZERO;
        dispatch(&mut i, &g, 0, &Event::Start, t);
        dispatch(&mut i, &g, 1, &Event::Start, t);
        dispatch(&mut i, &g, 0, &Event::InterfaceDown("eth0".into()), t);
        assert_eq!((i[0].state, i[1].state), (State::Fault, State::Fault));
        let outcome = settle_all(&mut i, &[], t);
        assert_eq!((i[0].state, i[1].state), (State::Fault, State::Backup));
        assert!(!outcome.items.is_empty());
        // Groups unchanged: nothing to do.
        let (mut j, g) = group();
        dispatch(&mut j, &g, 0, &Event::Start, t);
        assert!(settle_all(&mut j, &g, t).items.is_empty());
    }

    #[test]
    fn members_sharing_an_interface_recover_only_when_both_are_back() {
        let (mut i, g) = group();
        let t = Duration::ZERO;
        dispatch(&mut i, &g, 0, &Event::Start, t);
        dispatch(&mut i, &g, 1, &Event::Start, t);
        let down = Event::InterfaceDown("eth0".into());
        let up = Event::InterfaceUp("eth0".into());
        dispatch(&mut i, &g, 0, &down, t);
        dispatch(&mut i, &g, 1, &down, t);
        dispatch(&mut i, &g, 0, &up, t);
        // B still has its own fault: A waits in FAULT.
        assert_eq!((i[0].state, i[1].state), (State::Fault, State::Fault));
        dispatch(&mut i, &g, 1, &up, t);
        assert_eq!((i[0].state, i[1].state), (State::Backup, State::Backup));
        assert!(i.iter().all(|m| m.faults.is_empty()));
    }
}
