//! `vrrpd run` and `vrrpd status` as an operator meets them on a live system (issue 13):
//! a second daemon given the first one's socket and pid file, a second program on an
//! interface, a pipe that closes under `vrrpd run -i`, and what `status` shows of a BACKUP
//! and of the MASTER that replaced its master.
//!
//! Two namespaces joined by a veth pair (`a` 192.0.2.1, `b` 192.0.2.2), removed on drop
//! with the daemons, also when a test fails. Needs root and a built vrrpd
//! (`cargo build -p vrrp-userspace`); without them the tests fail saying so.
use std::{
    io::{BufRead as _, BufReader},
    path::PathBuf,
    process::{Command, Output, Stdio},
    thread,
    time::{Duration, Instant},
};

use anyhow::{Context as _, bail, ensure};
use tests::{
    NetNs, VethPair,
    lab::{self, Daemon, Scratch},
};

/// One instance on `interface` at `priority`, with a second one in a sync group so that
/// `status` has a group to show.
fn config(interface: &str, priority: u8) -> String {
    format!(
        "instances:
  - name: VI_1
    interface: {interface}
    vrid: 51
    priority: {priority}
    advert_interval: 1
    authentication: {{ type: ah, password: \"s3cret\" }}
    virtual_addresses: [198.51.100.10/24, 198.51.100.11]
  - name: VI_2
    interface: {interface}
    vrid: 52
    priority: {priority}
    virtual_addresses: [198.51.100.12]
sync_groups:
  - name: VG1
    members: [VI_1, VI_2]
"
    )
}

/// The daemon's run folder (where `lab::Daemon::vrrpd` puts its socket and pid file).
fn run_dir(ns: &NetNs) -> PathBuf {
    std::env::temp_dir().join(format!("vrrpd-lab-{}", ns.name()))
}

/// `vrrpd ARGS` inside `ns`, to completion within 20 s.
fn vrrpd_in(ns: &NetNs, args: &[&str]) -> anyhow::Result<Output> {
    let mut child = Command::new("ip")
        .args(["netns", "exec", ns.name()])
        .arg(lab::vrrpd_bin()?)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let deadline = Instant::now() + Duration::from_secs(20);
    while child.try_wait()?.is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let out = child.wait_with_output()?;
            bail!(
                "vrrpd {args:?} did not finish within 20 s: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        thread::sleep(Duration::from_millis(50));
    }
    Ok(child.wait_with_output()?)
}

/// The status object of `name`, once `state`, within 15 s.
fn wait_for(daemon: &Daemon, name: &str, state: &str) -> anyhow::Result<serde_json::Value> {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        // The socket appears a moment after the daemon starts.
        let status = daemon.status();
        if let Ok(status) = &status
            && let Some(s) = status.iter().find(|s| s["name"] == name)
            && s["state"] == state
        {
            return Ok(s.clone());
        }
        if Instant::now() > deadline {
            bail!("{name} never became {state}: {status:?}\n{}", daemon.tail());
        }
        thread::sleep(Duration::from_millis(200));
    }
}

fn xdp_attached(ns: &NetNs, interface: &str) -> anyhow::Result<bool> {
    let out = ns.exec(&["ip", "link", "show", "dev", interface])?;
    Ok(out.contains("xdp"))
}

/// Items 9 and 12: the second daemon stops before touching anything, naming the first;
/// the first keeps its socket, pid file and program.
#[test]
fn a_second_daemon_with_the_first_ones_paths_is_refused() -> anyhow::Result<()> {
    let _serial = lab::one_at_a_time()?;
    let pair = VethPair::new("cli2", "192.0.2.1/24", "192.0.2.2/24")?;
    let scratch = Scratch::new("cli2")?;
    let cfg = scratch.write("a.yaml", &config(VethPair::A, 150))?;
    let first = Daemon::vrrpd(&pair.a, &cfg)?;
    wait_for(&first, "VI_1", "BACKUP")?;
    let dir = run_dir(&pair.a);
    let (socket, pidfile) = (dir.join("vrrpd.sock"), dir.join("vrrpd.pid"));
    let pid = std::fs::read_to_string(&pidfile)?;
    let cfg_text = cfg.to_str().context("utf-8")?;

    let out = vrrpd_in(
        &pair.a,
        &[
            "run",
            "--config",
            cfg_text,
            "--socket",
            socket.to_str().context("utf-8")?,
            "--pidfile",
            pidfile.to_str().context("utf-8")?,
        ],
    )?;
    let text = String::from_utf8_lossy(&out.stderr);
    ensure!(
        out.status.code() == Some(1),
        "exit {:?}: {text}",
        out.status
    );
    ensure!(
        text.contains(&format!("vrrpd is already running with pid {}", pid.trim())),
        "{text}"
    );
    // Another pid file, the same socket: the socket answers, so it is refused too.
    let other = scratch.path().join("other.pid");
    let out = vrrpd_in(
        &pair.a,
        &[
            "run",
            "-f",
            cfg_text,
            "--socket",
            socket.to_str().context("utf-8")?,
            "--pidfile",
            other.to_str().context("utf-8")?,
        ],
    )?;
    let text = String::from_utf8_lossy(&out.stderr);
    ensure!(text.contains("a daemon already answers on"), "{text}");
    ensure!(!other.exists(), "the refused daemon left its pid file");
    // The first is untouched.
    ensure!(
        std::fs::read_to_string(&pidfile)? == pid,
        "pid file changed"
    );
    ensure!(
        first.status()?.len() == 2,
        "the first daemon stopped answering"
    );

    // Item 12: a second program on the interface is refused as such, with no fallback.
    let out = vrrpd_in(&pair.a, &["run", "-i", VethPair::A])?;
    let text = String::from_utf8_lossy(&out.stderr);
    ensure!(
        out.status.code() == Some(1),
        "exit {:?}: {text}",
        out.status
    );
    ensure!(
        text.contains(&format!(
            "{} already has an XDP program attached",
            VethPair::A
        )),
        "{text}"
    );
    ensure!(!text.contains("falling back"), "{text}");
    ensure!(!text.contains("File exists"), "{text}");
    ensure!(
        xdp_attached(&pair.a, VethPair::A)?,
        "the first daemon's program is gone"
    );
    Ok(())
}

/// Item 13: a BACKUP shows its master; once it replaced that master, it shows itself and
/// no stale "last advert from". Both show VIPs, group, version, interval and auth type,
/// never the password.
#[test]
fn status_shows_the_instance_and_the_master_as_it_knows_it() -> anyhow::Result<()> {
    let _serial = lab::one_at_a_time()?;
    let pair = VethPair::new("cli13", "192.0.2.1/24", "192.0.2.2/24")?;
    let scratch = Scratch::new("cli13")?;
    let mut master = Daemon::vrrpd(&pair.b, scratch.write("b.yaml", &config(VethPair::B, 200))?)?;
    wait_for(&master, "VI_1", "MASTER")?;
    let backup = Daemon::vrrpd(&pair.a, scratch.write("a.yaml", &config(VethPair::A, 100))?)?;
    thread::sleep(Duration::from_secs(2));
    let s = wait_for(&backup, "VI_1", "BACKUP")?;
    ensure!(s["master"] == "192.0.2.2", "{s}");
    ensure!(s["last_advert_from"] == "192.0.2.2", "{s}");
    ensure!(s["last_advert_priority"] == 200, "{s}");
    ensure!(s["version"] == 2, "{s}");
    ensure!(s["advert_interval_cs"] == 100, "{s}");
    ensure!(s["auth_type"] == "ah", "{s}");
    ensure!(s["sync_group"] == "VG1", "{s}");
    ensure!(
        s["virtual_addresses"] == serde_json::json!(["198.51.100.10/24", "198.51.100.11/32"]),
        "{s}"
    );

    master.stop()?;
    let s = wait_for(&backup, "VI_1", "MASTER")?;
    ensure!(s["master"] == "192.0.2.1", "{s}");
    ensure!(s["last_advert_from"].is_null(), "a stale last advert: {s}");

    let socket = run_dir(&pair.a).join("vrrpd.sock");
    let out = Command::new(lab::vrrpd_bin()?)
        .args(["status", "--socket"])
        .arg(&socket)
        .output()?;
    let text = String::from_utf8_lossy(&out.stdout);
    ensure!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    ensure!(
        text.contains(
            "(VI_1) MASTER veth-a vrid 51 priority 100 VRRPv2 advert_int 1s auth ah group VG1"
        ),
        "{text}"
    );
    ensure!(
        text.contains("vips 198.51.100.10/24, 198.51.100.11/32"),
        "{text}"
    );
    ensure!(
        text.contains("master this router (priority 100)  last advert from -"),
        "{text}"
    );
    ensure!(!text.contains("s3cret"), "the password is shown: {text}");
    Ok(())
}

/// Item 10: `vrrpd run -i IF | head -2` ends cleanly (exit 0) and detaches the program.
#[test]
fn run_interface_into_a_pipe_that_closes_exits_cleanly_and_detaches() -> anyhow::Result<()> {
    let pair = VethPair::new("cli10", "192.0.2.1/24", "192.0.2.2/24")?;
    let mut child = Command::new("ip")
        .args(["netns", "exec", pair.b.name()])
        .arg(lab::vrrpd_bin()?)
        .args(["run", "-i", VethPair::B, "--stats-interval", "0.2"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let result = (|| -> anyhow::Result<()> {
        let mut lines = BufReader::new(child.stdout.take().context("stdout")?).lines();
        for _ in 0..2 {
            lines.next().context("fewer than two reports")??;
        }
        ensure!(
            xdp_attached(&pair.b, VethPair::B)?,
            "no program while it reports"
        );
        drop(lines); // `head -2` exits
        let deadline = Instant::now() + Duration::from_secs(10);
        let status = loop {
            if let Some(status) = child.try_wait()? {
                break status;
            }
            ensure!(
                Instant::now() < deadline,
                "still running after its reader left"
            );
            thread::sleep(Duration::from_millis(50));
        };
        let mut stderr = String::new();
        std::io::Read::read_to_string(&mut child.stderr.take().context("stderr")?, &mut stderr)?;
        ensure!(status.code() == Some(0), "exit {status}: {stderr}");
        ensure!(!stderr.contains("panicked"), "{stderr}");
        ensure!(
            !xdp_attached(&pair.b, VethPair::B)?,
            "the program stayed attached"
        );
        Ok(())
    })();
    let _ = child.kill();
    let _ = child.wait();
    result
}
