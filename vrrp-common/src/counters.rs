//! Per-CPU counters kept by the XDP program: one global array, and one row per instance
//! (same indices) in `INSTANCE_COUNTERS_MAP`.
//!
//! The program does a plain `+= 1` on its CPU's slot and userspace sums the slots. Every
//! drop has a named reason here, in keepalived's check order. Indices are stable: a new
//! counter is appended, never inserted. A configuration change never resets them.
//!
//! [`Counter`] is the index. It never crosses the kernel/user boundary as a value (the maps
//! are indexed by `counter as u32` and hold plain `u64`s), so a Rust enum is safe here.

/// Name of the global per-CPU counter array.
pub const COUNTERS_MAP: &str = "COUNTERS";
/// Name of the per-instance per-CPU counter array (indexed by slot, value `[u64; COUNT]`).
pub const INSTANCE_COUNTERS_MAP: &str = "INSTANCE_COUNTERS";

/// Defines [`Counter`] (explicit, stable indices), [`COUNT`], [`NAMES`], [`Counter::name`]
/// and [`Counter::ALL`] from one list: adding a counter is one entry, appended at the end.
macro_rules! counters {
    ($($(#[doc = $doc:literal])* $variant:ident = $index:literal => $name:literal,)+) => {
        /// A counter: its index in the global array and in each instance's row.
        #[repr(u32)]
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum Counter {
            $($(#[doc = $doc])* $variant = $index,)+
        }

        /// Number of counters.
        pub const COUNT: u32 = [$($index),+].len() as u32;

        /// Name of each counter, indexed like the maps (for status output and metrics).
        pub const NAMES: [&str; COUNT as usize] = [$($name),+];

        impl Counter {
            /// Every counter, in index order.
            pub const ALL: [Counter; COUNT as usize] = [$(Counter::$variant),+];
        }
    };
}

counters! {
    /// Frames the program examined: those carrying VRRP or AH over IPv4 or IPv6. Other
    /// traffic is passed after parsing alone, without a counter (a map access per frame would
    /// be most of its cost).
    Frames = 0 => "frames",
    /// IPv4 frames carrying VRRP directly (protocol 112).
    Ipv4Vrrp = 1 => "ipv4_vrrp",
    /// IPv4 frames carrying an IPsec AH (protocol 51), keepalived's `auth_type AH` adverts.
    Ipv4Ah = 2 => "ipv4_ah",
    /// IPv6 frames carrying VRRP (next header 112).
    Ipv6Vrrp = 3 => "ipv6_vrrp",
    /// VRRP or AH frames too short for the headers they announce (dropped).
    Truncated = 4 => "truncated",
    /// IPv4 fragments (VRRP is never fragmented; fragments are passed untouched).
    Fragments = 5 => "fragments",
    /// Dropped: no instance for (interface, VRID, family).
    UnknownVrid = 6 => "unknown_vrid",
    /// Dropped: TTL / hop limit is not 255 (RFC 5798 §7.1).
    BadTtl = 7 => "bad_ttl",
    /// Dropped: IPv4 header checksum or header length wrong.
    BadIpHeader = 8 => "bad_ip_header",
    /// Dropped: AH present on an instance without AH authentication, or missing on one with it.
    AuthMismatch = 9 => "auth_mismatch",
    /// Dropped: AH or VRRP length inconsistent with the packet.
    BadLength = 10 => "bad_length",
    /// Dropped: VRRP version differs from the instance's.
    BadVersion = 11 => "bad_version",
    /// Dropped: VRRP type is not ADVERTISEMENT.
    BadType = 12 => "bad_type",
    /// Dropped: VRRPv2 auth type differs from the instance's.
    BadAuthType = 13 => "bad_auth_type",
    /// Dropped: PASS authentication data differs from the password.
    BadPassword = 14 => "bad_password",
    /// Dropped: AH SPI is not the sender's address.
    BadSpi = 15 => "bad_spi",
    /// Dropped: AH sequence not greater than the instance's counter (replay).
    Replay = 16 => "replay",
    /// Dropped: VRRPv2 advert interval differs from the instance's.
    BadInterval = 17 => "bad_interval",
    /// Dropped: address count differs from the instance's.
    BadAddressCount = 18 => "bad_address_count",
    /// Dropped: one of the instance's addresses is missing from the advert (keepalived).
    BadAddressList = 19 => "bad_address_list",
    /// Dropped: VRRP checksum wrong.
    BadChecksum = 20 => "bad_checksum",
    /// Dropped unverified: an AH advert whose ICV was not predicted arrived after this
    /// interval's HMAC budget was spent (flood protection, see the program's docs).
    HmacBudget = 21 => "hmac_budget",
    /// Dropped: AH ICV wrong.
    BadIcv = 22 => "bad_icv",
    /// Dropped: the instance is in INIT or FAULT and takes no part in elections.
    NotParticipating = 23 => "not_participating",
    /// Adverts that passed every check.
    Valid = 24 => "valid",
    /// AH adverts verified against a precomputed (predicted) ICV: no HMAC spent.
    IcvPredicted = 25 => "icv_predicted",
    /// AH adverts verified with a full HMAC-MD5.
    IcvComputed = 26 => "icv_computed",
    /// Events submitted to the ring buffer.
    Events = 27 => "events",
    /// Events lost because the ring buffer was full.
    EventsLost = 28 => "events_lost",
    /// Master-down timers that could not be initialised or started.
    TimerErrors = 29 => "timer_errors",
    /// Map lookups the kernel refused for a slot the program was handed (a slot beyond
    /// the arrays: the `SLOTS` hash or a control command names one). Counted globally
    /// only, since the slot has no row either.
    MapErrors = 30 => "map_errors",
}

// Indices are the positions in the list: no gap, no duplicate (the compiler rejects
// duplicates, this rejects gaps), so `ALL[c as usize] == c` and `NAMES` lines up.
const _: () = {
    let mut i = 0;
    while i < Counter::ALL.len() {
        assert!(Counter::ALL[i] as usize == i);
        i += 1;
    }
};

impl Counter {
    /// The counter's name in status output and metrics (`snake_case`).
    pub const fn name(self) -> &'static str {
        NAMES[self as usize]
    }

    /// The counter at `index`, if there is one.
    pub const fn from_index(index: u32) -> Option<Self> {
        if index < COUNT {
            Some(Self::ALL[index as usize])
        } else {
            None
        }
    }

    /// Whether the counter is one of the drop reasons in [`DROPS`].
    pub const fn is_drop(self) -> bool {
        self as u32 >= DROPS.start as u32 && (self as u32) < DROPS.end as u32
    }
}

impl core::fmt::Display for Counter {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.name())
    }
}

/// The drop reasons of adverts that reached an instance lookup, a contiguous range of
/// indices. (`truncated`, a drop found while parsing, sits before it: indices are stable.)
pub const DROPS: core::ops::Range<Counter> = Counter::UnknownVrid..Counter::Valid;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indices_are_the_ones_userspace_and_old_maps_know() {
        assert_eq!(COUNT, 31);
        assert_eq!(Counter::Frames as u32, 0);
        assert_eq!(Counter::Truncated as u32, 4);
        assert_eq!(Counter::UnknownVrid as u32, 6);
        assert_eq!(Counter::Valid as u32, 24);
        assert_eq!(Counter::EventsLost as u32, 28);
        assert_eq!(Counter::TimerErrors as u32, 29);
        assert_eq!(Counter::MapErrors as u32, 30);
    }

    #[test]
    fn names_follow_the_variants() {
        assert_eq!(Counter::Ipv4Ah.name(), "ipv4_ah");
        assert_eq!(Counter::BadAddressList.name(), "bad_address_list");
        assert_eq!(Counter::TimerErrors.name(), "timer_errors");
        assert_eq!(Counter::from_index(22), Some(Counter::BadIcv));
        assert_eq!(Counter::from_index(COUNT), None);
        for (i, c) in Counter::ALL.iter().enumerate() {
            assert_eq!(c.name(), NAMES[i]);
        }
    }

    #[test]
    fn drops_are_the_checks_from_the_lookup_on() {
        assert!(Counter::UnknownVrid.is_drop());
        assert!(Counter::BadIcv.is_drop());
        assert!(Counter::NotParticipating.is_drop());
        assert!(!Counter::Valid.is_drop());
        assert!(!Counter::Fragments.is_drop());
        assert_eq!(Counter::ALL.iter().filter(|c| c.is_drop()).count(), 18);
    }
}
