//! `vrrpd inspect`: decode every VRRP advert of a capture (pcap or pcapng) and check its
//! authentication.
//!
//! Built for the "invalid IPSEC HMAC-MD5" report: point it at a capture and a password and
//! it says, advert by advert, whether keepalived would accept the ICV (or PASS data).
//! It never panics on any capture: malformed frames become records with an `error`, and a
//! capture cut short yields its complete frames and where it was cut.
use std::{io::Read, net::IpAddr, time::Duration};

use pcap_file::{
    DataLink, PcapError,
    pcap::PcapParser,
    pcapng::{
        Block, PcapNgParser,
        blocks::interface_description::{InterfaceDescriptionBlock, InterfaceDescriptionOption},
    },
};
use serde::Serialize;

use crate::{
    auth::Password,
    wire::{Error as WireError, advert::AuthCheck, frame, vrrp},
};

/// Why a capture could not be read (its frames are a different matter: see [`Record`]).
#[derive(Debug, thiserror::Error)]
pub enum InspectError {
    #[error("reading the capture failed")]
    Io(#[source] std::io::Error),
    #[error("not a pcap or pcapng capture")]
    Pcap(#[source] PcapError),
    #[error("capture link type is {0:?}; only Ethernet captures are supported")]
    LinkType(DataLink),
}

/// One VRRP advert of a capture (or a frame that looked like one and failed to decode).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Record {
    /// 1-based frame number in the capture, as Wireshark counts.
    pub frame: usize,
    /// Capture timestamp, seconds since the Unix epoch.
    pub time: f64,
    /// Seconds since the capture's first frame.
    pub relative: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<IpAddr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub destination: Option<IpAddr>,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub advert: Option<AdvertFields>,
    /// Whether PASS data or the AH ICV verify with the given password; `null` without a
    /// password or for an unauthenticated advert.
    pub icv_valid: Option<bool>,
    /// The check in words: `valid`, `password mismatch` (PASS), `icv invalid` (AH), or
    /// `unauthenticated`; absent without a password.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verdict: Option<&'static str>,
    /// Why the frame could not be decoded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The decoded fields of an advert.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AdvertFields {
    pub version: u8,
    pub vrid: u8,
    pub priority: u8,
    /// Advert interval in seconds (VRRPv3 has centisecond resolution).
    pub interval: f64,
    pub addresses: Vec<IpAddr>,
    /// `none`, `pass`, `ah` or `unknown(N)`; VRRPv3 has no authentication (`none`).
    pub auth_type: String,
    /// AH SPI in dotted-quad form (keepalived puts its source address there).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ah_spi: Option<std::net::Ipv4Addr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ah_sequence: Option<u32>,
    pub ttl: u8,
}

/// Totals over a capture.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    pub frames: usize,
    pub adverts: usize,
    /// Adverts whose PASS data or ICV verify with the password.
    pub valid: usize,
    /// Adverts whose PASS data or ICV do not verify with the password.
    pub invalid: usize,
    /// Adverts without authentication (VRRPv2 auth type 0, VRRPv3).
    pub unauthenticated: usize,
    pub malformed: usize,
    /// Where the capture stops being readable, when it does before its end.
    pub truncated: Option<Truncation>,
}

/// A capture that ends (or breaks) in the middle of a record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Truncation {
    /// Byte offset of the first record that could not be read.
    pub offset: usize,
    /// Frames read before it.
    pub frames: usize,
    /// What is wrong there.
    pub reason: String,
}

impl std::fmt::Display for Truncation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the capture is cut short after frame {}: {} at byte {}",
            self.frames, self.reason, self.offset
        )
    }
}

/// The frames of a capture (timestamp, bytes), and where it was cut if it was.
type Frames<'a> = (
    Vec<(Duration, std::borrow::Cow<'a, [u8]>)>,
    Option<Truncation>,
);

/// pcapng's section header block type, as the file's first four bytes.
const PCAPNG_MAGIC: [u8; 4] = [0x0a, 0x0d, 0x0d, 0x0a];

fn truncation(total: usize, rest: &[u8], frames: usize, error: &PcapError) -> Truncation {
    Truncation {
        offset: total - rest.len(),
        frames,
        reason: match error {
            PcapError::IncompleteBuffer => "a record ends past the end of the file".to_owned(),
            other => other.to_string(),
        },
    }
}

