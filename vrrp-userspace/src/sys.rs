//! The raw system calls vrrpd makes beyond what its libraries wrap: sending whole Ethernet
//! frames on an interface (AF_PACKET), joining the VRRP multicast group on an interface, and
//! entering another network namespace. This module
//! and the eBPF crate are the only places with `unsafe`.
#![allow(
    unsafe_code,
    reason = "libc syscalls and an mmapped BPF map; each has a SAFETY line"
)]

use std::{
    ffi::CString,
    fs::File,
    io,
    os::fd::{AsRawFd as _, FromRawFd as _, OwnedFd},
    path::Path,
};

/// The index of interface `name` in the calling thread's network namespace.
pub fn if_index(name: &str) -> io::Result<u32> {
    let c_name = CString::new(name).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: `c_name` is a valid NUL-terminated string for the duration of the call.
    let index = unsafe { libc::if_nametoindex(c_name.as_ptr()) };
    if index == 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(index)
    }
}

/// An AF_PACKET socket bound to one interface, sending complete Ethernet frames.
#[derive(Debug)]
pub struct PacketSocket {
    fd: OwnedFd,
    if_index: u32,
}

impl PacketSocket {
    /// Opens a raw packet socket on `interface` (needs CAP_NET_RAW).
    pub fn open(interface: &str) -> io::Result<Self> {
        let if_index = if_index(interface)?;
        // SAFETY: plain socket(2) call; the returned descriptor is checked before use.
        let raw = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 0) };
        if raw < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `raw` is a freshly created descriptor that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        Ok(Self { fd, if_index })
    }

    /// The index of the interface the socket sends on.
    pub fn if_index(&self) -> u32 {
        self.if_index
    }

    /// Sends one frame (destination MAC and all) out of the interface.
    pub fn send(&self, frame: &[u8]) -> io::Result<()> {
        // SAFETY: sockaddr_ll is plain old data; all-zero is a valid value.
        let mut addr: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        addr.sll_family = libc::AF_PACKET as u16;
        addr.sll_ifindex = self.if_index as i32;
        addr.sll_halen = 6;
        addr.sll_addr[..6].copy_from_slice(frame.get(..6).unwrap_or(&[0; 6]));
        // SAFETY: `frame` and `addr` are valid for the given lengths during the call.
        let sent = unsafe {
            libc::sendto(
                self.fd.as_raw_fd(),
                frame.as_ptr().cast(),
                frame.len(),
                0,
                std::ptr::from_ref(&addr).cast(),
                size_of::<libc::sockaddr_ll>() as libc::socklen_t,
            )
        };
        if sent < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(())
        }
    }
}

/// Membership of VRRP's multicast group on one interface, as keepalived holds it: the
/// interface's multicast filter then passes the adverts (a NIC filtering multicast would
/// otherwise never hand them to XDP) and the kernel answers IGMP/MLD queries for it. Held
/// while the value lives (a UDP socket that is never read: the XDP program takes the
/// adverts before the stack).
#[derive(Debug)]
pub struct GroupMembership {
    _socket: std::net::UdpSocket,
}

impl GroupMembership {
    /// Joins 224.0.0.18 (`v6` false) or ff02::12 on interface `if_index`.
    pub fn join(if_index: u32, v6: bool) -> io::Result<Self> {
        use std::net::{Ipv4Addr, Ipv6Addr, UdpSocket};
        if v6 {
            let socket = UdpSocket::bind((Ipv6Addr::UNSPECIFIED, 0))?;
            let group = Ipv6Addr::from(vrrp_common::VRRP_GROUP_V6);
            socket.join_multicast_v6(&group, if_index)?;
            return Ok(Self { _socket: socket });
        }
        let socket = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0))?;
        // The standard library joins IPv4 groups by interface address; by index here, so
        // that an address shared by two interfaces cannot pick the wrong one.
        let request = libc::ip_mreqn {
            imr_multiaddr: libc::in_addr {
                s_addr: u32::from(Ipv4Addr::from(vrrp_common::VRRP_GROUP_V4)).to_be(),
            },
            imr_address: libc::in_addr { s_addr: 0 },
            imr_ifindex: i32::try_from(if_index)
                .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?,
        };
        // SAFETY: `request` is a valid ip_mreqn for the duration of the call, and the length
        // passed is its size.
        let done = unsafe {
            libc::setsockopt(
                socket.as_raw_fd(),
                libc::IPPROTO_IP,
                libc::IP_ADD_MEMBERSHIP,
                std::ptr::from_ref(&request).cast(),
                size_of::<libc::ip_mreqn>() as libc::socklen_t,
            )
        };
        if done < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Self { _socket: socket })
    }
}

