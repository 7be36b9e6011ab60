//! The invoker against Debian's real CNI plugins (bridge, host-local, portmap) in a real
//! pinned network namespace. Needs root, iproute2, iptables and busybox.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use berth_cni::{
    Attachment, CniError, Invoker, PodArgs, PortMapping, load_first, netns, result_ips,
};
use berth_testkit::TestNetwork;

const BIN_DIRS: &[&str] = &["/usr/lib/cni", "/opt/cni/bin"];

/// A network of the test's own, with the invoker and helpers this file needs.
struct TestNet(TestNetwork);

impl TestNet {
    fn new(tag: u8, extra_plugin: Option<&str>) -> TestNet {
        TestNet(TestNetwork::new(199, tag, extra_plugin))
    }

    fn invoker(&self) -> Invoker {
        Invoker::new(
            BIN_DIRS.iter().map(PathBuf::from).collect(),
            self.0.dir().join("cache"),
            Duration::from_secs(30),
        )
    }

    fn conf(&self) -> berth_cni::ConfList {
        load_first(&self.0.conf_dir()).unwrap().unwrap()
    }

    fn netns(&self, name: &str) -> PathBuf {
        self.0.dir().join("netns").join(name)
    }

    fn leases(&self) -> Vec<String> {
        self.0.leases()
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
    assert!(ips[0].starts_with(net.0.subnet_prefix()), "{ips:?}");
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
