//! The checks and the decision for one frame.
use aya_ebpf::{
    EbpfContext as _,
    bindings::xdp_action,
    helpers::{bpf_csum_diff, bpf_ktime_get_ns, bpf_xdp_load_bytes},
    programs::XdpContext,
};
use vrrp_common::{
    counters::Counter,
    maps::{
        AuthType, Event, InstanceConfig, InstanceKey, KernelState, Learned, MAX_ADVERT_ADDRESSES,
        MAX_PACKET, TEMPLATE_LEN, address_term, family,
    },
    policy,
    predict::PredictKey,
};

use crate::{
    CONFIG, PREDICT, RUNTIME, SCRATCH, SCRATCH_LEN, SLOTS, Scratch, count, count_instance,
    diag::map_id,
    emit, hmac, map_refused,
    parse::{self, Class, Drop, Headers},
    timer,
};

/// What happened to a frame that was not dropped for a reason.
pub enum Verdict {
    /// Not an advert of ours: passed to the stack untouched.
    Pass,
    /// A valid advert of instance `slot`: used, then dropped (nothing else wants it).
    Consumed { slot: u32 },
}

/// A drop, with the instance when one was found.
pub struct Rejected {
    pub slot: Option<u32>,
    pub reason: Counter,
}

impl From<Drop> for Rejected {
    fn from(drop: Drop) -> Self {
        Self {
            slot: None,
            reason: drop.0,
        }
    }
}

/// Counts the outcome and turns it into an XDP action.
#[inline(always)]
pub fn record(outcome: Result<Verdict, Rejected>) -> u32 {
    match outcome {
        Ok(Verdict::Pass) => xdp_action::XDP_PASS,
        Ok(Verdict::Consumed { slot }) => {
            count_instance(slot, Counter::Valid);
            xdp_action::XDP_DROP
        }
        Err(Rejected {
            slot: Some(slot),
            reason,
        }) => {
            count_instance(slot, reason);
            xdp_action::XDP_DROP
        }
        Err(Rejected { slot: None, reason }) => {
            count(reason);
            xdp_action::XDP_DROP
        }
    }
}

/// The pass/drop policy. Each line has a row in `tests/tests/xdp_policy.rs`.
///
/// 1. A frame that is not IPv4/IPv6 carrying VRRP (112), or AH (51) in front of VRRP,
///    passes untouched; so does a frame too short to show its protocol.
/// 2. An IPv4 fragment passes untouched (counted `fragments`).
/// 3. A VRRP/AH frame shorter than its headers announce: drop `truncated`; an IPv4 header
///    length or checksum that is wrong: drop `bad_ip_header`.
/// 4. No instance for (ingress interface, VLAN id, VRID, family): an untagged (or
///    priority-tagged) advert is dropped `unknown_vrid`; a tagged one passes untouched (it
///    belongs to a VLAN device of this interface, whose own program or the stack takes it).
/// 5. The instance is INIT or FAULT: drop `not_participating`.
/// 6. keepalived's checks, in its order, the first failure counted: `auth_mismatch` (AH
///    present iff the instance uses AH), `bad_length`, `bad_ttl` (not 255), `bad_version`,
///    `bad_auth_type`, `bad_password` (PASS), `bad_spi` and `replay` (AH: SPI = source,
///    sequence > the instance's counter), `bad_interval` (VRRPv2), `bad_type`,
///    `bad_address_count`, `bad_checksum`, `bad_address_list`; then the AH ICV, last
///    because it is the only expensive check: `hmac_budget` (see [`hmac`]), `bad_icv`.
/// 7. A valid advert is consumed (dropped after use) and decided by
///    `vrrp_common::policy::decide` (RFC 5798 §6.4.2–6.4.3 with keepalived's choices,
///    `preempt_delay` included; the rules are written there once, and the conformance
///    scenarios' fake kernel calls the same function).
/// 8. A master-down timer that expires while the instance is BACKUP: MASTER_DOWN event.
///    Nothing else reaches userspace.
#[inline(always)]
pub fn verdict(ctx: &XdpContext) -> Result<Verdict, Rejected> {
    let headers = match parse::classify(ctx)? {
        Class::Other => return Ok(Verdict::Pass),
        Class::Fragment => {
            count(Counter::Fragments);
            return Ok(Verdict::Pass);
        }
        Class::Advert(headers) => headers,
    };
    // SAFETY: `ctx.ctx` is the program's context pointer for the whole run.
    let ifindex = unsafe { (*ctx.ctx).ingress_ifindex };
    let key = InstanceKey {
        ifindex,
        vrid: headers.vrid,
        family: headers.family,
        vlan: headers.vlan,
    };
    // SAFETY: the value is copied out at once; the controller may update the hash later.
    let Some(slot) = (unsafe { SLOTS.get(key) }).copied() else {
        if headers.vlan != 0 {
            return Ok(Verdict::Pass);
        }
        return Err(Drop(Counter::UnknownVrid).into());
    };
    let reject = |reason| Rejected {
        slot: Some(slot),
        reason,
    };
    let Some(cfg) = CONFIG.get(slot) else {
        // The SLOTS hash names a slot beyond the arrays.
        map_refused(map_id::CONFIG, slot);
        return Err(reject(Counter::UnknownVrid));
    };
    if cfg.state != KernelState::BACKUP && cfg.state != KernelState::MASTER {
        return Err(reject(Counter::NotParticipating));
    }
    if headers.ah {
        ah_gate(ctx, &headers, cfg, slot).map_err(|d| reject(d.0))?;
    }
    let Some(scratch) = SCRATCH.get_ptr_mut(0) else {
        return Err(reject(Counter::UnknownVrid));
    };
    let mut index_slot = Slot::new();
    let buf = Buf::scratch(scratch, &mut index_slot);
    let advert = check(ctx, &headers, cfg, slot, buf).map_err(|d| reject(d.0))?;
    vrrp_decide(cfg, &advert, slot, u32::from(headers.ah));
    Ok(Verdict::Consumed { slot })
}

