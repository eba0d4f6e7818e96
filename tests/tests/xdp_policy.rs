//! The XDP program's pass/drop policy, line by line, through `BPF_PROG_TEST_RUN` (STYLE.md
//! 11): each row is a frame built with vrrpd's own codec or taken from a real keepalived
//! capture, the verdict, the exact counter deltas, and the event it must (or must not)
//! produce. The policy text is the doc comment of `vrrp-ebpf/src/verdict.rs::verdict`.
use std::{
    net::{IpAddr, Ipv4Addr},
    time::{Duration, Instant},
};

use tests::adverts::{AH_KEY, fix_ipv4_checksum, frame, v2};
use vrrp_common::{
    counters::Counter as c,
    maps::{Event, KernelState, event},
};
use vrrpd::{
    auth::Password,
    dataplane::{Auth, Dataplane, InstanceSpec},
    wire::{vrrp::AUTH_AH, vrrp::AUTH_NONE, vrrp::AUTH_PASS},
};

const XDP_DROP: u32 = 1;
const XDP_PASS: u32 = 2;

const D1: [u8; 4] = [192, 168, 200, 5];
const D2: [u8; 4] = [192, 168, 200, 6];
const VIP1: [u8; 4] = [192, 168, 200, 10];
const VIP2: [u8; 4] = [192, 168, 200, 11];
const OWN: [u8; 4] = [192, 168, 200, 1];

/// Slots of the instances the table uses (all on the loopback interface, where test runs
/// are received).
const S51: u32 = 0; // AH, VIP1+VIP2, the seed's VI_1
const S53: u32 = 1; // AH, the seed's VI_3
const S61: u32 = 2; // PASS s3cr3t!x (the vector's VRID 61)
const S62: u32 = 3; // VRRPv3 IPv4, 0.5 s
const S63: u32 = 4; // VRRPv3 IPv6
const S54: u32 = 5; // installed but INIT

struct Table {
    dp: Dataplane,
    lo: u32,
    ah_key: Password,
    pass_key: Password,
}

impl Table {
    fn new() -> anyhow::Result<Self> {
        tests::require_root()?;
        let dp = Dataplane::load()?;
        let lo = vrrpd::sys::if_index("lo")?;
        let mut table = Self {
            dp,
            lo,
            ah_key: Password::new(AH_KEY),
            pass_key: Password::new(b"s3cr3t!x"),
        };
        table.install_all()?;
        Ok(table)
    }

    fn v4(addresses: &[[u8; 4]]) -> Vec<IpAddr> {
        tests::ipv4s(addresses)
    }

    /// A BACKUP instance on the loopback interface (where test runs arrive), from `OWN`.
    fn spec<'a>(
        &self,
        vrid: u8,
        version: u8,
        auth: Auth<'a>,
        addresses: &'a [IpAddr],
    ) -> InstanceSpec<'a> {
        tests::backup_spec(
            self.lo,
            vrid,
            version,
            auth,
            addresses,
            IpAddr::V4(Ipv4Addr::from(OWN)),
        )
    }

    fn install_all(&mut self) -> anyhow::Result<()> {
        let (ah, pass) = (self.ah_key.clone(), self.pass_key.clone());
        let vips51 = Self::v4(&[VIP1, VIP2]);
        let vips53 = Self::v4(&[[192, 168, 200, 12], [192, 168, 200, 13]]);
        let vips61 = Self::v4(&[[192, 168, 200, 20]]);
        let vips62 = Self::v4(&[[192, 168, 200, 21], [192, 168, 200, 22]]);
        let vips63: Vec<IpAddr> = vec!["fd00:200::63".parse()?];
        let vips54 = Self::v4(&[[192, 168, 100, 11]]);
        let specs = [
            (S51, self.spec(51, 2, Auth::Ah(&ah), &vips51)),
            (S53, self.spec(53, 2, Auth::Ah(&ah), &vips53)),
            (S61, self.spec(61, 2, Auth::Pass(&pass), &vips61)),
            (
                S62,
                InstanceSpec {
                    interval_cs: 50,
                    ..self.spec(62, 3, Auth::None, &vips62)
                },
            ),
            (
                S63,
                InstanceSpec {
                    own_address: "fe80::1".parse()?,
                    ..self.spec(63, 3, Auth::None, &vips63)
                },
            ),
            (
                S54,
                InstanceSpec {
                    state: KernelState::INIT,
                    ..self.spec(54, 2, Auth::Ah(&ah), &vips54)
                },
            ),
        ];
        for (slot, spec) in specs {
            self.dp.install(slot, &spec.build())?;
        }
        Ok(())
    }

    fn drain(&mut self) -> Vec<Event> {
        std::iter::from_fn(|| self.dp.next_event()).collect()
    }

    /// Runs `frame`; asserts the action, that exactly the counters in `deltas` (plus
    /// `frames` for VRRP and AH frames) moved by one each, and the events (kinds) it
    /// produced.
    fn row(
        &mut self,
        name: &str,
        frame: &[u8],
        action: u32,
        deltas: &[c],
        events: &[u32],
    ) -> anyhow::Result<Vec<Event>> {
        self.drain();
        let before = self.dp.counters()?;
        let got = self.dp.test_run(frame)?;
        let after = self.dp.counters()?;
        let mut expected = before;
        if deltas
            .iter()
            .any(|d| [c::Ipv4Vrrp, c::Ipv4Ah, c::Ipv6Vrrp].contains(d))
        {
            expected.0[c::Frames as usize] += 1;
        }
        for d in deltas {
            expected.0[*d as usize] += 1;
        }
        assert_eq!(got, action, "{name}: action");
        assert_eq!(
            after, expected,
            "{name}: counters\n got      {after}\n expected {expected}"
        );
        let seen = self.drain();
        let kinds: Vec<u32> = seen.iter().map(|e| e.kind).collect();
        assert_eq!(kinds, events, "{name}: events");
        Ok(seen)
    }
}

