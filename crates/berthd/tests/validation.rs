//! Hostile and careless input (issue 19): every refused field answers InvalidArgument naming
//! the field and the value, before anything is made: no pod, container, file or directory
//! appears, and runc never runs. A missing image is NotFound. One node (registry and berthd)
//! for every case, to stay fast. Needs root.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use berth_cri_client::cri;
use common::node::{Node, node, spec};
use tonic::Code;

/// What the node holds; it must not change through a refused request.
#[derive(Debug, PartialEq, Eq)]
struct Snapshot {
    pods: Vec<String>,
    containers: Vec<String>,
    state: Vec<(String, Vec<String>)>,
    runc: Vec<String>,
}

async fn snapshot(n: &mut Node) -> Snapshot {
    let mut pods: Vec<String> = common::list_pods(&mut n.client)
        .await
        .into_iter()
        .map(|p| p.id)
        .collect();
    pods.sort();
    let mut containers: Vec<String> = common::list_containers(&mut n.client)
        .await
        .into_iter()
        .map(|c| c.id)
        .collect();
    containers.sort();
    let state_dir = n.dir.path().join("state");
    let state = ["containers", "sandboxes", "m"]
        .into_iter()
        .map(|sub| {
            let mut names: Vec<String> = std::fs::read_dir(state_dir.join(sub))
                .map(|d| {
                    d.flatten()
                        .map(|e| e.file_name().to_string_lossy().into_owned())
                        .collect()
                })
                .unwrap_or_default();
            names.sort();
            (sub.to_owned(), names)
        })
        .collect();
    Snapshot {
        pods,
        containers,
        state,
        runc: common::runc_ids(&state_dir),
    }
}

/// Asserts an InvalidArgument whose message names `field` and contains `value`.
fn refused(
    case: &str,
    result: Result<impl std::fmt::Debug, tonic::Status>,
    field: &str,
    value: &str,
) {
    let status = match result {
        Ok(v) => panic!("{case}: accepted ({v:?})"),
        Err(s) => s,
    };
    assert_eq!(
        status.code(),
        Code::InvalidArgument,
        "{case}: {}",
        status.message()
    );
    assert!(
        status.message().contains(field),
        "{case}: the message does not name {field:?}: {}",
        status.message()
    );
    assert!(
        status.message().contains(value),
        "{case}: the message does not show {value:?}: {}",
        status.message()
    );
}

async fn run_pod(n: &mut Node, config: cri::PodSandboxConfig) -> Result<String, tonic::Status> {
    n.client
        .runtime
        .run_pod_sandbox(cri::RunPodSandboxRequest {
            config: Some(config),
            runtime_handler: String::new(),
        })
        .await
        .map(|r| r.into_inner().pod_sandbox_id)
}

fn namespaces(config: &mut cri::PodSandboxConfig) -> &mut cri::NamespaceOption {
    config
        .linux
        .as_mut()
        .unwrap()
        .security_context
        .as_mut()
        .unwrap()
        .namespace_options
        .as_mut()
        .unwrap()
}

fn cwd_path(name: &str) -> PathBuf {
    std::env::current_dir().unwrap().join(name)
}

