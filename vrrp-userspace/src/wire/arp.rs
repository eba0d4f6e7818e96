//! ARP for Ethernet/IPv4 (RFC 826), as a new MASTER announces its virtual addresses:
//! a gratuitous request with the virtual address as both sender and target.
//!
//! ```text
//! +---------------+---------------+-------+-------+---------------+
//! | HTYPE (1)     | PTYPE (0x0800)| HLEN 6| PLEN 4| OPER          |
//! +---------------+---------------+-------+-------+---------------+
//! | sender MAC (6) | sender IPv4 (4) | target MAC (6) | target IPv4 (4) |
//! +-----------------------------------------------------------------+
//! ```
use std::net::Ipv4Addr;

use super::{Error, Layer, ethernet, need, take};

pub const LEN: usize = 28;
pub const REQUEST: u16 = 1;
pub const REPLY: u16 = 2;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repr {
    pub operation: u16,
    pub sender_mac: ethernet::Mac,
    pub sender_ip: Ipv4Addr,
    pub target_mac: ethernet::Mac,
    pub target_ip: Ipv4Addr,
}

impl Repr {
    /// keepalived's gratuitous ARP for `address` owned by `mac`.
    pub fn gratuitous(mac: ethernet::Mac, address: Ipv4Addr) -> Self {
        Self {
            operation: REQUEST,
            sender_mac: mac,
            sender_ip: address,
            target_mac: [0xff; 6],
            target_ip: address,
        }
    }

    pub fn parse(bytes: &[u8]) -> Result<Self, Error> {
        need(bytes, LEN, Layer::Ethernet)?;
        Ok(Self {
            operation: u16::from_be_bytes(take::<2>(bytes, 6, Layer::Ethernet)?),
            sender_mac: take::<6>(bytes, 8, Layer::Ethernet)?,
            sender_ip: Ipv4Addr::from(take::<4>(bytes, 14, Layer::Ethernet)?),
            target_mac: take::<6>(bytes, 18, Layer::Ethernet)?,
            target_ip: Ipv4Addr::from(take::<4>(bytes, 24, Layer::Ethernet)?),
        })
    }

    /// The whole frame, broadcast from `sender_mac`.
    pub fn frame(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(ethernet::HEADER_LEN + LEN);
        ethernet::Repr {
            dst: [0xff; 6],
            src: self.sender_mac,
            tag: None,
            ethertype: ethernet::ETHERTYPE_ARP,
        }
        .emit(&mut out);
        out.extend_from_slice(&[0, 1, 0x08, 0x00, 6, 4]);
        out.extend_from_slice(&self.operation.to_be_bytes());
        out.extend_from_slice(&self.sender_mac);
        out.extend_from_slice(&self.sender_ip.octets());
        out.extend_from_slice(&self.target_mac);
        out.extend_from_slice(&self.target_ip.octets());
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gratuitous_round_trip() {
        let repr = Repr::gratuitous([2, 0, 0, 0, 0, 5], Ipv4Addr::new(192, 168, 200, 10));
        let frame = repr.frame();
        assert_eq!(frame.len(), 42);
        assert_eq!(&frame[..6], &[0xff; 6]);
        let (eth, payload) = ethernet::Repr::parse(&frame).unwrap();
        assert_eq!(eth.ethertype, ethernet::ETHERTYPE_ARP);
        assert_eq!(Repr::parse(payload).unwrap(), repr);
    }
}
