//! The XDP program's rare-failure log lines (aya-log), through `BPF_PROG_TEST_RUN`: each
//! failure is logged with what an operator needs (slot, helper, error code), and a failure
//! that repeats on every packet logs only at the 1st, 2nd, 4th, 8th ... occurrence per CPU.
use std::{
    net::{IpAddr, Ipv4Addr},
    time::Duration,
};

use tests::adverts::{frame, v2};
use vrrp_common::{
    counters::Counter,
    maps::{KernelState, event},
};
use vrrpd::{
    dataplane::{Auth, Dataplane, InstanceSpec},
    wire::vrrp::AUTH_NONE,
};

const XDP_DROP: u32 = 1;
const PEER: [u8; 4] = [192, 168, 210, 5];
const OWN: [u8; 4] = [192, 168, 210, 1];
const VIP: [u8; 4] = [192, 168, 210, 10];
const VRID: u8 = 70;
const SLOT: u32 = 3;

/// A dataplane with one unauthenticated VRRPv2 instance (VRID 70) on the loopback
/// interface, where test runs arrive, in `state`.
fn dataplane(state: KernelState) -> anyhow::Result<Dataplane> {
    tests::require_root()?;
    let mut dp = Dataplane::load()?;
    let lo = vrrpd::sys::if_index("lo")?;
    let vips = tests::ipv4s(&[VIP]);
    let spec = InstanceSpec {
        state,
        ..tests::backup_spec(
            lo,
            VRID,
            2,
            Auth::None,
            &vips,
            IpAddr::V4(Ipv4Addr::from(OWN)),
        )
    };
    dp.install(SLOT, &spec.build())?;
    Ok(dp)
}

fn lines_with<'a>(lines: &'a [String], needle: &str) -> Vec<&'a String> {
    lines.iter().filter(|l| l.contains(needle)).collect()
}

#[test]
fn timer_failure_logs_slot_helper_and_code() -> anyhow::Result<()> {
    let mut dp = dataplane(KernelState::BACKUP)?;
    dp.arm_timer(SLOT, Duration::from_secs(3))?;
    assert_eq!(dp.counters()?.get(Counter::TimerErrors), 0);
    assert!(
        dp.flush_kernel_logs().is_empty(),
        "nothing logged when all is well"
    );

    // Without a userspace reference to the timer map the kernel refuses to create the
    // program's timer (a fresh program: the one above has its timer already).
    let mut dp = dataplane(KernelState::BACKUP)?;
    dp.close_timer_map();
    let slot = SLOT + 1;
    let attempts = 16;
    for _ in 0..attempts {
        assert!(
            dp.arm_timer(slot, Duration::from_secs(3)).is_err(),
            "the control program reports the failure"
        );
    }
    assert_eq!(dp.counters()?.get(Counter::TimerErrors), attempts);
    assert_eq!(
        dp.instance_counters(slot)?.get(Counter::TimerErrors),
        attempts
    );
    let lines = dp.flush_kernel_logs();
    let timer = lines_with(&lines, "master-down timer not armed");
    assert_eq!(
        timer.first().map(|l| l.as_str()),
        Some(&*format!(
            "slot {slot}: master-down timer not armed: bpf_timer_init returned -1 \
             (timer_errors of the slot on this CPU: 1)"
        )),
        "the first failure is logged with the slot, the helper and -EPERM; got {lines:?}"
    );
    // 1, 2, 4, 8, 16 on one CPU: five lines, not sixteen (a little more if the thread
    // moved to another CPU between two runs).
    assert!(
        timer.len() < attempts as usize,
        "rate-limited: {} lines for {attempts} failures: {lines:?}",
        timer.len()
    );
    assert!(
        dp.flush_kernel_logs().is_empty(),
        "each line is forwarded once"
    );
    Ok(())
}

#[test]
fn event_loss_logs_at_powers_of_two_not_per_packet() -> anyhow::Result<()> {
    let mut dp = dataplane(KernelState::MASTER)?;
    // Every run of this advert raises a HIGHER_PRIORITY event (the MASTER has 100).
    let higher = frame(&v2(PEER, VRID, 200, &[VIP], AUTH_NONE, [0; 8], None), b"");
    assert_eq!(dp.test_run(&higher)?, XDP_DROP);
    let first = dp.next_event().map(|e| e.kind);
    assert_eq!(first, Some(event::HIGHER_PRIORITY));

    // Nobody reads the ring buffer now: it fills (256 KiB of 56-byte records) and the
    // rest of the run is lost.
    let runs = 20_000;
    let (action, _) = dp.time_run(&higher, runs)?;
    assert_eq!(action, XDP_DROP);
    let counters = dp.counters()?;
    let lost = counters.get(Counter::EventsLost);
    assert_eq!(counters.get(Counter::Events) + lost, u64::from(runs) + 1);
    assert!(lost > 10_000, "the ring buffer overflowed ({lost} lost)");

    let lines = dp.flush_kernel_logs();
    let full = lines_with(&lines, "event ring buffer full");
    assert_eq!(
        full.first().map(|l| l.as_str()),
        Some(&*format!(
            "event ring buffer full: event {} of slot {SLOT} lost (events_lost on this CPU: 1); \
             the daemon resynchronises from the maps",
            event::HIGHER_PRIORITY
        )),
        "the first loss is logged at once; got {lines:?}"
    );
    // One line per power of two per CPU: about log2(lost) + 1 = 15 on one CPU.
    assert!(
        full.len() < 64,
        "{} lines for {lost} lost events: {lines:?}",
        full.len()
    );
    Ok(())
}
