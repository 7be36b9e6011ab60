//! Pod networking through the real CNI plugins for tests that need it: a bridge of the
//! test's own, host-local leases in the test's dir, masquerading (iptables) on, and what is
//! left of it checked and removed.

use super::node::{Node, restart};

/// Pod networking through the real CNI plugins, so that the invariants cover pinned
/// namespaces, IP leases and iptables rules: a bridge of the test's own, host-local leases
/// in the test's dir, masquerading (iptables) on.
pub struct Cni {
    pub bridge: String,
    pub network: String,
    pub leases: std::path::PathBuf,
}

impl Drop for Cni {
    /// A test that failed midway leaves masquerade rules: remove every NAT rule and chain
    /// that names this network, then the bridge.
    fn drop(&mut self) {
        let iptables = |args: &[&str]| {
            std::process::Command::new("iptables")
                .args(["-t", "nat"])
                .args(args)
                .output()
                .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
                .unwrap_or_default()
        };
        let rules = iptables(&["-S"]);
        let ours = self.comment();
        let mut chains = Vec::new();
        for rule in rules
            .lines()
            .filter(|l| l.starts_with("-A POSTROUTING") && l.contains(&ours))
        {
            if let Some(chain) = rule.split(" -j ").nth(1).and_then(|r| r.split(' ').next()) {
                chains.push(chain.to_owned());
            }
            // The rule as printed, quotes removed, is the argument list of its deletion.
            let args: Vec<String> = shell_words(&rule["-A ".len()..]);
            let mut delete = vec!["-D".to_owned()];
            delete.extend(args);
            let delete: Vec<&str> = delete.iter().map(String::as_str).collect();
            iptables(&delete);
        }
        for chain in chains {
            iptables(&["-F", &chain]);
            iptables(&["-X", &chain]);
        }
        let _ = std::process::Command::new("ip")
            .args(["link", "del", &self.bridge])
            .status();
    }
}

/// Splits an `iptables -S` line into arguments: spaces separate, double quotes group.
fn shell_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut quoted = false;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => word.extend(chars.next()),
            '"' => quoted = !quoted,
            ' ' if !quoted => {
                if !word.is_empty() {
                    words.push(std::mem::take(&mut word));
                }
            }
            c => word.push(c),
        }
    }
    if !word.is_empty() {
        words.push(word);
    }
    words
}

impl Cni {
    /// The container IDs that hold a lease.
    pub fn lease_holders(&self) -> Vec<String> {
        std::fs::read_dir(&self.leases)
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().contains('.'))
            .filter(|e| !e.file_name().to_string_lossy().starts_with("last_reserved"))
            .filter_map(|e| std::fs::read_to_string(e.path()).ok())
            .filter_map(|t| t.lines().next().map(|l| l.trim().to_owned()))
            .collect()
    }

    /// How the network is named in a rule's comment, as `iptables -S` prints it.
    pub fn comment(&self) -> String {
        format!(r#"name: \"{}\""#, self.network)
    }

    /// The container IDs named by this network's NAT rules.
    pub fn rule_owners(&self) -> Vec<String> {
        let out = std::process::Command::new("iptables")
            .args(["-t", "nat", "-S"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| l.contains(&self.comment()))
            .filter_map(|l| l.split(r#"id: \""#).nth(1))
            .map(|rest| rest.chars().take_while(|c| c.is_ascii_hexdigit()).collect())
            .collect()
    }

    pub fn assert_clean(&self) {
        assert!(
            self.lease_holders().is_empty(),
            "leases left: {:?}",
            self.lease_holders()
        );
        assert!(
            self.rule_owners().is_empty(),
            "iptables rules left: {:?}",
            self.rule_owners()
        );
    }
}

/// Switches the node to pod networking through the real CNI plugins (restarting berthd).
pub async fn use_cni(n: &mut Node) -> Cni {
    let id = std::process::id();
    let dir = n.dir.path().to_owned();
    let cni = Cni {
        bridge: format!("bf{}", id % 100_000),
        network: format!("fault-{id}"),
        leases: dir.join("ipam").join(format!("fault-{id}")),
    };
    let conflist = serde_json::json!({
        "cniVersion": "1.0.0",
        "name": cni.network,
        "plugins": [
            {"type": "bridge", "bridge": cni.bridge, "isGateway": true, "ipMasq": true,
             "ipam": {"type": "host-local", "dataDir": dir.join("ipam"),
                      "ranges": [[{"subnet": format!("10.212.{}.0/24", id % 250)}]]}},
            {"type": "portmap", "capabilities": {"portMappings": true}}
        ]
    });
    std::fs::write(dir.join("cni-conf/10-fault.conflist"), conflist.to_string()).unwrap();
    let config = std::fs::read_to_string(dir.join("config.toml"))
        .unwrap()
        .replace(
            &format!("bin_dirs = [\"{}/cni-bin\"]", dir.display()),
            "bin_dirs = [\"/usr/lib/cni\"]",
        );
    std::fs::write(dir.join("config.toml"), config).unwrap();
    n.pod_network = true;
    restart(n, libc::SIGTERM).await;
    cni
}
