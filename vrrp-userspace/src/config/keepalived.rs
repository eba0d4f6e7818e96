//! The keepalived.conf reader: tokens (see `lexer`) → blocks → the model.
//!
//! Every keyword a failover configuration relies on is read. A keepalived keyword vrrpd does
//! not act on is a warning naming it and its line, never silently dropped; a keyword
//! keepalived 2.2.7 does not know either (a typo such as `priorty`) is an error, as
//! `keepalived -t` reports it. Blocks nest at most [`MAX_DEPTH`] deep, so a hostile file
//! cannot exhaust the stack, and reading is linear in the file's size.
use std::{net::IpAddr, path::Path, str::FromStr};

use super::{
    defaults::{self, Written},
    diag::{Diagnostic, Item, Sites, Sources},
    lexer::{self, Kind, Token},
    model::{
        AuthKind, Authentication, Config, Garp, InitialState, Instance, Notify, Priority, Script,
        Seconds, Secret, SyncGroup, Track, TrackFile, Version, VirtualAddress, Vrid,
    },
};

/// Blocks nested deeper than this are an error. keepalived's deepest real nesting is four
/// (`virtual_server { real_server { HTTP_GET { url { } } } }`).
pub const MAX_DEPTH: usize = 32;

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
    parse_bytes(path, text.as_bytes(), sources, diagnostics)
}

