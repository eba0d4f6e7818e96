//! The maps the XDP program and the controller share, and their key and value layouts.
//!
//! Instances live in slots (0..[`MAX_INSTANCES`]) chosen by the controller:
//! - [`SLOTS_MAP`]: hash `InstanceKey → u32 slot`, the program's lookup;
//! - [`CONFIG_MAP`]: array of [`InstanceConfig`], written by the controller only;
//! - [`RUNTIME_MAP`]: array of [`Runtime`] (the master-down deadline and what the program
//!   learns), written by the program only;
//! - [`TIMER_MAP`]: array of one element holding the program's only `bpf_timer`, which
//!   fires at the earliest master-down deadline of all slots (see [`MasterDown`]);
//! - [`SEQUENCE_MAP`]: mmapable array of `u64`, the AH sequence counter of each instance,
//!   shared by the program (receiving) and the controller's sender (one counter per
//!   instance, as keepalived keeps);
//! - [`EVENTS_MAP`]: ring buffer of [`Event`]s, only state changes;
//! - counters: see [`crate::counters`].

/// Name of the `InstanceKey → slot` hash.
pub const SLOTS_MAP: &str = "SLOTS";
/// Name of the per-slot configuration array.
pub const CONFIG_MAP: &str = "CONFIG";
/// Name of the per-slot runtime array (timer and learned state).
pub const RUNTIME_MAP: &str = "RUNTIME";
/// Name of the one-element array holding the master-down `bpf_timer` all slots share.
pub const TIMER_MAP: &str = "TIMER";
/// Name of the per-slot AH sequence counter array (mmapable).
pub const SEQUENCE_MAP: &str = "SEQUENCE";
/// Name of the event ring buffer.
pub const EVENTS_MAP: &str = "EVENTS";

/// Instances one program can serve: 1,024 (255 VRIDs per interface and family over several
/// interfaces); the maps sized by it take about 0.7 MB plus 250 KB of counters per CPU.
pub const MAX_INSTANCES: u32 = 1024;
/// The most virtual addresses an advert carries: its count field is one byte (RFC 5798
/// §5.2.5). The program checks any count up to this (see [`address_term`]).
pub const MAX_ADVERT_ADDRESSES: usize = 255;
/// The longest VRRP packet the program reads, IP header included: IPv6 (40) + VRRPv3 with
/// [`MAX_ADVERT_ADDRESSES`] IPv6 addresses (8 + 16 × 255) = 4,128 bytes. The longest IPv4
/// one (60-byte header, AH, VRRPv2 with 255 addresses) is 1,120.
pub const MAX_PACKET: usize = 40 + 8 + 16 * MAX_ADVERT_ADDRESSES;
/// Event ring buffer size in bytes (a power of two, a multiple of the page size).
pub const EVENTS_BYTES: u32 = 256 * 1024;
/// Longest HMAC-covered advert the program verifies: 3 MD5 blocks less the 9 bytes of
/// padding, 183 bytes: IPv4 (20) + AH (24) + VRRPv2 (16 + 4 × n) holds n ≤
/// [`MAX_AH_ADDRESSES`] addresses.
pub const TEMPLATE_LEN: usize = 192;
/// The most virtual addresses of an AH instance (IPv4 without options, keepalived's
/// adverts): `(TEMPLATE_LEN − 9 − 20 − 24 − 16) / 4`. `vrrpd check` refuses more.
pub const MAX_AH_ADDRESSES: usize = (TEMPLATE_LEN - 9 - 20 - 24 - 16) / 4;
/// `BPF_F_MMAPABLE`.
pub const BPF_F_MMAPABLE: usize = 1 << 10;

/// Address family of an instance.
pub mod family {
    pub const IPV4: u8 = 4;
    pub const IPV6: u8 = 6;
}

