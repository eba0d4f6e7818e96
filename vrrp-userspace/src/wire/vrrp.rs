//! VRRP advertisements: version 2 (RFC 3768 §5.1) and version 3 (RFC 5798 §5.1).
//!
//! ```text
//! VRRPv2:
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |Version| Type  | Virtual Rtr ID|   Priority    | Count IP Addrs|
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |   Auth Type   |   Adver Int   |          Checksum             |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                         IP Address (1..n)                     |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                     Authentication Data (1)                   |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                     Authentication Data (2)                   |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//!
//! VRRPv3:
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |Version| Type  | Virtual Rtr ID|   Priority    |Count IPvX Addr|
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |(rsvd) |     Max Adver Int     |          Checksum             |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                       IPvX Address(es) (1..n)                 |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//! Checksums: v2 covers the VRRP packet only (RFC 3768 §5.3.8); v3 adds the IPv4/IPv6
//! pseudo-header (RFC 5798 §5.2.8).
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::{EmitError, Error, Layer, checksum, need, take};

pub const FIXED_LEN: usize = 8;
/// VRRPv2's two words of authentication data.
pub const AUTH_DATA_LEN: usize = 8;
/// The only VRRP packet type (RFC 5798 §5.2.2).
pub const TYPE_ADVERTISEMENT: u8 = 1;

/// VRRPv2 authentication types (RFC 2338 §5.3.6; kept by keepalived).
pub const AUTH_NONE: u8 = 0;
pub const AUTH_PASS: u8 = 1;
pub const AUTH_AH: u8 = 2;

/// Protocol version with its version-specific fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    /// VRRPv2: whole-second interval and the 8-byte authentication trailer.
    V2 {
        advert_int_s: u8,
        auth_type: u8,
        auth_data: [u8; AUTH_DATA_LEN],
    },
    /// VRRPv3: 12-bit interval in centiseconds, no authentication.
    V3 { max_advert_int_cs: u16 },
}

impl Version {
    pub fn number(&self) -> u8 {
        match self {
            Self::V2 { .. } => 2,
            Self::V3 { .. } => 3,
        }
    }

    /// The advert interval in centiseconds, whatever the version.
    pub fn interval_cs(&self) -> u16 {
        match *self {
            Self::V2 { advert_int_s, .. } => u16::from(advert_int_s) * 100,
            Self::V3 { max_advert_int_cs } => max_advert_int_cs,
        }
    }
}

/// The IP addresses around the packet: VRRPv3's checksum covers them (pseudo-header).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Envelope {
    V4 { src: Ipv4Addr, dst: Ipv4Addr },
    V6 { src: Ipv6Addr, dst: Ipv6Addr },
}

impl Envelope {
    fn address_len(&self) -> usize {
        match self {
            Self::V4 { .. } => 4,
            Self::V6 { .. } => 16,
        }
    }

    fn pseudo_header_sum(&self, vrrp_len: usize) -> u32 {
        let tail = [0, vrrp_common::IPPROTO_VRRP];
        match self {
            Self::V4 { src, dst } => {
                let sum = checksum::accumulate(0, &src.octets());
                let sum = checksum::accumulate(sum, &dst.octets());
                let sum = checksum::accumulate(sum, &tail);
                checksum::accumulate(sum, &(vrrp_len as u16).to_be_bytes())
            }
            Self::V6 { src, dst } => {
                let sum = checksum::accumulate(0, &src.octets());
                let sum = checksum::accumulate(sum, &dst.octets());
                let sum = checksum::accumulate(sum, &(vrrp_len as u32).to_be_bytes());
                checksum::accumulate(sum, &[0, 0, tail[0], tail[1]])
            }
        }
    }
}

/// A VRRP advertisement. Count and checksum are derived.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repr {
    pub version: Version,
    pub vrid: u8,
    pub priority: u8,
    /// The virtual addresses, all of the envelope's family.
    pub addresses: Vec<IpAddr>,
}

impl Repr {
    /// Length on the wire for `count` addresses of `address_len` bytes.
    fn wire_len(version: &Version, count: usize, address_len: usize) -> usize {
        let trailer = if matches!(version, Version::V2 { .. }) {
            AUTH_DATA_LEN
        } else {
            0
        };
        FIXED_LEN + count * address_len + trailer
    }