/// The AH checks that need no copy of the packet, run first so that a flood of replays or
/// forgeries costs a few reads each: SPI = source, sequence above the counter, and — for
/// an advert that matches no prediction, neither the kernel's nor a column of the
/// controller's table — the HMAC budget. (keepalived checks the ICV
/// first; the order only changes which counter a bad packet lands in.) The other checks
/// run on the copy for adverts that pass.
#[inline(always)]
fn ah_gate(ctx: &XdpContext, h: &Headers, cfg: &InstanceConfig, slot: u32) -> Result<(), Drop> {
    let a = h.ip_off + h.ip_len;
    let source = parse::read::<[u8; 4]>(ctx, h.ip_off + 12)?;
    let [spi, sequence] = parse::read::<[[u8; 4]; 2]>(ctx, a + 4)?;
    if spi != source {
        return Err(Drop(Counter::BadSpi));
    }
    let sequence = u32::from_be_bytes(sequence);
    if u64::from(sequence) <= timer::sequence(slot) {
        return Err(Drop(Counter::Replay));
    }
    let Some(rt) = RUNTIME.get(slot) else {
        return Ok(());
    };
    let learned = &rt.learned;
    let candidate = learned.predicted_sequence != 0
        && sequence.wrapping_sub(learned.predicted_sequence) <= 2
        && learned.master_address[..4] == source;
    if !candidate && learned.budget_used >= cfg.hmac_budget {
        // SAFETY: no preconditions.
        let now = unsafe { bpf_ktime_get_ns() };
        let interval_ns = u64::from(cfg.advert_interval_cs) * 10_000_000;
        if now.wrapping_sub(learned.budget_epoch_ns) < interval_ns {
            // A sender the controller predicts for is checked against its table instead,
            // but only in a column the table lists: any other (IP id, sequence) could
            // only be verified by an HMAC, and there is none left.
            let id = u16::from_be_bytes(parse::read::<[u8; 2]>(ctx, h.ip_off + 4)?);
            if !listed(PredictKey { slot, source }, sequence, id) {
                return Err(Drop(Counter::HmacBudget));
            }
        }
    }
    Ok(())
}

/// Whether the controller's table for `key` has a column for (`sequence`, `id`).
#[inline(always)]
fn listed(key: PredictKey, sequence: u32, id: u16) -> bool {
    let Some(p) = PREDICT.get_ptr(key) else {
        return false;
    };
    // SAFETY: a successful lookup; the controller replaces whole entries.
    let columns = unsafe { &(*p).columns };
    let mut found = false;
    let mut c = 0;
    while c < columns.len() {
        found |= columns[c].sequence == sequence && columns[c].id == id;
        c += 1;
    }
    found
}