/// Defines a `#[repr(transparent)]` byte newtype for a map value field: named constants,
/// `get`, a checked `TryFrom<u8>` and `Display` (the constants' names). No Rust enum in
/// map values (STYLE 1): a byte the program or another tool wrote is always a valid
/// value of these types, merely an unknown one.
macro_rules! byte_newtype {
    (
        $(#[$meta:meta])*
        $name:ident { $($(#[doc = $doc:literal])* $constant:ident = $value:literal => $text:literal,)+ }
    ) => {
        $(#[$meta])*
        #[repr(transparent)]
        #[derive(Clone, Copy, PartialEq, Eq, Hash)]
        pub struct $name(u8);

        impl $name {
            $($(#[doc = $doc])* pub const $constant: Self = Self($value);)+

            /// The byte as stored in the map.
            #[inline(always)]
            pub const fn get(self) -> u8 {
                self.0
            }
        }

        impl TryFrom<u8> for $name {
            type Error = UnknownValue;

            fn try_from(value: u8) -> Result<Self, UnknownValue> {
                match value {
                    $($value => Ok(Self::$constant),)+
                    _ => Err(UnknownValue {
                        what: stringify!($name),
                        value,
                    }),
                }
            }
        }

        impl From<$name> for u8 {
            fn from(value: $name) -> u8 {
                value.0
            }
        }

        /// The constant's name, or the number when it is none of them.
        impl core::fmt::Display for $name {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                match self.0 {
                    $($value => f.write_str($text),)+
                    other => write!(f, "{}({other})", stringify!($name)),
                }
            }
        }

        impl core::fmt::Debug for $name {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                write!(f, "{}::{self}", stringify!($name))
            }
        }
    };
}

/// A byte that is none of a map field's named values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UnknownValue {
    /// The field's type.
    pub what: &'static str,
    pub value: u8,
}

impl core::fmt::Display for UnknownValue {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{} is not a known {}", self.value, self.what)
    }
}

impl core::error::Error for UnknownValue {}

byte_newtype! {
    /// Instance state, written by the controller (the program only reads it).
    KernelState {
        INIT = 0 => "INIT",
        BACKUP = 1 => "BACKUP",
        MASTER = 2 => "MASTER",
        FAULT = 3 => "FAULT",
    }
}

byte_newtype! {
    /// VRRP version of an instance (the advert's version nibble must equal it).
    VrrpVersion {
        /// RFC 3768.
        V2 = 2 => "2",
        /// RFC 5798.
        V3 = 3 => "3",
    }
}

impl VrrpVersion {
    /// The version number as configured, unchecked: a number other than 2 or 3 matches no
    /// advert, so the program drops them all (`bad_version`), a visible and safe failure.
    pub const fn from_raw(number: u8) -> Self {
        Self(number)
    }
}

byte_newtype! {
    /// Configured authentication: the VRRPv2 auth type numbers (RFC 2338 §5.3.6; AH is
    /// keepalived's IPSEC-AH).
    AuthType {
        NONE = 0 => "none",
        PASS = 1 => "pass",
        AH = 2 => "ah",
    }
}

/// Event kinds.
pub mod event {
    /// MASTER saw a higher priority (or an equal one from a higher address).
    pub const HIGHER_PRIORITY: u32 = 1;
    /// MASTER saw a lower priority (at most one per advert interval).
    pub const LOWER_PRIORITY: u32 = 2;
    /// A master announced it is leaving (priority 0).
    pub const PRIORITY_ZERO: u32 = 3;
    /// The master-down timer of a BACKUP expired.
    pub const MASTER_DOWN: u32 = 4;
}

/// Identifies an instance on the wire: the interface the program saw the advert on
/// (`xdp_md.ingress_ifindex`), the VLAN id of its 802.1Q/802.1ad tag (0: untagged or
/// priority-tagged), VRID and family.
///
/// An instance has one key for its own interface (untagged) and, where the program can
/// see its adverts elsewhere, aliases to the same slot: on a VLAN device's parent
/// (parent, VLAN id), on a bond's slaves in driver mode (slave, 0). See
/// docs/dataplane.md, "VLAN and bond interfaces".
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct InstanceKey {
    pub ifindex: u32,
    pub vrid: u8,
    /// [`family::IPV4`] or [`family::IPV6`].
    pub family: u8,
    /// VLAN id (12 bits) of the tag the program saw, 0 for none.
    pub vlan: u16,
}

/// What the controller tells the program about an instance.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InstanceConfig {
    pub key: InstanceKey,
    pub version: VrrpVersion,
    /// Our priority, 1-255.
    pub priority: u8,
    pub auth_type: AuthType,
    /// 1: preempt a lower-priority master; 0: keepalived's `nopreempt`.
    pub preempt: u8,
    /// Updated on every transition.
    pub state: KernelState,
    /// Number of virtual addresses adverts must carry (keepalived's `vip_cnt`).
    pub address_count: u8,
    /// Our advert interval in centiseconds.
    pub advert_interval_cs: u16,
    /// Our own address on the interface (IPv4 in the first 4 bytes): equal priorities are
    /// won by the higher address (RFC 5798 §6.4.3).
    pub own_address: [u8; 16],
    /// PASS data (zero-padded password).
    pub pass: [u8; 8],
    /// HMAC-MD5 state after the key's inner block (`key ⊕ ipad`): the raw key is not needed.
    pub hmac_inner: [u32; 4],
    /// HMAC-MD5 state after the key's outer block (`key ⊕ opad`).
    pub hmac_outer: [u32; 4],
    /// Full HMACs allowed per advert interval for adverts whose ICV was not predicted.
    pub hmac_budget: u32,
    /// keepalived's `preempt_delay` in milliseconds (0: none; see `policy`).
    pub preempt_delay_ms: u32,
    /// Advanced by the controller with every state it writes: a preempt hold started in an
    /// earlier epoch is over, so each entry into BACKUP starts afresh.
    pub state_epoch: u32,
    pub _pad: [u8; 4],
    /// Key of [`address_term`], chosen at random by the controller.
    pub address_seed: u64,
    /// The sum of [`address_term`] over the virtual addresses: an advert whose addresses
    /// sum to it carries ours (see [`InstanceConfig::set_addresses`]).
    pub address_digest: u64,
}

/// What the program learns about an instance, after the timer in the kernel's value.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Learned {
    /// Source address of the last valid advert.
    pub master_address: [u8; 16],
    /// `bpf_ktime_get_ns()` of the last valid advert.
    pub last_valid_ns: u64,
    /// Time of the last LOWER_PRIORITY event (rate limit: one per advert interval).
    pub lower_event_ns: u64,
    /// Start of the current HMAC budget window.
    pub budget_epoch_ns: u64,
    /// Full HMACs spent in the current window.
    pub budget_used: u32,
    /// The AH sequence `predicted[0]` is for; 0 = no prediction.
    pub predicted_sequence: u32,
    /// ICVs of the master's next three adverts if their content does not change.
    pub predicted: [[u8; 12]; 3],
    /// ICV of the master's next advert with priority 0 (its shutdown advert).
    pub predicted_zero: [u8; 12],
    /// Priority of the last valid advert.
    pub master_priority: u8,
    pub _pad0: u8,
    /// The IP id `predicted[0]` is for (keepalived's id advances with the sequence).
    pub predicted_id: u16,
    /// Length of `template`; 0 = no prediction.
    pub template_len: u16,
    pub _pad1: [u8; 2],
    /// The HMAC-covered bytes (IP header with mutable fields zeroed, AH with zero ICV, VRRP)
    /// of the last verified AH advert. An advert is verified by prediction only when it
    /// equals this byte for byte, apart from its IP id and AH sequence.
    pub template: [u8; TEMPLATE_LEN],
    /// End of the running preempt hold (0: none), valid in `hold_epoch` only.
    pub hold_until_ns: u64,
    /// The `InstanceConfig::state_epoch` the hold was started in.
    pub hold_epoch: u32,
    pub _pad2: [u8; 4],
}

/// A slot's master-down timer, as a deadline. The program keeps one `bpf_timer` for all
/// slots (in [`TIMER_MAP`]), armed for the earliest pending deadline: a `bpf_timer` per
/// slot costs one kernel allocation each, and the kernel can refuse those
/// (`bpf_timer_init` allocates with `kmalloc_nolock`, which fails with ENOMEM once the
/// slab has no free object and no page can be taken without a lock; see
/// docs/dataplane.md).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct MasterDown {
    /// `CLOCK_MONOTONIC` nanoseconds at which the master is down; 0: not armed.
    pub deadline_ns: u64,
    /// The deadline that last fired (equal to `deadline_ns` once it fired, until re-armed).
    pub fired_ns: u64,
}

