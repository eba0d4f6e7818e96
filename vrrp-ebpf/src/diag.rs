//! Rare kernel-side diagnostics, through aya-log into the daemon's log: a master-down timer
//! that failed to initialise or start, an event lost to a full ring buffer, a slot a map
//! refused. Never per packet (STYLE 13):
//!
//! - each message sits behind a counter the condition increments anyway, and is written
//!   only when that counter (this CPU's slot of it) reaches 1, 2, 4, 8, ... ([`due`]). A
//!   condition that repeats on every packet of a flood (a full ring buffer under a storm
//!   of higher-priority adverts, a bad slot hit by every advert) therefore logs about 64
//!   lines per CPU over the counter's whole life, the first one at once; the counters
//!   themselves give the exact totals. Per CPU, because the counters are per CPU: a shared
//!   "last logged" word would need atomics on the path that is already failing;
//! - the test happens at the call site, so a frame that does not log pays one compare,
//!   and the logging code itself sits in the global functions below, each verified once
//!   by the kernel whatever the number of call sites.
//!
//! The program performs no map update through a helper (`bpf_map_update_elem`): every
//! write goes through a pointer from a successful lookup and cannot be refused. What a map
//! can refuse is the lookup of a slot beyond its size ([`map_refused`]).
use aya_log_ebpf::{error, warn};

/// Whether the `n`th occurrence of a condition (this CPU's count, starting at 1) is logged:
/// the first one, then each power of two.
#[inline(always)]
pub fn due(n: u64) -> bool {
    n != 0 && n & (n - 1) == 0
}

/// Which timer helper failed.
pub mod timer_step {
    pub use vrrp_common::maps::control::{STEP_INIT as INIT, STEP_START as START};
}

/// The "slot" of a failure of the shared timer itself (initialising it, re-arming it in
/// its callback), which no slot caused.
pub const SHARED_TIMER: u32 = u32::MAX;

/// Maps whose refusal [`map_refused`] reports.
pub mod map_id {
    pub const CONFIG: u32 = 0;
    pub const RUNTIME: u32 = 1;
}

/// A master-down timer of `slot` failed: `bpf_timer_init` or `bpf_timer_start`
/// ([`timer_step`]) returned `code` (a negative errno); `count` is the slot's
/// `timer_errors` on this CPU (the global one for [`SHARED_TIMER`]). A BPF global
/// function: verified once.
#[unsafe(no_mangle)]
#[inline(never)]
pub extern "C" fn vrrp_log_timer_error(slot: u32, step: u32, code: i64, count: u64) -> i32 {
    let helper = if step == timer_step::INIT {
        "bpf_timer_init"
    } else {
        "bpf_timer_start"
    };
    if slot == SHARED_TIMER {
        error!(
            &(),
            "shared master-down timer not armed: {} returned {} (timer_errors on this CPU: {})",
            helper,
            code,
            count
        );
    } else {
        error!(
            &(),
            "slot {}: master-down timer not armed: {} returned {} (timer_errors of the slot on this CPU: {})",
            slot,
            helper,
            code,
            count
        );
    }
    0
}

/// The event ring buffer was full: event `kind` of `slot` was lost; `lost` is the global
/// `events_lost` on this CPU. A BPF global function: verified once.
#[unsafe(no_mangle)]
#[inline(never)]
pub extern "C" fn vrrp_log_event_lost(slot: u32, kind: u32, lost: u64) -> i32 {
    warn!(
        &(),
        "event ring buffer full: event {} of slot {} lost (events_lost on this CPU: {}); the daemon resynchronises from the maps",
        kind,
        slot,
        lost
    );
    0
}

/// Map `map` ([`map_id`]) refused `slot`; `count` is the global `map_errors` on this CPU.
/// A BPF global function: verified once.
#[unsafe(no_mangle)]
#[inline(never)]
pub extern "C" fn vrrp_log_map_refused(map: u32, slot: u32, count: u64) -> i32 {
    let name = if map == map_id::CONFIG {
        "CONFIG"
    } else {
        "RUNTIME"
    };
    error!(
        &(),
        "map {} refused slot {} (beyond its size; map_errors on this CPU: {})", name, slot, count
    );
    0
}
