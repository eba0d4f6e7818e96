//! Master-down timers at full scale (issue 14): two programs, as two daemons in their own
//! network namespaces would load them on one host, each with a full instance table; every
//! slot is armed, cancelled and re-armed, and every timer fires or stays silent as it
//! should, with `timer_errors` at 0.
//!
//! The regression: the program used to keep a `bpf_timer` per slot. `bpf_timer_init`
//! allocates with `kmalloc_nolock`, which on kernels whose page allocator has no lockless
//! path (deferred memory-map initialisation) only takes free objects of an existing slab;
//! they are shared by every program on the host, so the second table (or the first one,
//! past about 200 slots) failed with ENOMEM. The program now has one timer.
use std::{
    collections::BTreeSet,
    net::{IpAddr, Ipv4Addr},
    time::{Duration, Instant},
};

use tests::NetNs;
use vrrp_common::{
    counters::Counter,
    maps::{KernelState, MAX_INSTANCES, event},
};
use vrrpd::dataplane::{Auth, Dataplane};

const OWN: [u8; 4] = [192, 168, 220, 1];
const VIP: [u8; 4] = [192, 168, 220, 10];

/// A dataplane whose table is full: slot `s` holds VRID `s % 255 + 1`, VRRPv2 for the
/// first 255 slots and VRRPv3 after (one key per slot), BACKUP, on loopback.
fn full_table() -> anyhow::Result<Dataplane> {
    let mut dp = Dataplane::load()?;
    let lo = vrrpd::sys::if_index("lo")?;
    let vips = tests::ipv4s(&[VIP]);
    for slot in 0..MAX_INSTANCES {
        let vrid = u8::try_from(slot % 255 + 1)?;
        let version = if slot < 255 { 2 } else { 3 };
        let spec = tests::backup_spec(
            lo,
            vrid,
            version,
            Auth::None,
            &vips,
            IpAddr::V4(Ipv4Addr::from(OWN)),
        );
        dp.install(slot, &spec.build())?;
    }
    Ok(dp)
}

/// Reads MASTER_DOWN events until `want` slots have reported or `patience` ran out
/// (a liveness bound, not a speed check); returns the slots that reported, and fails on
/// any other event or a slot reporting twice.
fn collect_master_down(
    dp: &mut Dataplane,
    want: usize,
    patience: Duration,
) -> anyhow::Result<BTreeSet<u32>> {
    let mut fired = BTreeSet::new();
    let until = Instant::now() + patience;
    while fired.len() < want && Instant::now() < until {
        match dp.next_event() {
            Some(e) => {
                anyhow::ensure!(
                    e.kind == event::MASTER_DOWN,
                    "unexpected event kind {}",
                    e.kind
                );
                anyhow::ensure!(fired.insert(e.slot), "slot {} reported twice", e.slot);
            }
            None => std::thread::sleep(Duration::from_millis(5)),
        }
    }
    Ok(fired)
}

/// Arms, cancels and re-arms every slot of a full table, in the namespace the caller
/// entered; returns what an operator would look at: `timer_errors` and the kernel log.
fn exercise(dp: &mut Dataplane, tag: &str) -> anyhow::Result<()> {
    let all: BTreeSet<u32> = (0..MAX_INSTANCES).collect();
    dp.init_timer()?;

    // 1. Armed far ahead, then cancelled: none fires.
    for slot in 0..MAX_INSTANCES {
        dp.arm_timer(slot, Duration::from_millis(300 + u64::from(slot)))?;
    }
    for slot in 0..MAX_INSTANCES {
        assert!(dp.master_down(slot)?.pending(), "{tag}: slot {slot} armed");
        dp.cancel_timer(slot)?;
    }
    let early = collect_master_down(dp, 1, Duration::from_millis(1200))?;
    assert!(early.is_empty(), "{tag}: cancelled timers fired: {early:?}");

    // 2. Re-armed (odd slots sooner): every slot fires once.
    for slot in 0..MAX_INSTANCES {
        let delay = if slot % 2 == 1 { 20 } else { 200 };
        dp.arm_timer(slot, Duration::from_millis(delay))?;
    }
    let fired = collect_master_down(dp, all.len(), Duration::from_secs(20))?;
    assert_eq!(fired, all, "{tag}: every re-armed slot reports MASTER_DOWN");
    for slot in 0..MAX_INSTANCES {
        assert!(!dp.master_down(slot)?.pending(), "{tag}: slot {slot} fired");
    }

    // 3. Half re-armed then cancelled again, half re-armed after having fired: only the
    //    second half fires; a MASTER's expiry is not reported.
    for slot in 0..MAX_INSTANCES {
        dp.arm_timer(slot, Duration::from_millis(100))?;
    }
    for slot in (0..MAX_INSTANCES).filter(|s| s % 2 == 0) {
        dp.cancel_timer(slot)?;
    }
    dp.set_state(1, KernelState::MASTER)?;
    let odd: BTreeSet<u32> = all
        .iter()
        .copied()
        .filter(|s| s % 2 == 1 && *s != 1)
        .collect();
    let fired = collect_master_down(dp, odd.len(), Duration::from_secs(20))?;
    assert_eq!(fired, odd, "{tag}: only the armed BACKUPs report");
    let late = collect_master_down(dp, 1, Duration::from_millis(500))?;
    assert!(
        late.is_empty(),
        "{tag}: a cancelled slot or a MASTER fired: {late:?}"
    );

    // 4. An earlier deadline overrides a later one, and a later one a fired one.
    dp.set_state(1, KernelState::BACKUP)?;
    dp.arm_timer(7, Duration::from_secs(3600))?;
    dp.arm_timer(7, Duration::from_millis(10))?;
    let fired = collect_master_down(dp, 1, Duration::from_secs(10))?;
    assert_eq!(
        fired,
        BTreeSet::from([7]),
        "{tag}: the shorter deadline wins"
    );

    let counters = dp.counters()?;
    assert_eq!(counters.get(Counter::TimerErrors), 0, "{tag}: timer_errors");
    assert_eq!(counters.get(Counter::EventsLost), 0, "{tag}: events_lost");
    let lines = dp.flush_kernel_logs();
    assert!(lines.is_empty(), "{tag}: the program logged {lines:?}");
    Ok(())
}

