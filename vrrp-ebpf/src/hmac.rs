//! IPSEC-AH ICV verification in the kernel, and why a flood cannot make it skip the real
//! master.
//!
//! # The flood problem
//! An attacker on the segment can send adverts that pass every cheap check (right VRID,
//! TTL 255, SPI = the master's address, a sequence above the counter): only the HMAC tells
//! them from the master's. Verifying each costs an HMAC-MD5 (four MD5 blocks); doing it
//! for every flood packet burns a core, and capping it naively lets the flood use up the
//! cap before the real advert arrives, so the backup would declare the master down.
//!
//! # The scheme
//! keepalived's adverts are predictable: from one advert to the next, only the IP id and
//! the AH sequence change, each by one (checked on real captures), and its shutdown advert
//! is the next one with priority 0. So after every verified advert the program stores the
//! bytes the ICV covers (the *template*) and precomputes the ICVs of that master's next
//! three adverts and of its priority-0 advert (four HMACs, once per advert interval).
//! - An advert that equals the template byte for byte, apart from a predicted id and
//!   sequence, and carries the predicted ICV is verified by comparison: no HMAC. The real
//!   master's adverts take this path in steady state whatever else arrives, so a flood can
//!   never crowd them out, and up to two lost adverts are covered.
//! - Any other advert (a new master, a changed priority, forged traffic) needs a full
//!   HMAC, of which each instance gets `hmac_budget` per advert interval; over budget it is
//!   dropped unverified (`hmac_budget`). A flood therefore costs at most that many HMACs
//!   per interval per instance, plus cheap compares.
//!
//! Only a byte-identical advert can match a prediction, and only the key holder can have
//! produced its ICV; the sequence check (counter updated on every valid advert) stops
//! replays of it.
use vrrp_common::{
    counters::Counter,
    maps::{InstanceConfig, Learned, TEMPLATE_LEN},
    md5,
    predict::{COLUMNS, PredictKey},
};

use crate::{
    PREDICT, RUNTIME, Scratch, count_instance,
    parse::{Drop, Headers},
    verdict::{Buf, Slot},
};

const ICV_LEN: usize = 12;

/// keepalived's IP id: a per-instance counter that skips 0.
#[inline(always)]
fn next_id(id: u16, steps: u32) -> u16 {
    let mut id = id;
    let mut i = 0;
    while i < 3 {
        if i < steps {
            id = id.wrapping_add(1);
            if id == 0 {
                id = 1;
            }
        }
        i += 1;
    }
    id
}