/// The fields of a valid advert the decision needs.
#[repr(C)]
pub struct Advert {
    source: [u8; 16],
    /// AH sequence (0 without AH).
    sequence: u32,
    interval_cs: u16,
    priority: u8,
    _pad: u8,
}

/// `N` bytes of map memory (the per-CPU scratch buffer, or an instance's template), every
/// access bounds-checked against `N` so the verifier can follow it.
///
/// `slot` is one stack word shared by every access made through buffers built from the
/// same [`Slot`] (see [`index`]).
#[derive(Clone, Copy)]
pub struct Buf<const N: usize = SCRATCH_LEN> {
    bytes: *mut u8,
    slot: *mut usize,
}

/// The stack word [`index`] round-trips clamped offsets through: one per BPF function,
/// instead of one per inlined access (which exhausted the 512-byte stack).
pub struct Slot(usize);

impl Slot {
    pub fn new() -> Self {
        Slot(0)
    }
}

impl Buf {
    /// The per-CPU scratch buffer.
    #[inline(always)]
    pub fn scratch(scratch: *mut Scratch, slot: &mut Slot) -> Self {
        // SAFETY: the pointer comes from a successful per-CPU array lookup.
        Buf {
            bytes: unsafe { (*scratch).bytes.as_mut_ptr() },
            slot: &raw mut slot.0,
        }
    }

    /// This buffer's scratch struct, for the global functions that take it.
    #[inline(always)]
    pub fn scratch_ptr(self) -> *mut Scratch {
        self.bytes.cast()
    }
}

impl Buf<TEMPLATE_LEN> {
    /// `TEMPLATE_LEN` bytes of map memory at `bytes` (a prediction's template), to read.
    #[inline(always)]
    pub fn raw(bytes: *const u8, slot: &mut Slot) -> Self {
        Buf {
            bytes: bytes.cast_mut(),
            slot: &raw mut slot.0,
        }
    }

    /// An instance's template (see `hmac`), to read.
    #[inline(always)]
    pub fn template(learned: &Learned, slot: &mut Slot) -> Self {
        Buf {
            bytes: learned.template.as_ptr().cast_mut(),
            slot: &raw mut slot.0,
        }
    }

    /// An instance's template, to write.
    #[inline(always)]
    pub fn template_mut(learned: &mut Learned, slot: &mut Slot) -> Self {
        Buf {
            bytes: learned.template.as_mut_ptr(),
            slot: &raw mut slot.0,
        }
    }
}

impl<const N: usize> Buf<N> {
    /// `K` bytes at `at`, clamped to the buffer: the last `K` bytes when `at` is out of
    /// range. Callers read only offsets the packet's validated lengths put in range; the
    /// clamp is there for the verifier, and costs no branch in the result (a select
    /// between a read and zeros would double the paths the verifier walks).
    #[inline(always)]
    pub fn bytes<const K: usize>(self, at: usize) -> [u8; K] {
        let clamped = index::<N, K>(at, self.slot);
        // SAFETY: `clamped + K <= N`.
        unsafe { self.bytes.add(clamped).cast::<[u8; K]>().read_unaligned() }
    }

    /// Stores `K` bytes at `at` (skipped when out of range; clamped as in `bytes`).
    #[inline(always)]
    pub fn set_bytes<const K: usize>(self, at: usize, value: [u8; K]) {
        if at <= N - K {
            let clamped = index::<N, K>(at, self.slot);
            // SAFETY: as in `bytes`.
            unsafe {
                self.bytes
                    .add(clamped)
                    .cast::<[u8; K]>()
                    .write_unaligned(value)
            };
        }
    }

    #[inline(always)]
    pub fn u8(self, at: usize) -> u8 {
        self.bytes::<1>(at)[0]
    }

    #[inline(always)]
    pub fn be16(self, at: usize) -> u16 {
        u16::from_be_bytes(self.bytes(at))
    }

    #[inline(always)]
    pub fn be32(self, at: usize) -> u32 {
        u32::from_be_bytes(self.bytes(at))
    }

