//! One virtual router: everything the daemon holds about one configured instance — its
//! parameters, the handles resolved from the system (interface index, MAC, source
//! address, kernel slot), its runtime state (IP id, the state machine with its timers) —
//! and the pure pieces that turn its state into bytes (adverts, gratuitous ARPs, the
//! kernel's view of it). No I/O: the controller executes what comes out of here.
use std::{
    net::{IpAddr, Ipv4Addr, Ipv6Addr},
    time::Duration,
};

use vrrp_common::maps::InstanceConfig;

use crate::{
    auth::Password,
    config::model::{AuthKind, Config, Notify, VirtualAddress},
    dataplane::{Auth, DEFAULT_HMAC_BUDGET, InstanceSpec},
    fsm::{Instance, Params, Reason, State},
    tracking::{self, Tracked},
    wire::{
        EmitError,
        advert::{Advert, IpHeader},
        ah, arp, ethernet, frame, ipv4, ipv6, ndp, vrrp,
    },
};

/// The VRRP IPv4 multicast group (RFC 5798 §5.1.1.2).
pub const VRRP_GROUP_V4: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 18);

/// What the system tells about an instance before it runs (resolved by the daemon, made
/// up by tests).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Handles {
    pub ifindex: u32,
    pub mac: [u8; 6],
    /// The address adverts are sent from.
    pub own: IpAddr,
    /// The interface index of each virtual address, advertised then excluded (its `dev`,
    /// else the instance's).
    pub vip_ifindex: Vec<u32>,
}

/// A virtual address with the interface it goes on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vip {
    pub address: VirtualAddress,
    pub ifindex: u32,
    /// Carried in adverts; `false` for keepalived's excluded addresses, which are only
    /// added and removed with the others.
    pub advertised: bool,
}

/// How a reloaded instance differs from the running one ([`VirtualRouter::reconfigure`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Changes {
    /// Anything at all: the kernel's copy of its configuration is rewritten.
    pub any: bool,
    /// Virtual addresses no longer configured (or configured differently).
    pub vips_removed: Vec<Vip>,
    /// Virtual addresses new to it.
    pub vips_added: Vec<Vip>,
}

/// One change of state, in controller time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transition {
    /// When (time since the controller started).
    pub at: Duration,
    pub from: State,
    pub to: State,
    pub reason: Reason,
}

/// What an instance did, for `vrrpd status` and the metrics (adverts received are the
/// kernel's `valid` counter). Kept across reloads.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    /// Adverts sent (priority 0 included).
    pub adverts_sent: u64,
    /// Priority 0 adverts sent (leaving MASTER).
    pub priority_zero_sent: u64,
    /// Priority 0 adverts the kernel reported (its PRIORITY_ZERO events).
    pub priority_zero_received: u64,
    /// Changes of state, by the state entered.
    pub transitions: std::collections::BTreeMap<State, u64>,
    pub last_transition: Option<Transition>,
}

impl Stats {
    /// Records a change of state.
    pub fn transition(&mut self, t: Transition) {
        *self.transitions.entry(t.to).or_default() += 1;
        self.last_transition = Some(t);
    }
}

/// One configured VRRP instance, running.
#[derive(Debug)]
pub struct VirtualRouter {
    pub name: String,
    pub interface: String,
    pub ifindex: u32,
    pub mac: [u8; 6],
    pub own: IpAddr,
    pub vrid: u8,
    /// The instance's slot in the kernel's maps.
    pub slot: u32,
    pub auth: Option<(AuthKind, Password)>,
    pub vips: Vec<Vip>,
    /// Interfaces tracked without a weight (down → FAULT), its own and its group's.
    pub tracked: Vec<String>,
    /// Everything it tracks, keepalived's rules applied (`tracking::of_instance`).
    pub tracking: Vec<Tracked>,
    /// The configured priority; the state machine's is the effective one.
    pub base_priority: u8,
    pub notify: Notify,
    /// keepalived's per-instance IP id: starts at 1, never 0.
    ip_id: u16,
    /// The state machine, with its timers.
    pub fsm: Instance,
    /// The kernel could not arm this instance's master-down timer: the controller's own
    /// deadline for it (controller time), until it ends or the kernel arms one again.
    pub userspace_master_down: Option<Duration>,
    /// How many times the kernel refused to arm the master-down timer (`vrrpd status`).
    pub timer_fallbacks: u64,
    /// Adverts, priority 0 and transitions (`vrrpd status`, metrics).
    pub stats: Stats,
}