/// Verifies the AH ICV of the advert in `buf` (policy: `hmac_budget`, `bad_icv`), then
/// refreshes the predictions. On return `buf` no longer holds the packet as received.
#[inline(always)]
pub fn verify(
    buf: Buf,
    h: &Headers,
    cfg: &InstanceConfig,
    slot: u32,
    sequence: u32,
) -> Result<(), Drop> {
    let a = h.ip_len;
    let len = h.total;
    if len > MAX_MESSAGE {
        return Err(Drop(Counter::BadLength));
    }
    // The received ICV moves to the scratch buffer's free area (the stack is too small
    // for copies of it), and is zeroed in the message.
    let received: [u8; ICV_LEN] = buf.bytes(a + 12);
    buf.set_bytes(RECEIVED_AT, received);
    buf.set_bytes(a + 12, [0u8; ICV_LEN]);
    // The mutable IPv4 fields are not covered (RFC 2402 §3.3.3.1.1.1); TTL only for
    // unicast (keepalived).
    buf.set(1, 0);
    buf.set(6, 0);
    buf.set(7, 0);
    buf.set(10, 0);
    buf.set(11, 0);
    if !(0xe0..=0xef).contains(&buf.u8(16)) {
        buf.set(8, 0);
    }
    let Some(rt) = RUNTIME.get_ptr_mut(slot) else {
        return Err(Drop(Counter::BadIcv));
    };
    // SAFETY: a successful lookup of this slot's runtime value.
    let learned = unsafe { &mut (*rt).learned };
    let fields = Mutable::read(buf, h);
    let table = match predicted(buf, h, learned, &fields, sequence) {
        -1 => vrrp_table(
            buf.scratch_ptr(),
            u64::from(slot),
            u64::from(sequence) | u64::from(fields.id) << 32 | u64::from(fields.priority) << 48,
            len as u64 | (a as u64) << 16,
        ),
        known => known,
    };
    if table == 0 {
        // The advert is byte for byte one the program or the controller predicted, with
        // another ICV: forged, refused without an HMAC.
        return Err(Drop(Counter::BadIcv));
    }
    if table == 1 {
        count_instance(slot, Counter::IcvPredicted);
        pad(buf, len);
    } else {
        // SAFETY: no preconditions.
        let now = unsafe { aya_ebpf::helpers::bpf_ktime_get_ns() };
        let interval_ns = u64::from(cfg.advert_interval_cs) * 10_000_000;
        if now.wrapping_sub(learned.budget_epoch_ns) >= interval_ns {
            learned.budget_epoch_ns = now;
            learned.budget_used = 0;
        }
        if learned.budget_used >= cfg.hmac_budget {
            return Err(Drop(Counter::HmacBudget));
        }
        learned.budget_used += 1;
        pad(buf, len);
        vrrp_icv(
            buf.scratch_ptr(),
            len as u64,
            cfg,
            buf.ptr().wrapping_add(COMPUTED_AT).cast(),
        );
        let computed: [u8; ICV_LEN] = buf.bytes(COMPUTED_AT);
        let received: [u8; ICV_LEN] = buf.bytes(RECEIVED_AT);
        if u128_of(&computed) != u128_of(&received) {
            return Err(Drop(Counter::BadIcv));
        }
        count_instance(slot, Counter::IcvComputed);
    }
    predict(buf, h, cfg, learned, &fields, sequence, len);
    Ok(())
}

/// Scratch offsets, between the padded message (`TEMPLATE_LEN`) and the outer HMAC block
/// (`OUTER_BLOCK_AT`), of the received and the computed ICV.
const RECEIVED_AT: usize = TEMPLATE_LEN;
const COMPUTED_AT: usize = TEMPLATE_LEN + 16;
const _: () = assert!(COMPUTED_AT + ICV_LEN <= OUTER_BLOCK_AT);

/// An ICV as one number, for a single comparison.
#[inline(always)]
fn u128_of(icv: &[u8; ICV_LEN]) -> u128 {
    let mut wide = [0u8; 16];
    wide[..ICV_LEN].copy_from_slice(icv);
    u128::from_ne_bytes(wide)
}

/// Longest message the ICV is computed over here: it and its MD5 padding (9 bytes at
/// least) fit three blocks, the template.
const MAX_MESSAGE: usize = TEMPLATE_LEN - 9;

/// The fields that differ between a master's consecutive adverts.
struct Mutable {
    id: u16,
    priority: u8,
    checksum: u16,
}

impl Mutable {
    #[inline(always)]
    fn read<const N: usize>(buf: Buf<N>, h: &Headers) -> Self {
        Self {
            id: buf.be16(4),
            priority: buf.u8(h.vrrp_off + 2),
            checksum: buf.be16(h.vrrp_off + 6),
        }
    }

    /// Writes the fields (and the sequence) into `buf`.
    #[inline(always)]
    fn write<const N: usize>(&self, buf: Buf<N>, h: &Headers, sequence: u32) {
        buf.set_be16(4, self.id);
        buf.set_be32(h.ip_len + 8, sequence);
        buf.set(h.vrrp_off + 2, self.priority);
        buf.set_be16(h.vrrp_off + 6, self.checksum);
    }
}

