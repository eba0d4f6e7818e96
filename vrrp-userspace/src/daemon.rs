//! `vrrpd run --config`: the I/O shell around the [`Controller`]. It resolves the
//! instances' interfaces and addresses, loads and attaches the XDP program, opens the
//! packet sockets, then only translates: ring-buffer events, link changes, the clock,
//! signals and the control socket become [`Input`]s; the controller's actions reach the
//! world through [`Live`], this module's [`Platform`].
use std::{
    collections::{BTreeMap, HashMap, HashSet},
    net::{IpAddr, Ipv4Addr, Ipv6Addr},
    path::{Path, PathBuf},
    time::Duration,
};

use anyhow::Context as _;
use tokio::{
    signal::unix::{SignalKind, signal},
    time::Instant,
};
use vrrp_common::{
    counters::Counter,
    maps::{Event as KernelEvent, InstanceConfig, event},
};

use crate::{
    config::{
        Format,
        model::{AuthKind, Config, VirtualAddress},
    },
    controller::{Controller, Input, Reloaded},
    dataplane::Dataplane,
    fsm::{self, Event, Heard, SeenAdvert, State},
    netlink::{InterfaceAddress, LinkChange, Netlink},
    platform::{KernelDeadline, Platform},
    router::{Handles, VirtualRouter},
    sys::{GroupMembership, PacketSocket},
};

/// The real world: the XDP program's maps, rtnetlink, packet sockets, `/bin/sh`, tracing.
#[derive(Debug)]
pub struct Live {
    dp: Dataplane,
    nl: Netlink,
    /// The VRRP interfaces the program runs on, by name.
    bound: HashMap<String, Bound>,
    /// keepalived's `notify_fifo`, open.
    fifo: Option<std::fs::File>,
}

/// A VRRP interface as the daemon holds it: the program attached, a packet socket, and
/// VRRP's multicast group joined, all for the interface with this index. An interface
/// deleted and created again has another index: all three are taken again.
#[derive(Debug)]
struct Bound {
    index: u32,
    socket: PacketSocket,
    _groups: Vec<GroupMembership>,
}

impl Live {
    /// Attaches the program to `name`, opens its packet socket and joins VRRP's group for
    /// each family (IPv6: true) of the instances on it.
    fn bind(&mut self, name: &str, families: &[bool]) -> anyhow::Result<u32> {
        self.unbind(name);
        let mode = self.dp.attach_preferring_driver(name)?;
        tracing::info!(interface = name, %mode, "XDP program attached to {name} ({mode} mode)");
        let bound = (|| {
            let socket = PacketSocket::open(name)
                .with_context(|| format!("opening a packet socket on {name}"))?;
            let mut groups = Vec::new();
            for &v6 in families {
                groups.push(
                    GroupMembership::join(socket.if_index(), v6).with_context(|| {
                        format!(
                            "joining {} on {name}",
                            if v6 { "ff02::12" } else { "224.0.0.18" }
                        )
                    })?,
                );
            }
            anyhow::Ok(Bound {
                index: socket.if_index(),
                socket,
                _groups: groups,
            })
        })();
        match bound {
            Ok(bound) => {
                let index = bound.index;
                self.bound.insert(name.to_owned(), bound);
                Ok(index)
            }
            Err(error) => {
                let _ = self.dp.detach(name);
                Err(error)
            }
        }
    }

    /// Lets `name` go: program detached (already gone with a deleted interface), socket
    /// closed, group left.
    fn unbind(&mut self, name: &str) {
        if self.bound.remove(name).is_some()
            && let Err(error) = self.dp.detach(name)
        {
            tracing::debug!(interface = name, "detaching from {name}: {error}");
        }
    }
}

impl Platform for Live {
    fn set_state(&mut self, slot: u32, state: State) -> anyhow::Result<()> {
        Ok(self.dp.set_state(slot, state.kernel())?)
    }

    fn set_priority(&mut self, slot: u32, priority: u8) -> anyhow::Result<()> {
        Ok(self.dp.set_priority(slot, priority)?)
    }

    fn arm_master_down(&mut self, slot: u32, after: Duration) -> anyhow::Result<()> {
        Ok(self.dp.arm_timer(slot, after)?)
    }

    fn cancel_master_down(&mut self, slot: u32) -> anyhow::Result<()> {
        Ok(self.dp.cancel_timer(slot)?)
    }

    fn master_down_deadline(&mut self, slot: u32) -> anyhow::Result<KernelDeadline> {
        let md = self.dp.master_down(slot)?;
        if !md.pending() {
            return Ok(KernelDeadline::NotArmed);
        }
        let now_ns = crate::sys::monotonic_ns();
        Ok(if md.deadline_ns > now_ns {
            KernelDeadline::Pending(Duration::from_nanos(md.deadline_ns - now_ns))
        } else {
            KernelDeadline::Passed(seen_advert(&self.dp, slot, md.deadline_ns))
        })
    }

    fn advance_sequence(&mut self, slot: u32, by: u32) -> anyhow::Result<()> {
        let current = self.dp.sequence(slot)?;
        Ok(self.dp.set_sequence(slot, current.saturating_add(by))?)
    }

    fn next_sequence(&mut self, slot: u32) -> anyhow::Result<u32> {
        Ok(self.dp.next_sequence(slot)?)
    }

    async fn add_address(&mut self, ifindex: u32, vip: &VirtualAddress) -> anyhow::Result<()> {
        Ok(self
            .nl
            .add_address(ifindex, vip.address, vip.prefix_len, vip.label.as_deref())
            .await?)
    }

    async fn del_address(&mut self, ifindex: u32, address: IpAddr) -> anyhow::Result<()> {
        Ok(self.nl.del_address(ifindex, address).await?)
    }

    fn send(&mut self, interface: &str, frame: &[u8]) -> std::io::Result<()> {
        match self.bound.get(interface) {
            Some(bound) => bound.socket.send(frame),
            None => Err(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!("no packet socket on {interface}"),
            )),
        }
    }

    fn run_script(&mut self, command: &str) {
        match tokio::process::Command::new("/bin/sh")
            .arg("-c")
            .arg(command)
            .stdin(std::process::Stdio::null())
            .spawn()
        {
            // Reaped in the background: no zombie per transition, and no waiting.
            Ok(mut child) => {
                let command = command.to_owned();
                tokio::spawn(async move {
                    if let Ok(status) = child.wait().await
                        && !status.success()
                    {
                        tracing::warn!("notify `{command}` exited with {status}");
                    }
                });
            }
            Err(error) => tracing::warn!("notify `{command}` failed to start: {error}"),
        }
    }

    fn run_script_as(&mut self, command: &str, user: Option<&str>) {
        crate::scripts::notify(command, user);
    }

    fn notify_fifo(&mut self, line: &str) {
        use std::io::Write as _;
        if let Some(fifo) = &mut self.fifo
            && let Err(error) = writeln!(fifo, "{line}")
        {
            tracing::warn!("notify_fifo: {error}");
        }
    }

    fn log(&mut self, line: &str) {
        tracing::info!("{line}");
    }

    fn install(&mut self, slot: u32, config: &InstanceConfig) -> anyhow::Result<()> {
        Ok(self.dp.install(slot, config)?)
    }

    fn update(&mut self, slot: u32, config: &InstanceConfig) -> anyhow::Result<()> {
        Ok(self.dp.update(slot, config)?)
    }

    fn uninstall(&mut self, slot: u32) -> anyhow::Result<()> {
        Ok(self.dp.uninstall(slot)?)
    }
}