impl AsRef<Instance> for VirtualRouter {
    fn as_ref(&self) -> &Instance {
        &self.fsm
    }
}

impl AsMut<Instance> for VirtualRouter {
    fn as_mut(&mut self) -> &mut Instance {
        &mut self.fsm
    }
}

impl VirtualRouter {
    /// Instance `index` of `config`, in kernel slot `slot` (`None`: no such instance).
    pub fn from_config(config: &Config, index: usize, slot: u32, handles: Handles) -> Option<Self> {
        let inst = config.instances.get(index)?;
        let params = Params::from_config(config, index)?;
        let tracking = tracking::of_instance(config, index);
        Some(Self {
            name: inst.name.clone(),
            interface: inst.interface.clone(),
            ifindex: handles.ifindex,
            mac: handles.mac,
            own: handles.own,
            vrid: inst.vrid.get(),
            slot,
            auth: inst
                .authentication
                .as_ref()
                .map(|a| (a.kind, Password::new(a.password.as_bytes()))),
            vips: inst
                .all_addresses()
                // One interface per address, advertised then excluded (`daemon::handles`).
                .zip(
                    handles
                        .vip_ifindex
                        .iter()
                        .chain(std::iter::repeat(&handles.ifindex)),
                )
                .enumerate()
                .map(|(index, (address, ifindex))| Vip {
                    address: address.clone(),
                    ifindex: *ifindex,
                    advertised: index < inst.virtual_addresses.len(),
                })
                .collect(),
            tracked: tracking::fault_interfaces(&tracking),
            tracking,
            base_priority: inst.priority.get(),
            notify: inst.notify.clone(),
            ip_id: 0,
            fsm: Instance::new(params),
            userspace_master_down: None,
            timer_fallbacks: 0,
            stats: Stats::default(),
        })
    }

    /// Takes `next`'s configuration (the same instance in a reloaded configuration, built
    /// for this router's slot), keeping what runs: the state machine's state and timers,
    /// the IP id, a userspace timer standing in for the kernel's. Returns what changed.
    pub fn reconfigure(&mut self, next: Self, now: Duration) -> Changes {
        let changes = Changes {
            any: self.name != next.name
                || self.ifindex != next.ifindex
                || self.mac != next.mac
                || self.own != next.own
                || self.auth != next.auth
                || self.vips != next.vips
                || self.tracked != next.tracked
                || self.tracking != next.tracking
                || self.notify != next.notify
                || self.base_priority != next.base_priority
                || Params {
                    priority: self.base_priority,
                    ..self.fsm.params.clone()
                } != next.fsm.params,
            vips_removed: self
                .vips
                .iter()
                .filter(|v| !next.vips.contains(v))
                .cloned()
                .collect(),
            vips_added: next
                .vips
                .iter()
                .filter(|v| !self.vips.contains(v))
                .cloned()
                .collect(),
        };
        // The effective priority stays until tracking is evaluated again (the controller
        // does it after every reload), unless the configured one moved.
        let effective = self.fsm.params.priority;
        let same_base = self.base_priority == next.base_priority;
        self.fsm.reconfigure(next.fsm.params, now);
        if same_base && self.base_priority != crate::fsm::OWNER {
            self.fsm.params.priority = effective;
        }
        self.name = next.name;
        self.interface = next.interface;
        self.ifindex = next.ifindex;
        self.mac = next.mac;
        self.own = next.own;
        self.vrid = next.vrid;
        self.auth = next.auth;
        self.vips = next.vips;
        self.tracked = next.tracked;
        self.tracking = next.tracking;
        self.base_priority = next.base_priority;
        self.notify = next.notify;
        changes
    }

    /// Its interface is back with index `ifindex` and `mac` (deleted and created again):
    /// the addresses that went on the old index go on the new one. `own`: the address to
    /// send from, when the interface has one of the instance's family.
    pub fn rebind(&mut self, ifindex: u32, mac: [u8; 6], own: Option<IpAddr>) {
        let old = self.ifindex;
        for vip in &mut self.vips {
            if vip.ifindex == old {
                vip.ifindex = ifindex;
            }
        }
        self.ifindex = ifindex;
        self.mac = mac;
        if let Some(own) = own {
            self.own = own;
        }
    }

