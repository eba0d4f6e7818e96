//! Master-down timers (a deadline in each slot's runtime value, one `bpf_timer` for all of
//! them, see [`arm`]), the AH sequence counters, and the control program the controller
//! runs to arm or cancel timers.
//!
//! Re-arming on an advert is a store (no helper call) in the common case; it happens only
//! for authenticated, valid adverts, never per flood packet.
use core::{
    ffi::c_void,
    intrinsics::{AtomicOrdering, atomic_xadd},
    ptr::{read_volatile, write_volatile},
};

use aya_ebpf::{
    bindings::{bpf_timer, xdp_action},
    helpers::{
        bpf_ktime_get_ns, bpf_loop, bpf_timer_init, bpf_timer_set_callback, bpf_timer_start,
    },
    programs::XdpContext,
};
use vrrp_common::{
    counters::Counter,
    maps::{CONTROL_MAGIC, Control, Event, KernelState, MAX_INSTANCES, control, event},
};

use crate::{
    CONFIG, RUNTIME, RuntimeValue, SEQUENCE, SharedTimer, TIMER, count, count_instance,
    diag::{self, map_id, timer_step},
    emit, map_refused, parse,
};

const CLOCK_MONOTONIC: u64 = 1;
const EBUSY: i64 = 16;
const ENOENT: i64 = 2;

/// The instance's AH sequence counter.
#[inline(always)]
pub fn sequence(slot: u32) -> u64 {
    SEQUENCE.get(slot).map_or(u64::MAX, |s| {
        // SAFETY: an aligned u64 in an array value; the controller updates it atomically
        // through its mmap, so a volatile read sees a whole value.
        unsafe { read_volatile(s) & 0xffff_ffff }
    })
}

/// Stores the instance's AH sequence counter.
#[inline(always)]
pub fn set_sequence(slot: u32, value: u64) {
    if let Some(s) = SEQUENCE.get_ptr_mut(slot) {
        // SAFETY: as in `sequence`; an aligned 64-bit store is atomic.
        unsafe { write_volatile(s, value & 0xffff_ffff) };
    }
}

/// (Re)arms the slot's master-down timer to fire in `delay_ns`.
///
/// Every slot has a deadline; one `bpf_timer` (in `TIMER`) is armed for the earliest
/// pending one, and its callback ([`master_down`]) reports the slots whose deadline has
/// passed, then re-arms itself for the next. Why one: `bpf_timer_init` allocates kernel
/// memory with `kmalloc_nolock`, which cannot take a page for a new slab on some kernels
/// (a lazily initialised memory map, `deferred_init=lazy`, keeps the page allocator's
/// lockless path off): a timer per slot then fails with ENOMEM once the slab's free
/// objects, shared by every BPF program on the host, run out.
///
/// An advert that pushes a pending deadline later (the common case, once per advert) only
/// stores it: the timer fires no later than needed (at the old one or before), and the
/// callback re-arms for the new one. A deadline that is new or earlier bumps `changes` and, unless the timer is already
/// due first, starts it to fire now: the callback then computes the earliest deadline.
/// Writers never start it for a later time, so concurrent writers cannot undo each other;
/// the callback re-runs when a writer raced its scan (`changes` moved).
#[inline(always)]
pub fn arm(slot: u32, rt: *mut RuntimeValue, delay_ns: u64) -> Result<(), (u32, i64)> {
    let Some(shared) = TIMER.get_ptr_mut(0) else {
        timer_failed(slot, timer_step::INIT, -ENOENT);
        return Err((timer_step::INIT, -ENOENT));
    };
    // SAFETY: `bpf_ktime_get_ns` has no preconditions.
    let now = unsafe { bpf_ktime_get_ns() };
    let deadline = now.saturating_add(delay_ns).max(1);
    // SAFETY: `rt` and `shared` come from successful lookups; aligned 64-bit accesses are
    // atomic, and the callback reads the fields the same way.
    let covered = unsafe {
        let scheduled = read_volatile(&raw const (*shared).scheduled_ns);
        let old = read_volatile(&raw const (*rt).master_down.deadline_ns);
        let fired = read_volatile(&raw const (*rt).master_down.fired_ns);
        write_volatile(&raw mut (*rt).master_down.deadline_ns, deadline);
        // The old deadline was pending and the timer fires no later than it: so it fires
        // no later than the new one either. (A deadline whose start failed is not
        // covered: the next advert tries again, and counts again.)
        old != 0 && old != fired && deadline >= old && scheduled != 0 && old >= scheduled
    };
    if covered {
        return Ok(());
    }
    // SAFETY: a value of TIMER from a successful lookup. The atomic add orders the
    // deadline's store before the read of `scheduled_ns` (the callback's side of it is in
    // `master_down`).
    let scheduled = unsafe {
        atomic_add(&raw mut (*shared).changes, 1);
        read_volatile(&raw const (*shared).scheduled_ns)
    };
    if scheduled != 0 && deadline >= scheduled {
        return Ok(());
    }
    start(shared, 0).inspect_err(|&(step, code)| timer_failed(slot, step, code))
}

