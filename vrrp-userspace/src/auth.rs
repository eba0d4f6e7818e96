//! VRRP authentication exactly as keepalived computes it: VRRPv2 simple password (`PASS`,
//! RFC 2338 §5.3.6.1) and IPSEC-AH with HMAC-MD5-96 (RFC 2402, RFC 2403, RFC 2104).
//!
//! keepalived's AH ICV is the first 12 bytes of HMAC-MD5 keyed with the password (at most
//! 8 bytes) over: the IPv4 header with TOS, flags + fragment offset and header checksum
//! zeroed (TTL zeroed too, but only for a unicast destination), then the AH header with its
//! ICV zeroed, then the VRRP packet. Comparisons run in constant time.
use std::fmt;

use hmac::{Hmac, Mac as _};
use md5::Md5;
use subtle::ConstantTimeEq as _;

use crate::wire::{ah, ipv4};

/// keepalived keeps at most this many bytes of `auth_pass` (the VRRPv2 auth data field).
pub const PASSWORD_LEN: usize = 8;

/// A VRRP password or AH key, as keepalived stores it: at most 8 bytes, zero-padded.
/// Its `Debug` never shows the secret.
#[derive(Clone, PartialEq, Eq)]
pub struct Password {
    bytes: [u8; PASSWORD_LEN],
    len: usize,
    truncated: bool,
}

impl Password {
    /// Keeps the first 8 bytes of `secret`, as keepalived does (see [`Self::was_truncated`]).
    pub fn new(secret: &[u8]) -> Self {
        let len = secret.len().min(PASSWORD_LEN);
        let mut bytes = [0; PASSWORD_LEN];
        bytes[..len].copy_from_slice(&secret[..len]);
        Self {
            bytes,
            len,
            truncated: secret.len() > PASSWORD_LEN,
        }
    }

    /// Whether the configured secret was longer than 8 bytes and cut (keepalived warns).
    pub fn was_truncated(&self) -> bool {
        self.truncated
    }

    /// The 8 bytes a PASS advert carries in its authentication data.
    pub fn pass_data(&self) -> [u8; PASSWORD_LEN] {
        self.bytes
    }

    /// The HMAC-MD5 state after the key's inner (`key ⊕ ipad`) and outer (`key ⊕ opad`)
    /// blocks: what the XDP program starts from, so the raw key never enters the kernel.
    pub fn hmac_midstates(&self) -> ([u32; 4], [u32; 4]) {
        (
            vrrp_common::md5::key_midstate(self.key(), 0x36),
            vrrp_common::md5::key_midstate(self.key(), 0x5c),
        )
    }

