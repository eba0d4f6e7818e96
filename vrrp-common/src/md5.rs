//! MD5 (RFC 1321) block compression and HMAC-MD5 (RFC 2104) built on it, written for the
//! XDP program: no loops the verifier must bound, no slices, no panics. Userspace uses the
//! same code only to precompute the HMAC key's inner and outer midstates that the kernel
//! starts from; everything else in userspace uses the `md-5` and `hmac` crates, and the
//! tests check this module against them.

/// MD5 initial state (RFC 1321 §3.3).
pub const INIT: [u32; 4] = [0x6745_2301, 0xefcd_ab89, 0x98ba_dcfe, 0x1032_5476];

/// One 64-byte block.
pub type Block = [u8; 64];

#[inline(always)]
fn word(block: &Block, i: usize) -> u32 {
    u32::from_le_bytes([
        block[4 * i],
        block[4 * i + 1],
        block[4 * i + 2],
        block[4 * i + 3],
    ])
}

macro_rules! step {
    ($f:expr, $a:ident, $b:ident, $c:ident, $d:ident, $x:expr, $k:expr, $s:expr) => {
        $a = $b.wrapping_add(
            $a.wrapping_add($f($b, $c, $d))
                .wrapping_add($x)
                .wrapping_add($k)
                .rotate_left($s),
        );
    };
}

#[inline(always)]
fn f(x: u32, y: u32, z: u32) -> u32 {
    (x & y) | (!x & z)
}
#[inline(always)]
fn g(x: u32, y: u32, z: u32) -> u32 {
    (x & z) | (y & !z)
}
#[inline(always)]
fn h(x: u32, y: u32, z: u32) -> u32 {
    x ^ y ^ z
}
#[inline(always)]
fn i(x: u32, y: u32, z: u32) -> u32 {
    y ^ (x | !z)
}