/// Whether the advert is one the last verified master was predicted to send: equal to
/// the template but for the predicted id and sequence (and priority 0 with its checksum
/// for the shutdown advert). 1: it is, with the predicted ICV; 0: it is, with another ICV
/// (forged: the prediction came from a verified advert); -1: it is not.
#[inline(always)]
fn predicted(buf: Buf, h: &Headers, learned: &Learned, fields: &Mutable, sequence: u32) -> i32 {
    let len = usize::from(learned.template_len);
    if len != h.total || learned.predicted_sequence == 0 {
        return -1;
    }
    let k = sequence.wrapping_sub(learned.predicted_sequence);
    if k > 2 || fields.id != next_id(learned.predicted_id, k) {
        return -1;
    }
    let expected = if fields.priority == learned.master_priority {
        match k {
            0 => &learned.predicted[0],
            1 => &learned.predicted[1],
            _ => &learned.predicted[2],
        }
    } else if fields.priority == 0 && k == 0 {
        &learned.predicted_zero
    } else {
        return -1;
    };
    // Compare with the fields that may differ set to the template's, then restore them.
    let mut index_slot = Slot::new();
    let template = Buf::template(learned, &mut index_slot);
    let stored = Mutable::read(template, h);
    let stored_sequence = template.be32(h.ip_len + 8);
    stored.write(buf, h, stored_sequence);
    let diff = differs(buf, template, len);
    fields.write(buf, h, sequence);
    if diff != 0 {
        return -1;
    }
    let received: [u8; ICV_LEN] = buf.bytes(RECEIVED_AT);
    i32::from(u128_of(expected) == u128_of(&received))
}

/// Checks the advert in `scratch` (mutable IPv4 fields and ICV zeroed, the received ICV at
/// `RECEIVED_AT`) against the controller's table for its sender (`vrrp_common::predict`):
/// 1 = a predicted advert (verified), 0 = a predicted shape and column with another ICV
/// (forged), -1 = not in the table (the HMAC budget decides). `fields` packs the AH
/// sequence (bits 0–31), IP id (32–47) and priority (48–55); `layout` the message length
/// (0–15) and the IPv4 header length (16–31). A BPF global function, verified once.
#[unsafe(no_mangle)]
#[inline(never)]
pub extern "C" fn vrrp_table(scratch: *mut Scratch, slot: u64, fields: u64, layout: u64) -> i32 {
    if scratch.is_null() {
        return -1;
    }
    let mut index_slot = Slot::new();
    let buf = Buf::scratch(scratch, &mut index_slot);
    let len = (layout & 0xffff) as usize;
    let a = ((layout >> 16) & 0xffff) as usize;
    let (sequence, id, priority) = (fields as u32, (fields >> 32) as u16, (fields >> 48) as u8);
    if len > MAX_MESSAGE || !(20..=60).contains(&a) {
        return -1;
    }
    let key = PredictKey {
        slot: slot as u32,
        source: buf.bytes(12),
    };
    let Some(p) = PREDICT.get_ptr(key) else {
        return -1;
    };
    // SAFETY: a successful lookup; the controller replaces whole entries.
    let p = unsafe { &*p };
    if usize::from(p.len) != len {
        return -1;
    }
    let mut column = COLUMNS;
    let mut c = 0;
    while c < COLUMNS {
        if column == COLUMNS && p.columns[c].sequence == sequence && p.columns[c].id == id {
            column = c;
        }
        c += 1;
    }
    let Some(expected) = p
        .icv
        .get(usize::from(priority))
        .and_then(|row| row.get(column))
    else {
        return -1;
    };
    // Compare with the varying fields zeroed, as the table's template holds them.
    let v = a + 24;
    let checksum = buf.be16(v + 6);
    let varying = Mutable {
        id: 0,
        priority: 0,
        checksum: 0,
    };
    varying.write(buf, &headers_at(a, len), 0);
    let mut template_slot = Slot::new();
    let template = Buf::raw(p.template.as_ptr(), &mut template_slot);
    let diff = differs(buf, template, len);
    Mutable {
        id,
        priority,
        checksum,
    }
    .write(buf, &headers_at(a, len), sequence);
    if diff != 0 {
        return -1;
    }
    let received: [u8; ICV_LEN] = buf.bytes(RECEIVED_AT);
    i32::from(u128_of(expected) == u128_of(&received))
}

