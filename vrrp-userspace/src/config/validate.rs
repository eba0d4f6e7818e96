//! Cross-field rules, checked once for both file formats. Field-level rules (ranges, address
//! syntax) are enforced while reading.
//!
//! One function per concern. Errors come first, in file order of the items (instances, then
//! sync groups, then scripts); warnings follow, in the same order.
use std::{
    collections::{HashMap, HashSet},
    fmt,
};

use super::{
    diag::{Diagnostic, Item, Sites},
    model::{AuthKind, Config, Instance, Script, SyncGroup, Version},
};
use crate::auth::PASSWORD_LEN;
use vrrp_common::maps::{MAX_AH_ADDRESSES, MAX_INSTANCES};

/// keepalived's bound on `preempt_delay`.
const MAX_PREEMPT_DELAY_CENTIS: u32 = 1000 * 100;
/// keepalived's range for tracking weights.
const WEIGHTS: std::ops::RangeInclusive<i32> = -253..=253;
/// VRRPv3's 12-bit interval field, in centiseconds (RFC 5798 §5.2.7).
const MAX_V3_INTERVAL_CENTIS: u32 = 4095;

/// Checks `config`; returns every error and warning found, in file order of the items.
pub fn validate(config: &Config, sites: &Sites) -> Vec<Diagnostic> {
    let mut report = Report {
        sites,
        out: Vec::new(),
    };
    let scripts: HashSet<&str> = config.scripts.iter().map(|s| s.name.as_str()).collect();
    let files: HashSet<&str> = config.track_files.iter().map(|f| f.name.as_str()).collect();

    something_to_run(config, &mut report);
    let mut names = HashSet::new();
    let mut vrids = HashMap::new();
    for (n, i) in config.instances.iter().enumerate() {
        within_capacity(n, i, &mut report);
        unique_name(i, &mut names, &mut report);
        interface(i, &mut report);
        version(i, &mut report);
        let ipv6 = addresses(i, &mut report);
        v3_needs_addresses(i, &mut report);
        preempt_delay(i, &mut report);
        unique_vrid(i, ipv6, &mut vrids, &mut report);
        tracking(i, &scripts, &mut report);
        tracked_files(&i.track_files, &files, Item::Instance, &i.name, &mut report);
    }

    let instances: HashSet<&str> = config.instances.iter().map(|i| i.name.as_str()).collect();
    let mut groups = HashSet::new();
    let mut member_of = HashMap::new();
    for g in &config.sync_groups {
        unique_group(g, &mut groups, &mut report);
        members(g, &instances, &mut member_of, &mut report);
        group_tracking(g, &scripts, &mut report);
        tracked_files(
            &g.track_files,
            &files,
            Item::SyncGroup,
            &g.name,
            &mut report,
        );
    }

    let mut script_names = HashSet::new();
    for s in &config.scripts {
        script(s, &mut script_names, &mut report);
    }

    // Warnings: keepalived accepts these, with a word.
    for i in &config.instances {
        authentication_warnings(i, &mut report);
        unsupported_instance_features(i, &mut report);
        ignored_weights(config, i, &mut report);
        no_virtual_addresses(i, &mut report);
    }
    report.out
}

/// The diagnostics found so far, and where each item's fields were written.
struct Report<'a> {
    sites: &'a Sites,
    out: Vec<Diagnostic>,
}