/// Like [`parse_str`], for bytes (keepalived.conf need not be UTF-8).
pub fn parse_bytes(
    path: &Path,
    text: &[u8],
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
    let nodes = match statements(&tokens, &mut at, None, 0) {
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

/// Reads statements until the end, or until the `}` closing the block opened at `open`,
/// `depth` blocks deep.
fn statements(
    tokens: &[Token],
    at: &mut usize,
    open: Option<&Token>,
    depth: usize,
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
                            if depth >= MAX_DEPTH {
                                return Err(Diagnostic::error(
                                    format!("blocks nested more than {MAX_DEPTH} deep"),
                                    Some(next.span.clone()),
                                )
                                .with_help("keepalived configurations nest a few blocks deep: is a `}` missing?"));
                            }
                            node.block = Some(statements(tokens, at, Some(next), depth + 1)?);
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

    /// A keyword this reader does not act on, in `block`: a warning when keepalived knows
    /// it there, else an error (keepalived's "Unknown keyword"), with the nearest keyword.
    fn unsupported(&mut self, node: &Node, block: Block, context: &str) {
        let keyword = node.keyword.text.as_str();
        let span = Some(node.keyword.span.clone());
        if block.keepalived().contains(&keyword) {
            self.diagnostics.push(Diagnostic::warning(
                format!("keyword `{keyword}` in {context} is not supported by vrrpd yet; ignored"),
                span,
            ));
            return;
        }
        let mut error =
            Diagnostic::error(format!("unknown keyword `{keyword}` in {context}"), span);
        if let Some(near) = nearest(keyword, block) {
            error = error.with_help(format!("did you mean `{near}`?"));
        }
        self.diagnostics.push(error);
    }

    /// The word `token` as text, or an error pointing at it.
    fn text(&mut self, token: &Token, what: &str) -> Option<String> {
        match token.utf8() {
            Some(text) => Some(text.to_owned()),
            None => {
                self.error(
                    token,
                    format!("this {what} has bytes that are not UTF-8 text"),
                );
                None
            }
        }
    }

    /// Records the value of `node` as written, for messages that quote it.
    fn written(&mut self, item: Item, name: &str, field: &str, node: &Node) {
        // A misplaced `auth_pass` is still a secret.
        if !node.args.is_empty() && node.keyword.bytes != b"auth_pass" {
            let text: Vec<&str> = node.args.iter().map(|t| t.text.as_str()).collect();
            self.sites.insert_value(item, name, field, &text.join(" "));
        }
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
        let mut words = Vec::new();
        for t in &node.args {
            words.push(self.text(t, "command")?);
        }
        Some(words.join(" "))
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
        let token = self.arg(node)?.clone();
        self.text(&token, "name")
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
                "vrrp_track_file" => self.track_file(node),
                _ => self.unsupported(node, Block::Top, "the top level"),
            }
        }
    }

    fn global(&mut self, node: &Node) {
        for n in self.block(node) {
            match n.keyword.text.as_str() {
                "router_id" => self.config.global.router_id = self.name(n),
                "script_user" => self.config.global.script_user = self.name(n),
                "notify_fifo" | "vrrp_notify_fifo" => {
                    self.config.global.notify_fifo = self.name(n);
                }
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
                _ => self.unsupported(n, Block::Global, "global_defs"),
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
            let mut reverse = false;
            let weight = match n.args.as_slice() {
                [] => None,
                [w, value, rest @ ..] if w.text == "weight" => {
                    let weight = value.text.parse::<i32>();
                    if weight.is_err() {
                        self.error(value, format!("weight `{}` is not an integer", value.text));
                    }
                    match rest {
                        [] => {}
                        [r] if r.text == "reverse" || r.text == "noreverse" => {
                            reverse = r.text == "reverse";
                        }
                        [other, ..] => self.error(
                            other,
                            format!("unexpected `{}`: expected `reverse`", other.text),
                        ),
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
                reverse,
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
        let Some(name) = self.text(&name_token, "name") else {
            return;
        };
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
            virtual_addresses_excluded: Vec::new(),
            preempt: true,
            preempt_delay: Seconds::default(),
            track_interfaces: Vec::new(),
            track_scripts: Vec::new(),
            track_files: Vec::new(),
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
                "virtual_ipaddress_excluded" => "virtual_addresses_excluded",
                "track_interface" => "track_interfaces",
                "track_script" => "track_scripts",
                "track_file" => "track_files",
                "unicast_peer" => "unicast_peers",
                "unicast_src_ip" | "mcast_src_ip" => "unicast_src",
                "nopreempt" => "preempt",
                other => other,
            };
            self.site(Item::Instance, &name, field, &n.keyword);
            self.written(Item::Instance, &name, field, n);
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
                        written.version = Some(v);
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
                "virtual_ipaddress_excluded" => {
                    for a in self.block(n) {
                        if let Some(v) = self.virtual_address(a) {
                            instance.virtual_addresses_excluded.push(v);
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
                "track_file" => instance.track_files = self.tracks(n),
                "garp_master_delay"
                | "garp_master_repeat"
                | "garp_master_refresh"
                | "garp_master_refresh_repeat"
                | "garp_lower_prio_delay"
                | "garp_lower_prio_repeat" => {
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
                        _ => {
                            g2.lower_prio_repeat =
                                self.number(n, "repeat count").or(g2.lower_prio_repeat)
                        }
                    }
                    garp = Some(g2);
                }
                // keepalived's vrrp_srcip_handler: both name the address adverts are sent from.
                "unicast_src_ip" | "mcast_src_ip" => {
                    instance.unicast_src = self.parsed(n, parse_ip);
                }
                "unicast_peer" => {
                    for p in self.block(n) {
                        match parse_ip(&p.keyword.text) {
                            Ok(ip) => instance.unicast_peers.push(ip),
                            Err(message) => self.error(&p.keyword, message),
                        }
                    }
                }
                _ => self.unsupported(n, Block::Instance, &format!("vrrp_instance {name}")),
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
                // Bytes, as keepalived takes them; never quoted in a message.
                "auth_pass" => password = self.arg(n).map(|t| t.bytes.clone()),
                _ => self.unsupported(n, Block::Authentication, "authentication"),
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
                ("dev", Some(d)) => v.dev = self.text(d, "interface name"),
                ("label", Some(l)) => v.label = self.text(l, "label"),
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
        let Some(name) = self.text(&name_token, "name") else {
            return;
        };
        self.site(Item::SyncGroup, &name, "", &name_token);
        self.site(Item::SyncGroup, &name, "name", &name_token);
        let mut group = SyncGroup {
            name: name.clone(),
            members: Vec::new(),
            notify: Notify::default(),
            track_interfaces: Vec::new(),
            track_scripts: Vec::new(),
            track_files: Vec::new(),
            tracking_weight: false,
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
                "track_file" => group.track_files = self.tracks(n),
                "sync_group_tracking_weight" | "global_tracking" => group.tracking_weight = true,
                _ => self.unsupported(n, Block::SyncGroup, &format!("vrrp_sync_group {name}")),
            }
        }
        self.config.sync_groups.push(group);
    }

    fn script(&mut self, node: &Node) {
        let Some(name_token) = self.arg(node).cloned() else {
            return;
        };
        let Some(name) = self.text(&name_token, "name") else {
            return;
        };
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
            reverse: false,
            init_fail: false,
            user: None,
        };
        for n in self.block(node) {
            self.site(Item::Script, &name, &n.keyword.text, &n.keyword);
            self.written(Item::Script, &name, &n.keyword.text, n);
            match n.keyword.text.as_str() {
                "script" => script.command = self.command(n).unwrap_or_default(),
                "interval" => script.interval = self.seconds(n).unwrap_or(script.interval),
                "timeout" => script.timeout = self.seconds(n),
                "rise" => script.rise = self.number(n, "count").unwrap_or(1),
                "fall" => script.fall = self.number(n, "count").unwrap_or(1),
                "weight" => {
                    script.weight = self.number(n, "weight").unwrap_or(0);
                    script.reverse = n.args.get(1).is_some_and(|t| t.text == "reverse");
                }
                "init_fail" => script.init_fail = true,
                "user" => script.user = self.command(n),
                _ => self.unsupported(n, Block::Script, &format!("vrrp_script {name}")),
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

    /// keepalived's `vrrp_track_file NAME { file PATH; weight N [reverse] }` (default
    /// weight 1).
    fn track_file(&mut self, node: &Node) {
        let Some(name_token) = self.arg(node).cloned() else {
            return;
        };
        let Some(name) = self.text(&name_token, "name") else {
            return;
        };
        let mut track = TrackFile {
            name: name.clone(),
            file: String::new(),
            weight: 1,
            reverse: false,
        };
        for n in self.block(node) {
            match n.keyword.text.as_str() {
                "file" => track.file = self.command(n).unwrap_or_default(),
                "weight" => {
                    track.weight = self.number(n, "weight").unwrap_or(1);
                    track.reverse = n.args.get(1).is_some_and(|t| t.text == "reverse");
                }
                "init_file" => self.diagnostics.push(Diagnostic::warning(
                    format!("keyword `init_file` in vrrp_track_file {name} is not supported by vrrpd yet; ignored"),
                    Some(n.keyword.span.clone()),
                )),
                other => {
                    let other = other.to_owned();
                    self.error(
                        &n.keyword,
                        format!("unknown keyword `{other}` in vrrp_track_file {name}"),
                    );
                }
            }
        }
        if track.file.is_empty() {
            self.error(&name_token, format!("vrrp_track_file {name} has no `file`"));
        }
        self.config.track_files.push(track);
    }
}

fn parse_ip(text: &str) -> Result<IpAddr, String> {
    text.parse()
        .map_err(|_| format!("`{text}` is not an IPv4 or IPv6 address"))
}

/// A kind of block, for the keywords keepalived accepts in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Block {
    Top,
    Global,
    Instance,
    SyncGroup,
    Script,
    Authentication,
}

impl Block {
    /// Every keyword keepalived 2.2.7 accepts in this block (found by asking
    /// `keepalived -t` about each word of its binary and its manual page), including those
    /// this reader acts on.
    fn keepalived(self) -> &'static [&'static str] {
        match self {
            Self::Top => keywords::TOP,
            Self::Global => keywords::GLOBAL,
            Self::Instance => keywords::INSTANCE,
            Self::SyncGroup => keywords::SYNC_GROUP,
            Self::Script => keywords::SCRIPT,
            Self::Authentication => keywords::AUTHENTICATION,
        }
    }
}

/// The keyword of `block` nearest to an unknown `word`, when it is near enough to be a typo
/// (edit distance at most 2, or a third of the word).
fn nearest(word: &str, block: Block) -> Option<&'static str> {
    if word.len() > 64 {
        // No keyword is that long; and the comparison would cost as much as the word.
        return None;
    }
    let limit = (word.chars().count() / 3).max(2);
    block
        .keepalived()
        .iter()
        .map(|k| (distance(word, k), *k))
        .filter(|(d, _)| *d <= limit)
        .min()
        .map(|(_, k)| k)
}

/// Levenshtein distance (both words are short keywords).
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut previous = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous + usize::from(ca != *cb);
            previous = row[j + 1];
            row[j + 1] = substitution.min(row[j] + 1).min(previous + 1);
        }
    }
    row[b.len()]
}

/// keepalived 2.2.7's keywords, per block.
mod keywords {
    pub const TOP: &[&str] = &[
        "bfd_instance",
        "child_wait_time",
        "garp_group",
        "global_defs",
        "instance",
        "interface_up_down_delays",
        "linkbeat_interfaces",
        "linkbeat_use_polling",
        "namespace_with_ipsets",
        "net_namespace",
        "net_namespace_ipvs",
        "static_ipaddress",
        "static_routes",
        "static_rules",
        "track_file",
        "track_group",
        "use_pid_dir",
        "virtual_server",
        "virtual_server_group",
        "vrrp_instance",
        "vrrp_script",
        "vrrp_sync_group",
        "vrrp_track_file",
        "vrrp_track_process",
    ];

    pub const GLOBAL: &[&str] = &[
        "bfd_cpu_affinity",
        "bfd_no_swap",
        "bfd_priority",
        "bfd_process_name",
        "bfd_rlimit_rtime",
        "bfd_rlimit_rttime",
        "bfd_rt_priority",
        "checker_cpu_affinity",
        "checker_log_all_failures",
        "checker_no_swap",
        "checker_priority",
        "checker_process_name",
        "checker_rlimit_rtime",
        "checker_rlimit_rttime",
        "checker_rt_priority",
        "config_save_dir",
        "data_use_instance",
        "dbus_service_name",
        "default_interface",
        "disable_local_igmp",
        "dynamic_interfaces",
        "enable_dbus",
        "enable_script_security",
        "enable_snmp_checker",
        "enable_snmp_keepalived",
        "enable_snmp_rfc",
        "enable_snmp_rfcv2",
        "enable_snmp_rfcv3",
        "enable_snmp_vrrp",
        "enable_traps",
        "fifo_write_vrrp_states_on_reload",
        "include_check",
        "log_unknown_vrids",
        "lvs_flush",
        "lvs_flush_on_stop",
        "lvs_flush_onstop",
        "lvs_netlink_cmd_rcv_bufs",
        "lvs_netlink_cmd_rcv_bufs_force",
        "lvs_netlink_monitor_rcv_bufs",
        "lvs_netlink_monitor_rcv_bufs_force",
        "lvs_notify_fifo",
        "lvs_notify_fifo_script",
        "lvs_process_name",
        "lvs_sync_daemon",
        "lvs_timeouts",
        "max_auto_priority",
        "min_auto_priority_delay",
        "nftables",
        "nftables_counters",
        "nftables_ifindex",
        "nftables_ipvs",
        "nftables_ipvs_priority",
        "nftables_ipvs_start_fwmark",
        "nftables_priority",
        "no_checker_emails",
        "no_email_faults",
        "notification_email",
        "notification_email_from",
        "notify_fifo",
        "notify_fifo_script",
        "process_monitor_rcv_bufs",
        "process_monitor_rcv_bufs_force",
        "process_name",
        "process_names",
        "random_seed",
        "reload_check_config",
        "reload_file",
        "reload_repeat",
        "reload_time_file",
        "router_id",
        "rs_init_notifies",
        "script_user",
        "shutdown_script",
        "shutdown_script_timeout",
        "smtp_alert",
        "smtp_alert_checker",
        "smtp_alert_vrrp",
        "smtp_connect_timeout",
        "smtp_helo_name",
        "smtp_server",
        "snmp_socket",
        "startup_script",
        "startup_script_timeout",
        "tmp_config_directory",
        "umask",
        "vmac_addr_prefix",
        "vmac_prefix",
        "vrrp_check_unicast_src",
        "vrrp_cpu_affinity",
        "vrrp_down_timer_adverts",
        "vrrp_garp_extra_if",
        "vrrp_garp_interval",
        "vrrp_garp_lower_prio_delay",
        "vrrp_garp_lower_prio_repeat",
        "vrrp_garp_master_delay",
        "vrrp_garp_master_refresh",
        "vrrp_garp_master_refresh_repeat",
        "vrrp_garp_master_repeat",
        "vrrp_gna_interval",
        "vrrp_higher_prio_send_advert",
        "vrrp_iptables",
        "vrrp_lower_prio_no_advert",
        "vrrp_mcast_group4",
        "vrrp_mcast_group6",
        "vrrp_min_garp",
        "vrrp_netlink_cmd_rcv_bufs",
        "vrrp_netlink_cmd_rcv_bufs_force",
        "vrrp_netlink_monitor_rcv_bufs",
        "vrrp_netlink_monitor_rcv_bufs_force",
        "vrrp_no_swap",
        "vrrp_notify_fifo",
        "vrrp_notify_fifo_script",
        "vrrp_notify_priority_changes",
        "vrrp_priority",
        "vrrp_process_name",
        "vrrp_rlimit_rtime",
        "vrrp_rlimit_rttime",
        "vrrp_rt_priority",
        "vrrp_rx_bufs_multiplier",
        "vrrp_rx_bufs_policy",
        "vrrp_skip_check_adv_addr",
        "vrrp_startup_delay",
        "vrrp_strict",
        "vrrp_version",
        "vrrp_vmac_garp_intvl",
    ];

    pub const INSTANCE: &[&str] = &[
        "accept",
        "advert_int",
        "authentication",
        "check_unicast_src",
        "debug",
        "dont_track_primary",
        "down_timer_adverts",
        "garp_extra_if",
        "garp_lower_prio_delay",
        "garp_lower_prio_repeat",
        "garp_master_delay",
        "garp_master_refresh",
        "garp_master_refresh_repeat",
        "garp_master_repeat",
        "higher_prio_send_advert",
        "interface",
        "kernel_rx_buf_size",
        "linkbeat_use_polling",
        "lower_prio_no_advert",
        "lvs_sync_daemon_interface",
        "mcast_dst_ip",
        "mcast_src_ip",
        "native_ipv6",
        "no_accept",
        "nopreempt",
        "notify",
        "notify_backup",
        "notify_deleted",
        "notify_fault",
        "notify_master",
        "notify_master_rx_lower_pri",
        "notify_priority_changes",
        "notify_stop",
        "old_unicast_checksum",
        "preempt",
        "preempt_delay",
        "priority",
        "promote_secondaries",
        "skip_check_adv_addr",
        "smtp_alert",
        "state",
        "strict_mode",
        "track_bfd",
        "track_file",
        "track_interface",
        "track_process",
        "track_script",
        "track_src_ip",
        "unicast_fault_no_peer",
        "unicast_peer",
        "unicast_src_ip",
        "unicast_ttl",
        "use_ipvlan",
        "use_vmac",
        "use_vmac_addr",
        "version",
        "virtual_ipaddress",
        "virtual_ipaddress_excluded",
        "virtual_router_id",
        "virtual_routes",
        "virtual_rules",
        "vmac_xmit_base",
        "vrf",
    ];

    pub const SYNC_GROUP: &[&str] = &[
        "global_tracking",
        "group",
        "notify",
        "notify_backup",
        "notify_fault",
        "notify_master",
        "notify_priority_changes",
        "notify_stop",
        "smtp_alert",
        "sync_group_tracking_weight",
        "track_bfd",
        "track_file",
        "track_interface",
        "track_process",
        "track_script",
    ];

    pub const SCRIPT: &[&str] = &[
        "fall",
        "init_fail",
        "interval",
        "rise",
        "script",
        "timeout",
        "user",
        "weight",
    ];

    pub const AUTHENTICATION: &[&str] = &["auth_pass", "auth_type"];
}