impl MasterDown {
    /// Armed and not yet fired.
    pub const fn pending(&self) -> bool {
        self.deadline_ns != 0 && self.deadline_ns != self.fired_ns
    }
}

/// The runtime value of a slot, written by the program.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Runtime {
    pub master_down: MasterDown,
    pub learned: Learned,
}

impl Runtime {
    /// All zero: nothing learned, no prediction.
    pub const fn zeroed() -> Self {
        Self {
            master_down: MasterDown {
                deadline_ns: 0,
                fired_ns: 0,
            },
            learned: Learned {
                master_address: [0; 16],
                last_valid_ns: 0,
                lower_event_ns: 0,
                budget_epoch_ns: 0,
                budget_used: 0,
                predicted_sequence: 0,
                predicted: [[0; 12]; 3],
                predicted_zero: [0; 12],
                master_priority: 0,
                _pad0: 0,
                predicted_id: 0,
                template_len: 0,
                _pad1: [0; 2],
                template: [0; TEMPLATE_LEN],
                hold_until_ns: 0,
                hold_epoch: 0,
                _pad2: [0; 4],
            },
        }
    }
}

/// A state change for the controller.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Event {
    /// [`event`] constant.
    pub kind: u32,
    pub slot: u32,
    pub key: InstanceKey,
    /// `bpf_ktime_get_ns()` when it happened.
    pub timestamp_ns: u64,
    /// Sender of the advert (IPv4 in the first 4 bytes); zero for MASTER_DOWN.
    pub source: [u8; 16],
    /// AH sequence of the advert (0 without AH).
    pub sequence: u32,
    pub priority: u8,
    pub _pad: [u8; 3],
}

