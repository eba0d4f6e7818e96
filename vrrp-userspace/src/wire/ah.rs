//! IP Authentication Header (RFC 2402 §2), as keepalived uses it for `auth_type AH`:
//! next header VRRP, SPI = the sender's IPv4 address, HMAC-MD5-96 ICV (12 bytes), so the
//! header is 24 bytes and its length field 4.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! | Next Header   |  Payload Len  |          RESERVED             |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                 Security Parameters Index (SPI)               |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                    Sequence Number Field                      |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                Authentication Data (ICV, 12 bytes)            |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//! Payload Len is the header length in 32-bit words minus 2 (RFC 2402 §2.2).
use super::{Error, Layer, need, take};

/// Fixed part: next header, length, reserved, SPI, sequence.
pub const FIXED_LEN: usize = 12;
/// HMAC-MD5-96 output.
pub const ICV_LEN: usize = 12;
/// The whole header keepalived sends.
pub const HEADER_LEN: usize = FIXED_LEN + ICV_LEN;

/// An AH header in front of a VRRP packet. The ICV is not part of the representation: it
/// is computed on emit (`auth`) and returned beside the header on parse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repr {
    /// Security Parameters Index; keepalived puts its IPv4 source address here.
    pub spi: u32,
    /// Anti-replay sequence number (RFC 2402 §2.5).
    pub sequence: u32,
}

impl Repr {
    /// Parses the header; returns it, its ICV and the payload (the VRRP packet).
    pub fn parse(bytes: &[u8]) -> Result<(Self, [u8; ICV_LEN], &[u8]), Error> {
        need(bytes, FIXED_LEN, Layer::Ah)?;
        let [next_header, len_words] = take::<2>(bytes, 0, Layer::Ah)?;
        if next_header != vrrp_common::IPPROTO_VRRP {
            return Err(Error::AhNextHeader(next_header));
        }
        // Length from the packet: (Payload Len + 2) 32-bit words.
        let header_len = (usize::from(len_words) + 2) * 4;
        if header_len < FIXED_LEN {
            return Err(Error::AhLength(len_words));
        }
        need(bytes, header_len, Layer::Ah)?;
        let icv = &bytes[FIXED_LEN..header_len];
        let icv: [u8; ICV_LEN] = icv.try_into().map_err(|_| Error::AhIcvLength(icv.len()))?;
        let repr = Self {
            spi: u32::from_be_bytes(take::<4>(bytes, 4, Layer::Ah)?),
            sequence: u32::from_be_bytes(take::<4>(bytes, 8, Layer::Ah)?),
        };
        Ok((repr, icv, &bytes[header_len..]))
    }

    pub fn buffer_len(&self) -> usize {
        HEADER_LEN
    }

    /// Appends the header with a zero ICV; returns the ICV's offset in `out`.
    pub fn emit(&self, out: &mut Vec<u8>) -> usize {
        let len_words = (HEADER_LEN / 4 - 2) as u8;
        out.extend_from_slice(&[vrrp_common::IPPROTO_VRRP, len_words, 0, 0]);
        out.extend_from_slice(&self.spi.to_be_bytes());
        out.extend_from_slice(&self.sequence.to_be_bytes());
        let icv_at = out.len();
        out.extend_from_slice(&[0; ICV_LEN]);
        icv_at
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_with_icv() {
        let repr = Repr {
            spi: 0xc0a8_c805,
            sequence: 1,
        };
        let mut out = Vec::new();
        let at = repr.emit(&mut out);
        out[at..at + ICV_LEN].copy_from_slice(&[0xaa; ICV_LEN]);
        out.push(0x21);
        let (parsed, icv, payload) = Repr::parse(&out).unwrap();
        assert_eq!(parsed, repr);
        assert_eq!(icv, [0xaa; ICV_LEN]);
        assert_eq!(payload, &[0x21]);
        assert_eq!(&out[..2], &[112, 4]);
    }

    #[test]
    fn length_comes_from_the_packet() {
        let mut out = Vec::new();
        Repr {
            spi: 1,
            sequence: 2,
        }
        .emit(&mut out);
        out[1] = 5; // a 28-byte header: 16-byte ICV
        out.extend_from_slice(&[0; 4]);
        assert_eq!(Repr::parse(&out), Err(Error::AhIcvLength(16)));
        out[1] = 0;
        assert_eq!(Repr::parse(&out), Err(Error::AhLength(0)));
        out[0] = 6;
        assert_eq!(Repr::parse(&out), Err(Error::AhNextHeader(6)));
    }
}