/// The offsets [`Mutable::write`] uses, for an IPv4 AH advert with a header of `ip_len`.
#[inline(always)]
fn headers_at(ip_len: usize, total: usize) -> Headers {
    Headers {
        ip_off: 0,
        ip_len,
        total,
        vrrp_off: ip_len + 24,
        family: vrrp_common::maps::family::IPV4,
        ah: true,
        ttl: 255,
        vrid: 0,
        vlan: 0,
    }
}

/// Stores the template and the ICVs of the master's next three adverts and of its
/// priority-0 advert. `buf` is already padded for `len`.
#[inline(always)]
fn predict(
    buf: Buf,
    h: &Headers,
    cfg: &InstanceConfig,
    learned: &mut Learned,
    fields: &Mutable,
    sequence: u32,
    len: usize,
) {
    let mut index_slot = Slot::new();
    let template = Buf::template_mut(learned, &mut index_slot);
    let mut w = 0;
    while w < TEMPLATE_LEN {
        template.set_word(w, if w < len { buf.word(w) } else { 0 });
        w += 8;
    }
    // Zero the template past the message (the padding is not part of it).
    let tail = len % 8;
    if tail != 0 {
        let last = len - tail;
        let keep = u64::MAX >> (8 * (8 - tail));
        template.set_word(last, template.word(last) & keep);
    }
    learned.template_len = len as u16;
    let mut k = 0;
    while k < 3 {
        let next = Mutable {
            id: next_id(fields.id, k + 1),
            ..*fields
        };
        next.write(buf, h, sequence.wrapping_add(k + 1));
        if let Some(slot) = learned.predicted.get_mut(k as usize) {
            icv_into(buf, len, cfg, slot);
        }
        k += 1;
    }
    // Priority 0: the next id and sequence, priority cleared, checksum updated
    // incrementally (RFC 1624: HC' = ~(~HC + ~m + m'), m = the priority/count word).
    let old_word = (u16::from(fields.priority) << 8) | u16::from(buf.u8(h.vrrp_off + 3));
    let new_word = old_word & 0x00ff;
    let mut sum = u32::from(!fields.checksum) + u32::from(!old_word) + u32::from(new_word);
    sum = (sum & 0xffff) + (sum >> 16);
    sum = (sum & 0xffff) + (sum >> 16);
    let zero = Mutable {
        id: next_id(fields.id, 1),
        priority: 0,
        checksum: !(sum as u16),
    };
    zero.write(buf, h, sequence.wrapping_add(1));
    icv_into(buf, len, cfg, &mut learned.predicted_zero);
    learned.predicted_sequence = sequence.wrapping_add(1);
    learned.predicted_id = next_id(fields.id, 1);
}

/// MD5 padding (RFC 1321 §3.1–3.2) after the message's first `len` bytes, counting the
/// 64-byte key block that the inner midstate already holds.
#[inline(always)]
fn pad(buf: Buf, len: usize) {
    buf.set(len, 0x80);
    // The rest of the word holding the 0x80, then whole words up to the length field.
    let mut i = 1;
    while i < 8 {
        if !(len + i).is_multiple_of(8) {
            buf.set(len + i, 0);
        } else {
            break;
        }
        i += 1;
    }
    let blocks = (len + 8) / 64 + 1;
    let end = blocks * 64 - 8;
    let mut w = 0;
    while w < TEMPLATE_LEN {
        // `w < end`, compared on `blocks` (w + 8 < 64 * blocks, w a multiple of 8): `end`
        // takes only the values 56 + 64k, and Linux 6.12's verifier, comparing such a
        // sparse value with a constant that none of them equals, breaks its own register
        // invariants and then rejects the program ("invalid mem access 'scalar'").
        if w > len && (w + 8) / 64 < blocks {
            buf.set_word(w, 0);
        }
        w += 8;
    }
    buf.set_word(end, (((64 + len) * 8) as u64).to_le());
}

