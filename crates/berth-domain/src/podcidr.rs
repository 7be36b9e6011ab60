//! Validating the pod CIDR the kubelet hands us.

use std::net::IpAddr;

/// Checks a pod CIDR, or a comma-separated pair for dual stack; each is `addr/len` with a
/// prefix length that fits its family. Returns it normalised (entries trimmed).
pub(crate) fn validate(cidrs: &str) -> Result<String, String> {
    let parts = cidrs
        .split(',')
        .map(validate_one)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(parts.join(","))
}

fn validate_one(cidr: &str) -> Result<String, String> {
    let cidr = cidr.trim();
    let (addr, len) = cidr
        .split_once('/')
        .ok_or_else(|| "expected address/prefix-length".to_owned())?;
    let addr: IpAddr = addr
        .parse()
        .map_err(|_| format!("{addr:?} is not an IP address"))?;
    let len: u8 = len
        .parse()
        .map_err(|_| format!("{len:?} is not a prefix length"))?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    if len > max {
        return Err(format!("prefix length {len} exceeds {max}"));
    }
    Ok(cidr.to_owned())
}

#[cfg(test)]
mod tests {
    use super::validate;

    #[test]
    fn accepts_v4_and_v6() {
        assert_eq!(validate(" 10.244.1.0/24 ").unwrap(), "10.244.1.0/24");
        assert!(validate("fd00::/64").is_ok());
        assert_eq!(
            validate("10.1.0.0/16, fd00::/64").unwrap(),
            "10.1.0.0/16,fd00::/64"
        );
    }

    #[test]
    fn refuses_garbage() {
        assert!(validate("10.0.0.0").is_err());
        assert!(validate("10.0.0.0/33").is_err());
        assert!(validate("ten/8").is_err());
        assert!(validate("10.0.0.0/x").is_err());
        assert!(validate("10.1.0.0/16,").is_err());
    }
}
