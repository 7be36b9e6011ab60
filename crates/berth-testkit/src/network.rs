//! A CNI network of a test's own: a unique bridge, a /24 and a host-local lease directory in
//! a temp dir; the bridge is deleted when dropped.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// One test network: `<dir>/cni-conf/10-test.conflist` (bridge + host-local + portmap, plus
/// an optional extra plugin), leases under `<dir>/ipam`.
pub struct TestNetwork {
    dir: tempfile::TempDir,
    bridge: String,
    subnet_prefix: String,
}

impl TestNetwork {
    /// A network `10.<octet>.<n>.0/24`, where `n` mixes the test process ID with `tag` so that
    /// test binaries and tests within one do not collide. `tag` must be below 10 and
    /// distinct per test of one binary.
    pub fn new(octet: u8, tag: u8, extra_plugin: Option<&str>) -> TestNetwork {
        assert!(tag < 10, "tag must be below 10");
        let dir = tempfile::tempdir().expect("temp dir");
        let n = (std::process::id() % 25) as u8 * 10 + tag;
        let bridge = format!("bt{octet}-{}-{tag}", std::process::id() % 10000);
        let subnet_prefix = format!("10.{octet}.{n}");
        let mut plugins = vec![
            serde_json::json!({
                "type": "bridge", "bridge": bridge, "isGateway": true, "ipMasq": false,
                "ipam": {"type": "host-local", "dataDir": dir.path().join("ipam"),
                         "ranges": [[{"subnet": format!("{subnet_prefix}.0/24")}]]}
            }),
            serde_json::json!({"type": "portmap", "capabilities": {"portMappings": true}}),
        ];
        if let Some(kind) = extra_plugin {
            plugins.push(serde_json::json!({ "type": kind }));
        }
        let list = serde_json::json!({"cniVersion": "1.0.0", "name": format!("bt{tag}"), "plugins": plugins});
        std::fs::create_dir(dir.path().join("cni-conf")).expect("conf dir");
        std::fs::write(
            dir.path().join("cni-conf/10-test.conflist"),
            list.to_string(),
        )
        .expect("conflist");
        TestNetwork {
            dir,
            bridge,
            subnet_prefix,
        }
    }

    /// The temp dir holding everything (usable as a berthd root/state parent).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The CNI conf dir.
    pub fn conf_dir(&self) -> PathBuf {
        self.dir.path().join("cni-conf")
    }

    /// The bridge's name.
    pub fn bridge(&self) -> &str {
        &self.bridge
    }

    /// `10.<octet>.<n>`: every pod IP starts with it.
    pub fn subnet_prefix(&self) -> &str {
        &self.subnet_prefix
    }

    /// The IPs host-local has leased.
    pub fn leases(&self) -> Vec<String> {
        let Ok(nets) = std::fs::read_dir(self.dir.path().join("ipam")) else {
            return Vec::new();
        };
        nets.flatten()
            .flat_map(|n| std::fs::read_dir(n.path()).into_iter().flatten().flatten())
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|n| n.starts_with(&self.subnet_prefix))
            .collect()
    }
}

impl Drop for TestNetwork {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["link", "del", &self.bridge])
            .stderr(Stdio::null())
            .status();
    }
}