impl Event {
    /// Decodes an event from the ring buffer's bytes (native endianness, the layout above).
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        let u32_at = |at: usize| -> Option<u32> {
            Some(u32::from_ne_bytes(bytes.get(at..at + 4)?.try_into().ok()?))
        };
        let u8_at = |at: usize| bytes.get(at).copied();
        let mut source = [0u8; 16];
        source.copy_from_slice(bytes.get(24..40)?);
        Some(Self {
            kind: u32_at(0)?,
            slot: u32_at(4)?,
            key: InstanceKey {
                ifindex: u32_at(8)?,
                vrid: u8_at(12)?,
                family: u8_at(13)?,
                vlan: u16::from_ne_bytes(bytes.get(14..16)?.try_into().ok()?),
            },
            timestamp_ns: u64::from_ne_bytes(bytes.get(16..24)?.try_into().ok()?),
            source,
            sequence: u32_at(40)?,
            priority: u8_at(44)?,
            _pad: [0; 3],
        })
    }
}

/// A command for the control program (run with `BPF_PROG_TEST_RUN`, never attached): the
/// controller arms or cancels master-down timers through it, since only BPF programs can.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Control {
    /// [`CONTROL_MAGIC`].
    pub magic: u32,
    /// [`control`] constant.
    pub op: u32,
    pub slot: u32,
    pub _pad: u32,
    /// Timer delay for [`control::ARM`].
    pub delay_ns: u64,
}

/// Marks a control frame ("VRRC").
pub const CONTROL_MAGIC: u32 = 0x5652_5243;

/// Control operations.
pub mod control {
    /// (Re)arm the slot's master-down timer to fire after `delay_ns`.
    pub const ARM: u32 = 1;
    /// Cancel the slot's master-down timer.
    pub const CANCEL: u32 = 2;
    /// Initialise the shared master-down `bpf_timer` (no slot armed): the controller
    /// checks at start that the kernel can give it one.
    pub const INIT: u32 = 3;

    /// Which timer helper failed, in [`refused`]'s return value.
    pub const STEP_INIT: u32 = 0;
    pub const STEP_START: u32 = 1;
    /// Set in the control program's return value when a timer helper failed.
    pub const REFUSED: u32 = 0x1_0000;

    /// The control program's return value when timer helper `step` ([`STEP_INIT`],
    /// [`STEP_START`]) returned `code` (a negative errno): userspace gets the errno.
    pub const fn refused(step: u32, code: i64) -> u32 {
        REFUSED | (step << 12) | ((code.unsigned_abs() & 0xfff) as u32)
    }

    /// The helper and errno in a return value of [`refused`], if it is one.
    pub const fn decode(value: u32) -> Option<(u32, i32)> {
        if value & REFUSED == 0 {
            return None;
        }
        Some(((value >> 12) & 0xf, (value & 0xfff) as i32))
    }
}

