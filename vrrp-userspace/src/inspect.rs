//! `vrrpd inspect`: decode every VRRP advert of a pcap capture and check its authentication.
//!
//! Built for the "invalid IPSEC HMAC-MD5" report: point it at a capture and a password and
//! it says, advert by advert, whether keepalived would accept the ICV (or PASS data).
//! It never panics on any capture: malformed frames become records with an `error`.
use std::{io::Read, net::IpAddr, time::Duration};

use pcap_file::{
    DataLink,
    pcap::{PcapPacket, PcapReader},
};
use serde::Serialize;

use crate::{
    auth::Password,
    wire::{Error as WireError, advert::AuthCheck, frame, vrrp},
};

/// Why a capture could not be read (its frames are a different matter: see [`Record`]).
#[derive(Debug, thiserror::Error)]
pub enum InspectError {
    #[error("not a readable pcap capture: {0}")]
    Pcap(#[from] pcap_file::PcapError),
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
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Summary {
    pub frames: usize,
    pub adverts: usize,
    pub valid: usize,
    pub invalid: usize,
    pub malformed: usize,
}

/// Reads a capture and returns one record per VRRP (or AH) frame, plus totals.
pub fn inspect(
    capture: impl Read,
    password: Option<&Password>,
) -> Result<(Vec<Record>, Summary), InspectError> {
    let mut reader = PcapReader::new(capture)?;
    let link = reader.header().datalink;
    if link != DataLink::ETHERNET {
        return Err(InspectError::LinkType(link));
    }
    let mut records = Vec::new();
    let mut summary = Summary::default();
    let mut first: Option<Duration> = None;
    while let Some(packet) = reader.next_packet() {
        let PcapPacket {
            timestamp, data, ..
        } = packet?;
        summary.frames += 1;
        let start = *first.get_or_insert(timestamp);
        let Some(record) = decode_frame(summary.frames, timestamp, start, &data, password) else {
            continue;
        };
        match (&record.error, record.icv_valid) {
            (Some(_), _) => summary.malformed += 1,
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
            record.icv_valid = password.and_then(|pw| match received.authenticate(pw) {
                AuthCheck::Unauthenticated => None,
                AuthCheck::Valid => Some(true),
                AuthCheck::Invalid => Some(false),
            });
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
        line.push_str(match record.icv_valid {
            Some(true) => " icv valid",
            Some(false) => " icv INVALID",
            None => "",
        });
    }
    if let Some(error) = &record.error {
        line.push_str(&format!(" malformed: {error}"));
    }
    line
}
