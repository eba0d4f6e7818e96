//! The vrrpd XDP program, attached to every VRRP interface.
//!
//! At this stage it classifies frames and counts them; it passes everything. The full
//! advert filter (validation, AH, timers, events) builds on these parsing helpers.
#![no_std]
#![no_main]
// SAFETY (crate-wide): eBPF programs read packet memory through raw pointers; every read
// goes through `parse::ptr_at`, which checks the bounds the verifier also checks.
#![allow(unsafe_code)]

mod parse;

use aya_ebpf::{
    bindings::xdp_action, btf_maps::PerCpuArray, macros::btf_map, macros::xdp, programs::XdpContext,
};
use vrrp_common::counters;

use crate::parse::{Class, classify};

/// Global per-CPU counters, indexed by `vrrp_common::counters`.
#[btf_map]
static COUNTERS: PerCpuArray<u64, { counters::COUNT as usize }> = PerCpuArray::new();

/// Entry point: classify, count, pass.
///
/// Policy at this stage: every frame is passed (`XDP_PASS`) untouched.
#[xdp]
pub fn vrrp(ctx: XdpContext) -> u32 {
    count(counters::FRAMES);
    match classify(&ctx) {
        Ok(Class::Ipv4Vrrp) => count(counters::IPV4_VRRP),
        Ok(Class::Ipv4Ah) => count(counters::IPV4_AH),
        Ok(Class::Ipv6Vrrp) => count(counters::IPV6_VRRP),
        Ok(Class::Fragment) => count(counters::FRAGMENTS),
        Ok(Class::Other) => {}
        Err(parse::Truncated) => count(counters::TRUNCATED),
    }
    xdp_action::XDP_PASS
}

#[inline(always)]
fn count(index: u32) {
    if let Some(slot) = COUNTERS.get_ptr_mut(index) {
        // SAFETY: the pointer comes from a successful per-CPU array lookup; the slot belongs
        // to this CPU and nothing else writes it while the program runs.
        unsafe { *slot += 1 };
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
