//! IPv4 (RFC 791), options honoured.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |Version|  IHL  |Type of Service|          Total Length         |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |         Identification        |Flags|      Fragment Offset    |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |  Time to Live |    Protocol   |         Header Checksum       |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                       Source Address                          |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                    Destination Address                        |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                    Options                    |    Padding    |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
use std::net::Ipv4Addr;

use super::{EmitError, Error, Layer, checksum, need, take};

pub const MIN_HEADER_LEN: usize = 20;
pub const MAX_HEADER_LEN: usize = 60;
const FLAG_DF: u16 = 0x4000;
const FLAG_MF: u16 = 0x2000;
const OFFSET_MASK: u16 = 0x1fff;

/// An unfragmented IPv4 header. Total length and checksum are derived.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repr {
    /// Type of service / DSCP+ECN (keepalived sends 0xC0, internetwork control).
    pub tos: u8,
    pub ident: u16,
    pub dont_fragment: bool,
    pub ttl: u8,
    pub protocol: u8,
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    /// Raw options, a multiple of 4 bytes (empty in everything keepalived sends).
    pub options: Vec<u8>,
}

impl Repr {
    /// Parses and checks the header (version, lengths, checksum, not a fragment). Returns it
    /// and the payload, cut to the total length (trailing link-layer padding dropped).
    pub fn parse(bytes: &[u8]) -> Result<(Self, &[u8]), Error> {
        need(bytes, MIN_HEADER_LEN, Layer::Ipv4)?;
        let [version_ihl, tos] = take::<2>(bytes, 0, Layer::Ipv4)?;
        if version_ihl >> 4 != 4 {
            return Err(Error::IpVersion {
                expected: 4,
                found: version_ihl >> 4,
            });
        }
        let header_len = usize::from(version_ihl & 0x0f) * 4;
        if header_len < MIN_HEADER_LEN {
            return Err(Error::Ipv4HeaderLength(header_len));
        }
        need(bytes, header_len, Layer::Ipv4)?;
        let total = usize::from(u16::from_be_bytes(take::<2>(bytes, 2, Layer::Ipv4)?));
        if total < header_len {
            return Err(Error::Ipv4TotalLength {
                total,
                header: header_len,
            });
        }
        need(bytes, total, Layer::Ipv4)?;
        if checksum::of(&bytes[..header_len]) != 0 && !cfg!(fuzzing) {
            return Err(Error::Ipv4Checksum);
        }
        let flags = u16::from_be_bytes(take::<2>(bytes, 6, Layer::Ipv4)?);
        if flags & (FLAG_MF | OFFSET_MASK) != 0 {
            return Err(Error::Fragment);
        }
        let repr = Self {
            tos,
            ident: u16::from_be_bytes(take::<2>(bytes, 4, Layer::Ipv4)?),
            dont_fragment: flags & FLAG_DF != 0,
            ttl: bytes[8],
            protocol: bytes[9],
            src: Ipv4Addr::from(take::<4>(bytes, 12, Layer::Ipv4)?),
            dst: Ipv4Addr::from(take::<4>(bytes, 16, Layer::Ipv4)?),
            options: bytes[MIN_HEADER_LEN..header_len].to_vec(),
        };
        Ok((repr, &bytes[header_len..total]))
    }

    /// Header length on the wire (options included).
    pub fn buffer_len(&self) -> usize {
        MIN_HEADER_LEN + self.options.len()
    }

    /// Appends the header for a payload of `payload_len` bytes, checksum computed.
    pub fn emit(&self, payload_len: usize, out: &mut Vec<u8>) -> Result<(), EmitError> {
        if self.options.len() > MAX_HEADER_LEN - MIN_HEADER_LEN
            || !self.options.len().is_multiple_of(4)
        {
            return Err(EmitError::Ipv4Options(self.options.len()));
        }
        let total = self.buffer_len() + payload_len;
        let total = u16::try_from(total).map_err(|_| EmitError::TooLong(total))?;
        let start = out.len();
        let ihl = (self.buffer_len() / 4) as u8;
        out.extend_from_slice(&[0x40 | ihl, self.tos]);
        out.extend_from_slice(&total.to_be_bytes());
        out.extend_from_slice(&self.ident.to_be_bytes());
        let flags = if self.dont_fragment { FLAG_DF } else { 0 };
        out.extend_from_slice(&flags.to_be_bytes());
        out.extend_from_slice(&[self.ttl, self.protocol, 0, 0]);
        out.extend_from_slice(&self.src.octets());
        out.extend_from_slice(&self.dst.octets());
        out.extend_from_slice(&self.options);
        let sum = checksum::of(&out[start..]);
        out[start + 10..start + 12].copy_from_slice(&sum.to_be_bytes());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Repr {
        Repr {
            tos: 0xc0,
            ident: 1,
            dont_fragment: false,
            ttl: 255,
            protocol: 51,
            src: Ipv4Addr::new(192, 168, 200, 5),
            dst: Ipv4Addr::new(224, 0, 0, 18),
            options: Vec::new(),
        }
    }

    #[test]
    fn keepalived_header_bytes() {
        // The first AH advert of the seed case study (testdata/vectors/README.md).
        let mut out = Vec::new();
        sample().emit(48, &mut out).unwrap();
        let expected = [
            0x45, 0xc0, 0x00, 0x44, 0x00, 0x01, 0x00, 0x00, 0xff, 0x33, 0x52, 0x05, 0xc0, 0xa8,
            0xc8, 0x05, 0xe0, 0x00, 0x00, 0x12,
        ];
        assert_eq!(out, expected);
    }

    #[test]
    fn options_round_trip_and_padding_is_cut() {
        let repr = Repr {
            options: vec![0x94, 0x04, 0, 0],
            dont_fragment: true,
            ..sample()
        };
        let mut out = Vec::new();
        repr.emit(3, &mut out).unwrap();
        out.extend_from_slice(&[7, 8, 9, 0, 0, 0]);
        let (parsed, payload) = Repr::parse(&out).unwrap();
        assert_eq!(parsed, repr);
        assert_eq!(payload, &[7, 8, 9]);
    }

    #[test]
    fn rejects_fragments_and_bad_checksums() {
        let mut out = Vec::new();
        sample().emit(0, &mut out).unwrap();
        let mut bad = out.clone();
        bad[11] ^= 1;
        assert_eq!(Repr::parse(&bad), Err(Error::Ipv4Checksum));
        let mut frag = out.clone();
        frag[6] = 0x20; // MF
        let sum = checksum::of(&{
            let mut h = frag.clone();
            h[10] = 0;
            h[11] = 0;
            h
        });
        frag[10..12].copy_from_slice(&sum.to_be_bytes());
        assert_eq!(Repr::parse(&frag), Err(Error::Fragment));
    }

    #[test]
    fn rejects_short_ihl_and_total() {
        let mut out = Vec::new();
        sample().emit(0, &mut out).unwrap();
        let mut short = out.clone();
        short[0] = 0x44;
        assert_eq!(Repr::parse(&short), Err(Error::Ipv4HeaderLength(16)));
        let mut total = out;
        total[3] = 10;
        assert_eq!(
            Repr::parse(&total),
            Err(Error::Ipv4TotalLength {
                total: 10,
                header: 20
            })
        );
    }
}
