//! The one configuration model the daemon consumes, whichever file format it came from.
//!
//! It is also the YAML schema: the YAML reader deserialises straight into these types
//! (unknown keys rejected) and `vrrpd convert` serialises them. Field-level rules (ranges,
//! address syntax) live in the types' `Deserialize` impls, so a YAML error carries its
//! line and column; cross-field rules live in `validate`.
use std::{fmt, net::IpAddr, str::FromStr};

use serde::{Deserialize, Deserializer, Serialize, Serializer, de};

/// Deserialises an integer and checks it *inside* the visitor, so a YAML error points at
/// the value itself (an error raised after deserialisation would point at its mapping).
fn checked_integer<'de, D, T>(
    d: D,
    expecting: &'static str,
    check: fn(u64) -> Result<T, String>,
) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
{
    struct V<T>(&'static str, fn(u64) -> Result<T, String>);
    impl<T> de::Visitor<'_> for V<T> {
        type Value = T;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(self.0)
        }

        fn visit_u64<E: de::Error>(self, v: u64) -> Result<T, E> {
            (self.1)(v).map_err(E::custom)
        }

        fn visit_i64<E: de::Error>(self, v: i64) -> Result<T, E> {
            let v = u64::try_from(v)
                .map_err(|_| E::custom(format!("{v} is negative: expected {}", self.0)))?;
            (self.1)(v).map_err(E::custom)
        }
    }
    d.deserialize_any(V(expecting, check))
}

/// Like [`checked_integer`], for a number of seconds (integer or decimal).
fn checked_seconds<'de, D: Deserializer<'de>>(d: D) -> Result<Seconds, D::Error> {
    struct V;
    impl de::Visitor<'_> for V {
        type Value = Seconds;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a number of seconds, like 1 or 0.5")
        }

        fn visit_f64<E: de::Error>(self, v: f64) -> Result<Seconds, E> {
            Seconds::try_from(v).map_err(E::custom)
        }

        fn visit_u64<E: de::Error>(self, v: u64) -> Result<Seconds, E> {
            Seconds::try_from(v as f64).map_err(E::custom)
        }

        fn visit_i64<E: de::Error>(self, v: i64) -> Result<Seconds, E> {
            Seconds::try_from(v as f64).map_err(E::custom)
        }
    }
    d.deserialize_any(V)
}

/// A whole configuration: globals, instances, sync groups, scripts.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default, skip_serializing_if = "Global::is_default")]
    pub global: Global,
    #[serde(default)]
    pub instances: Vec<Instance>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sync_groups: Vec<SyncGroup>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scripts: Vec<Script>,
    /// Files whose number moves priorities (keepalived's `vrrp_track_file`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub track_files: Vec<TrackFile>,
}

/// Settings for the whole daemon (keepalived's `global_defs`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Global {
    /// Names this director in logs and notifications (defaults to the host name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub router_id: Option<String>,
    /// User that runs scripts without a `user` of their own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub script_user: Option<String>,
    /// A FIFO that gets one line per transition (keepalived's `notify_fifo`:
    /// `INSTANCE "VI_1" MASTER 150`, `GROUP "VG" MASTER`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notify_fifo: Option<String>,
    /// Defaults for every instance's gratuitous ARP / unsolicited NA settings.
    #[serde(default, skip_serializing_if = "Garp::is_default")]
    pub garp: Garp,
}

impl Global {
    fn is_default(&self) -> bool {
        *self == Self::default()
    }
}

/// VRRP protocol version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Version {
    /// RFC 3768; the only version with authentication. keepalived's default.
    #[default]
    V2,
    /// RFC 5798; IPv4 and IPv6, centisecond intervals.
    V3,
}

impl Serialize for Version {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u8(match self {
            Self::V2 => 2,
            Self::V3 => 3,
        })
    }
}

impl<'de> Deserialize<'de> for Version {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        checked_integer(d, "VRRP version 2 or 3", |v| match v {
            2 => Ok(Self::V2),
            3 => Ok(Self::V3),
            other => Err(format!("VRRP version {other} is not 2 or 3")),
        })
    }
}