/// What `vrrpd status` shows: one line per instance (JSON objects with `--json`). Never
/// the password.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct InstanceStatus {
    pub name: String,
    pub interface: String,
    pub vrid: u8,
    pub priority: u8,
    pub state: String,
    /// VRRP version, 2 or 3.
    #[serde(default)]
    pub version: u8,
    /// Advert interval in centiseconds.
    #[serde(default)]
    pub advert_interval_cs: u16,
    /// `none`, `pass` or `ah`.
    #[serde(default)]
    pub auth_type: String,
    /// The sync group the instance is a member of.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sync_group: Option<String>,
    /// The virtual addresses: `address/prefix`, then ` dev NAME` when on another interface.
    #[serde(default)]
    pub virtual_addresses: Vec<String>,
    /// The master as this router knows it: its own address when MASTER, the sender of the
    /// last valid advert when BACKUP; none otherwise.
    #[serde(default)]
    pub master: Option<IpAddr>,
    /// The sender of the last valid advert the kernel saw, with its priority; none while
    /// MASTER (the last advert seen came from the master it replaced).
    pub last_advert_from: Option<IpAddr>,
    pub last_advert_priority: u8,
    /// The instance's non-zero counters (see docs/dataplane.md), with the daemon's
    /// `timer_fallbacks` (times the kernel refused to arm the master-down timer).
    pub counters: BTreeMap<String, u64>,
    /// Where the master-down timer runs: `kernel`, or `userspace` while the kernel could
    /// not arm it.
    #[serde(default = "kernel_timer")]
    pub master_down_timer: String,
    /// The configured priority (`priority` is the effective one, tracking applied).
    #[serde(default)]
    pub base_priority: u8,
    /// The master's priority: its own as MASTER, the last advert's as BACKUP.
    #[serde(default)]
    pub master_priority: Option<u8>,
    /// The virtual addresses it holds: all of them as MASTER, none otherwise.
    #[serde(default)]
    pub vips_held: Vec<String>,
    /// Its last change of state.
    #[serde(default)]
    pub last_transition: Option<TransitionStatus>,
    /// Changes of state, by the state entered (`MASTER`, ...).
    #[serde(default)]
    pub transitions: BTreeMap<String, u64>,
    /// Adverts sent, priority 0 included.
    #[serde(default)]
    pub adverts_sent: u64,
    /// Adverts received: the kernel's `valid` counter.
    #[serde(default)]
    pub adverts_received: u64,
    #[serde(default)]
    pub priority_zero_sent: u64,
    /// Priority 0 adverts the kernel reported.
    #[serde(default)]
    pub priority_zero_received: u64,
    /// Every kernel drop counter of the instance by reason, zeros included
    /// (`vrrp_common::counters::DROPS`, and `truncated`).
    #[serde(default)]
    pub drops: BTreeMap<String, u64>,
    /// Its sync group's state (as the group's notify hooks were last told).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sync_group_state: Option<String>,
}

/// An instance's last change of state, as `vrrpd status` shows it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TransitionStatus {
    /// When, in milliseconds since the Unix epoch.
    pub at_unix_ms: u64,
    pub from: String,
    pub to: String,
    /// `master_down`, `priority_zero`, `preempt`, ... ([`fsm::Reason`]).
    pub reason: String,
}

/// The kernel's drop reasons an instance has a counter for: `truncated` then
/// [`vrrp_common::counters::DROPS`].
pub fn drop_reasons() -> impl Iterator<Item = Counter> {
    Counter::ALL
        .into_iter()
        .filter(|c| *c == Counter::Truncated || c.is_drop())
}

fn kernel_timer() -> String {
    "kernel".to_owned()
}

/// The master and the last advert `vrrpd status` reports for an instance in `state` whose
/// own address is `own`, given the last valid advert the kernel saw (`(source, priority)`).
fn reported_master(
    state: State,
    own: IpAddr,
    last_advert: Option<(IpAddr, u8)>,
) -> (Option<IpAddr>, Option<(IpAddr, u8)>) {
    match state {
        State::Master => (Some(own), None),
        State::Backup => (last_advert.map(|(from, _)| from), last_advert),
        State::Init | State::Fault => (None, last_advert),
    }
}

/// One instance as `vrrpd status` prints it (two or three lines).
pub fn format_status(s: &InstanceStatus) -> String {
    let interval = f64::from(s.advert_interval_cs) / 100.0;
    let mut text = format!(
        "({}) {:<6} {} vrid {} priority {} VRRPv{} advert_int {interval}s auth {}",
        s.name, s.state, s.interface, s.vrid, s.priority, s.version, s.auth_type
    );
    if let Some(group) = &s.sync_group {
        text.push_str(&format!(" group {group}"));
    }
    let master = match (s.state.as_str(), s.master) {
        ("MASTER", _) => "this router".to_owned(),
        (_, Some(master)) => master.to_string(),
        (_, None) => "-".to_owned(),
    };
    let last = s.last_advert_from.map_or("-".to_owned(), |a| {
        format!("{a} (priority {})", s.last_advert_priority)
    });
    if s.master_down_timer != "kernel" {
        text.push_str(&format!(" timer {}", s.master_down_timer));
    }
    if s.base_priority != 0 && s.base_priority != s.priority {
        text.push_str(&format!(" (base {})", s.base_priority));
    }
    let list = |v: &[String]| {
        if v.is_empty() {
            "-".to_owned()
        } else {
            v.join(", ")
        }
    };
    let master_priority = s
        .master_priority
        .map_or(String::new(), |p| format!(" (priority {p})"));
    text.push_str(&format!(
        "\n    vips {}  held {}\n    master {master}{master_priority}  last advert from {last}",
        list(&s.virtual_addresses),
        list(&s.vips_held),
    ));
    let last = s.last_transition.as_ref().map_or("-".to_owned(), |t| {
        let age = now_unix_ms().saturating_sub(t.at_unix_ms);
        format!(
            "{} -> {} ({}) {:.1}s ago",
            t.from,
            t.to,
            t.reason,
            age as f64 / 1000.0
        )
    });
    let transitions: Vec<String> = s
        .transitions
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    text.push_str(&format!(
        "\n    last transition {last}  transitions {}\n    adverts in {} out {}  priority 0 in {} out {}",
        if transitions.is_empty() {
            "-".to_owned()
        } else {
            transitions.join(" ")
        },
        s.adverts_received,
        s.adverts_sent,
        s.priority_zero_received,
        s.priority_zero_sent,
    ));
    let drops: Vec<String> = s
        .drops
        .iter()
        .filter(|(_, v)| **v != 0)
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    text.push_str(&format!(
        "\n    drops {}",
        if drops.is_empty() {
            "none".to_owned()
        } else {
            drops.join(" ")
        }
    ));
    let counters: Vec<String> = s.counters.iter().map(|(k, v)| format!("{k}={v}")).collect();
    text.push_str(&format!(
        "\n    {}",
        if counters.is_empty() {
            "-".to_owned()
        } else {
            counters.join(" ")
        }
    ));
    text
}

