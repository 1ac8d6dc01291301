//! Command-line value parsing shared by the example binaries.

/// A MAC address written as six colon-separated hex octets (`02:00:5e:10:00:01`; one or
/// two digits each, any case); `None` for anything else.
#[must_use]
pub fn parse_mac(s: &str) -> Option<[u8; 6]> {
    let v: Vec<u8> = s
        .split(':')
        .map(|x| u8::from_str_radix(x, 16).ok())
        .collect::<Option<_>>()?;
    v.try_into().ok()
}

#[cfg(test)]
mod tests {
    use super::parse_mac;

    #[test]
    fn macs() {
        assert_eq!(parse_mac("02:00:5E:10:0:1"), Some([2, 0, 0x5e, 0x10, 0, 1]));
        assert_eq!(parse_mac("02:00:5e:10:00"), None);
        assert_eq!(parse_mac("02:00:5e:10:00:01:02"), None);
        assert_eq!(parse_mac("02-00-5e-10-00-01"), None);
        assert_eq!(parse_mac(""), None);
    }
}
