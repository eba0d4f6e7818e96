//! `cargo xtask bench scale` (issue 14): vrrpd and keepalived 2.2.7 with the same
//! configuration, in the same run, at 1, 10, 100, 250 and 1,000 VRRPv2 + IPSEC-AH instances
//! (`advert_int 1`, one VIP each, VRIDs 1–255 per interface, eth0 to eth3): two directors,
//! each in its own network namespace, priorities 150 and 100, the same daemon on both; then
//! the mixed pairings at 1,000 instances. For each: configuration check time, start-up
//! time, time to converge from start, CPU and RSS at rest on either side, the time until
//! every instance has moved after the preferred director stops (SIGTERM: priority 0) and
//! after it dies (SIGKILL), each instance's own failover time on the wire, and whether
//! every VIP ended where it must.
//!
//! Writes its section of BENCHMARKS.md to `--output` (with the per-packet table of
//! `xdp-bench --vrids` read from `--xdp-table`); `cargo xtask bench scale` runs both and
//! puts the section in BENCHMARKS.md. `--counts 1,10` and `--rest SECONDS` shorten a trial
//! run. vrrpd is `$VRRPD_BIN` (the xtask passes the release build).
use std::{
    collections::{BTreeMap, BTreeSet},
    fmt::Write as _,
    net::{IpAddr, Ipv4Addr},
    path::Path,
    process::Command,
    thread,
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use anyhow::{Context as _, bail, ensure};
use tests::{
    NetNs,
    lab::{self, Capture, Daemon, Layout, Scratch, Side, Topology},
};

const COUNTS: [usize; 5] = [1, 10, 100, 250, 1000];
const SUBNETS: [&str; 4] = ["192.168.200", "192.168.201", "192.168.202", "192.168.203"];
const PRIORITIES: [u8; 2] = [150, 100];
/// After convergence, before the rest window: keepalived repeats its gratuitous ARPs 5 s
/// after becoming MASTER.
const SETTLE: Duration = Duration::from_secs(7);
/// Liveness bound of every wait.
const PATIENCE: Duration = Duration::from_secs(60);
/// How often the namespaces' addresses are read while waiting for a distribution.
const POLL: Duration = Duration::from_millis(5);
/// The backup's skew time at priority 100, `advert_int 1` (RFC 3768 §6.1: (256 − 100) / 256 s).
const SKEW: Duration = Duration::from_micros(609_375);
/// Its master-down time: 3 × advert interval + skew.
const MASTER_DOWN: Duration = Duration::from_micros(3_609_375);
/// What the targets allow on top of the skew or master-down time.
const MARGIN: Duration = Duration::from_millis(100);
/// Configuration checks per figure (the median is reported).
const CHECKS: usize = 5;

/// The keepalived.conf both directors use (vrrpd and keepalived alike), with their own
/// priority: [`lab::scale_config`].
fn config(count: usize, priority: u8) -> String {
    lab::scale_config(count, priority)
}

/// Director `d`'s (from 0) address on segment `s`.
fn director_address(s: usize, d: usize) -> IpAddr {
    let subnet: Vec<u8> = SUBNETS[s]
        .split('.')
        .map(|o| o.parse().unwrap_or(0))
        .collect();
    IpAddr::V4(Ipv4Addr::new(subnet[0], subnet[1], subnet[2], 5 + d as u8))
}

/// Waits until director 1 holds `want[0]` and director 2 `want[1]` exactly; returns the
/// time since `since` at the first read that showed it.
fn wait_for(
    t: &Topology,
    step: &str,
    want: [&BTreeSet<String>; 2],
    since: Instant,
    daemons: &[&Daemon],
) -> anyhow::Result<Duration> {
    loop {
        let got = [
            lab::addresses(t.director(0))?,
            lab::addresses(t.director(1))?,
        ];
        if got[0] == *want[0] && got[1] == *want[1] {
            return Ok(since.elapsed());
        }
        if since.elapsed() > PATIENCE {
            bail!(
                "{step}: director 1 holds {} VIPs, director 2 {} (expected {} and {}) after {PATIENCE:?}\n{}",
                got[0].len(),
                got[1].len(),
                want[0].len(),
                want[1].len(),
                lab::tails(daemons)
            );
        }
        thread::sleep(POLL);
    }
}

/// Resident memory of `pids` in KiB (VmRSS of /proc/PID/status, summed).
fn rss_kib(pids: &[u32]) -> anyhow::Result<u64> {
    let mut total = 0;
    for pid in pids {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
        total += status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse::<u64>().ok())
            .with_context(|| format!("no VmRSS for {pid}"))?;
    }
    Ok(total)
}

