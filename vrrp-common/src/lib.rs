//! Plain-old-data types shared by the XDP program (`vrrp-ebpf`) and the controller
//! (`vrrp-userspace`): map names, map keys and values, counter indices, protocol constants.
//!
//! Everything here is `#[repr(C)]` with explicit padding and a compile-time size check, so the
//! kernel and userspace agree on the layout byte for byte. No `bool` or Rust enums cross the
//! boundary: plain integers with named constants, converted with `TryFrom` in userspace.
#![no_std]

pub mod counters;

/// IP protocol number of VRRP (RFC 5798 §5.1.1.4).
pub const IPPROTO_VRRP: u8 = 112;
/// IP protocol number of the IPsec Authentication Header (RFC 2402 §2).
pub const IPPROTO_AH: u8 = 51;
/// The only TTL / hop limit a VRRP advert may carry (RFC 5798 §5.1.1.3).
pub const VRRP_TTL: u8 = 255;
/// IPv4 multicast group of VRRP (RFC 5798 §5.1.1.2).
pub const VRRP_GROUP_V4: [u8; 4] = [224, 0, 0, 18];
/// IPv6 multicast group of VRRP (RFC 5798 §5.1.2.2).
pub const VRRP_GROUP_V6: [u8; 16] = [0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x12];
pub mod maps;
pub mod md5;
pub mod policy;
pub mod predict;
