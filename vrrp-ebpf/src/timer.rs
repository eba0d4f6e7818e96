//! Master-down timers (`bpf_timer` in each slot's runtime value), the AH sequence counters,
//! and the control program the controller runs to arm or cancel timers.
//!
//! Re-arming costs a helper call (~90 ns): it happens only for authenticated, valid
//! adverts, never per flood packet.
use core::ffi::c_void;

use aya_ebpf::{
    bindings::{bpf_timer, xdp_action},
    helpers::{bpf_timer_cancel, bpf_timer_init, bpf_timer_set_callback, bpf_timer_start},
    programs::XdpContext,
};
use vrrp_common::{
    counters::Counter,
    maps::{CONTROL_MAGIC, Control, Event, KernelState, control, event},
};

use crate::{
    CONFIG, RUNTIME, RuntimeValue, SEQUENCE, count_instance,
    diag::{self, map_id, timer_step},
    emit, map_refused, parse,
};

const CLOCK_MONOTONIC: u64 = 1;
const EBUSY: i64 = 16;

/// The instance's AH sequence counter.
#[inline(always)]
pub fn sequence(slot: u32) -> u64 {
    SEQUENCE.get(slot).map_or(u64::MAX, |s| {
        // SAFETY: an aligned u64 in an array value; the controller updates it atomically
        // through its mmap, so a volatile read sees a whole value.
        unsafe { core::ptr::read_volatile(s) & 0xffff_ffff }
    })
}

/// Stores the instance's AH sequence counter.
#[inline(always)]
pub fn set_sequence(slot: u32, value: u64) {
    if let Some(s) = SEQUENCE.get_ptr_mut(slot) {
        // SAFETY: as in `sequence`; an aligned 64-bit store is atomic.
        unsafe { core::ptr::write_volatile(s, value & 0xffff_ffff) };
    }
}

/// (Re)arms the slot's master-down timer to fire in `delay_ns`.
#[inline(always)]
pub fn arm(slot: u32, rt: *mut RuntimeValue, delay_ns: u64) -> bool {
    // SAFETY: `rt` comes from a successful lookup in RUNTIME, whose values hold the timer.
    let timer: *mut bpf_timer = unsafe { &raw mut (*rt).timer };
    let map = core::ptr::from_ref(&RUNTIME).cast_mut().cast::<c_void>();
    // SAFETY: the timer lives in a RUNTIME value and `map` is RUNTIME, as the helper needs.
    let init = unsafe { bpf_timer_init(timer, map, CLOCK_MONOTONIC) };
    if init != 0 && init != -EBUSY {
        timer_failed(slot, timer_step::INIT, init);
        return false;
    }
    // Every time, not only after the first init: cancelling a bpf_timer drops its
    // callback, and a start without one fails (EINVAL).
    let callback = master_down as *const () as *mut c_void;
    // SAFETY: an initialised timer and a static callback function.
    unsafe { bpf_timer_set_callback(timer, callback) };
    // SAFETY: an initialised timer.
    let start = unsafe { bpf_timer_start(timer, delay_ns, 0) };
    if start != 0 {
        timer_failed(slot, timer_step::START, start);
        return false;
    }
    true
}

/// Counts a timer helper's failure (`timer_errors`) and logs it rate-limited per slot:
/// adverts re-arm the timer, so a persistent failure would otherwise log per advert.
#[inline(always)]
fn timer_failed(slot: u32, step: u32, code: i64) {
    let n = count_instance(slot, Counter::TimerErrors).instance;
    if diag::due(n) {
        diag::vrrp_log_timer_error(slot, step, code, n);
    }
}

/// Timer callback: the master went silent. Only a BACKUP cares.
extern "C" fn master_down(_map: *mut c_void, key: *mut u32, _value: *mut RuntimeValue) -> i32 {
    // SAFETY: the kernel passes the key of the element whose timer fired.
    let slot = unsafe { *key };
    let Some(cfg) = CONFIG.get(slot) else {
        return 0;
    };
    if cfg.state == KernelState::BACKUP {
        emit(Event {
            kind: event::MASTER_DOWN,
            slot,
            key: cfg.key,
            // SAFETY: no preconditions.
            timestamp_ns: unsafe { aya_ebpf::helpers::bpf_ktime_get_ns() },
            source: [0; 16],
            sequence: 0,
            priority: 0,
            _pad: [0; 3],
        });
    }
    0
}

/// The control program's body: one [`Control`] command in the test-run frame.
/// Returns `XDP_PASS` when done, `XDP_DROP` when refused.
#[inline(always)]
pub fn control(ctx: &XdpContext) -> u32 {
    let Ok(command) = parse::read::<Control>(ctx, 0) else {
        return xdp_action::XDP_DROP;
    };
    if command.magic != CONTROL_MAGIC {
        return xdp_action::XDP_DROP;
    }
    let Some(rt) = RUNTIME.get_ptr_mut(command.slot) else {
        map_refused(map_id::RUNTIME, command.slot);
        return xdp_action::XDP_DROP;
    };
    let done = match command.op {
        control::ARM => arm(command.slot, rt, command.delay_ns),
        control::CANCEL => {
            // SAFETY: a timer in a RUNTIME value; cancelling an unarmed or uninitialised
            // timer is harmless (the helper returns an error we ignore).
            unsafe { bpf_timer_cancel(&raw mut (*rt).timer) };
            true
        }
        _ => false,
    };
    if done {
        xdp_action::XDP_PASS
    } else {
        xdp_action::XDP_DROP
    }
}
