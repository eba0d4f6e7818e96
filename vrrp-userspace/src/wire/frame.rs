//! Whole Ethernet frames carrying VRRP adverts: the link layer around [`advert`].
use super::{EmitError, Error, advert, ethernet};
use crate::auth::Password;

/// A decoded frame.
#[derive(Debug, Clone)]
pub struct Frame<'a> {
    pub ethernet: ethernet::Repr,
    pub advert: advert::Received<'a>,
}

/// Decodes an Ethernet frame carrying a VRRP advert. Frames that are not VRRP at all fail
/// with [`Error::NotIp`] or [`Error::NotVrrp`] (after the IP checks).
pub fn decode(bytes: &[u8]) -> Result<Frame<'_>, Error> {
    let (ethernet, payload) = ethernet::Repr::parse(bytes)?;
    let expected = match ethernet.ethertype {
        ethernet::ETHERTYPE_IPV4 => 4,
        ethernet::ETHERTYPE_IPV6 => 6,
        other => return Err(Error::NotIp(other)),
    };
    let found = payload.first().map_or(expected, |b| b >> 4);
    if found != expected {
        return Err(Error::IpVersion { expected, found });
    }
    let advert = advert::Advert::parse(payload)?;
    Ok(Frame { ethernet, advert })
}

/// Encodes a frame: `ethernet` in front of `advert` (see [`advert::Advert::emit`]).
pub fn emit(
    ethernet: &ethernet::Repr,
    advert: &advert::Advert,
    ah_key: Option<&Password>,
) -> Result<Vec<u8>, EmitError> {
    let mut out = Vec::with_capacity(ethernet.buffer_len() + advert.buffer_len());
    ethernet.emit(&mut out);
    advert.emit(ah_key, &mut out)?;
    Ok(out)
}