/// The sync groups of `statuses`, one line each: `VRRP_Group(VG1) MASTER`.
pub fn format_groups(statuses: &[InstanceStatus]) -> String {
    let mut groups: BTreeMap<&str, &str> = BTreeMap::new();
    for s in statuses {
        if let Some(group) = &s.sync_group {
            groups
                .entry(group)
                .or_insert(s.sync_group_state.as_deref().unwrap_or("-"));
        }
    }
    groups
        .iter()
        .map(|(g, state)| format!("VRRP_Group({g}) {state}\n"))
        .collect()
}

fn now_unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// How long the daemon waits for a `vrrpd status` client to take its answer.
const STATUS_WRITE_TIMEOUT: Duration = Duration::from_millis(500);

/// How long the daemon waits for a control-socket client to say what it wants.
const REQUEST_TIMEOUT: Duration = Duration::from_millis(500);

/// What a client asks on the control socket: one line, then it reads the answer.
/// Nothing (a client that shuts its side, or says nothing within [`REQUEST_TIMEOUT`])
/// means `status`, as before requests existed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// `status`: one JSON [`InstanceStatus`] per line.
    Status,
    /// `reload`: one JSON [`ReloadAnswer`].
    Reload,
    /// Anything else (answered as a failed [`ReloadAnswer`] naming it).
    Unknown(String),
}

impl Request {
    /// The line a client sends.
    pub fn line(&self) -> &str {
        match self {
            Self::Status => "status",
            Self::Reload => "reload",
            Self::Unknown(text) => text,
        }
    }

    fn parse(text: &str) -> Self {
        match text.trim() {
            "" | "status" => Self::Status,
            "reload" => Self::Reload,
            other => Self::Unknown(other.chars().take(64).collect()),
        }
    }
}

/// The daemon's answer to [`Request::Reload`].
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ReloadAnswer {
    pub ok: bool,
    /// What the reload did, or why the file was refused (with its diagnostics).
    pub message: String,
}

/// Reads a client's request (at most one short line) without holding the event loop up.
async fn read_request(mut stream: tokio::net::UnixStream) -> (Request, tokio::net::UnixStream) {
    use tokio::io::AsyncReadExt as _;
    let mut text = Vec::new();
    let mut buffer = [0u8; 128];
    let _ = tokio::time::timeout(REQUEST_TIMEOUT, async {
        while text.len() < 256 && !text.contains(&b'\n') {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => break,
                Ok(n) => text.extend_from_slice(&buffer[..n]),
            }
        }
    })
    .await;
    let line = String::from_utf8_lossy(&text);
    (Request::parse(line.lines().next().unwrap_or("")), stream)
}

/// The daemon: the controller with the live platform, and the clock it runs on.
#[derive(Debug)]
pub struct Daemon {
    controller: Controller<Live>,
    started: Instant,
    /// `events_lost` as last seen: an increase means a kernel event may be missing.
    events_lost: u64,
    /// Where the configuration came from, to read it again on reload (none: standard
    /// input, which cannot be read twice).
    source: Option<(PathBuf, Option<Format>)>,
    /// ICV predictions for AH instances under attack (`predict`), driven once a second.
    predictor: crate::predict::Predictor,
    /// The instances whose source address is configured (`mcast_src_ip`,
    /// `unicast_src_ip`, YAML `source_address`): never re-chosen from the interface.
    configured_sources: HashMap<String, IpAddr>,
    /// The health checks (`vrrp_script`, tracked files) of the running configuration.
    checks: crate::scripts::Runner,
    /// Where Prometheus scrapes the metrics (`--metrics-listen`).
    metrics: Option<tokio::net::TcpListener>,
    /// From the kernel's stamp on each event to its intake here.
    event_latency: crate::metrics::EventLatency,
    /// Where the verified AH senders are kept across restarts (`--state`).
    state: Option<PathBuf>,
}

/// The address an instance sends from on an interface with `addresses` (in the kernel's
/// order), as keepalived chooses it: the first IPv4 address that is neither a secondary nor
/// a virtual address of ours (`ours`), or for IPv6 instances the first link-local one that
/// is not ours. A configured source address comes before this (see [`handles`]).
fn source_address(
    addresses: &[InterfaceAddress],
    v6: bool,
    ours: &HashSet<IpAddr>,
) -> Option<IpAddr> {
    addresses
        .iter()
        .filter(|a| !ours.contains(&a.address))
        .find(|a| match a.address {
            IpAddr::V4(_) => !v6 && !a.secondary,
            IpAddr::V6(v) => v6 && v.segments()[0] & 0xffc0 == 0xfe80,
        })
        .map(|a| a.address)
}

/// Every virtual address of `config` (advertised and excluded): never a source address.
fn virtual_addresses(config: &Config) -> HashSet<IpAddr> {
    config
        .instances
        .iter()
        .flat_map(|i| i.all_addresses().map(|v| v.address))
        .collect()
}

/// The configured source address of each instance that has one.
fn configured_sources(config: &Config) -> HashMap<String, IpAddr> {
    config
        .instances
        .iter()
        .filter_map(|i| Some((i.name.clone(), i.unicast_src?)))
        .collect()
}

/// Whether instance `inst` is an IPv6 one.
fn is_v6(inst: &crate::config::model::Instance) -> bool {
    inst.virtual_addresses.iter().any(|v| v.address.is_ipv6())
}

/// Resolves what the system knows of instance `inst` (interface, MAC, source address) and
/// whether its interface is up. An interface that does not exist (yet) is not an error: the
/// instance gets placeholder handles, starts in FAULT, and takes the real ones when the
/// interface appears. An interface without an address to send from is one.
async fn handles(
    nl: &Netlink,
    inst: &crate::config::model::Instance,
    ours: &HashSet<IpAddr>,
) -> anyhow::Result<(Handles, bool)> {
    let v6 = is_v6(inst);
    let Ok(link) = nl.link(&inst.interface).await else {
        tracing::warn!(
            instance = %inst.name,
            interface = %inst.interface,
            "({}) interface {} does not exist: FAULT until it appears",
            inst.name,
            inst.interface
        );
        let unspecified = if v6 {
            IpAddr::V6(Ipv6Addr::UNSPECIFIED)
        } else {
            IpAddr::V4(Ipv4Addr::UNSPECIFIED)
        };
        let handles = Handles {
            ifindex: 0,
            mac: [0; 6],
            own: inst.unicast_src.unwrap_or(unspecified),
            vip_ifindex: Vec::new(),
        };
        return Ok((handles, false));
    };
    let addresses = nl.interface_addresses(link.index).await?;
    let own = inst
        .unicast_src
        .or_else(|| source_address(&addresses, v6, ours))
        .with_context(|| {
            format!(
                "({}) {} has no {} address to send adverts from",
                inst.name,
                inst.interface,
                if v6 { "link-local IPv6" } else { "IPv4" }
            )
        })?;
    let mut vip_ifindex = Vec::new();
    for vip in inst.all_addresses() {
        vip_ifindex.push(match &vip.dev {
            Some(dev) if *dev != inst.interface => {
                nl.link(dev)
                    .await
                    .with_context(|| format!("({}) {} dev {dev}", inst.name, vip.address))?
                    .index
            }
            _ => link.index,
        });
    }
    Ok((
        Handles {
            ifindex: link.index,
            mac: link.mac,
            own,
            vip_ifindex,
        },
        link.up,
    ))
}

