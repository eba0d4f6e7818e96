//! The Internet checksum (RFC 1071): one's complement of the one's complement sum of 16-bit
//! words. Used by IPv4 headers, VRRPv2 (over the VRRP packet only, RFC 3768 §5.3.8) and
//! VRRPv3 (with the IPv4/IPv6 pseudo-header, RFC 5798 §5.2.8).

/// Adds `bytes` to a running 32-bit sum; an odd trailing byte is padded with zero.
pub fn accumulate(mut sum: u32, bytes: &[u8]) -> u32 {
    let mut chunks = bytes.chunks_exact(2);
    for pair in &mut chunks {
        sum = sum.wrapping_add(u32::from(u16::from_be_bytes([pair[0], pair[1]])));
    }
    if let [last] = chunks.remainder() {
        sum = sum.wrapping_add(u32::from(u16::from_be_bytes([*last, 0])));
    }
    sum
}

/// Folds a running sum to 16 bits and complements it.
pub fn finish(mut sum: u32) -> u16 {
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// The checksum of `bytes` alone.
pub fn of(bytes: &[u8]) -> u16 {
    finish(accumulate(0, bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc1071_example() {
        // RFC 1071 §3: the sum of these words is 0xddf2, so the checksum is !0xddf2.
        let bytes = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(of(&bytes), !0xddf2);
    }

    #[test]
    fn a_buffer_with_its_checksum_sums_to_zero() {
        let mut bytes = vec![0x45, 0xc0, 0x00, 0x44, 0x00, 0x01, 0, 0, 0xff, 0x33, 0, 0];
        let sum = of(&bytes);
        bytes[10..12].copy_from_slice(&sum.to_be_bytes());
        assert_eq!(of(&bytes), 0);
    }

    #[test]
    fn odd_length_pads_with_zero() {
        assert_eq!(of(&[0x12]), of(&[0x12, 0x00]));
    }
}
