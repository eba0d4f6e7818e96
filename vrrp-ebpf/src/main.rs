//! The vrrpd XDP program, attached to every VRRP interface.
//!
//! It validates every VRRP advert (keepalived's checks, IPSEC-AH included), keeps each
//! instance's master-down timer and AH sequence, and drops everything that cannot change
//! state. Only state changes reach userspace, through the `EVENTS` ring buffer. The policy
//! is written once, above [`verdict::verdict`].
//!
//! Modules: [`parse`] (bounds-checked packet access), [`verdict`] (the checks and the
//! decision), [`hmac`] (HMAC-MD5-96 and the predicted-ICV fast path), [`timer`] (master-down
//! timers and the control program), [`diag`] (aya-log lines for rare failures, never per
//! packet).
#![no_std]
#![no_main]
// `atomic_xadd`: `AtomicU64` has no read-modify-write operations on the BPF target.
#![feature(core_intrinsics)]
#![allow(
    internal_features,
    reason = "core::intrinsics::atomic_xadd, for the shared timer's change counter"
)]
// SAFETY (crate-wide): every packet read goes through `parse::ptr_at` /
// `bpf_xdp_load_bytes` with the bounds the verifier also checks, and every map pointer comes
// from a successful lookup.
#![allow(
    unsafe_code,
    reason = "eBPF programs read packet memory and map values through raw pointers"
)]

mod diag;
mod hmac;
mod parse;
mod timer;
mod verdict;

use aya_ebpf::{
    bindings::bpf_timer,
    btf_maps::{Array, HashMap, PerCpuArray, RingBuf},
    macros::{btf_map, xdp},
    programs::XdpContext,
};
use vrrp_common::{
    counters::{self, Counter},
    maps::{
        BPF_F_MMAPABLE, EVENTS_BYTES, Event, InstanceConfig, InstanceKey, MAX_INSTANCES, Runtime,
        TEMPLATE_LEN,
    },
    predict::{BPF_F_NO_PREALLOC, MAX_PREDICTIONS, PredictKey, Prediction},
};

/// Global per-CPU counters, indexed by `vrrp_common::counters::Counter`.
#[btf_map]
static COUNTERS: PerCpuArray<u64, { counters::COUNT as usize }> = PerCpuArray::new();

/// Per-instance per-CPU counters (same indices), by slot.
#[btf_map]
static INSTANCE_COUNTERS: PerCpuArray<[u64; counters::COUNT as usize], { MAX_INSTANCES as usize }> =
    PerCpuArray::new();

/// (ifindex, VLAN id, VRID, family) → slot; an instance may have several keys (aliases on
/// a VLAN's parent, a bond's slaves).
#[btf_map]
static SLOTS: HashMap<InstanceKey, u32, { MAX_INSTANCES as usize }> = HashMap::new();

/// Per-slot configuration, written by the controller.
#[btf_map]
static CONFIG: Array<InstanceConfig, { MAX_INSTANCES as usize }> = Array::new();

/// The kernel's runtime value: the slot's master-down deadline, then what the program
/// learns (`vrrp_common::maps::Runtime`; no `bpf_timer` per slot, see [`timer`]).
pub type RuntimeValue = Runtime;

/// The one master-down `bpf_timer` of the program, armed for the earliest pending deadline
/// of all slots ([`timer`]), with what its writers and its callback coordinate through.
#[repr(C)]
#[derive(Debug)]
pub struct SharedTimer {
    pub timer: bpf_timer,
    /// The deadline the timer was last started for by its callback (0: none pending).
    pub scheduled_ns: u64,
    /// Incremented by every writer that armed a deadline the timer might not cover.
    pub changes: u64,
}

/// The shared master-down timer (one element).
#[btf_map]
static TIMER: Array<SharedTimer, 1> = Array::new();

/// Per-slot runtime, written by this program.
#[btf_map]
static RUNTIME: Array<RuntimeValue, { MAX_INSTANCES as usize }> = Array::new();

/// Per-slot AH sequence counter, shared with the controller's sender (mmapped there).
#[btf_map]
static SEQUENCE: Array<u64, { MAX_INSTANCES as usize }, BPF_F_MMAPABLE> = Array::new();

/// ICVs the controller computed for instances under attack (`vrrp_common::predict`):
/// (slot, sender) → every priority × a few (IP id, AH sequence) pairs. Read only here.
#[btf_map]
static PREDICT: HashMap<PredictKey, Prediction, { MAX_PREDICTIONS as usize }, BPF_F_NO_PREALLOC> =
    HashMap::new();

/// State changes for the controller.
#[btf_map]
static EVENTS: RingBuf<Event, { EVENTS_BYTES as usize }> = RingBuf::new();

/// Per-CPU scratch space: the advert's bytes as the checks and the HMAC read them.
#[btf_map]
static SCRATCH: PerCpuArray<Scratch, 1> = PerCpuArray::new();

