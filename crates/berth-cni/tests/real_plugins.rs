//! The invoker against Debian's real CNI plugins (bridge, host-local, portmap) in a real
//! pinned network namespace. Needs root, iproute2, iptables and busybox.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use berth_cni::{
    Attachment, CniError, Invoker, PodArgs, PortMapping, load_first, netns, result_ips,
};

const BIN_DIRS: &[&str] = &["/usr/lib/cni", "/opt/cni/bin"];

/// A network of our own for one test: a unique bridge and subnet, removed on drop.
struct TestNet {
    dir: tempfile::TempDir,
    bridge: String,
    subnet_prefix: String,
}

impl TestNet {
    fn new(tag: u8, extra_plugin: Option<&str>) -> TestNet {
        let dir = tempfile::tempdir().unwrap();
        let n = (std::process::id() % 100) as u8 + tag;
        let bridge = format!("bcni{}-{tag}", std::process::id() % 10000);
        let subnet_prefix = format!("10.199.{n}");
        let mut plugins = vec![
            serde_json::json!({
                "type": "bridge", "bridge": bridge, "isGateway": true, "ipMasq": false,
                "ipam": {"type": "host-local", "dataDir": dir.path().join("ipam"),
                         "ranges": [[{"subnet": format!("{subnet_prefix}.0/24")}]]}
            }),
            serde_json::json!({"type": "portmap", "capabilities": {"portMappings": true}}),
        ];
        if let Some(kind) = extra_plugin {
            plugins.push(serde_json::json!({"type": kind}));
        }
        let list = serde_json::json!({"cniVersion": "1.0.0", "name": format!("test{tag}"), "plugins": plugins});
        std::fs::create_dir(dir.path().join("conf")).unwrap();
        std::fs::write(dir.path().join("conf/10-test.conflist"), list.to_string()).unwrap();
        TestNet {
            dir,
            bridge,
            subnet_prefix,
        }
    }

    fn invoker(&self) -> Invoker {
        Invoker::new(
            BIN_DIRS.iter().map(PathBuf::from).collect(),
            self.dir.path().join("cache"),
            Duration::from_secs(30),
        )
    }

    fn conf(&self) -> berth_cni::ConfList {
        load_first(&self.dir.path().join("conf")).unwrap().unwrap()
    }

    fn netns(&self, name: &str) -> PathBuf {
        self.dir.path().join("netns").join(name)
    }

    /// IP leases host-local holds.
    fn leases(&self) -> Vec<String> {
        let Ok(entries) = std::fs::read_dir(self.dir.path().join("ipam")) else {
            return Vec::new();
        };
        entries
            .flatten()
            .flat_map(|net| {
                std::fs::read_dir(net.path())
                    .into_iter()
                    .flatten()
                    .flatten()
            })
            .map(|e| e.file_name().into_string().unwrap())
            .filter(|n| n.starts_with(&self.subnet_prefix))
            .collect()
    }
}

impl Drop for TestNet {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["link", "del", &self.bridge])
            .status();
    }
}

fn attachment(id: &str, netns: &Path, ports: Vec<PortMapping>) -> Attachment {
    Attachment {
        container_id: id.to_owned(),
        netns: netns.to_owned(),
        ifname: "eth0".into(),
        pod: PodArgs {
            namespace: "default".into(),
            name: "web".into(),
            uid: "uid-1".into(),
        },
        port_mappings: ports,
    }
}

fn nat_rules() -> String {
    let out = Command::new("iptables")
        .args(["-t", "nat", "-S"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test]
async fn add_gives_a_reachable_ip_and_del_leaves_nothing() {
    let net = TestNet::new(1, None);
    let ns = net.netns("pod1");
    netns::create_pinned(&ns).unwrap();
    assert!(netns::is_pinned(&ns));
    let id = format!("cnitest{}", std::process::id());
    let port = 20000 + (std::process::id() % 10000) as u16;
    let att = attachment(
        &id,
        &ns,
        vec![PortMapping {
            host_port: port,
            container_port: 80,
            protocol: "tcp".into(),
            host_ip: String::new(),
        }],
    );
    let invoker = net.invoker();
    let result = invoker.add(&net.conf(), &att).await.unwrap();
    let ips = result_ips(&result);
    assert_eq!(ips.len(), 1, "{result}");
    assert!(ips[0].starts_with(&net.subnet_prefix), "{ips:?}");
    assert_eq!(net.leases(), ips);
    let ping = Command::new("busybox")
        .args(["ping", "-c", "1", "-W", "2", &ips[0]])
        .stdout(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(ping.success(), "the pod IP answers from the host");
    assert!(
        nat_rules().contains(&port.to_string()),
        "portmap installed the hostPort rule"
    );

    invoker.del(&net.conf(), &att).await.unwrap();
    assert!(net.leases().is_empty(), "the IP is released");
    assert!(
        !nat_rules().contains(&port.to_string()),
        "the hostPort rule is gone"
    );
    // DEL again, with no cache and the namespace gone: still fine.
    netns::remove_pinned(&ns).unwrap();
    assert!(!ns.exists());
    invoker.del(&net.conf(), &att).await.unwrap();
    netns::remove_pinned(&ns).unwrap();
}

#[tokio::test]
async fn a_failing_plugin_fails_add_and_undoes_the_earlier_ones() {
    let net = TestNet::new(2, Some("no-such-plugin"));
    let ns = net.netns("pod2");
    netns::create_pinned(&ns).unwrap();
    let att = attachment(&format!("cnifail{}", std::process::id()), &ns, Vec::new());
    let err = net.invoker().add(&net.conf(), &att).await.unwrap_err();
    assert!(
        matches!(err, CniError::PluginNotFound { ref kind, .. } if kind == "no-such-plugin"),
        "{err}"
    );
    assert!(err.to_string().contains("no-such-plugin"));
    assert!(
        net.leases().is_empty(),
        "bridge's IP was released by the undo"
    );
    netns::remove_pinned(&ns).unwrap();
}
