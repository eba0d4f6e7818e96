//! Userspace-computed ICV predictions: the table that keeps transitions verifiable under
//! an advert flood (issue 11; docs/dataplane.md, "Flood safety").
//!
//! The program can afford four HMACs per verified advert (its own predictions of the
//! master's next adverts); an advert that differs in anything but IP id and AH sequence —
//! a priority change, a new master, a restarted one — needs a full HMAC from a budget a
//! flood can exhaust. The controller holds the key, so for an instance under attack it
//! computes, once a second, the ICVs of every advert a known sender may plausibly send
//! next: each priority 0–255 × [`COLUMNS`] (IP id, AH sequence) pairs, over that
//! sender's last verified advert (its *shape*). The program looks the table up by
//! (slot, source): an advert of a known shape in a listed column is verified by one
//! 12-byte comparison — accepted, or refused as forged — without touching the budget.
//!
//! - [`PREDICT_MAP`]: hash `PredictKey → Prediction`, `BPF_F_NO_PREALLOC` (memory only
//!   while an instance is under attack), written by the controller only.

use crate::{maps::TEMPLATE_LEN, md5};

/// Name of the prediction table.
pub const PREDICT_MAP: &str = "PREDICT";
/// Entries the table holds: (instance, sender) pairs under attack at once.
pub const MAX_PREDICTIONS: u32 = 64;
/// (IP id, AH sequence) pairs per sender: its next 4 adverts, 4 after a reload, 4 after a
/// restart, and 16 after a silence (see `vrrpd::predict`).
pub const COLUMNS: usize = 28;
/// Priorities per column: all of them.
pub const PRIORITIES: usize = 256;
/// Length of the AH ICV (HMAC-MD5-96).
pub const ICV_LEN: usize = 12;
/// `BPF_F_NO_PREALLOC`.
pub const BPF_F_NO_PREALLOC: usize = 1;

/// A table entry's key: the instance's slot and the sender's IPv4 address (AH is IPv4).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct PredictKey {
    pub slot: u32,
    pub source: [u8; 4],
}

/// One (IP id, AH sequence) pair the sender may use next.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Column {
    pub sequence: u32,
    pub id: u16,
    pub _pad: u16,
}

/// The ICVs of one sender's plausible next adverts.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Prediction {
    /// The HMAC-covered bytes of the sender's advert (mutable IPv4 fields and the ICV
    /// zeroed, as the program stores its template) with the fields that vary — IP id, AH
    /// sequence, VRRP priority and checksum — zeroed too: see [`normalise`].
    pub template: [u8; TEMPLATE_LEN],
    /// Length of the message in `template`; 0: entry unused.
    pub len: u16,
    pub _pad: [u8; 6],
    pub columns: [Column; COLUMNS],
    /// `icv[priority][column]`.
    pub icv: [[[u8; ICV_LEN]; COLUMNS]; PRIORITIES],
}

const _: () = assert!(size_of::<PredictKey>() == 8);
const _: () = assert!(size_of::<Column>() == 8);
const _: () =
    assert!(size_of::<Prediction>() == TEMPLATE_LEN + 8 + 8 * COLUMNS + 12 * COLUMNS * 256);

/// Where the varying fields of an IPv4 AH advert are, from its IPv4 header length.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Layout {
    pub ip_len: usize,
}

impl Layout {
    /// IP id.
    pub const ID: usize = 4;

    /// The layout of `message` (an IPv4 header first), if its header length is sane.
    pub fn of(message: &[u8]) -> Option<Self> {
        let ip_len = usize::from(*message.first()? & 0x0f) * 4;
        (20..=60).contains(&ip_len).then_some(Self { ip_len })
    }
    /// AH sequence number.
    pub const fn sequence(self) -> usize {
        self.ip_len + 8
    }
    /// Start of the VRRP packet (after the 24-byte AH header).
    pub const fn vrrp(self) -> usize {
        self.ip_len + 24
    }
    /// VRRP priority.
    pub const fn priority(self) -> usize {
        self.vrrp() + 2
    }
    /// VRRP checksum.
    pub const fn checksum(self) -> usize {
        self.vrrp() + 6
    }
}

/// Zeroes the varying fields of `message` (IP id, AH sequence, priority, VRRP checksum).
pub fn normalise(message: &mut [u8], layout: Layout) {
    for at in [
        Layout::ID,
        Layout::ID + 1,
        layout.priority(),
        layout.checksum(),
        layout.checksum() + 1,
    ] {
        if let Some(b) = message.get_mut(at) {
            *b = 0;
        }
    }
    let s = layout.sequence();
    if let Some(seq) = message.get_mut(s..s + 4) {
        seq.fill(0);
    }
}

