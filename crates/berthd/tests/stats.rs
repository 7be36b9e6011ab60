//! The stats RPCs through a real berthd and runc. `ContainerStats` and
//! `ListContainerStats`: memory a container holds shows in its working set, a spinning one
//! shows CPU time and a CPU rate, a file it writes shows in its writable layer, and the list
//! filters as critest asserts. `PodSandboxStats` and `ListPodSandboxStats`: a pod's memory,
//! CPU, processes and ping traffic show, from its own cgroup or summed over its containers',
//! and the same figures under cAdvisor's names in `ListPodSandboxMetrics`. berthd's own
//! Prometheus endpoint: pods and containers by state, exits and OOM kills, pulls, recovery.
//! berthd samples every second here (`[stats] sample_period`).

mod common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use berth_cri_client::cri;
use common::cni::use_cni;
use common::node::{Node, node_with};

const MIB: u64 = 1024 * 1024;

/// A container script that holds 40 MiB (`tail` reading a line that never ends).
const HOLD_40_MIB: &str =
    "trap 'exit 0' TERM; (head -c 41943040 /dev/zero; sleep 1000) | tail -n 1 & wait";

async fn stats(n: &mut Node, id: &str) -> cri::ContainerStats {
    n.client
        .runtime
        .container_stats(cri::ContainerStatsRequest {
            container_id: id.to_owned(),
        })
        .await
        .unwrap()
        .into_inner()
        .stats
        .expect("stats in the answer")
}

async fn list(n: &mut Node, filter: cri::ContainerStatsFilter) -> Vec<String> {
    let mut ids: Vec<String> = n
        .client
        .runtime
        .list_container_stats(cri::ListContainerStatsRequest {
            filter: Some(filter),
        })
        .await
        .unwrap()
        .into_inner()
        .stats
        .into_iter()
        .map(|s| s.attributes.unwrap().id)
        .collect();
    ids.sort();
    ids
}

