//! The settings keepalived derives from one another, applied once for both file formats
//! the way keepalived 2.2.7 does in `vrrp_complete_instance` (keepalived/vrrp/vrrp.c), in
//! its order, with its warnings:
//!
//! 1. no `priority`: 255 with `state MASTER`, else 100;
//! 2. no `state`: MASTER at priority 255, else BACKUP;
//! 3. AH with `state MASTER` below 255: treated as BACKUP (the peers' AH sequence numbers
//!    must be learnt first);
//! 4. `nopreempt` at priority 255: cleared;
//! 5. `state MASTER` (after 3): `nopreempt` and `preempt_delay` cleared;
//! 6. `preempt_delay` with `nopreempt` (after 4 and 5): cleared.
//!
//! Before these, as keepalived does first: an instance whose virtual addresses are IPv6 and
//! which does not write its `version` is VRRPv3 (whatever the global default); and virtual
//! addresses beyond the 255 an advert can carry move to the excluded ones (held as MASTER,
//! not advertised), with keepalived's warning.
//!
//! Each warning is keepalived's text, prefixed with the instance's name as keepalived
//! does, and points at the setting it clears.
use super::{
    diag::{Diagnostic, Item, Sites},
    model::{AuthKind, InitialState, Instance, Priority, Seconds, Version},
};

/// The most addresses an advert carries: its count field is one byte (RFC 5798 §5.2.5).
pub const MAX_ADVERTISED: usize = 255;

/// What a file wrote of the settings keepalived derives from each other (`None`: not
/// written), before [`complete`] fills them in.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Written {
    pub priority: Option<Priority>,
    pub state: Option<InitialState>,
    pub version: Option<Version>,
}

/// Sets `instance`'s priority and state from `written`, and clears the preempt settings
/// that cannot apply; returns the warnings, located with `sites`.
pub fn complete(instance: &mut Instance, written: Written, sites: &Sites) -> Vec<Diagnostic> {
    let mut warnings = Vec::new();
    let name = instance.name.clone();
    let mut warn = |field: &str, message: String, help: &str| {
        let warning = Diagnostic::warning(message, sites.get(Item::Instance, &name, field));
        warnings.push(if help.is_empty() {
            warning
        } else {
            warning.with_help(help)
        });
    };

    // keepalived's vrrp_complete_instance: the family decides an unwritten version.
    if written.version.is_none()
        && instance
            .virtual_addresses
            .first()
            .is_some_and(|v| v.address.is_ipv6())
    {
        instance.version = Version::V3;
    }
    let count = instance.virtual_addresses.len();
    if count > MAX_ADVERTISED {
        warn(
            "virtual_addresses",
            format!(
                "({name}) Number of VIPs ({count}) exceeds maximum/space available in packet (max {MAX_ADVERTISED} addresses) - excess moved to eVIPs"
            ),
            "they are added and removed with the others, but not advertised",
        );
        let excess = instance.virtual_addresses.split_off(MAX_ADVERTISED);
        // After the written excluded ones, as keepalived appends them.
        instance.virtual_addresses_excluded.extend(excess);
    }

    instance.priority = written.priority.unwrap_or(match written.state {
        Some(InitialState::Master) => Priority::OWNER,
        _ => Priority::DEFAULT,
    });
    instance.state = written
        .state
        .unwrap_or(if instance.priority == Priority::OWNER {
            InitialState::Master
        } else {
            InitialState::Backup
        });

    let mut wants_master = instance.state == InitialState::Master;
    let ah = instance
        .authentication
        .as_ref()
        .is_some_and(|a| a.kind == AuthKind::Ah);
    if ah && wants_master && instance.priority < Priority::OWNER {
        // The model keeps `state: MASTER` as written; `Instance::start_state` makes it
        // BACKUP. Only the preempt rules below need to see keepalived's cleared state.
        warn(
            "state",
            format!(
                "({name}) Initial state master is incompatible with AH authentication - clearing (it starts as BACKUP, as keepalived does: it must learn the peers' AH sequence numbers first; priority {} < 255)",
                instance.priority.get()
            ),
            "",
        );
        wants_master = false;
    }
    if instance.priority == Priority::OWNER && !instance.preempt {
        warn(
            "preempt",
            format!("({name}) nopreempt is incompatible with priority 255. resetting nopreempt"),
            "the address owner (priority 255) always takes over; remove nopreempt",
        );
        instance.preempt = true;
    }
    if wants_master {
        if !instance.preempt {
            warn(
                "preempt",
                format!(
                    "({name}) Warning - nopreempt will not work with initial state MASTER - clearing"
                ),
                "nopreempt only works with state BACKUP",
            );
            instance.preempt = true;
        }
        if instance.preempt_delay != Seconds::default() {
            warn(
                "preempt_delay",
                format!(
                    "({name}) Warning - preempt delay will not work with initial state MASTER - clearing"
                ),
                "preempt_delay needs state BACKUP",
            );
            instance.preempt_delay = Seconds::default();
        }
    }
    if instance.preempt_delay != Seconds::default() && !instance.preempt {
        warn(
            "preempt_delay",
            format!("({name}) preempt_delay is incompatible with nopreempt mode - resetting"),
            "an instance that never preempts has nothing to delay",
        );
        instance.preempt_delay = Seconds::default();
    }
    warnings
}