#[tokio::test]
async fn invalid_requests_are_refused_before_anything_is_made() {
    let mut n = node().await;
    // Relative paths would have resolved against berthd's working directory: ours.
    for name in ["relative-logs", "relative-src"] {
        assert!(!cwd_path(name).exists(), "{name} exists before the test");
    }
    let evil = PathBuf::from(format!("/etc/berth-evil-{}.log", std::process::id()));
    assert!(!evil.exists());

    // ---- RunPodSandbox ----
    let before = snapshot(&mut n).await;
    type PodCase = (
        &'static str,
        fn(&mut cri::PodSandboxConfig),
        &'static str,
        &'static str,
    );
    let pod_cases: &[PodCase] = &[
        (
            "relative log directory",
            |c| c.log_directory = "relative-logs".into(),
            "log_directory",
            "relative-logs",
        ),
        (
            "300-character hostname",
            |c| c.hostname = "h".repeat(300),
            "hostname",
            "hhhh",
        ),
        (
            "hostname injecting a hosts line",
            |c| c.hostname = "web\n10.6.6.6 evil".into(),
            "hostname",
            "web\\n10.6.6.6",
        ),
        (
            "DNS server injecting a resolv.conf line",
            |c| {
                c.dns_config = Some(cri::DnsConfig {
                    servers: vec!["10.0.0.1\nnameserver 6.6.6.6".into()],
                    ..Default::default()
                })
            },
            "dns_config.servers[0]",
            "10.0.0.1\\n",
        ),
        (
            "DNS server not an IP",
            |c| {
                c.dns_config = Some(cri::DnsConfig {
                    servers: vec!["dns.example".into()],
                    ..Default::default()
                })
            },
            "dns_config.servers[0]",
            "dns.example",
        ),
        (
            "DNS search with a space",
            |c| {
                c.dns_config = Some(cri::DnsConfig {
                    searches: vec!["a.example b.example".into()],
                    ..Default::default()
                })
            },
            "dns_config.searches[0]",
            "a.example b.example",
        ),
        (
            "33 DNS searches",
            |c| {
                c.dns_config = Some(cri::DnsConfig {
                    searches: (0..33).map(|i| format!("d{i}.example")).collect(),
                    ..Default::default()
                })
            },
            "dns_config.searches",
            "d0.example",
        ),
        (
            "DNS option with a newline",
            |c| {
                c.dns_config = Some(cri::DnsConfig {
                    options: vec!["ndots:5\nnameserver 6.6.6.6".into()],
                    ..Default::default()
                })
            },
            "dns_config.options[0]",
            "ndots:5\\n",
        ),
        (
            "IPC sysctl with the node's IPC namespace",
            |c| {
                namespaces(c).ipc = cri::NamespaceMode::Node as i32;
            },
            "kernel.shm_rmid_forced",
            "IPC namespace",
        ),
        (
            "net sysctl with the node's network",
            |c| {
                c.linux.as_mut().unwrap().sysctls =
                    [("net.core.somaxconn".to_owned(), "1024".to_owned())].into();
            },
            "net.core.somaxconn",
            "network namespace",
        ),
        (
            "kernel.hostname sysctl",
            |c| {
                c.linux.as_mut().unwrap().sysctls =
                    [("kernel.hostname".to_owned(), "evil".to_owned())].into();
            },
            "kernel.hostname",
            "hostname",
        ),
        (
            "sysctl name climbing out of /proc/sys",
            |c| {
                c.linux.as_mut().unwrap().sysctls =
                    [("kernel/../../etc/x".to_owned(), "1".to_owned())].into();
            },
            "linux.sysctls",
            "kernel/../../etc/x",
        ),
        (
            "sysctl value with a newline",
            |c| {
                c.linux.as_mut().unwrap().sysctls =
                    [("kernel.shm_rmid_forced".to_owned(), "1\n0".to_owned())].into();
            },
            "kernel.shm_rmid_forced",
            "1\\n0",
        ),
        (
            "cgroup parent climbing out",
            |c| c.linux.as_mut().unwrap().cgroup_parent = "/kubepods/../../etc".into(),
            "linux.cgroup_parent",
            "/kubepods/../../etc",
        ),
        (
            "namespace mode 9",
            |c| namespaces(c).network = 9,
            "namespace_options.network",
            "9",
        ),
        (
            "protocol 99",
            |c| {
                c.port_mappings = vec![cri::PortMapping {
                    protocol: 99,
                    container_port: 80,
                    host_port: 8080,
                    host_ip: String::new(),
                }]
            },
            "port_mappings[0].protocol",
            "99",
        ),
        (
            "NUL in the pod name",
            |c| c.metadata.as_mut().unwrap().name = "web\0x".into(),
            "metadata.name",
            "web\\0x",
        ),
        (
            "NUL in the pod namespace",
            |c| c.metadata.as_mut().unwrap().namespace = "default\0".into(),
            "metadata.namespace",
            "default\\0",
        ),
        (
            "NUL in the pod uid",
            |c| c.metadata.as_mut().unwrap().uid = "u\0".into(),
            "metadata.uid",
            "u\\0",
        ),
        // Found by the long fuzz run: each reached a runtime or plugin and came back Internal.
        (
            "log directory component over NAME_MAX",
            |c| c.log_directory = format!("/tmp/{}", "l".repeat(300)),
            "log_directory",
            "NAME_MAX",
        ),
        (
            "pod uid that breaks CNI_ARGS",
            |c| c.metadata.as_mut().unwrap().uid = "a=b=c".into(),
            "metadata.uid",
            "a=b=c",
        ),
        (
            "pod name with a CNI_ARGS separator",
            |c| c.metadata.as_mut().unwrap().name = "a;K8S_POD_UID=x".into(),
            "metadata.name",
            "a;K8S_POD_UID=x",
        ),
    ];
    for (case, mutate, field, value) in pod_cases {
        let mut config = n.pod_config("bad");
        mutate(&mut config);
        refused(case, run_pod(&mut n, config).await, field, value);
    }
    assert_eq!(snapshot(&mut n).await, before, "a refused pod left a trace");
    assert!(!cwd_path("relative-logs").exists());

    // ---- CreateContainer, in a pod that works ----
    let pod = n.pod("good").await;
    let before = snapshot(&mut n).await;
    let evil_path = evil.display().to_string();
    let cases: Vec<(&str, cri::ContainerConfig, &str, String)> = {
        let base = n.config("c1", "true");
        let with = |f: &dyn Fn(&mut cri::ContainerConfig)| {
            let mut c = base.clone();
            f(&mut c);
            c
        };
        let resources = |f: &dyn Fn(&mut cri::LinuxContainerResources)| {
            with(&|c| {
                let mut r = cri::LinuxContainerResources::default();
                f(&mut r);
                c.linux = Some(cri::LinuxContainerConfig {
                    resources: Some(r),
                    ..Default::default()
                });
            })
        };
        vec![
            (
                "absolute log path",
                with(&|c| c.log_path = evil_path.clone()),
                "log_path",
                evil_path.clone(),
            ),
            (
                "log path climbing out",
                with(&|c| c.log_path = "../../evil.log".into()),
                "log_path",
                "../../evil.log".into(),
            ),
            (
                "NUL in the log path",
                with(&|c| c.log_path = "c1\0.log".into()),
                "log_path",
                "c1\\0.log".into(),
            ),
            (
                "working dir ..",
                with(&|c| c.working_dir = "..".into()),
                "working_dir",
                "\"..\"".into(),
            ),
            (
                "relative mount source",
                with(&|c| {
                    c.mounts = vec![cri::Mount {
                        host_path: "relative-src".into(),
                        container_path: "/data".into(),
                        ..Default::default()
                    }]
                }),
                "mounts[0].host_path",
                "relative-src".into(),
            ),
            (
                "relative mount target",
                with(&|c| {
                    c.mounts = vec![cri::Mount {
                        host_path: "/tmp".into(),
                        container_path: "data".into(),
                        ..Default::default()
                    }]
                }),
                "mounts[0].container_path",
                "data".into(),
            ),
            (
                "mount propagation 99",
                with(&|c| {
                    c.mounts = vec![cri::Mount {
                        host_path: "/tmp".into(),
                        container_path: "/data".into(),
                        propagation: 99,
                        ..Default::default()
                    }]
                }),
                "mounts[0].propagation",
                "99".into(),
            ),
            (
                "cpu period 2^62",
                resources(&|r| r.cpu_period = 1 << 62),
                "cpu_period",
                (1i64 << 62).to_string(),
            ),
            (
                "cpu quota 5",
                resources(&|r| r.cpu_quota = 5),
                "cpu_quota",
                "5".into(),
            ),
            (
                "cpu shares 1",
                resources(&|r| r.cpu_shares = 1),
                "cpu_shares",
                "1".into(),
            ),
            (
                "negative memory limit",
                resources(&|r| r.memory_limit_in_bytes = -1),
                "memory_limit_in_bytes",
                "-1".into(),
            ),
            (
                "swap limit below the memory limit",
                resources(&|r| {
                    r.memory_limit_in_bytes = 64 << 20;
                    r.memory_swap_limit_in_bytes = 32 << 20;
                }),
                "memory_swap_limit_in_bytes",
                (32 << 20).to_string(),
            ),
            (
                "unified file of the cgroup core",
                resources(&|r| r.unified = [("cgroup.procs".into(), "1".into())].into()),
                "unified",
                "cgroup.procs".into(),
            ),
            (
                "unified value spanning lines",
                resources(&|r| r.unified = [("pids.max".into(), "1\n2".into())].into()),
                "unified",
                "pids.max".into(),
            ),
            (
                "oom_score_adj 5000",
                resources(&|r| r.oom_score_adj = 5000),
                "oom_score_adj",
                "5000".into(),
            ),
            (
                "cpuset abc",
                resources(&|r| r.cpuset_cpus = "abc".into()),
                "cpuset_cpus",
                "abc".into(),
            ),
            (
                "cpuset mems 3-1",
                resources(&|r| r.cpuset_mems = "3-1".into()),
                "cpuset_mems",
                "3-1".into(),
            ),
            (
                "hugepage size",
                resources(&|r| {
                    r.hugepage_limits = vec![cri::HugepageLimit {
                        page_size: "2XB".into(),
                        limit: 1,
                    }]
                }),
                "hugepage_limits",
                "2XB".into(),
            ),
            (
                "NUL in an argument",
                with(&|c| c.command = vec!["sh".into(), "-c\0".into()]),
                "command[1]",
                "-c\\0".into(),
            ),
            (
                "NUL in an environment value",
                with(&|c| {
                    c.envs = vec![cri::KeyValue {
                        key: "A".into(),
                        value: "x\0y".into(),
                    }]
                }),
                "envs[0].value",
                "x\\0y".into(),
            ),
            (
                "= in an environment name",
                with(&|c| {
                    c.envs = vec![cri::KeyValue {
                        key: "A=B".into(),
                        value: "x".into(),
                    }]
                }),
                "envs[0].key",
                "A=B".into(),
            ),
            (
                "NUL in the container name",
                with(&|c| c.metadata.as_mut().unwrap().name = "c\0".into()),
                "metadata.name",
                "c\\0".into(),
            ),
            (
                "NUL in the image",
                with(&|c| c.image = Some(spec("busybox\0"))),
                "image.image",
                "busybox\\0".into(),
            ),
            // Found by the long fuzz run.
            (
                "mount point inside /proc",
                with(&|c| {
                    c.mounts = vec![cri::Mount {
                        container_path: "/proc/fuzz".into(),
                        host_path: "/tmp".into(),
                        ..Default::default()
                    }]
                }),
                "mounts[0].container_path",
                "/proc/fuzz".into(),
            ),
            (
                "hugepage size the node does not have",
                resources(&|r| {
                    r.hugepage_limits = vec![cri::HugepageLimit {
                        page_size: "64KB".into(),
                        limit: 1 << 20,
                    }]
                }),
                "page_size",
                "64KB".into(),
            ),
            (
                "memory limit below what the container needs",
                resources(&|r| r.memory_limit_in_bytes = 4096),
                "resources",
                "unable to set memory limit".into(),
            ),
            (
                "working directory inside /proc",
                with(&|c| c.working_dir = "/proc/berth-missing".into()),
                "working_dir",
                "/proc/berth-missing".into(),
            ),
            (
                "an executable the image does not have",
                with(&|c| c.command = vec!["/no-such-binary".into()]),
                "command",
                "/no-such-binary".into(),
            ),
            // The runtime's error quoting it is longer than a pipe's buffer: the monitor
            // used to wait for the runtime while the runtime waited for the pipe (a hang).
            (
                "an executable name of 200 kB",
                with(&|c| c.command = vec!["a".repeat(200_000)]),
                "command",
                "aaaaaaaa".into(),
            ),
        ]
    };
    for (case, config, field, value) in cases {
        let answer = tokio::time::timeout(Duration::from_secs(60), n.create(&pod, config))
            .await
            .unwrap_or_else(|_| panic!("{case}: CreateContainer did not answer in 60 s"));
        refused(case, answer, field, &value);
    }
    assert_eq!(
        snapshot(&mut n).await,
        before,
        "a refused container left a trace"
    );
    assert!(!evil.exists(), "{} was created", evil.display());
    assert!(!cwd_path("relative-src").exists());
    assert!(!n.logs().join("evil.log").exists() && !Path::new("/evil.log").exists());

    // ---- UpdateContainerResources ----
    let id = n.create(&pod, n.config("c1", "sleep 60")).await.unwrap();
    let update = |r: cri::LinuxContainerResources| cri::UpdateContainerResourcesRequest {
        container_id: id.clone(),
        linux: Some(r),
        ..Default::default()
    };
    for (case, r, field, value) in [
        (
            "update: cpu period 2^62",
            cri::LinuxContainerResources {
                cpu_period: 1 << 62,
                ..Default::default()
            },
            "cpu_period",
            (1i64 << 62).to_string(),
        ),
        (
            "update: cpuset abc",
            cri::LinuxContainerResources {
                cpuset_cpus: "abc".into(),
                ..Default::default()
            },
            "cpuset_cpus",
            "abc".to_owned(),
        ),
        (
            "update: negative memory limit",
            cri::LinuxContainerResources {
                memory_limit_in_bytes: -5,
                ..Default::default()
            },
            "memory_limit_in_bytes",
            "-5".to_owned(),
        ),
    ] {
        let result = n.client.runtime.update_container_resources(update(r)).await;
        refused(case, result, field, &value);
    }
    let status = n.state(&id).await;
    assert_eq!(
        status.resources.unwrap().linux.unwrap(),
        cri::LinuxContainerResources::default(),
        "a refused update was recorded"
    );

    // ---- PullImage ----
    let pull = |image: &str| cri::PullImageRequest {
        image: Some(spec(image)),
        ..Default::default()
    };
    let bad_port = n.client.image.pull_image(pull("localhost:99999/x:1")).await;
    refused("registry port 99999", bad_port, "localhost:99999", "port");
    let registry = n.image.split('/').next().unwrap().to_owned();
    for missing in [
        format!("{registry}/busybox:missing"),
        format!("{registry}/nothere:1"),
        format!("{registry}/busybox@sha256:{}", "0".repeat(64)),
    ] {
        let err = n.client.image.pull_image(pull(&missing)).await.unwrap_err();
        assert_eq!(err.code(), Code::NotFound, "{missing}: {}", err.message());
        assert!(err.message().contains(&missing), "{}", err.message());
    }

    n.remove_pod(&pod.0).await;
    n.assert_clean();
}