/// Moves the calling thread into the network namespace at `path` (e.g.
/// `/run/netns/NAME`). Only this thread changes namespace.
pub fn enter_netns(path: &Path) -> io::Result<()> {
    let file = File::open(path)?;
    // SAFETY: `file` is an open namespace descriptor for the duration of the call.
    let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// An mmapped BPF array of `u64` (`BPF_F_MMAPABLE`), shared with the XDP program: the
/// AH sequence counters. Each element is accessed atomically.
#[derive(Debug)]
pub struct SharedCounters {
    base: std::ptr::NonNull<std::sync::atomic::AtomicU64>,
    len: usize,
}

// SAFETY: the mapping is plain shared memory accessed only through atomics.
unsafe impl Send for SharedCounters {}
// SAFETY: as above.
unsafe impl Sync for SharedCounters {}

impl SharedCounters {
    /// Maps the `len` elements of the array map behind `fd`.
    pub fn map(fd: std::os::fd::BorrowedFd<'_>, len: usize) -> io::Result<Self> {
        let bytes = len * size_of::<u64>();
        // SAFETY: a shared read-write mapping of a mmapable BPF array; the kernel checks
        // the size against the map.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                bytes,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                fd.as_raw_fd(),
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let base = std::ptr::NonNull::new(ptr.cast()).ok_or_else(io::Error::last_os_error)?;
        Ok(Self { base, len })
    }

    /// Element `index`, or `None` past the end.
    pub fn get(&self, index: usize) -> Option<&std::sync::atomic::AtomicU64> {
        // SAFETY: `index < len` elements of 8 bytes lie in the mapping, which lives as
        // long as `self`; the kernel aligns array elements to 8 bytes.
        (index < self.len).then(|| unsafe { &*self.base.as_ptr().add(index) })
    }
}

impl Drop for SharedCounters {
    fn drop(&mut self) {
        // SAFETY: unmapping exactly what `map` mapped; no references outlive `self`.
        unsafe { libc::munmap(self.base.as_ptr().cast(), self.len * size_of::<u64>()) };
    }
}

/// Registers a duplicate of `fd` with tokio's reactor, to await readability (the event
/// ring buffer).
pub fn async_fd(fd: std::os::fd::BorrowedFd<'_>) -> io::Result<tokio::io::unix::AsyncFd<OwnedFd>> {
    let owned = fd.try_clone_to_owned()?;
    // SAFETY: `owned` is a descriptor we own; the AsyncFd owns it from here on, so it stays
    // open while registered and is deregistered before it is closed.
    unsafe { tokio::io::unix::AsyncFd::register(owned) }.map_err(|e| e.into_parts().1)
}

/// The running kernel's release (`uname -r`).
pub fn kernel_release() -> io::Result<String> {
    std::fs::read_to_string("/proc/sys/kernel/osrelease").map(|r| r.trim().to_owned())
}

/// `CLOCK_MONOTONIC` in nanoseconds: the clock of the kernel's `bpf_ktime_get_ns()`, so
/// times the XDP program recorded can be aged.
pub fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec into the valid, exclusive pointer given.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    if rc != 0 {
        return 0;
    }
    u64::try_from(ts.tv_sec).unwrap_or(0) * 1_000_000_000 + u64::try_from(ts.tv_nsec).unwrap_or(0)
}

/// Capability numbers (linux/capability.h).
const CAP_NET_ADMIN: u32 = 12;
const CAP_NET_RAW: u32 = 13;
const CAP_SYS_ADMIN: u32 = 21;
const CAP_PERFMON: u32 = 38;
const CAP_BPF: u32 = 39;

/// The capabilities `vrrpd run` needs that this process does not have (its effective set,
/// from `/proc/self/status`): CAP_BPF and CAP_PERFMON (or CAP_SYS_ADMIN, which kernels
/// before 5.8 ask for) to load the program (without CAP_PERFMON the verifier refuses its
/// pointer arithmetic: EACCES), CAP_NET_ADMIN to attach it and manage addresses, and for
/// the daemon CAP_NET_RAW to send adverts. Empty: all there.
pub fn missing_capabilities(daemon: bool) -> io::Result<Vec<&'static str>> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    let effective = status
        .lines()
        .find_map(|line| line.strip_prefix("CapEff:"))
        .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
        .ok_or_else(|| io::Error::other("no CapEff line in /proc/self/status"))?;
    Ok(missing_from(effective, daemon))
}

/// [`missing_capabilities`] of an effective capability mask.
pub fn missing_from(effective: u64, daemon: bool) -> Vec<&'static str> {
    let has = |cap: u32| effective & (1 << cap) != 0;
    let mut missing = Vec::new();
    if !has(CAP_SYS_ADMIN) {
        if !has(CAP_BPF) {
            missing.push("CAP_BPF");
        }
        if !has(CAP_PERFMON) {
            missing.push("CAP_PERFMON");
        }
    }
    if !has(CAP_NET_ADMIN) {
        missing.push("CAP_NET_ADMIN");
    }
    if daemon && !has(CAP_NET_RAW) {
        missing.push("CAP_NET_RAW");
    }
    missing
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capabilities_needed_are_named() {
        let all = u64::MAX >> 23;
        assert!(missing_from(all, true).is_empty());
        assert_eq!(
            missing_from(0, true),
            ["CAP_BPF", "CAP_PERFMON", "CAP_NET_ADMIN", "CAP_NET_RAW"]
        );
        assert_eq!(
            missing_from(0, false),
            ["CAP_BPF", "CAP_PERFMON", "CAP_NET_ADMIN"]
        );
        let without_perfmon = 1 << CAP_BPF | 1 << CAP_NET_ADMIN | 1 << CAP_NET_RAW;
        assert_eq!(missing_from(without_perfmon, true), ["CAP_PERFMON"]);
        // CAP_SYS_ADMIN stands in for CAP_BPF and CAP_PERFMON.
        let admin = 1 << CAP_SYS_ADMIN | 1 << CAP_NET_ADMIN;
        assert!(missing_from(admin, false).is_empty());
    }
}
