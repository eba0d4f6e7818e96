//! VLAN and bond interfaces (issue 10, item 3), through `BPF_PROG_TEST_RUN` with
//! `xdp_md.ingress_ifindex` set: the kernels these tests run on have no 8021q or bonding
//! support, so veth interfaces in a namespace stand in for the parent, the VLAN device,
//! the bond and its slaves, and the aliases a real VLAN or bond gets (see
//! `vrrpd::dataplane::links`, whose derivation from the interfaces' kinds is unit-tested
//! there) are set by hand. What each frame must do:
//!
//! - on the parent `eth0` (its driver-mode program sees tags): an untagged advert is
//!   `eth0`'s instance's, one tagged with VLAN 100 is `eth0.100`'s instance's even with
//!   the same VRID, one tagged with a VLAN without instances passes to the stack;
//! - on `eth0.100` (generic mode: untagged, its own index): `eth0.100`'s instance's;
//! - on a bond's slaves (driver mode reports the slave's index) and on the bond (generic
//!   mode): the bond's instance's; without the aliases, `unknown_vrid` (the issue).
use std::net::{IpAddr, Ipv4Addr};

use tests::{
    NetNs,
    adverts::{frame, v2},
};
use vrrp_common::{counters::Counter as c, maps::InstanceKey};
use vrrpd::{
    dataplane::{Auth, Dataplane},
    wire::vrrp::AUTH_NONE,
};

const XDP_DROP: u32 = 1;
const XDP_PASS: u32 = 2;
const MASTER: [u8; 4] = [192, 168, 200, 5];
const VIP_ETH0: [u8; 4] = [192, 168, 200, 10];
const VIP_VLAN: [u8; 4] = [192, 168, 100, 10];
const VIP_BOND: [u8; 4] = [192, 168, 50, 10];
const ETH0: u32 = 0;
const VLAN: u32 = 1;
const BOND: u32 = 2;

/// An untagged VRRPv2 advert (no authentication) for `vrid` carrying `vip`.
fn advert(vrid: u8, vip: [u8; 4]) -> Vec<u8> {
    frame(&v2(MASTER, vrid, 150, &[vip], AUTH_NONE, [0; 8], None), b"")
}

/// `frame` with an 802.1Q tag for `vlan` after the MAC addresses.
fn tagged(frame: &[u8], vlan: u16) -> Vec<u8> {
    let mut out = frame[..12].to_vec();
    out.extend_from_slice(&[0x81, 0x00]);
    out.extend_from_slice(&vlan.to_be_bytes());
    out.extend_from_slice(&frame[12..]);
    out
}

struct Bench {
    dp: Dataplane,
}

impl Bench {
    /// Runs `frame` as received on `ifindex`; asserts the action and which slot counted
    /// it as `counter` (none: no slot counted anything).
    fn row(
        &self,
        name: &str,
        frame: &[u8],
        ifindex: u32,
        action: u32,
        counted: Option<(u32, c)>,
    ) -> anyhow::Result<()> {
        let slots = [ETH0, VLAN, BOND];
        let before: Vec<_> = slots
            .iter()
            .map(|s| self.dp.instance_counters(*s))
            .collect::<Result<_, _>>()?;
        let got = self.dp.test_run_on(frame, ifindex)?;
        assert_eq!(got, action, "{name}: action");
        for (slot, before) in slots.iter().zip(before) {
            let after = self.dp.instance_counters(*slot)?;
            let mut expected = before;
            if let Some((s, counter)) = counted
                && s == *slot
            {
                expected.0[counter as usize] += 1;
            }
            assert_eq!(
                after, expected,
                "{name}: counters of slot {slot}\n got      {after}\n expected {expected}"
            );
        }
        Ok(())
    }
}

