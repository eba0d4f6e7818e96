//! Cross-field rules, checked once for both file formats. Field-level rules (ranges, address
//! syntax) are enforced while reading.
use std::collections::{HashMap, HashSet};

use super::{
    diag::{Diagnostic, Item, Sites},
    model::{AuthKind, Config, InitialState, Priority, Version},
};
use crate::auth::PASSWORD_LEN;

/// keepalived's bound on `preempt_delay`.
const MAX_PREEMPT_DELAY_CENTIS: u32 = 1000 * 100;
/// keepalived's range for tracking weights.
const WEIGHTS: std::ops::RangeInclusive<i32> = -253..=253;
/// VRRPv3's 12-bit interval field, in centiseconds (RFC 5798 §5.2.7).
const MAX_V3_INTERVAL_CENTIS: u32 = 4095;

/// Checks `config`; returns every error and warning found, in file order of the items.
pub fn validate(config: &Config, sites: &Sites) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    if config.instances.is_empty() {
        out.push(
            Diagnostic::error("no VRRP instance is defined: there is nothing to run", None)
                .with_help("define at least one instance (YAML `instances:`, keepalived `vrrp_instance NAME { ... }`)"),
        );
    }
    let mut err = |item: Item, name: &str, field: &str, message: String, help: &str| {
        let d = Diagnostic::error(message, sites.get(item, name, field));
        out.push(if help.is_empty() {
            d
        } else {
            d.with_help(help)
        });
    };

    let mut seen = HashSet::new();
    let mut vrids: HashMap<(String, bool, u8), String> = HashMap::new();
    let scripts: HashSet<&str> = config.scripts.iter().map(|s| s.name.as_str()).collect();

    for i in &config.instances {
        let name = i.name.as_str();
        if !seen.insert(name) {
            err(
                Item::Instance,
                name,
                "name",
                format!("instance `{name}` is defined twice"),
                "instance names must be unique",
            );
        }
        if i.interface.is_empty() {
            err(
                Item::Instance,
                name,
                "interface",
                format!("({name}) has no interface"),
                "name the interface adverts are sent and received on",
            );
        }
        match i.version {
            Version::V2 => {
                let c = i.advert_interval.centis();
                if !i.advert_interval.is_whole() || !(100..=25500).contains(&c) {
                    err(
                        Item::Instance,
                        name,
                        "advert_interval",
                        format!(
                            "({name}) VRRPv2 advert interval {}s is invalid",
                            i.advert_interval
                        ),
                        "VRRPv2 intervals are whole seconds 1-255; use version 3 for sub-second intervals",
                    );
                }
            }
            Version::V3 => {
                let c = i.advert_interval.centis();
                if !(1..=MAX_V3_INTERVAL_CENTIS).contains(&c) {
                    err(
                        Item::Instance,
                        name,
                        "advert_interval",
                        format!(
                            "({name}) VRRPv3 advert interval {}s is invalid",
                            i.advert_interval
                        ),
                        "VRRPv3 intervals are 0.01-40.95 seconds in centisecond steps",
                    );
                }
                if i.authentication.is_some() {
                    err(
                        Item::Instance,
                        name,
                        "authentication",
                        format!("({name}) VRRPv3 has no authentication"),
                        "remove the authentication block or use version 2 (RFC 5798 removed authentication)",
                    );
                }
            }
        }
        let families: HashSet<bool> = i
            .virtual_addresses
            .iter()
            .map(|v| v.address.is_ipv6())
            .collect();
        if families.len() > 1 {
            err(
                Item::Instance,
                name,
                "virtual_addresses",
                format!("({name}) mixes IPv4 and IPv6 virtual addresses"),
                "one instance serves one address family: split it into two instances",
            );
        }
        let ipv6 = families.contains(&true);
        if ipv6 && i.version == Version::V2 {
            err(
                Item::Instance,
                name,
                "virtual_addresses",
                format!("({name}) has IPv6 virtual addresses but VRRPv2 is IPv4 only"),
                "set version: 3",
            );
        }
        if let Some(auth) = &i.authentication
            && ipv6
            && auth.kind == AuthKind::Ah
        {
            err(
                Item::Instance,
                name,
                "authentication",
                format!("({name}) IPSEC-AH is IPv4 only"),
                "",
            );
        }
        for peer in i.unicast_peers.iter().chain(i.unicast_src.iter()) {
            if !i.virtual_addresses.is_empty() && peer.is_ipv6() != ipv6 {
                err(
                    Item::Instance,
                    name,
                    "unicast_peers",
                    format!(
                        "({name}) unicast address {peer} is not of the virtual addresses' family"
                    ),
                    "",
                );
            }
        }
        if i.preempt_delay.centis() > MAX_PREEMPT_DELAY_CENTIS {
            err(
                Item::Instance,
                name,
                "preempt_delay",
                format!("({name}) preempt delay {}s is too long", i.preempt_delay),
                "preempt delay is 0-1000 seconds",
            );
        }
        let key = (i.interface.clone(), ipv6, i.vrid.get());
        if let Some(other) = vrids.get(&key) {
            err(
                Item::Instance,
                name,
                "vrid",
                format!(
                    "({name}) virtual router id {} is already used by ({other}) on {}",
                    i.vrid.get(),
                    i.interface
                ),
                "a VRID must be unique per interface and address family",
            );
        } else {
            vrids.insert(key, name.to_owned());
        }
        for (field, tracks) in [
            ("track_interfaces", &i.track_interfaces),
            ("track_scripts", &i.track_scripts),
        ] {
            for track in tracks {
                if let Some(w) = track.weight.filter(|w| !WEIGHTS.contains(w)) {
                    err(
                        Item::Instance,
                        name,
                        field,
                        format!("({name}) weight {w} for `{}` is out of range", track.name),
                        "weights are -253 to 253",
                    );
                }
            }
        }
        for track in &i.track_scripts {
            if !scripts.contains(track.name.as_str()) {
                err(
                    Item::Instance,
                    name,
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

    let instances: HashSet<&str> = config.instances.iter().map(|i| i.name.as_str()).collect();
    let mut member_of: HashMap<&str, &str> = HashMap::new();
    let mut groups = HashSet::new();
    for g in &config.sync_groups {
        let name = g.name.as_str();
        if !groups.insert(name) {
            err(
                Item::SyncGroup,
                name,
                "name",
                format!("sync group `{name}` is defined twice"),
                "",
            );
        }
        if g.members.is_empty() {
            err(
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
                err(
                    Item::SyncGroup,
                    name,
                    &field,
                    format!("sync group `{name}` names instance `{member}`, which is not defined"),
                    "members must be vrrp_instance names",
                );
            } else if let Some(other) = member_of.insert(member, name)
                && other != name
            {
                err(
                    Item::SyncGroup,
                    name,
                    &field,
                    format!("instance `{member}` is in sync groups `{other}` and `{name}`"),
                    "an instance belongs to one sync group at most",
                );
            }
        }
        for track in &g.track_scripts {
            if !scripts.contains(track.name.as_str()) {
                err(
                    Item::SyncGroup,
                    name,
                    "track_scripts",
                    format!(
                        "sync group `{name}` tracks script `{}`, which is not defined",
                        track.name
                    ),
                    "",
                );
            }
        }
    }
    let mut seen_scripts = HashSet::new();
    for s in &config.scripts {
        if !seen_scripts.insert(s.name.as_str()) {
            err(
                Item::Script,
                &s.name,
                "name",
                format!("script `{}` is defined twice", s.name),
                "",
            );
        }
        if !WEIGHTS.contains(&s.weight) {
            err(
                Item::Script,
                &s.name,
                "weight",
                format!("script `{}` weight {} is out of range", s.name, s.weight),
                "weights are -253 to 253",
            );
        }
        if s.interval.centis() == 0 {
            err(
                Item::Script,
                &s.name,
                "interval",
                format!("script `{}` has a zero interval", s.name),
                "run it at least every few seconds, e.g. interval: 2",
            );
        }
    }

    // Warnings: keepalived accepts these, with a word.
    for i in &config.instances {
        let name = i.name.as_str();
        if let Some(auth) = &i.authentication {
            if auth.password.0.len() > PASSWORD_LEN {
                out.push(Diagnostic::warning(
                    format!("({name}) password is longer than {PASSWORD_LEN} bytes; only the first {PASSWORD_LEN} are used, as keepalived does"),
                    sites.get(Item::Instance, name, "authentication"),
                ));
            }
            if auth.kind == AuthKind::Ah
                && i.state == InitialState::Master
                && i.priority < Priority::OWNER
            {
                out.push(Diagnostic::warning(
                    format!("({name}) Initial state master is incompatible with AH authentication - clearing (it starts as BACKUP, as keepalived does: it must learn the peers' AH sequence numbers first; priority {} < 255)", i.priority.get()),
                    sites.get(Item::Instance, name, "state"),
                ));
            }
        }
        // Read and validated, but not acted on by the daemon yet: say so, never drop silently.
        if !i.unicast_peers.is_empty() || i.unicast_src.is_some() {
            out.push(Diagnostic::warning(
                format!("({name}) unicast peers are not supported by vrrpd yet; it advertises by multicast"),
                sites.get(Item::Instance, name, "unicast_peers"),
            ));
        }
        if !i.track_scripts.is_empty() {
            out.push(Diagnostic::warning(
                format!("({name}) tracked scripts are read but not run by vrrpd yet"),
                sites.get(Item::Instance, name, "track_scripts"),
            ));
        }
        if i.track_interfaces.iter().any(|t| t.weight.is_some()) {
            out.push(Diagnostic::warning(
                format!("({name}) weighted interface tracking is not supported by vrrpd yet; only tracks without a weight (down = FAULT) apply"),
                sites.get(Item::Instance, name, "track_interfaces"),
            ));
        }
        if i.virtual_addresses.is_empty() {
            out.push(Diagnostic::warning(
                format!("({name}) has no virtual addresses"),
                sites.get(Item::Instance, name, ""),
            ));
        }
    }
    for g in &config.sync_groups {
        if g.notify != Default::default()
            || !g.track_interfaces.is_empty()
            || !g.track_scripts.is_empty()
        {
            out.push(Diagnostic::warning(
                format!("sync group `{}`: notify hooks and tracking at group level are not supported by vrrpd yet (instance-level ones are)", g.name),
                sites.get(Item::SyncGroup, &g.name, ""),
            ));
        }
    }
    if !config.scripts.is_empty() {
        out.push(Diagnostic::warning(
            "vrrp_script health checks are read but not run by vrrpd yet",
            None,
        ));
    }
    out
}