    #[inline(always)]
    pub fn set(self, at: usize, value: u8) {
        self.set_bytes(at, [value]);
    }

    /// Eight bytes at `at`, as stored.
    #[inline(always)]
    pub fn word(self, at: usize) -> u64 {
        u64::from_ne_bytes(self.bytes(at))
    }

    #[inline(always)]
    pub fn set_word(self, at: usize, value: u64) {
        self.set_bytes(at, value.to_ne_bytes());
    }

    #[inline(always)]
    pub fn set_be16(self, at: usize, value: u16) {
        self.set_bytes(at, value.to_be_bytes());
    }

    #[inline(always)]
    pub fn set_be32(self, at: usize, value: u32) {
        self.set_bytes(at, value.to_be_bytes());
    }

    /// The raw buffer, for helpers that take a pointer and a length.
    #[inline(always)]
    pub fn ptr(self) -> *mut u8 {
        self.bytes
    }
}

/// Offsets into a buffer of at least `MASK_SPAN + K` bytes are masked with
/// `MASK_SPAN - 1` instead of clamped (the per-CPU scratch is sized for it).
pub const MASK_SPAN: usize = 8192;
const _: () = assert!(MAX_PACKET <= MASK_SPAN);

/// `at` bounded to `N - K`, after a volatile round trip through a stack slot: LLVM
/// otherwise forms `base + at` before the range check, or drops the bound where it knows
/// more than the verifier does. The bound is applied to the reloaded value, which the
/// compiler knows nothing about, so it is always emitted.
///
/// Buffers of at least `MASK_SPAN + K` bytes (the scratch) are bounded by a mask, the
/// others by a clamp. A mask refines nothing along a branch: Linux 6.1 and 6.12 follow
/// branches that cannot be taken and leave values whose bounds contradict each other
/// (minimum above maximum), which a later clamp keeps and a pointer then refuses ("invalid
/// mem access 'scalar'"); an AND gives bounds from its constant alone.
#[inline(always)]
fn index<const N: usize, const K: usize>(at: usize, slot: *mut usize) -> usize {
    // SAFETY: `slot` points to a live `Slot` in the calling BPF function's frame.
    let at = unsafe {
        core::ptr::write_volatile(slot, at);
        core::ptr::read_volatile(slot)
    };
    if N >= MASK_SPAN + K {
        at & (MASK_SPAN - 1)
    } else if at <= N - K {
        at
    } else {
        N - K
    }
}

/// `value` capped at `MAX`, the cap applied after a volatile round trip. LLVM keeps
/// `len - done` of a loop as an induction variable of its own, unrelated for the verifier
/// to the loop's bound; Linux 6.1's verifier then sees it go negative on a path it cannot
/// rule out ("min value is negative"). Capping the reloaded value gives it an unsigned
/// bound on every path, which the compiler cannot fold away.
#[inline(always)]
fn cap<const MAX: usize>(value: usize, slot: *mut usize) -> usize {
    // SAFETY: `slot` points to a live `Slot` in the calling BPF function's frame.
    let value = unsafe {
        core::ptr::write_volatile(slot, value);
        core::ptr::read_volatile(slot)
    };
    if value < MAX { value } else { MAX }
}

/// Folds a 32-bit one's complement sum (as `bpf_csum_diff` returns) to 16 bits.
#[inline(always)]
fn fold(sum: i64) -> u16 {
    let mut s = sum as u64 & 0xffff_ffff;
    s = (s & 0xffff) + (s >> 16);
    s = (s & 0xffff) + (s >> 16);
    s as u16
}

/// The one's complement sum of `len` bytes at `buf + at` (a multiple of 4), plus `seed`.
/// `MAX_AT` and `MAX_LEN` bound the two separately, as the verifier needs.
#[inline(always)]
fn csum<const MAX_AT: usize, const MAX_LEN: usize>(
    buf: Buf,
    at: usize,
    len: usize,
    seed: u32,
) -> i64 {
    const { assert!(MAX_AT + MAX_LEN <= SCRATCH_LEN) };
    if at > MAX_AT || len > MAX_LEN || !len.is_multiple_of(4) {
        return -1;
    }
    // SAFETY: `at + len` is within the scratch buffer (checked above); csum_diff only reads.
    unsafe {
        bpf_csum_diff(
            core::ptr::null_mut(),
            0,
            buf.ptr().add(at).cast(),
            len as u32,
            seed,
        )
    }
}