/// Where [`vrrp_icv`] writes its result (a global function's pointer arguments must
/// point to structs of known size; this has the layout of `[u8; 12]`).
#[repr(C)]
pub struct Icv {
    pub bytes: [u8; ICV_LEN],
}

/// HMAC-MD5-96 of the advert in `scratch`, already padded by [`pad`] for `len` bytes.
///
/// A BPF *global* function (exported, C ABI): the verifier checks it once, on its own,
/// instead of once per call site and caller state — the four unrolled MD5 blocks would
/// otherwise be re-verified along every path that reaches one of the five calls.
#[unsafe(no_mangle)]
#[inline(never)]
pub extern "C" fn vrrp_icv(
    scratch: *mut Scratch,
    len: u64,
    cfg: *const InstanceConfig,
    out: *mut Icv,
) -> i32 {
    if scratch.is_null() || cfg.is_null() || out.is_null() || len > MAX_MESSAGE as u64 {
        return -1;
    }
    let blocks = (len + 8) / 64 + 1;
    // SAFETY: non-null pointers the verifier checked against the structs' sizes.
    let (cfg, out, base) = unsafe { (&*cfg, &mut *out, (*scratch).bytes.as_ptr()) };
    let mut state = cfg.hmac_inner;
    // SAFETY: blocks 0..3 lie inside the scratch buffer (TEMPLATE_LEN <= SCRATCH_LEN).
    unsafe {
        md5::compress(&mut state, &*base.cast::<md5::Block>());
        if blocks > 1 {
            md5::compress(&mut state, &*base.add(64).cast::<md5::Block>());
        }
        if blocks > 2 {
            md5::compress(&mut state, &*base.add(128).cast::<md5::Block>());
        }
    }
    // The outer block goes in the scratch buffer's tail, past the padded message: the
    // stack is too small to hold it beside the entry point's frame.
    // SAFETY: bytes OUTER_BLOCK_AT..+64 lie inside the scratch buffer.
    let outer_block = unsafe {
        &mut *(*scratch)
            .bytes
            .as_mut_ptr()
            .add(OUTER_BLOCK_AT)
            .cast::<md5::Block>()
    };
    md5::outer_block(&md5::digest(&state), outer_block);
    let mut outer = cfg.hmac_outer;
    md5::compress(&mut outer, outer_block);
    let full = md5::digest(&outer);
    let mut n = 0;
    while n < ICV_LEN {
        out.bytes[n] = full[n];
        n += 1;
    }
    0
}

/// Where [`vrrp_icv`] builds the outer HMAC block: after the longest padded message.
const OUTER_BLOCK_AT: usize = crate::SCRATCH_LEN - 64;
const _: () = assert!(OUTER_BLOCK_AT >= TEMPLATE_LEN);

/// [`vrrp_icv`] for an instance's configured key, into `out`.
#[inline(always)]
fn icv_into(buf: Buf, len: usize, cfg: &InstanceConfig, out: &mut [u8; ICV_LEN]) {
    vrrp_icv(
        buf.ptr().cast::<Scratch>(),
        len as u64,
        cfg,
        core::ptr::from_mut(out).cast::<Icv>(),
    );
}

/// Non-zero when the first `len` bytes of `buf` differ from `template`. Bytes past `len` in
/// the last word differ freely (the template holds zeros there).
#[inline(always)]
fn differs(buf: Buf, template: Buf<TEMPLATE_LEN>, len: usize) -> u64 {
    let mut diff = 0u64;
    let mut w = 0;
    while w < TEMPLATE_LEN {
        if w < len {
            diff |= buf.word(w) ^ template.word(w);
        }
        w += 8;
    }
    let tail = len % 8;
    if tail != 0 {
        let last = len - tail;
        let keep = u64::MAX >> (8 * (8 - tail));
        diff &= !((buf.word(last) ^ template.word(last)) & !keep);
    }
    diff
}
