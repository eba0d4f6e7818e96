//! The keepalived.conf reader: tokens (see `lexer`) → blocks → the model.
//!
//! Every keyword a failover configuration relies on is read. A keyword vrrpd does not
//! support yet is a warning naming it and its line, never silently dropped.
use std::{net::IpAddr, path::Path, str::FromStr};

use super::{
    defaults::{self, Written},
    diag::{Diagnostic, Item, Sites, Sources},
    lexer::{self, Kind, Token},
    model::{
        AuthKind, Authentication, Config, Garp, InitialState, Instance, Notify, Priority, Script,
        Seconds, Secret, SyncGroup, Track, Version, VirtualAddress, Vrid,
    },
};

/// One statement: a keyword, its arguments, and its block if it has one.
#[derive(Debug, Clone)]
struct Node {
    keyword: Token,
    args: Vec<Token>,
    block: Option<Vec<Node>>,
}

/// Reads `path` (and its includes). Errors and warnings go to `diagnostics`; the model is
/// returned when the file could be read and its blocks balance, even if errors were found
/// (the caller decides).
pub fn parse(
    path: &Path,
    sources: &mut Sources,
    diagnostics: &mut Vec<Diagnostic>,
) -> Option<(Config, Sites)> {
    let tokens = lexer::lex_file(path, sources, diagnostics);
    from_tokens(tokens, diagnostics)
}

/// Like [`parse`], for text already in memory, as if read from `path`.
pub fn parse_str(
    path: &Path,
    text: &str,
    sources: &mut Sources,
    diagnostics: &mut Vec<Diagnostic>,
) -> Option<(Config, Sites)> {
    let tokens = lexer::lex_str(path, text, sources, diagnostics);
    from_tokens(tokens, diagnostics)
}

fn from_tokens(
    tokens: Result<Vec<Token>, Diagnostic>,
    diagnostics: &mut Vec<Diagnostic>,
) -> Option<(Config, Sites)> {
    let tokens = match tokens {
        Ok(tokens) => tokens,
        Err(error) => {
            diagnostics.push(error);
            return None;
        }
    };
    let mut at = 0;
    let nodes = match statements(&tokens, &mut at, None) {
        Ok(nodes) => nodes,
        Err(error) => {
            diagnostics.push(error);
            return None;
        }
    };
    let mut reader = Reader {
        diagnostics,
        sites: Sites::default(),
        config: Config::default(),
        default_version: Version::V2,
    };
    reader.top(&nodes);
    let Reader { config, sites, .. } = reader;
    Some((config, sites))
}

/// Reads statements until the end, or until the `}` closing the block opened at `open`.
fn statements(
    tokens: &[Token],
    at: &mut usize,
    open: Option<&Token>,
) -> Result<Vec<Node>, Diagnostic> {
    let mut nodes = Vec::new();
    while let Some(token) = tokens.get(*at) {
        *at += 1;
        match token.kind {
            Kind::EndOfLine => {}
            Kind::Close => {
                return match open {
                    Some(_) => Ok(nodes),
                    None => Err(Diagnostic::error(
                        "`}` without a matching `{`",
                        Some(token.span.clone()),
                    )),
                };
            }
            Kind::Open => {
                return Err(Diagnostic::error(
                    "`{` without a keyword before it",
                    Some(token.span.clone()),
                ));
            }
            Kind::Word => {
                let mut node = Node {
                    keyword: token.clone(),
                    args: Vec::new(),
                    block: None,
                };
                while let Some(next) = tokens.get(*at) {
                    match next.kind {
                        Kind::Word => {
                            node.args.push(next.clone());
                            *at += 1;
                        }
                        Kind::Open => {
                            *at += 1;
                            node.block = Some(statements(tokens, at, Some(next))?);
                            break;
                        }
                        Kind::EndOfLine => {
                            *at += 1;
                            break;
                        }
                        Kind::Close => break,
                    }
                }
                nodes.push(node);
            }
        }
    }
    match open {
        Some(open) => Err(
            Diagnostic::error("this `{` is never closed", Some(open.span.clone()))
                .with_help("add the missing `}`"),
        ),
        None => Ok(nodes),
    }
}

/// What a block said about one of its settings.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Setting<T> {
    /// Not written.
    Unset,
    /// Written, but not valid: already reported where it was written.
    Invalid,
    Set(T),
}

impl<T> Setting<T> {
    /// The outcome of reading a setting that was written (`None`: reported invalid).
    fn read(value: Option<T>) -> Self {
        value.map_or(Self::Invalid, Self::Set)
    }
}