    /// Parses and checks an advert (RFC 5798 §7.1 order: version, type, length, checksum).
    pub fn parse(bytes: &[u8], envelope: &Envelope) -> Result<Self, Error> {
        need(bytes, FIXED_LEN, Layer::Vrrp)?;
        let [version_type, vrid, priority, count] = take::<4>(bytes, 0, Layer::Vrrp)?;
        let [b4, b5] = take::<2>(bytes, 4, Layer::Vrrp)?;
        let (number, kind) = (version_type >> 4, version_type & 0x0f);
        let version = match number {
            2 => {
                if matches!(envelope, Envelope::V6 { .. }) {
                    return Err(Error::VrrpV2OverIpv6);
                }
                // The trailer is read after the length check below.
                Version::V2 {
                    advert_int_s: b5,
                    auth_type: b4,
                    auth_data: [0; AUTH_DATA_LEN],
                }
            }
            3 => Version::V3 {
                max_advert_int_cs: u16::from_be_bytes([b4 & 0x0f, b5]),
            },
            other => return Err(Error::VrrpVersion(other)),
        };
        if kind != TYPE_ADVERTISEMENT {
            return Err(Error::VrrpType(kind));
        }
        let address_len = envelope.address_len();
        let expected = Self::wire_len(&version, usize::from(count), address_len);
        if bytes.len() != expected {
            return Err(Error::VrrpLength {
                count,
                expected,
                actual: bytes.len(),
            });
        }
        let sum = match version {
            Version::V2 { .. } => checksum::of(bytes),
            Version::V3 { .. } => checksum::finish(checksum::accumulate(
                envelope.pseudo_header_sum(bytes.len()),
                bytes,
            )),
        };
        if sum != 0 && !cfg!(fuzzing) {
            return Err(Error::VrrpChecksum);
        }
        let list = &bytes[FIXED_LEN..FIXED_LEN + usize::from(count) * address_len];
        let addresses = list
            .chunks_exact(address_len)
            .map(|chunk| match <[u8; 16]>::try_from(chunk) {
                Ok(v6) => IpAddr::V6(Ipv6Addr::from(v6)),
                Err(_) => IpAddr::V4(Ipv4Addr::new(chunk[0], chunk[1], chunk[2], chunk[3])),
            })
            .collect();
        let version = match version {
            Version::V2 {
                advert_int_s,
                auth_type,
                ..
            } => Version::V2 {
                advert_int_s,
                auth_type,
                auth_data: take::<AUTH_DATA_LEN>(bytes, expected - AUTH_DATA_LEN, Layer::Vrrp)?,
            },
            v3 => v3,
        };
        Ok(Self {
            version,
            vrid,
            priority,
            addresses,
        })
    }

    /// Length on the wire.
    pub fn buffer_len(&self, envelope: &Envelope) -> usize {
        Self::wire_len(&self.version, self.addresses.len(), envelope.address_len())
    }