fn ah_advert(src: [u8; 4], vrid: u8, priority: u8, sequence: u32) -> vrrpd::wire::advert::Advert {
    v2(
        src,
        vrid,
        priority,
        &[VIP1, VIP2],
        AUTH_AH,
        [0; 8],
        Some(sequence),
    )
}

#[test]
fn policy_table() -> anyhow::Result<()> {
    let mut t = Table::new()?;

    // 1. Not VRRP: passes untouched, counted only as a frame.
    let mut arp = vec![0xff; 6];
    arp.extend_from_slice(&[2, 0, 0, 0, 0, 2, 0x08, 0x06]);
    arp.extend_from_slice(&[0; 28]);
    t.row("ARP passes", &arp, XDP_PASS, &[], &[])?;
    let mut udp = frame(&ah_advert(D1, 51, 150, 1), AH_KEY);
    udp[14 + 9] = 17;
    fix_ipv4_checksum(&mut udp);
    t.row("UDP passes", &udp, XDP_PASS, &[], &[])?;
    // An IPv4 ethertype and nothing after it: too short to show a protocol, not ours.
    // (`BPF_PROG_TEST_RUN` refuses frames shorter than an Ethernet header.)
    let mut bare = vec![0xff; 12];
    bare.extend_from_slice(&[0x08, 0x00]);
    t.row("Ethernet header alone passes", &bare, XDP_PASS, &[], &[])?;
    // AH protecting another protocol is not ours either.
    let mut other_ah = frame(&ah_advert(D1, 51, 150, 1), AH_KEY);
    other_ah[14 + 20] = 6;
    t.row("AH for TCP passes", &other_ah, XDP_PASS, &[c::Ipv4Ah], &[])?;

    // 2. Fragments pass.
    let mut fragment = frame(
        &v2(
            D1,
            61,
            120,
            &[[192, 168, 200, 20]],
            AUTH_PASS,
            *b"s3cr3t!x",
            None,
        ),
        b"",
    );
    fragment[14 + 6] = 0x20;
    fix_ipv4_checksum(&mut fragment);
    t.row(
        "fragment passes",
        &fragment,
        XDP_PASS,
        &[c::Ipv4Vrrp, c::Fragments],
        &[],
    )?;

    // 3. Truncated and malformed IPv4 headers are dropped.
    let full = frame(&ah_advert(D1, 51, 150, 1), AH_KEY);
    for len in [14 + 10, 14 + 20, 14 + 20 + 1, 14 + 44 + 1, full.len() - 1] {
        t.row(
            &format!("truncated to {len}"),
            &full[..len],
            XDP_DROP,
            &[c::Ipv4Ah, c::Truncated],
            &[],
        )?;
    }
    // Every length of a valid AH advert short of the whole frame: passed while the IP
    // protocol is not yet visible, dropped as truncated from then on.
    for len in 14..full.len() {
        if len < 14 + 10 {
            t.row(
                &format!("cut to {len}: protocol not visible"),
                &full[..len],
                XDP_PASS,
                &[],
                &[],
            )?;
        } else {
            t.row(
                &format!("cut to {len}"),
                &full[..len],
                XDP_DROP,
                &[c::Ipv4Ah, c::Truncated],
                &[],
            )?;
        }
    }
    let mut short_ihl = full.clone();
    short_ihl[14] = 0x44;
    t.row(
        "IHL 4",
        &short_ihl,
        XDP_DROP,
        &[c::Ipv4Ah, c::BadIpHeader],
        &[],
    )?;
    let mut bad_sum = full.clone();
    bad_sum[14 + 10] ^= 0xff;
    t.row(
        "IPv4 checksum",
        &bad_sum,
        XDP_DROP,
        &[c::Ipv4Ah, c::BadIpHeader],
        &[],
    )?;

    // 4. Unknown VRID; 5. instance not participating.
    t.row(
        "unknown VRID 52",
        &frame(&ah_advert(D1, 52, 150, 1), AH_KEY),
        XDP_DROP,
        &[c::Ipv4Ah, c::UnknownVrid],
        &[],
    )?;
    t.row(
        "INIT instance",
        &frame(&ah_advert(D1, 54, 150, 1), AH_KEY),
        XDP_DROP,
        &[c::Ipv4Ah, c::NotParticipating],
        &[],
    )?;

    // 6. keepalived's checks.
    let plain = v2(D1, 51, 150, &[VIP1, VIP2], AUTH_NONE, [0; 8], None);
    t.row(
        "no AH on an AH instance",
        &frame(&plain, b""),
        XDP_DROP,
        &[c::Ipv4Vrrp, c::AuthMismatch],
        &[],
    )?;
    let mut ah_len = full.clone();
    ah_len[14 + 21] = 5;
    t.row(
        "AH length 5",
        &ah_len,
        XDP_DROP,
        &[c::Ipv4Ah, c::BadLength],
        &[],
    )?;
    let mut ttl = ah_advert(D1, 51, 150, 2);
    if let vrrpd::wire::advert::IpHeader::V4(h) = &mut ttl.ip {
        h.ttl = 64;
    }
    t.row(
        "TTL 64",
        &frame(&ttl, AH_KEY),
        XDP_DROP,
        &[c::Ipv4Ah, c::BadTtl],
        &[],
    )?;
    let mut v3 = ah_advert(D1, 51, 150, 2);
    v3.vrrp.version = vrrpd::wire::vrrp::Version::V3 {
        max_advert_int_cs: 100,
    };
    t.row(
        "version 3 on a v2 instance",
        &frame(&v3, AH_KEY),
        XDP_DROP,
        &[c::Ipv4Ah, c::BadVersion],
        &[],
    )?;
    let mut auth_type = ah_advert(D1, 51, 150, 2);
    auth_type.vrrp.version = vrrpd::wire::vrrp::Version::V2 {
        advert_int_s: 1,
        auth_type: AUTH_PASS,
        auth_data: [0; 8],
    };
    t.row(
        "auth type PASS in an AH advert",
        &frame(&auth_type, AH_KEY),
        XDP_DROP,
        &[c::Ipv4Ah, c::BadAuthType],
        &[],
    )?;
    let wrong_pass = v2(
        D1,
        61,
        120,
        &[[192, 168, 200, 20]],
        AUTH_PASS,
        *b"s3cr3t!y",
        None,
    );
    t.row(
        "wrong PASS",
        &frame(&wrong_pass, b""),
        XDP_DROP,
        &[c::Ipv4Vrrp, c::BadPassword],
        &[],
    )?;
    let mut spi = ah_advert(D1, 51, 150, 2);
    spi.ah = Some(vrrpd::wire::ah::Repr {
        spi: u32::from_be_bytes(D2),
        sequence: 2,
    });
    t.row(
        "SPI is not the source",
        &frame(&spi, AH_KEY),
        XDP_DROP,
        &[c::Ipv4Ah, c::BadSpi],
        &[],
    )?;
    t.dp.set_sequence(S51, 10)?;
    t.row(
        "sequence not above the counter",
        &frame(&ah_advert(D1, 51, 150, 10), AH_KEY),
        XDP_DROP,
        &[c::Ipv4Ah, c::Replay],
        &[],
    )?;
    t.dp.set_sequence(S51, 0)?;
    let mut interval = ah_advert(D1, 51, 150, 2);
    interval.vrrp.version = vrrpd::wire::vrrp::Version::V2 {
        advert_int_s: 2,
        auth_type: AUTH_AH,
        auth_data: [0; 8],
    };
    t.row(
        "interval 2 s",
        &frame(&interval, AH_KEY),
        XDP_DROP,
        &[c::Ipv4Ah, c::BadInterval],
        &[],
    )?;
    let mut kind = frame(&ah_advert(D1, 51, 150, 2), AH_KEY);
    kind[14 + 44] = 0x22;
    t.row("type 2", &kind, XDP_DROP, &[c::Ipv4Ah, c::BadType], &[])?;
    let three = v2(
        D1,
        51,
        150,
        &[VIP1, VIP2, [192, 168, 200, 99]],
        AUTH_AH,
        [0; 8],
        Some(2),
    );
    t.row(
        "three addresses",
        &frame(&three, AH_KEY),
        XDP_DROP,
        &[c::Ipv4Ah, c::BadAddressCount],
        &[],
    )?;
    let mut checksum = frame(&ah_advert(D1, 51, 150, 2), AH_KEY);
    checksum[14 + 44 + 6] ^= 0x01;
    t.row(
        "VRRP checksum",
        &checksum,
        XDP_DROP,
        &[c::Ipv4Ah, c::BadChecksum],
        &[],
    )?;
    let stranger = v2(
        D1,
        51,
        150,
        &[VIP1, [192, 168, 200, 99]],
        AUTH_AH,
        [0; 8],
        Some(2),
    );
    t.row(
        "an address not ours",
        &frame(&stranger, AH_KEY),
        XDP_DROP,
        &[c::Ipv4Ah, c::BadAddressList],
        &[],
    )?;
    // keepalived checks that each of ours is in the advert: one repeated, one missing.
    let repeated = v2(D1, 51, 150, &[VIP1, VIP1], AUTH_AH, [0; 8], Some(2));
    t.row(
        "one of ours repeated, the other missing",
        &frame(&repeated, AH_KEY),
        XDP_DROP,
        &[c::Ipv4Ah, c::BadAddressList],
        &[],
    )?;
    let reordered = v2(D1, 51, 150, &[VIP2, VIP1], AUTH_AH, [0; 8], Some(2));
    t.row(
        "addresses in another order are fine",
        &frame(&reordered, AH_KEY),
        XDP_DROP,
        &[c::Ipv4Ah, c::Valid, c::IcvComputed],
        &[],
    )?;
    t.row(
        "forged ICV",
        &frame(&ah_advert(D1, 51, 150, 3), b"guess"),
        XDP_DROP,
        &[c::Ipv4Ah, c::BadIcv],
        &[],
    )?;
    Ok(())
}