impl Report<'_> {
    /// An error at `field` of the item (`help` empty: none).
    fn error(&mut self, item: Item, name: &str, field: &str, message: String, help: &str) {
        let d = Diagnostic::error(message, self.sites.get(item, name, field));
        self.out.push(if help.is_empty() {
            d
        } else {
            d.with_help(help)
        });
    }

    /// An error about instance `i`.
    fn instance(&mut self, i: &Instance, field: &str, message: String, help: &str) {
        self.error(Item::Instance, &i.name, field, message, help);
    }

    /// The value of instance `i`'s `field` as written (`` `0.001` ``), else `shown`.
    fn written(&self, i: &Instance, field: &str, shown: impl fmt::Display) -> String {
        match self.sites.value(Item::Instance, &i.name, field) {
            Some(text) => format!("`{text}`"),
            None => format!("{shown}s"),
        }
    }

    /// A warning about instance `i`.
    fn instance_warning(&mut self, i: &Instance, field: &str, message: String) {
        let span = self.sites.get(Item::Instance, &i.name, field);
        self.out.push(Diagnostic::warning(message, span));
    }
}

/// A configuration without instances runs nothing.
fn something_to_run(config: &Config, report: &mut Report<'_>) {
    if config.instances.is_empty() {
        report.out.push(
            Diagnostic::error("no VRRP instance is defined: there is nothing to run", None)
                .with_help("define at least one instance (YAML `instances:`, keepalived `vrrp_instance NAME { ... }`)"),
        );
    }
}

/// The XDP program's tables hold [`MAX_INSTANCES`] instances: the first instance beyond
/// them is an error (once, at that instance), not a failure of `vrrpd run` at start.
fn within_capacity(n: usize, i: &Instance, report: &mut Report<'_>) {
    if n == MAX_INSTANCES as usize {
        report.instance(
            i,
            "name",
            format!(
                "({}) is instance {}: vrrpd serves at most {MAX_INSTANCES} instances",
                i.name,
                n + 1
            ),
            "split the instances over several directors (or daemons)",
        );
    }
}

fn unique_name<'c>(i: &'c Instance, seen: &mut HashSet<&'c str>, report: &mut Report<'_>) {
    let name = i.name.as_str();
    if !seen.insert(name) {
        report.instance(
            i,
            "name",
            format!("instance `{name}` is defined twice"),
            "instance names must be unique",
        );
    }
}

/// Linux's longest interface name (`IFNAMSIZ` less the terminating NUL).
const MAX_INTERFACE_NAME: usize = 15;

/// Why `name` cannot be a Linux interface name (the kernel's `dev_valid_name`), if it
/// cannot.
pub fn interface_name_problem(name: &str) -> Option<String> {
    if name.is_empty() {
        Some("is empty".into())
    } else if name.len() > MAX_INTERFACE_NAME {
        Some(format!(
            "is {} bytes long: Linux interface names are at most {MAX_INTERFACE_NAME}",
            name.len()
        ))
    } else if name == "." || name == ".." {
        Some("is not a valid interface name".into())
    } else if name
        .chars()
        .any(|c| c == '/' || c == ':' || c == '\0' || c.is_whitespace())
    {
        Some("contains `/`, `:`, a NUL or white space, which interface names cannot".into())
    } else {
        None
    }
}

/// The instance's interface, the `dev` of its addresses and its tracked interfaces are
/// names Linux can have (what `vrrpd run` would refuse later).
fn interface(i: &Instance, report: &mut Report<'_>) {
    if i.interface.is_empty() {
        report.instance(
            i,
            "interface",
            format!("({}) has no interface", i.name),
            "name the interface adverts are sent and received on",
        );
    }
    let devs = i
        .all_addresses()
        .filter_map(|v| v.dev.as_deref())
        .map(|d| ("virtual_addresses", d));
    let tracked = i
        .track_interfaces
        .iter()
        .map(|t| ("track_interfaces", t.name.as_str()));
    for (field, name) in std::iter::once(("interface", i.interface.as_str()))
        .filter(|(_, n)| !n.is_empty())
        .chain(devs)
        .chain(tracked)
    {
        if let Some(problem) = interface_name_problem(name) {
            report.instance(
                i,
                field,
                format!(
                    "({}) interface name `{}` {problem}",
                    i.name,
                    name.escape_debug()
                ),
                "",
            );
        }
    }
}

