//! CIDR blocks, parsed with `std::net` alone: enough to tell how wide a
//! security-group peer is and whether it lies inside an allowlisted block.
//!
//! AWS normalises the CIDRs it stores, but the snapshot may come from other
//! sources (a hand-written fixture, the CLI), so parsing is strict about
//! syntax and lenient about host bits: `10.1.2.3/8` is read as the block
//! `10.0.0.0/8`, which is how EC2 itself would treat it.

use std::net::{Ipv4Addr, Ipv6Addr};

/// One IPv4 or IPv6 block, with the host bits cleared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cidr {
    V4 { network: u32, prefix: u8 },
    V6 { network: u128, prefix: u8 },
}

impl Cidr {
    /// Reads `a.b.c.d/n` or `x::y/n`. A bare address is a single host
    /// (`/32` or `/128`), which is how EC2 reads an address without a mask.
    pub fn parse(text: &str) -> Result<Cidr, String> {
        let text = text.trim();
        let (address, prefix) = match text.split_once('/') {
            Some((address, prefix)) => (address, Some(prefix)),
            None => (text, None),
        };
        if let Ok(v4) = address.parse::<Ipv4Addr>() {
            let prefix = parse_prefix(prefix, 32, text)?;
            return Ok(Cidr::V4 {
                network: u32::from(v4) & mask_v4(prefix),
                prefix,
            });
        }
        if let Ok(v6) = address.parse::<Ipv6Addr>() {
            let prefix = parse_prefix(prefix, 128, text)?;
            return Ok(Cidr::V6 {
                network: u128::from(v6) & mask_v6(prefix),
                prefix,
            });
        }
        Err(format!("`{text}` is not an IPv4 or IPv6 CIDR block"))
    }

    pub fn prefix(self) -> u8 {
        match self {
            Cidr::V4 { prefix, .. } | Cidr::V6 { prefix, .. } => prefix,
        }
    }

    pub fn is_ipv6(self) -> bool {
        matches!(self, Cidr::V6 { .. })
    }

    /// Whether every address of `self` is also in `outer`. Blocks of
    /// different families never contain each other.
    pub fn is_within(self, outer: Cidr) -> bool {
        match (self, outer) {
            (
                Cidr::V4 { network, prefix },
                Cidr::V4 {
                    network: o_net,
                    prefix: o_prefix,
                },
            ) => o_prefix <= prefix && network & mask_v4(o_prefix) == o_net,
            (
                Cidr::V6 { network, prefix },
                Cidr::V6 {
                    network: o_net,
                    prefix: o_prefix,
                },
            ) => o_prefix <= prefix && network & mask_v6(o_prefix) == o_net,
            _ => false,
        }
    }
}

fn parse_prefix(prefix: Option<&str>, max: u8, text: &str) -> Result<u8, String> {
    let Some(prefix) = prefix else {
        return Ok(max);
    };
    // `u8::from_str` accepts a leading `+`; a CIDR mask never has one.
    if prefix.is_empty() || !prefix.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("`{text}` has no valid prefix length"));
    }
    match prefix.parse::<u8>() {
        Ok(length) if length <= max => Ok(length),
        _ => Err(format!("`{text}` has a prefix length above /{max}")),
    }
}

fn mask_v4(prefix: u8) -> u32 {
    // Shifting a u32 by 32 overflows, so /0 is handled on its own.
    if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(prefix))
    }
}

fn mask_v6(prefix: u8) -> u128 {
    if prefix == 0 {
        0
    } else {
        u128::MAX << (128 - u32::from(prefix))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_both_families_and_clears_host_bits() {
        assert_eq!(
            Cidr::parse("0.0.0.0/0"),
            Ok(Cidr::V4 {
                network: 0,
                prefix: 0
            })
        );
        assert_eq!(Cidr::parse("10.1.2.3/8"), Cidr::parse("10.0.0.0/8"));
        assert_eq!(Cidr::parse("::/0").map(Cidr::prefix), Ok(0));
        assert_eq!(Cidr::parse("2001:db8::/32").map(Cidr::is_ipv6), Ok(true));
        assert_eq!(Cidr::parse("192.0.2.7").map(Cidr::prefix), Ok(32));
    }

    #[test]
    fn rejects_nonsense() {
        for bad in [
            "",
            "/0",
            "10.0.0.0/33",
            "::/129",
            "10.0.0.0/",
            "10.0.0.0/+8",
            "10.0.0/8",
            "banana/8",
        ] {
            assert!(Cidr::parse(bad).is_err(), "{bad} should not parse");
        }
    }

    #[test]
    fn containment_respects_family_and_prefix() {
        let cidr = |text| Cidr::parse(text).unwrap();
        assert!(cidr("10.1.0.0/16").is_within(cidr("10.0.0.0/8")));
        assert!(!cidr("10.0.0.0/8").is_within(cidr("10.1.0.0/16")));
        assert!(!cidr("11.0.0.0/16").is_within(cidr("10.0.0.0/8")));
        assert!(cidr("::/1").is_within(cidr("::/0")));
        assert!(!cidr("::/0").is_within(cidr("::/1")));
        assert!(!cidr("0.0.0.0/0").is_within(cidr("::/0")));
    }
}
