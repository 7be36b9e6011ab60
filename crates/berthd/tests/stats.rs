//! `ContainerStats` and `ListContainerStats` through a real berthd and runc: memory a
//! container holds shows in its working set, a spinning one shows CPU time and a CPU rate,
//! a file it writes shows in its writable layer, and the list filters as critest asserts.
//! berthd samples every second here (`[stats] sample_period`).

mod common;

use std::time::{Duration, Instant};

use berth_cri_client::cri;
use common::node::{Node, node_with};

const MIB: u64 = 1024 * 1024;

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
            "trap 'exit 0' TERM; head -c 5242880 /dev/urandom > /big; \
             (head -c 41943040 /dev/zero; sleep 1000) | tail -n 1 & wait",
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
