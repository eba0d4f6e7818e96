//! A VRRP advert as sent and authenticated: IP header, optional IPSEC-AH, VRRP packet.
//!
//! This is the unit keepalived's AH ICV covers, so it is the unit emitted and verified here.
//! On emit the IP protocol / next header and all lengths, checksums and the ICV are computed;
//! on parse everything but the authentication is checked, and [`Received::authenticate`]
//! checks that against a password.
use std::net::IpAddr;

use super::{EmitError, Error, ah, ipv4, ipv6, vrrp};
use crate::auth::{self, Password};

/// The IP header of an advert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IpHeader {
    V4(ipv4::Repr),
    V6(ipv6::Repr),
}

impl IpHeader {
    pub fn src(&self) -> IpAddr {
        match self {
            Self::V4(h) => h.src.into(),
            Self::V6(h) => h.src.into(),
        }
    }

    pub fn dst(&self) -> IpAddr {
        match self {
            Self::V4(h) => h.dst.into(),
            Self::V6(h) => h.dst.into(),
        }
    }

    /// TTL (IPv4) or hop limit (IPv6).
    pub fn ttl(&self) -> u8 {
        match self {
            Self::V4(h) => h.ttl,
            Self::V6(h) => h.hop_limit,
        }
    }

    fn envelope(&self) -> vrrp::Envelope {
        match self {
            Self::V4(h) => vrrp::Envelope::V4 {
                src: h.src,
                dst: h.dst,
            },
            Self::V6(h) => vrrp::Envelope::V6 {
                src: h.src,
                dst: h.dst,
            },
        }
    }
}

/// IP + [AH] + VRRP. The IP protocol (next header) is derived from `ah` on emit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Advert {
    pub ip: IpHeader,
    pub ah: Option<ah::Repr>,
    pub vrrp: vrrp::Repr,
}

/// The outcome of checking an advert's authentication against a password.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthCheck {
    /// The advert carries no authentication (VRRPv2 auth type 0, or VRRPv3).
    Unauthenticated,
    /// PASS data or AH ICV matches the password.
    Valid,
    /// PASS data or AH ICV does not match (or the advert claims AH and carries none).
    Invalid,
}

/// A parsed advert with the raw bytes its authentication covers.
#[derive(Debug, Clone)]
pub struct Received<'a> {
    pub advert: Advert,
    /// The ICV the packet carried, when it had an AH header.
    pub icv: Option<[u8; ah::ICV_LEN]>,
    ip_header: &'a [u8],
    ah_fixed: &'a [u8],
    vrrp: &'a [u8],
}

impl<'a> Received<'a> {
    /// Checks PASS data or the AH ICV against `password`.
    pub fn authenticate(&self, password: &Password) -> AuthCheck {
        let vrrp::Version::V2 {
            auth_type,
            auth_data,
            ..
        } = self.advert.vrrp.version
        else {
            return AuthCheck::Unauthenticated;
        };
        let valid = match (auth_type, self.icv) {
            (vrrp::AUTH_NONE, None) => return AuthCheck::Unauthenticated,
            (vrrp::AUTH_PASS, None) => auth::pass_matches(password, &auth_data),
            (_, Some(icv)) => {
                auth::ah_icv_matches(password, self.ip_header, self.ah_fixed, self.vrrp, &icv)
            }
            _ => false,
        };
        if valid {
            AuthCheck::Valid
        } else {
            AuthCheck::Invalid
        }
    }
}

impl Advert {
    /// Parses an IP packet carrying a VRRP advert, directly or behind AH (IPv4 only, as
    /// keepalived). Everything but the authentication is checked here.
    pub fn parse(bytes: &[u8]) -> Result<Received<'_>, Error> {
        let (ip, ip_header, payload) = if bytes.first().map(|b| b >> 4) == Some(6) {
            let (header, payload) = ipv6::Repr::parse(bytes)?;
            (IpHeader::V6(header), &bytes[..ipv6::HEADER_LEN], payload)
        } else {
            let (header, payload) = ipv4::Repr::parse(bytes)?;
            let header_len = header.buffer_len();
            (IpHeader::V4(header), &bytes[..header_len], payload)
        };
        let protocol = match &ip {
            IpHeader::V4(h) => h.protocol,
            IpHeader::V6(h) => h.next_header,
        };
        let (ah, icv, ah_fixed, vrrp_bytes) = match (protocol, &ip) {
            (vrrp_common::IPPROTO_VRRP, _) => (None, None, &payload[..0], payload),
            (vrrp_common::IPPROTO_AH, IpHeader::V4(_)) => {
                let (ah, icv, rest) = ah::Repr::parse(payload)?;
                (Some(ah), Some(icv), &payload[..ah::FIXED_LEN], rest)
            }
            (other, _) => return Err(Error::NotVrrp(other)),
        };
        let vrrp = vrrp::Repr::parse(vrrp_bytes, &ip.envelope())?;
        let advert = Self { ip, ah, vrrp };
        Ok(Received {
            advert,
            icv,
            ip_header,
            ah_fixed,
            vrrp: vrrp_bytes,
        })
    }

    /// Length on the wire.
    pub fn buffer_len(&self) -> usize {
        let ip = match &self.ip {
            IpHeader::V4(h) => h.buffer_len(),
            IpHeader::V6(h) => h.buffer_len(),
        };
        ip + self.ah.map_or(0, |ah| ah.buffer_len()) + self.vrrp.buffer_len(&self.ip.envelope())
    }

    /// Appends the advert to `out`: protocol, lengths, checksums computed, and the AH ICV
    /// computed with `ah_key` when the advert has an AH header.
    pub fn emit(&self, ah_key: Option<&Password>, out: &mut Vec<u8>) -> Result<(), EmitError> {
        let envelope = self.ip.envelope();
        let mut body = Vec::with_capacity(self.buffer_len());
        let icv_at = self.ah.map(|ah| ah.emit(&mut body));
        let vrrp_at = body.len();
        self.vrrp.emit(&envelope, &mut body)?;
        let protocol = if self.ah.is_some() {
            vrrp_common::IPPROTO_AH
        } else {
            vrrp_common::IPPROTO_VRRP
        };
        let start = out.len();
        match &self.ip {
            IpHeader::V4(h) => ipv4::Repr {
                protocol,
                ..h.clone()
            }
            .emit(body.len(), out)?,
            IpHeader::V6(h) => {
                if self.ah.is_some() {
                    return Err(EmitError::AhOverIpv6);
                }
                ipv6::Repr {
                    next_header: protocol,
                    ..h.clone()
                }
                .emit(body.len(), out)?
            }
        }
        if let Some(icv_at) = icv_at {
            let key = ah_key.ok_or(EmitError::MissingAhKey)?;
            let ip_header = &out[start..];
            let icv = auth::ah_icv(key, ip_header, &body[..ah::FIXED_LEN], &body[vrrp_at..]);
            body[icv_at..icv_at + ah::ICV_LEN].copy_from_slice(&icv);
        }
        out.extend_from_slice(&body);
        Ok(())
    }
}