    /// The addresses carried in adverts (the excluded ones are not).
    pub fn advertised(&self) -> Vec<IpAddr> {
        self.vips
            .iter()
            .filter(|v| v.advertised)
            .map(|v| v.address.address)
            .collect()
    }

    pub fn state(&self) -> State {
        self.fsm.state
    }

    pub fn priority(&self) -> u8 {
        self.fsm.params.priority
    }

    pub fn uses_ah(&self) -> bool {
        self.auth.as_ref().is_some_and(|(k, _)| *k == AuthKind::Ah)
    }

    /// Whether interface `name` matters to it (its own, or tracked without a weight).
    pub fn watches(&self, name: &str) -> bool {
        self.interface == name || self.tracked.iter().any(|t| t == name)
    }

    /// What the XDP program needs to know of it.
    pub fn kernel_config(&self) -> InstanceConfig {
        let addresses = self.advertised();
        let p = &self.fsm.params;
        InstanceSpec {
            ifindex: self.ifindex,
            vrid: self.vrid,
            version: p.version,
            priority: p.priority,
            preempt: p.preempt,
            auth: match &self.auth {
                None => Auth::None,
                Some((AuthKind::Pass, pw)) => Auth::Pass(pw),
                Some((AuthKind::Ah, pw)) => Auth::Ah(pw),
            },
            interval_cs: p.interval_cs,
            addresses: &addresses,
            own_address: self.own,
            state: State::Init.kernel(),
            hmac_budget: DEFAULT_HMAC_BUDGET,
            preempt_delay: p.preempt_delay,
        }
        .build()
    }

    /// One advert with keepalived's exact bytes: TOS 0xC0, the instance's IP id (advanced
    /// here), DF clear, TTL 255; with AH, SPI = our address and `sequence`.
    pub fn advert_frame(&mut self, priority: u8, sequence: u32) -> Result<Vec<u8>, EmitError> {
        self.ip_id = self.ip_id.wrapping_add(1);
        if self.ip_id == 0 {
            self.ip_id = 1;
        }
        let p = &self.fsm.params;
        let (auth_type, auth_data, key) = match &self.auth {
            None => (vrrp::AUTH_NONE, [0; 8], None),
            Some((AuthKind::Pass, pw)) => (vrrp::AUTH_PASS, pw.pass_data(), None),
            Some((AuthKind::Ah, pw)) => (vrrp::AUTH_AH, [0; 8], Some(pw)),
        };
        let version = if p.version == 2 {
            vrrp::Version::V2 {
                advert_int_s: u8::try_from(p.interval_cs / 100).unwrap_or(u8::MAX),
                auth_type,
                auth_data,
            }
        } else {
            vrrp::Version::V3 {
                max_advert_int_cs: p.interval_cs,
            }
        };
        let vrrp = vrrp::Repr {
            version,
            vrid: self.vrid,
            priority,
            addresses: self.advertised(),
        };
        let (ip, dst_mac, ethertype) = match self.own {
            IpAddr::V4(src) => (
                IpHeader::V4(ipv4::Repr {
                    tos: 0xc0,
                    ident: self.ip_id,
                    dont_fragment: false,
                    ttl: 255,
                    protocol: 0,
                    src,
                    dst: VRRP_GROUP_V4,
                    options: Vec::new(),
                }),
                ethernet::ipv4_multicast_mac(VRRP_GROUP_V4),
                ethernet::ETHERTYPE_IPV4,
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
                    ethernet::ETHERTYPE_IPV6,
                )
            }
        };
        let ah = match (key, self.own) {
            (Some(_), IpAddr::V4(src)) => Some(ah::Repr {
                spi: u32::from(src),
                sequence,
            }),
            _ => None,
        };
        let eth = ethernet::Repr {
            dst: dst_mac,
            src: self.mac,
            tag: None,
            ethertype,
        };
        frame::emit(&eth, &Advert { ip, ah, vrrp }, key)
    }

    /// One gratuitous ARP per IPv4 virtual address, one unsolicited neighbour
    /// advertisement per IPv6 one.
    pub fn gratuitous_frames(&self) -> Vec<Vec<u8>> {
        self.vips
            .iter()
            .map(|vip| match vip.address.address {
                IpAddr::V4(address) => arp::Repr::gratuitous(self.mac, address).frame(),
                IpAddr::V6(address) => ndp::unsolicited_frame(self.mac, address),
            })
            .collect()
    }
}
