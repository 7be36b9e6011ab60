//! Calls whose client goes away, and messages at the kubelet's size limits. A mutating call
//! cut short by its deadline still ends fully made or fully undone (berthd owns its work);
//! ExecSync never answers more than the kubelet accepts; requests up to 16 MiB are taken,
//! larger ones refused with ResourceExhausted. Needs root.

mod common;

use std::time::{Duration, Instant};

use berth_cri_client::cri;
use common::cni::use_cni;
use common::node::node;
use tonic::Code;

/// A request that gives up after `after`, as crictl's and the kubelet's deadlines do: the
/// header tells berthd, and the client drops the call itself too.
fn deadline<T>(message: T, after: Duration) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request.set_timeout(after);
    request
}

async fn within<T>(
    after: Duration,
    call: impl std::future::Future<Output = Result<T, tonic::Status>>,
) -> Result<T, tonic::Status> {
    match tokio::time::timeout(after, call).await {
        Ok(result) => result,
        Err(_) => Err(tonic::Status::deadline_exceeded("client gave up")),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_cut_short_by_their_deadline_still_finish() {
    let mut n = node().await;
    let cni = use_cni(&mut n).await;
    const PODS: usize = 6;

    // RunPodSandbox cut short: the pod is still made whole (network and all), and a retry
    // with the same name sees it.
    let config = n.pod_config("cut-run");
    let cut = within(
        Duration::from_millis(20),
        n.client.runtime.run_pod_sandbox(deadline(
            cri::RunPodSandboxRequest {
                config: Some(config.clone()),
                runtime_handler: String::new(),
            },
            Duration::from_millis(20),
        )),
    )
    .await;
    assert!(
        matches!(
            cut.as_ref().map_err(|s| s.code()),
            Err(Code::DeadlineExceeded | Code::Cancelled)
        ),
        "{cut:?}"
    );
    let made = wait_for(|| {
        let mut client = n.client.clone();
        async move {
            common::list_pods(&mut client)
                .await
                .into_iter()
                .find(|p| p.metadata.as_ref().unwrap().name == "cut-run")
                .filter(|p| p.state == cri::PodSandboxState::SandboxReady as i32)
        }
    })
    .await;
    n.created.push(made.id.clone());
    let retry = n
        .client
        .runtime
        .run_pod_sandbox(cri::RunPodSandboxRequest {
            config: Some(config),
            runtime_handler: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(retry.code(), Code::AlreadyExists, "{retry}");
    assert!(retry.message().contains(&made.id), "{retry}");

    // `crictl rmp -a -f` with a short deadline: every removal cut short still runs to the
    // end, concurrently: no pod is left half-stopped with its netns or IP.
    let mut pods = vec![made.id.clone()];
    for i in 0..PODS - 1 {
        let pod = n.pod(&format!("cut-{i}")).await;
        n.run(&pod, "app", "sleep 600").await;
        pods.push(pod.0);
    }
    let started = Instant::now();
    let removals = pods.iter().map(|id| {
        let mut client = n.client.clone();
        let id = id.clone();
        async move {
            within(
                Duration::from_millis(30),
                client.runtime.remove_pod_sandbox(deadline(
                    cri::RemovePodSandboxRequest { pod_sandbox_id: id },
                    Duration::from_millis(30),
                )),
            )
            .await
        }
    });
    let answers = futures_util::future::join_all(removals).await;
    let cut_short = answers.iter().filter(|a| a.is_err()).count();
    assert!(cut_short > 0, "no removal was cut short: {answers:?}");
    for answer in &answers {
        if let Err(status) = answer {
            assert!(
                matches!(status.code(), Code::DeadlineExceeded | Code::Cancelled),
                "{status}"
            );
        }
    }
    wait_for(|| {
        let mut client = n.client.clone();
        async move {
            common::list_pods(&mut client)
                .await
                .is_empty()
                .then_some(())
        }
    })
    .await;
    eprintln!(
        "{PODS} removals, {cut_short} cut short by their deadline, all done in {:?}",
        started.elapsed()
    );
    let containers = common::list_containers(&mut n.client).await;
    assert!(containers.is_empty(), "{containers:?}");
    let log = n.daemon.log();
    assert!(
        log.contains("the caller went away"),
        "berthd's log does not say a call was cut short"
    );
    cni.assert_clean();
    n.assert_clean();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exec_sync_replies_fit_the_kubelet() {
    let mut n = node().await;
    let pod = n.pod("exec-limits").await;
    let id = n.run(&pod, "app", "sleep 600").await;

    // 100 MB of output: the reply fits 16 MiB with its framing, and says it was cut.
    let out = n
        .exec(&id, &["head", "-c", "100000000", "/dev/zero"], 60)
        .await
        .unwrap();
    assert_eq!(out.exit_code, 0);
    let size = prost::Message::encoded_len(&out);
    assert!(size < 16 << 20, "reply of {size} bytes");
    assert!(out.stdout.len() > 15 << 20, "{}", out.stdout.len());
    let note = String::from_utf8_lossy(&out.stderr);
    assert!(
        note.contains("truncated") && note.contains("of 100000000 bytes"),
        "{note}"
    );
    // Both streams large: still one reply that fits.
    let out = n
        .exec(
            &id,
            &[
                "sh",
                "-c",
                "head -c 12000000 /dev/zero; head -c 12000000 /dev/zero >&2",
            ],
            60,
        )
        .await
        .unwrap();
    assert!(prost::Message::encoded_len(&out) < 16 << 20);
    assert!(String::from_utf8_lossy(&out.stderr).contains("truncated"));

    n.remove_pod(&pod.0).await;
    n.assert_clean();
}

/// critest's "execSync with timeout": the container's init is `top`, which reaps no
/// orphans, so an exec'd process killed after its runtime would stay a zombie that `pgrep`
/// still finds. When the call returns, the process must be gone; likewise when the caller
/// gives up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timed_out_or_abandoned_exec_leaves_not_even_a_zombie() {
    let mut n = node().await;
    let pod = n.pod("exec-zombie").await;
    let mut config = n.config("app", "");
    config.command = vec!["top".into()];
    let id = n.create(&pod, config).await.unwrap();
    n.start(&id).await.unwrap();
    let pgrep_sleep = |n: &mut common::node::Node| {
        let mut client = n.client.clone();
        let id = id.clone();
        async move {
            let out = client
                .runtime
                .exec_sync(cri::ExecSyncRequest {
                    container_id: id,
                    cmd: vec!["sh".into(), "-c".into(), "pgrep sleep || true".into()],
                    timeout: 10,
                })
                .await
                .unwrap()
                .into_inner();
            String::from_utf8_lossy(&out.stdout).trim().to_owned()
        }
    };
    for round in 0..3 {
        let err = n.exec(&id, &["sleep", "4321"], 1).await.unwrap_err();
        assert_eq!(err.code(), Code::DeadlineExceeded, "{err}");
        let left = pgrep_sleep(&mut n).await;
        assert!(left.is_empty(), "round {round}: sleep still there: {left}");
    }
    // The caller gives up (no ExecSync timeout of its own).
    let gone = within(
        Duration::from_millis(500),
        n.client.runtime.exec_sync(deadline(
            cri::ExecSyncRequest {
                container_id: id.clone(),
                cmd: vec!["sleep".into(), "4321".into()],
                timeout: 0,
            },
            Duration::from_millis(500),
        )),
    )
    .await;
    assert!(gone.is_err(), "{gone:?}");
    wait_for(|| {
        let f = pgrep_sleep(&mut n);
        async move { f.await.is_empty().then_some(()) }
    })
    .await;
    n.remove_pod(&pod.0).await;
    n.assert_clean();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_up_to_16_mib_are_taken_and_larger_ones_refused() {
    let mut n = node().await;
    // 5 MiB: over tonic's default 4 MiB, under the kubelet's 16 MiB. The answer is about the
    // request (no such image), not its size.
    let big = n
        .client
        .image
        .image_status(cri::ImageStatusRequest {
            image: Some(cri::ImageSpec {
                image: format!("example.com/{}", "a".repeat(5 << 20)),
                ..Default::default()
            }),
            verbose: false,
        })
        .await;
    match big {
        Ok(answer) => assert!(answer.into_inner().image.is_none()),
        Err(status) => assert_eq!(status.code(), Code::InvalidArgument, "{status}"),
    }
    let huge = n
        .client
        .image
        .image_status(cri::ImageStatusRequest {
            image: Some(cri::ImageSpec {
                image: "a".repeat(17 << 20),
                ..Default::default()
            }),
            verbose: false,
        })
        .await
        .unwrap_err();
    assert_eq!(huge.code(), Code::ResourceExhausted, "{huge}");
    assert!(huge.message().contains("16777216"), "{huge}");
    // berthd is fine afterwards.
    n.client
        .runtime
        .version(cri::VersionRequest::default())
        .await
        .unwrap();
}

/// Polls `check` until it gives a value, for at most 30 s.
async fn wait_for<T, F, Fut>(mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(Instant::now() < deadline, "condition not met within 30 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
