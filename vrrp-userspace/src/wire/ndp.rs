//! Unsolicited IPv6 neighbour advertisements (RFC 4861 §4.4, §7.2.6): how a new MASTER
//! announces an IPv6 virtual address, the counterpart of a gratuitous ARP.
//!
//! ```text
//! ICMPv6 type 136, code 0, checksum (with the IPv6 pseudo-header)
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |R|S|O|                     Reserved                            |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                       Target Address (16)                     |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! | Type 2 | Len 1 |      Target link-layer address (6)           |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
use std::net::Ipv6Addr;

use super::{checksum, ethernet, ipv6};

pub const ICMPV6: u8 = 58;
pub const NEIGHBOR_ADVERTISEMENT: u8 = 136;
/// "Override": replace the cached link-layer address (RFC 4861 §4.4).
pub const FLAG_OVERRIDE: u32 = 0x2000_0000;
pub const FLAG_ROUTER: u32 = 0x8000_0000;
const LEN: usize = 32;

/// An unsolicited advertisement for `target` owned by `mac`, to all nodes (ff02::1), from
/// `target` itself, hop limit 255, with the Override flag and the target link-layer
/// address option.
pub fn unsolicited_frame(mac: ethernet::Mac, target: Ipv6Addr) -> Vec<u8> {
    let all_nodes = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);
    let mut icmp = Vec::with_capacity(LEN);
    icmp.extend_from_slice(&[NEIGHBOR_ADVERTISEMENT, 0, 0, 0]);
    icmp.extend_from_slice(&FLAG_OVERRIDE.to_be_bytes());
    icmp.extend_from_slice(&target.octets());
    icmp.extend_from_slice(&[2, 1]);
    icmp.extend_from_slice(&mac);
    // Pseudo-header: source, destination, length, next header (RFC 8200 §8.1).
    let mut sum = checksum::accumulate(0, &target.octets());
    sum = checksum::accumulate(sum, &all_nodes.octets());
    sum = checksum::accumulate(sum, &(LEN as u32).to_be_bytes());
    sum = checksum::accumulate(sum, &[0, 0, 0, ICMPV6]);
    let value = checksum::finish(checksum::accumulate(sum, &icmp));
    icmp[2..4].copy_from_slice(&value.to_be_bytes());
    let mut out = Vec::with_capacity(ethernet::HEADER_LEN + ipv6::HEADER_LEN + LEN);
    ethernet::Repr {
        dst: ethernet::ipv6_multicast_mac(all_nodes),
        src: mac,
        tag: None,
        ethertype: ethernet::ETHERTYPE_IPV6,
    }
    .emit(&mut out);
    ipv6::Repr {
        traffic_class: 0,
        flow_label: 0,
        next_header: ICMPV6,
        hop_limit: 255,
        src: target,
        dst: all_nodes,
    }
    .emit(LEN, &mut out)
    .unwrap_or_else(|_| unreachable!("32 bytes fit the payload length"));
    out.extend_from_slice(&icmp);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unsolicited_advertisement_is_well_formed() {
        let mac = [0x02, 0, 0, 0, 0, 0x05];
        let target: Ipv6Addr = "fd00:200::63".parse().unwrap();
        let frame = unsolicited_frame(mac, target);
        let (eth, payload) = ethernet::Repr::parse(&frame).unwrap();
        assert_eq!(
            (eth.dst, eth.ethertype),
            ([0x33, 0x33, 0, 0, 0, 1], ethernet::ETHERTYPE_IPV6)
        );
        let (ip, icmp) = ipv6::Repr::parse(payload).unwrap();
        assert_eq!(
            (ip.next_header, ip.hop_limit, ip.src),
            (ICMPV6, 255, target)
        );
        assert_eq!(icmp.len(), 32);
        assert_eq!(icmp[0], NEIGHBOR_ADVERTISEMENT);
        assert_eq!(
            u32::from_be_bytes(icmp[4..8].try_into().unwrap()),
            FLAG_OVERRIDE
        );
        assert_eq!(&icmp[8..24], &target.octets());
        assert_eq!(&icmp[24..32], &[2, 1, 2, 0, 0, 0, 0, 5]);
        // A packet with its checksum sums to zero with the pseudo-header.
        let mut sum = checksum::accumulate(0, &ip.src.octets());
        sum = checksum::accumulate(sum, &ip.dst.octets());
        sum = checksum::accumulate(sum, &32u32.to_be_bytes());
        sum = checksum::accumulate(sum, &[0, 0, 0, ICMPV6]);
        assert_eq!(checksum::finish(checksum::accumulate(sum, icmp)), 0);
    }
}