/// Waits (bounded) until `id`'s stats satisfy `ready`, and answers them.
async fn stats_when(
    n: &mut Node,
    id: &str,
    what: &str,
    ready: impl Fn(&cri::ContainerStats) -> bool,
) -> cri::ContainerStats {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let s = stats(n, id).await;
        if ready(&s) {
            return s;
        }
        assert!(Instant::now() < deadline, "{what} never showed: {s:?}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

fn value(v: &Option<cri::UInt64Value>) -> u64 {
    v.as_ref().map_or(0, |v| v.value)
}

#[tokio::test]
async fn a_containers_memory_cpu_and_writable_layer_show_in_its_stats() {
    let mut n = node_with("[stats]\nsample_period = \"1s\"\n").await;
    let pod = n.pod("stats").await;
    // 40 MiB held by `tail` (a line that never ends), and a 5 MiB file in the writable
    // layer.
    let holder = n
        .run(
            &pod,
            "holder",
            &format!("head -c 5242880 /dev/urandom > /big; {HOLD_40_MIB}"),
        )
        .await;
    let spinner = n.run(&pod, "spinner", "while :; do :; done").await;

    let s = stats_when(&mut n, &holder, "40 MiB and a 5 MiB file", |s| {
        let layer = s
            .writable_layer
            .as_ref()
            .map_or(0, |l| value(&l.used_bytes));
        let memory = s.memory.as_ref().map_or(0, |m| value(&m.working_set_bytes));
        layer >= 5 * MIB && memory >= 40 * MIB
    })
    .await;
    let attributes = s.attributes.as_ref().unwrap();
    assert_eq!(attributes.id, holder);
    assert_eq!(attributes.metadata.as_ref().unwrap().name, "holder");
    assert_eq!(
        attributes.labels.get("app").map(String::as_str),
        Some("holder")
    );
    let memory = s.memory.as_ref().expect("memory stats");
    assert!(memory.timestamp > 0);
    let working_set = value(&memory.working_set_bytes);
    assert!(value(&memory.usage_bytes) >= working_set);
    // Most of it is anonymous (cgroup v2 counts `anon` a little under what `tail` holds).
    assert!(value(&memory.rss_bytes) >= 32 * MIB, "{s:?}");
    assert!(value(&memory.page_faults) > 0);
    let layer = s.writable_layer.as_ref().unwrap();
    assert!(value(&layer.inodes_used) >= 1);
    assert!(!layer.fs_id.as_ref().unwrap().mountpoint.is_empty());

    // A core spinning: its CPU time grows, and the sampled rate shows most of a core.
    let s = stats_when(&mut n, &spinner, "the CPU rate", |s| {
        s.cpu
            .as_ref()
            .is_some_and(|c| value(&c.usage_nano_cores) > 200_000_000)
    })
    .await;
    let cpu = s.cpu.as_ref().unwrap();
    assert!(cpu.timestamp > 0);
    assert!(value(&cpu.usage_core_nano_seconds) > 200_000_000, "{s:?}");

    // The list: every running container, or those the filter names.
    let mut both = vec![holder.clone(), spinner.clone()];
    both.sort();
    assert_eq!(list(&mut n, Default::default()).await, both);
    let by_id = cri::ContainerStatsFilter {
        id: holder.clone(),
        ..Default::default()
    };
    assert_eq!(list(&mut n, by_id).await, std::slice::from_ref(&holder));
    let by_pod = cri::ContainerStatsFilter {
        pod_sandbox_id: pod.0.clone(),
        ..Default::default()
    };
    assert_eq!(list(&mut n, by_pod).await, both);
    let by_label = |app: &str| cri::ContainerStatsFilter {
        label_selector: [("app".to_owned(), app.to_owned())].into(),
        ..Default::default()
    };
    assert_eq!(
        list(&mut n, by_label("spinner")).await,
        std::slice::from_ref(&spinner)
    );
    assert!(list(&mut n, by_label("nobody")).await.is_empty());

    // A stopped container is no longer listed; its own stats have no CPU or memory.
    n.stop(&spinner, 0).await.unwrap();
    assert_eq!(
        list(&mut n, Default::default()).await,
        std::slice::from_ref(&holder)
    );
    let s = stats(&mut n, &spinner).await;
    assert_eq!(s.attributes.unwrap().id, spinner);
    assert!(
        s.cpu.is_none() && s.memory.is_none(),
        "{:?}",
        (s.cpu, s.memory)
    );

    // Unknown containers are NotFound, naming them.
    let missing = n
        .client
        .runtime
        .container_stats(cri::ContainerStatsRequest {
            container_id: "nosuchcontainer".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(missing.code(), tonic::Code::NotFound, "{missing:?}");
    assert!(missing.message().contains("nosuchcontainer"), "{missing:?}");

    n.remove_pod(&pod.0).await;
    n.assert_clean();
}

async fn pod_stats(n: &mut Node, id: &str) -> Result<cri::PodSandboxStats, tonic::Status> {
    let answer = n
        .client
        .runtime
        .pod_sandbox_stats(cri::PodSandboxStatsRequest {
            pod_sandbox_id: id.to_owned(),
        })
        .await?;
    Ok(answer.into_inner().stats.expect("stats in the answer"))
}

async fn list_pods(n: &mut Node, filter: cri::PodSandboxStatsFilter) -> Vec<String> {
    let mut ids: Vec<String> = n
        .client
        .runtime
        .list_pod_sandbox_stats(cri::ListPodSandboxStatsRequest {
            filter: Some(filter),
        })
        .await
        .unwrap()
        .into_inner()
        .stats
        .into_iter()
        .map(|s| s.attributes.unwrap().id)
        .collect();
    ids.sort();
    ids
}

/// Waits (bounded) until pod `id`'s stats satisfy `ready`, and answers its Linux stats.
async fn pod_stats_when(
    n: &mut Node,
    id: &str,
    what: &str,
    ready: impl Fn(&cri::LinuxPodSandboxStats) -> bool,
) -> cri::LinuxPodSandboxStats {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let s = pod_stats(n, id).await.unwrap();
        assert_eq!(s.attributes.as_ref().unwrap().id, id);
        let linux = s.linux.expect("Linux stats");
        if ready(&linux) {
            return linux;
        }
        assert!(Instant::now() < deadline, "{what} never showed: {linux:?}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

fn working_set(s: &cri::LinuxPodSandboxStats) -> u64 {
    s.memory.as_ref().map_or(0, |m| value(&m.working_set_bytes))
}

fn nano_cores(s: &cri::LinuxPodSandboxStats) -> u64 {
    s.cpu.as_ref().map_or(0, |c| value(&c.usage_nano_cores))
}

fn container_ids(s: &cri::LinuxPodSandboxStats) -> Vec<String> {
    let mut ids: Vec<String> = s
        .containers
        .iter()
        .map(|c| c.attributes.as_ref().unwrap().id.clone())
        .collect();
    ids.sort();
    ids
}

#[tokio::test]
async fn a_pods_memory_cpu_processes_and_network_show_in_its_stats() {
    let mut n = node_with("[stats]\nsample_period = \"1s\"\n").await;
    let cni = use_cni(&mut n).await;
    let systemd = n.systemd_cgroups().await;

    // A pod in a cgroup of its own, as the kubelet's pods are, on the pod network: it holds
    // 40 MiB and pings its gateway.
    let mut config = n.pod_config("netpod");
    config.labels.insert("app".into(), "netpod".into());
    let tag = std::process::id();
    config.linux.as_mut().unwrap().cgroup_parent = if systemd {
        format!("berthpod{tag}.slice")
    } else {
        format!("/berthpod{tag}")
    };
    let netpod = n.pod_with(config).await;
    let ip = n
        .pod_status(&netpod.0)
        .await
        .status
        .unwrap()
        .network
        .unwrap()
        .ip;
    let gateway = format!("{}.1", ip.rsplit_once('.').unwrap().0);
    let holder = n.run(&netpod, "holder", HOLD_40_MIB).await;
    let pinger = n
        .run(
            &netpod,
            "pinger",
            &format!("ping -c 20 -i 0.2 -s 1000 {gateway}; exec sleep 1000"),
        )
        .await;
    let s = pod_stats_when(&mut n, &netpod.0, "40 MiB and the pings", |s| {
        let eth0 = s
            .network
            .as_ref()
            .and_then(|n| n.default_interface.as_ref());
        let sent = eth0.map_or(0, |i| value(&i.tx_bytes));
        let received = eth0.map_or(0, |i| value(&i.rx_bytes));
        working_set(s) >= 40 * MIB && sent >= 10_000 && received >= 10_000
    })
    .await;
    let network = s.network.as_ref().unwrap();
    assert_eq!(network.default_interface.as_ref().unwrap().name, "eth0");
    assert!(
        network.interfaces.iter().all(|i| i.name != "lo"),
        "{network:?}"
    );
    let memory = s.memory.as_ref().unwrap();
    assert!(value(&memory.usage_bytes) >= working_set(&s));
    assert!(value(&memory.rss_bytes) >= 32 * MIB, "{memory:?}");
    // Both containers' processes (the pod has no infra: its PID mode is CONTAINER): the
    // holder's shell, tail and the subshell that runs head then sleep (busybox runs its
    // last command in place), and the pinger's ping or sleep.
    let processes = s.process.as_ref().map_or(0, |p| value(&p.process_count));
    assert!(processes >= 4, "{s:?}");
    assert!(s.cpu.as_ref().is_some_and(|c| c.timestamp > 0));
    let mut both = vec![holder.clone(), pinger.clone()];
    both.sort();
    assert_eq!(container_ids(&s), both);

    // The same figures as cAdvisor's metrics, each named by a descriptor, with one value per
    // label key. (The holder's own figures are the sampler's: wait until a pass saw its
    // 40 MiB.)
    stats_when(&mut n, &holder, "the holder's 40 MiB", |s| {
        s.memory.as_ref().map_or(0, |m| value(&m.working_set_bytes)) >= 40 * MIB
    })
    .await;
    let descriptors: HashMap<String, cri::MetricDescriptor> = n
        .client
        .runtime
        .list_metric_descriptors(cri::ListMetricDescriptorsRequest {})
        .await
        .unwrap()
        .into_inner()
        .descriptors
        .into_iter()
        .map(|d| (d.name.clone(), d))
        .collect();
    let all = n
        .client
        .runtime
        .list_pod_sandbox_metrics(cri::ListPodSandboxMetricsRequest {})
        .await
        .unwrap()
        .into_inner()
        .pod_metrics;
    let metrics = all.iter().find(|m| m.pod_sandbox_id == netpod.0).unwrap();
    let labelled = |m: &cri::Metric| -> HashMap<String, String> {
        let d = descriptors
            .get(&m.name)
            .unwrap_or_else(|| panic!("{} undescribed", m.name));
        assert_eq!(d.label_keys.len(), m.label_values.len(), "{m:?}");
        d.label_keys
            .iter()
            .cloned()
            .zip(m.label_values.iter().cloned())
            .collect()
    };
    let find = |metrics: &[cri::Metric], name: &str, label: (&str, &str)| -> u64 {
        let m = metrics
            .iter()
            .find(|m| {
                m.name == name && labelled(m).get(label.0).map(String::as_str) == Some(label.1)
            })
            .unwrap_or_else(|| panic!("no {name} {label:?} in {metrics:?}"));
        value(&m.value)
    };
    let pod_series = ("pod", "netpod");
    assert!(
        find(
            &metrics.metrics,
            "container_memory_working_set_bytes",
            pod_series
        ) >= 40 * MIB
    );
    assert!(
        find(
            &metrics.metrics,
            "container_network_receive_bytes_total",
            ("interface", "eth0")
        ) >= 10_000
    );
    assert!(find(&metrics.metrics, "container_processes", pod_series) >= 4);
    let holder_metrics = metrics
        .container_metrics
        .iter()
        .find(|c| c.container_id == holder)
        .expect("the holder's metrics");
    for m in &holder_metrics.metrics {
        let labels = labelled(m);
        assert_eq!(labels["container"], "holder");
        assert_eq!(
            (labels["pod"].as_str(), labels["namespace"].as_str()),
            ("netpod", "default")
        );
    }
    assert!(
        find(
            &holder_metrics.metrics,
            "container_memory_working_set_bytes",
            ("container", "holder")
        ) >= 40 * MIB
    );
    assert!(
        find(
            &holder_metrics.metrics,
            "container_start_time_seconds",
            ("id", &holder)
        ) > 0
    );
    // Pressure stall totals where the node has them (cgroup v2 with PSI: the node VM).
    let psi = std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists()
        && std::path::Path::new("/proc/pressure/memory").exists();
    let has_psi = holder_metrics
        .metrics
        .iter()
        .any(|m| m.name == "container_pressure_memory_waiting_seconds_total");
    assert_eq!(has_psi, psi, "{holder_metrics:?}");

    // A pod without a cgroup parent (its figures are its containers' and infra's summed) on
    // the node's network (no network figures: those are the node's).
    let mut config = n.pod_config("hostpod");
    config.labels.insert("app".into(), "hostpod".into());
    let security = config.linux.as_mut().unwrap().security_context.as_mut();
    security
        .unwrap()
        .namespace_options
        .as_mut()
        .unwrap()
        .network = cri::NamespaceMode::Node as i32;
    let hostpod = n.pod_with(config).await;
    let spinner = n.run(&hostpod, "spinner", "while :; do :; done").await;
    let s = pod_stats_when(&mut n, &hostpod.0, "the spinner's CPU", |s| {
        nano_cores(s) > 200_000_000
    })
    .await;
    assert!(s.network.is_none(), "{:?}", s.network);
    assert!(
        s.cpu
            .as_ref()
            .is_some_and(|c| value(&c.usage_core_nano_seconds) > 0)
    );
    assert!(s.memory.as_ref().is_some_and(|m| value(&m.usage_bytes) > 0));
    assert_eq!(container_ids(&s), vec![spinner.clone()]);

    // The list: every ready pod, or those the filter names.
    let mut pods = vec![netpod.0.clone(), hostpod.0.clone()];
    pods.sort();
    assert_eq!(list_pods(&mut n, Default::default()).await, pods);
    let by_id = cri::PodSandboxStatsFilter {
        id: netpod.0.clone(),
        ..Default::default()
    };
    assert_eq!(list_pods(&mut n, by_id).await, vec![netpod.0.clone()]);
    let by_label = cri::PodSandboxStatsFilter {
        label_selector: [("app".to_owned(), "hostpod".to_owned())].into(),
        ..Default::default()
    };
    assert_eq!(list_pods(&mut n, by_label).await, vec![hostpod.0.clone()]);

    // A stopped pod is not listed; its own stats have no figures.
    n.client
        .runtime
        .stop_pod_sandbox(cri::StopPodSandboxRequest {
            pod_sandbox_id: hostpod.0.clone(),
        })
        .await
        .unwrap();
    assert_eq!(
        list_pods(&mut n, Default::default()).await,
        vec![netpod.0.clone()]
    );
    let stopped = pod_stats(&mut n, &hostpod.0).await.unwrap().linux.unwrap();
    assert!(
        stopped.cpu.is_none() && stopped.memory.is_none() && stopped.containers.is_empty(),
        "{stopped:?}"
    );

    let missing = pod_stats(&mut n, "nosuchpod").await.unwrap_err();
    assert_eq!(missing.code(), tonic::Code::NotFound, "{missing:?}");
    assert!(missing.message().contains("nosuchpod"), "{missing:?}");

    n.remove_pod(&netpod.0).await;
    n.remove_pod(&hostpod.0).await;
    n.assert_clean();
    cni.assert_clean();
}

/// berthd's `/metrics`, fetched over plain HTTP/1.0.
fn scrape(port: u16) -> String {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream.write_all(b"GET /metrics HTTP/1.0\r\n\r\n").unwrap();
    let mut text = String::new();
    stream.read_to_string(&mut text).unwrap();
    text
}

/// Scrapes until `ready` holds of the text (bounded), and answers that text.
async fn scrape_until(port: u16, ready: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let text = scrape(port);
        if ready(&text) || Instant::now() > deadline {
            return text;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The value of the sample `series` (name and labels as exposed) in `text`.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

#[tokio::test]
async fn the_operators_metrics_count_pods_containers_exits_oom_kills_and_pulls() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut n = node_with(&format!("[metrics]\naddress = \"127.0.0.1:{port}\"\n")).await;
    let text = scrape(port);
    assert!(sample(&text, "berth_recovery_seconds").is_some(), "{text}");
    // The node pulled its three images.
    assert_eq!(
        sample(&text, "berth_image_pulls_total{result=\"succeeded\"}"),
        Some(3.0),
        "{text}"
    );
    assert!(sample(&text, "berth_image_pull_bytes_total").unwrap_or(0.0) > 0.0);
    assert!(sample(&text, "berth_image_pull_seconds_total").unwrap_or(0.0) > 0.0);

    let pod = n.pod("counted").await;
    let done = n.run(&pod, "done", "exit 3").await;
    let mut hog = n.config("hog", "x=a; while true; do x=$x$x; done");
    hog.linux = Some(cri::LinuxContainerConfig {
        resources: Some(cri::LinuxContainerResources {
            memory_limit_in_bytes: 16 << 20,
            ..Default::default()
        }),
        ..Default::default()
    });
    let hog = n.create(&pod, hog).await.unwrap();
    n.start(&hog).await.unwrap();
    n.run(&pod, "sleeper", "exec sleep 1000").await;
    assert_eq!(n.exited(&done).await.exit_code, 3);
    assert_eq!(n.exited(&hog).await.reason, "OOMKilled");

    // An exit is counted just after its record is saved (which ContainerStatus shows).
    let text = scrape_until(port, |text| {
        sample(text, "berth_container_exits_total") == Some(2.0)
            && sample(text, "berth_container_oom_kills_total") == Some(1.0)
    })
    .await;
    for (series, value) in [
        ("berth_pods{state=\"ready\"}", 1.0),
        ("berth_pods{state=\"not_ready\"}", 0.0),
        ("berth_containers{state=\"running\"}", 1.0),
        ("berth_containers{state=\"exited\"}", 2.0),
        ("berth_container_exits_total", 2.0),
        ("berth_container_oom_kills_total", 1.0),
    ] {
        assert_eq!(sample(&text, series), Some(value), "{series} in:\n{text}");
    }
    assert!(
        text.contains(
            "berth_cri_request_duration_seconds_count{rpc=\"RunPodSandbox\",code=\"Ok\"} 1"
        ),
        "{text}"
    );

    n.remove_pod(&pod.0).await;
    let text = scrape(port);
    assert_eq!(
        sample(&text, "berth_pods{state=\"ready\"}"),
        Some(0.0),
        "{text}"
    );
    assert_eq!(
        sample(&text, "berth_container_exits_total"),
        Some(3.0),
        "{text}"
    );
    n.assert_clean();
}
