//! IPv6 fixed header (RFC 8200 §3). VRRPv3 over IPv6 carries no extension headers.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |Version| Traffic Class |           Flow Label                  |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |         Payload Length        |  Next Header  |   Hop Limit   |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                     Source Address (16 bytes)                 |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                  Destination Address (16 bytes)               |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
use std::net::Ipv6Addr;

use super::{EmitError, Error, Layer, need, take};

pub const HEADER_LEN: usize = 40;

/// An IPv6 fixed header. Payload length is derived.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repr {
    pub traffic_class: u8,
    /// 20 bits.
    pub flow_label: u32,
    pub next_header: u8,
    pub hop_limit: u8,
    pub src: Ipv6Addr,
    pub dst: Ipv6Addr,
}

impl Repr {
    /// Parses the header; returns it and the payload cut to the payload length.
    pub fn parse(bytes: &[u8]) -> Result<(Self, &[u8]), Error> {
        need(bytes, HEADER_LEN, Layer::Ipv6)?;
        let word = u32::from_be_bytes(take::<4>(bytes, 0, Layer::Ipv6)?);
        let version = (word >> 28) as u8;
        if version != 6 {
            return Err(Error::IpVersion {
                expected: 6,
                found: version,
            });
        }
        let payload_len = usize::from(u16::from_be_bytes(take::<2>(bytes, 4, Layer::Ipv6)?));
        need(bytes, HEADER_LEN + payload_len, Layer::Ipv6)?;
        let repr = Self {
            traffic_class: (word >> 20) as u8,
            flow_label: word & 0x000f_ffff,
            next_header: bytes[6],
            hop_limit: bytes[7],
            src: Ipv6Addr::from(take::<16>(bytes, 8, Layer::Ipv6)?),
            dst: Ipv6Addr::from(take::<16>(bytes, 24, Layer::Ipv6)?),
        };
        Ok((repr, &bytes[HEADER_LEN..HEADER_LEN + payload_len]))
    }

    pub fn buffer_len(&self) -> usize {
        HEADER_LEN
    }

    /// Appends the header for a payload of `payload_len` bytes.
    pub fn emit(&self, payload_len: usize, out: &mut Vec<u8>) -> Result<(), EmitError> {
        let len = u16::try_from(payload_len).map_err(|_| EmitError::TooLong(payload_len))?;
        let word =
            (6u32 << 28) | (u32::from(self.traffic_class) << 20) | (self.flow_label & 0xfffff);
        out.extend_from_slice(&word.to_be_bytes());
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(&[self.next_header, self.hop_limit]);
        out.extend_from_slice(&self.src.octets());
        out.extend_from_slice(&self.dst.octets());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let repr = Repr {
            traffic_class: 0xc0,
            flow_label: 0x12345,
            next_header: 112,
            hop_limit: 255,
            src: "fe80::1".parse().unwrap(),
            dst: "ff02::12".parse().unwrap(),
        };
        let mut out = Vec::new();
        repr.emit(2, &mut out).unwrap();
        out.extend_from_slice(&[1, 2, 3]);
        let (parsed, payload) = Repr::parse(&out).unwrap();
        assert_eq!(parsed, repr);
        assert_eq!(payload, &[1, 2]);
    }

    #[test]
    fn wrong_version() {
        let bytes = [0x45u8; 40];
        assert_eq!(
            Repr::parse(&bytes),
            Err(Error::IpVersion {
                expected: 6,
                found: 4
            })
        );
    }
}