/// The frames of a pcap capture.
fn pcap_frames(bytes: &[u8]) -> Result<Frames<'_>, InspectError> {
    let (mut rest, parser) = PcapParser::new(bytes).map_err(InspectError::Pcap)?;
    let link = parser.header().datalink;
    if link != DataLink::ETHERNET {
        return Err(InspectError::LinkType(link));
    }
    let mut frames = Vec::new();
    while !rest.is_empty() {
        match parser.next_packet(rest) {
            Ok((remainder, packet)) => {
                frames.push((packet.timestamp, packet.data));
                rest = remainder;
            }
            Err(error) => {
                let cut = truncation(bytes.len(), rest, frames.len(), &error);
                return Ok((frames, Some(cut)));
            }
        }
    }
    Ok((frames, None))
}

/// An enhanced packet block's timestamp in its interface's resolution (`if_tsresol`,
/// microseconds by default). pcap-file hands the raw 64-bit count over as nanoseconds.
fn pcapng_time(raw: Duration, interface: &InterfaceDescriptionBlock<'_>) -> Duration {
    let ticks = raw.as_nanos();
    let resolution = interface
        .options
        .iter()
        .find_map(|o| match o {
            InterfaceDescriptionOption::IfTsResol(r) => Some(*r),
            _ => None,
        })
        .unwrap_or(6);
    let nanos = if resolution & 0x80 != 0 {
        // A negative power of two.
        let shift = u32::from(resolution & 0x7f).min(127);
        (ticks * 1_000_000_000) >> shift
    } else if resolution <= 9 {
        ticks * 10u128.pow(9 - u32::from(resolution))
    } else {
        ticks / 10u128.pow(u32::from(resolution.min(38)) - 9)
    };
    Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
}

/// The frames of a pcapng capture (enhanced and simple packet blocks).
fn pcapng_frames(bytes: &[u8]) -> Result<Frames<'_>, InspectError> {
    let (mut rest, mut parser) = PcapNgParser::new(bytes).map_err(InspectError::Pcap)?;
    let mut frames = Vec::new();
    while !rest.is_empty() {
        let (remainder, block) = match parser.next_block(rest) {
            Ok(next) => next,
            Err(error) => {
                let cut = truncation(bytes.len(), rest, frames.len(), &error);
                return Ok((frames, Some(cut)));
            }
        };
        rest = remainder;
        let (interface, timestamp, data) = match block {
            Block::EnhancedPacket(packet) => (packet.interface_id, packet.timestamp, packet.data),
            Block::SimplePacket(packet) => (0, Duration::ZERO, packet.data),
            _ => continue,
        };
        let Some(description) = usize::try_from(interface)
            .ok()
            .and_then(|i| parser.interfaces().get(i))
        else {
            let cut = Truncation {
                offset: bytes.len() - rest.len(),
                frames: frames.len(),
                reason: format!("a packet names interface {interface}, which is not described"),
            };
            return Ok((frames, Some(cut)));
        };
        if description.linktype != DataLink::ETHERNET {
            return Err(InspectError::LinkType(description.linktype));
        }
        frames.push((pcapng_time(timestamp, description), data));
    }
    Ok((frames, None))
}

/// Reads a capture (pcap or pcapng, told apart by their magic numbers) and returns one
/// record per VRRP (or AH) frame, plus totals. A capture cut short is not an error: its
/// complete frames are decoded and [`Summary::truncated`] says where it stops.
pub fn inspect(
    mut capture: impl Read,
    password: Option<&Password>,
) -> Result<(Vec<Record>, Summary), InspectError> {
    let mut bytes = Vec::new();
    capture.read_to_end(&mut bytes).map_err(InspectError::Io)?;
    let (frames, truncated) = if bytes.starts_with(&PCAPNG_MAGIC) {
        pcapng_frames(&bytes)?
    } else {
        pcap_frames(&bytes)?
    };
    let mut records = Vec::new();
    let mut summary = Summary {
        truncated,
        ..Summary::default()
    };
    let start = frames.first().map_or(Duration::ZERO, |(t, _)| *t);
    for (timestamp, data) in &frames {
        summary.frames += 1;
        let Some(record) = decode_frame(summary.frames, *timestamp, start, data, password) else {
            continue;
        };
        let unauthenticated = record
            .advert
            .as_ref()
            .is_some_and(|a| a.auth_type == "none");
        match (&record.error, record.icv_valid) {
            (Some(_), _) => summary.malformed += 1,
            (None, _) if unauthenticated => summary.unauthenticated += 1,
            (None, Some(true)) => summary.valid += 1,
            (None, Some(false)) => summary.invalid += 1,
            (None, None) => {}
        }
        if record.error.is_none() {
            summary.adverts += 1;
        }
        records.push(record);
    }
    Ok((records, summary))
}