/// Processes one block into `state` (RFC 1321 §3.4), fully unrolled.
#[inline(always)]
pub fn compress(state: &mut [u32; 4], block: &Block) {
    // Words are read from the block where used (no 64-byte copy: the XDP program's
    // stack is 512 bytes for all its frames together).
    let x = |i: usize| word(block, i);
    let [mut a, mut b, mut c, mut d] = *state;
    step!(f, a, b, c, d, x(0), 0xd76aa478, 7);
    step!(f, d, a, b, c, x(1), 0xe8c7b756, 12);
    step!(f, c, d, a, b, x(2), 0x242070db, 17);
    step!(f, b, c, d, a, x(3), 0xc1bdceee, 22);
    step!(f, a, b, c, d, x(4), 0xf57c0faf, 7);
    step!(f, d, a, b, c, x(5), 0x4787c62a, 12);
    step!(f, c, d, a, b, x(6), 0xa8304613, 17);
    step!(f, b, c, d, a, x(7), 0xfd469501, 22);
    step!(f, a, b, c, d, x(8), 0x698098d8, 7);
    step!(f, d, a, b, c, x(9), 0x8b44f7af, 12);
    step!(f, c, d, a, b, x(10), 0xffff5bb1, 17);
    step!(f, b, c, d, a, x(11), 0x895cd7be, 22);
    step!(f, a, b, c, d, x(12), 0x6b901122, 7);
    step!(f, d, a, b, c, x(13), 0xfd987193, 12);
    step!(f, c, d, a, b, x(14), 0xa679438e, 17);
    step!(f, b, c, d, a, x(15), 0x49b40821, 22);

    step!(g, a, b, c, d, x(1), 0xf61e2562, 5);
    step!(g, d, a, b, c, x(6), 0xc040b340, 9);
    step!(g, c, d, a, b, x(11), 0x265e5a51, 14);
    step!(g, b, c, d, a, x(0), 0xe9b6c7aa, 20);
    step!(g, a, b, c, d, x(5), 0xd62f105d, 5);
    step!(g, d, a, b, c, x(10), 0x02441453, 9);
    step!(g, c, d, a, b, x(15), 0xd8a1e681, 14);
    step!(g, b, c, d, a, x(4), 0xe7d3fbc8, 20);
    step!(g, a, b, c, d, x(9), 0x21e1cde6, 5);
    step!(g, d, a, b, c, x(14), 0xc33707d6, 9);
    step!(g, c, d, a, b, x(3), 0xf4d50d87, 14);
    step!(g, b, c, d, a, x(8), 0x455a14ed, 20);
    step!(g, a, b, c, d, x(13), 0xa9e3e905, 5);
    step!(g, d, a, b, c, x(2), 0xfcefa3f8, 9);
    step!(g, c, d, a, b, x(7), 0x676f02d9, 14);
    step!(g, b, c, d, a, x(12), 0x8d2a4c8a, 20);

    step!(h, a, b, c, d, x(5), 0xfffa3942, 4);
    step!(h, d, a, b, c, x(8), 0x8771f681, 11);
    step!(h, c, d, a, b, x(11), 0x6d9d6122, 16);
    step!(h, b, c, d, a, x(14), 0xfde5380c, 23);
    step!(h, a, b, c, d, x(1), 0xa4beea44, 4);
    step!(h, d, a, b, c, x(4), 0x4bdecfa9, 11);
    step!(h, c, d, a, b, x(7), 0xf6bb4b60, 16);
    step!(h, b, c, d, a, x(10), 0xbebfbc70, 23);
    step!(h, a, b, c, d, x(13), 0x289b7ec6, 4);
    step!(h, d, a, b, c, x(0), 0xeaa127fa, 11);
    step!(h, c, d, a, b, x(3), 0xd4ef3085, 16);
    step!(h, b, c, d, a, x(6), 0x04881d05, 23);
    step!(h, a, b, c, d, x(9), 0xd9d4d039, 4);
    step!(h, d, a, b, c, x(12), 0xe6db99e5, 11);
    step!(h, c, d, a, b, x(15), 0x1fa27cf8, 16);
    step!(h, b, c, d, a, x(2), 0xc4ac5665, 23);

    step!(i, a, b, c, d, x(0), 0xf4292244, 6);
    step!(i, d, a, b, c, x(7), 0x432aff97, 10);
    step!(i, c, d, a, b, x(14), 0xab9423a7, 15);
    step!(i, b, c, d, a, x(5), 0xfc93a039, 21);
    step!(i, a, b, c, d, x(12), 0x655b59c3, 6);
    step!(i, d, a, b, c, x(3), 0x8f0ccc92, 10);
    step!(i, c, d, a, b, x(10), 0xffeff47d, 15);
    step!(i, b, c, d, a, x(1), 0x85845dd1, 21);
    step!(i, a, b, c, d, x(8), 0x6fa87e4f, 6);
    step!(i, d, a, b, c, x(15), 0xfe2ce6e0, 10);
    step!(i, c, d, a, b, x(6), 0xa3014314, 15);
    step!(i, b, c, d, a, x(13), 0x4e0811a1, 21);
    step!(i, a, b, c, d, x(4), 0xf7537e82, 6);
    step!(i, d, a, b, c, x(11), 0xbd3af235, 10);
    step!(i, c, d, a, b, x(2), 0x2ad7d2bb, 15);
    step!(i, b, c, d, a, x(9), 0xeb86d391, 21);

    state[0] = state[0].wrapping_add(a);
    state[1] = state[1].wrapping_add(b);
    state[2] = state[2].wrapping_add(c);
    state[3] = state[3].wrapping_add(d);
}

/// The state after the first block of an HMAC pass: MD5 of `(key ⊕ pad)` (RFC 2104 §2),
/// for a key of at most 64 bytes (VRRP keys are at most 8). `pad` is 0x36 (inner) or 0x5c
/// (outer).
pub fn key_midstate(key: &[u8], pad: u8) -> [u32; 4] {
    let mut block = [pad; 64];
    for (b, k) in block.iter_mut().zip(key) {
        *b ^= *k;
    }
    let mut state = INIT;
    compress(&mut state, &block);
    state
}

/// The digest bytes of an MD5 state (little-endian words, RFC 1321 §3.5).
#[inline(always)]
pub fn digest(state: &[u32; 4]) -> [u8; 16] {
    let mut out = [0u8; 16];
    let mut n = 0;
    while n < 4 {
        let w = state[n].to_le_bytes();
        out[4 * n] = w[0];
        out[4 * n + 1] = w[1];
        out[4 * n + 2] = w[2];
        out[4 * n + 3] = w[3];
        n += 1;
    }
    out
}