#[test]
fn full_tables_on_two_dataplanes_arm_cancel_and_rearm_every_slot() -> anyhow::Result<()> {
    tests::require_root()?;
    let a = NetNs::new("tma")?;
    let b = NetNs::new("tmb")?;
    // Both tables are loaded and filled before either is exercised, so both programs hold
    // their timers at the same time, as two daemons on one host do.
    let (ready_tx, ready_rx) = std::sync::mpsc::channel::<()>();
    let (go_a, wait_a) = std::sync::mpsc::channel::<()>();
    let (go_b, wait_b) = std::sync::mpsc::channel::<()>();
    let run = |ns: &NetNs, wait: std::sync::mpsc::Receiver<()>, tag: &'static str| {
        let ready = ready_tx.clone();
        let path = ns.path();
        std::thread::spawn(move || -> anyhow::Result<()> {
            vrrpd::sys::enter_netns(&path)?;
            let mut dp = full_table()?;
            ready.send(())?;
            wait.recv()?;
            exercise(&mut dp, tag)
        })
    };
    let ta = run(&a, wait_a, "daemon A");
    let tb = run(&b, wait_b, "daemon B");
    drop(ready_tx);
    // Both loaded (or one failed: its thread's error is reported below).
    let loaded = ready_rx.iter().take(2).count();
    let _ = go_a.send(());
    let _ = go_b.send(());
    let ra = ta
        .join()
        .map_err(|_| anyhow::anyhow!("daemon A's thread panicked"))?;
    let rb = tb
        .join()
        .map_err(|_| anyhow::anyhow!("daemon B's thread panicked"))?;
    ra?;
    rb?;
    assert_eq!(loaded, 2);
    Ok(())
}

/// The program keeps each slot's deadline even when its timer cannot be armed (here: the
/// kernel refuses to initialise it, EPERM, because no process holds the timer map): the
/// failure is counted per slot and logged with the helper and errno, and the daemon's
/// userspace fallback reads the deadline, which valid adverts keep moving.
#[test]
fn a_refused_timer_is_counted_logged_and_keeps_the_deadline() -> anyhow::Result<()> {
    tests::require_root()?;
    let ns = NetNs::new("tmf")?;
    ns.run(|| {
        let mut dp = full_table()?;
        dp.close_timer_map();
        let error = dp.init_timer().expect_err("init refused without the map");
        assert_eq!(
            error.to_string(),
            "the kernel refused initialising the master-down timer for slot 0: \
             bpf_timer_init returned -1 (Operation not permitted (os error 1))"
        );
        assert_eq!(dp.counters()?.get(Counter::TimerErrors), 1);
        for slot in [0, 100, MAX_INSTANCES - 1] {
            let error = dp
                .arm_timer(slot, Duration::from_secs(2))
                .expect_err("arming refused");
            assert!(
                matches!(
                    error,
                    vrrpd::dataplane::DataplaneError::Timer { errno: 1, .. }
                ),
                "{error}"
            );
            let md = dp.master_down(slot)?;
            assert!(md.pending(), "slot {slot}: the deadline is kept");
            assert_eq!(
                dp.instance_counters(slot)?.get(Counter::TimerErrors),
                1,
                "slot {slot}"
            );
        }
        let lines = dp.flush_kernel_logs();
        assert!(
            lines
                .iter()
                .any(|l| l
                    .starts_with("shared master-down timer not armed: bpf_timer_init returned -1")),
            "{lines:?}"
        );
        assert!(
            lines
                .iter()
                .any(|l| l
                    .contains("slot 100: master-down timer not armed: bpf_timer_init returned -1")),
            "{lines:?}"
        );
        dp.cancel_timer(100)?;
        assert!(!dp.master_down(100)?.pending());
        Ok(())
    })
}
