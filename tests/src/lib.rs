//! Helpers for vrrpd's privileged integration tests: network namespaces and veth pairs that
//! are deleted when their guard drops (also when the test panics), and running code inside
//! a namespace on a dedicated thread.
//!
//! Every test needs root. Without it the helpers fail with a message saying so: a missing
//! prerequisite is a failure, never a silent skip.
//!
//! [`lab`] builds the live lab of directors running vrrpd or keepalived on bridged segments.
use std::{
    path::PathBuf,
    process::Command,
    sync::atomic::{AtomicU32, Ordering},
    thread,
};

use anyhow::{Context as _, bail, ensure};

pub mod flood;
pub mod lab;

static NEXT: AtomicU32 = AtomicU32::new(0);

/// Runs `ip ARGS`, failing with its stderr.
pub fn ip(args: &[&str]) -> anyhow::Result<()> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .context("running `ip` (iproute2)")?;
    ensure!(
        out.status.success(),
        "`ip {}` failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr).trim()
    );
    Ok(())
}

/// Fails with a clear message unless the tests run as root.
pub fn require_root() -> anyhow::Result<()> {
    let out = Command::new("id")
        .arg("-u")
        .output()
        .context("running `id -u`")?;
    if String::from_utf8_lossy(&out.stdout).trim() != "0" {
        bail!(
            "this test creates network namespaces and attaches XDP: run it as root (sudo -E cargo xtask test)"
        );
    }
    Ok(())
}

/// A network namespace, deleted (with every interface in it) on drop.
#[derive(Debug)]
pub struct NetNs {
    name: String,
}

impl NetNs {
    /// Creates a namespace with a unique name (`vrrpd-t<pid>-<n>-<tag>`), loopback up and
    /// IPv6 disabled (no spontaneous router solicitations or MLD reports to count).
    pub fn new(tag: &str) -> anyhow::Result<Self> {
        require_root()?;
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let name = format!("vrrpd-t{}-{n}-{tag}", std::process::id());
        ip(&["netns", "add", &name])?;
        let ns = Self { name };
        ns.exec(&["sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1"])?;
        ns.exec(&["sysctl", "-qw", "net.ipv6.conf.default.disable_ipv6=1"])?;
        ns.ip(&["link", "set", "lo", "up"])?;
        Ok(ns)
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// `/run/netns/NAME`, for `setns`.
    pub fn path(&self) -> PathBuf {
        PathBuf::from("/run/netns").join(&self.name)
    }

    /// Runs `ip ARGS` inside the namespace.
    pub fn ip(&self, args: &[&str]) -> anyhow::Result<()> {
        let mut full = vec!["-n", self.name.as_str()];
        full.extend_from_slice(args);
        ip(&full)
    }

    /// Runs a program inside the namespace (`ip netns exec`); fails on a non-zero exit.
    pub fn exec(&self, argv: &[&str]) -> anyhow::Result<String> {
        let out = Command::new("ip")
            .args(["netns", "exec", &self.name])
            .args(argv)
            .output()
            .with_context(|| format!("running {argv:?} in {}", self.name))?;
        ensure!(
            out.status.success(),
            "{argv:?} in {} failed: {}{}",
            self.name,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Runs `f` on a new thread that has entered this namespace (only that thread moves).
    pub fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> anyhow::Result<T> + Send + 'static,
    ) -> anyhow::Result<T> {
        let path = self.path();
        let handle = thread::spawn(move || {
            vrrpd::sys::enter_netns(&path)
                .with_context(|| format!("entering {}", path.display()))?;
            f()
        });
        match handle.join() {
            Ok(result) => result,
            Err(panic) => std::panic::resume_unwind(panic),
        }
    }
}

impl Drop for NetNs {
    fn drop(&mut self) {
        if let Err(error) = ip(&["netns", "del", &self.name]) {
            eprintln!("cleanup: {error}");
        }
    }
}

/// Two namespaces joined by a veth pair: `a`'s end is `veth-a`, `b`'s end is `veth-b`.
#[derive(Debug)]
pub struct VethPair {
    pub a: NetNs,
    pub b: NetNs,
}

impl VethPair {
    pub const A: &str = "veth-a";
    pub const B: &str = "veth-b";

    /// A pair (192.0.2.1/24 on `a`, .2 on `b`) with vrrpd's program loaded and attached
    /// in driver mode on `a`'s end; also returns that end's interface index.
    pub fn with_program(tag: &str) -> anyhow::Result<(Self, vrrpd::dataplane::Dataplane, u32)> {
        let pair = Self::new(tag, "192.0.2.1/24", "192.0.2.2/24")?;
        let (dataplane, ifindex) = pair.a.run(|| {
            let mut dataplane = vrrpd::dataplane::Dataplane::load()?;
            dataplane.attach(Self::A, vrrpd::dataplane::AttachMode::Driver)?;
            Ok((dataplane, vrrpd::sys::if_index(Self::A)?))
        })?;
        Ok((pair, dataplane, ifindex))
    }

    /// Creates both namespaces and the pair, addresses `a_addr` / `b_addr` (CIDR) on the
    /// ends, links up.
    pub fn new(tag: &str, a_addr: &str, b_addr: &str) -> anyhow::Result<Self> {
        let pair = Self {
            a: NetNs::new(&format!("{tag}a"))?,
            b: NetNs::new(&format!("{tag}b"))?,
        };
        ip(&[
            "link",
            "add",
            Self::A,
            "netns",
            pair.a.name(),
            "type",
            "veth",
            "peer",
            "name",
            Self::B,
            "netns",
            pair.b.name(),
        ])?;
        pair.a.ip(&["addr", "add", a_addr, "dev", Self::A])?;
        pair.b.ip(&["addr", "add", b_addr, "dev", Self::B])?;
        pair.a.ip(&["link", "set", Self::A, "up"])?;
        pair.b.ip(&["link", "set", Self::B, "up"])?;
        Ok(pair)
    }
}

/// The frames of a keepalived capture in the repository's `testdata/vectors`.
pub fn vector_frames(name: &str) -> anyhow::Result<Vec<Vec<u8>>> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../testdata/vectors");
    let path = dir.join(name);
    let file = std::fs::File::open(&path).with_context(|| format!("opening {}", path.display()))?;
    let mut reader = pcap_file::pcap::PcapReader::new(file)?;
    let mut frames = Vec::new();
    while let Some(packet) = reader.next_packet() {
        frames.push(packet?.data.into_owned());
    }
    Ok(frames)
}

/// A BACKUP instance for the XDP tests: priority 100, preemption, 1 s adverts, the default
/// HMAC budget; override fields with struct-update syntax.
pub fn backup_spec<'a>(
    ifindex: u32,
    vrid: u8,
    version: u8,
    auth: vrrpd::dataplane::Auth<'a>,
    addresses: &'a [std::net::IpAddr],
    own: std::net::IpAddr,
) -> vrrpd::dataplane::InstanceSpec<'a> {
    vrrpd::dataplane::InstanceSpec {
        ifindex,
        vrid,
        version,
        priority: 100,
        preempt: true,
        auth,
        interval_cs: 100,
        addresses,
        own_address: own,
        state: vrrp_common::maps::KernelState::BACKUP,
        hmac_budget: vrrpd::dataplane::DEFAULT_HMAC_BUDGET,
        preempt_delay: std::time::Duration::ZERO,
    }
}