/// A state an instance starts in (keepalived's `state`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum InitialState {
    #[default]
    Backup,
    Master,
}

/// A duration with centisecond resolution (VRRPv3's unit), written in seconds: `1`, `0.5`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default, Hash)]
pub struct Seconds {
    centis: u32,
}

impl Seconds {
    pub const fn from_centis(centis: u32) -> Self {
        Self { centis }
    }

    pub const fn from_secs(secs: u32) -> Self {
        Self { centis: secs * 100 }
    }

    pub fn centis(self) -> u32 {
        self.centis
    }

    pub fn as_duration(self) -> std::time::Duration {
        std::time::Duration::from_millis(u64::from(self.centis) * 10)
    }

    /// Whether this is a whole number of seconds.
    pub fn is_whole(self) -> bool {
        self.centis.is_multiple_of(100)
    }
}

impl FromStr for Seconds {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let value: f64 = s
            .parse()
            .map_err(|_| format!("`{s}` is not a number of seconds"))?;
        Self::try_from(value)
    }
}

impl TryFrom<f64> for Seconds {
    type Error = String;

    fn try_from(value: f64) -> Result<Self, String> {
        if !value.is_finite() || value < 0.0 {
            return Err(format!("{value} is not a non-negative number of seconds"));
        }
        let centis = (value * 100.0).round();
        if centis > f64::from(u32::MAX) {
            return Err(format!("{value} seconds is too long"));
        }
        Ok(Self {
            centis: centis as u32,
        })
    }
}

impl fmt::Display for Seconds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_whole() {
            write!(f, "{}", self.centis / 100)
        } else {
            write!(f, "{}.{:02}", self.centis / 100, self.centis % 100)
        }
    }
}

impl Serialize for Seconds {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if self.is_whole() {
            s.serialize_u32(self.centis / 100)
        } else {
            s.serialize_f64(f64::from(self.centis) / 100.0)
        }
    }
}

impl<'de> Deserialize<'de> for Seconds {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        checked_seconds(d)
    }
}

/// Virtual router identifier, 1–255 (RFC 5798 §5.2.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct Vrid(u8);

impl Vrid {
    pub fn get(self) -> u8 {
        self.0
    }
}

impl TryFrom<u64> for Vrid {
    type Error = String;

    fn try_from(value: u64) -> Result<Self, String> {
        match u8::try_from(value) {
            Ok(v) if v >= 1 => Ok(Self(v)),
            _ => Err(format!(
                "virtual router id {value} is out of range: must be 1-255"
            )),
        }
    }
}

impl<'de> Deserialize<'de> for Vrid {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        checked_integer(d, "a virtual router id 1-255", Self::try_from)
    }
}

/// Priority, 1–255; 255 means the address owner (RFC 5798 §5.2.4). 0 is only ever sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct Priority(u8);

impl Priority {
    pub const OWNER: Self = Self(255);
    pub const DEFAULT: Self = Self(100);

    pub fn get(self) -> u8 {
        self.0
    }
}

impl Default for Priority {
    fn default() -> Self {
        Self::DEFAULT
    }
}

impl TryFrom<u64> for Priority {
    type Error = String;

    fn try_from(value: u64) -> Result<Self, String> {
        match u8::try_from(value) {
            Ok(v) if v >= 1 => Ok(Self(v)),
            _ => Err(format!(
                "priority {value} is out of range: must be 1-255 (255 = address owner)"
            )),
        }
    }
}

impl<'de> Deserialize<'de> for Priority {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        checked_integer(d, "a priority 1-255", Self::try_from)
    }
}

/// A secret (VRRP password / AH key): bytes, as keepalived takes them (a Latin-1 password
/// is fine). Never shown by `Debug`, nor quoted by any error about it: it only appears where
/// the file format needs it (`vrrpd convert` output).
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(pub Vec<u8>);

impl Secret {
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// As a YAML string; a password that is not UTF-8 cannot be written in YAML, and says so
/// without showing it.
impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match std::str::from_utf8(&self.0) {
            Ok(text) => s.serialize_str(text),
            Err(_) => Err(serde::ser::Error::custom(
                "a password that is not UTF-8 text cannot be written in YAML",
            )),
        }
    }
}