/// keepalived's checks (see [`verdict`]); the advert's fields when all pass.
#[inline(always)]
fn check(
    ctx: &XdpContext,
    h: &Headers,
    cfg: &InstanceConfig,
    slot: u32,
    buf: Buf,
) -> Result<Advert, Drop> {
    // Copy the IP packet (header, AH, VRRP) out of the frame once.
    let total = h.total;
    if total == 0 || total > MAX_PACKET {
        return Err(Drop(Counter::BadLength));
    }
    // `total` again, as a length the verifier knows is not zero: Linux 6.1 learns nothing
    // from `total != 0` and refuses a helper size that may be zero. The reload hides the
    // check above from the compiler, which would fold the rebuild away.
    let len = 1 + index::<SCRATCH_LEN, 0>(total.wrapping_sub(1), buf.slot);
    // SAFETY: `len` (= `total`) bytes fit the scratch buffer; the helper checks the frame.
    let copied = unsafe {
        bpf_xdp_load_bytes(
            ctx.as_ptr().cast(),
            h.ip_off as u32,
            buf.ptr().cast(),
            len as u32,
        )
    };
    if copied != 0 {
        return Err(Drop(Counter::Truncated));
    }
    let v4 = h.family == family::IPV4;
    if v4 && fold(csum::<0, 60>(buf, 0, h.ip_len, 0)) != 0xffff {
        return Err(Drop(Counter::BadIpHeader));
    }
    if h.ah != (cfg.auth_type == AuthType::AH) {
        return Err(Drop(Counter::AuthMismatch));
    }
    let v = h.vrrp_off;
    let version = buf.u8(v) >> 4;
    let kind = buf.u8(v) & 0x0f;
    let priority = buf.u8(v + 2);
    let n = usize::from(buf.u8(v + 3));
    let address_len = if v4 { 4 } else { 16 };
    let trailer = if version == 2 { 8 } else { 0 };
    let vrrp_len = total - v;
    if total < v || vrrp_len != 8 + n * address_len + trailer {
        return Err(Drop(Counter::BadLength));
    }
    if h.ttl != vrrp_common::VRRP_TTL {
        return Err(Drop(Counter::BadTtl));
    }
    if version != cfg.version.get() {
        return Err(Drop(Counter::BadVersion));
    }
    let mut interval_cs = cfg.advert_interval_cs;
    let mut sequence = 0;
    if version == 2 {
        if buf.u8(v + 4) != cfg.auth_type.get() {
            return Err(Drop(Counter::BadAuthType));
        }
        if cfg.auth_type == AuthType::PASS {
            let data: [u8; 8] = buf.bytes(v + 8 + n * 4);
            if u64::from_ne_bytes(data) != u64::from_ne_bytes(cfg.pass) {
                return Err(Drop(Counter::BadPassword));
            }
        }
        if h.ah {
            // SPI and replay were checked by `ah_gate` on these same bytes.
            sequence = buf.be32(h.ip_len + 8);
        }
        if u16::from(buf.u8(v + 5)) * 100 != cfg.advert_interval_cs {
            return Err(Drop(Counter::BadInterval));
        }
    } else {
        // VRRPv3: the master's interval rules the backup's timers (RFC 5798 §6.4.2).
        interval_cs = buf.be16(v + 4) & 0x0fff;
    }
    if kind != 1 {
        return Err(Drop(Counter::BadType));
    }
    if n != usize::from(cfg.address_count) {
        return Err(Drop(Counter::BadAddressCount));
    }
    if !checksum_ok(buf, h, version, vrrp_len) {
        return Err(Drop(Counter::BadChecksum));
    }
    let words = (address_len / 4) as u64;
    if vrrp_addresses_ok(buf.scratch_ptr(), (v + 8) as u64, n as u64, words, cfg) != 1 {
        return Err(Drop(Counter::BadAddressList));
    }
    if h.ah {
        hmac::verify(buf, h, cfg, slot, sequence)?;
    }
    let mut source = [0u8; 16];
    let (src_at, src_len) = if v4 { (12, 4) } else { (8, 16) };
    let mut i = 0;
    while i < 16 {
        if i < src_len {
            source[i] = buf.u8(src_at + i);
        }
        i += 1;
    }
    Ok(Advert {
        source,
        sequence,
        interval_cs,
        priority,
        _pad: 0,
    })
}

