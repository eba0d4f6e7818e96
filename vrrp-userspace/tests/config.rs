//! Configuration: the seed case study exactly as printed, the examples, a corpus of broken
//! files with their exact positions, keyword coverage, and convert → load round trips.
#![allow(
    clippy::unwrap_used,
    reason = "test helpers: a failed unwrap is a failed test"
)]
use std::{
    fs,
    net::IpAddr,
    path::{Path, PathBuf},
};

use vrrpd::config::{
    self, Format,
    model::{
        AuthKind, Authentication, Config, InitialState, Instance, Notify, Priority, Seconds,
        Secret, SyncGroup, Version, VirtualAddress, Vrid,
    },
};

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/config")
}

fn examples() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples")
}

fn vip(a: &str) -> VirtualAddress {
    VirtualAddress {
        address: a.parse().unwrap(),
        prefix_len: 32,
        dev: None,
        label: None,
    }
}

fn seed_instance(name: &str, interface: &str, vrid: u8, master: bool, vips: &[&str]) -> Instance {
    Instance {
        name: name.into(),
        interface: interface.into(),
        vrid: Vrid::try_from(u64::from(vrid)).unwrap(),
        version: Version::V2,
        priority: Priority::try_from(if master { 150 } else { 100 }).unwrap(),
        state: if master {
            InitialState::Master
        } else {
            InitialState::Backup
        },
        advert_interval: Seconds::from_secs(1),
        // `auth_pass k@l!ve1`: keepalived's comment rule makes the key `k@l`.
        authentication: Some(Authentication {
            kind: AuthKind::Ah,
            password: Secret(b"k@l".to_vec()),
        }),
        virtual_addresses: vips.iter().map(|a| vip(a)).collect(),
        virtual_addresses_excluded: vec![],
        preempt: true,
        preempt_delay: Seconds::default(),
        track_interfaces: vec![],
        track_scripts: vec![],
        track_files: vec![],
        notify: Notify::default(),
        garp: None,
        unicast_src: None,
        unicast_peers: vec![],
    }
}

/// The model of the seed's director `n` (1 or 2).
fn seed_model(director: u8) -> Config {
    let d1 = director == 1;
    Config {
        global: Default::default(),
        instances: vec![
            seed_instance(
                "VI_1",
                "eth0",
                51,
                d1,
                &["192.168.200.10", "192.168.200.11"],
            ),
            seed_instance("VI_2", "eth1", 52, d1, &["192.168.100.10"]),
            seed_instance(
                "VI_3",
                "eth0",
                53,
                !d1,
                &["192.168.200.12", "192.168.200.13"],
            ),
            seed_instance("VI_4", "eth1", 54, !d1, &["192.168.100.11"]),
        ],
        sync_groups: vec![
            SyncGroup {
                name: "VG1".into(),
                members: vec!["VI_1".into(), "VI_2".into()],
                notify: Notify::default(),
                track_interfaces: vec![],
                track_scripts: vec![],
                track_files: vec![],
                tracking_weight: false,
            },
            SyncGroup {
                name: "VG2".into(),
                members: vec!["VI_3".into(), "VI_4".into()],
                notify: Notify::default(),
                track_interfaces: vec![],
                track_scripts: vec![],
                track_files: vec![],
                tracking_weight: false,
            },
        ],
        scripts: vec![],
        track_files: vec![],
    }
}

#[test]
fn the_seed_configurations_load_into_the_expected_model() {
    for director in [1, 2] {
        let path = fixtures().join(format!("seed/director{director}.conf"));
        let loaded = config::load(&path, None).unwrap_or_else(|e| panic!("{}", e.render()));
        assert_eq!(loaded.config, seed_model(director), "director {director}");
        // AH below priority 255 starts as BACKUP whatever `state` says (keepalived's rule).
        assert!(
            loaded
                .config
                .instances
                .iter()
                .all(|i| i.start_state() == InitialState::Backup)
        );
        // keepalived's warning for AH with state MASTER below 255, on the MASTER instances.
        let warned: Vec<_> = loaded
            .warnings
            .iter()
            .filter(|w| {
                w.message.contains(
                    "Initial state master is incompatible with AH authentication - clearing",
                )
            })
            .collect();
        assert_eq!(warned.len(), 2, "director {director}: {warned:?}");
    }
}

