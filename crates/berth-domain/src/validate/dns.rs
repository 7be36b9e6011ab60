//! The pod's DNS configuration, written into its `resolv.conf`: nothing in it may add a line.

use std::net::IpAddr;

/// The kubelet's limits on the search list (`MaxDNSSearchPaths`, `MaxDNSSearchListChars`);
/// glibc since 2.26 has none of its own.
const MAX_SEARCHES: usize = 32;
/// See [`MAX_SEARCHES`].
const MAX_SEARCH_CHARS: usize = 2048;
/// Longest DNS name.
const NAME_MAX: usize = 253;

/// A name server, or a hostPort's host IP: an IPv4 or IPv6 address, as the kubelet's
/// `net.ParseIP` accepts it.
pub fn server(text: &str) -> Result<(), String> {
    text.parse::<IpAddr>()
        .map(drop)
        .map_err(|_| "is not an IP address".into())
}

/// One search domain: a DNS name (a trailing dot allowed), no whitespace or control
/// characters. Underscores are tolerated: the kubelet copies the node's own search domains,
/// which it does not check.
pub fn search(domain: &str) -> Result<(), String> {
    if domain.is_empty() {
        return Err("must not be empty".into());
    }
    if domain.len() > NAME_MAX {
        return Err(format!("is longer than {NAME_MAX} bytes"));
    }
    if domain
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || c == '#' || c == ';')
    {
        return Err("must not contain whitespace, control characters, '#' or ';'".into());
    }
    let name = domain.strip_suffix('.').unwrap_or(domain);
    if name.split('.').any(str::is_empty) {
        return Err("has an empty label".into());
    }
    Ok(())
}

/// The whole search list: at most 32 domains and 2048 characters, as the kubelet allows.
pub fn search_list(domains: &[String]) -> Result<(), String> {
    if domains.len() > MAX_SEARCHES {
        return Err(format!(
            "{} search domains: at most {MAX_SEARCHES} are allowed",
            domains.len()
        ));
    }
    let chars = domains.join(" ").len();
    if chars > MAX_SEARCH_CHARS {
        return Err(format!(
            "the search line is {chars} characters: at most {MAX_SEARCH_CHARS} are allowed"
        ));
    }
    Ok(())
}

/// One resolver option (`ndots:5`, `edns0`): set, no whitespace or control characters.
pub fn option(option: &str) -> Result<(), String> {
    if option.is_empty() {
        return Err("must not be empty".into());
    }
    if option.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("must not contain whitespace or control characters".into());
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
        assert!(search_list(&wide).unwrap_err().contains("2048"));
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