struct Reader<'a> {
    diagnostics: &'a mut Vec<Diagnostic>,
    sites: Sites,
    config: Config,
    default_version: Version,
}

impl Reader<'_> {
    fn error(&mut self, token: &Token, message: impl Into<String>) {
        self.diagnostics
            .push(Diagnostic::error(message, Some(token.span.clone())));
    }

    fn unsupported(&mut self, node: &Node, context: &str) {
        self.diagnostics.push(Diagnostic::warning(
            format!(
                "keyword `{}` in {context} is not supported by vrrpd yet; ignored",
                node.keyword.text
            ),
            Some(node.keyword.span.clone()),
        ));
    }

    /// The single argument of `node`, or an error.
    fn arg<'n>(&mut self, node: &'n Node) -> Option<&'n Token> {
        let first = node.args.first();
        if first.is_none() {
            self.error(
                &node.keyword,
                format!("`{}` needs a value", node.keyword.text),
            );
        }
        first
    }

    fn parsed<T>(
        &mut self,
        node: &Node,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Option<T> {
        let token = self.arg(node)?.clone();
        match parse(&token.text) {
            Ok(value) => Some(value),
            Err(message) => {
                self.error(&token, message);
                None
            }
        }
    }

    fn number<T: FromStr>(&mut self, node: &Node, what: &str) -> Option<T> {
        self.parsed(node, |t| {
            t.parse()
                .map_err(|_| format!("`{t}` is not a valid {what}"))
        })
    }

    fn seconds(&mut self, node: &Node) -> Option<Seconds> {
        self.parsed(node, Seconds::from_str)
    }

    /// A command: all arguments joined (keepalived takes the rest of the line).
    fn command(&mut self, node: &Node) -> Option<String> {
        self.arg(node)?;
        Some(
            node.args
                .iter()
                .map(|t| t.text.as_str())
                .collect::<Vec<_>>()
                .join(" "),
        )
    }

    fn block<'n>(&mut self, node: &'n Node) -> &'n [Node] {
        match &node.block {
            Some(block) => block,
            None => {
                self.error(
                    &node.keyword,
                    format!("`{}` needs a `{{ ... }}` block", node.keyword.text),
                );
                &[]
            }
        }
    }

    fn name(&mut self, node: &Node) -> Option<String> {
        self.arg(node).map(|t| t.text.clone())
    }

    fn top(&mut self, nodes: &[Node]) {
        // global_defs first: it sets defaults (vrrp_version) for every instance.
        for node in nodes.iter().filter(|n| n.keyword.text == "global_defs") {
            self.global(node);
        }
        for node in nodes {
            match node.keyword.text.as_str() {
                "global_defs" => {}
                "vrrp_instance" => self.instance(node),
                "vrrp_sync_group" => self.sync_group(node),
                "vrrp_script" => self.script(node),
                _ => self.unsupported(node, "the top level"),
            }
        }
    }

    fn global(&mut self, node: &Node) {
        for n in self.block(node) {
            match n.keyword.text.as_str() {
                "router_id" => self.config.global.router_id = self.name(n),
                "script_user" => self.config.global.script_user = self.name(n),
                "vrrp_version" => {
                    if let Some(v) = self.version(n) {
                        self.default_version = v;
                    }
                }
                "vrrp_garp_master_delay" => {
                    if let Some(v) = self.seconds(n) {
                        self.config.global.garp.master_delay = v;
                    }
                }
                "vrrp_garp_master_repeat" => {
                    if let Some(v) = self.number(n, "repeat count") {
                        self.config.global.garp.master_repeat = v;
                    }
                }
                "vrrp_garp_master_refresh" => {
                    if let Some(v) = self.seconds(n) {
                        self.config.global.garp.master_refresh = v;
                    }
                }
                "vrrp_garp_lower_prio_delay" => {
                    if let Some(v) = self.seconds(n) {
                        self.config.global.garp.lower_prio_delay = Some(v);
                    }
                }
                "vrrp_garp_lower_prio_repeat" => {
                    if let Some(v) = self.number(n, "repeat count") {
                        self.config.global.garp.lower_prio_repeat = Some(v);
                    }
                }
                "vrrp_garp_master_refresh_repeat" => {
                    if let Some(v) = self.number(n, "repeat count") {
                        self.config.global.garp.master_refresh_repeat = v;
                    }
                }
                "vrrp_garp_interval" => {
                    if let Some(v) = self.seconds(n) {
                        self.config.global.garp.interval = v;
                    }
                }
                _ => self.unsupported(n, "global_defs"),
            }
        }
    }

    fn version(&mut self, node: &Node) -> Option<Version> {
        self.parsed(node, |t| match t {
            "2" => Ok(Version::V2),
            "3" => Ok(Version::V3),
            _ => Err(format!("VRRP version `{t}` is not 2 or 3")),
        })
    }

    fn tracks(&mut self, node: &Node) -> Vec<Track> {
        let mut out = Vec::new();
        for n in self.block(node) {
            let weight = match n.args.as_slice() {
                [] => None,
                [w, value] if w.text == "weight" => {
                    let weight = value.text.parse::<i32>();
                    if weight.is_err() {
                        self.error(value, format!("weight `{}` is not an integer", value.text));
                    }
                    weight.ok()
                }
                [other, ..] => {
                    self.error(
                        other,
                        format!("unexpected `{}`: expected `weight N`", other.text),
                    );
                    None
                }
            };
            out.push(Track {
                name: n.keyword.text.clone(),
                weight,
            });
        }
        out
    }

    fn notify(&mut self, notify: &mut Notify, node: &Node) -> bool {
        let slot = match node.keyword.text.as_str() {
            "notify_master" => &mut notify.master,
            "notify_backup" => &mut notify.backup,
            "notify_fault" => &mut notify.fault,
            "notify_stop" => &mut notify.stop,
            "notify" => &mut notify.any,
            _ => return false,
        };
        *slot = self.command(node);
        true
    }

    fn site(&mut self, item: Item, name: &str, field: &str, token: &Token) {
        self.sites.insert(item, name, field, token.span.clone());
    }

    fn instance(&mut self, node: &Node) {
        let Some(name_token) = self.arg(node).cloned() else {
            return;
        };
        let name = name_token.text.clone();
        self.site(Item::Instance, &name, "", &name_token);
        self.site(Item::Instance, &name, "name", &name_token);
        let mut interface = None;
        let mut vrid = Setting::Unset;
        let mut written = Written::default();
        // Filled in from `written` by `defaults::complete` below.
        let mut instance = Instance {
            name: name.clone(),
            interface: String::new(),
            vrid: Vrid::try_from(1).unwrap_or_else(|_| unreachable!("1 is a valid VRID")),
            version: self.default_version,
            priority: Priority::DEFAULT,
            state: InitialState::Backup,
            advert_interval: Seconds::from_secs(1),
            authentication: None,
            virtual_addresses: Vec::new(),
            preempt: true,
            preempt_delay: Seconds::default(),
            track_interfaces: Vec::new(),
            track_scripts: Vec::new(),
            notify: Notify::default(),
            garp: None,
            unicast_src: None,
            unicast_peers: Vec::new(),
        };
        let mut garp: Option<Garp> = None;
        for n in self.block(node) {
            let keyword = n.keyword.text.as_str();
            let field = match keyword {
                "virtual_router_id" => "vrid",
                "advert_int" => "advert_interval",
                "virtual_ipaddress" => "virtual_addresses",
                "track_interface" => "track_interfaces",
                "track_script" => "track_scripts",
                "unicast_peer" => "unicast_peers",
                "unicast_src_ip" => "unicast_src",
                "nopreempt" => "preempt",
                other => other,
            };
            self.site(Item::Instance, &name, field, &n.keyword);
            if self.notify(&mut instance.notify, n) {
                continue;
            }
            match keyword {
                "state" => match self.parsed(n, |t| match t {
                    "MASTER" => Ok(InitialState::Master),
                    "BACKUP" => Ok(InitialState::Backup),
                    _ => Err(format!("state `{t}` is not MASTER or BACKUP")),
                }) {
                    // keepalived's vrrp_state_handler: MASTER, once written, stays.
                    Some(InitialState::Backup) if written.state == Some(InitialState::Master) => {
                        self.diagnostics.push(Diagnostic::warning(
                            format!("({name}) state previously set as MASTER - ignoring BACKUP"),
                            Some(n.keyword.span.clone()),
                        ))
                    }
                    Some(s) => written.state = Some(s),
                    None => {}
                },
                "interface" => interface = self.name(n),
                "virtual_router_id" => {
                    vrid = Setting::read(self.parsed(n, |t| {
                        t.parse::<u64>()
                            .map_err(|_| {
                                format!("virtual router id `{t}` is not a number: must be 1-255")
                            })
                            .and_then(Vrid::try_from)
                    }))
                }
                "priority" => {
                    if let Some(p) = self.parsed(n, |t| {
                        t.parse::<u64>()
                            .map_err(|_| format!("priority `{t}` is not a number: must be 1-255"))
                            .and_then(Priority::try_from)
                    }) {
                        written.priority = Some(p);
                    }
                }
                "advert_int" => {
                    if let Some(s) = self.seconds(n) {
                        instance.advert_interval = s;
                    }
                }
                "version" => {
                    if let Some(v) = self.version(n) {
                        instance.version = v;
                    }
                }
                "authentication" => instance.authentication = self.authentication(n),
                "virtual_ipaddress" => {
                    for a in self.block(n) {
                        if let Some(v) = self.virtual_address(a) {
                            instance.virtual_addresses.push(v);
                        }
                    }
                }
                "nopreempt" => instance.preempt = false,
                "preempt" => instance.preempt = true,
                "preempt_delay" => {
                    if let Some(s) = self.seconds(n) {
                        instance.preempt_delay = s;
                    }
                }
                "track_interface" => instance.track_interfaces = self.tracks(n),
                "track_script" => instance.track_scripts = self.tracks(n),
                "garp_master_delay"
                | "garp_master_repeat"
                | "garp_master_refresh"
                | "garp_master_refresh_repeat"
                | "garp_lower_prio_delay"
                | "garp_lower_prio_repeat"
                | "garp_interval" => {
                    let mut g2 = garp.unwrap_or(self.config.global.garp);
                    match keyword {
                        "garp_master_delay" => {
                            g2.master_delay = self.seconds(n).unwrap_or(g2.master_delay)
                        }
                        "garp_master_repeat" => {
                            g2.master_repeat =
                                self.number(n, "repeat count").unwrap_or(g2.master_repeat)
                        }
                        "garp_master_refresh" => {
                            g2.master_refresh = self.seconds(n).unwrap_or(g2.master_refresh)
                        }
                        "garp_master_refresh_repeat" => {
                            g2.master_refresh_repeat = self
                                .number(n, "repeat count")
                                .unwrap_or(g2.master_refresh_repeat)
                        }
                        "garp_lower_prio_delay" => {
                            g2.lower_prio_delay = self.seconds(n).or(g2.lower_prio_delay)
                        }
                        "garp_lower_prio_repeat" => {
                            g2.lower_prio_repeat =
                                self.number(n, "repeat count").or(g2.lower_prio_repeat)
                        }
                        _ => g2.interval = self.seconds(n).unwrap_or(g2.interval),
                    }
                    garp = Some(g2);
                }
                "unicast_src_ip" => instance.unicast_src = self.parsed(n, parse_ip),
                "unicast_peer" => {
                    for p in self.block(n) {
                        match parse_ip(&p.keyword.text) {
                            Ok(ip) => instance.unicast_peers.push(ip),
                            Err(message) => self.error(&p.keyword, message),
                        }
                    }
                }
                _ => self.unsupported(n, &format!("vrrp_instance {name}")),
            }
        }
        instance.garp = garp;
        let warnings = defaults::complete(&mut instance, written, &self.sites);
        self.diagnostics.extend(warnings);
        match interface {
            Some(i) => instance.interface = i,
            None => self.error(&name_token, format!("({name}) has no `interface`")),
        }
        match vrid {
            Setting::Set(v) => instance.vrid = v,
            Setting::Invalid => {}
            Setting::Unset => self.error(
                &name_token,
                format!("({name}) has no `virtual_router_id` (1-255)"),
            ),
        }
        self.config.instances.push(instance);
    }

    fn authentication(&mut self, node: &Node) -> Option<Authentication> {
        let mut kind = None;
        let mut password = None;
        for n in self.block(node) {
            match n.keyword.text.as_str() {
                "auth_type" => {
                    kind = self.parsed(n, |t| match t {
                        "AH" => Ok(AuthKind::Ah),
                        "PASS" => Ok(AuthKind::Pass),
                        _ => Err(format!("auth_type `{t}` is not AH or PASS")),
                    })
                }
                "auth_pass" => password = self.name(n),
                _ => self.unsupported(n, "authentication"),
            }
        }
        match (kind, password) {
            (Some(kind), Some(password)) => Some(Authentication {
                kind,
                password: Secret(password),
            }),
            (None, _) => {
                self.error(
                    &node.keyword,
                    "authentication needs `auth_type AH` or `auth_type PASS`",
                );
                None
            }
            (Some(_), None) => {
                self.error(&node.keyword, "authentication needs `auth_pass`");
                None
            }
        }
    }

    fn virtual_address(&mut self, node: &Node) -> Option<VirtualAddress> {
        let (address, prefix_len) = match VirtualAddress::parse_cidr(&node.keyword.text) {
            Ok(parsed) => parsed,
            Err(message) => {
                self.error(&node.keyword, message);
                return None;
            }
        };
        let mut v = VirtualAddress {
            address,
            prefix_len,
            dev: None,
            label: None,
        };
        let mut args = node.args.iter();
        while let Some(option) = args.next() {
            let value = args.next();
            match (option.text.as_str(), value) {
                ("dev", Some(d)) => v.dev = Some(d.text.clone()),
                ("label", Some(l)) => v.label = Some(l.text.clone()),
                ("brd" | "scope" | "broadcast", Some(_)) => {
                    self.diagnostics.push(Diagnostic::warning(
                        format!(
                            "virtual_ipaddress option `{}` is not supported by vrrpd yet; ignored",
                            option.text
                        ),
                        Some(option.span.clone()),
                    ))
                }
                (other, _) => {
                    self.error(option, format!("unexpected `{other}` after a virtual address: expected `dev IF` or `label NAME`"));
                    break;
                }
            }
        }
        Some(v)
    }

    fn sync_group(&mut self, node: &Node) {
        let Some(name_token) = self.arg(node).cloned() else {
            return;
        };
        let name = name_token.text.clone();
        self.site(Item::SyncGroup, &name, "", &name_token);
        self.site(Item::SyncGroup, &name, "name", &name_token);
        let mut group = SyncGroup {
            name: name.clone(),
            members: Vec::new(),
            notify: Notify::default(),
            track_interfaces: Vec::new(),
            track_scripts: Vec::new(),
        };
        for n in self.block(node) {
            if self.notify(&mut group.notify, n) {
                continue;
            }
            match n.keyword.text.as_str() {
                "group" => {
                    self.site(Item::SyncGroup, &name, "members", &n.keyword);
                    for m in self.block(n) {
                        self.site(
                            Item::SyncGroup,
                            &name,
                            &format!("member:{}", m.keyword.text),
                            &m.keyword,
                        );
                        group.members.push(m.keyword.text.clone());
                        for extra in &m.args {
                            self.site(
                                Item::SyncGroup,
                                &name,
                                &format!("member:{}", extra.text),
                                extra,
                            );
                            group.members.push(extra.text.clone());
                        }
                    }
                }
                "track_interface" => group.track_interfaces = self.tracks(n),
                "track_script" => {
                    self.site(Item::SyncGroup, &name, "track_scripts", &n.keyword);
                    group.track_scripts = self.tracks(n);
                }
                _ => self.unsupported(n, &format!("vrrp_sync_group {name}")),
            }
        }
        self.config.sync_groups.push(group);
    }

    fn script(&mut self, node: &Node) {
        let Some(name_token) = self.arg(node).cloned() else {
            return;
        };
        let name = name_token.text.clone();
        self.site(Item::Script, &name, "", &name_token);
        self.site(Item::Script, &name, "name", &name_token);
        let mut script = Script {
            name: name.clone(),
            command: String::new(),
            interval: Seconds::from_secs(1),
            timeout: None,
            rise: 1,
            fall: 1,
            weight: 0,
            user: None,
        };
        for n in self.block(node) {
            self.site(Item::Script, &name, &n.keyword.text, &n.keyword);
            match n.keyword.text.as_str() {
                "script" => script.command = self.command(n).unwrap_or_default(),
                "interval" => script.interval = self.seconds(n).unwrap_or(script.interval),
                "timeout" => script.timeout = self.seconds(n),
                "rise" => script.rise = self.number(n, "count").unwrap_or(1),
                "fall" => script.fall = self.number(n, "count").unwrap_or(1),
                "weight" => script.weight = self.number(n, "weight").unwrap_or(0),
                "user" => script.user = self.command(n),
                _ => self.unsupported(n, &format!("vrrp_script {name}")),
            }
        }
        if script.command.is_empty() {
            self.error(
                &name_token,
                format!("vrrp_script {name} has no `script` command"),
            );
        }
        self.config.scripts.push(script);
    }
}

fn parse_ip(text: &str) -> Result<IpAddr, String> {
    text.parse()
        .map_err(|_| format!("`{text}` is not an IPv4 or IPv6 address"))
}