const _: () = assert!(size_of::<InstanceKey>() == 8);
const _: () = assert!(size_of::<InstanceConfig>() == 104);
const _: () = assert!(size_of::<Learned>() == 312);
const _: () = assert!(size_of::<Runtime>() == 328);
const _: () = assert!(size_of::<MasterDown>() == 16);
const _: () = assert!(size_of::<Event>() == 48);
const _: () = assert!(size_of::<Control>() == 24);
const _: () = assert!(size_of::<KernelState>() == 1 && align_of::<KernelState>() == 1);
const _: () = assert!(size_of::<VrrpVersion>() == 1 && align_of::<VrrpVersion>() == 1);
const _: () = assert!(size_of::<AuthType>() == 1 && align_of::<AuthType>() == 1);
// The layout the program and userspace share, field by field where the newtypes sit.
const _: () = assert!(core::mem::offset_of!(InstanceConfig, version) == 8);
const _: () = assert!(core::mem::offset_of!(InstanceConfig, auth_type) == 10);
const _: () = assert!(core::mem::offset_of!(InstanceConfig, state) == 12);

impl InstanceConfig {
    /// An all-zero configuration (state INIT: the program drops everything for it).
    pub const fn zeroed() -> Self {
        Self {
            key: InstanceKey {
                ifindex: 0,
                vrid: 0,
                family: 0,
                vlan: 0,
            },
            version: VrrpVersion(0),
            priority: 0,
            auth_type: AuthType::NONE,
            preempt: 0,
            state: KernelState::INIT,
            address_count: 0,
            advert_interval_cs: 0,
            own_address: [0; 16],
            pass: [0; 8],
            hmac_inner: [0; 4],
            hmac_outer: [0; 4],
            hmac_budget: 0,
            preempt_delay_ms: 0,
            state_epoch: 0,
            _pad: [0; 4],
            address_seed: 0,
            address_digest: 0,
        }
    }
}

impl InstanceConfig {
    /// Sets the virtual addresses adverts must carry (the first
    /// [`MAX_ADVERT_ADDRESSES`]; the configuration moves any others to the excluded ones,
    /// as keepalived does), with `seed` as the digest's key.
    pub fn set_addresses(&mut self, addresses: &[[u8; 16]], seed: u64) {
        let count = addresses.len().min(MAX_ADVERT_ADDRESSES);
        self.address_count = count as u8;
        self.address_seed = seed;
        let mut digest = 0u64;
        let mut i = 0;
        while i < count {
            digest = digest.wrapping_add(address_term(seed, address_words(&addresses[i])));
            i += 1;
        }
        self.address_digest = digest;
    }
}

/// An address (IPv4 in the first 4 bytes, the rest zero) as four big-endian words.
pub fn address_words(address: &[u8; 16]) -> [u32; 4] {
    core::array::from_fn(|i| {
        u32::from_be_bytes([
            address[4 * i],
            address[4 * i + 1],
            address[4 * i + 2],
            address[4 * i + 3],
        ])
    })
}

/// MurmurHash3's 64-bit finaliser: every input bit moves every output bit.
#[inline(always)]
const fn fmix64(mut x: u64) -> u64 {
    x ^= x >> 33;
    x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
    x ^= x >> 33;
    x = x.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    x ^ (x >> 33)
}

/// One address's term of an instance's address digest (IPv4: words 1-3 zero).
///
/// keepalived accepts an advert when it carries as many addresses as the instance has and
/// each of the instance's is among them (`vrrp_check_packet`): for distinct addresses,
/// when the advert's addresses are ours in any order. The program checks the count, then
/// that the advert's terms sum to the instance's digest: a sum, so the order does not
/// matter, and repeats count (ours {A, B} never equals {A, A}). It reads each address once
/// whatever the count, where comparing every pair costs n² (see docs/dataplane.md).
///
/// Two different address lists with the same sum are a 64-bit collision of a keyed hash:
/// about 2⁻⁶⁴ for a list that differs. The check is a configuration-consistency check, as
/// in keepalived, not authentication (AH is): a sender that wants to pass it sends the
/// addresses.
#[inline(always)]
pub const fn address_term(seed: u64, words: [u32; 4]) -> u64 {
    let high = ((words[0] as u64) << 32) | words[1] as u64;
    let low = ((words[2] as u64) << 32) | words[3] as u64;
    fmix64(high ^ fmix64(low ^ seed) ^ seed.rotate_left(29))
}

