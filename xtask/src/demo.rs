//! `cargo xtask demo`: keepalived's "Failover using VRRP" case study, live. Two directors
//! (each with eth0 on 192.168.200.0/24 and eth1 on 192.168.100.0/24, the segments being two
//! bridges) and a client, all in network namespaces; vrrpd runs on both directors with the
//! case study's configuration; the demo narrates who holds which virtual address as eth0
//! on director 1 fails and returns and director 1 stops. Everything is removed at the end,
//! on an error, or on Ctrl-C.
use std::{
    fs::File,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    thread,
    time::{Duration, Instant},
};

use anyhow::{Context as _, bail};

use crate::run::step;

const PREFIX: &str = "vrrpd-demo-";
const VIPS: [(&str, &str, &str); 6] = [
    ("VIP1", "192.168.200.10", "VI_1"),
    ("VIP2", "192.168.200.11", "VI_1"),
    ("VIP3", "192.168.200.12", "VI_3"),
    ("VIP4", "192.168.200.13", "VI_3"),
    ("DIP1", "192.168.100.10", "VI_2"),
    ("DIP2", "192.168.100.11", "VI_4"),
];

fn ns(name: &str) -> String {
    format!("{PREFIX}{name}")
}

fn ip(args: &[&str]) -> anyhow::Result<()> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .context("running ip (iproute2)")?;
    if !out.status.success() {
        bail!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

/// Namespaces and daemons; removed on drop.
struct Lab {
    daemons: Vec<Child>,
}

impl Lab {
    fn create() -> anyhow::Result<Self> {
        Self::remove_namespaces();
        let lab = Self {
            daemons: Vec::new(),
        };
        for n in ["sw", "d1", "d2", "client"] {
            ip(&["netns", "add", &ns(n)])?;
            ip(&[
                "netns",
                "exec",
                &ns(n),
                "sysctl",
                "-qw",
                "net.ipv6.conf.all.disable_ipv6=1",
            ])?;
            ip(&["-n", &ns(n), "link", "set", "lo", "up"])?;
        }
        for br in ["br0", "br1"] {
            ip(&["-n", &ns("sw"), "link", "add", br, "type", "bridge"])?;
            ip(&["-n", &ns("sw"), "link", "set", br, "up"])?;
        }
        for d in 1..=2 {
            let dn = ns(&format!("d{d}"));
            for e in 0..2 {
                let peer = format!("d{d}e{e}");
                ip(&[
                    "link",
                    "add",
                    &format!("eth{e}"),
                    "netns",
                    &dn,
                    "type",
                    "veth",
                    "peer",
                    "name",
                    &peer,
                    "netns",
                    &ns("sw"),
                ])?;
                ip(&[
                    "-n",
                    &ns("sw"),
                    "link",
                    "set",
                    &peer,
                    "master",
                    &format!("br{e}"),
                    "up",
                ])?;
                ip(&["-n", &dn, "link", "set", &format!("eth{e}"), "up"])?;
            }
            ip(&[
                "-n",
                &dn,
                "addr",
                "add",
                &format!("192.168.200.{}/24", 4 + d),
                "dev",
                "eth0",
            ])?;
            ip(&[
                "-n",
                &dn,
                "addr",
                "add",
                &format!("192.168.100.{}/24", 4 + d),
                "dev",
                "eth1",
            ])?;
        }
        ip(&[
            "link",
            "add",
            "eth0",
            "netns",
            &ns("client"),
            "type",
            "veth",
            "peer",
            "name",
            "client",
            "netns",
            &ns("sw"),
        ])?;
        ip(&[
            "-n",
            &ns("sw"),
            "link",
            "set",
            "client",
            "master",
            "br0",
            "up",
        ])?;
        ip(&[
            "-n",
            &ns("client"),
            "addr",
            "add",
            "192.168.200.100/24",
            "dev",
            "eth0",
        ])?;
        ip(&["-n", &ns("client"), "link", "set", "eth0", "up"])?;
        Ok(lab)
    }

    fn remove_namespaces() {
        for n in ["sw", "d1", "d2", "client"] {
            let _ = Command::new("ip")
                .args(["netns", "del", &ns(n)])
                .stderr(Stdio::null())
                .status();
        }
    }

    fn start(
        &mut self,
        vrrpd: &Path,
        director: usize,
        root: &Path,
        logs: &Path,
    ) -> anyhow::Result<()> {
        let log = File::create(logs.join(format!("director{director}.log")))?;
        let child = Command::new("ip")
            .args(["netns", "exec", &ns(&format!("d{director}"))])
            .arg(vrrpd)
            .args(["run", "--config"])
            .arg(root.join(format!("examples/director{director}.yaml")))
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .context("starting vrrpd")?;
        self.daemons.push(child);
        Ok(())
    }

    /// SIGTERM to director `director`'s daemon (the first started is director 1).
    fn stop(&mut self, index: usize) -> anyhow::Result<()> {
        if let Some(child) = self.daemons.get_mut(index) {
            if child.try_wait()?.is_some() {
                // Already gone (stopped by the story, or exited): nothing to say.
                return Ok(());
            }
            Command::new("kill")
                .arg("-TERM")
                .arg(child.id().to_string())
                .status()?;
            let deadline = Instant::now() + Duration::from_secs(10);
            while child.try_wait()?.is_none() && Instant::now() < deadline {
                thread::sleep(Duration::from_millis(50));
            }
        }
        Ok(())
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for index in 0..self.daemons.len() {
            let _ = self.stop(index);
        }
        for child in &mut self.daemons {
            let _ = child.kill();
            let _ = child.wait();
        }
        Self::remove_namespaces();
    }
}

fn held(director: usize) -> Vec<String> {
    let out = Command::new("ip")
        .args([
            "-n",
            &ns(&format!("d{director}")),
            "-4",
            "-o",
            "addr",
            "show",
        ])
        .output();
    let text = out
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    text.split_whitespace()
        .filter_map(|w| w.strip_suffix("/32"))
        .map(str::to_owned)
        .collect()
}

/// Waits (bounded) for the expected holders, then prints the table.
fn show(title: &str, expected: [usize; 6], stop: &AtomicBool) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(15);
    let holder = |vip: &str| -> usize {
        if held(1).iter().any(|v| v == vip) {
            1
        } else if held(2).iter().any(|v| v == vip) {
            2
        } else {
            0
        }
    };
    while Instant::now() < deadline && !stop.load(Ordering::SeqCst) {
        if VIPS
            .iter()
            .zip(expected)
            .all(|((_, vip, _), want)| holder(vip) == want)
        {
            break;
        }
        thread::sleep(Duration::from_millis(200));
    }
    if stop.load(Ordering::SeqCst) {
        bail!("interrupted");
    }
    println!("\n  {title}");
    println!(
        "    {:<6} {:<16} {:<6} {:<12} {:<12}",
        "", "address", "inst.", "director 1", "director 2"
    );
    for ((name, vip, instance), want) in VIPS.iter().zip(expected) {
        let got = holder(vip);
        let cell = |d: usize| if got == d { "  ●  holds" } else { "" };
        let mark = if got == want {
            ""
        } else {
            "   (not what the case study expects!)"
        };
        println!(
            "    {name:<6} {vip:<16} {instance:<6} {:<12} {:<12}{mark}",
            cell(1),
            cell(2)
        );
    }
    Ok(())
}

