//! Bounds-checked packet access and header classification.
//!
//! All direct packet reads go through [`ptr_at`]. Header lengths come from the packet
//! (IPv4 `ihl * 4`, AH `(len + 2) * 4`), never from fixed sizes.
use core::mem::size_of;

use aya_ebpf::programs::XdpContext;
use vrrp_common::{IPPROTO_AH, IPPROTO_VRRP, counters::Counter, maps::family};

use crate::count;

const ETH_HLEN: usize = 14;
const ETH_P_IP: u16 = 0x0800;
const ETH_P_IPV6: u16 = 0x86dd;
const ETH_P_8021Q: u16 = 0x8100;
const ETH_P_8021AD: u16 = 0x88a8;
const VLAN_HLEN: usize = 4;
/// The VLAN id bits of a tag's TCI.
const VLAN_VID_MASK: u16 = 0x0fff;
pub const IPV6_HLEN: usize = 40;
/// keepalived's AH header: 12 fixed bytes + 12-byte ICV; length field 4.
pub const AH_LEN: usize = 24;
const AH_LEN_FIELD: u8 = 4;

/// A frame that must be dropped, with the counter naming why.
pub struct Drop(pub Counter);

/// The frame is too short for a header it announces.
pub struct Truncated;

impl From<Truncated> for Drop {
    fn from(_: Truncated) -> Self {
        Drop(Counter::Truncated)
    }
}

/// Where the advert's layers are, once the frame is known to carry VRRP.
pub struct Headers {
    /// Offset of the IP header in the frame.
    pub ip_off: usize,
    /// IP header length (IPv4 `ihl * 4`, IPv6 40).
    pub ip_len: usize,
    /// Bytes from the IP header to the end of the VRRP packet (IPv4 total length).
    pub total: usize,
    /// Offset of the VRRP header from the IP header (after AH, if any).
    pub vrrp_off: usize,
    pub family: u8,
    pub ah: bool,
    pub ttl: u8,
    pub vrid: u8,
    /// VLAN id of the frame's 802.1Q/802.1ad tag (0: none, or priority-tagged).
    pub vlan: u16,
}

/// What the frame is.
pub enum Class {
    /// Not VRRP (or VRRP behind AH for another protocol): passed untouched.
    Other,
    /// An IPv4 fragment: passed untouched (VRRP is never fragmented).
    Fragment,
    /// A VRRP advert, maybe behind AH.
    Advert(Headers),
}

/// A pointer to a `T` at `offset` bytes into the frame, if the whole `T` lies inside it.
#[inline(always)]
pub fn ptr_at<T>(ctx: &XdpContext, offset: usize) -> Result<*const T, Truncated> {
    let start = ctx.data();
    let end = ctx.data_end();
    if start + offset + size_of::<T>() > end {
        return Err(Truncated);
    }
    Ok((start + offset) as *const T)
}

#[inline(always)]
pub fn read<T: Copy>(ctx: &XdpContext, offset: usize) -> Result<T, Truncated> {
    let ptr = ptr_at::<T>(ctx, offset)?;
    // SAFETY: `ptr_at` checked that the whole `T` lies inside the frame; unaligned because
    // packet headers have no alignment guarantee.
    Ok(unsafe { ptr.read_unaligned() })
}

#[inline(always)]
fn be16(ctx: &XdpContext, offset: usize) -> Result<u16, Truncated> {
    read::<[u8; 2]>(ctx, offset).map(u16::from_be_bytes)
}

/// Ethernet → [one 802.1Q / 802.1ad tag] → IPv4 / IPv6 → [AH] → VRRP.
///
/// A frame too short to show its IP protocol is not ours and passes; one that announces
/// VRRP or AH and then ends early is dropped as truncated.
#[inline(always)]
pub fn classify(ctx: &XdpContext) -> Result<Class, Drop> {
    let Ok(mut ethertype) = be16(ctx, 12) else {
        return Ok(Class::Other);
    };
    let mut ip_off = ETH_HLEN;
    let mut vlan = 0;
    if ethertype == ETH_P_8021Q || ethertype == ETH_P_8021AD {
        let Ok([tci, inner]) = read::<[[u8; 2]; 2]>(ctx, ip_off) else {
            return Ok(Class::Other);
        };
        vlan = u16::from_be_bytes(tci) & VLAN_VID_MASK;
        ethertype = u16::from_be_bytes(inner);
        ip_off += VLAN_HLEN;
    }
    match ethertype {
        ETH_P_IP => classify_ipv4(ctx, ip_off, vlan),
        ETH_P_IPV6 => classify_ipv6(ctx, ip_off, vlan),
        _ => Ok(Class::Other),
    }
}