/// Fills `block` with the outer pass's only message block: the inner digest, padded,
/// counting the 64-byte key block the outer midstate already holds.
#[inline(always)]
pub fn outer_block(inner_digest: &[u8; 16], block: &mut Block) {
    let mut n = 0;
    while n < 64 {
        block[n] = if n < 16 { inner_digest[n] } else { 0 };
        n += 1;
    }
    block[16] = 0x80;
    // Length in bits of everything hashed: one key block (64) + 16 bytes.
    let len = (((64 + 16) * 8) as u64).to_le_bytes();
    let mut k = 0;
    while k < 8 {
        block[56 + k] = len[k];
        k += 1;
    }
}

/// The outer pass of HMAC-MD5: `MD5(key ⊕ opad ‖ inner_digest)`, from the outer midstate.
#[inline(always)]
pub fn hmac_outer(outer: &[u32; 4], inner_digest: &[u8; 16]) -> [u8; 16] {
    let mut block = [0u8; 64];
    outer_block(inner_digest, &mut block);
    let mut state = *outer;
    compress(&mut state, &block);
    digest(&state)
}

#[cfg(test)]
mod tests {
    extern crate std;
    use std::vec::Vec;

    use hmac::{Hmac, Mac};
    use md5::Digest as _;

    use super::*;

    /// Runs `message`, MD5-padded as if `before` bytes had been hashed already, through
    /// our compress from `state`.
    fn absorb(mut state: [u32; 4], message: &[u8], before: usize) -> [u32; 4] {
        let mut data: Vec<u8> = message.to_vec();
        let bits = ((before + message.len()) as u64) * 8;
        data.push(0x80);
        while data.len() % 64 != 56 {
            data.push(0);
        }
        data.extend_from_slice(&bits.to_le_bytes());
        for chunk in data.chunks_exact(64) {
            compress(&mut state, chunk.try_into().unwrap());
        }
        state
    }

    /// MD5 of a whole message with our compress.
    fn md5_ours(message: &[u8]) -> [u8; 16] {
        digest(&absorb(INIT, message, 0))
    }

    #[test]
    fn matches_the_md5_crate() {
        for len in 0..300 {
            let message: Vec<u8> = (0..len).map(|i| (i * 7 + 3) as u8).collect();
            let theirs: [u8; 16] = md5::Md5::digest(&message).into();
            assert_eq!(md5_ours(&message), theirs, "length {len}");
        }
    }

    #[test]
    fn hmac_from_midstates_matches_the_hmac_crate() {
        for key in [&b"k@l"[..], b"", b"12345678"] {
            let inner = key_midstate(key, 0x36);
            let outer = key_midstate(key, 0x5c);
            for len in [0usize, 20, 55, 56, 64, 68, 100, 164] {
                let message: Vec<u8> = (0..len).map(|i| (i * 13) as u8).collect();
                // Inner hash: midstate, then the message padded as if preceded by 64 bytes.
                let state = absorb(inner, &message, 64);
                let ours = hmac_outer(&outer, &digest(&state));
                let mut mac = Hmac::<md5::Md5>::new_from_slice(key).unwrap();
                mac.update(&message);
                let theirs: [u8; 16] = mac.finalize().into_bytes().into();
                assert_eq!(ours, theirs, "key {key:?} length {len}");
            }
        }
    }

    #[test]
    fn master_down_matches_the_rfc() {
        use crate::maps::{master_down_ns, skew_ns};
        // RFC 3768: priority 100, 1 s: skew 156/256 s = 0.609375 s, master down 3.609375 s.
        assert_eq!(skew_ns(2, 100, 100), 609_375_000);
        assert_eq!(master_down_ns(2, 100, 100), 3_609_375_000);
        // VRRPv2 with a 3 s interval: the skew stays 156/256 s (keepalived).
        assert_eq!(skew_ns(2, 100, 300), 609_375_000);
        assert_eq!(master_down_ns(2, 100, 300), 9_609_375_000);
        // VRRPv3 scales the skew by the interval: 0.5 s at priority 200 → 0.109375 s.
        assert_eq!(skew_ns(3, 200, 50), 109_375_000);
    }
}