    /// Appends the advert, checksum computed.
    pub fn emit(&self, envelope: &Envelope, out: &mut Vec<u8>) -> Result<(), EmitError> {
        let count = u8::try_from(self.addresses.len())
            .map_err(|_| EmitError::TooManyAddresses(self.addresses.len()))?;
        let start = out.len();
        out.extend_from_slice(&[(self.version.number() << 4) | TYPE_ADVERTISEMENT, self.vrid]);
        out.extend_from_slice(&[self.priority, count]);
        match self.version {
            Version::V2 {
                advert_int_s,
                auth_type,
                ..
            } => {
                if matches!(envelope, Envelope::V6 { .. }) {
                    return Err(EmitError::VrrpV2OverIpv6);
                }
                out.extend_from_slice(&[auth_type, advert_int_s]);
            }
            Version::V3 { max_advert_int_cs } => {
                if max_advert_int_cs > 0x0fff {
                    return Err(EmitError::Interval(max_advert_int_cs));
                }
                out.extend_from_slice(&max_advert_int_cs.to_be_bytes());
            }
        }
        out.extend_from_slice(&[0, 0]);
        for address in &self.addresses {
            match (address, envelope) {
                (IpAddr::V4(a), Envelope::V4 { .. }) => out.extend_from_slice(&a.octets()),
                (IpAddr::V6(a), Envelope::V6 { .. }) => out.extend_from_slice(&a.octets()),
                _ => return Err(EmitError::AddressFamily),
            }
        }
        let sum = match self.version {
            Version::V2 { auth_data, .. } => {
                out.extend_from_slice(&auth_data);
                checksum::of(&out[start..])
            }
            Version::V3 { .. } => {
                let len = out.len() - start;
                checksum::finish(checksum::accumulate(
                    envelope.pseudo_header_sum(len),
                    &out[start..],
                ))
            }
        };
        out[start + 6..start + 8].copy_from_slice(&sum.to_be_bytes());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const V4: Envelope = Envelope::V4 {
        src: Ipv4Addr::new(192, 168, 200, 5),
        dst: Ipv4Addr::new(224, 0, 0, 18),
    };

    fn v2() -> Repr {
        Repr {
            version: Version::V2 {
                advert_int_s: 1,
                auth_type: AUTH_AH,
                auth_data: [0; 8],
            },
            vrid: 51,
            priority: 150,
            addresses: vec![
                IpAddr::V4(Ipv4Addr::new(192, 168, 200, 10)),
                IpAddr::V4(Ipv4Addr::new(192, 168, 200, 11)),
            ],
        }
    }

    #[test]
    fn keepalived_v2_bytes() {
        // From testdata/vectors/README.md: the VRRP part of VRID 51's first advert.
        let mut out = Vec::new();
        v2().emit(&V4, &mut out).unwrap();
        let expected = [
            0x21, 0x33, 0x96, 0x02, 0x02, 0x01, 0x35, 0x61, 0xc0, 0xa8, 0xc8, 0x0a, 0xc0, 0xa8,
            0xc8, 0x0b, 0, 0, 0, 0, 0, 0, 0, 0,
        ];
        assert_eq!(out, expected);
        assert_eq!(Repr::parse(&out, &V4).unwrap(), v2());
    }

    #[test]
    fn v3_checksum_covers_the_pseudo_header() {
        let repr = Repr {
            version: Version::V3 {
                max_advert_int_cs: 50,
            },
            ..v2()
        };
        let mut out = Vec::new();
        repr.emit(&V4, &mut out).unwrap();
        assert_eq!(Repr::parse(&out, &V4).unwrap(), repr);
        let other = Envelope::V4 {
            src: Ipv4Addr::new(192, 168, 200, 6),
            dst: Ipv4Addr::new(224, 0, 0, 18),
        };
        assert_eq!(Repr::parse(&out, &other), Err(Error::VrrpChecksum));
    }

    #[test]
    fn checks_in_order() {
        let mut out = Vec::new();
        v2().emit(&V4, &mut out).unwrap();
        let mut bad = out.clone();
        bad[0] = 0x41;
        assert_eq!(Repr::parse(&bad, &V4), Err(Error::VrrpVersion(4)));
        bad[0] = 0x22;
        assert_eq!(Repr::parse(&bad, &V4), Err(Error::VrrpType(2)));
        let mut count = out.clone();
        count[3] = 3;
        assert_eq!(
            Repr::parse(&count, &V4),
            Err(Error::VrrpLength {
                count: 3,
                expected: 28,
                actual: 24
            })
        );
        let mut sum = out;
        sum[2] = 151;
        assert_eq!(Repr::parse(&sum, &V4), Err(Error::VrrpChecksum));
    }

    #[test]
    fn emit_refuses_what_cannot_be_encoded() {
        let mut out = Vec::new();
        let v3 = Repr {
            version: Version::V3 {
                max_advert_int_cs: 4096,
            },
            ..v2()
        };
        assert_eq!(v3.emit(&V4, &mut out), Err(EmitError::Interval(4096)));
        let v6 = Envelope::V6 {
            src: Ipv6Addr::LOCALHOST,
            dst: Ipv6Addr::LOCALHOST,
        };
        assert_eq!(v2().emit(&v6, &mut out), Err(EmitError::VrrpV2OverIpv6));
        let mixed = Repr {
            version: Version::V3 {
                max_advert_int_cs: 100,
            },
            ..v2()
        };
        assert_eq!(mixed.emit(&v6, &mut out), Err(EmitError::AddressFamily));
    }
}
