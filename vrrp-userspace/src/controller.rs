//! The controller: runs the configured instances. It translates between the world and the
//! protocol core (`fsm`, `sync`): kernel events, timers, link changes and signals become
//! events; the actions become map writes, adverts, addresses, gratuitous ARPs and logs.
use std::{
    collections::HashMap,
    net::{IpAddr, Ipv4Addr, Ipv6Addr},
    time::Duration,
};

use anyhow::Context as _;
use tokio::{
    signal::unix::{SignalKind, signal},
    time::Instant,
};
use vrrp_common::maps::{Event as KernelEvent, event};

use crate::{
    auth::Password,
    config::model::{AuthKind, Config, Notify, VirtualAddress},
    dataplane::{Auth, DEFAULT_HMAC_BUDGET, Dataplane, InstanceSpec},
    fsm::{self, Action, Event, Instance, Params, State},
    netlink::Netlink,
    sync::{self, Group, Item},
    sys::PacketSocket,
    wire::{
        advert::{Advert, IpHeader},
        ah, arp, ethernet, frame, ipv4, ipv6, ndp, vrrp,
    },
};

/// Everything the controller needs to do I/O for one instance.
#[derive(Debug)]
struct Io {
    name: String,
    interface: String,
    ifindex: u32,
    mac: [u8; 6],
    own: IpAddr,
    vrid: u8,
    version: u8,
    interval_cs: u16,
    auth: Option<(AuthKind, Password)>,
    vips: Vec<VirtualAddress>,
    /// Interfaces tracked without a weight (down → FAULT).
    tracked: Vec<String>,
    notify: Notify,
    priority: u8,
    slot: u32,
    /// keepalived's per-instance IP id: starts at 1, never 0.
    ip_id: u16,
    next_advert: Option<(Instant, Duration)>,
}

/// What `vrrpd status` shows: one line per instance (JSON objects with `--json`).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct InstanceStatus {
    pub name: String,
    pub interface: String,
    pub vrid: u8,
    pub priority: u8,
    pub state: String,
    /// The sender of the last valid advert the kernel saw, with its priority.
    pub last_advert_from: Option<IpAddr>,
    pub last_advert_priority: u8,
    /// The instance's non-zero counters (see docs/dataplane.md).
    pub counters: std::collections::BTreeMap<String, u64>,
}

/// The running daemon.
pub struct Controller {
    dp: Dataplane,
    nl: Netlink,
    fsm: Vec<Instance>,
    groups: Vec<Group>,
    io: Vec<Io>,
    sockets: HashMap<String, PacketSocket>,
    garps: Vec<(Instant, usize, u32)>,
    links: HashMap<String, bool>,
    started: Instant,
}

impl std::fmt::Debug for Controller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Controller")
            .field("io", &self.io)
            .finish_non_exhaustive()
    }
}

const VRRP_GROUP_V4: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 18);

/// How far the AH sequence jumps when this director becomes MASTER (see `apply_one`).
const TAKEOVER_SEQUENCE_MARGIN: u32 = 4;

