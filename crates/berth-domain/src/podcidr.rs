//! Validating the pod CIDR the kubelet hands us.

use std::net::IpAddr;

/// Why a pod CIDR is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PodCidrError {
    /// No `/`.
    #[error("expected address/prefix-length")]
    NoPrefix,
    /// The address part does not parse.
    #[error("{0:?} is not an IP address")]
    Address(String),
    /// The length part does not parse.
    #[error("{0:?} is not a prefix length")]
    Length(String),
    /// The length is longer than the family's addresses.
    #[error("prefix length {len} exceeds {max}")]
    TooLong {
        /// What was sent.
        len: u8,
        /// 32 or 128.
        max: u8,
    },
}

/// Checks a pod CIDR, or a comma-separated pair for dual stack; each is `addr/len` with a
/// prefix length that fits its family. Returns it normalised (entries trimmed).
pub(crate) fn validate(cidrs: &str) -> Result<String, PodCidrError> {
    let parts = cidrs
        .split(',')
        .map(validate_one)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(parts.join(","))
}

fn validate_one(cidr: &str) -> Result<String, PodCidrError> {
    let cidr = cidr.trim();
    let (addr, len) = cidr.split_once('/').ok_or(PodCidrError::NoPrefix)?;
    let addr: IpAddr = addr
        .parse()
        .map_err(|_| PodCidrError::Address(addr.to_owned()))?;
    let len: u8 = len
        .parse()
        .map_err(|_| PodCidrError::Length(len.to_owned()))?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    if len > max {
        return Err(PodCidrError::TooLong { len, max });
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