/// What each VRRP version allows: its advert intervals, and authentication only in v2.
fn version(i: &Instance, report: &mut Report<'_>) {
    let name = i.name.as_str();
    let c = i.advert_interval.centis();
    match i.version {
        Version::V2 => {
            if !i.advert_interval.is_whole() || !(100..=25500).contains(&c) {
                report.instance(
                    i,
                    "advert_interval",
                    format!(
                        "({name}) VRRPv2 advert interval {} is invalid",
                        report.written(i, "advert_interval", i.advert_interval)
                    ),
                    "VRRPv2 intervals are whole seconds 1-255; use version 3 for sub-second intervals",
                );
            }
        }
        Version::V3 => {
            if !(1..=MAX_V3_INTERVAL_CENTIS).contains(&c) {
                report.instance(
                    i,
                    "advert_interval",
                    format!(
                        "({name}) VRRPv3 advert interval {} is invalid",
                        report.written(i, "advert_interval", i.advert_interval)
                    ),
                    "VRRPv3 intervals are 0.01-40.95 seconds in centisecond steps",
                );
            }
            if i.authentication.is_some() {
                report.instance(
                    i,
                    "authentication",
                    format!("({name}) VRRPv3 has no authentication"),
                    "remove the authentication block or use version 2 (RFC 5798 removed authentication)",
                );
            }
        }
    }
}

/// One address family per instance, and what that family allows (VRRPv2 and AH are IPv4
/// only; unicast peers share the virtual addresses' family). Returns whether the instance
/// is IPv6.
fn addresses(i: &Instance, report: &mut Report<'_>) -> bool {
    let name = i.name.as_str();
    let families: HashSet<bool> = i
        .virtual_addresses
        .iter()
        .map(|v| v.address.is_ipv6())
        .collect();
    if families.len() > 1 {
        report.instance(
            i,
            "virtual_addresses",
            format!("({name}) mixes IPv4 and IPv6 virtual addresses"),
            "one instance serves one address family: split it into two instances",
        );
    }
    let ipv6 = families.contains(&true);
    if ipv6 && i.version == Version::V2 {
        report.instance(
            i,
            "virtual_addresses",
            format!("({name}) has IPv6 virtual addresses but VRRPv2 is IPv4 only"),
            "set version: 3",
        );
    }
    if let Some(auth) = &i.authentication
        && ipv6
        && auth.kind == AuthKind::Ah
    {
        report.instance(
            i,
            "authentication",
            format!("({name}) IPSEC-AH is IPv4 only"),
            "",
        );
    }
    // The XDP program verifies the ICV of adverts up to three MD5 blocks long.
    let count = i.virtual_addresses.len();
    if let Some(auth) = &i.authentication
        && auth.kind == AuthKind::Ah
        && count > MAX_AH_ADDRESSES
    {
        report.instance(
            i,
            "virtual_addresses",
            format!(
                "({name}) has {count} virtual addresses: vrrpd verifies IPSEC-AH adverts carrying at most {MAX_AH_ADDRESSES}"
            ),
            "move the others to virtual_addresses_excluded (held as MASTER, not advertised), or use PASS or no authentication (up to 255 addresses)",
        );
    }
    for peer in i.unicast_peers.iter().chain(i.unicast_src.iter()) {
        if !i.virtual_addresses.is_empty() && peer.is_ipv6() != ipv6 {
            report.instance(
                i,
                "unicast_peers",
                format!("({name}) unicast address {peer} is not of the virtual addresses' family"),
                "",
            );
        }
    }
    ipv6
}

fn preempt_delay(i: &Instance, report: &mut Report<'_>) {
    if i.preempt_delay.centis() > MAX_PREEMPT_DELAY_CENTIS {
        report.instance(
            i,
            "preempt_delay",
            format!(
                "({}) preempt delay {} is too long",
                i.name,
                report.written(i, "preempt_delay", i.preempt_delay)
            ),
            "preempt delay is 0-1000 seconds",
        );
    }
}