/// One packet's IP header, AH and VRRP, copied out of the frame (up to
/// `vrrp_common::maps::MAX_PACKET` bytes), in a buffer sized so that any offset masked to
/// `verdict::MASK_SPAN`, plus a checksum chunk, stays inside it for the verifier.
#[repr(C)]
#[derive(Debug)]
pub struct Scratch {
    pub bytes: [u8; SCRATCH_LEN],
}

pub const SCRATCH_LEN: usize = verdict::MASK_SPAN + verdict::CSUM_CHUNK;
const _: () = assert!(SCRATCH_LEN >= TEMPLATE_LEN + 96);

/// Entry point: one verdict. Frames that are not VRRP or AH are passed after parsing
/// alone, without touching a map.
#[xdp]
pub fn vrrp(ctx: XdpContext) -> u32 {
    verdict::record(verdict::verdict(&ctx))
}

/// Control program: run by the controller with `BPF_PROG_TEST_RUN` to arm or cancel a
/// master-down timer (only BPF programs can start `bpf_timer`s). Never attached to an
/// interface.
#[xdp]
pub fn vrrp_control(ctx: XdpContext) -> u32 {
    timer::control(&ctx)
}

/// Benchmark baseline: passes everything, doing nothing else. `cargo xtask bench xdp`
/// measures the real program against it in the same run. Never attached.
#[xdp]
pub fn vrrp_baseline(_ctx: XdpContext) -> u32 {
    aya_ebpf::bindings::xdp_action::XDP_PASS
}

/// Absorption baseline: drops everything, doing nothing else. `cargo xtask bench flood`
/// attaches it to the flooded interface to compare the rate it drops with the real
/// program's. Never attached by the daemon.
#[xdp]
pub fn vrrp_baseline_drop(_ctx: XdpContext) -> u32 {
    aya_ebpf::bindings::xdp_action::XDP_DROP
}

/// Adds one to global counter `counter`; returns its new value on this CPU (0 if the
/// lookup failed, which an index below `COUNT` never does).
#[inline(always)]
pub fn count(counter: Counter) -> u64 {
    match COUNTERS.get_ptr_mut(counter as u32) {
        // SAFETY: a per-CPU slot from a successful lookup; only this CPU writes it now.
        Some(cell) => unsafe {
            *cell += 1;
            *cell
        },
        None => 0,
    }
}

/// What [`count_instance`] counted: the new values on this CPU (0 where there is no cell).
#[derive(Clone, Copy, Debug)]
pub struct Counted {
    pub global: u64,
    pub instance: u64,
}

/// Adds one to counter `counter` of instance `slot` (and to the global one).
#[inline(always)]
pub fn count_instance(slot: u32, counter: Counter) -> Counted {
    let global = count(counter);
    let mut instance = 0;
    // The index through a volatile round trip, so that `get_mut` keeps its bounds check:
    // LLVM knows every `Counter` is in range and drops it, while the verifier (Linux 6.1),
    // having merged the paths of many drop reasons, no longer knows the value.
    let mut index = counter as usize;
    // SAFETY: a local read back from the stack.
    let index = unsafe {
        core::ptr::write_volatile(&raw mut index, counter as usize);
        core::ptr::read_volatile(&raw const index)
    };
    if let Some(row) = INSTANCE_COUNTERS.get_ptr_mut(slot) {
        // SAFETY: as in `count`; the index is checked against the row by `get_mut`.
        if let Some(cell) = unsafe { (*row).get_mut(index) } {
            *cell += 1;
            instance = *cell;
        }
    }
    Counted { global, instance }
}

/// Submits an event; counts it, or counts it lost when the ring buffer is full (logged
/// rate-limited, see [`diag`]).
#[inline(always)]
pub fn emit(event: Event) {
    match EVENTS.reserve(0) {
        Some(mut entry) => {
            entry.write(event);
            entry.submit(0);
            count_instance(event.slot, Counter::Events);
        }
        None => {
            let lost = count_instance(event.slot, Counter::EventsLost).global;
            if diag::due(lost) {
                diag::vrrp_log_event_lost(event.slot, event.kind, lost);
            }
        }
    }
}

/// Map `map` (a [`diag::map_id`]) refused `slot`: counted `map_errors` (globally: the slot
/// has no row) and logged rate-limited (see [`diag`]).
#[inline(always)]
pub fn map_refused(map: u32, slot: u32) {
    let n = count(Counter::MapErrors);
    if diag::due(n) {
        diag::vrrp_log_map_refused(map, slot, n);
    }
}

#[cfg(not(test))]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    loop {}
}

/// `bpf_timer` and the ring buffer helpers are GPL-only.
#[unsafe(link_section = "license")]
#[unsafe(no_mangle)]
static LICENSE: [u8; 13] = *b"Dual MIT/GPL\0";