/// Master-down interval (RFC 5798 §6.1, keepalived's `VRRP_MS_DOWN_TIMER`):
/// `3 × interval + skew` ([`skew_ns`]). Never truncated to whole seconds.
#[inline(always)]
pub const fn master_down_ns(version: u8, priority: u8, interval_cs: u16) -> u64 {
    let interval_ns = interval_cs as u64 * 10_000_000;
    3 * interval_ns + skew_ns(version, priority, interval_cs)
}

/// Skew time as keepalived computes it (`VRRP_TIMER_SKEW`): VRRPv2 (RFC 3768 §6.1)
/// `(256 − priority) / 256` s whatever the advert interval; VRRPv3 (RFC 5798 §6.1)
/// `(256 − priority) × interval / 256`.
#[inline(always)]
pub const fn skew_ns(version: u8, priority: u8, interval_cs: u16) -> u64 {
    let unit_ns = if version == 3 {
        interval_cs as u64 * 10_000_000
    } else {
        1_000_000_000
    };
    (256 - priority as u64) * unit_ns / 256
}

#[cfg(feature = "user")]
#[allow(
    unsafe_code,
    reason = "`aya::Pod` is an unsafe trait: this module is the one place vrrp-common needs `unsafe`"
)]
mod pod {
    // SAFETY: all of these are `#[repr(C)]`, made only of integers and integer arrays,
    // with explicit padding (no holes), so every bit pattern is valid.
    unsafe impl aya::Pod for super::InstanceKey {}
    unsafe impl aya::Pod for super::InstanceConfig {}
    unsafe impl aya::Pod for super::Runtime {}
    unsafe impl aya::Pod for super::Event {}
    unsafe impl aya::Pod for super::Control {}
}

#[cfg(test)]
mod tests {
    extern crate std;
    use std::string::ToString as _;

    use super::*;

    #[test]
    fn byte_newtypes_convert_only_known_values() {
        assert_eq!(KernelState::try_from(2), Ok(KernelState::MASTER));
        assert_eq!(
            KernelState::try_from(4),
            Err(UnknownValue {
                what: "KernelState",
                value: 4
            })
        );
        assert_eq!(VrrpVersion::try_from(3), Ok(VrrpVersion::V3));
        assert!(VrrpVersion::try_from(1).is_err());
        assert_eq!(AuthType::try_from(2), Ok(AuthType::AH));
        assert_eq!(u8::from(AuthType::PASS), 1);
    }

    fn v4(a: [u8; 4]) -> [u8; 16] {
        let mut out = [0; 16];
        out[..4].copy_from_slice(&a);
        out
    }

    #[test]
    fn address_digest_ignores_order_and_counts_repeats() {
        let (a, b, c) = (v4([10, 0, 0, 1]), v4([10, 0, 0, 2]), v4([10, 0, 0, 3]));
        let digest = |list: &[[u8; 16]]| {
            let mut cfg = InstanceConfig::zeroed();
            cfg.set_addresses(list, 0x1234_5678_9abc_def0);
            (cfg.address_count, cfg.address_digest)
        };
        assert_eq!(digest(&[a, b, c]), digest(&[c, a, b]));
        assert_ne!(digest(&[a, b]).1, digest(&[a, a]).1);
        assert_ne!(digest(&[a, b]).1, digest(&[a, c]).1);
        assert_eq!(digest(&[a, b, c]).0, 3);
        let many: std::vec::Vec<[u8; 16]> = (0..300u32)
            .map(|i| v4([10, 1, (i >> 8) as u8, i as u8]))
            .collect();
        assert_eq!(digest(&many).0 as usize, MAX_ADVERT_ADDRESSES);
        assert_eq!(digest(&many), digest(&many[..MAX_ADVERT_ADDRESSES]));
        // An IPv6 address and the IPv4 one in its first word differ.
        let mut v6 = a;
        v6[15] = 1;
        assert_ne!(digest(&[a]).1, digest(&[v6]).1);
    }

    #[test]
    fn byte_newtypes_display_their_names() {
        assert_eq!(KernelState::BACKUP.to_string(), "BACKUP");
        assert_eq!(AuthType::NONE.to_string(), "none");
        assert_eq!(VrrpVersion::V2.to_string(), "2");
        assert_eq!(VrrpVersion::from_raw(7).to_string(), "VrrpVersion(7)");
        assert_eq!(
            std::format!("{:?}", KernelState::FAULT),
            "KernelState::FAULT"
        );
    }
}