/// A VRID is unique per interface and address family.
fn unique_vrid(
    i: &Instance,
    ipv6: bool,
    vrids: &mut HashMap<(String, bool, u8), String>,
    report: &mut Report<'_>,
) {
    let key = (i.interface.clone(), ipv6, i.vrid.get());
    if let Some(other) = vrids.get(&key) {
        report.instance(
            i,
            "vrid",
            format!(
                "({}) virtual router id {} is already used by ({other}) on {}",
                i.name,
                i.vrid.get(),
                i.interface
            ),
            "a VRID must be unique per interface and address family",
        );
    } else {
        vrids.insert(key, i.name.clone());
    }
}

/// Tracking weights in keepalived's range; tracked scripts defined.
fn tracking(i: &Instance, scripts: &HashSet<&str>, report: &mut Report<'_>) {
    let name = i.name.as_str();
    for (field, tracks) in [
        ("track_interfaces", &i.track_interfaces),
        ("track_scripts", &i.track_scripts),
    ] {
        for track in tracks {
            if let Some(w) = track.weight.filter(|w| !WEIGHTS.contains(w)) {
                report.instance(
                    i,
                    field,
                    format!("({name}) weight {w} for `{}` is out of range", track.name),
                    "weights are -253 to 253",
                );
            }
        }
    }
    for track in &i.track_scripts {
        if !scripts.contains(track.name.as_str()) {
            report.instance(
                i,
                "track_scripts",
                format!(
                    "({name}) tracks script `{}`, which is not defined",
                    track.name
                ),
                "define it under scripts (vrrp_script)",
            );
        }
    }
}

fn unique_group<'c>(g: &'c SyncGroup, seen: &mut HashSet<&'c str>, report: &mut Report<'_>) {
    let name = g.name.as_str();
    if !seen.insert(name) {
        report.error(
            Item::SyncGroup,
            name,
            "name",
            format!("sync group `{name}` is defined twice"),
            "",
        );
    }
}

/// A sync group has members, each a defined instance in no other group.
fn members<'c>(
    g: &'c SyncGroup,
    instances: &HashSet<&str>,
    member_of: &mut HashMap<&'c str, &'c str>,
    report: &mut Report<'_>,
) {
    let name = g.name.as_str();
    if g.members.is_empty() {
        report.error(
            Item::SyncGroup,
            name,
            "members",
            format!("sync group `{name}` has no members"),
            "list the instances it keeps in step",
        );
    }
    for member in &g.members {
        let field = format!("member:{member}");
        if !instances.contains(member.as_str()) {
            report.error(
                Item::SyncGroup,
                name,
                &field,
                format!("sync group `{name}` names instance `{member}`, which is not defined"),
                "members must be vrrp_instance names",
            );
        } else if let Some(other) = member_of.insert(member, name)
            && other != name
        {
            report.error(
                Item::SyncGroup,
                name,
                &field,
                format!("instance `{member}` is in sync groups `{other}` and `{name}`"),
                "an instance belongs to one sync group at most",
            );
        }
    }
}

fn group_tracking(g: &SyncGroup, scripts: &HashSet<&str>, report: &mut Report<'_>) {
    for track in &g.track_scripts {
        if !scripts.contains(track.name.as_str()) {
            report.error(
                Item::SyncGroup,
                &g.name,
                "track_scripts",
                format!(
                    "sync group `{}` tracks script `{}`, which is not defined",
                    g.name, track.name
                ),
                "",
            );
        }
    }
}