/// The address families (IPv6: true) of the instances on `interface`.
fn families_on(config: &Config, interface: &str) -> Vec<bool> {
    let mut families: Vec<bool> = config
        .instances
        .iter()
        .filter(|i| i.interface == interface)
        .map(is_v6)
        .collect();
    families.sort_unstable();
    families.dedup();
    families
}

/// The interfaces the instances of `config` run on, each once.
fn interfaces_of(config: &Config) -> Vec<String> {
    let mut interfaces: Vec<String> = config
        .instances
        .iter()
        .map(|i| i.interface.clone())
        .collect();
    interfaces.sort_unstable();
    interfaces.dedup();
    interfaces
}

/// Resolves every instance of `config` (`handles[i]` for instance `i`) and the state of
/// the interfaces that matter (the instances' own and tracked ones).
async fn resolve(
    nl: &Netlink,
    config: &Config,
) -> anyhow::Result<(Vec<Handles>, HashMap<String, bool>)> {
    let mut all = Vec::new();
    let mut links = HashMap::new();
    let ours = virtual_addresses(config);
    for inst in &config.instances {
        let (h, up) = handles(nl, inst, &ours).await?;
        links.insert(inst.interface.clone(), up);
        for track in &inst.track_interfaces {
            if let Ok(link) = nl.link(&track.name).await {
                links.insert(track.name.clone(), link.up);
            }
        }
        all.push(h);
    }
    Ok((all, links))
}

/// Binds every interface of `config` that exists and is not bound yet. One that cannot be
/// bound (another XDP program on it, ...) is logged and counts as down: its instances
/// wait in FAULT, the others run, and it is tried again when the link changes.
fn bind_all(live: &mut Live, config: &Config, links: &mut HashMap<String, bool>) {
    for name in interfaces_of(config) {
        if live.bound.contains_key(&name) || !exists(&name) {
            continue;
        }
        if let Err(error) = live.bind(&name, &families_on(config, &name)) {
            tracing::error!(
                interface = %name,
                "{error:#}: the instances on {name} stay in FAULT until it can be attached"
            );
            links.insert(name, false);
        }
    }
}

/// Whether interface `name` exists in this network namespace.
fn exists(name: &str) -> bool {
    crate::sys::if_index(name).is_ok()
}

impl Daemon {
    /// Prepares everything (interfaces, program, kernel maps, leftover VIPs); nothing is
    /// started yet.
    pub async fn new(config: &Config) -> anyhow::Result<Self> {
        let nl = Netlink::connect().context("connecting to rtnetlink")?;
        let dp = Dataplane::load().context("loading the XDP program")?;
        // The kernel allocates the program's one master-down timer here. Should it refuse,
        // every arm fails too and each instance falls back to a userspace timer.
        if let Err(error) = dp.init_timer() {
            tracing::error!("{error}: master-down timers run in userspace (see `vrrpd status`)");
        }
        let (all, mut links) = resolve(&nl, config).await?;
        let fifo = config.global.notify_fifo.as_deref().and_then(|path| {
            crate::scripts::open_fifo(path)
                .inspect_err(|e| tracing::error!("notify_fifo {path}: {e}"))
                .ok()
        });
        let mut live = Live {
            dp,
            nl,
            bound: HashMap::new(),
            fifo,
        };
        bind_all(&mut live, config, &mut links);
        let mut controller = Controller::new(config, all, links, live);
        controller.install()?;
        let mut daemon = Self {
            controller,
            started: Instant::now(),
            events_lost: 0,
            source: None,
            predictor: crate::predict::Predictor::default(),
            configured_sources: configured_sources(config),
            checks: crate::scripts::Runner::default(),
            metrics: None,
            event_latency: crate::metrics::EventLatency::default(),
            state: None,
        };
        daemon.checks.start(config);
        daemon.events_lost = daemon.lost_events();
        daemon.remove_leftover_vips().await?;
        Ok(daemon)
    }

    /// Reloads read the configuration again from `path` (in `format`).
    #[must_use]
    pub fn reloading_from(mut self, path: PathBuf, format: Option<Format>) -> Self {
        self.source = Some((path, format));
        self
    }

    /// Serves the metrics on `listener` (`crate::metrics`).
    #[must_use]
    pub fn serving_metrics(mut self, listener: tokio::net::TcpListener) -> Self {
        self.metrics = Some(listener);
        self
    }

    /// Keeps the verified AH senders in `path` (written during an attack and at the stop,
    /// read at the start: [`crate::predict::Remembered`]).
    pub fn remembering_senders(mut self, path: &Path) -> Self {
        self.state = Some(path.to_owned());
        self
    }