#[test]
fn the_director_1_seed_file_is_the_seed_verbatim() {
    let seed = fs::read_to_string(fixtures().join("../../../testdata/seed/case-study.txt"))
        .expect("testdata/seed/case-study.txt is part of the repository");
    let fixture = fs::read_to_string(fixtures().join("seed/director1.conf")).unwrap();
    assert!(
        seed.contains(&fixture),
        "director1.conf differs from the seed's keepalived.conf"
    );
    assert!(fixture.contains("auth_pass k@l!ve1"));
}

#[test]
fn the_yaml_examples_are_the_seed_model() {
    for director in [1, 2] {
        let path = examples().join(format!("director{director}.yaml"));
        let loaded = config::load(&path, None).unwrap_or_else(|e| panic!("{}", e.render()));
        assert_eq!(
            loaded.config,
            seed_model(director),
            "examples/director{director}.yaml"
        );
    }
}

/// Each broken fixture's first line says `expect LINE:COL: MESSAGE`; loading must fail with
/// an error at exactly that position whose message contains MESSAGE.
#[test]
fn every_broken_fixture_fails_at_its_exact_position() {
    let mut checked = 0;
    let mut entries: Vec<_> = fs::read_dir(fixtures().join("broken"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for path in entries {
        // Bytes: some fixtures are not UTF-8 (keepalived reads them).
        let text = String::from_utf8_lossy(&fs::read(&path).unwrap()).into_owned();
        let first = text.lines().next().unwrap();
        let expect = first
            .trim_start_matches(['!', '#'])
            .trim()
            .strip_prefix("expect ")
            .unwrap_or_else(|| panic!("{}: no expect line", path.display()));
        let (position, message) = expect.split_once(": ").unwrap();
        let error = match config::load(&path, None) {
            Ok(_) => panic!("{} loaded but should fail with {expect}", path.display()),
            Err(error) => error,
        };
        // `none`: a whole-file error with no position.
        let wanted = (position != "none").then(|| format!("{}:{position}", path.display()));
        let found = error
            .errors()
            .any(|d| d.location() == wanted && d.message.contains(message));
        assert!(
            found,
            "{}: expected `{wanted:?}: {message}`, got:\n{}",
            path.display(),
            error.render()
        );
        // The rendering quotes the line with a caret.
        let rendered = error.render();
        if let Some(wanted) = wanted {
            assert!(
                rendered.contains(&format!("--> {wanted}")) && rendered.contains('^'),
                "{rendered}"
            );
        }
        checked += 1;
    }
    assert!(checked >= 20, "only {checked} broken fixtures");
}

/// A `virtual_router_id` that does not parse is one error, not also a missing one; and it
/// does not hide another instance's missing VRID (`broken/missing-vrid-after-invalid.conf`).
#[test]
fn an_invalid_vrid_is_reported_once() {
    for name in ["vrid-range.conf", "vrid-zero.conf"] {
        let error = config::load(&fixtures().join("broken").join(name), None).unwrap_err();
        let vrid_errors: Vec<_> = error
            .errors()
            .filter(|d| {
                d.message.contains("virtual router id") || d.message.contains("virtual_router_id")
            })
            .collect();
        assert_eq!(vrid_errors.len(), 1, "{name}: {vrid_errors:?}");
    }
}

#[test]
fn keywords_includes_and_warnings() {
    let path = fixtures().join("valid/includes.conf");
    let loaded = config::load(&path, None).unwrap_or_else(|e| panic!("{}", e.render()));
    let c = &loaded.config;
    assert_eq!(c.global.router_id.as_deref(), Some("lvs1"));
    assert_eq!(c.instances.len(), 2);
    let vi1 = &c.instances[0];
    assert_eq!(
        vi1.virtual_addresses[0],
        VirtualAddress {
            address: "192.168.200.10".parse().unwrap(),
            prefix_len: 24,
            dev: Some("eth0".into()),
            label: Some("eth0:vip".into())
        }
    );
    // preempt_delay with nopreempt would be cleared (see tests/config/defaults).
    assert_eq!(vi1.preempt_delay, Seconds::from_secs(30));
    let vi2 = &c.instances[1];
    assert_eq!(vi2.name, "VI_2");
    assert!(!vi2.preempt);
    assert_eq!(
        (vi2.version, vi2.advert_interval),
        (Version::V3, Seconds::from_centis(25))
    );
    assert_eq!(vi2.track_interfaces.len(), 2);
    assert_eq!(vi2.track_interfaces[0].weight, Some(-20));
    assert_eq!(vi2.track_scripts[0].weight, Some(10));
    assert_eq!(vi2.notify.master.as_deref(), Some("/usr/local/bin/vip up"));
    let garp = vi2.garp.unwrap();
    assert_eq!(
        (garp.master_delay, garp.master_repeat),
        (Seconds::from_secs(2), 3)
    );
    assert_eq!(
        vi2.unicast_src,
        Some("192.168.100.5".parse::<IpAddr>().unwrap())
    );
    assert_eq!(
        vi2.unicast_peers,
        vec!["192.168.100.6".parse::<IpAddr>().unwrap()]
    );
    let script = &c.scripts[0];
    assert_eq!(
        (
            script.command.as_str(),
            script.interval,
            script.fall,
            script.rise
        ),
        ("/usr/bin/killall -0 haproxy", Seconds::from_secs(2), 2, 3)
    );

    let include_d = fixtures().join("valid/include.d");
    let warning_at = |needle: &str| {
        loaded
            .warnings
            .iter()
            .find(|w| w.message.contains(needle))
            .and_then(|w| w.location())
            .unwrap_or_else(|| panic!("no warning about {needle}: {:?}", loaded.warnings))
    };
    // Unsupported keywords are named with their line, never dropped silently.
    assert_eq!(
        warning_at("`use_vmac`"),
        format!("{}:4:5", include_d.join("10-vi1.conf").display())
    );
    assert_eq!(
        warning_at("`smtp_connect_timeout`"),
        format!("{}:4:5", path.display())
    );
    // Features read but not acted on yet are named, never dropped silently.
    assert!(warning_at("unicast peers are not supported").contains("20-vi2.conf"));
    // Health checks and weighted tracking run: no warning about them any more.
    assert!(
        !loaded
            .warnings
            .iter()
            .any(|w| w.message.contains("tracking") || w.message.contains("vrrp_script"))
    );
    // Passwords longer than 8 bytes are cut, with a warning.
    assert!(warning_at("longer than 8 bytes").contains("10-vi1.conf"));
}

fn state_name(state: InitialState) -> &'static str {
    match state {
        InitialState::Master => "MASTER",
        InitialState::Backup => "BACKUP",
    }
}

/// The files of `tests/config/defaults`, sorted.
fn defaults_fixtures() -> Vec<PathBuf> {
    let mut files: Vec<_> = fs::read_dir(fixtures().join("defaults"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files
}

/// keepalived's derived defaults (its `vrrp_complete_instance`). Each file of
/// `tests/config/defaults` is one case run live against keepalived 2.2.7; its leading
/// comments give the resolved instance (`expect priority=.. state=.. preempt=..
/// preempt_delay=.. start=..`) and every warning (`warning LINE:COL: MESSAGE`, keepalived's
/// text): loading must give exactly those, in that order, and nothing else.
#[test]
fn keepalived_defaults_and_their_warnings() {
    let mut checked = 0;
    for path in defaults_fixtures() {
        let text = fs::read_to_string(&path).unwrap();
        let comments: Vec<&str> = text
            .lines()
            .take_while(|l| l.starts_with(['!', '#']))
            .map(|l| l[1..].trim())
            .collect();
        let expect = comments
            .iter()
            .find_map(|l| l.strip_prefix("expect "))
            .unwrap_or_else(|| panic!("{}: no expect line", path.display()));
        let wanted: Vec<(String, &str)> = comments
            .iter()
            .filter_map(|l| l.strip_prefix("warning "))
            .map(|w| {
                let (position, message) = w.split_once(": ").unwrap();
                (format!("{}:{position}", path.display()), message)
            })
            .collect();
        let loaded = config::load(&path, None)
            .unwrap_or_else(|e| panic!("{}: {}", path.display(), e.render()));
        let i = &loaded.config.instances[0];
        let resolved = format!(
            "priority={} state={} preempt={} preempt_delay={} start={}",
            i.priority.get(),
            state_name(i.state),
            i.preempt,
            i.preempt_delay,
            state_name(i.start_state())
        );
        assert_eq!(resolved, expect, "{}", path.display());
        let got: Vec<(String, &str)> = loaded
            .warnings
            .iter()
            .map(|w| (w.location().unwrap_or_default(), w.message.as_str()))
            .collect();
        let matches = got.len() == wanted.len()
            && got
                .iter()
                .zip(&wanted)
                .all(|((at, message), (want_at, want))| at == want_at && message.starts_with(want));
        assert!(
            matches,
            "{}: wanted {wanted:#?}\ngot {got:#?}",
            path.display()
        );

        // What `vrrpd convert` writes is complete: it loads to the same model, silently but
        // for the AH rule, which keeps `state: MASTER` and clears only the start state.
        let yaml = config::to_yaml(&loaded.config).unwrap();
        let out = std::env::temp_dir().join(format!(
            "vrrpd-defaults-{}-{checked}.yaml",
            std::process::id()
        ));
        fs::write(&out, &yaml).unwrap();
        let again = config::load(&out, None).unwrap_or_else(|e| panic!("{}", e.render()));
        fs::remove_file(&out).unwrap();
        assert_eq!(again.config, loaded.config, "{}:\n{yaml}", path.display());
        assert!(
            again
                .warnings
                .iter()
                .all(|w| w.message.contains("incompatible with AH authentication")),
            "{:?}",
            again.warnings
        );
        checked += 1;
    }
    assert!(checked >= 29, "only {checked} defaults fixtures");
}

/// YAML gets keepalived's defaults too: each `defaults/*.yaml` loads to the same model, with
/// the same warnings, as its keepalived twin.
#[test]
fn yaml_gets_the_same_defaults_as_keepalived_conf() {
    let mut pairs = 0;
    for yaml in defaults_fixtures()
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
    {
        let conf = yaml.with_extension("conf");
        let from_yaml = config::load(&yaml, None).unwrap();
        let from_conf = config::load(&conf, None).unwrap();
        assert_eq!(from_yaml.config, from_conf.config, "{}", yaml.display());
        let messages = |l: &config::Loaded| -> Vec<String> {
            l.warnings.iter().map(|w| w.message.clone()).collect()
        };
        assert_eq!(
            messages(&from_yaml),
            messages(&from_conf),
            "{}",
            yaml.display()
        );
        pairs += 1;
    }
    assert!(pairs >= 14, "only {pairs} pairs");
}

#[test]
fn convert_round_trips_every_valid_fixture() {
    let mut files = vec![
        fixtures().join("seed/director1.conf"),
        fixtures().join("seed/director2.conf"),
        fixtures().join("valid/includes.conf"),
        examples().join("director1.yaml"),
        examples().join("director2.yaml"),
    ];
    files.sort();
    let dir = std::env::temp_dir().join(format!("vrrpd-convert-{}", std::process::id()));
    fs::create_dir_all(&dir).unwrap();
    for path in files {
        let original = config::load(&path, None)
            .unwrap_or_else(|e| panic!("{}", e.render()))
            .config;
        let yaml = config::to_yaml(&original).unwrap();
        let out = dir.join("converted.yaml");
        fs::write(&out, &yaml).unwrap();
        let again = config::load(&out, None)
            .unwrap_or_else(|e| panic!("{}:\n{yaml}\n{}", path.display(), e.render()))
            .config;
        assert_eq!(again, original, "{} does not round-trip", path.display());
    }
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn start_state_follows_keepalived() {
    let mut i = seed_instance("VI_1", "eth0", 51, true, &["192.168.200.10"]);
    assert_eq!(
        i.start_state(),
        InitialState::Backup,
        "state MASTER below 255 waits for master-down"
    );
    i.authentication = None;
    assert_eq!(i.start_state(), InitialState::Backup, "with or without AH");
    i.priority = Priority::OWNER;
    assert_eq!(
        i.start_state(),
        InitialState::Master,
        "the address owner with state MASTER"
    );
    i.state = InitialState::Backup;
    assert_eq!(
        i.start_state(),
        InitialState::Backup,
        "an owner configured BACKUP"
    );
}

#[test]
fn format_follows_the_extension_unless_overridden() {
    assert_eq!(Format::of(Path::new("a.yaml")), Format::Yaml);
    assert_eq!(Format::of(Path::new("a.yml")), Format::Yaml);
    assert_eq!(Format::of(Path::new("keepalived.conf")), Format::Keepalived);
    assert_eq!(Format::of(Path::new("keepalived")), Format::Keepalived);
    // A YAML file read as keepalived syntax fails (and says where).
    let forced = config::load(&examples().join("director1.yaml"), Some(Format::Keepalived));
    assert!(forced.is_err());
}

#[test]
fn secrets_never_appear_in_debug_output() {
    let loaded = config::load(&fixtures().join("seed/director1.conf"), None).unwrap();
    let debug = format!("{:?}", loaded.config);
    assert!(!debug.contains("k@l"), "{debug}");
}

/// Loads keepalived syntax held in memory (as if read from `name`).
fn load_conf(name: &str, text: &[u8]) -> Result<config::Loaded, config::LoadError> {
    let dir = std::env::temp_dir().join(format!("vrrpd-config-{}", std::process::id()));
    fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    fs::write(&path, text).unwrap();
    let loaded = config::load(&path, None);
    fs::remove_file(&path).unwrap();
    loaded
}

fn instance_with(body: &str) -> String {
    format!("vrrp_instance VI_1 {{\n    interface eth0\n    virtual_router_id 51\n{body}}}\n")
}

/// Item 1: nesting is bounded; 20,000 nested blocks (keepalived) or 100,000 nested
/// flow sequences (YAML) are one clean error with a position, not a stack overflow.
#[test]
fn deep_nesting_is_an_error_with_a_position() {
    let error = load_conf("deep.conf", "a {\n".repeat(20_000).as_bytes()).unwrap_err();
    let first = error.errors().next().unwrap();
    assert!(
        first.message.contains("nested more than 32 deep"),
        "{first}"
    );
    assert!(first.to_string().contains("deep.conf:33:3"), "{first}");
    let yaml = format!("instances: {}", "[".repeat(100_000));
    let error = load_conf("deep.yaml", yaml.as_bytes()).unwrap_err();
    let first = error.errors().next().unwrap();
    assert!(first.to_string().contains("deep.yaml:1:44"), "{first}");
}

/// The shortest of several runs of `f` (in seconds).
fn fastest(f: &dyn Fn()) -> f64 {
    (0..5)
        .map(|_| {
            let start = std::time::Instant::now();
            f();
            start.elapsed().as_secs_f64()
        })
        .fold(f64::INFINITY, f64::min)
}

/// Item 2: reading is linear. Doubling the input must not much more than double the time
/// (a ratio of the fastest of five runs each, not an absolute time): one long line of
/// `a { `, one line of many words, many lines of unknown keywords rendered, and deep YAML.
#[test]
fn readers_take_linear_time() {
    type Make = fn(usize) -> (String, Vec<u8>);
    let cases: [(&str, Make, usize); 5] = [
        (
            "one line of `a { `",
            |n| ("x.conf".into(), "a { ".repeat(n).into_bytes()),
            50_000,
        ),
        (
            "one line of words",
            |n| {
                (
                    "x.conf".into(),
                    format!("a {}", "word ".repeat(n)).into_bytes(),
                )
            },
            50_000,
        ),
        (
            "a line per unknown keyword",
            |n| ("x.conf".into(), "priorty 200\n".repeat(n).into_bytes()),
            2_000,
        ),
        (
            "nested YAML sequences",
            |n| {
                (
                    "x.yaml".into(),
                    format!("instances: {}", "[".repeat(n)).into_bytes(),
                )
            },
            50_000,
        ),
        (
            "a long YAML string",
            |n| {
                (
                    "x.yaml".into(),
                    format!("instances: \"{}\"", "a".repeat(n)).into_bytes(),
                )
            },
            100_000,
        ),
    ];
    for (what, make, n) in cases {
        let run = |n: usize| {
            let (name, text) = make(n);
            move || {
                if let Err(e) = load_conf(&name, &text) {
                    // Rendering (quoted lines) is part of the cost.
                    std::hint::black_box(e.render());
                }
            }
        };
        let (once, twice) = (fastest(&run(n)), fastest(&run(2 * n)));
        assert!(
            twice / once < 3.0,
            "{what}: {n} took {once:.4}s, {} took {twice:.4}s",
            2 * n
        );
    }
}

/// Item 3: a keyword keepalived does not know is an error (with the nearest one); a
/// keepalived keyword vrrpd does not act on is a warning.
#[test]
fn unknown_keywords_are_errors_known_ones_warnings() {
    let error = load_conf("typo.conf", instance_with("    priorty 200\n").as_bytes()).unwrap_err();
    let typo = error.errors().next().unwrap();
    assert_eq!(typo.help.as_deref(), Some("did you mean `priority`?"));
    let loaded = load_conf(
        "known.conf",
        instance_with("    use_vmac\n    virtual_ipaddress {\n        10.0.0.1\n    }\n")
            .as_bytes(),
    )
    .unwrap();
    assert!(
        loaded
            .warnings
            .iter()
            .any(|w| w.message.contains("`use_vmac`")
                && w.message.contains("not supported by vrrpd"))
    );
    let error = load_conf("top.conf", b"vrrp_instanse VI_1 {\n}\n").unwrap_err();
    assert!(
        error.render().contains("did you mean `vrrp_instance`?"),
        "{}",
        error.render()
    );
}

/// Item 4: a Latin-1 byte in a comment or a password does not reject the file; the
/// password is its bytes, as keepalived takes them.
#[test]
fn latin1_bytes_are_read_as_keepalived_reads_them() {
    let loaded = config::load(&fixtures().join("valid/latin1.conf"), None)
        .unwrap_or_else(|e| panic!("{}", e.render()));
    let auth = loaded.config.instances[0].authentication.as_ref().unwrap();
    assert_eq!(auth.password.as_bytes(), b"caf\xe9");
    // YAML cannot hold that password: convert says so without showing it.
    let error = config::to_yaml(&loaded.config).unwrap_err().to_string();
    assert!(
        error.contains("not UTF-8") && !error.contains("caf"),
        "{error}"
    );
}

/// Item 5: keepalived's rules for addresses.
#[test]
fn addresses_follow_keepalived() {
    // IPv6 without `version`: VRRPv3 (keepalived's vrrp_complete_instance), even under a
    // global vrrp_version 2.
    let text = format!(
        "global_defs {{\n    vrrp_version 2\n}}\n{}",
        instance_with("    virtual_ipaddress {\n        fe80::1\n        2001:db8::1/64\n    }\n")
    );
    let loaded = load_conf("v6.conf", text.as_bytes()).unwrap_or_else(|e| panic!("{}", e.render()));
    assert_eq!(loaded.config.instances[0].version, Version::V3);
    // An explicit version 2 with IPv6 stays an error (see docs/configuration.md).
    let text = instance_with("    version 2\n    virtual_ipaddress {\n        fe80::1\n    }\n");
    assert!(load_conf("v6v2.conf", text.as_bytes()).is_err());

    // More than 255: the excess goes to the excluded addresses, after the written ones,
    // with keepalived's warning.
    let vips: String = (0..300)
        .map(|n| format!("        10.0.{}.{}\n", n / 250, n % 250 + 1))
        .collect();
    let text = instance_with(&format!(
        "    virtual_ipaddress {{\n{vips}    }}\n    virtual_ipaddress_excluded {{\n        10.9.9.9/24 dev eth0\n    }}\n"
    ));
    let loaded =
        load_conf("many.conf", text.as_bytes()).unwrap_or_else(|e| panic!("{}", e.render()));
    let i = &loaded.config.instances[0];
    assert_eq!(i.virtual_addresses.len(), 255);
    assert_eq!(i.virtual_addresses_excluded.len(), 46);
    assert_eq!(
        i.virtual_addresses_excluded[0].address.to_string(),
        "10.9.9.9"
    );
    assert_eq!(
        i.virtual_addresses_excluded[1].address.to_string(),
        "10.0.1.6"
    );
    assert_eq!(i.all_addresses().count(), 301);
    assert!(loaded.warnings.iter().any(|w| w.message
        == "(VI_1) Number of VIPs (300) exceeds maximum/space available in packet (max 255 addresses) - excess moved to eVIPs"));
    // The excluded addresses survive convert.
    let yaml = config::to_yaml(&loaded.config).unwrap();
    let again = load_conf("many.yaml", yaml.as_bytes()).unwrap();
    assert_eq!(again.config, loaded.config);
}

/// Item 6: YAML written the way `convert` writes it (list items at indent 0) keeps the
/// positions of the validator's messages; interface names are checked.
#[test]
fn converted_yaml_keeps_positions() {
    let loaded = config::load(&fixtures().join("seed/director1.conf"), None).unwrap();
    let mut yaml = config::to_yaml(&loaded.config).unwrap();
    assert!(yaml.contains("\n- name: VI_1\n"), "{yaml}");
    yaml = yaml
        .replace("vrid: 52", "vrid: 51")
        .replace("interface: eth1", "interface: eth0");
    let error = load_conf("converted.yaml", yaml.as_bytes()).unwrap_err();
    let d = error.errors().next().unwrap();
    assert!(
        d.message.contains("virtual router id 51 is already used"),
        "{d}"
    );
    assert!(d.location().is_some(), "{d}");
}

/// Item 7: the password is never printed: not in a rendered error on its own line, nor
/// when a keepalived file is read as YAML, nor in `Debug` of a failed load.
#[test]
fn passwords_are_never_printed() {
    let secret = "s3cr3tpw";
    let text = instance_with(&format!(
        "    authentication {{\n        auth_type MD5 auth_pass {secret}\n    }}\n"
    ));
    let error = load_conf("leak.conf", text.as_bytes()).unwrap_err();
    let shown = format!("{}\n{error}\n{error:?}", error.render());
    assert!(
        shown.contains("auth_type MD5 auth_pass ********") && !shown.contains(secret),
        "{shown}"
    );

    let text = instance_with(&format!(
        "    authentication {{\n        auth_pass \"{secret} x\n"
    ));
    let error = load_conf("quote.conf", text.as_bytes()).unwrap_err();
    let shown = format!("{}\n{error:?}", error.render());
    assert!(!shown.contains(secret), "{shown}");

    let text = instance_with(&format!(
        "    authentication {{\n        auth_type PASS\n        auth_pass {secret}\n    }}\n"
    ));
    let path = std::env::temp_dir().join(format!("vrrpd-leak-{}.conf", std::process::id()));
    fs::write(&path, &text).unwrap();
    let error = config::load(&path, Some(Format::Yaml)).unwrap_err();
    fs::remove_file(&path).unwrap();
    let shown = format!("{}\n{error}\n{error:?}", error.render());
    assert!(!shown.contains(secret), "{shown}");

    let yaml = format!(
        "instances:\n- name: VI_1\n  interface: eth0\n  vrid: 300\n  authentication: {{type: pass, password: {secret}}}\n"
    );
    let error = load_conf("leak.yaml", yaml.as_bytes()).unwrap_err();
    let shown = format!("{}\n{error:?}", error.render());
    assert!(!shown.contains(secret), "{shown}");
    let yaml = yaml
        .replace("vrid: 300", "vrid: 3")
        .replace(secret, "12345678");
    let loaded = load_conf("numeric.yaml", yaml.as_bytes()).unwrap();
    let shown = format!("{:?}", loaded);
    assert!(!shown.contains("12345678"), "{shown}");
}
