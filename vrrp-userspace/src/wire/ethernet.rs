//! Ethernet II (IEEE 802.3) with at most one 802.1Q / 802.1ad tag.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                  Destination MAC (6 bytes)                    |
//! +                               +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                               |                               |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+       Source MAC (6 bytes)    +
//! |                                                               |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |  TPID 0x8100 / 0x88a8 (opt.)  |  PCP|D|  VLAN ID (opt.)       |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |           EtherType           |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
use super::{Error, Layer, need, take};

pub const HEADER_LEN: usize = 14;
pub const TAG_LEN: usize = 4;
pub const ETHERTYPE_IPV4: u16 = 0x0800;
pub const ETHERTYPE_IPV6: u16 = 0x86dd;
pub const ETHERTYPE_ARP: u16 = 0x0806;
pub const TPID_8021Q: u16 = 0x8100;
pub const TPID_8021AD: u16 = 0x88a8;

/// A 48-bit MAC address.
pub type Mac = [u8; 6];

/// One VLAN tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tag {
    /// 0x8100 (802.1Q) or 0x88a8 (802.1ad).
    pub tpid: u16,
    /// Priority, drop-eligible bit and VLAN ID.
    pub tci: u16,
}

impl Tag {
    pub fn vlan_id(&self) -> u16 {
        self.tci & 0x0fff
    }
}

/// An Ethernet header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repr {
    pub dst: Mac,
    pub src: Mac,
    pub tag: Option<Tag>,
    /// The EtherType of the payload (after the tag, if any).
    pub ethertype: u16,
}

impl Repr {
    /// Parses the header; returns it and the payload.
    pub fn parse(bytes: &[u8]) -> Result<(Self, &[u8]), Error> {
        need(bytes, HEADER_LEN, Layer::Ethernet)?;
        let dst = take::<6>(bytes, 0, Layer::Ethernet)?;
        let src = take::<6>(bytes, 6, Layer::Ethernet)?;
        let first = u16::from_be_bytes(take::<2>(bytes, 12, Layer::Ethernet)?);
        if first == TPID_8021Q || first == TPID_8021AD {
            let tci = u16::from_be_bytes(take::<2>(bytes, 14, Layer::Vlan)?);
            let ethertype = u16::from_be_bytes(take::<2>(bytes, 16, Layer::Vlan)?);
            let repr = Self {
                dst,
                src,
                tag: Some(Tag { tpid: first, tci }),
                ethertype,
            };
            Ok((repr, &bytes[HEADER_LEN + TAG_LEN..]))
        } else {
            Ok((
                Self {
                    dst,
                    src,
                    tag: None,
                    ethertype: first,
                },
                &bytes[HEADER_LEN..],
            ))
        }
    }

    /// Header length on the wire.
    pub fn buffer_len(&self) -> usize {
        HEADER_LEN + if self.tag.is_some() { TAG_LEN } else { 0 }
    }

    /// Appends the header to `out`.
    pub fn emit(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.dst);
        out.extend_from_slice(&self.src);
        if let Some(tag) = self.tag {
            out.extend_from_slice(&tag.tpid.to_be_bytes());
            out.extend_from_slice(&tag.tci.to_be_bytes());
        }
        out.extend_from_slice(&self.ethertype.to_be_bytes());
    }
}

/// The MAC address a multicast IPv4 group maps to (RFC 1112 §6.4).
pub fn ipv4_multicast_mac(group: std::net::Ipv4Addr) -> Mac {
    let o = group.octets();
    [0x01, 0x00, 0x5e, o[1] & 0x7f, o[2], o[3]]
}

/// The MAC address a multicast IPv6 group maps to (RFC 2464 §7).
pub fn ipv6_multicast_mac(group: std::net::Ipv6Addr) -> Mac {
    let o = group.octets();
    [0x33, 0x33, o[12], o[13], o[14], o[15]]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tagged_round_trip() {
        let repr = Repr {
            dst: [1, 0, 0x5e, 0, 0, 0x12],
            src: [2, 0, 0, 0, 0, 1],
            tag: Some(Tag {
                tpid: TPID_8021Q,
                tci: 0x2064,
            }),
            ethertype: ETHERTYPE_IPV4,
        };
        let mut bytes = Vec::new();
        repr.emit(&mut bytes);
        bytes.push(0x45);
        assert_eq!(bytes.len(), repr.buffer_len() + 1);
        let (parsed, payload) = Repr::parse(&bytes).unwrap();
        assert_eq!(parsed, repr);
        assert_eq!(parsed.tag.unwrap().vlan_id(), 100);
        assert_eq!(payload, &[0x45]);
    }

    #[test]
    fn truncated_tag_is_reported_as_vlan() {
        let bytes = [0u8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x81, 0x00, 0x00];
        assert!(matches!(
            Repr::parse(&bytes),
            Err(Error::Truncated {
                layer: Layer::Vlan,
                ..
            })
        ));
    }

    #[test]
    fn multicast_macs() {
        assert_eq!(
            ipv4_multicast_mac([224, 0, 0, 18].into()),
            [1, 0, 0x5e, 0, 0, 0x12]
        );
        let group: std::net::Ipv6Addr = "ff02::12".parse().unwrap();
        assert_eq!(ipv6_multicast_mac(group), [0x33, 0x33, 0, 0, 0, 0x12]);
    }
}