impl Controller {
    /// Prepares everything (interfaces, program, kernel maps, leftover VIPs); nothing is
    /// started yet.
    pub async fn new(config: &Config) -> anyhow::Result<Self> {
        let nl = Netlink::connect().context("connecting to rtnetlink")?;
        let mut dp = Dataplane::load().context("loading the XDP program")?;
        let mut io = Vec::new();
        let mut fsm_instances = Vec::new();
        let mut links = HashMap::new();
        for (index, inst) in config.instances.iter().enumerate() {
            let link = nl
                .link(&inst.interface)
                .await
                .with_context(|| format!("({}) interface {}", inst.name, inst.interface))?;
            links.insert(link.name.clone(), link.up);
            let v6 = inst.virtual_addresses.iter().any(|v| v.address.is_ipv6());
            let addresses = nl.addresses(link.index).await?;
            let own = addresses
                .iter()
                .map(|(a, _)| *a)
                .find(|a| match a {
                    IpAddr::V4(_) => !v6,
                    IpAddr::V6(a) => v6 && a.segments()[0] & 0xffc0 == 0xfe80,
                })
                .or(inst.unicast_src)
                .with_context(|| {
                    format!(
                        "({}) {} has no {} address to send adverts from",
                        inst.name,
                        inst.interface,
                        if v6 { "link-local IPv6" } else { "IPv4" }
                    )
                })?;
            let version = match inst.version {
                crate::config::model::Version::V2 => 2,
                crate::config::model::Version::V3 => 3,
            };
            let auth = inst
                .authentication
                .as_ref()
                .map(|a| (a.kind, Password::new(a.password.0.as_bytes())));
            let addrs: Vec<IpAddr> = inst.virtual_addresses.iter().map(|v| v.address).collect();
            let interval_cs = inst.advert_interval.centis() as u16;
            let spec = InstanceSpec {
                ifindex: link.index,
                vrid: inst.vrid.get(),
                version,
                priority: inst.priority.get(),
                preempt: inst.preempt,
                auth: match &auth {
                    None => Auth::None,
                    Some((AuthKind::Pass, pw)) => Auth::Pass(pw),
                    Some((AuthKind::Ah, pw)) => Auth::Ah(pw),
                },
                interval_cs,
                addresses: &addrs,
                own_address: own,
                state: State::Init.kernel(),
                hmac_budget: DEFAULT_HMAC_BUDGET,
            };
            let slot = index as u32;
            dp.install(slot, &spec.build())
                .with_context(|| format!("({}) installing in the XDP program", inst.name))?;
            let params =
                Params::from_config(config, index).context("instance index out of range")?;
            fsm_instances.push(Instance::new(params));
            io.push(Io {
                name: inst.name.clone(),
                interface: inst.interface.clone(),
                ifindex: link.index,
                mac: link.mac,
                own,
                vrid: inst.vrid.get(),
                version,
                interval_cs,
                auth,
                vips: inst.virtual_addresses.clone(),
                tracked: inst
                    .track_interfaces
                    .iter()
                    .filter(|t| t.weight.is_none())
                    .map(|t| t.name.clone())
                    .collect(),
                notify: inst.notify.clone(),
                priority: inst.priority.get(),
                slot,
                ip_id: 0,
                next_advert: None,
            });
        }
        for name in io
            .iter()
            .flat_map(|i| i.tracked.clone())
            .collect::<Vec<_>>()
        {
            if let Ok(link) = nl.link(&name).await {
                links.insert(name, link.up);
            }
        }
        let mut interfaces: Vec<&str> = io.iter().map(|i| i.interface.as_str()).collect();
        interfaces.sort_unstable();
        interfaces.dedup();
        let mut sockets = HashMap::new();
        for name in interfaces {
            let mode = dp.attach_preferring_driver(name)?;
            tracing::info!(interface = name, %mode, "XDP program attached to {name} ({mode} mode)");
            sockets.insert(
                name.to_owned(),
                PacketSocket::open(name)
                    .with_context(|| format!("opening a packet socket on {name}"))?,
            );
        }
        let groups = Group::from_config(config);
        let mut controller = Self {
            dp,
            nl,
            fsm: fsm_instances,
            groups,
            io,
            sockets,
            garps: Vec::new(),
            links,
            started: Instant::now(),
        };
        controller.remove_leftover_vips().await?;
        Ok(controller)
    }

    /// A previous run that crashed may have left virtual addresses behind: remove them
    /// before taking part in any election.
    async fn remove_leftover_vips(&mut self) -> anyhow::Result<()> {
        for io in &self.io {
            for vip in &io.vips {
                let index = self.vip_index(io, vip).await?;
                let present = self
                    .nl
                    .addresses(index)
                    .await?
                    .iter()
                    .any(|(a, _)| *a == vip.address);
                if present {
                    tracing::warn!(instance = %io.name, vip = %vip.address, "({}) removing {} left behind by a previous run", io.name, vip.address);
                    self.nl.del_address(index, vip.address).await?;
                }
            }
        }
        Ok(())
    }

    async fn vip_index(&self, io: &Io, vip: &VirtualAddress) -> anyhow::Result<u32> {
        match &vip.dev {
            Some(dev) if *dev != io.interface => Ok(self.nl.link(dev).await?.index),
            _ => Ok(io.ifindex),
        }
    }

    fn now(&self) -> Duration {
        self.started.elapsed()
    }

