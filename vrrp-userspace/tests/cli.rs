//! The `vrrpd` binary as an operator meets it: misuse of the command line, files that are
//! in the way, pipes that close, missing privileges, captures that are not what they seem.
//!
//! Nothing here needs root, and nothing here reaches the kernel: when the tests run as root,
//! `vrrpd run` runs without any capability (`setpriv` empties its bounding set), so even a
//! regression could not attach a program to this machine's interfaces. What needs root and
//! XDP is in the `tests` crate (`tests/tests/cli_daemon.rs`).
use std::{
    io::{Read as _, Write as _},
    os::unix::{fs::MetadataExt as _, fs::PermissionsExt as _, net::UnixListener},
    path::{Path, PathBuf},
    process::{Command, Output, Stdio},
    time::{Duration, Instant},
};

const VRRPD: &str = env!("CARGO_BIN_EXE_vrrpd");

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(path)
}

/// A valid configuration (its interfaces need not exist: nothing here attaches).
fn config() -> PathBuf {
    repo("examples/director1.yaml")
}

fn is_root() -> bool {
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

/// `vrrpd ARGS`, without any capability when the tests run as root.
fn vrrpd(args: &[&str]) -> Command {
    if is_root() {
        let mut c = Command::new("setpriv");
        c.args(["--bounding-set=-all", "--inh-caps=-all", "--"])
            .arg(VRRPD)
            .args(args);
        c
    } else {
        let mut c = Command::new(VRRPD);
        c.args(args);
        c
    }
}

fn run(mut command: impl std::borrow::BorrowMut<Command>) -> Output {
    let command: &mut Command = command.borrow_mut();
    let out = command
        .output()
        .expect("vrrpd runs (as root, the tests need `setpriv` from util-linux)");
    assert!(
        out.status.code().is_some(),
        "vrrpd died of a signal: {out:?}"
    );
    out
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A scratch folder, removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(tag: &str) -> Self {
        let path = std::env::temp_dir().join(format!("vrrpd-cli-{}-{tag}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("a scratch folder");
        Self(path)
    }

    fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A process killed on drop.
struct Reaped(std::process::Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

// ---- item 9: --socket and --pidfile -------------------------------------------------------

#[test]
fn a_socket_path_that_is_a_regular_file_is_refused_and_left_alone() {
    let dir = Scratch::new("socket-file");
    let precious = dir.join("precious.txt");
    std::fs::write(&precious, "do not delete\n").expect("written");
    let cfg = config();
    let out = run(vrrpd(&[
        "run",
        "--config",
        cfg.to_str().expect("utf-8"),
        "--socket",
        precious.to_str().expect("utf-8"),
    ]));
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("exists and is not a socket: refusing to replace it"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        std::fs::read_to_string(&precious).expect("still there"),
        "do not delete\n"
    );
}

#[test]
fn a_socket_another_daemon_answers_on_is_refused_and_a_stale_one_replaced() {
    let dir = Scratch::new("socket-live");
    let path = dir.join("vrrpd.sock");
    let listener = UnixListener::bind(&path).expect("a listener");
    let cfg = config();
    let args = [
        "run",
        "--config",
        cfg.to_str().expect("utf-8"),
        "--socket",
        path.to_str().expect("utf-8"),
    ];
    let out = run(vrrpd(&args));
    assert!(
        stderr(&out).contains("a daemon already answers on"),
        "{}",
        stderr(&out)
    );
    assert!(path.exists(), "the live socket was removed");
    // Nobody listens any more: the socket is stale, replaced (then the missing privileges
    // stop the start, and the replacement is removed as ours).
    drop(listener);
    let out = run(vrrpd(&args));
    assert!(
        stderr(&out).contains("replacing the stale control socket"),
        "{}",
        stderr(&out)
    );
    assert!(!path.exists(), "our socket was left behind");
}

#[test]
fn a_pidfile_naming_a_running_vrrpd_is_refused() {
    let dir = Scratch::new("pid-live");
    // A live process whose name is vrrpd: `vrrpd status` waiting on a silent socket.
    let silent = dir.join("silent.sock");
    let _listener = UnixListener::bind(&silent).expect("a listener");
    let waiting = Reaped(
        Command::new(VRRPD)
            .args(["status", "--timeout", "60", "--socket"])
            .arg(&silent)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("vrrpd starts"),
    );
    let pidfile = dir.join("vrrpd.pid");
    std::fs::write(&pidfile, format!("{}\n", waiting.0.id())).expect("written");
    let cfg = config();
    let out = run(vrrpd(&[
        "run",
        "--config",
        cfg.to_str().expect("utf-8"),
        "--pidfile",
        pidfile.to_str().expect("utf-8"),
    ]));
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains(&format!(
            "vrrpd is already running with pid {}",
            waiting.0.id()
        )),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        std::fs::read_to_string(&pidfile).expect("still there"),
        format!("{}\n", waiting.0.id())
    );
}

#[test]
fn a_stale_pidfile_is_taken_over() {
    let dir = Scratch::new("pid-stale");
    let mut gone = Command::new("true").spawn().expect("`true` runs");
    let pid = gone.id();
    gone.wait().expect("reaped");
    let pidfile = dir.join("vrrpd.pid");
    std::fs::write(&pidfile, format!("{pid}\n")).expect("written");
    let out = run(vrrpd(&[
        "run",
        "-i",
        "lo",
        "--pidfile",
        pidfile.to_str().expect("utf-8"),
    ]));
    assert!(
        stderr(&out).contains("removing the stale pid file"),
        "{}",
        stderr(&out)
    );
    // It went on (to the privilege check, which stops it) and removed its own pid file.
    assert!(stderr(&out).contains("CAP_BPF"), "{}", stderr(&out));
    assert!(!pidfile.exists(), "our pid file was left behind");
}

#[test]
fn a_pidfile_path_that_is_not_a_regular_file_is_refused() {
    let dir = Scratch::new("pid-dir");
    let out = run(vrrpd(&[
        "run",
        "-i",
        "lo",
        "--pidfile",
        dir.0.to_str().expect("utf-8"),
    ]));
    assert!(
        stderr(&out).contains("is not a pid file"),
        "{}",
        stderr(&out)
    );
    assert!(dir.0.is_dir());
}

#[test]
fn status_defaults_to_the_packaged_service_socket() {
    let out = run(vrrpd(&["status"]));
    if Path::new("/run/vrrpd/vrrpd.sock").exists() {
        return; // a packaged daemon runs here: its answer is not this test's business
    }
    assert!(
        stderr(&out).contains("/run/vrrpd/vrrpd.sock"),
        "{}",
        stderr(&out)
    );
}

// ---- item 10: broken pipes and full disks -------------------------------------------------

/// Runs `vrrpd ARGS` with standard output a pipe whose reader is already closed.
fn into_closed_pipe(args: &[&str]) -> Output {
    let (reader, writer) = std::io::pipe().expect("a pipe");
    drop(reader);
    run(vrrpd(args).stdout(writer))
}

fn into_dev_full(args: &[&str]) -> Output {
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .expect("/dev/full");
    run(vrrpd(args).stdout(full))
}

#[test]
fn a_closed_pipe_ends_every_command_quietly() {
    let cfg = config();
    let cfg = cfg.to_str().expect("utf-8");
    let capture = repo("testdata/vectors/keepalived-v2-ah-eth0.pcap");
    let capture = capture.to_str().expect("utf-8");
    for args in [
        vec!["check", cfg],
        vec!["convert", cfg],
        vec!["inspect", "--pcap", capture],
        vec!["inspect", "--json", "--pcap", capture],
        vec!["--help"],
    ] {
        let out = into_closed_pipe(&args);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", stderr(&out));
        assert!(
            !stderr(&out).contains("panicked"),
            "{args:?}: {}",
            stderr(&out)
        );
    }
}

#[test]
fn a_full_disk_is_an_error_not_a_panic() {
    let cfg = config();
    let cfg = cfg.to_str().expect("utf-8");
    for args in [vec!["check", cfg], vec!["convert", cfg]] {
        let out = into_dev_full(&args);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {}", stderr(&out));
        assert!(
            stderr(&out).contains("vrrpd: writing to stdout: No space left on device"),
            "{args:?}: {}",
            stderr(&out)
        );
    }
}

// ---- item 11: privileges -------------------------------------------------------------------

#[test]
fn run_without_privileges_says_what_it_needs_once() {
    let out = run(vrrpd(&["run", "-i", "lo"]));
    assert_eq!(out.status.code(), Some(1));
    let text = stderr(&out);
    assert_eq!(
        text.matches("needs root, or the capabilities CAP_BPF, CAP_PERFMON and CAP_NET_ADMIN")
            .count(),
        1,
        "{text}"
    );
    assert!(!text.contains("Operation not permitted"), "{text}");
    assert!(!text.contains("SCRATCH"), "{text}");
    let cfg = config();
    let dir = Scratch::new("privileges");
    let out = run(vrrpd(&[
        "run",
        "-f",
        cfg.to_str().expect("utf-8"),
        "--pidfile",
        dir.join("vrrpd.pid").to_str().expect("utf-8"),
    ]));
    assert!(
        stderr(&out).contains("CAP_BPF, CAP_PERFMON and CAP_NET_ADMIN and CAP_NET_RAW"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn status_on_a_socket_it_may_not_use_says_permission_denied() {
    let dir = Scratch::new("eacces");
    let path = dir.join("vrrpd.sock");
    let _listener = UnixListener::bind(&path).expect("a listener");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o000)).expect("chmod");
    let out = run(vrrpd(&[
        "status",
        "--socket",
        path.to_str().expect("utf-8"),
    ]));
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("permission denied on"),
        "{}",
        stderr(&out)
    );
    assert!(
        !stderr(&out).contains("running with --socket"),
        "{}",
        stderr(&out)
    );
}

// ---- item 12: attach errors (the live ones are in tests/tests/cli_daemon.rs) ---------------

#[test]
fn an_unknown_interface_is_named_without_a_fallback() {
    let out = run(vrrpd(&["run", "-i", "nosuch0"]));
    assert_eq!(out.status.code(), Some(1));
    let text = stderr(&out);
    assert!(
        text.contains("no network interface named nosuch0 in this network namespace"),
        "{text}"
    );
    assert!(!text.contains("falling back"), "{text}");
}

// ---- item 13: status ----------------------------------------------------------------------

#[test]
fn status_gives_up_on_a_silent_socket() {
    let dir = Scratch::new("silent");
    let path = dir.join("silent.sock");
    // Accepts connections (the kernel's backlog) and never answers.
    let _listener = UnixListener::bind(&path).expect("a listener");
    let started = Instant::now();
    let out = run(vrrpd(&[
        "status",
        "--timeout",
        "0.5",
        "--socket",
        path.to_str().expect("utf-8"),
    ]));
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("no answer on"), "{}", stderr(&out));
}

// ---- item 14: logs ------------------------------------------------------------------------

#[test]
fn logs_have_no_colour_codes_unless_on_a_terminal() {
    let out = run(vrrpd(&["run", "-i", "nosuch0"]));
    let text = stderr(&out);
    assert!(text.contains("Starting vrrpd"), "{text}");
    assert!(!text.contains('\u{1b}'), "{text:?}");
}

/// On a terminal (a pseudo-terminal from util-linux's `script`), colours are on.
#[test]
fn logs_are_coloured_on_a_terminal() {
    let inner = if is_root() {
        format!("setpriv --bounding-set=-all --inh-caps=-all -- {VRRPD} run -i nosuch0")
    } else {
        format!("{VRRPD} run -i nosuch0")
    };
    let out = Command::new("script")
        .args(["-qec", &inner, "/dev/null"])
        .stdin(Stdio::null())
        .output()
        .expect("`script` (util-linux) runs");
    let text = stdout(&out);
    assert!(text.contains("Starting vrrpd"), "{text}");
    assert!(text.contains('\u{1b}'), "{text:?}");
}

/// `--log journald` works where the journal runs, and says so clearly where it does not.
#[test]
fn journald_logging_needs_the_journal() {
    let out = run(vrrpd(&["run", "-i", "nosuch0", "--log", "journald"]));
    assert_eq!(out.status.code(), Some(1));
    let missing = stderr(&out).contains("connecting to the systemd journal");
    assert_eq!(
        missing,
        !Path::new("/run/systemd/journal/socket").exists(),
        "{}",
        stderr(&out)
    );
}

#[test]
fn log_level_chooses_what_is_logged() {
    let quiet = run(vrrpd(&["run", "-i", "nosuch0", "--log-level", "warn"]));
    assert!(
        !stderr(&quiet).contains("Starting vrrpd"),
        "{}",
        stderr(&quiet)
    );
    assert!(stderr(&quiet).contains("no network interface named nosuch0"));
    let info = run(vrrpd(&["run", "-i", "nosuch0", "--log-level", "info"]));
    assert!(
        stderr(&info).contains("Starting vrrpd"),
        "{}",
        stderr(&info)
    );
    let bad = run(vrrpd(&["run", "-i", "nosuch0", "--log-level", "loud"]));
    assert_eq!(bad.status.code(), Some(2));
}

#[test]
fn syslog_gets_one_datagram_per_event_with_facility_daemon() {
    let dir = Scratch::new("syslog");
    let path = dir.join("log");
    let server = std::os::unix::net::UnixDatagram::bind(&path).expect("a datagram socket");
    server
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("a timeout");
    let out = run(vrrpd(&[
        "run",
        "-i",
        "nosuch0",
        "--log",
        "syslog",
        "--syslog-socket",
        path.to_str().expect("utf-8"),
    ]));
    assert_eq!(out.status.code(), Some(1));
    let mut messages = Vec::new();
    let mut buffer = [0; 4096];
    while let Ok(n) = server.recv(&mut buffer) {
        messages.push(String::from_utf8_lossy(&buffer[..n]).into_owned());
        if messages.len() == 2 {
            break;
        }
    }
    assert_eq!(messages.len(), 2, "{messages:?}");
    // info (30) then error (27): the reason it stopped reaches the log too.
    assert!(messages[0].starts_with("<30>vrrpd["), "{messages:?}");
    assert!(messages[0].contains("]: Starting vrrpd v"), "{messages:?}");
    assert!(messages[1].starts_with("<27>vrrpd["), "{messages:?}");
    assert!(
        messages[1].contains("no network interface named nosuch0"),
        "{messages:?}"
    );
    assert!(!messages.iter().any(|m| m.contains('\u{1b}')));
    let missing = run(vrrpd(&[
        "run",
        "-i",
        "nosuch0",
        "--log",
        "syslog",
        "--syslog-socket",
        dir.join("nobody").to_str().expect("utf-8"),
    ]));
    assert!(
        stderr(&missing).contains("connecting to syslog at"),
        "{}",
        stderr(&missing)
    );
}

// ---- item 15: keepalived habits ------------------------------------------------------------

#[test]
fn check_and_convert_take_the_file_either_way_and_from_standard_input() {
    let cfg = config();
    let cfg = cfg.to_str().expect("utf-8");
    for args in [
        vec!["check", cfg],
        vec!["check", "--config", cfg],
        vec!["check", "-f", cfg],
        vec!["convert", cfg],
        vec!["convert", "--config", cfg],
        vec!["convert", "-f", cfg],
    ] {
        let out = run(vrrpd(&args));
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", stderr(&out));
    }
    let text = std::fs::read(config()).expect("readable");
    for args in [
        vec!["check", "--format", "yaml", "--config", "-"],
        vec!["check", "--format", "yaml", "-"],
        vec!["convert", "--format", "yaml", "-f", "-"],
    ] {
        let mut child = vrrpd(&args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("vrrpd starts");
        child
            .stdin
            .take()
            .expect("a pipe")
            .write_all(&text)
            .expect("written");
        let out = child.wait_with_output().expect("vrrpd ends");
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", stderr(&out));
        if args[0] == "check" {
            assert!(stdout(&out).contains("OK (4 instances"), "{}", stdout(&out));
        } else {
            assert!(stdout(&out).contains("name: VI_1"), "{}", stdout(&out));
        }
    }
    let both = run(vrrpd(&["check", cfg, "--config", cfg]));
    assert_eq!(both.status.code(), Some(2));
}

#[test]
fn run_takes_f_as_config() {
    // `-f FILE` reaches the configuration: its errors name the file.
    let dir = Scratch::new("run-f");
    let bad = dir.join("bad.yaml");
    std::fs::write(&bad, "instances: 3\n").expect("written");
    let out = run(vrrpd(&["run", "-f", bad.to_str().expect("utf-8")]));
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("bad.yaml"), "{}", stderr(&out));
}

// ---- item 16: inspect ---------------------------------------------------------------------

fn inspect(args: &[&str]) -> Output {
    run(vrrpd(&[&["inspect"], args].concat()))
}

#[test]
fn pcapng_captures_read_as_their_pcap_originals() {
    for name in [
        "keepalived-pass-v3-v6",
        "keepalived-v2-ah-eth0",
        "keepalived-v2-ah-eth1",
        "keepalived-v2-ah-shutdown-eth0",
    ] {
        let pcap = repo(&format!("testdata/vectors/{name}.pcap"));
        let pcapng = repo(&format!("vrrp-userspace/tests/inspect/{name}.pcapng"));
        let a = inspect(&[
            "--json",
            "--password",
            "k@l",
            "--pcap",
            pcap.to_str().expect("utf-8"),
        ]);
        let b = inspect(&[
            "--json",
            "--password",
            "k@l",
            "--pcap",
            pcapng.to_str().expect("utf-8"),
        ]);
        assert!(!stdout(&a).is_empty());
        assert_eq!(stdout(&a), stdout(&b), "{name}");
        assert_eq!(a.status.code(), b.status.code(), "{name}");
        assert!(!stderr(&b).contains("magic"), "{}", stderr(&b));
    }
}

#[test]
fn a_truncated_capture_prints_its_complete_frames_then_where_it_was_cut() {
    let dir = Scratch::new("truncated");
    for (name, source) in [
        (
            "cut.pcap",
            repo("testdata/vectors/keepalived-v2-ah-eth0.pcap"),
        ),
        (
            "cut.pcapng",
            repo("vrrp-userspace/tests/inspect/keepalived-v2-ah-eth0.pcapng"),
        ),
    ] {
        let bytes = std::fs::read(&source).expect("readable");
        let path = dir.join(name);
        // 20 bytes short: the last frame is incomplete.
        std::fs::write(&path, &bytes[..bytes.len() - 20]).expect("written");
        let out = inspect(&["--password", "k@l", "--pcap", path.to_str().expect("utf-8")]);
        assert_eq!(out.status.code(), Some(1), "{name}");
        let lines: Vec<String> = stdout(&out).lines().map(str::to_owned).collect();
        assert_eq!(
            lines.len(),
            8,
            "{name}: seven frames and the summary\n{lines:#?}"
        );
        assert!(
            lines[..7].iter().all(|l| l.ends_with("icv valid")),
            "{lines:#?}"
        );
        assert!(
            stderr(&out).contains("the capture is cut short after frame 7"),
            "{name}: {}",
            stderr(&out)
        );
    }
}

#[test]
fn a_wrong_password_fails_and_a_pass_mismatch_is_called_so() {
    let capture = repo("testdata/vectors/keepalived-pass-v3-v6.pcap");
    let capture = capture.to_str().expect("utf-8");
    let wrong = inspect(&["--password", "wrong", "--pcap", capture]);
    assert_eq!(wrong.status.code(), Some(1));
    let text = stdout(&wrong);
    assert!(text.contains("auth pass password mismatch"), "{text}");
    assert!(!text.contains("icv INVALID"), "{text}");
    assert!(
        stderr(&wrong).contains("failed to verify with the given password"),
        "{}",
        stderr(&wrong)
    );
    // Without a password nothing is verified: no failure.
    assert_eq!(inspect(&["--pcap", capture]).status.code(), Some(0));
    let json = inspect(&["--json", "--password", "wrong", "--pcap", capture]);
    assert!(
        stdout(&json).contains(r#""verdict":"password mismatch""#),
        "{}",
        stdout(&json)
    );
    let ah = repo("testdata/vectors/keepalived-v2-ah-eth0.pcap");
    let bad_key = inspect(&["--password", "nope", "--pcap", ah.to_str().expect("utf-8")]);
    assert_eq!(bad_key.status.code(), Some(1));
    assert!(stdout(&bad_key).contains("icv INVALID"));
}

#[test]
fn the_summary_counts_unauthenticated_adverts() {
    let capture = repo("testdata/vectors/keepalived-pass-v3-v6.pcap");
    let out = inspect(&[
        "--password",
        "secret",
        "--pcap",
        capture.to_str().expect("utf-8"),
    ]);
    let summary = stdout(&out).lines().last().unwrap_or_default().to_owned();
    // The capture: VRRPv3 adverts (no authentication) and VRRPv2 PASS adverts.
    let unauthenticated = stdout(&out)
        .lines()
        .filter(|l| l.ends_with("auth none"))
        .count();
    assert!(unauthenticated > 0);
    assert!(
        summary.contains(&format!("{unauthenticated} unauthenticated")),
        "{summary}"
    );
}

/// Every prefix of a pcapng capture: no panic, and every complete frame is printed.
#[test]
fn every_prefix_of_a_pcapng_capture_reads_without_panicking() {
    let bytes = std::fs::read(repo(
        "vrrp-userspace/tests/inspect/keepalived-v2-ah-eth0.pcapng",
    ))
    .expect("readable");
    let password = vrrpd::auth::Password::new(b"k@l");
    let mut last = 0;
    for len in 0..=bytes.len() {
        if let Ok((records, summary)) = vrrpd::inspect::inspect(&bytes[..len], Some(&password)) {
            assert!(records.len() >= last, "fewer frames from a longer prefix");
            last = records.len();
            if len == bytes.len() {
                assert_eq!(summary.truncated, None);
            }
        }
    }
    assert_eq!(last, 8);
    let mut file =
        std::fs::File::open(repo("testdata/vectors/keepalived-v2-ah-eth0.pcap")).expect("readable");
    let mut pcap = Vec::new();
    file.read_to_end(&mut pcap).expect("read");
    for len in 0..=pcap.len() {
        let _ = vrrpd::inspect::inspect(&pcap[..len], Some(&password));
    }
}

// ---- keepalived's -t (issue 12 item 5) ------------------------------------------------------

#[test]
fn dash_t_checks_the_configuration_as_keepalived_t_does() {
    let good = config();
    let good = good.to_str().expect("utf-8");
    let broken = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/config/broken/bad-address.conf");
    let broken = broken.to_str().expect("utf-8");
    for args in [
        vec!["-t", "-f", good],
        vec!["-f", good, "-t"],
        vec!["--config-test", "--use-file", good],
    ] {
        let out = run(vrrpd(&args));
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", stderr(&out));
        assert!(
            String::from_utf8_lossy(&out.stdout).contains(": OK ("),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
    let out = run(vrrpd(&["-t", "-f", broken]));
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("bad-address.conf:"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn log_json_writes_one_json_object_per_event() {
    let out = run(vrrpd(&["run", "-i", "lo", "--log", "json"]));
    let text = stderr(&out);
    let first = text.lines().next().expect("a log line");
    let event: serde_json::Value = serde_json::from_str(first).expect("a JSON object");
    assert_eq!(event["level"], "INFO", "{first}");
    assert_eq!(
        event["fields"]["message"],
        format!("Starting vrrpd v{}", env!("CARGO_PKG_VERSION")),
        "{first}"
    );
    assert!(event["timestamp"].is_string(), "{first}");
}
