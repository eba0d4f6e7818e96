//! Bounds-checked packet access and header classification.
//!
//! All packet reads go through [`ptr_at`]. Header lengths come from the packet (IPv4
//! `ihl * 4`), never from fixed sizes.
use core::mem::size_of;

use aya_ebpf::programs::XdpContext;
use vrrp_common::{IPPROTO_AH, IPPROTO_VRRP};

const ETH_HLEN: usize = 14;
const ETH_P_IP: u16 = 0x0800;
const ETH_P_IPV6: u16 = 0x86dd;
const ETH_P_8021Q: u16 = 0x8100;
const ETH_P_8021AD: u16 = 0x88a8;
const VLAN_HLEN: usize = 4;
const IPV6_HLEN: usize = 40;

/// The frame ended before a header it announced.
pub struct Truncated;

/// What the program recognised.
pub enum Class {
    Ipv4Vrrp,
    Ipv4Ah,
    Ipv6Vrrp,
    Fragment,
    Other,
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
fn read<T: Copy>(ctx: &XdpContext, offset: usize) -> Result<T, Truncated> {
    let ptr = ptr_at::<T>(ctx, offset)?;
    // SAFETY: `ptr_at` checked that the whole `T` lies inside the frame; unaligned because
    // packet headers have no alignment guarantee.
    Ok(unsafe { ptr.read_unaligned() })
}

#[inline(always)]
fn be16(ctx: &XdpContext, offset: usize) -> Result<u16, Truncated> {
    read::<[u8; 2]>(ctx, offset).map(u16::from_be_bytes)
}

/// Ethernet → [one 802.1Q / 802.1ad tag] → IPv4 / IPv6 → protocol.
#[inline(always)]
pub fn classify(ctx: &XdpContext) -> Result<Class, Truncated> {
    let mut offset = ETH_HLEN;
    let mut ethertype = be16(ctx, 12)?;
    if ethertype == ETH_P_8021Q || ethertype == ETH_P_8021AD {
        ethertype = be16(ctx, offset + 2)?;
        offset += VLAN_HLEN;
    }
    match ethertype {
        ETH_P_IP => classify_ipv4(ctx, offset),
        ETH_P_IPV6 => {
            let next_header = read::<u8>(ctx, offset + 6)?;
            // The fixed header must be complete for the frame to be IPv6 at all.
            ptr_at::<[u8; IPV6_HLEN]>(ctx, offset)?;
            Ok(if next_header == IPPROTO_VRRP {
                Class::Ipv6Vrrp
            } else {
                Class::Other
            })
        }
        _ => Ok(Class::Other),
    }
}

#[inline(always)]
fn classify_ipv4(ctx: &XdpContext, offset: usize) -> Result<Class, Truncated> {
    let version_ihl = read::<u8>(ctx, offset)?;
    if version_ihl >> 4 != 4 {
        return Ok(Class::Other);
    }
    let header_len = usize::from(version_ihl & 0x0f) * 4;
    if header_len < 20 {
        return Ok(Class::Other);
    }
    let flags_fragment = be16(ctx, offset + 6)?;
    let protocol = read::<u8>(ctx, offset + 9)?;
    // The header, options included, must be inside the frame.
    if ctx.data() + offset + header_len > ctx.data_end() {
        return Err(Truncated);
    }
    // More-fragments flag or a non-zero offset.
    if flags_fragment & 0x3fff != 0 {
        return Ok(Class::Fragment);
    }
    Ok(match protocol {
        IPPROTO_VRRP => Class::Ipv4Vrrp,
        IPPROTO_AH => Class::Ipv4Ah,
        _ => Class::Other,
    })
}