/// Kernel memory charged to the BPF maps and programs `pid` holds (the `memlock` of each
/// BPF descriptor in /proc/PID/fdinfo), in KiB.
fn bpf_memlock_kib(pid: u32) -> u64 {
    let Ok(entries) = std::fs::read_dir(format!("/proc/{pid}/fdinfo")) else {
        return 0;
    };
    entries
        .filter_map(Result::ok)
        .filter_map(|e| std::fs::read_to_string(e.path()).ok())
        .filter(|info| info.contains("map_type:") || info.contains("prog_type:"))
        .filter_map(|info| {
            info.lines()
                .find_map(|l| l.strip_prefix("memlock:"))
                .and_then(|v| v.trim().parse::<u64>().ok())
        })
        .sum::<u64>()
        / 1024
}

/// Median wall time of `CHECKS` runs of the daemon's configuration check, in the
/// director's namespace (so that its interfaces exist).
fn check_time(side: Side, ns: &NetNs, config: &Path) -> anyhow::Result<Duration> {
    let mut times = Vec::new();
    for _ in 0..CHECKS {
        let mut command = Command::new("ip");
        command.args(["netns", "exec", ns.name()]);
        match side {
            Side::Vrrpd => command.arg(lab::vrrpd_bin()?).arg("check").arg(config),
            Side::Keepalived => command
                .args(["keepalived", "--config-test", "--use-file"])
                .arg(config),
        };
        let start = Instant::now();
        let out = command.output()?;
        times.push(start.elapsed());
        ensure!(
            out.status.success(),
            "{side} configuration check failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    times.sort();
    Ok(times[times.len() / 2])
}

/// Waits until the daemon's log says every instance entered BACKUP; the time since `since`.
fn started(d: &Daemon, count: usize, since: Instant) -> anyhow::Result<Duration> {
    loop {
        let backups = d.log_text().matches("Entering BACKUP STATE").count();
        if backups >= count {
            return Ok(since.elapsed());
        }
        ensure!(
            since.elapsed() < PATIENCE,
            "{} of {count} instances entered BACKUP\n{}",
            backups,
            d.tail()
        );
        thread::sleep(POLL);
    }
}

/// Captures on every segment's bridge.
fn capture(t: &Topology, segments: usize, dir: &Path) -> anyhow::Result<Vec<Capture>> {
    (0..segments)
        .map(|s| Capture::start(t.switch(), &format!("br{s}"), dir))
        .collect()
}

/// Per instance (segment, VRID): the adverts of each director, in capture order.
type Wire = BTreeMap<(usize, u8), [Vec<(Duration, u8)>; 2]>;

fn wire(captures: Vec<Capture>) -> anyhow::Result<Wire> {
    let mut out = Wire::new();
    for (s, capture) in captures.into_iter().enumerate() {
        for advert in lab::adverts(&capture.finish()?) {
            let Some(d) = (0..2).find(|&d| director_address(s, d) == advert.src) else {
                continue;
            };
            out.entry((s, advert.vrid)).or_default()[d].push((advert.at, advert.priority));
        }
    }
    Ok(out)
}

/// Per-instance failover times on the wire: from `from` (director 1's advert that starts
/// the peer's timer) to director 2's first advert after it.
struct Moves {
    /// The slowest instance's time.
    slowest: Duration,
    /// Instances slower than the target.
    late: usize,
    /// Instances without the expected adverts (none is a correct run).
    missing: Vec<String>,
}

fn moves(
    wire: &Wire,
    count: usize,
    target: Duration,
    from: impl Fn(&[(Duration, u8)]) -> Option<Duration>,
) -> Moves {
    let mut m = Moves {
        slowest: Duration::ZERO,
        late: 0,
        missing: Vec::new(),
    };
    for n in 0..count {
        let key = lab::scale_placement(n);
        let Some([d1, d2]) = wire.get(&key) else {
            m.missing.push(format!("VI_{n}: no advert"));
            continue;
        };
        let Some(start) = from(d1) else {
            m.missing.push(format!("VI_{n}: no advert from director 1"));
            continue;
        };
        let Some(&(end, _)) = d2.iter().find(|(at, _)| *at >= start) else {
            m.missing.push(format!(
                "VI_{n}: no advert from director 2 after director 1's"
            ));
            continue;
        };
        let took = end - start;
        m.slowest = m.slowest.max(took);
        if took > target {
            m.late += 1;
        }
    }
    m
}

fn now() -> Duration {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
}

/// What one pairing measured.
struct Run {
    count: usize,
    sides: [Side; 2],
    check: Option<Duration>,
    startup: Duration,
    converged: Duration,
    /// CPU seconds per second of rest, and RSS in KiB, of director 1 (MASTER) and 2.
    cpu: Option<[f64; 2]>,
    rss: Option<[u64; 2]>,
    bpf_kib: Option<u64>,
    stop_all: Duration,
    /// SIGTERM to director 1's last priority-0 advert.
    stop_spread: Option<Duration>,
    stop: Moves,
    kill_all: Duration,
    kill: Moves,
    problems: Vec<String>,
}

fn run(count: usize, sides: [Side; 2], rest: Option<Duration>) -> anyhow::Result<Run> {
    let tag = format!(
        "b{}{}{count}",
        &sides[0].to_string()[..1],
        &sides[1].to_string()[..1]
    );
    eprintln!("==> {count} instances, {}/{}", sides[0], sides[1]);
    let segments = count.div_ceil(255);
    let t = Topology::new(
        &tag,
        &Layout {
            subnets: &SUBNETS[..segments],
            directors: 2,
            clients: &[],
        },
    )?;
    let scratch = Scratch::new(&tag)?;
    let configs = [
        scratch.write("d1.conf", &config(count, PRIORITIES[0]))?,
        scratch.write("d2.conf", &config(count, PRIORITIES[1]))?,
    ];
    let all: BTreeSet<String> = (0..count).map(lab::scale_vip).collect();
    let none = BTreeSet::new();
    let mut problems = Vec::new();

    let check = if sides[0] == sides[1] {
        Some(check_time(sides[0], t.director(0), &configs[0])?)
    } else {
        None
    };

    // Start: both BACKUP, then director 1 (150) takes every instance.
    let since = Instant::now();
    let mut d1 = Daemon::start(sides[0], t.director(0), &configs[0])?;
    let d2 = Daemon::start(sides[1], t.director(1), &configs[1])?;
    let startup = started(&d1, count, since)?.max(started(&d2, count, since)?);
    let converged = wait_for(&t, "at start", [&all, &none], since, &[&d1, &d2])?;
    eprintln!("    start-up {startup:?}, converged {converged:?}");

    // At rest.
    let (cpu, rss, bpf_kib) = match rest {
        Some(window) => {
            thread::sleep(SETTLE);
            let pids = [d1.pids(), d2.pids()];
            let before = [lab::cpu_seconds(&pids[0])?, lab::cpu_seconds(&pids[1])?];
            thread::sleep(window);
            let after = [lab::cpu_seconds(&pids[0])?, lab::cpu_seconds(&pids[1])?];
            let per_second = |i: usize| (after[i] - before[i]) / window.as_secs_f64();
            let rss = [rss_kib(&pids[0])?, rss_kib(&pids[1])?];
            let bpf = (sides[0] == Side::Vrrpd).then(|| bpf_memlock_kib(pids[0][0]));
            eprintln!(
                "    at rest: CPU {:.4} / {:.4} s/s, RSS {} / {} KiB",
                per_second(0),
                per_second(1),
                rss[0],
                rss[1]
            );
            (Some([per_second(0), per_second(1)]), Some(rss), bpf)
        }
        None => (None, None, None),
    };
    for (d, state) in [(&d1, "MASTER"), (&d2, "BACKUP")] {
        if d.side() == Side::Vrrpd {
            let wrong = d.states()?.into_iter().filter(|(_, s)| s != state).count();
            if wrong > 0 {
                problems.push(format!("{wrong} {} instances not {state}", d.side()));
            }
        }
    }

    // The preferred director stops: priority 0 for every instance.
    let captures = capture(&t, segments, scratch.path())?;
    let signalled = now();
    let since = Instant::now();
    d1.kill("-TERM")?;
    let stop_all = wait_for(&t, "after SIGTERM", [&none, &all], since, &[&d1, &d2])?;
    while d1.running()? {
        ensure!(since.elapsed() < PATIENCE, "director 1 still running");
        thread::sleep(POLL);
    }
    thread::sleep(Duration::from_secs(1));
    let seen = wire(captures)?;
    let first_zero = |d1: &[(Duration, u8)]| d1.iter().find(|(_, p)| *p == 0).map(|(at, _)| *at);
    let stop = moves(&seen, count, SKEW + MARGIN, first_zero);
    let stop_spread = seen
        .values()
        .filter_map(|[d1, _]| first_zero(d1))
        .max()
        .map(|last| last.saturating_sub(signalled));
    eprintln!(
        "    stop: all moved {stop_all:?}, slowest instance {:?}, last priority 0 {stop_spread:?} after SIGTERM",
        stop.slowest
    );
    problems.extend(
        d1.auth_errors()
            .into_iter()
            .map(|l| format!("director 1: {l}")),
    );
    drop(d1);

    // Back (preemption), then it dies.
    let since = Instant::now();
    let mut d1 = Daemon::start(sides[0], t.director(0), &configs[0])?;
    wait_for(&t, "after the restart", [&all, &none], since, &[&d1, &d2])?;
    thread::sleep(Duration::from_secs(2));
    // Director 1's last advert of each instance before the kill is on the wire.
    let captures = capture(&t, segments, scratch.path())?;
    thread::sleep(Duration::from_millis(1500));
    let killed = now();
    let since = Instant::now();
    d1.crash()?;
    // Director 1 keeps the VIPs it had no chance to remove.
    let kill_all = wait_for(&t, "after SIGKILL", [&all, &all], since, &[&d1, &d2])?;
    thread::sleep(Duration::from_secs(1));
    let seen = wire(captures)?;
    let kill = moves(&seen, count, MASTER_DOWN + MARGIN, |d1| {
        d1.iter()
            .map(|(at, _)| *at)
            .filter(|at| *at <= killed)
            .max()
    });
    eprintln!(
        "    kill -9: all moved {kill_all:?}, slowest instance {:?}",
        kill.slowest
    );
    if d2.side() == Side::Vrrpd {
        let wrong = d2
            .states()?
            .into_iter()
            .filter(|(_, s)| s != "MASTER")
            .count();
        if wrong > 0 {
            problems.push(format!("{wrong} vrrpd instances not MASTER after the kill"));
        }
    }
    for (d, who) in [(&d1, "director 1"), (&d2, "director 2")] {
        problems.extend(d.auth_errors().into_iter().map(|l| format!("{who}: {l}")));
    }
    problems.extend(stop.missing.iter().map(|m| format!("stop: {m}")));
    problems.extend(kill.missing.iter().map(|m| format!("kill: {m}")));
    for p in &problems {
        eprintln!("    problem: {p}");
    }
    Ok(Run {
        count,
        sides,
        check,
        startup,
        converged,
        cpu,
        rss,
        bpf_kib,
        stop_all,
        stop_spread,
        stop,
        kill_all,
        kill,
        problems,
    })
}

fn ms(d: Duration) -> String {
    format!("{:.0}", d.as_secs_f64() * 1000.0)
}

fn report(runs: &[Run], xdp: &str, loads: [String; 2], rest: Duration) -> anyhow::Result<String> {
    let mut out = String::new();
    let find = |count: usize, side: Side| {
        runs.iter()
            .find(|r| r.count == count && r.sides == [side, side])
    };
    let counts: BTreeSet<usize> = runs.iter().map(|r| r.count).collect();
    let busy = loads.iter().any(|l| {
        l.split_whitespace()
            .next()
            .and_then(|v| v.parse::<f64>().ok())
            > Some(0.5)
    });
    writeln!(out, "## `cargo xtask bench scale`\n")?;
    writeln!(
        out,
        "Machine: {}. Load average (1, 5, 15 min) at the start {}, at the end {}{}\n",
        lab::machine(),
        loads[0],
        loads[1],
        if busy {
            ": the machine was shared with other work (builds and tests), so CPU and times are noisy."
        } else {
            "."
        }
    )?;
    writeln!(
        out,
        "VRRPv2 + IPSEC-AH instances, `advert_int 1`, one VIP each, VRIDs 1–255 per interface \
         (eth0–eth3 at 1,000), on two directors in their own network namespaces joined by \
         bridges; priorities 150 and 100, the same keepalived.conf for both daemons (vrrpd: \
         release build). Method:\n\n\
         - *check*: median of {CHECKS} runs of `vrrpd check FILE` / `keepalived --config-test \
           --use-file FILE` (read, parse, validate; wall time including process start).\n\
         - *start-up*: from starting both daemons until each log shows every instance \
           `Entering BACKUP STATE`; *converged*: until director 1 holds every VIP and \
           director 2 none (`ip -n NS -4 -o addr show`, read every {} ms; the first \
           possible moment is the master-down time at priority 150, 3.414 s).\n\
         - *CPU at rest*: utime + stime from /proc/PID/stat (keepalived: parent + VRRP child) \
           over {} s, starting {} s after convergence; ms of CPU per second. vrrpd's XDP \
           program runs in softirq context and is not charged to it: its cost per advert is \
           the last table (a backup at 1,000 instances receives 1,000 adverts/s). *RSS*: \
           VmRSS from /proc/PID/status (keepalived: both processes). *BPF*: vrrpd's maps \
           and programs (`memlock` in /proc/PID/fdinfo), fixed: the tables are sized for \
           1,024 instances.\n\
         - *stop*: SIGTERM to director 1. *all moved*: until director 1 holds no VIP and \
           director 2 every one (address reads); *slowest instance*: on the wire (tcpdump on \
           every bridge), per instance from director 1's priority-0 advert to director 2's \
           first advert, the largest; target skew time (609 ms at priority 100) + 100 ms. \
           *last priority 0*: from SIGTERM to director 1's last priority-0 advert.\n\
         - *kill -9*: SIGKILL to director 1 (keepalived's VRRP child first), after it came \
           back and preempted; *all moved*: until director 2 holds every VIP (director 1 \
           keeps its own: nobody removes them); *slowest instance*: from director 1's last \
           advert to director 2's first, the largest; target master-down time (3.609 s) + \
           100 ms.\n\
         - *correct*: every VIP where it must be at each step (the runs stop otherwise), \
           every vrrpd instance in the expected state, both daemons' adverts for every \
           instance on the wire, and no authentication error logged by either daemon.\n",
        POLL.as_millis(),
        rest.as_secs(),
        SETTLE.as_secs()
    )?;

    writeln!(out, "### At rest\n")?;
    writeln!(
        out,
        "| instances | daemon | check ms | start-up ms | converged ms | CPU master ms/s | CPU backup ms/s | RSS master KiB | RSS backup KiB | BPF KiB |"
    )?;
    writeln!(out, "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|")?;
    for &count in &counts {
        for side in [Side::Vrrpd, Side::Keepalived] {
            let Some(r) = find(count, side) else { continue };
            let cpu = r.cpu.unwrap_or_default();
            let rss = r.rss.unwrap_or_default();
            writeln!(
                out,
                "| {count} | {side} | {} | {} | {} | {:.2} | {:.2} | {} | {} | {} |",
                r.check.map_or("-".into(), ms),
                ms(r.startup),
                ms(r.converged),
                cpu[0] * 1000.0,
                cpu[1] * 1000.0,
                rss[0],
                rss[1],
                r.bpf_kib.map_or("-".into(), |k| k.to_string())
            )?;
        }
    }

    writeln!(out, "\n### vrrpd against keepalived at rest\n")?;
    writeln!(
        out,
        "CPU ratio vrrpd / keepalived (target ≤ 0.10; `n/a` when keepalived used less than \
         one clock tick, 10 ms, in the window); memory per instance: (RSS at N − RSS at 1) / \
         (N − 1), master side.\n"
    )?;
    writeln!(
        out,
        "| instances | CPU ratio master | CPU ratio backup | target | vrrpd KiB/instance | keepalived KiB/instance |"
    )?;
    writeln!(out, "|---:|---:|---:|---|---:|---:|")?;
    let per_instance = |side: Side, count: usize| -> String {
        match (find(1, side), find(count, side)) {
            (Some(one), Some(n)) if count > 1 => {
                let (a, b) = (one.rss.unwrap_or_default()[0], n.rss.unwrap_or_default()[0]);
                format!("{:.1}", (b as f64 - a as f64) / (count - 1) as f64)
            }
            _ => "-".into(),
        }
    };
    for &count in &counts {
        let (Some(v), Some(k)) = (find(count, Side::Vrrpd), find(count, Side::Keepalived)) else {
            continue;
        };
        let (vc, kc) = (v.cpu.unwrap_or_default(), k.cpu.unwrap_or_default());
        let tick = 0.01 / rest.as_secs_f64();
        let ratio = |i: usize| {
            if kc[i] < tick {
                "n/a".to_owned()
            } else {
                format!("{:.3}", vc[i] / kc[i])
            }
        };
        let verdict = if kc.iter().all(|&k| k < tick) {
            "n/a"
        } else if (0..2).all(|i| kc[i] < tick || vc[i] <= kc[i] / 10.0) {
            "met"
        } else {
            "not met"
        };
        writeln!(
            out,
            "| {count} | {} | {} | {verdict} | {} | {} |",
            ratio(0),
            ratio(1),
            per_instance(Side::Vrrpd, count),
            per_instance(Side::Keepalived, count)
        )?;
    }

    writeln!(out, "\n### Failover\n")?;
    writeln!(
        out,
        "| instances | director 1 / director 2 | stop: all moved ms | stop: last priority 0 ms | stop: slowest instance ms | late (> {} ms) | kill -9: all moved ms | kill -9: slowest instance ms | late (> {} ms) | correct |",
        ms(SKEW + MARGIN),
        ms(MASTER_DOWN + MARGIN)
    )?;
    writeln!(out, "|---:|---|---:|---:|---:|---:|---:|---:|---:|---|")?;
    for r in runs {
        writeln!(
            out,
            "| {} | {}/{} | {} | {} | {} | {} | {} | {} | {} | {} |",
            r.count,
            r.sides[0],
            r.sides[1],
            ms(r.stop_all),
            r.stop_spread.map_or("-".into(), ms),
            ms(r.stop.slowest),
            r.stop.late,
            ms(r.kill_all),
            ms(r.kill.slowest),
            r.kill.late,
            if r.problems.is_empty() {
                "yes".to_owned()
            } else {
                format!("**no**: {}", r.problems.len())
            }
        )?;
    }
    let problems: Vec<String> = runs
        .iter()
        .flat_map(|r| {
            r.problems
                .iter()
                .take(5)
                .map(move |p| format!("- {} {}/{}: {p}", r.count, r.sides[0], r.sides[1]))
        })
        .collect();
    if !problems.is_empty() {
        writeln!(
            out,
            "\nProblems (at most five per run):\n\n{}",
            problems.join("\n")
        )?;
    }
    if !xdp.is_empty() {
        writeln!(
            out,
            "\n### XDP cost per packet, 1 vs 255 VRIDs on one interface\n\n`xdp-bench --vrids` \
             (target: within +2 ns from 1 to 255).\n\n{}",
            xdp.trim_end()
        )?;
    }
    Ok(out)
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let value = |name: &str| args.iter().skip_while(|a| *a != name).nth(1).cloned();
    tests::require_root()?;
    lab::require_keepalived()?;
    lab::require_tcpdump()?;
    lab::vrrpd_bin()?;
    let counts: Vec<usize> = match value("--counts") {
        Some(list) => list
            .split(',')
            .map(|c| {
                c.trim()
                    .parse()
                    .context("--counts: numbers, comma-separated")
            })
            .collect::<anyhow::Result<_>>()?,
        None => COUNTS.to_vec(),
    };
    let rest = Duration::from_secs(match value("--rest") {
        Some(s) => s.parse().context("--rest: seconds")?,
        None => 20,
    });
    let xdp = match value("--xdp-table") {
        Some(path) => std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?,
        None => String::new(),
    };
    let _serial = lab::one_at_a_time()?;
    let load_before = lab::load_average();
    let mut plan: Vec<(usize, [Side; 2], Option<Duration>)> = Vec::new();
    for &count in &counts {
        for side in [Side::Vrrpd, Side::Keepalived] {
            plan.push((count, [side, side], Some(rest)));
        }
    }
    if let Some(&largest) = counts.iter().max() {
        plan.push((largest, [Side::Vrrpd, Side::Keepalived], None));
        plan.push((largest, [Side::Keepalived, Side::Vrrpd], None));
    }
    // A run that fails (a distribution that never appears) is reported, and the others
    // still run.
    let mut runs = Vec::new();
    let mut failed = Vec::new();
    for (count, sides, rest) in plan {
        match run(count, sides, rest) {
            Ok(r) => runs.push(r),
            Err(error) => {
                let line = format!("{count} {}/{}: {error:#}", sides[0], sides[1]);
                eprintln!("    FAILED: {line}");
                failed.push(line.lines().next().unwrap_or("").to_owned());
            }
        }
    }
    let mut section = report(&runs, &xdp, [load_before, lab::load_average()], rest)?;
    if !failed.is_empty() {
        section.push_str(&format!(
            "\n### Runs that failed (incorrect)\n\n{}\n",
            failed
                .iter()
                .map(|f| format!("- {f}"))
                .collect::<Vec<_>>()
                .join("\n")
        ));
    }
    println!("{section}");
    if let Some(path) = value("--output") {
        std::fs::write(&path, &section).with_context(|| format!("writing {path}"))?;
        eprintln!("written to {path}");
    }
    ensure!(failed.is_empty(), "{} runs failed", failed.len());
    Ok(())
}