#[inline(always)]
fn classify_ipv4(ctx: &XdpContext, ip_off: usize, vlan: u16) -> Result<Class, Drop> {
    let Ok(version_ihl) = read::<u8>(ctx, ip_off) else {
        return Ok(Class::Other);
    };
    let Ok(protocol) = read::<u8>(ctx, ip_off + 9) else {
        return Ok(Class::Other);
    };
    if version_ihl >> 4 != 4 || (protocol != IPPROTO_VRRP && protocol != IPPROTO_AH) {
        return Ok(Class::Other);
    }
    count(Counter::Frames);
    count(if protocol == IPPROTO_AH {
        Counter::Ipv4Ah
    } else {
        Counter::Ipv4Vrrp
    });
    // The fixed header in one read. The variable part (options, AH, VRRP) is bounded by
    // `bpf_xdp_load_bytes` later, which fails on a short frame (counted `truncated`).
    let header = read::<[u8; 20]>(ctx, ip_off)?;
    let flags_fragment = u16::from_be_bytes([header[6], header[7]]);
    // More-fragments flag or a non-zero offset.
    if flags_fragment & 0x3fff != 0 {
        return Ok(Class::Fragment);
    }
    // A volatile re-read: otherwise LLVM derives `ihl * 4` from the version check above
    // with a mask the verifier cannot narrow, and rejects every later variable offset.
    // SAFETY: `ptr_at` checked the byte is inside the frame.
    let ihl = unsafe { core::ptr::read_volatile(ptr_at::<u8>(ctx, ip_off)?) } & 0x0f;
    let ip_len = usize::from(ihl) * 4;
    let total = usize::from(u16::from_be_bytes([header[2], header[3]]));
    if ip_len < 20 || total < ip_len {
        return Err(Drop(Counter::BadIpHeader));
    }
    let ah = protocol == IPPROTO_AH;
    let mut vrrp_off = ip_len;
    if ah {
        let [next_header, len_field] = read::<[u8; 2]>(ctx, ip_off + ip_len)?;
        if next_header != IPPROTO_VRRP {
            // AH protecting some other protocol: not ours (keepalived ignores it too).
            return Ok(Class::Other);
        }
        if len_field != AH_LEN_FIELD {
            return Err(Drop(Counter::BadLength));
        }
        vrrp_off += AH_LEN;
    }
    let vrid = read::<u8>(ctx, ip_off + vrrp_off + 1)?;
    let ttl = header[8];
    Ok(Class::Advert(Headers {
        ip_off,
        ip_len,
        total,
        vrrp_off,
        family: family::IPV4,
        ah,
        ttl,
        vrid,
        vlan,
    }))
}

#[inline(always)]
fn classify_ipv6(ctx: &XdpContext, ip_off: usize, vlan: u16) -> Result<Class, Drop> {
    let Ok(next_header) = read::<u8>(ctx, ip_off + 6) else {
        return Ok(Class::Other);
    };
    if next_header != IPPROTO_VRRP {
        return Ok(Class::Other);
    }
    count(Counter::Frames);
    count(Counter::Ipv6Vrrp);
    let header = read::<[u8; IPV6_HLEN]>(ctx, ip_off)?;
    let total = IPV6_HLEN + usize::from(u16::from_be_bytes([header[4], header[5]]));
    let vrid = read::<u8>(ctx, ip_off + IPV6_HLEN + 1)?;
    Ok(Class::Advert(Headers {
        ip_off,
        ip_len: IPV6_HLEN,
        total,
        vrrp_off: IPV6_HLEN,
        family: family::IPV6,
        ah: false,
        ttl: header[7],
        vrid,
        vlan,
    }))
}
