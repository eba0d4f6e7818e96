//! The XDP program on a veth in driver mode, fed by a peer namespace: a long stream of
//! adverts that change nothing produces no event at all while the counters account for
//! every frame; when the master's adverts stop, MASTER_DOWN arrives after the master-down
//! interval (3 × interval + skew) and not before.
use std::{
    net::{IpAddr, Ipv4Addr},
    time::{Duration, Instant},
};

use tests::{
    VethPair,
    adverts::{AH_KEY, frame, v2},
};
use vrrp_common::{
    counters::Counter as c,
    maps::{event, master_down_ns},
};
use vrrpd::{
    auth::Password,
    dataplane::{Auth, Dataplane, InstanceSpec},
    sys::PacketSocket,
    wire::{advert::Advert, vrrp},
};

const MASTER: [u8; 4] = [192, 0, 2, 2];
const VIPS: [[u8; 4]; 2] = [[192, 0, 2, 10], [192, 0, 2, 11]];

/// A BACKUP for VRID 51 on veth-a, priority 100, AH with the seed's key.
fn backup(dp: &mut Dataplane, ifindex: u32, version: u8, interval_cs: u16) -> anyhow::Result<()> {
    let key = Password::new(AH_KEY);
    let addresses = tests::ipv4s(&VIPS);
    let auth = if version == 2 {
        Auth::Ah(&key)
    } else {
        Auth::None
    };
    let own = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
    let spec = InstanceSpec {
        interval_cs,
        ..tests::backup_spec(ifindex, 51, version, auth, &addresses, own)
    };
    dp.install(0, &spec.build())?;
    Ok(())
}

