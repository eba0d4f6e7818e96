//! The XDP program on a real veth in driver mode: every frame replayed from the peer is
//! counted exactly, non-VRRP traffic still flows, and detaching removes the program. No
//! instance is configured here, so every advert is dropped as `unknown_vrid` (the policy
//! itself is tested row by row in `xdp_policy.rs`).
use std::{
    net::Ipv4Addr,
    thread,
    time::{Duration, Instant},
};

use tests::VethPair;
use vrrp_common::counters::Counter;
use vrrpd::{
    dataplane::{AttachMode, Counters, Dataplane},
    sys::PacketSocket,
    wire::{
        advert::IpHeader,
        ethernet::{self, ETHERTYPE_ARP, ETHERTYPE_IPV4, TPID_8021Q, Tag},
        frame, ipv4,
    },
};

fn vectors() -> anyhow::Result<Vec<Vec<u8>>> {
    let mut frames = Vec::new();
    for name in [
        "keepalived-v2-ah-eth0.pcap",
        "keepalived-v2-ah-eth1.pcap",
        "keepalived-v2-ah-shutdown-eth0.pcap",
        "keepalived-pass-v3-v6.pcap",
    ] {
        frames.extend(tests::vector_frames(name)?);
    }
    Ok(frames)
}

/// Which counter (besides FRAMES) a vector frame must land in, from our own decoder.
fn expected_class(bytes: &[u8]) -> anyhow::Result<Counter> {
    let decoded = frame::decode(bytes)?;
    Ok(
        match (&decoded.advert.advert.ip, decoded.advert.advert.ah) {
            (IpHeader::V4(_), Some(_)) => Counter::Ipv4Ah,
            (IpHeader::V4(_), None) => Counter::Ipv4Vrrp,
            (IpHeader::V6(_), _) => Counter::Ipv6Vrrp,
        },
    )
}

const BROADCAST: [u8; 6] = [0xff; 6];
const PEER_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x02];

/// An IPv4 frame from the peer to an address nobody has (so nothing answers).
fn ipv4_frame(protocol: u8, dont_fragment: bool, more_fragments: bool, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let eth = ethernet::Repr {
        dst: BROADCAST,
        src: PEER_MAC,
        tag: None,
        ethertype: ETHERTYPE_IPV4,
    };
    eth.emit(&mut out);
    let ip = ipv4::Repr {
        tos: 0,
        ident: 7,
        dont_fragment,
        ttl: 64,
        protocol,
        src: Ipv4Addr::new(192, 0, 2, 2),
        dst: Ipv4Addr::new(192, 0, 2, 99),
        options: Vec::new(),
    };
    ip.emit(payload.len(), &mut out)
        .expect("a small header emits");
    if more_fragments {
        out[eth.buffer_len() + 6] |= 0x20;
        out[eth.buffer_len() + 10..eth.buffer_len() + 12].fill(0);
        let sum = vrrpd::wire::checksum::of(&out[eth.buffer_len()..eth.buffer_len() + 20]);
        out[eth.buffer_len() + 10..eth.buffer_len() + 12].copy_from_slice(&sum.to_be_bytes());
    }
    out.extend_from_slice(payload);
    out
}

fn arp_request_for_nobody() -> Vec<u8> {
    let mut out = Vec::new();
    ethernet::Repr {
        dst: BROADCAST,
        src: PEER_MAC,
        tag: None,
        ethertype: ETHERTYPE_ARP,
    }
    .emit(&mut out);
    out.extend_from_slice(&[0, 1, 8, 0, 6, 4, 0, 1]);
    out.extend_from_slice(&PEER_MAC);
    out.extend_from_slice(&[192, 0, 2, 2]);
    out.extend_from_slice(&[0; 6]);
    out.extend_from_slice(&[192, 0, 2, 77]);
    out
}

/// A vector frame with an 802.1Q tag inserted after the MAC addresses.
fn tagged(bytes: &[u8]) -> Vec<u8> {
    let mut out = bytes[..12].to_vec();
    out.extend_from_slice(&TPID_8021Q.to_be_bytes());
    out.extend_from_slice(
        &Tag {
            tpid: TPID_8021Q,
            tci: 100,
        }
        .tci
        .to_be_bytes(),
    );
    out.extend_from_slice(&bytes[12..]);
    out
}