/// VRRPv2: over the VRRP packet; VRRPv3: with the IPv4/IPv6 pseudo-header.
#[inline(always)]
fn checksum_ok(buf: Buf, h: &Headers, version: u8, vrrp_len: usize) -> bool {
    let v = h.vrrp_off;
    let seed = if version == 2 {
        0
    } else if h.family == family::IPV4 {
        // src, dst, zero, protocol, length.
        let pseudo = [
            buf.be32(12).to_be(),
            buf.be32(16).to_be(),
            (112u32 << 16 | vrrp_len as u32).to_be(),
        ];
        let mut p = pseudo;
        // SAFETY: `p` is a 12-byte stack array.
        let s = unsafe { bpf_csum_diff(core::ptr::null_mut(), 0, p.as_mut_ptr(), 12, 0) };
        s as u32
    } else {
        let s = csum::<8, 32>(buf, 8, 32, 0) as u32;
        let mut tail = [(vrrp_len as u32).to_be(), 112u32.to_be()];
        // SAFETY: `tail` is an 8-byte stack array.
        unsafe { bpf_csum_diff(core::ptr::null_mut(), 0, tail.as_mut_ptr(), 8, s) as u32 }
    };
    let sum = vrrp_csum(buf.scratch_ptr(), v as u64, vrrp_len as u64, seed);
    sum >= 0 && fold(sum) == 0xffff
}

/// Largest block `bpf_csum_diff` sums in one call (the kernel's scratch pad, 512 bytes).
pub const CSUM_CHUNK: usize = 512;

/// The one's complement sum of `len` bytes at `at` in `scratch` (a multiple of 4, within
/// [`MAX_PACKET`]), plus `seed`, as `bpf_csum_diff` returns it; negative on a bad length.
/// Summed in blocks of [`CSUM_CHUNK`] (each block starts at an even offset, so the partial
/// sums chain). A BPF global function: its loop is verified once.
#[unsafe(no_mangle)]
#[inline(never)]
pub extern "C" fn vrrp_csum(scratch: *mut Scratch, at: u64, len: u64, seed: u32) -> i64 {
    if scratch.is_null() || at + len > MAX_PACKET as u64 || !len.is_multiple_of(4) {
        return -1;
    }
    let mut index_slot = Slot::new();
    let buf = Buf::scratch(scratch, &mut index_slot);
    let (at, len) = (at as usize, len as usize);
    let mut sum = i64::from(seed);
    let mut done = 0;
    while done < MAX_PACKET {
        if done >= len {
            break;
        }
        let chunk = cap::<CSUM_CHUNK>(len - done, buf.slot);
        // Every block starts below `MAX_PACKET <= MASK_SPAN`: the mask never moves one, and
        // tells the verifier that `chunk` bytes from it are in the buffer.
        let from = index::<SCRATCH_LEN, CSUM_CHUNK>(at + done, buf.slot);
        // SAFETY: `from + chunk <= SCRATCH_LEN`; csum_diff only reads.
        sum = unsafe {
            bpf_csum_diff(
                core::ptr::null_mut(),
                0,
                buf.ptr().add(from).cast(),
                chunk as u32,
                sum as u32,
            )
        };
        if sum < 0 {
            return sum;
        }
        done += CSUM_CHUNK;
    }
    sum
}