/// Sends `frames`, waiting whenever the program falls behind so that no frame is lost in
/// the veth's queue (the test accounts for every one).
fn send_paced(
    dp: &Dataplane,
    socket: &PacketSocket,
    frames: impl Iterator<Item = Vec<u8>>,
) -> anyhow::Result<u64> {
    let start = dp.counters()?.get(c::Frames);
    let mut sent = 0u64;
    for f in frames {
        socket.send(&f)?;
        sent += 1;
        if sent.is_multiple_of(128) {
            let deadline = Instant::now() + Duration::from_secs(10);
            while dp.counters()?.get(c::Frames) - start < sent && Instant::now() < deadline {
                std::thread::yield_now();
            }
        }
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while dp.counters()?.get(c::Frames) - start < sent && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    Ok(sent)
}

#[test]
fn a_hundred_thousand_unchanging_adverts_raise_no_event() -> anyhow::Result<()> {
    let (pair, mut dp, ifindex) = VethPair::with_program("flood")?;
    backup(&mut dp, ifindex, 2, 100)?;
    let socket = pair.b.run(|| Ok(PacketSocket::open(VethPair::B)?))?;

    // 100,000 frames: the master's refreshes (priority 150 > ours: re-arm only), each also
    // replayed, forged copies, and adverts for a VRID nobody runs here.
    const ROUNDS: u32 = 25_000;
    let advert = |seq: u32, vrid: u8| -> Advert {
        v2(MASTER, vrid, 150, &VIPS, vrrp::AUTH_AH, [0; 8], Some(seq))
    };
    let frames = (1..=ROUNDS).flat_map(|seq| {
        let real = frame(&advert(seq, 51), AH_KEY);
        [
            real.clone(),
            real,
            frame(&advert(seq + 100_000, 51), b"forged"),
            frame(&advert(seq, 52), AH_KEY),
        ]
    });
    let before = dp.counters()?;
    let sent = send_paced(&dp, &socket, frames)?;
    let after = dp.counters()?;
    let delta = |i| after.get(i) - before.get(i);
    assert_eq!(sent, 4 * u64::from(ROUNDS));
    assert_eq!(delta(c::Frames), sent, "every frame reached the program");
    assert_eq!(
        delta(c::Valid),
        u64::from(ROUNDS),
        "each real advert accepted once"
    );
    assert_eq!(
        delta(c::Replay),
        u64::from(ROUNDS),
        "each copy refused as a replay"
    );
    assert_eq!(
        delta(c::BadIcv) + delta(c::HmacBudget),
        u64::from(ROUNDS),
        "each forgery refused"
    );
    assert_eq!(delta(c::UnknownVrid), u64::from(ROUNDS));
    assert_eq!(
        delta(c::Valid)
            + delta(c::Replay)
            + delta(c::BadIcv)
            + delta(c::HmacBudget)
            + delta(c::UnknownVrid),
        sent,
        "the counters account for every frame"
    );
    assert_eq!(
        delta(c::Events) + delta(c::EventsLost),
        0,
        "no event for adverts that change nothing"
    );
    assert!(dp.next_event().is_none(), "the ring buffer is empty");
    // The real master was verified by prediction, not by an HMAC per advert.
    assert!(
        delta(c::IcvPredicted) >= u64::from(ROUNDS) - 1,
        "predicted: {}",
        delta(c::IcvPredicted)
    );
    eprintln!(
        "{sent} frames: {} valid ({} by prediction, {} by HMAC), {} replays, {} forged ({} refused unverified), {} unknown VRID, 0 events",
        delta(c::Valid),
        delta(c::IcvPredicted),
        delta(c::IcvComputed),
        delta(c::Replay),
        delta(c::BadIcv) + delta(c::HmacBudget),
        delta(c::HmacBudget),
        delta(c::UnknownVrid)
    );
    Ok(())
}

#[test]
fn master_down_follows_the_last_advert_by_three_intervals_and_the_skew() -> anyhow::Result<()> {
    let (pair, mut dp, ifindex) = VethPair::with_program("down")?;
    // VRRPv3, 0.1 s adverts: master down = 0.3 s + (256 - 100) / 256 × 0.1 s = 0.3609375 s.
    const INTERVAL_CS: u16 = 10;
    backup(&mut dp, ifindex, 3, INTERVAL_CS)?;
    let master_down = Duration::from_nanos(master_down_ns(3, 100, INTERVAL_CS));
    dp.arm_timer(0, master_down)?;
    let socket = pair.b.run(|| Ok(PacketSocket::open(VethPair::B)?))?;
    let advert = Advert {
        vrrp: vrrp::Repr {
            version: vrrp::Version::V3 {
                max_advert_int_cs: INTERVAL_CS,
            },
            ..v2(MASTER, 51, 150, &VIPS, 0, [0; 8], None).vrrp
        },
        ..v2(MASTER, 51, 150, &VIPS, 0, [0; 8], None)
    };
    let f = frame(&advert, b"");
    // One second of adverts every 0.1 s: the timer keeps being re-armed, nothing fires.
    let mut last = Instant::now();
    for _ in 0..10 {
        socket.send(&f)?;
        last = Instant::now();
        std::thread::sleep(Duration::from_millis(100));
        assert!(
            dp.next_event().is_none(),
            "an event while the master was advertising"
        );
    }
    // The master goes silent.
    let deadline = Instant::now() + Duration::from_secs(5);
    let event = loop {
        if let Some(e) = dp.next_event() {
            break Some(e);
        }
        if Instant::now() > deadline {
            break None;
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    let waited = last.elapsed();
    let event =
        event.ok_or_else(|| anyhow::anyhow!("no MASTER_DOWN within 5 s of the last advert"))?;
    assert_eq!(event.kind, event::MASTER_DOWN);
    assert!(
        waited >= master_down,
        "MASTER_DOWN after {waited:?}, before the master-down interval {master_down:?}"
    );
    eprintln!(
        "MASTER_DOWN {waited:?} after the last advert (master-down interval {master_down:?})"
    );
    assert_eq!(dp.counters()?.get(c::Valid), 10);
    Ok(())
}
