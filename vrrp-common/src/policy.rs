//! What the XDP program does with a valid advert (item 7 of its pass/drop policy), as one
//! pure function: the program calls it, and so does the fake kernel of the conformance
//! scenarios (`vrrp-userspace/tests/scenario.rs`), so both run the same rules. RFC 5798
//! §6.4.2–6.4.3 with keepalived 2.2.7's choices (`vrrp_state_backup`,
//! `vrrp_state_master_rx`):
//!
//! - BACKUP: priority 0 → master-down timer := skew time, PRIORITY_ZERO event. A priority
//!   ≥ ours, or `nopreempt` → timer := master-down interval (and a preempt hold ends). A
//!   lower priority with preemption: without `preempt_delay`, nothing (we take over when
//!   the timer runs out); with it, the first such advert starts a hold of `preempt_delay`
//!   and, while the hold runs, lower adverts are accepted (timer := master-down); once it
//!   has run out they are ignored, so we take over master-down after the last accepted one.
//!   A lower master that dies during the hold is replaced after master-down, not at the
//!   hold's end.
//! - MASTER: priority 0 → PRIORITY_ZERO; a higher priority, or an equal one from a higher
//!   address → HIGHER_PRIORITY; lower (or equal from a lower or our own address) →
//!   LOWER_PRIORITY at most once per advert interval, and the AH sequence counter is moved
//!   past the sender's (keepalived's "Syncing seq_num").
use crate::maps::{event, master_down_ns, skew_ns};

/// The instance that received the advert.
#[derive(Clone, Copy, Debug)]
pub struct Receiver {
    /// MASTER (else BACKUP: the program drops adverts for other states before this).
    pub master: bool,
    pub priority: u8,
    pub version: u8,
    pub preempt: bool,
    /// keepalived's `preempt_delay` (0: none).
    pub preempt_delay_ns: u64,
    /// Our advert interval (the LOWER_PRIORITY rate limit).
    pub interval_cs: u16,
}

/// The valid advert.
#[derive(Clone, Copy, Debug)]
pub struct Advert {
    pub priority: u8,
    /// Its advert interval: a BACKUP times the master by it (VRRPv3 adopts it; VRRPv2
    /// checked it equals ours).
    pub interval_cs: u16,
    /// Its source is higher than our address (RFC 5798 §6.4.3 tie-break).
    pub higher_address: bool,
}

/// What the program remembers between adverts for the decision.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Memory {
    /// End of the running preempt hold (0: none). The caller passes 0 when the hold was
    /// started before the instance last changed state: each entry into BACKUP starts afresh.
    pub hold_until_ns: u64,
    /// When the last LOWER_PRIORITY event was raised (0: never).
    pub lower_event_ns: u64,
}

/// The decision.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decision {
    /// (Re)arm the master-down timer to expire this far from now.
    pub arm_ns: Option<u64>,
    /// The event for the controller (`maps::event`), 0 for none.
    pub event: u32,
    /// Move the AH sequence counter to the advert's sequence + 1.
    pub sync_sequence: bool,
    /// The memory after this advert.
    pub memory: Memory,
}