#[test]
fn vlan_and_bond_adverts_reach_their_instances() -> anyhow::Result<()> {
    let ns = NetNs::new("vlan")?;
    for (a, b) in [
        ("eth0", "eth0p"),
        ("vlan100", "vlan100p"),
        ("bond0", "bond0p"),
        ("slave1", "slave1p"),
        ("slave2", "slave2p"),
    ] {
        ns.ip(&["link", "add", a, "type", "veth", "peer", "name", b])?;
    }
    ns.run(|| {
        let index = |name: &str| vrrpd::sys::if_index(name);
        let (eth0, vlan100, bond0) = (index("eth0")?, index("vlan100")?, index("bond0")?);
        let (slave1, slave2) = (index("slave1")?, index("slave2")?);
        let mut dp = Dataplane::load()?;
        let own = IpAddr::V4(Ipv4Addr::new(192, 168, 200, 1));
        let vips = |v: [u8; 4]| tests::ipv4s(&[v]);
        let (eth0_vips, vlan_vips, bond_vips) = (vips(VIP_ETH0), vips(VIP_VLAN), vips(VIP_BOND));
        // eth0 and eth0.100 both run VRID 51; the bond runs VRID 52.
        let specs = [
            (
                ETH0,
                tests::backup_spec(eth0, 51, 2, Auth::None, &eth0_vips, own),
            ),
            (
                VLAN,
                tests::backup_spec(vlan100, 51, 2, Auth::None, &vlan_vips, own),
            ),
            (
                BOND,
                tests::backup_spec(bond0, 52, 2, Auth::None, &bond_vips, own),
            ),
        ];
        for (slot, spec) in &specs {
            dp.install(*slot, &spec.build())?;
            // veth interfaces are neither VLANs nor bonds: no aliases from the topology.
            assert_eq!(dp.aliases(*slot), &[] as &[InstanceKey]);
        }
        let alias = |slot: u32, ifindex: u32, vlan: u16| InstanceKey {
            ifindex,
            vlan,
            ..specs[slot as usize].1.key()
        };
        let mut t = Bench { dp };

        // Without aliases: the bond's adverts seen on a slave are unknown (issue 10).
        let bond_advert = advert(52, VIP_BOND);
        let unknown = t.dp.counters()?.get(c::UnknownVrid);
        t.row(
            "bond advert on a slave, no aliases",
            &bond_advert,
            slave1,
            XDP_DROP,
            None,
        )?;
        assert_eq!(t.dp.counters()?.get(c::UnknownVrid), unknown + 1);

        // What `links::aliases` gives a VLAN device and a bond.
        t.dp.set_aliases(VLAN, &[alias(VLAN, eth0, 100)])?;
        t.dp.set_aliases(BOND, &[alias(BOND, slave1, 0), alias(BOND, slave2, 0)])?;

        let eth0_advert = advert(51, VIP_ETH0);
        let vlan_advert = advert(51, VIP_VLAN);
        t.row(
            "untagged on eth0",
            &eth0_advert,
            eth0,
            XDP_DROP,
            Some((ETH0, c::Valid)),
        )?;
        t.row(
            "tagged 100 on eth0: eth0.100's instance (same VRID)",
            &tagged(&vlan_advert, 100),
            eth0,
            XDP_DROP,
            Some((VLAN, c::Valid)),
        )?;
        t.row(
            "eth0's advert tagged 100: checked against eth0.100's addresses",
            &tagged(&eth0_advert, 100),
            eth0,
            XDP_DROP,
            Some((VLAN, c::BadAddressList)),
        )?;
        t.row(
            "eth0.100's advert untagged on eth0: checked against eth0's addresses",
            &vlan_advert,
            eth0,
            XDP_DROP,
            Some((ETH0, c::BadAddressList)),
        )?;
        t.row(
            "untagged on eth0.100 (its own program, generic mode)",
            &vlan_advert,
            vlan100,
            XDP_DROP,
            Some((VLAN, c::Valid)),
        )?;
        t.row(
            "tagged 200 on eth0: no instance on that VLAN here, passed",
            &tagged(&vlan_advert, 200),
            eth0,
            XDP_PASS,
            None,
        )?;
        t.row(
            "priority-tagged (VLAN 0) on eth0: untagged traffic",
            &tagged(&eth0_advert, 0),
            eth0,
            XDP_DROP,
            Some((ETH0, c::Valid)),
        )?;
        for (name, ifindex) in [("slave1", slave1), ("slave2", slave2), ("bond0", bond0)] {
            t.row(
                &format!("bond advert on {name}"),
                &bond_advert,
                ifindex,
                XDP_DROP,
                Some((BOND, c::Valid)),
            )?;
        }
        t.row(
            "bond advert tagged 100 on a slave: no instance on that VLAN, passed",
            &tagged(&bond_advert, 100),
            slave1,
            XDP_PASS,
            None,
        )?;

        // Removing an instance removes its aliases.
        t.dp.uninstall(VLAN)?;
        assert_eq!(t.dp.aliases(VLAN), &[] as &[InstanceKey]);
        t.row(
            "tagged 100 on eth0 after eth0.100's instance left",
            &tagged(&vlan_advert, 100),
            eth0,
            XDP_PASS,
            None,
        )?;
        // Replacing a slot's aliases drops the old ones.
        t.dp.set_aliases(BOND, &[alias(BOND, slave2, 0)])?;
        t.row(
            "bond advert on a released slave",
            &bond_advert,
            slave1,
            XDP_DROP,
            None,
        )?;
        t.row(
            "bond advert on the remaining slave",
            &bond_advert,
            slave2,
            XDP_DROP,
            Some((BOND, c::Valid)),
        )?;
        Ok(())
    })
}
