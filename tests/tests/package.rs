//! The Debian package, end to end, as an operator meets it: `cargo xtask deb` builds it,
//! `apt-get install ./vrrpd_*.deb` installs it (binary, systemd unit, example configuration,
//! docs), `systemd-analyze verify` accepts the unit, the unit's own command lines run the
//! service the way systemd would (this machine has no systemd: `ExecStartPre`, `ExecStart`
//! with `NOTIFY_SOCKET`, `ExecReload`, then SIGTERM as `KillMode=process` sends it), and
//! `apt-get remove --purge` takes it all away again. The daemon runs in a namespace of the
//! test's; the package is removed even when the test fails.
use std::{
    os::unix::net::UnixDatagram,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    thread,
    time::{Duration, Instant},
};

use anyhow::{Context as _, bail, ensure};
use tests::{
    NetNs,
    lab::{self, Scratch},
};

const UNIT: &str = "/lib/systemd/system/vrrpd.service";
const CONFIG: &str = "/etc/vrrpd/vrrpd.yaml";
const BINARY: &str = "/usr/sbin/vrrpd";
/// The example configuration's virtual address (`contrib/vrrpd.yaml`).
const VIP: &str = "192.0.2.10";

/// Removes the package (and what the service left in /run) when dropped.
struct Installed;

impl Drop for Installed {
    fn drop(&mut self) {
        let _ = Command::new("apt-get")
            .env("DEBIAN_FRONTEND", "noninteractive")
            .args(["remove", "--purge", "-y", "-q", "vrrpd"])
            .stdout(Stdio::null())
            .status();
        let _ = std::fs::remove_dir_all("/run/vrrpd");
    }
}