/// The decision for a valid advert that arrived at `now` (ns, the program's clock).
#[inline(always)]
pub fn decide(me: &Receiver, advert: &Advert, memory: Memory, now: u64) -> Decision {
    let mut d = Decision {
        arm_ns: None,
        event: 0,
        sync_sequence: false,
        memory,
    };
    let master_down = master_down_ns(me.version, me.priority, advert.interval_cs);
    if !me.master {
        if advert.priority == 0 {
            d.arm_ns = Some(skew_ns(me.version, me.priority, advert.interval_cs));
            d.event = event::PRIORITY_ZERO;
        } else if advert.priority >= me.priority || !me.preempt {
            d.arm_ns = Some(master_down);
            d.memory.hold_until_ns = 0;
        } else if me.preempt_delay_ns != 0 {
            if memory.hold_until_ns == 0 {
                // Never 0 (none): the delay is not 0 and the clock does not wrap.
                d.memory.hold_until_ns = now.saturating_add(me.preempt_delay_ns);
                d.arm_ns = Some(master_down);
            } else if now < memory.hold_until_ns {
                d.arm_ns = Some(master_down);
            }
        }
        return d;
    }
    if advert.priority == 0 {
        d.event = event::PRIORITY_ZERO;
    } else if advert.priority > me.priority
        || (advert.priority == me.priority && advert.higher_address)
    {
        d.event = event::HIGHER_PRIORITY;
    } else {
        d.sync_sequence = true;
        let interval_ns = u64::from(me.interval_cs) * 10_000_000;
        if memory.lower_event_ns == 0 || now.wrapping_sub(memory.lower_event_ns) >= interval_ns {
            d.memory.lower_event_ns = now;
            d.event = event::LOWER_PRIORITY;
        }
    }
    d
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: u64 = 1_000_000_000;

    fn backup(priority: u8, delay_s: u64) -> Receiver {
        Receiver {
            master: false,
            priority,
            version: 2,
            preempt: true,
            preempt_delay_ns: delay_s * S,
            interval_cs: 100,
        }
    }

    fn advert(priority: u8) -> Advert {
        Advert {
            priority,
            interval_cs: 100,
            higher_address: false,
        }
    }

    #[test]
    fn a_backup_times_masters_it_accepts_and_leaves_lower_ones_to_expire() {
        let me = backup(150, 0);
        let m = Memory::default();
        let d = decide(&me, &advert(200), m, S);
        assert_eq!(d.arm_ns, Some(master_down_ns(2, 150, 100)));
        assert_eq!(decide(&me, &advert(100), m, S).arm_ns, None);
        let zero = decide(&me, &advert(0), m, S);
        assert_eq!(zero.arm_ns, Some(skew_ns(2, 150, 100)));
        assert_eq!(zero.event, event::PRIORITY_ZERO);
        let nopreempt = Receiver {
            preempt: false,
            ..me
        };
        assert!(decide(&nopreempt, &advert(100), m, S).arm_ns.is_some());
    }

    #[test]
    fn preempt_delay_accepts_a_lower_master_until_the_hold_runs_out() {
        let me = backup(150, 30);
        // The first lower advert starts the hold and is accepted.
        let first = decide(&me, &advert(100), Memory::default(), 10 * S);
        assert!(first.arm_ns.is_some());
        assert_eq!(first.memory.hold_until_ns, 40 * S);
        // Accepted while it runs, without moving its end.
        let during = decide(&me, &advert(100), first.memory, 39 * S);
        assert!(during.arm_ns.is_some());
        assert_eq!(during.memory, first.memory);
        // Ignored from its end on (keepalived: one arriving at the end is already ignored):
        // the timer set by the last accepted one runs out.
        assert_eq!(decide(&me, &advert(100), first.memory, 40 * S).arm_ns, None);
        // A master of our priority or more ends the hold.
        let higher = decide(&me, &advert(150), first.memory, 20 * S);
        assert_eq!(higher.memory.hold_until_ns, 0);
    }

    #[test]
    fn a_master_reports_higher_zero_and_lower_once_per_interval() {
        let me = Receiver {
            master: true,
            ..backup(150, 0)
        };
        let m = Memory::default();
        assert_eq!(
            decide(&me, &advert(200), m, S).event,
            event::HIGHER_PRIORITY
        );
        let tie = Advert {
            higher_address: true,
            ..advert(150)
        };
        assert_eq!(decide(&me, &tie, m, S).event, event::HIGHER_PRIORITY);
        assert_eq!(decide(&me, &advert(0), m, S).event, event::PRIORITY_ZERO);
        let lower = decide(&me, &advert(100), m, S);
        assert_eq!(lower.event, event::LOWER_PRIORITY);
        assert!(lower.sync_sequence);
        let again = decide(&me, &advert(100), lower.memory, S + S / 2);
        assert_eq!(again.event, 0);
        let later = decide(&me, &advert(150), lower.memory, 2 * S);
        assert_eq!(later.event, event::LOWER_PRIORITY);
    }
}
