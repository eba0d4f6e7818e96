//! Per-CPU counters kept by the XDP program: one global array, and one row per instance
//! (same indices) in `INSTANCE_COUNTERS_MAP`.
//!
//! The program does a plain `+= 1` on its CPU's slot and userspace sums the slots. Every
//! drop has a named reason here, in keepalived's check order. Indices are stable: a new
//! counter is appended, never inserted. A configuration change never resets them.

/// Name of the global per-CPU counter array.
pub const COUNTERS_MAP: &str = "COUNTERS";
/// Name of the per-instance per-CPU counter array (indexed by slot, value `[u64; COUNT]`).
pub const INSTANCE_COUNTERS_MAP: &str = "INSTANCE_COUNTERS";

/// Frames the program examined: those carrying VRRP or AH over IPv4 or IPv6. Other
/// traffic is passed after parsing alone, without a counter (a map access per frame would
/// be most of its cost).
pub const FRAMES: u32 = 0;
/// IPv4 frames carrying VRRP directly (protocol 112).
pub const IPV4_VRRP: u32 = 1;
/// IPv4 frames carrying an IPsec AH (protocol 51), keepalived's `auth_type AH` adverts.
pub const IPV4_AH: u32 = 2;
/// IPv6 frames carrying VRRP (next header 112).
pub const IPV6_VRRP: u32 = 3;
/// VRRP or AH frames too short for the headers they announce (dropped).
pub const TRUNCATED: u32 = 4;
/// IPv4 fragments (VRRP is never fragmented; fragments are passed untouched).
pub const FRAGMENTS: u32 = 5;
/// Dropped: no instance for (interface, VRID, family).
pub const UNKNOWN_VRID: u32 = 6;
/// Dropped: TTL / hop limit is not 255 (RFC 5798 §7.1).
pub const BAD_TTL: u32 = 7;
/// Dropped: IPv4 header checksum or header length wrong.
pub const BAD_IP_HEADER: u32 = 8;
/// Dropped: AH present on an instance without AH authentication, or missing on one with it.
pub const AUTH_MISMATCH: u32 = 9;
/// Dropped: AH or VRRP length inconsistent with the packet.
pub const BAD_LENGTH: u32 = 10;
/// Dropped: VRRP version differs from the instance's.
pub const BAD_VERSION: u32 = 11;
/// Dropped: VRRP type is not ADVERTISEMENT.
pub const BAD_TYPE: u32 = 12;
/// Dropped: VRRPv2 auth type differs from the instance's.
pub const BAD_AUTH_TYPE: u32 = 13;
/// Dropped: PASS authentication data differs from the password.
pub const BAD_PASSWORD: u32 = 14;
/// Dropped: AH SPI is not the sender's address.
pub const BAD_SPI: u32 = 15;
/// Dropped: AH sequence not greater than the instance's counter (replay).
pub const REPLAY: u32 = 16;
/// Dropped: VRRPv2 advert interval differs from the instance's.
pub const BAD_INTERVAL: u32 = 17;
/// Dropped: address count differs from the instance's.
pub const BAD_ADDRESS_COUNT: u32 = 18;
/// Dropped: an advertised address is not one of the instance's.
pub const BAD_ADDRESS_LIST: u32 = 19;
/// Dropped: VRRP checksum wrong.
pub const BAD_CHECKSUM: u32 = 20;
/// Dropped unverified: an AH advert whose ICV was not predicted arrived after this
/// interval's HMAC budget was spent (flood protection, see the program's docs).
pub const HMAC_BUDGET: u32 = 21;
/// Dropped: AH ICV wrong.
pub const BAD_ICV: u32 = 22;
/// Dropped: the instance is in INIT or FAULT and takes no part in elections.
pub const NOT_PARTICIPATING: u32 = 23;
/// Adverts that passed every check.
pub const VALID: u32 = 24;
/// AH adverts verified against a precomputed (predicted) ICV: no HMAC spent.
pub const ICV_PREDICTED: u32 = 25;
/// AH adverts verified with a full HMAC-MD5.
pub const ICV_COMPUTED: u32 = 26;
/// Events submitted to the ring buffer.
pub const EVENTS: u32 = 27;
/// Events lost because the ring buffer was full.
pub const EVENTS_LOST: u32 = 28;
/// Master-down timers that could not be initialised or started.
pub const TIMER_ERRORS: u32 = 29;

/// Number of counters.
pub const COUNT: u32 = 30;

/// Name of each counter, indexed like the maps (for status output and metrics).
pub const NAMES: [&str; COUNT as usize] = [
    "frames",
    "ipv4_vrrp",
    "ipv4_ah",
    "ipv6_vrrp",
    "truncated",
    "fragments",
    "unknown_vrid",
    "bad_ttl",
    "bad_ip_header",
    "auth_mismatch",
    "bad_length",
    "bad_version",
    "bad_type",
    "bad_auth_type",
    "bad_password",
    "bad_spi",
    "replay",
    "bad_interval",
    "bad_address_count",
    "bad_address_list",
    "bad_checksum",
    "hmac_budget",
    "bad_icv",
    "not_participating",
    "valid",
    "icv_predicted",
    "icv_computed",
    "events",
    "events_lost",
    "timer_errors",
];

/// The counters that are drop reasons.
pub const DROPS: core::ops::Range<u32> = UNKNOWN_VRID..VALID;
