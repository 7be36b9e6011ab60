//! The pod's `/etc/resolv.conf`, `/etc/hosts` and `/etc/hostname`, as containerd and CRI-O
//! write them.

use crate::request::DnsConfig;

/// `resolv.conf` for the pod: from `dns`, or the host's file when `dns` is empty.
pub fn resolv_conf(dns: &DnsConfig, host_resolv_conf: &str) -> String {
    if dns.servers.is_empty() && dns.searches.is_empty() && dns.options.is_empty() {
        return host_resolv_conf.to_owned();
    }
    let mut out = String::new();
    if !dns.searches.is_empty() {
        out.push_str(&format!("search {}\n", dns.searches.join(" ")));
    }
    for server in &dns.servers {
        out.push_str(&format!("nameserver {server}\n"));
    }
    if !dns.options.is_empty() {
        out.push_str(&format!("options {}\n", dns.options.join(" ")));
    }
    out
}

/// `/etc/hosts` for a pod with its own network: localhost entries, then the pod's IPs
/// with its hostname. A host-network pod gets the host's file instead (`host_hosts`).
pub fn hosts(hostname: &str, pod_ips: &[String], host_network: bool, host_hosts: &str) -> String {
    if host_network {
        return host_hosts.to_owned();
    }
    let mut out = String::from(
        "127.0.0.1\tlocalhost\n\
         ::1\tlocalhost ip6-localhost ip6-loopback\n\
         fe00::0\tip6-localnet\n\
         ff00::0\tip6-mcastprefix\n\
         ff02::1\tip6-allnodes\n\
         ff02::2\tip6-allrouters\n",
    );
    for ip in pod_ips {
        out.push_str(&format!("{ip}\t{hostname}\n"));
    }
    out
}

/// `/etc/hostname`: the pod's hostname, else (host network) the node's.
pub fn hostname(pod_hostname: &str, node_hostname: &str) -> String {
    let name = if pod_hostname.is_empty() {
        node_hostname
    } else {
        pod_hostname
    };
    format!("{}\n", name.trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolv_conf_comes_from_dns_config_or_the_host() {
        let host = "nameserver 192.0.2.53\n";
        assert_eq!(resolv_conf(&DnsConfig::default(), host), host);
        let dns = DnsConfig {
            servers: vec!["10.96.0.10".into()],
            searches: vec![
                "default.svc.cluster.local".into(),
                "svc.cluster.local".into(),
            ],
            options: vec!["ndots:5".into()],
        };
        assert_eq!(
            resolv_conf(&dns, host),
            "search default.svc.cluster.local svc.cluster.local\nnameserver 10.96.0.10\noptions ndots:5\n"
        );
    }

    #[test]
    fn hosts_name_the_pod_ips() {
        let h = hosts(
            "web-0",
            &["10.88.0.5".into(), "fd00::5".into()],
            false,
            "host",
        );
        assert!(h.starts_with("127.0.0.1\tlocalhost\n"));
        assert!(h.ends_with("10.88.0.5\tweb-0\nfd00::5\tweb-0\n"));
        assert_eq!(hosts("web-0", &[], true, "host file"), "host file");
    }

    #[test]
    fn hostname_falls_back_to_the_node() {
        assert_eq!(hostname("web-0", "node1"), "web-0\n");
        assert_eq!(hostname("", "node1\n"), "node1\n");
    }
}