/// The advertised addresses are the instance's (keepalived: "ip address associated with
/// VRID not present in MASTER advert"): the `n` addresses of `words` 32-bit words at `at`
/// in `scratch` sum to the instance's digest (see `vrrp_common::maps::address_term`; the
/// counts already match). Each address is read once: the cost grows with `n`, never with
/// `n²`. A BPF global function, verified once on its own. 1 = they are.
#[unsafe(no_mangle)]
#[inline(never)]
pub extern "C" fn vrrp_addresses_ok(
    scratch: *mut Scratch,
    at: u64,
    n: u64,
    words: u64,
    cfg: *const InstanceConfig,
) -> i32 {
    if scratch.is_null() || cfg.is_null() || at > 128 || words > 4 {
        return 0;
    }
    let mut index_slot = Slot::new();
    let buf = Buf::scratch(scratch, &mut index_slot);
    // SAFETY: a non-null pointer the verifier checked against the struct's size.
    let cfg = unsafe { &*cfg };
    let (at, stride) = (at as usize, words as usize * 4);
    // IPv4 reads one word; the other three are zero, as in the controller's digest.
    let wide = if words == 4 { u32::MAX } else { 0 };
    let mut sum = 0u64;
    let mut i = 0;
    while i < MAX_ADVERT_ADDRESSES {
        if i as u64 >= n {
            break;
        }
        let base = at + i * stride;
        let address = [
            buf.be32(base),
            buf.be32(base + 4) & wide,
            buf.be32(base + 8) & wide,
            buf.be32(base + 12) & wide,
        ];
        sum = sum.wrapping_add(address_term(cfg.address_seed, address));
        i += 1;
    }
    i32::from(sum == cfg.address_digest)
}

/// Compares two addresses of the instance's family as big-endian numbers: `a > b`.
#[inline(always)]
fn higher(a: &[u8; 16], b: &[u8; 16]) -> bool {
    let mut i = 0;
    while i < 16 {
        if a[i] != b[i] {
            return a[i] > b[i];
        }
        i += 1;
    }
    false
}

/// The decision for a valid advert (policy item 7). A BPF global function, so its frame
/// (the event, the timer calls) is not stacked on top of the entry point's when the entry
/// point calls the HMAC function.
#[unsafe(no_mangle)]
#[inline(never)]
pub extern "C" fn vrrp_decide(
    cfg: *const InstanceConfig,
    advert: *const Advert,
    slot: u32,
    ah: u32,
) -> i32 {
    if cfg.is_null() || advert.is_null() {
        return -1;
    }
    // SAFETY: non-null pointers the verifier checked against the structs' sizes.
    let (cfg, advert) = unsafe { (&*cfg, &*advert) };
    // The timer helpers need the map value itself, so look the slot up here.
    let Some(rt) = RUNTIME.get_ptr_mut(slot) else {
        return -1;
    };
    // SAFETY: `bpf_ktime_get_ns` has no preconditions.
    let now = unsafe { bpf_ktime_get_ns() };
    // SAFETY: `rt` comes from a successful array lookup of `slot`.
    let learned = unsafe { &mut (*rt).learned };
    learned.master_address = advert.source;
    learned.master_priority = advert.priority;
    learned.last_valid_ns = now;
    if ah != 0 {
        timer::set_sequence(slot, u64::from(advert.sequence));
    }
    let me = policy::Receiver {
        master: cfg.state == KernelState::MASTER,
        priority: cfg.priority,
        version: cfg.version.get(),
        preempt: cfg.preempt != 0,
        preempt_delay_ns: u64::from(cfg.preempt_delay_ms) * 1_000_000,
        interval_cs: cfg.advert_interval_cs,
    };
    let heard = policy::Advert {
        priority: advert.priority,
        interval_cs: advert.interval_cs,
        higher_address: higher(&advert.source, &cfg.own_address),
    };
    // A hold started before the controller last wrote the state is over.
    let memory = policy::Memory {
        hold_until_ns: if learned.hold_epoch == cfg.state_epoch {
            learned.hold_until_ns
        } else {
            0
        },
        lower_event_ns: learned.lower_event_ns,
    };
    let d = policy::decide(&me, &heard, memory, now);
    learned.hold_until_ns = d.memory.hold_until_ns;
    learned.hold_epoch = cfg.state_epoch;
    learned.lower_event_ns = d.memory.lower_event_ns;
    if d.sync_sequence && ah != 0 {
        // keepalived: "IPSEC-AH : Syncing seq_num - Increment seq".
        timer::set_sequence(slot, u64::from(advert.sequence) + 1);
    }
    if let Some(delay) = d.arm_ns {
        // A failure is counted and logged by `arm`; the deadline is kept for the
        // controller's userspace fallback.
        let _ = timer::arm(slot, rt, delay);
    }
    if d.event != 0 {
        emit(Event {
            kind: d.event,
            slot,
            key: cfg.key,
            timestamp_ns: now,
            source: advert.source,
            sequence: advert.sequence,
            priority: advert.priority,
            _pad: [0; 3],
        });
    }
    0
}
