//! Global per-CPU counters kept by the XDP program.
//!
//! The map [`COUNTERS_MAP`] is a per-CPU array of `u64` indexed by the constants below; the
//! program does a plain `+= 1` on its CPU's slot and userspace sums the slots. Indices are
//! stable: a new counter is appended, never inserted, so a newer daemon reads an older
//! program's map correctly.

/// Name of the per-CPU counter array in the eBPF object.
pub const COUNTERS_MAP: &str = "COUNTERS";

/// Every frame the program saw.
pub const FRAMES: u32 = 0;
/// IPv4 frames carrying VRRP directly (protocol 112).
pub const IPV4_VRRP: u32 = 1;
/// IPv4 frames carrying an IPsec AH (protocol 51), keepalived's `auth_type AH` adverts.
pub const IPV4_AH: u32 = 2;
/// IPv6 frames carrying VRRP (next header 112).
pub const IPV6_VRRP: u32 = 3;
/// Frames too short for the headers they announce.
pub const TRUNCATED: u32 = 4;
/// IPv4 fragments (VRRP is never fragmented; fragments are passed untouched).
pub const FRAGMENTS: u32 = 5;

/// Number of slots in [`COUNTERS_MAP`].
pub const COUNT: u32 = 6;

/// Human-readable name of each counter, indexed like the map (for status output and metrics).
pub const NAMES: [&str; COUNT as usize] = [
    "frames",
    "ipv4_vrrp",
    "ipv4_ah",
    "ipv6_vrrp",
    "truncated",
    "fragments",
];
