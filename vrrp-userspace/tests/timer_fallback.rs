//! A master-down timer the kernel cannot arm never leaves an instance unable to take over
//! (issue 14): the real controller, with a fake kernel whose timer helper fails, keeps a
//! userspace timer, logs the failure, counts it for `vrrpd status`, and takes over when
//! the kernel's deadline has passed, not before (adverts keep moving it).
#![allow(
    clippy::unwrap_used,
    reason = "test harness: a failed unwrap is a failed test"
)]
use std::{
    collections::HashMap,
    net::{IpAddr, Ipv4Addr},
    sync::atomic::{AtomicUsize, Ordering},
    time::Duration,
};

use vrrpd::{
    config::{self, model::VirtualAddress},
    controller::{Controller, Input},
    fsm::State,
    platform::{KernelDeadline, Platform},
    router::Handles,
};

/// A kernel whose timers cannot be armed (as when `bpf_timer_init` returns ENOMEM), but
/// which keeps each slot's deadline, moved by the adverts a test says arrived.
#[derive(Debug, Default)]
struct RefusingKernel {
    now: Duration,
    /// Slot → deadline (fake time), removed once reported.
    deadlines: HashMap<u32, Duration>,
    vips: Vec<IpAddr>,
    lines: Vec<String>,
    arms: usize,
}

impl Platform for RefusingKernel {
    fn set_state(&mut self, _slot: u32, _state: State) -> anyhow::Result<()> {
        Ok(())
    }

    fn set_priority(&mut self, _slot: u32, _priority: u8) -> anyhow::Result<()> {
        Ok(())
    }

    fn arm_master_down(&mut self, slot: u32, after: Duration) -> anyhow::Result<()> {
        self.arms += 1;
        self.deadlines.insert(slot, self.now + after);
        anyhow::bail!(
            "the kernel refused arming the master-down timer for slot {slot}: bpf_timer_init \
             returned -12"
        )
    }

    fn cancel_master_down(&mut self, slot: u32) -> anyhow::Result<()> {
        self.deadlines.remove(&slot);
        Ok(())
    }

    fn master_down_deadline(&mut self, slot: u32) -> anyhow::Result<KernelDeadline> {
        Ok(match self.deadlines.get(&slot) {
            None => KernelDeadline::NotArmed,
            Some(at) if *at > self.now => KernelDeadline::Pending(*at - self.now),
            Some(_) => {
                self.deadlines.remove(&slot);
                KernelDeadline::Passed(None)
            }
        })
    }

    fn advance_sequence(&mut self, _slot: u32, _by: u32) -> anyhow::Result<()> {
        Ok(())
    }

    fn next_sequence(&mut self, _slot: u32) -> anyhow::Result<u32> {
        Ok(1)
    }

    async fn add_address(&mut self, _ifindex: u32, vip: &VirtualAddress) -> anyhow::Result<()> {
        self.vips.push(vip.address);
        Ok(())
    }

    async fn del_address(&mut self, _ifindex: u32, address: IpAddr) -> anyhow::Result<()> {
        self.vips.retain(|a| *a != address);
        Ok(())
    }

    fn send(&mut self, _interface: &str, _frame: &[u8]) -> std::io::Result<()> {
        Ok(())
    }

    fn run_script(&mut self, _command: &str) {}

    fn log(&mut self, line: &str) {
        self.lines.push(line.to_owned());
    }
}

const CONFIG: &str = "vrrp_instance VI_1 {
    interface eth0
    virtual_router_id 51
    priority 100
    advert_int 1
    virtual_ipaddress {
        192.0.2.10/24
    }
}
";

fn controller() -> Controller<RefusingKernel> {
    // One folder per call: the tests run on parallel threads of one process, and a file
    // shared between them was read half-written by one while the other rewrote it.
    static CALLS: AtomicUsize = AtomicUsize::new(0);
    let n = CALLS.fetch_add(1, Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("vrrpd-timer-fallback-{}-{n}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("keepalived.conf");
    std::fs::write(&path, CONFIG).unwrap();
    let config = config::load(&path, None)
        .unwrap_or_else(|e| panic!("{}", e.render()))
        .config;
    let _ = std::fs::remove_dir_all(&dir);
    let handles = vec![Handles {
        ifindex: 1,
        mac: [2, 0, 0, 0, 0, 1],
        own: IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)),
        vip_ifindex: Vec::new(),
    }];
    let links = HashMap::from([("eth0".to_owned(), true)]);
    Controller::new(&config, handles, links, RefusingKernel::default())
}

/// Runs the controller's timer inputs up to `until`, as the daemon's loop does.
async fn run_until(c: &mut Controller<RefusingKernel>, until: Duration) {
    while let Some(at) = c.deadline().filter(|at| *at <= until) {
        c.platform_mut().now = at;
        c.handle(Input::Timer, at).await;
    }
    c.platform_mut().now = until;
}

fn block_on(f: impl Future<Output = ()>) {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(f);
}

#[test]
fn a_refused_kernel_timer_falls_back_to_userspace_and_takes_over() {
    block_on(async {
        let mut c = controller();
        c.handle(Input::Start, Duration::ZERO).await;
        let r = &c.routers()[0];
        assert_eq!(r.state(), State::Backup);
        assert_eq!(r.timer_fallbacks, 1, "the refusal is counted");
        // Master down = 3 s + skew (256 - 100) / 256 s.
        let master_down = Duration::from_millis(3000) + Duration::from_secs(156) / 256;
        assert_eq!(r.userspace_master_down, Some(master_down));
        assert!(
            c.platform().lines.iter().any(|l| l
                == "(VI_1) the kernel could not arm the master-down timer (the kernel refused \
                    arming the master-down timer for slot 0: bpf_timer_init returned -12); \
                    using a userspace timer"),
            "{:?}",
            c.platform().lines
        );

        // Just before the deadline: still BACKUP, no VIP.
        run_until(&mut c, master_down - Duration::from_millis(1)).await;
        assert_eq!(c.routers()[0].state(), State::Backup);
        assert!(c.platform().vips.is_empty());
        // At the deadline: MASTER with the VIP, and the userspace timer is gone.
        run_until(&mut c, master_down + Duration::from_millis(1)).await;
        assert_eq!(c.routers()[0].state(), State::Master);
        assert_eq!(c.platform().vips, vec![IpAddr::from([192, 0, 2, 10])]);
        assert_eq!(c.routers()[0].userspace_master_down, None);
    });
}

#[test]
fn adverts_that_move_the_kernel_deadline_keep_the_fallback_backup() {
    block_on(async {
        let mut c = controller();
        c.handle(Input::Start, Duration::ZERO).await;
        let first = c.routers()[0].userspace_master_down.unwrap();
        // A master's adverts arrive every second: the kernel moves the deadline (as the
        // XDP program does for valid adverts, whether or not its timer could be armed).
        for second in 1..=20u64 {
            let now = Duration::from_secs(second);
            run_until(&mut c, now).await;
            c.platform_mut().deadlines.insert(0, now + first);
        }
        run_until(&mut c, Duration::from_secs(20) + Duration::from_millis(500)).await;
        assert_eq!(
            c.routers()[0].state(),
            State::Backup,
            "a live master is kept"
        );
        assert!(c.platform().vips.is_empty());
        assert!(c.routers()[0].userspace_master_down.is_some());
        // The master goes silent: the fallback takes over after the last deadline.
        run_until(
            &mut c,
            Duration::from_secs(20) + first + Duration::from_millis(1),
        )
        .await;
        assert_eq!(c.routers()[0].state(), State::Master);
        assert_eq!(c.platform().arms, 1, "one arm, one refusal");
    });
}