    /// The state of every instance, for `vrrpd status`.
    pub fn status(&self) -> Vec<InstanceStatus> {
        self.io
            .iter()
            .zip(&self.fsm)
            .map(|(io, inst)| {
                let learned = self.dp.runtime(io.slot).ok().map(|r| r.learned);
                let from = learned.filter(|l| l.last_valid_ns != 0).map(|l| {
                    if io.own.is_ipv4() {
                        IpAddr::V4(Ipv4Addr::new(
                            l.master_address[0],
                            l.master_address[1],
                            l.master_address[2],
                            l.master_address[3],
                        ))
                    } else {
                        IpAddr::V6(Ipv6Addr::from(l.master_address))
                    }
                });
                let counters = self
                    .dp
                    .instance_counters(io.slot)
                    .map(|c| {
                        c.iter()
                            .filter(|(_, v)| *v != 0)
                            .map(|(n, v)| (n.to_owned(), v))
                            .collect()
                    })
                    .unwrap_or_default();
                InstanceStatus {
                    name: io.name.clone(),
                    interface: io.interface.clone(),
                    vrid: io.vrid,
                    priority: io.priority,
                    state: inst.state.to_string(),
                    last_advert_from: from,
                    last_advert_priority: learned.map_or(0, |l| l.master_priority),
                    counters,
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
        let _ = stream.write_all(out.as_bytes()).await;
    }

    /// Runs until SIGTERM or SIGINT; then leaves cleanly (priority 0, VIPs removed).
    /// `socket`: where to answer `vrrpd status` (none by default: no fixed global paths).
    pub async fn run(mut self, socket: Option<std::path::PathBuf>) -> anyhow::Result<()> {
        let listener = match &socket {
            Some(path) => {
                let _ = std::fs::remove_file(path);
                Some(
                    tokio::net::UnixListener::bind(path)
                        .with_context(|| format!("listening on {}", path.display()))?,
                )
            }
            None => None,
        };
        let mut events =
            crate::sys::async_fd(self.dp.events_fd()).context("watching the event ring buffer")?;
        let mut link_changes = Netlink::watch_links().context("watching link changes")?;
        let mut sigterm =
            signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
        let mut sigint =
            signal(SignalKind::interrupt()).context("installing the SIGINT handler")?;
        for index in 0..self.fsm.len() {
            let down: Vec<String> = std::iter::once(self.io[index].interface.clone())
                .chain(self.io[index].tracked.clone())
                .filter(|name| self.links.get(name) == Some(&false))
                .collect();
            for name in down {
                self.dispatch(index, Event::InterfaceDown(name)).await;
            }
            self.dispatch(index, Event::Start).await;
        }
        loop {
            let deadline = self.next_deadline();
            tokio::select! {
                ready = events.readable_mut() => {
                    let mut guard = ready.context("waiting for events")?;
                    while let Some(event) = self.dp.next_event() {
                        self.kernel_event(event).await;
                    }
                    guard.clear_ready();
                }
                () = tokio::time::sleep_until(deadline) => self.timers().await,
                Some(link) = link_changes.recv() => self.link_change(link.name, link.up).await,
                Ok((stream, _)) = async { match &listener { Some(l) => l.accept().await, None => std::future::pending().await } } => {
                    self.serve_status(stream).await;
                }
                _ = sigterm.recv() => break,
                _ = sigint.recv() => break,
            }
        }
        tracing::info!("stopping");
        for index in 0..self.fsm.len() {
            let now = self.now();
            let actions = fsm::step(&mut self.fsm[index], &Event::Stop, now);
            self.apply(index, actions).await;
        }
        for io in &self.io {
            if let Ok(counters) = self.dp.instance_counters(io.slot) {
                tracing::info!(instance = %io.name, "({}) counters: {counters}", io.name);
            }
        }
        self.dp.detach_all()?;
        if let Some(path) = &socket {
            let _ = std::fs::remove_file(path);
        }
        tracing::info!("stopped: VIPs removed, XDP program detached");
        Ok(())
    }

    fn next_deadline(&self) -> Instant {
        let far = Instant::now() + Duration::from_secs(3600);
        self.io
            .iter()
            .filter_map(|i| i.next_advert.map(|(at, _)| at))
            .chain(self.garps.iter().map(|(at, _, _)| *at))
            .min()
            .unwrap_or(far)
    }

    async fn timers(&mut self) {
        let now = Instant::now();
        for index in 0..self.io.len() {
            if let Some((at, every)) = self.io[index].next_advert
                && at <= now
            {
                self.io[index].next_advert = Some((at + every, every));
                self.dispatch(index, Event::AdvertDue).await;
            }
        }
        let due: Vec<(usize, u32)> = self
            .garps
            .iter()
            .filter(|(at, _, _)| *at <= now)
            .map(|(_, i, r)| (*i, *r))
            .collect();
        self.garps.retain(|(at, _, _)| *at > now);
        for (index, repeat) in due {
            if self.fsm[index].state == State::Master {
                self.gratuitous(index, repeat);
            }
        }
    }

    async fn kernel_event(&mut self, e: KernelEvent) {
        let index = e.slot as usize;
        if index >= self.fsm.len() {
            return;
        }
        let event = match e.kind {
            event::MASTER_DOWN => {
                let lower_master_alive = self.dp.runtime(e.slot).is_ok_and(|rt| {
                    let l = rt.learned;
                    let master_down = self.fsm[index].params.master_down().as_nanos() as u64;
                    l.last_valid_ns != 0
                        && e.timestamp_ns.saturating_sub(l.last_valid_ns) < master_down
                        && l.master_priority != 0
                        && l.master_priority < self.io[index].priority
                });
                Event::MasterDown { lower_master_alive }
            }
            event::HIGHER_PRIORITY => Event::HigherPriority,
            event::LOWER_PRIORITY => Event::LowerPriority,
            event::PRIORITY_ZERO => Event::PriorityZero,
            _ => return,
        };
        self.dispatch(index, event).await;
    }

    async fn link_change(&mut self, name: String, up: bool) {
        if self.links.get(&name) == Some(&up) || !self.links.contains_key(&name) {
            return;
        }
        self.links.insert(name.clone(), up);
        tracing::info!(interface = %name, up, "interface {name} is {}", if up { "up" } else { "down" });
        for index in 0..self.io.len() {
            if self.io[index].interface == name || self.io[index].tracked.contains(&name) {
                let event = if up {
                    Event::InterfaceUp(name.clone())
                } else {
                    Event::InterfaceDown(name.clone())
                };
                self.dispatch(index, event).await;
            }
        }
    }

    async fn dispatch(&mut self, index: usize, event: Event) {
        let now = self.now();
        let outcome = sync::dispatch(&mut self.fsm, &self.groups, index, &event, now);
        for item in outcome.items {
            match item {
                Item::Log(line) => tracing::info!("{line}"),
                Item::Step(i, actions) => self.apply(i, actions).await,
            }
        }
    }

    async fn apply(&mut self, index: usize, actions: Vec<Action>) {
        for action in actions {
            if let Err(error) = self.apply_one(index, action).await {
                tracing::error!(instance = %self.io[index].name, "({}) {error:#}", self.io[index].name);
            }
        }
    }

    async fn apply_one(&mut self, index: usize, action: Action) -> anyhow::Result<()> {
        let slot = self.io[index].slot;
        match action {
            Action::KernelState(state) => {
                self.dp.set_state(slot, state.kernel())?;
                if state == State::Master
                    && self.io[index]
                        .auth
                        .as_ref()
                        .is_some_and(|(k, _)| *k == AuthKind::Ah)
                {
                    // The master we replace may have sent adverts we never received (up
                    // to three: master-down is 3 intervals + skew), so our counter may lag
                    // its last sequence number; receivers would drop our first adverts as
                    // replays ("sequence number N already processed"). Receivers only need
                    // it to increase: move past that window.
                    let current = self.dp.sequence(slot)?;
                    self.dp
                        .set_sequence(slot, current.saturating_add(TAKEOVER_SEQUENCE_MARGIN))?;
                }
            }
            Action::ArmMasterDown(after) => self.dp.arm_timer(slot, after)?,
            Action::CancelMasterDown => self.dp.cancel_timer(slot)?,
            Action::SendAdvert { priority } => self.send_advert(index, priority)?,
            Action::StartAdverts(every) => {
                self.io[index].next_advert = Some((Instant::now() + every, every))
            }
            Action::StopAdverts => self.io[index].next_advert = None,
            Action::AddVips => {
                let vips = self.io[index].vips.clone();
                for vip in &vips {
                    let dev = self.vip_index(&self.io[index], vip).await?;
                    self.nl
                        .add_address(dev, vip.address, vip.prefix_len, vip.label.as_deref())
                        .await
                        .with_context(|| format!("adding {}", vip.address))?;
                }
            }
            Action::RemoveVips => {
                let vips = self.io[index].vips.clone();
                for vip in &vips {
                    let dev = self.vip_index(&self.io[index], vip).await?;
                    self.nl
                        .del_address(dev, vip.address)
                        .await
                        .with_context(|| format!("removing {}", vip.address))?;
                }
            }
            Action::Gratuitous { repeat } => self.gratuitous(index, repeat),
            Action::GratuitousLater { after, repeat } => {
                self.garps.push((Instant::now() + after, index, repeat))
            }
            Action::Notify(state) => self.notify(index, state),
        }
        Ok(())
    }

    /// One advert with keepalived's exact bytes: TOS 0xC0, the instance's IP id, DF clear,
    /// TTL 255, AH with SPI = our address and the shared sequence counter.
    fn send_advert(&mut self, index: usize, priority: u8) -> anyhow::Result<()> {
        let io = &mut self.io[index];
        io.ip_id = io.ip_id.wrapping_add(1);
        if io.ip_id == 0 {
            io.ip_id = 1;
        }
        let addresses: Vec<IpAddr> = io.vips.iter().map(|v| v.address).collect();
        let (auth_type, auth_data, key) = match &io.auth {
            None => (vrrp::AUTH_NONE, [0; 8], None),
            Some((AuthKind::Pass, pw)) => (vrrp::AUTH_PASS, pw.pass_data(), None),
            Some((AuthKind::Ah, pw)) => (vrrp::AUTH_AH, [0; 8], Some(pw.clone())),
        };
        let version = if io.version == 2 {
            vrrp::Version::V2 {
                advert_int_s: (io.interval_cs / 100) as u8,
                auth_type,
                auth_data,
            }
        } else {
            vrrp::Version::V3 {
                max_advert_int_cs: io.interval_cs,
            }
        };
        let vrrp = vrrp::Repr {
            version,
            vrid: io.vrid,
            priority,
            addresses,
        };
        let (ip, dst_mac) = match io.own {
            IpAddr::V4(src) => (
                IpHeader::V4(ipv4::Repr {
                    tos: 0xc0,
                    ident: io.ip_id,
                    dont_fragment: false,
                    ttl: 255,
                    protocol: 0,
                    src,
                    dst: VRRP_GROUP_V4,
                    options: Vec::new(),
                }),
                ethernet::ipv4_multicast_mac(VRRP_GROUP_V4),
            ),
            IpAddr::V6(src) => {
                let dst = Ipv6Addr::from(vrrp_common::VRRP_GROUP_V6);
                (
                    IpHeader::V6(ipv6::Repr {
                        traffic_class: 0xc0,
                        flow_label: 0,
                        next_header: 0,
                        hop_limit: 255,
                        src,
                        dst,
                    }),
                    ethernet::ipv6_multicast_mac(dst),
                )
            }
        };
        let ah = match (&key, io.own) {
            (Some(_), IpAddr::V4(src)) => Some(ah::Repr {
                spi: u32::from(src),
                sequence: self.dp.next_sequence(io.slot)?,
            }),
            _ => None,
        };
        let ethertype = if io.own.is_ipv4() {
            ethernet::ETHERTYPE_IPV4
        } else {
            ethernet::ETHERTYPE_IPV6
        };
        let eth = ethernet::Repr {
            dst: dst_mac,
            src: io.mac,
            tag: None,
            ethertype,
        };
        let bytes = frame::emit(&eth, &Advert { ip, ah, vrrp }, key.as_ref())?;
        let socket = self
            .sockets
            .get(&io.interface)
            .context("no packet socket for the interface")?;
        if let Err(error) = socket.send(&bytes) {
            // A down interface cannot send (FAULT's priority 0 on a failed link): not fatal.
            tracing::debug!(instance = %io.name, "advert not sent: {error}");
        }
        Ok(())
    }

    /// `repeat` gratuitous ARPs per IPv4 virtual address, unsolicited neighbour
    /// advertisements per IPv6 one.
    fn gratuitous(&mut self, index: usize, repeat: u32) {
        let io = &self.io[index];
        let Some(socket) = self.sockets.get(&io.interface) else {
            return;
        };
        for vip in &io.vips {
            let frame = match vip.address {
                IpAddr::V4(address) => arp::Repr::gratuitous(io.mac, address).frame(),
                IpAddr::V6(address) => ndp::unsolicited_frame(io.mac, address),
            };
            for _ in 0..repeat {
                let _ = socket.send(&frame);
            }
        }
    }

    /// keepalived's log line and notify hooks (`notify_master` etc. without arguments,
    /// `notify` with `INSTANCE NAME STATE PRIORITY`).
    fn notify(&self, index: usize, state: State) {
        let io = &self.io[index];
        tracing::info!(instance = %io.name, state = %state, "({}) Entering {state} STATE", io.name);
        let specific = match state {
            State::Master => io.notify.master.as_deref(),
            State::Backup => io.notify.backup.as_deref(),
            State::Fault => io.notify.fault.as_deref(),
            State::Init => io.notify.stop.as_deref(),
        };
        let any = io
            .notify
            .any
            .as_deref()
            .map(|cmd| format!("{cmd} INSTANCE {} {state} {}", io.name, io.priority));
        for command in specific.map(str::to_owned).into_iter().chain(any) {
            if let Err(error) = std::process::Command::new("/bin/sh")
                .arg("-c")
                .arg(&command)
                .spawn()
            {
                tracing::warn!(instance = %io.name, "({}) notify `{command}` failed to start: {error}", io.name);
            }
        }
    }
}
