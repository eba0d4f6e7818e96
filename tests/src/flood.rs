//! Advert flood generator (issue 11): real Ethernet frames — VRRPv2 over IPSEC-AH and
//! other traffic — sent at a paced rate into an interface through an AF_PACKET socket with
//! `sendmmsg`, from a namespace the test made.
//!
//! ```text
//! let frames = flood::frames(Profile::ForgedHigher, &target, 1024);
//! let flood = Flood::start(&pair.b, VethPair::B, frames, 100_000)?;
//! ... transitions ...
//! let stats = flood.stop()?;
//! ```
use std::{
    io,
    os::fd::{AsRawFd as _, FromRawFd as _, OwnedFd},
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    thread::JoinHandle,
    time::{Duration, Instant},
};

use vrrpd::wire::vrrp::AUTH_AH;

use crate::{
    NetNs,
    adverts::{MCAST_MAC, fix_ipv4_checksum, frame, v2},
};

/// What the flood sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Profile {
    /// Adverts claiming to be the master (its address and SPI, priority 255, sequences
    /// above any counter) with an ICV computed from another key: the attack of issue 11.
    ForgedHigher,
    /// The same, at priority 1 (below any backup).
    Lower,
    /// One captured genuine advert, again and again (`Target::replay`).
    Replayed,
    /// Well-formed AH adverts for a VRID no instance uses.
    UnknownVrid,
    /// A mix of truncated frames, bad IPv4 checksums, wrong versions and bad lengths.
    Malformed,
    /// IPv4 UDP frames (must pass untouched).
    NonVrrp,
}

impl Profile {
    pub const ALL: [Profile; 6] = [
        Profile::ForgedHigher,
        Profile::Lower,
        Profile::Replayed,
        Profile::UnknownVrid,
        Profile::Malformed,
        Profile::NonVrrp,
    ];

    /// A short name for logs and tables.
    pub fn name(self) -> &'static str {
        match self {
            Profile::ForgedHigher => "forged-higher",
            Profile::Lower => "forged-lower",
            Profile::Replayed => "replayed",
            Profile::UnknownVrid => "unknown-vrid",
            Profile::Malformed => "malformed",
            Profile::NonVrrp => "non-vrrp",
        }
    }
}

/// The instance a flood aims at.
#[derive(Debug, Clone)]
pub struct Target {
    /// The address the forgeries claim (the master's).
    pub src: [u8; 4],
    pub vrid: u8,
    pub vips: Vec<[u8; 4]>,
    /// A captured genuine frame, for [`Profile::Replayed`].
    pub replay: Option<Vec<u8>>,
}

/// The key forgeries are "signed" with: anything but the real one.
const FORGED_KEY: &[u8] = b"notakey!";

/// `count` distinct frames of `profile` (sequences and ids differ), cycled by the flood.
pub fn frames(profile: Profile, target: &Target, count: usize) -> Vec<Vec<u8>> {
    (0..count).map(|i| one(profile, target, i as u32)).collect()
}

fn one(profile: Profile, t: &Target, i: u32) -> Vec<u8> {
    // Far above any counter a test reaches, so each forgery passes the replay check.
    let sequence = 1_000_000 + i;
    match profile {
        Profile::ForgedHigher => frame(
            &v2(t.src, t.vrid, 255, &t.vips, AUTH_AH, [0; 8], Some(sequence)),
            FORGED_KEY,
        ),
        Profile::Lower => frame(
            &v2(t.src, t.vrid, 1, &t.vips, AUTH_AH, [0; 8], Some(sequence)),
            FORGED_KEY,
        ),
        Profile::Replayed => t.replay.clone().unwrap_or_else(|| {
            frame(
                &v2(t.src, t.vrid, 100, &t.vips, AUTH_AH, [0; 8], Some(1)),
                FORGED_KEY,
            )
        }),
        Profile::UnknownVrid => frame(
            &v2(
                t.src,
                t.vrid.wrapping_add(100),
                255,
                &t.vips,
                AUTH_AH,
                [0; 8],
                Some(sequence),
            ),
            FORGED_KEY,
        ),
        Profile::Malformed => {
            let mut f = frame(
                &v2(t.src, t.vrid, 255, &t.vips, AUTH_AH, [0; 8], Some(sequence)),
                FORGED_KEY,
            );
            match i % 4 {
                // Truncated: shorter than the IPv4 total length says.
                0 => f.truncate(14 + 20 + 24 + 4 + (i as usize / 4) % 12),
                // IPv4 header checksum wrong.
                1 => f[24] ^= 0xff,
                // VRRP version 7.
                2 => f[14 + 20 + 24] = 0x71,
                // AH length field wrong, IPv4 checksum fixed.
                _ => {
                    f[14 + 21] = 9;
                    fix_ipv4_checksum(&mut f);
                }
            }
            f
        }
        Profile::NonVrrp => udp(t.src, i),
    }
}