/// A string, or a number written without quotes (`password: 1234`, kept as written digits);
/// an error never echoes the value.
impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> de::Visitor<'de> for V {
            type Value = Secret;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a password (a string)")
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<Secret, E> {
                Ok(Secret(v.as_bytes().to_vec()))
            }

            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Secret, E> {
                Ok(Secret(v.to_string().into_bytes()))
            }

            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Secret, E> {
                Ok(Secret(v.to_string().into_bytes()))
            }

            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Secret, E> {
                Err(E::custom("a password must be a string: quote it"))
            }

            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Secret, E> {
                Err(E::custom("a password must be a string: quote it"))
            }

            fn visit_unit<E: de::Error>(self) -> Result<Secret, E> {
                Err(E::custom("a password must not be empty"))
            }

            fn visit_map<A: de::MapAccess<'de>>(self, _: A) -> Result<Secret, A::Error> {
                Err(de::Error::custom("a password must be a string"))
            }

            fn visit_seq<A: de::SeqAccess<'de>>(self, _: A) -> Result<Secret, A::Error> {
                Err(de::Error::custom("a password must be a string"))
            }
        }
        d.deserialize_any(V)
    }
}

/// VRRPv2 authentication.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Authentication {
    #[serde(rename = "type")]
    pub kind: AuthKind,
    /// At most 8 bytes are used (keepalived cuts longer ones, with a warning).
    pub password: Secret,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AuthKind {
    /// IPSEC-AH, HMAC-MD5-96 (keepalived's `auth_type AH`).
    Ah,
    /// Simple password (keepalived's `auth_type PASS`).
    Pass,
}

/// A virtual address: `address[/prefix]`, optionally on another device and with a label.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VirtualAddress {
    pub address: IpAddr,
    /// Prefix length; keepalived's default is the host prefix (/32, /128).
    pub prefix_len: u8,
    pub dev: Option<String>,
    pub label: Option<String>,
}

impl VirtualAddress {
    /// Parses `address[/prefix]`.
    pub fn parse_cidr(text: &str) -> Result<(IpAddr, u8), String> {
        let (addr, len) = match text.split_once('/') {
            Some((a, l)) => (a, Some(l)),
            None => (text, None),
        };
        let address: IpAddr = addr
            .parse()
            .map_err(|_| format!("`{addr}` is not an IPv4 or IPv6 address"))?;
        let max = if address.is_ipv4() { 32 } else { 128 };
        let prefix_len = match len {
            None => max,
            Some(l) => l
                .parse::<u8>()
                .ok()
                .filter(|l| *l <= max)
                .ok_or_else(|| format!("prefix length `{l}` must be 0-{max}"))?,
        };
        Ok((address, prefix_len))
    }

    fn cidr(&self) -> String {
        let max = if self.address.is_ipv4() { 32 } else { 128 };
        if self.prefix_len == max {
            self.address.to_string()
        } else {
            format!("{}/{}", self.address, self.prefix_len)
        }
    }
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct VirtualAddressFields {
    address: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    dev: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    label: Option<String>,
}

/// Written either as `192.168.200.10/32` or as `{address: ..., dev: ..., label: ...}`.
impl Serialize for VirtualAddress {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if self.dev.is_none() && self.label.is_none() {
            s.serialize_str(&self.cidr())
        } else {
            VirtualAddressFields {
                address: self.cidr(),
                dev: self.dev.clone(),
                label: self.label.clone(),
            }
            .serialize(s)
        }
    }
}

impl<'de> Deserialize<'de> for VirtualAddress {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> de::Visitor<'de> for Visitor {
            type Value = VirtualAddress;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an address like 192.168.200.10/32, or {address, dev, label}")
            }

            fn visit_str<E: de::Error>(self, text: &str) -> Result<VirtualAddress, E> {
                let (address, prefix_len) = VirtualAddress::parse_cidr(text).map_err(E::custom)?;
                Ok(VirtualAddress {
                    address,
                    prefix_len,
                    dev: None,
                    label: None,
                })
            }

            fn visit_map<A: de::MapAccess<'de>>(self, map: A) -> Result<VirtualAddress, A::Error> {
                let fields =
                    VirtualAddressFields::deserialize(de::value::MapAccessDeserializer::new(map))?;
                let (address, prefix_len) =
                    VirtualAddress::parse_cidr(&fields.address).map_err(de::Error::custom)?;
                Ok(VirtualAddress {
                    address,
                    prefix_len,
                    dev: fields.dev,
                    label: fields.label,
                })
            }
        }
        d.deserialize_any(Visitor)
    }
}

