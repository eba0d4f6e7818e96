//! The packet codec: one module per protocol layer, each with a `Repr` (what the header
//! means) that is `parse`d from bytes and `emit`ted into them. Lengths and checksums are
//! computed on emit and verified on parse, never stored, so `parse(emit(r)) == r`.
//!
//! No I/O, no panics on any input: every malformed packet is an [`Error`] naming the first
//! check it failed.
//!
//! Layers: [`ethernet`] (with one 802.1Q/802.1ad tag) → [`ipv4`] / [`ipv6`] → [`ah`]
//! (IPSEC-AH, keepalived's `auth_type AH`) → [`vrrp`] (v2 and v3). [`advert`] ties the IP,
//! AH and VRRP layers into the unit keepalived sends and authenticates; [`frame`] adds the
//! link layer.

pub mod advert;
pub mod ah;
pub mod arp;
pub mod checksum;
pub mod ethernet;
pub mod frame;
pub mod ipv4;
pub mod ipv6;
pub mod ndp;
pub mod vrrp;

use std::fmt;

/// The protocol layer a decode error was found in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layer {
    Ethernet,
    Vlan,
    Ipv4,
    Ipv6,
    Ah,
    Vrrp,
}

impl fmt::Display for Layer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Ethernet => "Ethernet",
            Self::Vlan => "802.1Q",
            Self::Ipv4 => "IPv4",
            Self::Ipv6 => "IPv6",
            Self::Ah => "AH",
            Self::Vrrp => "VRRP",
        })
    }
}

/// Why a packet could not be decoded, in the order the checks run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error("{layer} header truncated: {needed} bytes needed, {available} available")]
    Truncated {
        layer: Layer,
        needed: usize,
        available: usize,
    },
    #[error("ethertype {0:#06x} is neither IPv4 nor IPv6")]
    NotIp(u16),
    #[error("IP version {found} where {expected} was expected")]
    IpVersion { expected: u8, found: u8 },
    #[error("IPv4 header length {0} bytes is below the minimum of 20")]
    Ipv4HeaderLength(usize),
    #[error("IPv4 total length {total} is shorter than its header ({header} bytes)")]
    Ipv4TotalLength { total: usize, header: usize },
    #[error("IPv4 header checksum mismatch")]
    Ipv4Checksum,
    #[error("IPv4 fragment (VRRP adverts are never fragmented)")]
    Fragment,
    #[error("IP protocol {0} is neither VRRP (112) nor AH (51)")]
    NotVrrp(u8),
    #[error("AH next header {0} is not VRRP (112)")]
    AhNextHeader(u8),
    #[error("AH length field {0} announces fewer than the 12 fixed bytes")]
    AhLength(u8),
    #[error("AH ICV is {0} bytes; HMAC-MD5-96 needs 12")]
    AhIcvLength(usize),
    #[error("VRRP version {0} is not 2 or 3")]
    VrrpVersion(u8),
    #[error("VRRP type {0} is not 1 (ADVERTISEMENT)")]
    VrrpType(u8),
    #[error("VRRPv2 over IPv6 does not exist")]
    VrrpV2OverIpv6,
    #[error("VRRP packet is {actual} bytes; {count} addresses need exactly {expected}")]
    VrrpLength {
        count: u8,
        expected: usize,
        actual: usize,
    },
    #[error("VRRP checksum mismatch")]
    VrrpChecksum,
}

/// Why a representation could not be emitted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EmitError {
    #[error("{0} virtual addresses do not fit the 8-bit count field")]
    TooManyAddresses(usize),
    #[error("VRRP address family does not match the IP header's")]
    AddressFamily,
    #[error("VRRPv3 advert interval {0} cs exceeds the 12-bit field (4095)")]
    Interval(u16),
    #[error("IPv4 options must be at most 40 bytes and a multiple of 4 (got {0})")]
    Ipv4Options(usize),
    #[error("packet of {0} bytes exceeds the 16-bit length field")]
    TooLong(usize),
    #[error("an AH advert needs an AH key to compute its ICV")]
    MissingAhKey,
    #[error("VRRPv2 over IPv6 does not exist")]
    VrrpV2OverIpv6,
    #[error("keepalived's IPSEC-AH exists for IPv4 only")]
    AhOverIpv6,
}

/// `bytes[at..at + N]` as an array, or a truncation error for `layer`.
pub(crate) fn take<const N: usize>(
    bytes: &[u8],
    at: usize,
    layer: Layer,
) -> Result<[u8; N], Error> {
    bytes
        .get(at..at + N)
        .and_then(|slice| slice.try_into().ok())
        .ok_or(Error::Truncated {
            layer,
            needed: at + N,
            available: bytes.len(),
        })
}

/// Fails with a truncation error unless `bytes` holds at least `needed` bytes.
pub(crate) fn need(bytes: &[u8], needed: usize, layer: Layer) -> Result<(), Error> {
    if bytes.len() < needed {
        Err(Error::Truncated {
            layer,
            needed,
            available: bytes.len(),
        })
    } else {
        Ok(())
    }
}