/// An IPv4 UDP frame from `src` to 192.0.2.1:9 (discard), 32 bytes of payload.
fn udp(src: [u8; 4], i: u32) -> Vec<u8> {
    let mut f = Vec::with_capacity(14 + 28 + 32);
    f.extend_from_slice(&[0xff; 6]);
    f.extend_from_slice(&[0x02, 0, 0, 0, 0, 0x99]);
    f.extend_from_slice(&[0x08, 0x00]);
    let total = (20 + 8 + 32) as u16;
    f.extend_from_slice(&[0x45, 0]);
    f.extend_from_slice(&total.to_be_bytes());
    f.extend_from_slice(&(i as u16).to_be_bytes());
    f.extend_from_slice(&[0, 0, 64, 17, 0, 0]);
    f.extend_from_slice(&src);
    f.extend_from_slice(&[192, 0, 2, 1]);
    f.extend_from_slice(&(1024 + (i % 1000) as u16).to_be_bytes());
    f.extend_from_slice(&9u16.to_be_bytes());
    f.extend_from_slice(&(8 + 32u16).to_be_bytes());
    f.extend_from_slice(&[0, 0]);
    f.extend_from_slice(&[0x5a; 32]);
    fix_ipv4_checksum(&mut f);
    f
}

/// A running flood: a thread sending until stopped.
#[derive(Debug)]
pub struct Flood {
    stop: Arc<AtomicBool>,
    /// One sender per core at the maximum rate, one otherwise.
    handles: Vec<JoinHandle<io::Result<FloodStats>>>,
}

/// What a flood sent.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FloodStats {
    pub sent: u64,
    pub elapsed: Duration,
}

impl FloodStats {
    /// Frames per second actually sent.
    pub fn rate(&self) -> f64 {
        self.sent as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// Frames per `sendmmsg` call.
const BATCH: usize = 64;

impl Flood {
    /// Starts sending `frames` (cycled) out of `interface` in namespace `ns` at `rate`
    /// frames per second (0: as fast as the sockets take them, one sending thread and
    /// socket per core).
    pub fn start(
        ns: &NetNs,
        interface: &str,
        frames: Vec<Vec<u8>>,
        rate: u64,
    ) -> anyhow::Result<Self> {
        anyhow::ensure!(!frames.is_empty(), "a flood needs frames");
        let senders = if rate == 0 {
            std::thread::available_parallelism().map_or(1, |n| n.get())
        } else {
            1
        };
        // Every socket first: a failure then leaves no sender running.
        let sockets = (0..senders)
            .map(|_| {
                let name = interface.to_owned();
                ns.run(move || Ok(sys::Socket::open(&name)?))
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        let frames = Arc::new(frames);
        let stop = Arc::new(AtomicBool::new(false));
        let handles = sockets
            .into_iter()
            .enumerate()
            .map(|(cpu, socket)| {
                let flag = Arc::clone(&stop);
                let frames = Arc::clone(&frames);
                std::thread::spawn(move || {
                    // At the maximum, one sender per CPU, pinned: left to the scheduler,
                    // two senders sometimes shared a CPU and the rate halved (measured:
                    // 0.86 or 1.25 Mpps from round to round, whatever the program).
                    if rate == 0 {
                        sys::pin_to(cpu)?;
                    }
                    pace(&socket, &frames, rate, &flag)
                })
            })
            .collect();
        Ok(Self { stop, handles })
    }

    /// Stops the flood; what it sent (every sender's frames, over the longest sender's
    /// time).
    pub fn stop(mut self) -> anyhow::Result<FloodStats> {
        self.stop.store(true, Ordering::Relaxed);
        let mut total = FloodStats {
            sent: 0,
            elapsed: Duration::ZERO,
        };
        for handle in std::mem::take(&mut self.handles) {
            let one = match handle.join() {
                Ok(result) => result?,
                Err(panic) => std::panic::resume_unwind(panic),
            };
            total.sent += one.sent;
            total.elapsed = total.elapsed.max(one.elapsed);
        }
        Ok(total)
    }
}

impl Drop for Flood {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for handle in std::mem::take(&mut self.handles) {
            let _ = handle.join();
        }
    }
}

/// Sends batches, sleeping whenever ahead of `rate` by more than a millisecond.
fn pace(
    socket: &sys::Socket,
    frames: &[Vec<u8>],
    rate: u64,
    stop: &AtomicBool,
) -> io::Result<FloodStats> {
    let start = Instant::now();
    let mut sent = 0u64;
    let mut next = 0usize;
    // Small batches at low rates keep the pacing smooth.
    let batch = if rate == 0 {
        BATCH
    } else {
        (rate / 1000).clamp(1, BATCH as u64) as usize
    };
    while !stop.load(Ordering::Relaxed) {
        if rate != 0 {
            let due = Duration::from_secs_f64(sent as f64 / rate as f64);
            let now = start.elapsed();
            if due > now + Duration::from_millis(1) {
                std::thread::sleep(due - now);
                continue;
            }
        }
        let chunk: Vec<&[u8]> = (0..batch)
            .map(|k| frames[(next + k) % frames.len()].as_slice())
            .collect();
        match socket.send_batch(&chunk) {
            Ok(n) => {
                sent += n as u64;
                next = (next + n) % frames.len();
            }
            // The qdisc is full: yield and go on (the rate is then the link's).
            Err(e) if e.raw_os_error() == Some(libc::ENOBUFS) => std::thread::yield_now(),
            Err(e) => return Err(e),
        }
    }
    Ok(FloodStats {
        sent,
        elapsed: start.elapsed(),
    })
}

#[allow(
    unsafe_code,
    reason = "socket(2), setsockopt(2) and sendmmsg(2) on an AF_PACKET socket, and sched_setaffinity(2): the generator's only system calls"
)]
mod sys {
    use super::*;