/// Where the master-down timer of `slot` stands, waiting (bounded) for its event.
fn wait_event(t: &mut Table, kind: u32, slot: u32, within: Duration) -> Option<Event> {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if let Some(e) = t.dp.next_event()
            && e.kind == kind
            && e.slot == slot
        {
            return Some(e);
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    None
}

#[test]
fn real_keepalived_adverts_predictions_and_replays() -> anyhow::Result<()> {
    let mut t = Table::new()?;
    let eth0 = tests::vector_frames("keepalived-v2-ah-eth0.pcap")?;
    // VRID 53 from .6 (seq 26), VRID 51 from .5 (seq 24): the first of each needs an HMAC;
    // the following ones are the predicted next adverts of the same master.
    let ah_valid = |predicted: bool| {
        if predicted {
            [c::Ipv4Ah, c::Valid, c::IcvPredicted]
        } else {
            [c::Ipv4Ah, c::Valid, c::IcvComputed]
        }
    };
    for (i, f) in eth0.iter().enumerate() {
        t.row(
            &format!("keepalived eth0 #{}", i + 1),
            f,
            XDP_DROP,
            &ah_valid(i >= 2),
            &[],
        )?;
    }
    assert_eq!(
        t.dp.sequence(S51)?,
        27,
        "the counter follows the master's sequence"
    );
    let learned = t.dp.runtime(S51)?.learned;
    assert_eq!(&learned.master_address[..4], &D1);
    assert_eq!(
        (learned.master_priority, learned.predicted_sequence),
        (150, 28)
    );
    // The same captured advert again: a replay.
    t.row(
        "keepalived advert replayed",
        &eth0[7],
        XDP_DROP,
        &[c::Ipv4Ah, c::Replay],
        &[],
    )?;

    // Director 1 stops: its priority-0 advert is the predicted shutdown advert (no HMAC),
    // and a BACKUP reports it; director 2 then takes VRID 51 over (a new master: HMAC).
    let shutdown = tests::vector_frames("keepalived-v2-ah-shutdown-eth0.pcap")?;
    t.dp.set_sequence(S51, 33)?;
    t.dp.set_sequence(S53, 35)?;
    t.row(
        "shutdown capture #1 (VRID 53)",
        &shutdown[0],
        XDP_DROP,
        &ah_valid(false),
        &[],
    )?;
    t.row(
        "shutdown capture #2 (VRID 51, seq 34)",
        &shutdown[1],
        XDP_DROP,
        &ah_valid(false),
        &[],
    )?;
    t.row(
        "shutdown capture #3 (VRID 53)",
        &shutdown[2],
        XDP_DROP,
        &ah_valid(true),
        &[],
    )?;
    let zero = t.row(
        "priority 0 from the master",
        &shutdown[3],
        XDP_DROP,
        &[c::Ipv4Ah, c::Valid, c::IcvPredicted, c::Events],
        &[event::PRIORITY_ZERO],
    )?;
    assert_eq!(
        (zero[0].slot, zero[0].priority, zero[0].sequence),
        (S51, 0, 35)
    );
    assert_eq!(&zero[0].source[..4], &D1);
    t.row(
        "director 2 takes VRID 51 over",
        &shutdown[4],
        XDP_DROP,
        &ah_valid(false),
        &[],
    )?;

    // Flood: a burst of forged adverts spends the HMAC budget; the master's next
    // advert is still verified, by prediction.
    // (Part of this interval's budget may already be spent, and the window may roll over
    // once during the burst: at most two budgets of HMACs before the first refusal.)
    let budget = t.dp.config(S53)?.hmac_budget;
    let vips53 = [[192, 168, 200, 12], [192, 168, 200, 13]];
    let mut hmacs = 0;
    let mut seq = 1000;
    loop {
        let forged = frame(
            &v2(D2, 53, 150, &vips53, AUTH_AH, [0; 8], Some(seq)),
            b"forged",
        );
        seq += 1;
        let before = t.dp.counters()?;
        assert_eq!(t.dp.test_run(&forged)?, XDP_DROP);
        let after = t.dp.counters()?;
        if after.get(c::HmacBudget) == before.get(c::HmacBudget) + 1 {
            break;
        }
        assert_eq!(
            after.get(c::BadIcv),
            before.get(c::BadIcv) + 1,
            "a forged advert is either refused unverified or fails its ICV"
        );
        hmacs += 1;
        assert!(
            hmacs <= 2 * budget,
            "{hmacs} HMACs spent on a flood with a budget of {budget} per interval"
        );
    }
    t.row(
        "forged, over budget",
        &frame(
            &v2(D2, 53, 150, &vips53, AUTH_AH, [0; 8], Some(seq)),
            b"forged",
        ),
        XDP_DROP,
        &[c::Ipv4Ah, c::HmacBudget],
        &[],
    )?;
    t.row(
        "the real master during the flood",
        &shutdown[5],
        XDP_DROP,
        &ah_valid(true),
        &[],
    )?;
    Ok(())
}

#[test]
fn master_decisions() -> anyhow::Result<()> {
    let mut t = Table::new()?;
    t.dp.set_state(S51, KernelState::MASTER)?;
    let valid = [c::Ipv4Ah, c::Valid, c::IcvComputed, c::Events];
    t.row(
        "MASTER sees a higher priority",
        &frame(&ah_advert(D1, 51, 150, 1), AH_KEY),
        XDP_DROP,
        &valid,
        &[event::HIGHER_PRIORITY],
    )?;
    t.row(
        "MASTER sees an equal priority from a higher address",
        &frame(&ah_advert(D1, 51, 100, 2), AH_KEY),
        XDP_DROP,
        &valid,
        &[event::HIGHER_PRIORITY],
    )?;
    let low_src = [192, 168, 200, 0];
    let lower = t.row(
        "MASTER sees an equal priority from a lower address",
        &frame(&ah_advert(low_src, 51, 100, 3), AH_KEY),
        XDP_DROP,
        &valid,
        &[event::LOWER_PRIORITY],
    )?;
    assert_eq!(lower[0].priority, 100);
    assert_eq!(
        t.dp.sequence(S51)?,
        4,
        "keepalived's resync: the counter jumps to sequence + 1"
    );
    // At most one LOWER_PRIORITY event per advert interval.
    t.row(
        "MASTER sees a lower priority again",
        &frame(&ah_advert(low_src, 51, 50, 5), AH_KEY),
        XDP_DROP,
        &[c::Ipv4Ah, c::Valid, c::IcvComputed],
        &[],
    )?;
    t.row(
        "MASTER sees priority 0",
        &frame(&ah_advert(D1, 51, 0, 7), AH_KEY),
        XDP_DROP,
        &valid,
        &[event::PRIORITY_ZERO],
    )?;
    // BACKUP: a lower priority with preemption changes nothing (no event, no re-arm).
    t.dp.set_state(S51, KernelState::BACKUP)?;
    t.row(
        "BACKUP sees a lower priority",
        &frame(&ah_advert(low_src, 51, 50, 8), AH_KEY),
        XDP_DROP,
        &[c::Ipv4Ah, c::Valid, c::IcvComputed],
        &[],
    )?;
    Ok(())
}

#[test]
fn pass_v3_ipv6_vlan_and_options() -> anyhow::Result<()> {
    let mut t = Table::new()?;
    // The PASS / VRRPv3 / IPv6 capture: VRID 61 (PASS), 62 (v3 IPv4), 63 (v3 IPv6).
    for (i, f) in tests::vector_frames("keepalived-pass-v3-v6.pcap")?
        .iter()
        .enumerate()
    {
        let decoded = vrrpd::wire::frame::decode(f)?;
        let class = match (&decoded.advert.advert.ip, decoded.advert.advert.vrrp.vrid) {
            (vrrpd::wire::advert::IpHeader::V6(_), _) => c::Ipv6Vrrp,
            _ => c::Ipv4Vrrp,
        };
        t.row(
            &format!("pass/v3/v6 capture #{}", i + 1),
            f,
            XDP_DROP,
            &[class, c::Valid],
            &[],
        )?;
    }
    // An 802.1Q tag: VLAN 100 has no instance on this interface, so the advert is the
    // VLAN device's (passed); a priority tag (VLAN 0) is untagged traffic.
    let plain = frame(&ah_advert(D1, 51, 150, 1), AH_KEY);
    let tag = |tci: [u8; 2]| {
        let mut tagged = plain[..12].to_vec();
        tagged.extend_from_slice(&[0x81, 0x00, tci[0], tci[1]]);
        tagged.extend_from_slice(&plain[12..]);
        tagged
    };
    t.row(
        "advert tagged for a VLAN without instances here",
        &tag([0x00, 0x64]),
        XDP_PASS,
        &[c::Ipv4Ah],
        &[],
    )?;
    t.row(
        "priority-tagged advert (VLAN 0, priority 6)",
        &tag([0xc0, 0x00]),
        XDP_DROP,
        &[c::Ipv4Ah, c::Valid, c::IcvComputed],
        &[],
    )?;
    // IPv4 options: lengths come from the header, and the ICV covers the options.
    let mut options = ah_advert(D1, 51, 150, 2);
    if let vrrpd::wire::advert::IpHeader::V4(h) = &mut options.ip {
        h.options = vec![0x94, 0x04, 0x00, 0x00];
    }
    t.row(
        "IPv4 options",
        &frame(&options, AH_KEY),
        XDP_DROP,
        &[c::Ipv4Ah, c::Valid, c::IcvComputed],
        &[],
    )?;
    Ok(())
}

#[test]
fn master_down_timers() -> anyhow::Result<()> {
    let mut t = Table::new()?;
    // The controller arms a BACKUP's first timer; it fires as MASTER_DOWN.
    t.dp.arm_timer(S62, Duration::from_millis(30))?;
    let fired = wait_event(&mut t, event::MASTER_DOWN, S62, Duration::from_secs(5));
    assert!(fired.is_some(), "no MASTER_DOWN after the armed timer");
    // A cancelled timer stays silent, and can be armed again (MASTER → BACKUP).
    t.dp.arm_timer(S61, Duration::from_millis(50))?;
    t.dp.cancel_timer(S61)?;
    assert!(wait_event(&mut t, event::MASTER_DOWN, S61, Duration::from_millis(400)).is_none());
    t.dp.cancel_timer(S61)?;
    t.dp.arm_timer(S61, Duration::from_millis(30))?;
    assert!(
        wait_event(&mut t, event::MASTER_DOWN, S61, Duration::from_secs(5)).is_some(),
        "no MASTER_DOWN from a re-armed timer"
    );
    // A master's priority 0 makes a BACKUP wait only the skew time: (256-100)/256 s.
    let start = Instant::now();
    t.row(
        "priority 0 to a BACKUP",
        &frame(&ah_advert(D1, 51, 0, 1), AH_KEY),
        XDP_DROP,
        &[c::Ipv4Ah, c::Valid, c::IcvComputed, c::Events],
        &[event::PRIORITY_ZERO],
    )?;
    let down = wait_event(&mut t, event::MASTER_DOWN, S51, Duration::from_secs(5));
    assert!(down.is_some(), "no MASTER_DOWN after the skew time");
    // Not a timed assertion on speed: the event must not come before the skew time.
    assert!(
        start.elapsed() >= Duration::from_millis(600),
        "MASTER_DOWN came before the skew time"
    );
    // A MASTER ignores its own timer's expiry.
    t.dp.set_state(S53, KernelState::MASTER)?;
    t.dp.arm_timer(S53, Duration::from_millis(20))?;
    assert!(wait_event(&mut t, event::MASTER_DOWN, S53, Duration::from_millis(300)).is_none());
    Ok(())
}

#[test]
fn preempt_delay_hold_in_the_kernel() -> anyhow::Result<()> {
    // keepalived's preempt_delay (vrrp_common::policy): the first lower advert a BACKUP
    // hears starts the hold; it is not restarted while it lasts or after it ran out; a new
    // state (a new entry into BACKUP) starts afresh; a master of our priority ends it.
    let mut t = Table::new()?;
    let vips = Table::v4(&[VIP1, VIP2]);
    let ah = t.ah_key.clone();
    let spec = InstanceSpec {
        preempt_delay: Duration::from_millis(300),
        ..t.spec(51, 2, Auth::Ah(&ah), &vips)
    };
    t.dp.install(S51, &spec.build())?;
    let hold = |t: &Table| -> anyhow::Result<(u64, bool)> {
        let learned = t.dp.runtime(S51)?.learned;
        let epoch = t.dp.config(S51)?.state_epoch;
        Ok((learned.hold_until_ns, learned.hold_epoch == epoch))
    };
    let low_src = [192, 168, 200, 0];
    let accepted = [c::Ipv4Ah, c::Valid, c::IcvComputed];
    // The same master's next adverts are verified by prediction.
    let predicted = [c::Ipv4Ah, c::Valid, c::IcvPredicted];
    t.row(
        "BACKUP with preempt_delay sees a lower priority",
        &frame(&ah_advert(low_src, 51, 50, 1), AH_KEY),
        XDP_DROP,
        &accepted,
        &[],
    )?;
    let (first, current) = hold(&t)?;
    assert!(
        first != 0 && current,
        "the first lower advert starts a hold"
    );
    t.row(
        "the same master during the hold",
        &frame(&ah_advert(low_src, 51, 50, 2), AH_KEY),
        XDP_DROP,
        &predicted,
        &[],
    )?;
    assert_eq!(hold(&t)?.0, first, "a running hold is not restarted");
    std::thread::sleep(Duration::from_millis(350));
    t.row(
        "the same master after the hold",
        &frame(&ah_advert(low_src, 51, 50, 3), AH_KEY),
        XDP_DROP,
        &predicted,
        &[],
    )?;
    assert_eq!(hold(&t)?.0, first, "an expired hold is not restarted");
    t.dp.set_state(S51, KernelState::BACKUP)?;
    assert!(!hold(&t)?.1, "a state write ends the hold's epoch");
    t.row(
        "a lower master after a new entry into BACKUP",
        &frame(&ah_advert(low_src, 51, 50, 4), AH_KEY),
        XDP_DROP,
        &predicted,
        &[],
    )?;
    let (second, current) = hold(&t)?;
    assert!(
        second > first && current,
        "a new BACKUP period starts a new hold"
    );
    t.row(
        "a master of our priority ends the hold",
        &frame(&ah_advert(D2, 51, 100, 5), AH_KEY),
        XDP_DROP,
        &accepted,
        &[],
    )?;
    assert_eq!(hold(&t)?.0, 0);
    Ok(())
}

/// `n` distinct IPv4 addresses 10.n.x.y.
fn many_v4(n: usize) -> Vec<[u8; 4]> {
    (0..n)
        .map(|i| [10, n as u8, (i >> 8) as u8, i as u8])
        .collect()
}

/// Any number of addresses (issue 10, item 2): for each count, an advert carrying ours in
/// another order is valid; one of ours replaced by a stranger is `bad_address_list`; one
/// more or one fewer is `bad_address_count`. VRRPv2 without and with AH, VRRPv3 over IPv6.
#[test]
fn any_number_of_addresses() -> anyhow::Result<()> {
    let mut t = Table::new()?;
    let no_auth = |src, vrid, list: &[[u8; 4]]| {
        frame(&v2(src, vrid, 150, list, AUTH_NONE, [0; 8], None), b"")
    };
    for (k, n) in [1usize, 16, 17, 20, 100, 255].into_iter().enumerate() {
        let (slot, vrid) = (10 + k as u32, 100 + k as u8);
        let ours = many_v4(n);
        let vips = Table::v4(&ours);
        let spec = t.spec(vrid, 2, Auth::None, &vips);
        t.dp.install(slot, &spec.build())?;
        let mut shuffled = ours.clone();
        shuffled.reverse();
        shuffled.rotate_left(n / 3);
        t.row(
            &format!("{n} addresses, in another order"),
            &no_auth(D1, vrid, &shuffled),
            XDP_DROP,
            &[c::Ipv4Vrrp, c::Valid],
            &[],
        )?;
        let mut missing = ours.clone();
        missing[n / 2] = [192, 0, 2, 1];
        t.row(
            &format!("{n} addresses, one missing"),
            &no_auth(D1, vrid, &missing),
            XDP_DROP,
            &[c::Ipv4Vrrp, c::BadAddressList],
            &[],
        )?;
        if n > 1 {
            let mut repeated = ours.clone();
            repeated[n - 1] = ours[0];
            t.row(
                &format!("{n} addresses, the last replaced by a repeat of the first"),
                &no_auth(D1, vrid, &repeated),
                XDP_DROP,
                &[c::Ipv4Vrrp, c::BadAddressList],
                &[],
            )?;
        }
        t.row(
            &format!("{n} addresses, one fewer"),
            &no_auth(D1, vrid, &ours[..n - 1]),
            XDP_DROP,
            &[c::Ipv4Vrrp, c::BadAddressCount],
            &[],
        )?;
        if n < 255 {
            let mut more = ours.clone();
            more.push([192, 0, 2, 1]);
            t.row(
                &format!("{n} addresses, one more"),
                &no_auth(D1, vrid, &more),
                XDP_DROP,
                &[c::Ipv4Vrrp, c::BadAddressCount],
                &[],
            )?;
        }
        let counted = t.dp.instance_counters(slot)?;
        assert_eq!(
            counted.get(c::Valid),
            1,
            "{n} addresses: per-instance counters"
        );
    }

    // AH: up to MAX_AH_ADDRESSES (the ICV over three MD5 blocks); more is refused by
    // `vrrpd check`, and the kernel drops it as `bad_length`.
    let max = vrrp_common::maps::MAX_AH_ADDRESSES;
    for (k, n) in [16usize, 20, max].into_iter().enumerate() {
        let (slot, vrid) = (20 + k as u32, 120 + k as u8);
        let ours = many_v4(n);
        let vips = Table::v4(&ours);
        let key = t.ah_key.clone();
        let spec = t.spec(vrid, 2, Auth::Ah(&key), &vips);
        t.dp.install(slot, &spec.build())?;
        let ah = |list: &[[u8; 4]], sequence| {
            frame(
                &v2(D1, vrid, 150, list, AUTH_AH, [0; 8], Some(sequence)),
                AH_KEY,
            )
        };
        let mut missing = ours.clone();
        missing[0] = [192, 0, 2, 1];
        t.row(
            &format!("AH, {n} addresses, one missing"),
            &ah(&missing, 1),
            XDP_DROP,
            &[c::Ipv4Ah, c::BadAddressList],
            &[],
        )?;
        t.row(
            &format!("AH, {n} addresses"),
            &ah(&ours, 1),
            XDP_DROP,
            &[c::Ipv4Ah, c::Valid, c::IcvComputed],
            &[],
        )?;
        t.row(
            &format!("AH, {n} addresses, the master's next advert"),
            &ah(&ours, 2),
            XDP_DROP,
            &[c::Ipv4Ah, c::Valid, c::IcvPredicted],
            &[],
        )?;
    }
    let over = many_v4(max + 1);
    let vips = Table::v4(&over);
    let key = t.ah_key.clone();
    let spec = t.spec(130, 2, Auth::Ah(&key), &vips);
    t.dp.install(30, &spec.build())?;
    t.row(
        &format!("AH, {} addresses", max + 1),
        &frame(&v2(D1, 130, 150, &over, AUTH_AH, [0; 8], Some(1)), AH_KEY),
        XDP_DROP,
        &[c::Ipv4Ah, c::BadLength],
        &[],
    )?;

    // IPv6: 20, and 89 (the most keepalived puts in a 1500-byte MTU), 255.
    for (k, n) in [20usize, 89, 255].into_iter().enumerate() {
        let (slot, vrid) = (31 + k as u32, 140 + k as u8);
        let ours: Vec<std::net::Ipv6Addr> = (0..n)
            .map(|i| std::net::Ipv6Addr::new(0xfd00, 0x10, n as u16, 0, 0, 0, 0, i as u16 + 1))
            .collect();
        let vips: Vec<IpAddr> = ours.iter().copied().map(IpAddr::V6).collect();
        let spec = InstanceSpec {
            own_address: "fe80::1".parse()?,
            ..t.spec(vrid, 3, Auth::None, &vips)
        };
        t.dp.install(slot, &spec.build())?;
        let v6 = |list: &[std::net::Ipv6Addr]| {
            frame(&tests::adverts::v3_ipv6(vrid, 150, 100, list), b"")
        };
        let mut shuffled = ours.clone();
        shuffled.reverse();
        t.row(
            &format!("IPv6, {n} addresses, in another order"),
            &v6(&shuffled),
            XDP_DROP,
            &[c::Ipv6Vrrp, c::Valid],
            &[],
        )?;
        let mut missing = ours.clone();
        missing[n - 1] = "fd00::99".parse()?;
        t.row(
            &format!("IPv6, {n} addresses, one missing"),
            &v6(&missing),
            XDP_DROP,
            &[c::Ipv6Vrrp, c::BadAddressList],
            &[],
        )?;
        t.row(
            &format!("IPv6, {n} addresses, one fewer"),
            &v6(&ours[..n - 1]),
            XDP_DROP,
            &[c::Ipv6Vrrp, c::BadAddressCount],
            &[],
        )?;
    }
    Ok(())
}

/// Sends forgeries claiming D1 at priority 255 and AH sequence `sequence` (not one the
/// kernel predicts) until the HMAC budget of VRID 51 is spent.
fn spend_budget(t: &mut Table, sequence: u32) -> anyhow::Result<()> {
    let budget = t.dp.config(S51)?.hmac_budget;
    let mut hmacs = 0;
    loop {
        let forged = frame(&ah_advert(D1, 51, 255, sequence), b"forged");
        let before = t.dp.counters()?;
        assert_eq!(t.dp.test_run(&forged)?, XDP_DROP);
        let after = t.dp.counters()?;
        if after.get(c::HmacBudget) > before.get(c::HmacBudget) {
            return Ok(());
        }
        assert_eq!(after.get(c::BadIcv), before.get(c::BadIcv) + 1);
        hmacs += 1;
        assert!(
            hmacs <= 2 * budget,
            "{hmacs} HMACs with a budget of {budget}"
        );
    }
}

/// Issue 11: under a flood of forgeries that spends the HMAC budget, the controller's
/// prediction table (`vrrpd::predict`) verifies the transitions the program cannot
/// predict itself — the master's priority change, a restarted peer coming back — by
/// comparison, and refuses forgeries of those shapes without an HMAC.
#[test]
fn flood_predictions_keep_transitions_verifiable() -> anyhow::Result<()> {
    let mut t = Table::new()?;
    t.row(
        "the master's first advert",
        &frame(&ah_advert(D1, 51, 150, 1), AH_KEY),
        XDP_DROP,
        &[c::Ipv4Ah, c::Valid, c::IcvComputed],
        &[],
    )?;
    // At rest the controller computes nothing and the table is empty.
    let mut predictor = vrrpd::predict::Predictor::default();
    let subjects = [vrrpd::predict::Subject {
        name: "VI_1".to_owned(),
        slot: S51,
        password: Password::new(AH_KEY),
        interval: Duration::from_secs(1),
    }];
    predictor.tick(&mut t.dp, &subjects, Instant::now())?;
    assert_eq!(predictor.computed, 0, "nothing is computed at rest");

    // The flood: forgeries claiming the master at priority 255 spend the budget.
    spend_budget(&mut t, 2)?;
    // The kernel's own prediction already tells a forgery of the master's next advert
    // without an HMAC.
    t.row(
        "forged copy of the master's predicted next advert",
        &frame(&ah_advert(D1, 51, 150, 2), b"forged"),
        XDP_DROP,
        &[c::Ipv4Ah, c::BadIcv],
        &[],
    )?;
    // The controller sees the forgeries and computes the table.
    predictor.tick(&mut t.dp, &subjects, Instant::now())?;
    assert_eq!(
        predictor.computed,
        (vrrp_common::predict::PRIORITIES * vrrp_common::predict::COLUMNS) as u64,
        "one sender, every priority x every column"
    );
    t.row(
        "the master lowers its priority (150 -> 140) under flood: verified by the table",
        &frame(&ah_advert(D1, 51, 140, 2), AH_KEY),
        XDP_DROP,
        &[c::Ipv4Ah, c::Valid, c::IcvPredicted],
        &[],
    )?;
    assert_eq!(t.dp.runtime(S51)?.learned.master_priority, 140);
    t.row(
        "forged priority 255 of a predicted shape: refused without an HMAC",
        &frame(&ah_advert(D1, 51, 255, 3), b"forged"),
        XDP_DROP,
        &[c::Ipv4Ah, c::BadIcv],
        &[],
    )?;
    // A forgery at a sequence no column lists could only be told by an HMAC: with the
    // budget spent it is dropped at the gate, before the packet is copied or checked (its
    // broken VRRP checksum is never looked at).
    spend_budget(&mut t, 500)?;
    let mut unlisted = frame(&ah_advert(D1, 51, 255, 1_000_000), b"forged");
    unlisted[14 + 20 + 24 + 6] ^= 0xff;
    t.row(
        "forged advert of the master at a sequence the table does not list: hmac_budget",
        &unlisted,
        XDP_DROP,
        &[c::Ipv4Ah, c::HmacBudget],
        &[],
    )?;
    t.row(
        "the master's next advert at its new priority: the kernel's own prediction",
        &frame(&ah_advert(D1, 51, 140, 3), AH_KEY),
        XDP_DROP,
        &[c::Ipv4Ah, c::Valid, c::IcvPredicted],
        &[],
    )?;

    // We took over (MASTER, our counter moved on); the old master restarts and comes back
    // with IP id 1 and our sequence + 1, as keepalived does.
    t.dp.set_state(S51, KernelState::MASTER)?;
    t.dp.set_sequence(S51, 50)?;
    predictor.tick(&mut t.dp, &subjects, Instant::now())?;
    let mut back = ah_advert(D1, 51, 150, 51);
    if let vrrpd::wire::advert::IpHeader::V4(ip) = &mut back.ip {
        ip.ident = 1;
    }
    t.row(
        "a restarted peer preempts under flood: verified by the table",
        &frame(&back, AH_KEY),
        XDP_DROP,
        &[c::Ipv4Ah, c::Valid, c::IcvPredicted, c::Events],
        &[event::HIGHER_PRIORITY],
    )?;
    // Nothing in the table for a sender never seen: the budget decides, as before.
    let stranger = frame(&ah_advert(D2, 51, 200, 60), AH_KEY);
    let before = t.dp.counters()?;
    t.dp.test_run(&stranger)?;
    let after = t.dp.counters()?;
    assert_eq!(
        after.get(c::IcvPredicted),
        before.get(c::IcvPredicted),
        "an unknown sender is never verified by prediction"
    );
    Ok(())
}