#[test]
fn replayed_frames_are_counted_exactly_in_driver_mode() -> anyhow::Result<()> {
    let pair = VethPair::new("xdp", "192.0.2.1/24", "192.0.2.2/24")?;
    pair.b
        .ip(&["link", "set", VethPair::B, "address", "02:00:00:00:00:02"])?;

    let mut dataplane = pair.a.run(|| {
        let mut dataplane = Dataplane::load()?;
        dataplane.attach(VethPair::A, AttachMode::Driver)?;
        Ok(dataplane)
    })?;
    let link = pair.a.exec(&["ip", "-d", "link", "show", VethPair::A])?;
    assert!(
        link.contains("prog/xdp"),
        "no XDP program on {}: {link}",
        VethPair::A
    );
    assert!(
        !link.contains("xdpgeneric"),
        "attached in generic mode: {link}"
    );

    // What the peer sends, and where each frame must be counted.
    let mut frames = Vec::new();
    let mut expected = Counters::default();
    for bytes in vectors()? {
        expected.0[expected_class(&bytes)? as usize] += 1;
        expected.0[Counter::UnknownVrid as usize] += 1;
        frames.push(bytes);
    }
    assert_eq!(frames.len(), 38);
    let ah_vector = frames[0].clone();
    // A VLAN-tagged AH advert: no instance for its VLAN here, so it is the VLAN device's
    // and passes (policy line 4).
    frames.push(tagged(&ah_vector));
    expected.0[Counter::Ipv4Ah as usize] += 1;
    frames.push(ipv4_frame(17, true, false, &[0; 12])); // UDP: passes, counted nowhere else
    frames.push(arp_request_for_nobody());
    frames.push(ipv4_frame(112, false, true, &[0; 24])); // a fragment claiming VRRP: passes
    expected.0[Counter::Ipv4Vrrp as usize] += 1;
    expected.0[Counter::Fragments as usize] += 1;
    let mut cut = ipv4_frame(112, false, false, &[0; 24]);
    cut.truncate(ethernet::HEADER_LEN + 12); // IPv4 header cut short: dropped
    frames.push(cut);
    expected.0[Counter::Ipv4Vrrp as usize] += 1;
    expected.0[Counter::Truncated as usize] += 1;
    // `frames` counts what the program examined: everything but the UDP and ARP frames.
    expected.0[Counter::Frames as usize] = frames.len() as u64 - 2;

    let to_send = frames.clone();
    pair.b.run(move || {
        let socket = PacketSocket::open(VethPair::B)?;
        for frame in &to_send {
            socket.send(frame)?;
        }
        Ok(())
    })?;

    // Delivery is asynchronous (veth NAPI): wait until every frame arrived, or give up.
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut seen = dataplane.counters()?;
    while seen.get(Counter::Frames) < expected.get(Counter::Frames) && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(20));
        seen = dataplane.counters()?;
    }
    assert_eq!(seen, expected, "counters (got {seen}, expected {expected})");

    // Ordinary traffic still flows with the program attached.
    pair.b.exec(&["ping", "-c", "1", "-W", "5", "192.0.2.1"])?;

    dataplane.detach_all()?;
    let link = pair.a.exec(&["ip", "-d", "link", "show", VethPair::A])?;
    assert!(
        !link.contains("prog/xdp"),
        "program still attached after detach: {link}"
    );
    Ok(())
}

#[test]
fn two_daemons_side_by_side_in_their_own_namespaces() -> anyhow::Result<()> {
    // Two programs, one per namespace, each counting only its own interface's frames.
    let pair = VethPair::new("two", "192.0.2.1/24", "192.0.2.2/24")?;
    let a = pair.a.run(|| {
        let mut d = Dataplane::load()?;
        d.attach(VethPair::A, AttachMode::Driver)?;
        Ok(d)
    })?;
    let b = pair.b.run(|| {
        let mut d = Dataplane::load()?;
        let mode = d.attach_preferring_driver(VethPair::B)?;
        assert_eq!(mode, AttachMode::Driver);
        Ok(d)
    })?;
    let vector = vectors()?.remove(0);
    let sent = vector.clone();
    pair.b
        .run(move || Ok(PacketSocket::open(VethPair::B)?.send(&sent)?))?;
    let sent = vector;
    pair.a
        .run(move || Ok(PacketSocket::open(VethPair::A)?.send(&sent)?))?;
    let deadline = Instant::now() + Duration::from_secs(10);
    while (a.counters()?.get(Counter::Ipv4Ah) < 1 || b.counters()?.get(Counter::Ipv4Ah) < 1)
        && Instant::now() < deadline
    {
        thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(a.counters()?.get(Counter::Ipv4Ah), 1);
    assert_eq!(b.counters()?.get(Counter::Ipv4Ah), 1);
    Ok(())
}