/// A script's name is unique, its weight in range, its interval not zero.
fn script<'c>(s: &'c Script, seen: &mut HashSet<&'c str>, report: &mut Report<'_>) {
    if !seen.insert(s.name.as_str()) {
        report.error(
            Item::Script,
            &s.name,
            "name",
            format!("script `{}` is defined twice", s.name),
            "",
        );
    }
    if !WEIGHTS.contains(&s.weight) {
        report.error(
            Item::Script,
            &s.name,
            "weight",
            format!("script `{}` weight {} is out of range", s.name, s.weight),
            "weights are -253 to 253",
        );
    }
    if s.interval.centis() == 0 {
        report.error(
            Item::Script,
            &s.name,
            "interval",
            format!("script `{}` has a zero interval", s.name),
            "run it at least every few seconds, e.g. interval: 2",
        );
    }
}

/// keepalived cuts long passwords. (Its AH rule for `state MASTER` is in `defaults`.)
fn authentication_warnings(i: &Instance, report: &mut Report<'_>) {
    let name = i.name.as_str();
    let Some(auth) = &i.authentication else {
        return;
    };
    if auth.password.0.len() > PASSWORD_LEN {
        report.instance_warning(
            i,
            "authentication",
            format!("({name}) password is longer than {PASSWORD_LEN} bytes; only the first {PASSWORD_LEN} are used, as keepalived does"),
        );
    }
}

/// Read and validated, but not acted on by the daemon yet: say so, never drop silently.
fn unsupported_instance_features(i: &Instance, report: &mut Report<'_>) {
    let name = i.name.as_str();
    if !i.unicast_peers.is_empty() {
        report.instance_warning(
            i,
            "unicast_peers",
            format!(
                "({name}) unicast peers are not supported by vrrpd yet; it advertises by multicast"
            ),
        );
    }
}

/// keepalived drops a VRRPv3 instance without addresses ("No VIP specified; at least one is
/// required"); a VRRPv2 one only gets a word.
fn v3_needs_addresses(i: &Instance, report: &mut Report<'_>) {
    if i.virtual_addresses.is_empty() && i.version == Version::V3 {
        report.instance(
            i,
            "",
            format!("({}) No VIP specified; at least one is required", i.name),
            "VRRPv3 instances need at least one virtual address (as in keepalived)",
        );
    }
}

fn no_virtual_addresses(i: &Instance, report: &mut Report<'_>) {
    if i.virtual_addresses.is_empty() && i.version == Version::V2 {
        report.instance_warning(i, "", format!("({}) has no virtual addresses", i.name));
    }
}

/// Tracked files are defined (`vrrp_track_file`).
fn tracked_files(
    tracks: &[super::model::Track],
    files: &HashSet<&str>,
    item: Item,
    name: &str,
    report: &mut Report<'_>,
) {
    for track in tracks {
        if !files.contains(track.name.as_str()) {
            report.error(
                item,
                name,
                "track_files",
                format!(
                    "`{name}` tracks file `{}`, which is not defined",
                    track.name
                ),
                "define it under track_files (vrrp_track_file)",
            );
        }
    }
}