    /// Reads the senders a previous run kept; a missing file is a first start, a file or
    /// line that cannot be read is logged and skipped.
    fn recall_senders(&mut self) {
        let Some(path) = &self.state else {
            return;
        };
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return,
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "--state: {} not read: {e}", path.display());
                return;
            }
        };
        let mut senders = Vec::new();
        for (n, line) in text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
        {
            match serde_json::from_str::<crate::predict::Remembered>(line) {
                Ok(sender) => senders.push(sender),
                Err(e) => tracing::warn!(
                    path = %path.display(),
                    "--state: {}:{}: skipped ({e})",
                    path.display(),
                    n + 1
                ),
            }
        }
        let subjects = crate::predict::subjects(self.controller.routers());
        let taken = self
            .predictor
            .recall(&subjects, &senders, std::time::Instant::now());
        tracing::info!(
            path = %path.display(),
            "--state: {taken} AH sender(s) remembered from {}",
            path.display()
        );
    }

    /// Writes the verified AH senders (a temporary file renamed over the old one; none
    /// known: the file removed). Errors are logged: the daemon runs on without.
    fn keep_senders(&mut self) {
        let Some(path) = self.state.clone() else {
            return;
        };
        let path = &path;
        let subjects = crate::predict::subjects(self.controller.routers());
        let now = std::time::Instant::now();
        // An advert verified since the last tick (a new master a moment ago) counts.
        if let Err(e) = self
            .predictor
            .observe(&self.controller.platform().dp, &subjects, now)
        {
            tracing::warn!(error = %e, "--state: the last verified adverts not read: {e}");
        }
        let mut text = String::new();
        for sender in self.predictor.remembered(&subjects, now) {
            if let Ok(line) = serde_json::to_string(&sender) {
                text.push_str(&line);
                text.push('\n');
            }
        }
        if text.is_empty() {
            // Nothing verified (yet): no file, rather than an empty one left behind.
            if let Err(e) = std::fs::remove_file(path)
                && e.kind() != std::io::ErrorKind::NotFound
            {
                tracing::warn!(path = %path.display(), error = %e, "--state: {} not removed: {e}", path.display());
            }
            return;
        }
        let mut tmp = path.as_os_str().to_owned();
        tmp.push(".tmp");
        let tmp = PathBuf::from(tmp);
        let write = || -> std::io::Result<()> {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir)?;
            }
            std::fs::write(&tmp, &text)?;
            std::fs::rename(&tmp, path)
        };
        if let Err(e) = write() {
            let _ = std::fs::remove_file(&tmp);
            tracing::warn!(path = %path.display(), error = %e, "--state: {} not written: {e}", path.display());
        }
    }

    /// Reads the configuration again and applies it ([`Controller::reload`]); interfaces
    /// new to it are bound, ones no longer used let go. A file that fails to load is
    /// refused (the error holds its diagnostics, `FILE:LINE:COL: ...`) and the running
    /// configuration stays.
    pub async fn reload(&mut self) -> anyhow::Result<Reloaded> {
        let Some((path, format)) = self.source.clone() else {
            anyhow::bail!(
                "the configuration was read from standard input: there is no file to reload"
            );
        };
        tracing::info!(config = %path.display(), "Reloading the configuration from {}", path.display());
        let loaded = match crate::config::load(&path, format) {
            Ok(loaded) => loaded,
            Err(error) => anyhow::bail!(
                "{}: refused, still running the previous configuration:\n{}",
                path.display(),
                error.render().trim_end()
            ),
        };
        for warning in &loaded.warnings {
            tracing::warn!("{}", warning.render(&loaded.sources).trim_end());
        }
        let config = loaded.config;
        let live = self.controller.platform_mut();
        let (handles, mut links) = resolve(&live.nl, &config)
            .await
            .with_context(|| format!("{}: refused", path.display()))?;
        bind_all(live, &config, &mut links);
        let now = self.now();
        let report = self.controller.reload(&config, handles, links, now).await;
        self.configured_sources = configured_sources(&config);
        self.checks.start(&config);
        let used = interfaces_of(&config);
        let live = self.controller.platform_mut();
        let unused: Vec<String> = live
            .bound
            .keys()
            .filter(|name| !used.contains(name))
            .cloned()
            .collect();
        for name in unused {
            live.unbind(&name);
            tracing::info!(interface = %name, "XDP program detached from {name} (no instance left on it)");
        }
        tracing::info!("Reloaded {}: {report}", path.display());
        Ok(report)
    }

    /// A link appeared, changed or went away. An interface of ours deleted: its program,
    /// socket and group go, and its instances to FAULT. Back (another index) or appearing
    /// for the first time: bound again, the instances take its new index, MAC and address,
    /// and rejoin the election when it is up.
    async fn link_changed(&mut self, change: LinkChange) {
        let now = self.now();
        let (link, deleted) = match change {
            LinkChange::Changed(link) => (link, false),
            LinkChange::Deleted(link) => (link, true),
            LinkChange::Addresses(index) => {
                // Not a change of state: only the address to send from may change.
                let on = self
                    .controller
                    .routers()
                    .iter()
                    .find(|r| r.ifindex == index && index != 0)
                    .map(|r| (r.interface.clone(), r.mac));
                if let Some((name, mac)) = on {
                    self.choose_sources(&name, index, mac).await;
                }
                return;
            }
        };
        let name = link.name.clone();
        let ours: Vec<bool> = {
            let mut families: Vec<bool> = self
                .controller
                .routers()
                .iter()
                .filter(|r| r.interface == name)
                .map(|r| r.own.is_ipv6())
                .collect();
            families.sort_unstable();
            families.dedup();
            families
        };
        let live = self.controller.platform_mut();
        let bound_index = live.bound.get(&name).map(|b| b.index);
        let mut up = link.up;
        if deleted {
            if bound_index == Some(link.index) {
                tracing::warn!(interface = %name, "interface {name} was deleted");
                live.unbind(&name);
            }
            up = false;
        } else if !ours.is_empty() && bound_index != Some(link.index) {
            match live.bind(&name, &ours) {
                Ok(index) => {
                    if bound_index.is_some() {
                        tracing::info!(interface = %name, "interface {name} is back (index {index})");
                    }
                    self.choose_sources(&name, index, link.mac).await;
                }
                Err(error) => {
                    tracing::error!(interface = %name, "{error:#}: the instances on {name} stay in FAULT");
                    up = false;
                }
            }
        } else if !ours.is_empty() && up {
            // Up again: its addresses may have been added since it was bound.
            self.choose_sources(&name, link.index, link.mac).await;
        }
        self.controller.handle(Input::Link { name, up }, now).await;
    }

    /// The instances on interface `name` (index `index`, MAC `mac`) take that index and MAC
    /// and send from the address keepalived would choose now ([`source_address`]), unless
    /// theirs is configured; a change is logged and written to the kernel.
    async fn choose_sources(&mut self, name: &str, index: u32, mac: [u8; 6]) {
        let addresses = self
            .controller
            .platform()
            .nl
            .interface_addresses(index)
            .await
            .unwrap_or_default();
        let ours: HashSet<IpAddr> = self
            .controller
            .routers()
            .iter()
            .flat_map(|r| r.vips.iter().map(|v| v.address.address))
            .collect();
        let configured = &self.configured_sources;
        self.controller.rebind(name, index, mac, |r| {
            configured
                .get(&r.name)
                .copied()
                .or_else(|| source_address(&addresses, r.own.is_ipv6(), &ours))
        });
    }

    /// A previous run that crashed may have left virtual addresses behind: remove them
    /// before taking part in any election.
    async fn remove_leftover_vips(&self) -> anyhow::Result<()> {
        let nl = &self.controller.platform().nl;
        for r in self.controller.routers() {
            for vip in &r.vips {
                let address = vip.address.address;
                let present = nl
                    .addresses(vip.ifindex)
                    .await?
                    .iter()
                    .any(|(a, _)| *a == address);
                if present {
                    tracing::warn!(instance = %r.name, vip = %address, "({}) removing {address} left behind by a previous run", r.name);
                    nl.del_address(vip.ifindex, address).await?;
                }
            }
        }
        Ok(())
    }

    fn now(&self) -> Duration {
        self.started.elapsed()
    }

    fn lost_events(&self) -> u64 {
        self.controller
            .platform()
            .dp
            .counters()
            .map_or(0, |c| c.get(Counter::EventsLost))
    }

    /// The state of every instance, for `vrrpd status`.
    pub fn status(&self) -> Vec<InstanceStatus> {
        let dp = &self.controller.platform().dp;
        let groups = self.controller.groups();
        self.controller
            .routers()
            .iter()
            .enumerate()
            .map(|(index, r)| {
                let learned = dp.runtime(r.slot).ok().map(|rt| rt.learned);
                let seen = learned
                    .filter(|l| l.last_valid_ns != 0)
                    .map(|l| (address_of(r, l.master_address), l.master_priority));
                let (master, last_advert) = reported_master(r.state(), r.own, seen);
                let mut counters: BTreeMap<String, u64> = dp
                    .instance_counters(r.slot)
                    .map(|c| {
                        c.iter()
                            .filter(|(_, v)| *v != 0)
                            .map(|(n, v)| (n.to_owned(), v))
                            .collect()
                    })
                    .unwrap_or_default();
                if r.timer_fallbacks != 0 {
                    counters.insert("timer_fallbacks".to_owned(), r.timer_fallbacks);
                }
                let all = dp.instance_counters(r.slot).unwrap_or_default();
                let stats = &r.stats;
                let virtual_addresses: Vec<String> = r
                    .vips
                    .iter()
                    .map(|vip| {
                        let a = &vip.address;
                        match &a.dev {
                            Some(dev) if *dev != r.interface => {
                                format!("{}/{} dev {dev}", a.address, a.prefix_len)
                            }
                            _ => format!("{}/{}", a.address, a.prefix_len),
                        }
                    })
                    .collect();
                let sync_group = groups
                    .iter()
                    .find(|g| g.members.contains(&index))
                    .map(|g| g.name.clone());
                let params = &r.fsm.params;
                InstanceStatus {
                    base_priority: r.base_priority,
                    master_priority: match r.state() {
                        State::Master => Some(r.priority()),
                        State::Backup => last_advert.map(|(_, p)| p),
                        State::Init | State::Fault => None,
                    },
                    vips_held: if r.state() == State::Master {
                        virtual_addresses.clone()
                    } else {
                        Vec::new()
                    },
                    last_transition: stats.last_transition.map(|t| TransitionStatus {
                        // Controller time to wall time: `at` was this long ago.
                        at_unix_ms: now_unix_ms().saturating_sub(
                            u64::try_from(self.now().saturating_sub(t.at).as_millis())
                                .unwrap_or(u64::MAX),
                        ),
                        from: t.from.to_string(),
                        to: t.to.to_string(),
                        reason: t.reason.to_string(),
                    }),
                    transitions: stats
                        .transitions
                        .iter()
                        .map(|(state, n)| (state.to_string(), *n))
                        .collect(),
                    adverts_sent: stats.adverts_sent,
                    adverts_received: all.get(Counter::Valid),
                    priority_zero_sent: stats.priority_zero_sent,
                    priority_zero_received: stats.priority_zero_received,
                    drops: drop_reasons()
                        .map(|c| (c.name().to_owned(), all.get(c)))
                        .collect(),
                    sync_group_state: sync_group
                        .as_deref()
                        .and_then(|g| self.controller.group_state(g))
                        .map(|state| state.to_string()),
                    name: r.name.clone(),
                    interface: r.interface.clone(),
                    vrid: r.vrid,
                    priority: r.priority(),
                    state: r.state().to_string(),
                    version: params.version,
                    advert_interval_cs: params.interval_cs,
                    auth_type: match &r.auth {
                        None => "none",
                        Some((AuthKind::Pass, _)) => "pass",
                        Some((AuthKind::Ah, _)) => "ah",
                    }
                    .to_owned(),
                    sync_group,
                    virtual_addresses,
                    master,
                    last_advert_from: last_advert.map(|(from, _)| from),
                    last_advert_priority: last_advert.map_or(0, |(_, priority)| priority),
                    counters,
                    master_down_timer: if r.userspace_master_down.is_some() {
                        "userspace".to_owned()
                    } else {
                        kernel_timer()
                    },
                }
            })
            .collect()
    }

    /// Answers one status request on the control socket: JSON lines, one per instance.
    async fn serve_status(&self, mut stream: tokio::net::UnixStream) {
        use tokio::io::AsyncWriteExt as _;
        let mut out = String::new();
        for status in self.status() {
            if let Ok(line) = serde_json::to_string(&status) {
                out.push_str(&line);
                out.push('\n');
            }
        }
        // Served inside the event loop: a client that connects and never reads must not
        // hold the daemon up (the answer can exceed the socket's buffer).
        let _ = tokio::time::timeout(STATUS_WRITE_TIMEOUT, stream.write_all(out.as_bytes())).await;
    }

    /// The last valid advert the kernel saw for `slot`, as of kernel time `at_ns`.
    fn seen_advert(&self, slot: u32, at_ns: u64) -> Option<SeenAdvert> {
        seen_advert(&self.controller.platform().dp, slot, at_ns)
    }

    /// The advert a HIGHER/LOWER_PRIORITY event reports, as the core sees it.
    fn heard(&self, e: &KernelEvent) -> Heard {
        let own = self
            .controller
            .routers()
            .iter()
            .find(|r| r.slot == e.slot)
            .map(|r| r.own);
        let source = match own {
            Some(IpAddr::V4(_)) => {
                let [a, b, c, d, ..] = e.source;
                IpAddr::from([a, b, c, d])
            }
            _ => IpAddr::from(e.source),
        };
        Heard {
            priority: e.priority,
            own_address: own == Some(source),
        }
    }

    /// A ring-buffer event as the controller's input (unknown kinds are logged).
    fn kernel_input(&self, e: &KernelEvent) -> Option<Input> {
        let event = match e.kind {
            event::MASTER_DOWN => Event::MasterDown {
                last_advert: self.seen_advert(e.slot, e.timestamp_ns),
            },
            event::HIGHER_PRIORITY => Event::HigherPriority(self.heard(e)),
            event::LOWER_PRIORITY => Event::LowerPriority(self.heard(e)),
            event::PRIORITY_ZERO => Event::PriorityZero,
            other => {
                tracing::warn!(
                    slot = e.slot,
                    kind = other,
                    "unknown event kind {other} from the XDP program"
                );
                return None;
            }
        };
        Some(Input::Kernel {
            slot: e.slot,
            event,
        })
    }

    /// After the ring buffer overflowed, events may be missing: rebuild them from the
    /// maps (the core decides which, `fsm::resync_event`).
    async fn resynchronise(&mut self) {
        let now_ns = crate::sys::monotonic_ns();
        let inputs: Vec<Input> = self
            .controller
            .routers()
            .iter()
            .filter_map(|r| {
                let event = fsm::resync_event(&r.fsm, self.seen_advert(r.slot, now_ns))?;
                Some(Input::Kernel {
                    slot: r.slot,
                    event,
                })
            })
            .collect();
        for input in inputs {
            self.controller.handle(input, self.now()).await;
        }
    }

    /// Checks the `events_lost` counter; resynchronises when it moved.
    async fn check_lost_events(&mut self) {
        let lost = self.lost_events();
        if lost != self.events_lost {
            tracing::warn!(
                lost = lost - self.events_lost,
                "the kernel's event ring buffer overflowed: resynchronising from the maps"
            );
            self.events_lost = lost;
            self.resynchronise().await;
        }
    }

    /// One line for systemd's `STATUS=`: how many instances, and how many are MASTER.
    fn summary(&self) -> String {
        let routers = self.controller.routers();
        let masters = routers
            .iter()
            .filter(|r| r.state() == State::Master)
            .count();
        format!("{} instances, {masters} MASTER", routers.len())
    }

    /// Runs until SIGTERM or SIGINT; then leaves cleanly (priority 0, VIPs removed).
    /// `listener`: where to answer `vrrpd status` (the caller owns the socket's path).
    pub async fn run(mut self, listener: Option<tokio::net::UnixListener>) -> anyhow::Result<()> {
        let mut events = crate::sys::async_fd(self.controller.platform().dp.events_fd())
            .context("watching the event ring buffer")?;
        let mut kernel_logs = crate::sys::async_fd(self.controller.platform().dp.kernel_logs_fd())
            .context("watching the XDP program's log")?;
        let mut link_changes = Netlink::watch_links().context("watching link changes")?;
        let mut signals = Signals::install()?;
        let (requests_tx, mut requests) = tokio::sync::mpsc::unbounded_channel();
        let mut lost_check = tokio::time::interval(Duration::from_secs(1));
        let systemd = crate::service::Notifier::from_env();
        let mut watchdog = systemd.watchdog_interval().map(tokio::time::interval);
        let mut check_results = self.checks.results().context("health check results")?;
        self.recall_senders();
        self.controller.handle(Input::Start, self.now()).await;
        systemd.ready(&self.summary());
        loop {
            let deadline = self.controller.deadline().map_or_else(
                || Instant::now() + Duration::from_secs(3600),
                |at| self.started + at,
            );
            tokio::select! {
                ready = events.readable_mut() => {
                    let mut guard = ready.context("waiting for events")?;
                    let mut taken = false;
                    while let Some(e) = self.controller.platform_mut().dp.next_event() {
                        self.event_latency.record(e.timestamp_ns, crate::sys::monotonic_ns());
                        if let Some(input) = self.kernel_input(&e) {
                            self.controller.handle(input, self.now()).await;
                            taken = true;
                        }
                    }
                    guard.clear_ready();
                    self.check_lost_events().await;
                    // Under attack, an event (a new master, a yield) is when the senders'
                    // last adverts change: kept at once, a daemon killed before the next
                    // tick still predicts the master it has just verified.
                    if taken && self.predictor.attacked(std::time::Instant::now()) {
                        self.keep_senders();
                    }
                }
                ready = kernel_logs.readable_mut() => {
                    let mut guard = ready.context("waiting for the XDP program's log")?;
                    self.controller.platform_mut().dp.flush_kernel_logs();
                    guard.clear_ready();
                }
                () = tokio::time::sleep_until(deadline) => {
                    self.controller.handle(Input::Timer, self.now()).await;
                }
                _ = lost_check.tick() => {
                    self.check_lost_events().await;
                    let subjects = crate::predict::subjects(self.controller.routers());
                    let dp = &mut self.controller.platform_mut().dp;
                    let now = std::time::Instant::now();
                    if let Err(e) = self.predictor.tick(dp, &subjects, now) {
                        tracing::warn!(error = %e, "ICV predictions not updated");
                    }
                    // Under attack the senders are kept at every tick: a daemon killed now
                    // (kill -9, a crash) still finds them when it is started again.
                    if self.predictor.attacked(now) {
                        self.keep_senders();
                    }
                }
                _ = async { match &mut watchdog { Some(w) => { w.tick().await; } None => std::future::pending().await } } => {
                    systemd.watchdog();
                }
                Some(change) = link_changes.recv() => self.link_changed(change).await,
                Some(input) = check_results.recv() => {
                    let now = self.now();
                    self.controller.handle(input, now).await;
                }
                Ok((stream, _)) = async { match &self.metrics { Some(l) => l.accept().await, None => std::future::pending().await } } => {
                    // Rendered now, from this instant's state; sent by its own task.
                    let body = crate::metrics::render(&self.status(), &self.event_latency);
                    tokio::spawn(crate::metrics::serve(stream, body));
                }
                Ok((stream, _)) = async { match &listener { Some(l) => l.accept().await, None => std::future::pending().await } } => {
                    let requests = requests_tx.clone();
                    tokio::spawn(async move {
                        let _ = requests.send(read_request(stream).await);
                    });
                }
                Some((request, stream)) = requests.recv() => match request {
                    Request::Status => self.serve_status(stream).await,
                    Request::Reload => {
                        systemd.reloading();
                        let reloaded = self.reload().await;
                        systemd.ready(&self.summary());
                        let answer = match reloaded {
                            Ok(report) => ReloadAnswer { ok: true, message: report.to_string() },
                            Err(error) => {
                                tracing::error!("reload: {error:#}");
                                ReloadAnswer { ok: false, message: format!("{error:#}") }
                            }
                        };
                        answer_with(stream, &answer).await;
                    }
                    Request::Unknown(text) => {
                        let answer = ReloadAnswer { ok: false, message: format!("unknown request `{text}`") };
                        answer_with(stream, &answer).await;
                    }
                },
                Some(received) = signals.next() => match received {
                    Received::Stop(name) => {
                        tracing::info!("{name}: stopping");
                        break;
                    }
                    Received::Reload => {
                        tracing::info!("SIGHUP: reloading the configuration");
                        systemd.reloading();
                        if let Err(error) = self.reload().await {
                            tracing::error!("SIGHUP: {error:#}");
                        }
                        systemd.ready(&self.summary());
                    }
                    Received::Dump(name) => {
                        for status in self.status() {
                            if let Ok(line) = serde_json::to_string(&status) {
                                tracing::info!("{name}: {line}");
                            }
                        }
                    }
                },
            }
        }
        systemd.stopping();
        self.keep_senders();
        self.controller.handle(Input::Stop, self.now()).await;
        for r in self.controller.routers() {
            if let Ok(counters) = self.controller.platform().dp.instance_counters(r.slot) {
                tracing::info!(instance = %r.name, "({}) counters: {counters}", r.name);
            }
        }
        self.controller.platform_mut().dp.detach_all()?;
        tracing::info!("stopped: VIPs removed, XDP program detached");
        Ok(())
    }
}