    /// The HMAC key. Trailing zero padding would not change HMAC (the key is zero-padded to
    /// the block size anyway), but the unpadded key is what keepalived's documentation names.
    fn key(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

/// Whether the PASS authentication data of an advert equals `password` (constant time).
pub fn pass_matches(password: &Password, auth_data: &[u8; PASSWORD_LEN]) -> bool {
    password.bytes.ct_eq(auth_data).into()
}

fn hmac(password: &Password) -> Hmac<Md5> {
    // HMAC accepts keys of any length; this cannot fail.
    <Hmac<Md5> as hmac::digest::KeyInit>::new_from_slice(password.key())
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"))
}

/// `ip_header` as the ICV covers it: its mutable fields zeroed; with its length.
fn covered_ip_header(ip_header: &[u8]) -> ([u8; ipv4::MAX_HEADER_LEN], usize) {
    let mut header = [0u8; ipv4::MAX_HEADER_LEN];
    let len = ip_header.len().min(ipv4::MAX_HEADER_LEN);
    header[..len].copy_from_slice(&ip_header[..len]);
    header[1] = 0; // TOS
    header[6] = 0; // flags + fragment offset
    header[7] = 0;
    header[10] = 0; // header checksum
    header[11] = 0;
    let multicast = (0xe0..=0xef).contains(&header[16]);
    if !multicast {
        header[8] = 0; // TTL, mutable in transit for unicast
    }
    (header, len)
}

/// The parts of the authenticated bytes, in order: `ip_header` with mutable fields
/// zeroed, `ah_header` (12 fixed bytes, then the ICV as zeros) and `vrrp`.
fn covered_parts<'a>(
    header: &'a ([u8; ipv4::MAX_HEADER_LEN], usize),
    ah_fixed: &'a [u8],
    vrrp: &'a [u8],
) -> [&'a [u8]; 4] {
    [
        &header.0[..header.1],
        &ah_fixed[..ah_fixed.len().min(ah::FIXED_LEN)],
        &[0; ah::ICV_LEN],
        vrrp,
    ]
}

/// Feeds the authenticated bytes into `mac`.
fn feed(mac: &mut Hmac<Md5>, ip_header: &[u8], ah_fixed: &[u8], vrrp: &[u8]) {
    let header = covered_ip_header(ip_header);
    for part in covered_parts(&header, ah_fixed, vrrp) {
        mac.update(part);
    }
}

/// The bytes the ICV of an AH advert covers, in one piece (what the XDP program keeps as
/// a sender's template before [`vrrp_common::predict::normalise`]).
pub fn ah_covered(ip_header: &[u8], ah_fixed: &[u8], vrrp: &[u8]) -> Vec<u8> {
    let header = covered_ip_header(ip_header);
    covered_parts(&header, ah_fixed, vrrp).concat()
}

/// The HMAC-MD5-96 ICV keepalived puts in an AH advert.
///
/// `ip_header` is the IPv4 header as sent (options included), `ah_fixed` the first 12
/// bytes of the AH header, `vrrp` the VRRP packet.
pub fn ah_icv(
    password: &Password,
    ip_header: &[u8],
    ah_fixed: &[u8],
    vrrp: &[u8],
) -> [u8; ah::ICV_LEN] {
    let mut mac = hmac(password);
    feed(&mut mac, ip_header, ah_fixed, vrrp);
    let digest = mac.finalize().into_bytes();
    let mut icv = [0; ah::ICV_LEN];
    icv.copy_from_slice(&digest[..ah::ICV_LEN]);
    icv
}

/// Whether `icv` is the right HMAC-MD5-96 for these bytes (constant-time comparison).
pub fn ah_icv_matches(
    password: &Password,
    ip_header: &[u8],
    ah_fixed: &[u8],
    vrrp: &[u8],
    icv: &[u8; ah::ICV_LEN],
) -> bool {
    let mut mac = hmac(password);
    feed(&mut mac, ip_header, ah_fixed, vrrp);
    mac.verify_truncated_left(icv).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        let s: String = s.split_whitespace().collect();
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    /// The check value of testdata/vectors/README.md: VRID 51's first advert, key `k@l`.
    #[test]
    fn keepalived_check_value() {
        let ip = hex("45c0 0044 0001 0000 ff33 5205 c0a8 c805 e000 0012");
        let ah_fixed = hex("7004 0000 c0a8 c805 0000 0001");
        let vrrp = hex("2133 9602 0201 3561 c0a8 c80a c0a8 c80b 0000 0000 0000 0000");
        let icv = ah_icv(&Password::new(b"k@l"), &ip, &ah_fixed, &vrrp);
        assert_eq!(icv.to_vec(), hex("811e47812959b07d3752fbf8"));
        assert!(ah_icv_matches(
            &Password::new(b"k@l"),
            &ip,
            &ah_fixed,
            &vrrp,
            &icv
        ));
        assert!(!ah_icv_matches(
            &Password::new(b"k@l!ve1"),
            &ip,
            &ah_fixed,
            &vrrp,
            &icv
        ));
        // Mutable fields do not change the ICV; the TTL does for multicast.
        let mut mutated = ip.clone();
        mutated[1] = 0;
        mutated[10] = 0x12;
        assert!(ah_icv_matches(
            &Password::new(b"k@l"),
            &mutated,
            &ah_fixed,
            &vrrp,
            &icv
        ));
        mutated[8] = 64;
        assert!(!ah_icv_matches(
            &Password::new(b"k@l"),
            &mutated,
            &ah_fixed,
            &vrrp,
            &icv
        ));
    }

    #[test]
    fn passwords_are_cut_to_eight_bytes_and_never_printed() {
        let long = Password::new(b"0123456789");
        assert!(long.was_truncated());
        assert_eq!(long.pass_data(), *b"01234567");
        assert_eq!(long.pass_data(), Password::new(b"01234567").pass_data());
        assert!(!Password::new(b"k@l").was_truncated());
        assert_eq!(format!("{long:?}"), "Password(<redacted>)");
        assert!(pass_matches(&Password::new(b"s3cr3t!x"), b"s3cr3t!x"));
        assert!(!pass_matches(&Password::new(b"s3cr3t"), b"s3cr3t!x"));
    }
}