/// keepalived's `vrrp_complete_instance`: a member of a sync group without
/// `sync_group_tracking_weight`, or an address owner, cannot float its priority; its
/// weighted tracks are ignored (interfaces: down = FAULT instead). Said here with
/// keepalived's words; `tracking` applies it.
fn ignored_weights(config: &Config, i: &Instance, report: &mut Report<'_>) {
    let name = i.name.as_str();
    let sync = config
        .sync_groups
        .iter()
        .any(|g| !g.tracking_weight && g.members.contains(&i.name));
    let owner = i.priority.get() == 255;
    if !sync && !owner {
        return;
    }
    let why = if sync { "SYNC group" } else { "address owner" };
    for t in i
        .track_interfaces
        .iter()
        .filter(|t| t.weight.is_some_and(|w| w != 0))
    {
        report.instance_warning(
            i,
            "track_interfaces",
            format!(
                "({name}) ignoring {}tracked interface {} due to {why}",
                if sync { "weight of " } else { "" },
                t.name
            ),
        );
    }
    for t in i.track_scripts.iter() {
        let weight = t.weight.or_else(|| {
            config
                .scripts
                .iter()
                .find(|s| s.name == t.name)
                .map(|s| s.weight)
        });
        if weight.is_some_and(|w| w != 0) {
            report.instance_warning(
                i,
                "track_scripts",
                format!(
                    "({name}) ignoring tracked script {} with weights due to {why}",
                    t.name
                ),
            );
        }
    }
    for t in i
        .track_files
        .iter()
        .filter(|t| t.weight.is_some_and(|w| w != 0))
    {
        report.instance_warning(
            i,
            "track_files",
            format!(
                "({name}) ignoring tracked file {} with weight {} due to {why}",
                t.name,
                t.weight.unwrap_or_default()
            ),
        );
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    /// `count` instances, 255 VRIDs per interface (`eth0`, `eth1`, ...), four lines each.
    fn instances(count: usize) -> String {
        let mut text = String::from("instances:\n");
        for n in 0..count {
            text.push_str(&format!(
                "  - name: VI_{n}\n    interface: eth{}\n    vrid: {}\n    virtual_addresses: [10.0.{}.{}/32]\n",
                n / 255,
                n % 255 + 1,
                n / 250,
                n % 250 + 1
            ));
        }
        text
    }

    fn errors(count: usize) -> Vec<Diagnostic> {
        let mut diagnostics = Vec::new();
        let (config, sites) =
            super::super::yaml::read(Path::new("x.yaml"), &instances(count), &mut diagnostics)
                .expect("the instances read");
        assert!(diagnostics.is_empty(), "{diagnostics:?}");
        validate(&config, &sites)
            .into_iter()
            .filter(Diagnostic::is_error)
            .collect()
    }

    #[test]
    fn ah_instances_with_more_addresses_than_the_kernel_verifies_are_refused() {
        let yaml = |count: usize, auth: &str| {
            let addresses: Vec<String> =
                (0..count).map(|n| format!("10.0.0.{}/32", n + 1)).collect();
            format!(
                "instances:\n  - name: VI_1\n    interface: eth0\n    vrid: 1\n{auth}    virtual_addresses: [{}]\n",
                addresses.join(", ")
            )
        };
        let ah = "    authentication: {type: ah, password: k}\n";
        let errors = |text: String| {
            let mut diagnostics = Vec::new();
            let (config, sites) =
                super::super::yaml::read(Path::new("x.yaml"), &text, &mut diagnostics)
                    .expect("the instance reads");
            validate(&config, &sites)
                .into_iter()
                .filter(Diagnostic::is_error)
                .collect::<Vec<_>>()
        };
        assert_eq!(errors(yaml(MAX_AH_ADDRESSES, ah)), Vec::new());
        assert_eq!(errors(yaml(255, "")), Vec::new());
        let refused = errors(yaml(MAX_AH_ADDRESSES + 1, ah));
        assert_eq!(refused.len(), 1, "{refused:?}");
        assert_eq!(
            refused[0].message,
            format!(
                "(VI_1) has {} virtual addresses: vrrpd verifies IPSEC-AH adverts carrying at most {MAX_AH_ADDRESSES}",
                MAX_AH_ADDRESSES + 1
            )
        );
        let span = refused[0].span.as_ref().expect("a position");
        assert_eq!((span.line, span.column), (6, 5));
    }

    #[test]
    fn more_instances_than_the_tables_hold_are_refused_at_the_first_one_beyond() {
        let max = MAX_INSTANCES as usize;
        assert_eq!(errors(max), Vec::new());
        let errors = errors(max + 2);
        assert_eq!(errors.len(), 1, "{errors:?}");
        let first = &errors[0];
        assert_eq!(
            first.message,
            format!(
                "(VI_{max}) is instance {}: vrrpd serves at most {max} instances",
                max + 1
            )
        );
        let span = first.span.as_ref().expect("a position");
        // Instance n's `name:` key is on line 2 + 4n, column 5.
        assert_eq!((span.line, span.column), (2 + 4 * max, 5));
    }
}