/// Writes one JSON answer to a control-socket client (never waiting long for it).
async fn answer_with(mut stream: tokio::net::UnixStream, answer: &ReloadAnswer) {
    use tokio::io::AsyncWriteExt as _;
    if let Ok(mut line) = serde_json::to_string(answer) {
        line.push('\n');
        let _ = tokio::time::timeout(STATUS_WRITE_TIMEOUT, stream.write_all(line.as_bytes())).await;
    }
}

/// What a signal asks of the daemon.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Received {
    /// Leave cleanly, as on SIGTERM (priority 0, VIPs removed, `notify_stop`).
    Stop(&'static str),
    /// SIGHUP, keepalived's reload.
    Reload,
    /// SIGUSR1/SIGUSR2, keepalived's data and stats dumps: the status, into the log.
    Dump(&'static str),
}

/// Every signal whose default action would end the process without a word, so that none
/// leaves VIPs behind: the ones that can be caught are forwarded here (SIGKILL and the
/// hardware faults cannot be; SIGPIPE is ignored by the Rust runtime).
struct Signals {
    received: tokio::sync::mpsc::UnboundedReceiver<Received>,
}

impl Signals {
    const ALL: [(i32, Received); 15] = [
        (libc::SIGTERM, Received::Stop("SIGTERM")),
        (libc::SIGINT, Received::Stop("SIGINT")),
        (libc::SIGQUIT, Received::Stop("SIGQUIT")),
        (libc::SIGALRM, Received::Stop("SIGALRM")),
        (libc::SIGVTALRM, Received::Stop("SIGVTALRM")),
        (libc::SIGPROF, Received::Stop("SIGPROF")),
        (libc::SIGIO, Received::Stop("SIGIO")),
        (libc::SIGPWR, Received::Stop("SIGPWR")),
        (libc::SIGXCPU, Received::Stop("SIGXCPU")),
        (libc::SIGXFSZ, Received::Stop("SIGXFSZ")),
        (libc::SIGSTKFLT, Received::Stop("SIGSTKFLT")),
        (libc::SIGTRAP, Received::Stop("SIGTRAP")),
        (libc::SIGHUP, Received::Reload),
        (libc::SIGUSR1, Received::Dump("SIGUSR1")),
        (libc::SIGUSR2, Received::Dump("SIGUSR2")),
    ];

    fn install() -> anyhow::Result<Self> {
        let (tx, received) = tokio::sync::mpsc::unbounded_channel();
        for (number, meaning) in Self::ALL {
            let mut stream = signal(SignalKind::from_raw(number))
                .with_context(|| format!("installing a handler for signal {number}"))?;
            let tx = tx.clone();
            tokio::spawn(async move {
                while stream.recv().await.is_some() {
                    if tx.send(meaning).is_err() {
                        break;
                    }
                }
            });
        }
        Ok(Self { received })
    }

    async fn next(&mut self) -> Option<Received> {
        self.received.recv().await
    }
}

/// The last valid advert the kernel saw for `slot`, as of kernel time `at_ns`.
fn seen_advert(dp: &Dataplane, slot: u32, at_ns: u64) -> Option<SeenAdvert> {
    let learned = dp.runtime(slot).ok()?.learned;
    let epoch = dp.config(slot).ok()?.state_epoch;
    (learned.last_valid_ns != 0).then(|| SeenAdvert {
        priority: learned.master_priority,
        age: Duration::from_nanos(at_ns.saturating_sub(learned.last_valid_ns)),
        held: learned.hold_epoch == epoch && at_ns < learned.hold_until_ns,
    })
}

fn address_of(r: &VirtualRouter, bytes: [u8; 16]) -> IpAddr {
    if r.own.is_ipv4() {
        IpAddr::V4(Ipv4Addr::new(bytes[0], bytes[1], bytes[2], bytes[3]))
    } else {
        IpAddr::V6(Ipv6Addr::from(bytes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A MASTER reports itself as master, not the sender of the last advert it saw (the
    /// master it replaced); a BACKUP reports that sender.
    #[test]
    fn status_reports_the_master_as_the_instance_knows_it() {
        let own: IpAddr = "192.0.2.1".parse().expect("an address");
        let old: IpAddr = "192.0.2.2".parse().expect("an address");
        assert_eq!(
            reported_master(State::Master, own, Some((old, 200))),
            (Some(own), None)
        );
        assert_eq!(
            reported_master(State::Backup, own, Some((old, 200))),
            (Some(old), Some((old, 200)))
        );
        assert_eq!(reported_master(State::Backup, own, None), (None, None));
        assert_eq!(
            reported_master(State::Fault, own, Some((old, 200))),
            (None, Some((old, 200)))
        );
    }

    #[test]
    fn status_text_shows_vips_group_version_interval_and_auth_type() {
        let status = InstanceStatus {
            name: "VI_1".to_owned(),
            interface: "eth0".to_owned(),
            vrid: 51,
            priority: 150,
            state: "MASTER".to_owned(),
            version: 2,
            advert_interval_cs: 100,
            auth_type: "ah".to_owned(),
            sync_group: Some("VG1".to_owned()),
            virtual_addresses: vec![
                "192.0.2.10/24".to_owned(),
                "10.0.0.1/32 dev eth1".to_owned(),
            ],
            master: Some("192.0.2.1".parse().expect("an address")),
            last_advert_from: None,
            last_advert_priority: 0,
            counters: BTreeMap::new(),
            master_down_timer: kernel_timer(),
            ..InstanceStatus::default()
        };
        assert_eq!(
            format_status(&status),
            "(VI_1) MASTER eth0 vrid 51 priority 150 VRRPv2 advert_int 1s auth ah group VG1\n    \
             vips 192.0.2.10/24, 10.0.0.1/32 dev eth1  held -\n    master this router  last \
             advert from -\n    last transition -  transitions -\n    adverts in 0 out 0  \
             priority 0 in 0 out 0\n    drops none\n    -"
        );
    }

    #[test]
    fn status_text_shows_priorities_transitions_adverts_drops_and_groups() {
        let status = InstanceStatus {
            name: "VI_1".to_owned(),
            interface: "eth0".to_owned(),
            vrid: 51,
            priority: 90,
            base_priority: 150,
            state: "BACKUP".to_owned(),
            version: 3,
            advert_interval_cs: 100,
            auth_type: "none".to_owned(),
            sync_group: Some("VG1".to_owned()),
            sync_group_state: Some("BACKUP".to_owned()),
            virtual_addresses: vec!["192.0.2.10/24".to_owned()],
            master: Some("192.0.2.2".parse().expect("an address")),
            master_priority: Some(100),
            last_advert_from: Some("192.0.2.2".parse().expect("an address")),
            last_advert_priority: 100,
            transitions: [("BACKUP".to_owned(), 2), ("MASTER".to_owned(), 1)].into(),
            adverts_sent: 7,
            adverts_received: 40,
            priority_zero_sent: 1,
            priority_zero_received: 0,
            drops: [("bad_ttl".to_owned(), 3), ("replay".to_owned(), 0)].into(),
            master_down_timer: kernel_timer(),
            ..InstanceStatus::default()
        };
        assert_eq!(
            format_status(&status),
            "(VI_1) BACKUP eth0 vrid 51 priority 90 VRRPv3 advert_int 1s auth none group VG1 \
             (base 150)\n    vips 192.0.2.10/24  held -\n    master 192.0.2.2 (priority 100)  \
             last advert from 192.0.2.2 (priority 100)\n    last transition -  transitions \
             BACKUP=2 MASTER=1\n    adverts in 40 out 7  priority 0 in 0 out 1\n    drops \
             bad_ttl=3\n    -"
        );
        assert_eq!(format_groups(&[status]), "VRRP_Group(VG1) BACKUP\n");
    }

    #[test]
    fn every_drop_reason_is_reported() {
        let names: Vec<&str> = drop_reasons().map(Counter::name).collect();
        assert_eq!(names.first(), Some(&"truncated"));
        assert!(names.contains(&"unknown_vrid") && names.contains(&"not_participating"));
        assert!(!names.contains(&"valid"));
    }
}