/// Adds `value` to `*dst` atomically (a BPF atomic add whose result is unused, so any BPF
/// CPU version has it; the x86 JIT emits a `lock` instruction, a full barrier).
///
/// # Safety
/// `dst` is a valid, aligned pointer into a map value.
#[inline(always)]
unsafe fn atomic_add(dst: *mut u64, value: u64) {
    // SAFETY: the caller's pointer.
    unsafe { atomic_xadd::<u64, u64, { AtomicOrdering::SeqCst }>(dst, value) };
}

/// Stops `slot`'s master-down timer: its deadline is forgotten (the shared timer, if it
/// fires for it, finds nothing to do).
#[inline(always)]
pub fn cancel(rt: *mut RuntimeValue) {
    // SAFETY: `rt` comes from a successful lookup in RUNTIME.
    unsafe { write_volatile(&raw mut (*rt).master_down.deadline_ns, 0) };
}

/// Initialises the shared timer if needed (`bpf_timer_init` returns EBUSY once it is), and
/// starts it to fire in `delay_ns`. Fails with the helper and its negative errno.
#[inline(always)]
fn start(shared: *mut SharedTimer, delay_ns: u64) -> Result<(), (u32, i64)> {
    // SAFETY: `shared` comes from a successful lookup in TIMER.
    let timer: *mut bpf_timer = unsafe { &raw mut (*shared).timer };
    let map = core::ptr::from_ref(&TIMER).cast_mut().cast::<c_void>();
    // SAFETY: the timer lives in a TIMER value and `map` is TIMER, as the helper needs.
    let init = unsafe { bpf_timer_init(timer, map, CLOCK_MONOTONIC) };
    if init != 0 && init != -EBUSY {
        return Err((timer_step::INIT, init));
    }
    // Every time: the callback belongs to the program that set it last, and a start
    // without one fails (EINVAL). This runs only for new or earlier deadlines.
    let callback = master_down as *const () as *mut c_void;
    // SAFETY: an initialised timer and a static callback function.
    unsafe { bpf_timer_set_callback(timer, callback) };
    // SAFETY: an initialised timer.
    let started = unsafe { bpf_timer_start(timer, delay_ns, 0) };
    if started != 0 {
        return Err((timer_step::START, started));
    }
    Ok(())
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

/// A failure of the shared timer that no slot caused (initialising it for the controller,
/// re-arming it in its callback): counted in the global `timer_errors` only.
#[inline(always)]
fn shared_timer_failed(step: u32, code: i64) {
    let n = count(Counter::TimerErrors);
    if diag::due(n) {
        diag::vrrp_log_timer_error(diag::SHARED_TIMER, step, code, n);
    }
}

/// What [`scan_slot`] carries from slot to slot.
#[repr(C)]
struct Scan {
    now: u64,
    /// The earliest pending deadline after `now` (0: none).
    next: u64,
}

/// One slot of the callback's scan (a `bpf_loop` body): reports a passed deadline once
/// (MASTER_DOWN, to a BACKUP only), or keeps the earliest pending one.
extern "C" fn scan_slot(slot: u32, ctx: *mut c_void) -> i64 {
    let scan = ctx.cast::<Scan>();
    let Some(rt) = RUNTIME.get_ptr_mut(slot) else {
        return 1;
    };
    // SAFETY: `rt` from a successful lookup; `scan` is the callback's stack value.
    unsafe {
        let deadline = read_volatile(&raw const (*rt).master_down.deadline_ns);
        if deadline == 0 || deadline == read_volatile(&raw const (*rt).master_down.fired_ns) {
            return 0;
        }
        if deadline > (*scan).now {
            if (*scan).next == 0 || deadline < (*scan).next {
                (*scan).next = deadline;
            }
            return 0;
        }
        write_volatile(&raw mut (*rt).master_down.fired_ns, deadline);
    }
    let Some(cfg) = CONFIG.get(slot) else {
        return 0;
    };
    if cfg.state == KernelState::BACKUP {
        emit(Event {
            kind: event::MASTER_DOWN,
            slot,
            key: cfg.key,
            // SAFETY: as above.
            timestamp_ns: unsafe { (*scan).now },
            source: [0; 16],
            sequence: 0,
            priority: 0,
            _pad: [0; 3],
        });
    }
    0
}

/// Timer callback: reports every slot whose master went silent, then re-arms for the
/// earliest pending deadline. A writer that armed a deadline while this ran (`changes`
/// moved) may have been missed: then the timer is started to fire again at once.
extern "C" fn master_down(_map: *mut c_void, _key: *mut u32, shared: *mut SharedTimer) -> i32 {
    // SAFETY: the kernel passes the TIMER value whose timer fired.
    let before = unsafe { read_volatile(&raw const (*shared).changes) };
    let mut scan = Scan {
        // SAFETY: no preconditions.
        now: unsafe { bpf_ktime_get_ns() },
        next: 0,
    };
    let body = scan_slot as *const () as *mut c_void;
    // SAFETY: a static loop body and a pointer to this frame's `scan`.
    unsafe { bpf_loop(MAX_INSTANCES, body, (&raw mut scan).cast::<c_void>(), 0) };
    // SAFETY: as above. The atomic add (of 0, a full barrier) orders the store before the
    // read of `changes`; writers add to `changes`, then read `scheduled_ns`: a writer
    // either sees the new schedule or is seen here.
    let after = unsafe {
        write_volatile(&raw mut (*shared).scheduled_ns, scan.next);
        atomic_add(&raw mut (*shared).changes, 0);
        read_volatile(&raw const (*shared).changes)
    };
    let delay = if after != before {
        Some(0)
    } else if scan.next != 0 {
        // SAFETY: no preconditions.
        Some(scan.next.saturating_sub(unsafe { bpf_ktime_get_ns() }))
    } else {
        None
    };
    if let Some(delay) = delay {
        // SAFETY: the timer that is running, initialised with its callback set.
        let started = unsafe { bpf_timer_start(&raw mut (*shared).timer, delay, 0) };
        if started != 0 {
            // SAFETY: as above. Nothing is scheduled: writers start the timer themselves.
            unsafe { write_volatile(&raw mut (*shared).scheduled_ns, 0) };
            shared_timer_failed(timer_step::START, started);
        }
    }
    0
}

/// The control program's body: one [`Control`] command in the test-run frame.
/// Returns `XDP_PASS` when done, `XDP_DROP` when the command is invalid, and
/// [`control::refused`]`(step, errno)` when a timer helper failed.
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
    match command.op {
        control::ARM => match arm(command.slot, rt, command.delay_ns) {
            Ok(()) => xdp_action::XDP_PASS,
            Err((step, code)) => control::refused(step, code),
        },
        control::CANCEL => {
            cancel(rt);
            xdp_action::XDP_PASS
        }
        // Initialised and set to fire at once: the callback finds what is pending.
        control::INIT => match TIMER.get_ptr_mut(0).map(|shared| start(shared, 0)) {
            Some(Ok(())) => xdp_action::XDP_PASS,
            Some(Err((step, code))) => {
                shared_timer_failed(step, code);
                control::refused(step, code)
            }
            None => control::refused(timer_step::INIT, -ENOENT),
        },
        _ => xdp_action::XDP_DROP,
    }
}
