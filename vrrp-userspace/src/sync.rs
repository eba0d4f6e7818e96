//! Sync groups (keepalived's `vrrp_sync_group`): instances that change state together.
//! Pure, on top of `fsm`: one event for one instance becomes steps for its whole group.
//!
//! - MASTER only when every member wants MASTER: a member whose master-down timer expires
//!   waits (its timer re-armed) until all of them did; then all go MASTER together.
//! - One member in FAULT forces the others to FAULT (MASTERs among them send priority 0);
//!   when no member has a fault of its own any more, they all come back up.
//! - One member yielding to a higher priority takes the other MASTERs to BACKUP.
use std::time::Duration;

use crate::fsm::{self, Action, Event, FaultReason, Instance, State};

/// A sync group: indices into the instance list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    pub name: String,
    pub members: Vec<usize>,
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
            })
            .collect()
    }
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
pub fn dispatch(
    instances: &mut [Instance],
    groups: &[Group],
    index: usize,
    event: &Event,
    now: Duration,
) -> Outcome {
    let mut outcome = Outcome::default();
    let Some(inst) = instances.get_mut(index) else {
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

    if let (State::Backup, Event::MasterDown { lower_master_alive }) = (inst.state, event) {
        if let Some(left) = fsm::preempt_hold(inst, *lower_master_alive, now) {
            outcome.push(index, vec![Action::ArmMasterDown(left)]);
            return outcome;
        }
        inst.wants_master_since = Some(now);
        let wait = inst.params.master_down();
        let all_want = others
            .iter()
            .all(|m| instances.get(*m).is_some_and(|o| o.wants_master(now)));
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
            if let Some(member) = instances.get_mut(m) {
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
    let order = match (before, after) {
        (b, State::Fault) if b != State::Fault => Some((Event::SyncFault, "FAULT")),
        (State::Fault, a) if a != State::Fault => {
            // Recovered: the others come back once no member has a fault of its own.
            let own_fault = |i: &Instance| i.faults.iter().any(|f| *f != FaultReason::SyncGroup);
            let blocked = others
                .iter()
                .any(|m| instances.get(*m).is_some_and(own_fault));
            (!blocked).then_some((Event::SyncRecover, "BACKUP"))
        }
        (State::Master, State::Backup) => Some((Event::SyncBackup, "BACKUP")),
        _ => None,
    };
    if let Some((order, name)) = order {
        outcome.log(format!(
            "VRRP_Group({}) Syncing instances to {name} state",
            group.name
        ));
        for m in others {
            if let Some(member) = instances.get_mut(m) {
                let actions = fsm::step(member, &order, now);
                outcome.push(m, actions);
            }
        }
    }
    outcome
}