/// The running service; killed if the test fails before it stops.
struct Service(Child);

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn run(command: &mut Command) -> anyhow::Result<String> {
    let out = command
        .output()
        .with_context(|| format!("starting {command:?}"))?;
    ensure!(
        out.status.success(),
        "{command:?} failed ({}): {}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// `cargo xtask deb`, which prints the package's path last.
fn build_package() -> anyhow::Result<PathBuf> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let out = run(Command::new(cargo)
        .current_dir(lab::repo_root())
        .args(["run", "-q", "-p", "xtask", "--", "deb"]))?;
    let deb = out
        .lines()
        .last()
        .map(PathBuf::from)
        .context("cargo xtask deb printed no path")?;
    ensure!(deb.exists(), "{} was not written", deb.display());
    Ok(deb)
}

/// The values of `key=` in the unit, in order.
fn unit_lines(unit: &str, key: &str) -> Vec<String> {
    unit.lines()
        .filter_map(|l| l.strip_prefix(key)?.strip_prefix('='))
        .map(str::to_owned)
        .collect()
}

/// A unit command line as systemd would run it (`$MAINPID` substituted).
fn command_line(line: &str, main_pid: Option<u32>) -> Vec<String> {
    line.split_whitespace()
        .map(|w| match (w, main_pid) {
            ("$MAINPID", Some(pid)) => pid.to_string(),
            _ => w.to_owned(),
        })
        .collect()
}

fn in_namespace(ns: &NetNs, argv: &[String]) -> Command {
    let mut c = Command::new("ip");
    c.args(["netns", "exec", ns.name()]).args(argv);
    c
}

/// Waits (bounded) for a message from the service on the notify socket.
fn notified(socket: &UnixDatagram, what: &str) -> anyhow::Result<String> {
    let mut buf = [0u8; 512];
    let n = socket
        .recv(&mut buf)
        .with_context(|| format!("no {what} from the service within the socket's timeout"))?;
    Ok(String::from_utf8_lossy(&buf[..n]).into_owned())
}

fn vips(ns: &NetNs) -> anyhow::Result<String> {
    ns.exec(&["ip", "-4", "-o", "addr", "show", "dev", "eth0"])
}

#[test]
fn the_debian_package_installs_runs_as_its_unit_says_and_removes_cleanly() -> anyhow::Result<()> {
    tests::require_root()?;
    ensure!(
        !Path::new(BINARY).exists(),
        "{BINARY} exists already: remove the vrrpd package first (apt-get remove --purge vrrpd)"
    );
    let deb = build_package()?;
    let contents = run(Command::new("dpkg-deb").arg("--contents").arg(&deb))?;
    for path in [BINARY, UNIT, CONFIG, "/usr/share/doc/vrrpd/README.md"] {
        ensure!(
            contents.contains(&format!(".{path}")),
            "{} lacks {path}:\n{contents}",
            deb.display()
        );
    }

    let _serial = lab::one_at_a_time()?;
    let installed = Installed;
    run(Command::new("apt-get")
        .env("DEBIAN_FRONTEND", "noninteractive")
        .args(["install", "-y", "-q"])
        .arg(&deb))?;
    let version = run(Command::new(BINARY).arg("--version"))?;
    ensure!(
        version.starts_with("vrrpd "),
        "{BINARY} --version: {version}"
    );
    let verify = Command::new("systemd-analyze")
        .args(["verify", UNIT])
        .output()
        .context("systemd-analyze (Debian package systemd) is missing")?;
    ensure!(
        verify.status.success() && verify.stderr.is_empty(),
        "systemd-analyze verify {UNIT}: {}",
        String::from_utf8_lossy(&verify.stderr)
    );

    // The service as the unit describes it, in a namespace with an eth0.
    let unit = std::fs::read_to_string(UNIT)?;
    ensure!(
        unit_lines(&unit, "Type") == ["notify"],
        "the unit is not Type=notify"
    );
    let ns = NetNs::new("pkg")?;
    ns.ip(&[
        "link", "add", "eth0", "type", "veth", "peer", "name", "peer0",
    ])?;
    ns.ip(&["link", "set", "eth0", "up"])?;
    ns.ip(&["link", "set", "peer0", "up"])?;
    ns.ip(&["addr", "add", "192.0.2.5/24", "dev", "eth0"])?;
    for dir in unit_lines(&unit, "RuntimeDirectory") {
        std::fs::create_dir_all(Path::new("/run").join(dir))?;
    }
    for line in unit_lines(&unit, "ExecStartPre") {
        run(&mut in_namespace(&ns, &command_line(&line, None)))?;
    }
    let scratch = Scratch::new("pkg")?;
    let notify_path = scratch.path().join("notify");
    let systemd = UnixDatagram::bind(&notify_path)?;
    systemd.set_read_timeout(Some(Duration::from_secs(20)))?;
    let start = unit_lines(&unit, "ExecStart");
    ensure!(start.len() == 1, "ExecStart lines: {start:?}");
    let log = scratch.path().join("service.log");
    let mut service = Service(
        in_namespace(&ns, &command_line(&start[0], None))
            .env("NOTIFY_SOCKET", &notify_path)
            .env("WATCHDOG_USEC", "2000000")
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&log)?)
            .stderr(std::fs::File::create(&log)?)
            .spawn()?,
    );
    let log_text = || std::fs::read_to_string(&log).unwrap_or_default();
    let ready = notified(&systemd, "READY=1").with_context(log_text)?;
    ensure!(ready.starts_with("READY=1\nSTATUS=1 instances"), "{ready}");
    // WatchdogSec: a sign of life at least every half interval.
    let alive = notified(&systemd, "WATCHDOG=1").with_context(log_text)?;
    ensure!(alive == "WATCHDOG=1", "{alive}");
    // The lone instance becomes MASTER after its master-down interval.
    let deadline = Instant::now() + Duration::from_secs(15);
    while !vips(&ns)?.contains(VIP) {
        ensure!(
            Instant::now() < deadline,
            "the service never took {VIP}:\n{}",
            log_text()
        );
        thread::sleep(Duration::from_millis(200));
    }
    let pid = service.0.id();
    for line in unit_lines(&unit, "ExecReload") {
        run(&mut in_namespace(&ns, &command_line(&line, Some(pid))))?;
    }
    let mut reloaded = notified(&systemd, "RELOADING=1").with_context(log_text)?;
    while reloaded == "WATCHDOG=1" {
        reloaded = notified(&systemd, "RELOADING=1").with_context(log_text)?;
    }
    ensure!(reloaded.starts_with("RELOADING=1"), "{reloaded}");
    thread::sleep(Duration::from_secs(1));
    ensure!(
        service.0.try_wait()?.is_none() && vips(&ns)?.contains(VIP),
        "the service did not survive its ExecReload:\n{}",
        log_text()
    );
    // Stop: systemd sends SIGTERM to the main process (KillMode=process).
    ensure!(unit_lines(&unit, "KillMode") == ["process"], "KillMode");
    run(Command::new("kill").args(["-TERM", &pid.to_string()]))?;
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = service.0.try_wait()? {
            break status;
        }
        if Instant::now() > deadline {
            bail!("the service did not stop on SIGTERM:\n{}", log_text());
        }
        thread::sleep(Duration::from_millis(100));
    };
    ensure!(
        status.success(),
        "the service exited {status}:\n{}",
        log_text()
    );
    ensure!(!vips(&ns)?.contains(VIP), "{VIP} left behind");
    let mut said = Vec::new();
    systemd.set_nonblocking(true)?;
    let mut buf = [0u8; 512];
    while let Ok(n) = systemd.recv(&mut buf) {
        said.push(String::from_utf8_lossy(&buf[..n]).into_owned());
    }
    ensure!(
        said.iter().any(|m| m == "STOPPING=1"),
        "no STOPPING=1 on stop: {said:?}"
    );

    drop(installed);
    for path in [BINARY, UNIT, CONFIG] {
        ensure!(!Path::new(path).exists(), "{path} still there after purge");
    }
    Ok(())
}