/// A tracked interface or script: a failure either forces FAULT (no weight) or changes the
/// priority by `weight`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Track {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight: Option<i32>,
    /// keepalived's `weight N reverse`: the adjustment goes the other way (a script that
    /// succeeds lowers the priority by a positive weight; without a weight, success = FAULT).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub reverse: bool,
}

/// Commands run on state changes (keepalived's `notify_*`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Notify {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub master: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fault: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop: Option<String>,
    /// Run on every transition with `INSTANCE|GROUP name state priority` arguments.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub any: Option<String>,
}

impl Notify {
    fn is_default(&self) -> bool {
        *self == Self::default()
    }
}

/// Gratuitous ARP / unsolicited NA after becoming MASTER.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Garp {
    /// Delay before the second burst (keepalived `garp_master_delay`, default 5 s; 0 = none).
    pub master_delay: Seconds,
    /// Messages per address in each burst (`garp_master_repeat`, default 5).
    pub master_repeat: u32,
    /// Period of refresh bursts while MASTER (`garp_master_refresh`, 0 = never).
    pub master_refresh: Seconds,
    /// Messages per address in each refresh (`garp_master_refresh_repeat`, default 1).
    pub master_refresh_repeat: u32,
    /// Gap between two messages (`garp_interval`, default 0).
    pub interval: Seconds,
    /// As MASTER, on hearing a lower priority: delay of the second burst
    /// (`garp_lower_prio_delay`; unset: the global value, else the global `master_delay`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lower_prio_delay: Option<Seconds>,
    /// Messages per address in those bursts (`garp_lower_prio_repeat`, 0 = none; unset: the
    /// global value, else the global `master_repeat`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lower_prio_repeat: Option<u32>,
}

impl Default for Garp {
    fn default() -> Self {
        Self {
            master_delay: Seconds::from_secs(5),
            master_repeat: 5,
            master_refresh: Seconds::default(),
            master_refresh_repeat: 1,
            interval: Seconds::default(),
            lower_prio_delay: None,
            lower_prio_repeat: None,
        }
    }
}

impl Garp {
    fn is_default(&self) -> bool {
        *self == Self::default()
    }
}

fn default_interval() -> Seconds {
    Seconds::from_secs(1)
}

fn yes() -> bool {
    true
}

fn is_true(b: &bool) -> bool {
    *b
}

fn is_default<T: Default + PartialEq>(value: &T) -> bool {
    *value == T::default()
}

fn is_one_second(s: &Seconds) -> bool {
    *s == default_interval()
}