    /// An AF_PACKET socket bound to one interface (of the namespace it was opened in).
    #[derive(Debug)]
    pub struct Socket {
        fd: OwnedFd,
        addr: libc::sockaddr_ll,
    }

    impl Socket {
        pub fn open(interface: &str) -> io::Result<Self> {
            let index = vrrpd::sys::if_index(interface)?;
            // SAFETY: plain socket(2); the descriptor is checked before use.
            let raw =
                unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 0) };
            if raw < 0 {
                return Err(io::Error::last_os_error());
            }
            // SAFETY: a fresh descriptor nothing else owns.
            let fd = unsafe { OwnedFd::from_raw_fd(raw) };
            // Straight to the driver, past the qdisc (as pktgen does): the generator's
            // maximum is then the veth pair's, not the queueing discipline's.
            let on: libc::c_int = 1;
            // SAFETY: setsockopt(2) reads one c_int from a valid pointer of the size given.
            let rc = unsafe {
                libc::setsockopt(
                    fd.as_raw_fd(),
                    libc::SOL_PACKET,
                    libc::PACKET_QDISC_BYPASS,
                    std::ptr::from_ref(&on).cast(),
                    size_of::<libc::c_int>() as libc::socklen_t,
                )
            };
            if rc != 0 {
                return Err(io::Error::last_os_error());
            }
            // SAFETY: sockaddr_ll is plain old data; all-zero is valid.
            let mut addr: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
            addr.sll_family = libc::AF_PACKET as u16;
            addr.sll_ifindex = index as i32;
            addr.sll_halen = 6;
            addr.sll_addr[..6].copy_from_slice(&MCAST_MAC);
            Ok(Self { fd, addr })
        }

        /// Sends `frames` with one `sendmmsg`; how many the kernel took.
        pub fn send_batch(&self, frames: &[&[u8]]) -> io::Result<usize> {
            let mut iovs: Vec<libc::iovec> = frames
                .iter()
                .map(|f| libc::iovec {
                    iov_base: f.as_ptr().cast_mut().cast(),
                    iov_len: f.len(),
                })
                .collect();
            let mut addr = self.addr;
            let mut msgs: Vec<libc::mmsghdr> = iovs
                .iter_mut()
                .map(|iov| {
                    // SAFETY: msghdr is plain old data; all-zero is valid.
                    let mut hdr: libc::msghdr = unsafe { std::mem::zeroed() };
                    hdr.msg_name = std::ptr::from_mut(&mut addr).cast();
                    hdr.msg_namelen = size_of::<libc::sockaddr_ll>() as u32;
                    hdr.msg_iov = std::ptr::from_mut(iov);
                    hdr.msg_iovlen = 1;
                    libc::mmsghdr {
                        msg_hdr: hdr,
                        msg_len: 0,
                    }
                })
                .collect();
            // SAFETY: every pointer in `msgs` (frames, iovecs, address) outlives the call.
            let n = unsafe {
                libc::sendmmsg(self.fd.as_raw_fd(), msgs.as_mut_ptr(), msgs.len() as u32, 0)
            };
            if n < 0 {
                Err(io::Error::last_os_error())
            } else {
                Ok(n as usize)
            }
        }
    }

    /// Pins the calling thread to CPU `cpu`.
    pub fn pin_to(cpu: usize) -> io::Result<()> {
        // SAFETY: cpu_set_t is plain old data; all-zero is the empty set.
        let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
        // SAFETY: CPU_SET writes one bit of the set it is given; `cpu` is below the
        // machine's CPU count, far below CPU_SETSIZE.
        unsafe { libc::CPU_SET(cpu, &mut set) };
        // SAFETY: sched_setaffinity(2) reads a set of the size given; 0 is this thread.
        let rc = unsafe { libc::sched_setaffinity(0, size_of::<libc::cpu_set_t>(), &set) };
        if rc == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_profile_builds_frames_of_its_kind() {
        let target = Target {
            src: [10, 0, 0, 1],
            vrid: 51,
            vips: vec![[10, 0, 0, 100]],
            replay: None,
        };
        for profile in Profile::ALL {
            let f = frames(profile, &target, 8);
            assert_eq!(f.len(), 8);
            let proto = f[1][14 + 9];
            match profile {
                Profile::NonVrrp => assert_eq!(proto, 17),
                _ => assert_eq!(proto, 51, "{}", profile.name()),
            }
        }
        let forged = frames(Profile::ForgedHigher, &target, 2);
        assert_ne!(forged[0], forged[1], "distinct sequences");
        assert_eq!(forged[0][14 + 20 + 24 + 2], 255);
    }
}