fn pause(seconds: u64, stop: &AtomicBool) -> anyhow::Result<()> {
    let until = Instant::now() + Duration::from_secs(seconds);
    while Instant::now() < until {
        if stop.load(Ordering::SeqCst) {
            bail!("interrupted");
        }
        thread::sleep(Duration::from_millis(100));
    }
    Ok(())
}

pub fn run(root: &Path, vrrpd: &Path) -> anyhow::Result<()> {
    let root_user = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
    if !root_user {
        bail!("the demo creates network namespaces: run it as root (sudo -E cargo xtask demo)");
    }
    let stop = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&stop);
    ctrlc::set_handler(move || flag.store(true, Ordering::SeqCst))
        .context("installing the Ctrl-C handler")?;
    let logs: PathBuf = root.join("target/demo");
    std::fs::create_dir_all(&logs)?;

    step("creating the case study in network namespaces: two directors, two segments, a client");
    println!(
        "  director 1: eth0 192.168.200.5, eth1 192.168.100.5    director 2: eth0 .6, eth1 .6"
    );
    println!(
        "  VI_1 (VIP1, VIP2) and VI_2 (DIP1) prefer director 1 (priority 150, sync group VG1);"
    );
    println!(
        "  VI_3 (VIP3, VIP4) and VI_4 (DIP2) prefer director 2 (sync group VG2). IPSEC-AH everywhere."
    );
    let mut lab = Lab::create()?;

    step("starting vrrpd on both directors (logs in target/demo/)");
    lab.start(vrrpd, 1, root, &logs)?;
    lab.start(vrrpd, 2, root, &logs)?;
    println!("  Every instance starts as BACKUP and listens; with nobody else advertising, the");
    println!("  higher-priority side declares the master down after 3 intervals + skew (3.4 s)");
    println!("  and takes over: adverts, VIPs, gratuitous ARPs.");
    show(
        "1. Both directors running: each holds its own pair of instances",
        [1, 1, 2, 2, 1, 2],
        &stop,
    )?;

    pause(2, &stop)?;
    step("eth0 fails on director 1 (ip link set eth0 down)");
    ip(&["-n", &ns("d1"), "link", "set", "eth0", "down"])?;
    println!(
        "  VI_1 and VI_3 on director 1 go to FAULT; their sync groups take VI_2 and VI_4 with them"
    );
    println!("  (VI_2 tells director 2 with a priority-0 advert on eth1). Director 2's VI_2 would");
    println!("  take over after the skew time, but waits for VI_1, whose master went silent: the");
    println!("  group moves only together, after VI_1's master-down interval.");
    show(
        "2. eth0 down on director 1: director 2 holds everything",
        [2, 2, 2, 2, 2, 2],
        &stop,
    )?;

    pause(2, &stop)?;
    step("eth0 returns on director 1");
    ip(&["-n", &ns("d1"), "link", "set", "eth0", "up"])?;
    println!(
        "  Director 1's instances come back as BACKUP, hear director 2 advertise priority 100"
    );
    println!("  for VI_1/VI_2, which is lower than their 150: they preempt after the master-down");
    println!("  interval, and director 2 yields as a group.");
    show(
        "3. eth0 up again: back to the start",
        [1, 1, 2, 2, 1, 2],
        &stop,
    )?;

    pause(2, &stop)?;
    step("director 1 stops (SIGTERM)");
    lab.stop(0)?;
    println!("  vrrpd sends priority 0 for its MASTER instances and removes its VIPs; director 2");
    println!("  takes over after the skew time only (0.6 s), without waiting 3 intervals.");
    show(
        "4. Director 1 stopped: director 2 holds everything",
        [2, 2, 2, 2, 2, 2],
        &stop,
    )?;

    step("cleaning up: daemons stopped, namespaces removed");
    drop(lab);
    println!(
        "  Done. Run it again any time; `cargo xtask test` runs the same story against keepalived 2.2.7 too."
    );
    Ok(())
}