/// One VRRP instance (keepalived's `vrrp_instance`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Instance {
    pub name: String,
    pub interface: String,
    pub vrid: Vrid,
    #[serde(default, skip_serializing_if = "is_default")]
    pub version: Version,
    /// Unwritten: 255 with `state: MASTER`, else 100 (keepalived; see `config::defaults`).
    #[serde(default)]
    pub priority: Priority,
    /// Unwritten: MASTER at priority 255, else BACKUP (keepalived). Always written out, so a
    /// converted file keeps an owner's explicit BACKUP.
    #[serde(default)]
    pub state: InitialState,
    /// Seconds between adverts (v2: whole seconds 1-255; v3: 0.01-40.95).
    #[serde(default = "default_interval", skip_serializing_if = "is_one_second")]
    pub advert_interval: Seconds,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authentication: Option<Authentication>,
    #[serde(default)]
    pub virtual_addresses: Vec<VirtualAddress>,
    /// Added and removed with `virtual_addresses` but not carried in adverts (keepalived's
    /// `virtual_ipaddress_excluded`; also where addresses beyond the 255 an advert can
    /// carry go, as keepalived moves them).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub virtual_addresses_excluded: Vec<VirtualAddress>,
    /// Take over from a lower-priority master (default). `false` = keepalived `nopreempt`,
    /// which is cleared (with keepalived's warning) at priority 255 or with state MASTER.
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    pub preempt: bool,
    /// Wait this long after start-up before preempting (`preempt_delay`, 0-1000 s). Cleared
    /// (with keepalived's warning) with state MASTER or `preempt: false`.
    #[serde(default, skip_serializing_if = "is_default")]
    pub preempt_delay: Seconds,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub track_interfaces: Vec<Track>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub track_scripts: Vec<Track>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub track_files: Vec<Track>,
    #[serde(default, skip_serializing_if = "Notify::is_default")]
    pub notify: Notify,
    /// Per-instance override of `global.garp`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub garp: Option<Garp>,
    /// The address adverts are sent from (keepalived's `mcast_src_ip` and `unicast_src_ip`,
    /// one setting there too); unset: the interface's primary address (IPv6: its
    /// link-local one), chosen again when the interface's addresses change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unicast_src: Option<IpAddr>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unicast_peers: Vec<IpAddr>,
}

impl Instance {
    /// Every address the instance holds as MASTER: the advertised ones, then the excluded.
    pub fn all_addresses(&self) -> impl Iterator<Item = &VirtualAddress> {
        self.virtual_addresses
            .iter()
            .chain(&self.virtual_addresses_excluded)
    }

    /// The state the instance really starts in (keepalived's `try_up_instance`): only an
    /// address owner (priority 255) whose state is MASTER (written, or derived from the
    /// priority when `state` is left out) starts as MASTER; every other
    /// instance starts as BACKUP and becomes MASTER when its master-down timer expires.
    /// (`state MASTER` below 255 only lets keepalived warn about AH, which needs the peers'
    /// sequence numbers before sending.)
    pub fn start_state(&self) -> InitialState {
        if self.state == InitialState::Master && self.priority == Priority::OWNER {
            InitialState::Master
        } else {
            InitialState::Backup
        }
    }
}

/// Instances that change state together (keepalived's `vrrp_sync_group`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyncGroup {
    pub name: String,
    pub members: Vec<String>,
    #[serde(default, skip_serializing_if = "Notify::is_default")]
    pub notify: Notify,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub track_interfaces: Vec<Track>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub track_scripts: Vec<Track>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub track_files: Vec<Track>,
    /// keepalived's `sync_group_tracking_weight`: members keep the weights of their own
    /// tracked interfaces and scripts (without it those weights are ignored, see `tracking`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub tracking_weight: bool,
}

fn default_rise_fall() -> u32 {
    1
}

fn is_one(n: &u32) -> bool {
    *n == 1
}

/// A health-check script (keepalived's `vrrp_script`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Script {
    pub name: String,
    pub command: String,
    #[serde(default = "default_interval", skip_serializing_if = "is_one_second")]
    pub interval: Seconds,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Seconds>,
    #[serde(default = "default_rise_fall", skip_serializing_if = "is_one")]
    pub rise: u32,
    #[serde(default = "default_rise_fall", skip_serializing_if = "is_one")]
    pub fall: u32,
    #[serde(default, skip_serializing_if = "is_default")]
    pub weight: i32,
    /// `weight N reverse`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub reverse: bool,
    /// keepalived's `init_fail`: failed until it first succeeds (default: unknown until
    /// its first result, which then counts at once).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub init_fail: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
}

fn weight_one() -> i32 {
    1
}

fn is_weight_one(w: &i32) -> bool {
    *w == 1
}

/// A file holding a number (keepalived's `vrrp_track_file`): with weight W a tracking
/// instance's priority moves by number × W (at most 253; −254 or below: FAULT); with
/// weight 0 any number but 0 means FAULT. A missing or unreadable file reads 0.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrackFile {
    pub name: String,
    pub file: String,
    #[serde(default = "weight_one", skip_serializing_if = "is_weight_one")]
    pub weight: i32,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub reverse: bool,
}