/// Decodes one frame; `None` when it is not VRRP at all.
fn decode_frame(
    number: usize,
    timestamp: Duration,
    start: Duration,
    data: &[u8],
    password: Option<&Password>,
) -> Option<Record> {
    let mut record = Record {
        frame: number,
        time: timestamp.as_secs_f64(),
        relative: timestamp.saturating_sub(start).as_secs_f64(),
        source: None,
        destination: None,
        advert: None,
        icv_valid: None,
        verdict: None,
        error: None,
    };
    match frame::decode(data) {
        Ok(frame) => {
            let received = frame.advert;
            let advert = &received.advert;
            record.source = Some(advert.ip.src());
            record.destination = Some(advert.ip.dst());
            let auth_type = match advert.vrrp.version {
                vrrp::Version::V2 {
                    auth_type: vrrp::AUTH_NONE,
                    ..
                }
                | vrrp::Version::V3 { .. } => "none".to_owned(),
                vrrp::Version::V2 {
                    auth_type: vrrp::AUTH_PASS,
                    ..
                } => "pass".to_owned(),
                vrrp::Version::V2 {
                    auth_type: vrrp::AUTH_AH,
                    ..
                } => "ah".to_owned(),
                vrrp::Version::V2 { auth_type, .. } => format!("unknown({auth_type})"),
            };
            record.advert = Some(AdvertFields {
                version: advert.vrrp.version.number(),
                vrid: advert.vrrp.vrid,
                priority: advert.vrrp.priority,
                interval: f64::from(advert.vrrp.version.interval_cs()) / 100.0,
                addresses: advert.vrrp.addresses.clone(),
                auth_type,
                ah_spi: advert.ah.map(|ah| ah.spi.into()),
                ah_sequence: advert.ah.map(|ah| ah.sequence),
                ttl: advert.ip.ttl(),
            });
            let pass = advert.ah.is_none()
                && matches!(
                    advert.vrrp.version,
                    vrrp::Version::V2 {
                        auth_type: vrrp::AUTH_PASS,
                        ..
                    }
                );
            if let Some(pw) = password {
                let (valid, verdict) = match received.authenticate(pw) {
                    AuthCheck::Unauthenticated => (None, "unauthenticated"),
                    AuthCheck::Valid => (Some(true), "valid"),
                    AuthCheck::Invalid if pass => (Some(false), "password mismatch"),
                    AuthCheck::Invalid => (Some(false), "icv invalid"),
                };
                record.icv_valid = valid;
                record.verdict = Some(verdict);
            }
        }
        Err(WireError::NotIp(_) | WireError::NotVrrp(_)) => return None,
        // An IPv4 / IPv6 frame that fails before its protocol is known is only VRRP's
        // business when it carries protocol 112 or 51.
        Err(error) if !looks_like_vrrp(data) => {
            let _ = error;
            return None;
        }
        Err(error) => record.error = Some(error.to_string()),
    }
    Some(record)
}

/// Whether a frame that failed to decode announces VRRP or AH in its IP header.
fn looks_like_vrrp(data: &[u8]) -> bool {
    let Ok((eth, payload)) = crate::wire::ethernet::Repr::parse(data) else {
        return false;
    };
    let protocol = match eth.ethertype {
        crate::wire::ethernet::ETHERTYPE_IPV4 => payload.get(9),
        crate::wire::ethernet::ETHERTYPE_IPV6 => payload.get(6),
        _ => None,
    };
    matches!(
        protocol,
        Some(&vrrp_common::IPPROTO_VRRP | &vrrp_common::IPPROTO_AH)
    )
}

/// Formats a record as one line of the text table.
pub fn format_record(record: &Record) -> String {
    let mut line = format!("#{:<4} {:>10.6}s", record.frame, record.relative);
    if let (Some(src), Some(dst)) = (record.source, record.destination) {
        line.push_str(&format!(" {src} > {dst}"));
    }
    if let Some(a) = &record.advert {
        let addresses: Vec<String> = a.addresses.iter().map(ToString::to_string).collect();
        line.push_str(&format!(
            " VRRPv{} vrid {} prio {} int {}s [{}] auth {}",
            a.version,
            a.vrid,
            a.priority,
            a.interval,
            addresses.join(" "),
            a.auth_type
        ));
        if let (Some(spi), Some(seq)) = (a.ah_spi, a.ah_sequence) {
            line.push_str(&format!(" spi {spi} seq {seq}"));
        }
        line.push_str(match record.verdict {
            Some("valid") if a.auth_type == "pass" => " password ok",
            Some("valid") => " icv valid",
            Some("password mismatch") => " password mismatch",
            Some("icv invalid") => " icv INVALID",
            _ => "",
        });
    }
    if let Some(error) = &record.error {
        line.push_str(&format!(" malformed: {error}"));
    }
    line
}