/// Fills in a normalised `message` for (`id`, `sequence`, `priority`) with the VRRPv2
/// checksum (RFC 3768 §5.3.8: over the VRRP packet only) recomputed.
pub fn specialise(message: &mut [u8], layout: Layout, id: u16, sequence: u32, priority: u8) {
    let s = layout.sequence();
    let (v, c) = (layout.vrrp(), layout.checksum());
    if message.len() < c + 2 || message.len() < s + 4 {
        return;
    }
    message[Layout::ID..Layout::ID + 2].copy_from_slice(&id.to_be_bytes());
    message[s..s + 4].copy_from_slice(&sequence.to_be_bytes());
    message[layout.priority()] = priority;
    message[c] = 0;
    message[c + 1] = 0;
    let mut sum = 0u32;
    let vrrp = &message[v..];
    for pair in vrrp.chunks(2) {
        let hi = u32::from(pair[0]) << 8;
        let lo = pair.get(1).map_or(0, |b| u32::from(*b));
        sum += hi | lo;
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    let checksum = !(sum as u16);
    message[c..c + 2].copy_from_slice(&checksum.to_be_bytes());
}

/// HMAC-MD5-96 of `message` (at most 183 bytes: three MD5 blocks with padding) from the
/// key's inner and outer midstates (`md5::key_midstate`): 2–3 compressions for the inner
/// pass and one for the outer, as the program computes it.
pub fn icv(inner: &[u32; 4], outer: &[u32; 4], message: &[u8]) -> [u8; ICV_LEN] {
    let len = message.len().min(TEMPLATE_LEN - 9);
    let mut padded = [0u8; TEMPLATE_LEN];
    padded[..len].copy_from_slice(&message[..len]);
    padded[len] = 0x80;
    let blocks = (len + 8) / 64 + 1;
    let end = blocks * 64 - 8;
    padded[end..end + 8].copy_from_slice(&(((64 + len) * 8) as u64).to_le_bytes());
    let mut state = *inner;
    for b in 0..blocks {
        let mut block = [0u8; 64];
        block.copy_from_slice(&padded[b * 64..b * 64 + 64]);
        md5::compress(&mut state, &block);
    }
    let full = md5::hmac_outer(outer, &md5::digest(&state));
    let mut out = [0u8; ICV_LEN];
    out.copy_from_slice(&full[..ICV_LEN]);
    out
}

/// keepalived's IP id after `id`: a counter that skips 0.
pub const fn next_id(id: u16) -> u16 {
    match id.wrapping_add(1) {
        0 => 1,
        n => n,
    }
}

#[cfg(feature = "user")]
#[allow(
    unsafe_code,
    reason = "`aya::Pod` is an unsafe trait; these are integer-only repr(C) structs"
)]
mod pod {
    // SAFETY: `#[repr(C)]`, integers and integer arrays only, explicit padding.
    unsafe impl aya::Pod for super::PredictKey {}
    // SAFETY: as above.
    unsafe impl aya::Pod for super::Prediction {}
}

#[cfg(test)]
mod tests {
    use hmac::{Hmac, Mac as _};

    use super::*;

    #[test]
    fn icv_from_midstates_is_hmac_md5_96() {
        let key = b"secret";
        let inner = md5::key_midstate(key, 0x36);
        let outer = md5::key_midstate(key, 0x5c);
        for len in [1usize, 55, 56, 63, 64, 68, 119, 120, 183] {
            let message: [u8; 183] = core::array::from_fn(|i| (i * 7 + len) as u8);
            let mut mac = <Hmac<::md5::Md5> as hmac::digest::KeyInit>::new_from_slice(key)
                .expect("any key length");
            mac.update(&message[..len]);
            let full = mac.finalize().into_bytes();
            assert_eq!(
                icv(&inner, &outer, &message[..len])[..],
                full[..12],
                "len {len}"
            );
        }
    }

    #[test]
    fn specialise_sets_fields_and_a_valid_checksum() {
        // IPv4 (20) + AH (24) + VRRPv2 with one address (20).
        let mut m = [0u8; 64];
        m[0] = 0x45;
        m[44] = 0x21;
        m[45] = 51;
        m[47] = 1;
        m[48] = 2;
        m[49] = 1;
        m[52..56].copy_from_slice(&[10, 0, 0, 100]);
        let layout = Layout::of(&m).expect("IPv4");
        specialise(&mut m, layout, 7, 9, 150);
        assert_eq!(&m[4..6], &7u16.to_be_bytes());
        assert_eq!(&m[28..32], &9u32.to_be_bytes());
        assert_eq!(m[46], 150);
        let mut sum = 0u32;
        for pair in m[44..].chunks(2) {
            sum += (u32::from(pair[0]) << 8) | u32::from(pair[1]);
        }
        while sum > 0xffff {
            sum = (sum & 0xffff) + (sum >> 16);
        }
        assert_eq!(sum, 0xffff);
        normalise(&mut m, layout);
        assert!(m[4..6].iter().chain(&m[28..32]).all(|b| *b == 0));
        assert_eq!((m[46], m[50], m[51]), (0, 0, 0));
    }

    #[test]
    fn ip_id_skips_zero() {
        assert_eq!(next_id(u16::MAX), 1);
        assert_eq!(next_id(1), 2);
    }
}