/// IPv4 addresses from octets.
pub fn ipv4s(addresses: &[[u8; 4]]) -> Vec<std::net::IpAddr> {
    addresses
        .iter()
        .map(|a| std::net::IpAddr::V4(std::net::Ipv4Addr::from(*a)))
        .collect()
}

pub mod adverts {
    //! Frames for the XDP tests, built with vrrpd's own codec.
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

    use vrrpd::{
        auth::Password,
        wire::{
            advert::{Advert, IpHeader},
            ah, ethernet, frame, ipv4, ipv6, vrrp,
        },
    };

    pub const AH_KEY: &[u8] = b"k@l";
    pub const MCAST_MAC: [u8; 6] = [0x01, 0x00, 0x5e, 0x00, 0x00, 0x12];

    /// An IPv4 VRRPv2 advert as keepalived sends it (TOS 0xC0, TTL 255, id = sequence).
    pub fn v2(
        src: [u8; 4],
        vrid: u8,
        priority: u8,
        addresses: &[[u8; 4]],
        auth_type: u8,
        auth_data: [u8; 8],
        ah_sequence: Option<u32>,
    ) -> Advert {
        Advert {
            ip: IpHeader::V4(ipv4::Repr {
                tos: 0xc0,
                ident: ah_sequence.map_or(1, |s| s as u16),
                dont_fragment: false,
                ttl: 255,
                protocol: 0,
                src: Ipv4Addr::from(src),
                dst: Ipv4Addr::new(224, 0, 0, 18),
                options: Vec::new(),
            }),
            ah: ah_sequence.map(|sequence| ah::Repr {
                spi: u32::from_be_bytes(src),
                sequence,
            }),
            vrrp: vrrp::Repr {
                version: vrrp::Version::V2 {
                    advert_int_s: 1,
                    auth_type,
                    auth_data,
                },
                vrid,
                priority,
                addresses: addresses
                    .iter()
                    .map(|a| IpAddr::V4(Ipv4Addr::from(*a)))
                    .collect(),
            },
        }
    }

    /// A VRRPv3 advert over IPv6 from a link-local address.
    pub fn v3_ipv6(vrid: u8, priority: u8, interval_cs: u16, addresses: &[Ipv6Addr]) -> Advert {
        Advert {
            ip: IpHeader::V6(ipv6::Repr {
                traffic_class: 0xc0,
                flow_label: 0,
                next_header: 0,
                hop_limit: 255,
                src: "fe80::2".parse().expect("an address"),
                dst: "ff02::12".parse().expect("an address"),
            }),
            ah: None,
            vrrp: vrrp::Repr {
                version: vrrp::Version::V3 {
                    max_advert_int_cs: interval_cs,
                },
                vrid,
                priority,
                addresses: addresses.iter().map(|a| IpAddr::V6(*a)).collect(),
            },
        }
    }

    /// The advert in an Ethernet frame, ICV computed with `key`.
    pub fn frame(advert: &Advert, key: &[u8]) -> Vec<u8> {
        let ethertype = match advert.ip {
            IpHeader::V4(_) => ethernet::ETHERTYPE_IPV4,
            IpHeader::V6(_) => ethernet::ETHERTYPE_IPV6,
        };
        let eth = ethernet::Repr {
            dst: MCAST_MAC,
            src: [0x00, 0x00, 0x5e, 0x00, 0x01, 0x33],
            tag: None,
            ethertype,
        };
        frame::emit(&eth, advert, Some(&Password::new(key))).expect("a test advert emits")
    }

    /// Recomputes the IPv4 header checksum of a frame (after editing header bytes).
    pub fn fix_ipv4_checksum(frame: &mut [u8]) {
        let ihl = usize::from(frame[14] & 0x0f) * 4;
        frame[24] = 0;
        frame[25] = 0;
        let sum = vrrpd::wire::checksum::of(&frame[14..14 + ihl]);
        frame[24..26].copy_from_slice(&sum.to_be_bytes());
    }
}
