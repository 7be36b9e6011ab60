//! The pod's DNS configuration, written into its `resolv.conf`: nothing in it may add a line.

use std::net::IpAddr;

/// The kubelet's limits on the search list (`MaxDNSSearchPaths`, `MaxDNSSearchListChars`);
/// glibc since 2.26 has none of its own.
const MAX_SEARCHES: usize = 32;
/// See [`MAX_SEARCHES`].
const MAX_SEARCH_CHARS: usize = 2048;
/// Longest DNS name.
const NAME_MAX: usize = 253;

/// Why a DNS setting is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DnsRefusal {
    /// A name server or host IP that does not parse as an address.
    #[error("is not an IP address")]
    NotIp,
    /// An empty search domain or option.
    #[error("must not be empty")]
    Empty,
    /// A search domain longer than a DNS name may be.
    #[error("is longer than {max} bytes")]
    TooLong {
        /// The limit, in bytes.
        max: usize,
        /// The domain's length, in bytes.
        len: usize,
    },
    /// A search domain holding what would end or comment out its `resolv.conf` line.
    #[error("must not contain whitespace, control characters, '#' or ';'")]
    SearchCharacters,
    /// A search domain with two dots in a row or a leading dot.
    #[error("has an empty label")]
    EmptyLabel,
    /// More search domains than the kubelet allows.
    #[error("{count} search domains: at most {max} are allowed")]
    TooManySearches {
        /// The domains asked for.
        count: usize,
        /// The kubelet's limit (`MaxDNSSearchPaths`).
        max: usize,
    },
    /// A search line longer than the kubelet allows.
    #[error("the search line is {chars} characters: at most {max} are allowed")]
    SearchLineTooLong {
        /// The line's length: the domains joined by spaces.
        chars: usize,
        /// The kubelet's limit (`MaxDNSSearchListChars`).
        max: usize,
    },
    /// An option holding what would end its `resolv.conf` line or split it in two.
    #[error("must not contain whitespace or control characters")]
    OptionCharacters,
}

/// A name server, or a hostPort's host IP: an IPv4 or IPv6 address, as the kubelet's
/// `net.ParseIP` accepts it.
pub fn server(text: &str) -> Result<(), DnsRefusal> {
    text.parse::<IpAddr>()
        .map(drop)
        .map_err(|_| DnsRefusal::NotIp)
}

/// One search domain: a DNS name (a trailing dot allowed), no whitespace or control
/// characters. Underscores are tolerated: the kubelet copies the node's own search domains,
/// which it does not check.
pub fn search(domain: &str) -> Result<(), DnsRefusal> {
    if domain.is_empty() {
        return Err(DnsRefusal::Empty);
    }
    if domain.len() > NAME_MAX {
        return Err(DnsRefusal::TooLong {
            max: NAME_MAX,
            len: domain.len(),
        });
    }
    if domain
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || c == '#' || c == ';')
    {
        return Err(DnsRefusal::SearchCharacters);
    }
    let name = domain.strip_suffix('.').unwrap_or(domain);
    if name.split('.').any(str::is_empty) {
        return Err(DnsRefusal::EmptyLabel);
    }
    Ok(())
}

/// The whole search list: at most 32 domains and 2048 characters, as the kubelet allows.
pub fn search_list(domains: &[String]) -> Result<(), DnsRefusal> {
    if domains.len() > MAX_SEARCHES {
        return Err(DnsRefusal::TooManySearches {
            count: domains.len(),
            max: MAX_SEARCHES,
        });
    }
    let chars = domains.join(" ").len();
    if chars > MAX_SEARCH_CHARS {
        return Err(DnsRefusal::SearchLineTooLong {
            chars,
            max: MAX_SEARCH_CHARS,
        });
    }
    Ok(())
}

/// One resolver option (`ndots:5`, `edns0`): set, no whitespace or control characters.
pub fn option(option: &str) -> Result<(), DnsRefusal> {
    if option.is_empty() {
        return Err(DnsRefusal::Empty);
    }
    if option.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(DnsRefusal::OptionCharacters);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn servers() {
        for ok in ["10.96.0.10", "::1", "fd00::a"] {
            assert_eq!(server(ok), Ok(()), "{ok:?}");
        }
        for bad in [
            "",
            "10.0.0.1\nnameserver 6.6.6.6",
            "dns.example",
            "10.0.0.256",
            " 10.0.0.1",
        ] {
            assert!(server(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn searches() {
        for ok in ["svc.cluster.local", "example.com.", "my_corp.example", "a"] {
            assert_eq!(search(ok), Ok(()), "{ok:?}");
        }
        let long = "a".repeat(254);
        for bad in ["", "a b", "a\nb", "a..b", ".", "a#b", long.as_str()] {
            assert!(search(bad).is_err(), "{bad:?}");
        }
        let many: Vec<String> = (0..33).map(|i| format!("d{i}.example")).collect();
        assert!(search_list(&many).is_err());
        assert_eq!(search_list(&many[..32]), Ok(()));
        let wide: Vec<String> = (0..9).map(|i| format!("{i}{}", "a".repeat(230))).collect();
        assert!(search_list(&wide).unwrap_err().to_string().contains("2048"));
    }

    #[test]
    fn options() {
        for ok in ["ndots:5", "edns0", "timeout:2"] {
            assert_eq!(option(ok), Ok(()), "{ok:?}");
        }
        for bad in ["", "ndots:5\nnameserver 6.6.6.6", "a b", "\t"] {
            assert!(option(bad).is_err(), "{bad:?}");
        }
    }
}
