//! Exec and PortForward through berth's streaming server, driven by our own SPDY and
//! WebSocket clients (berth_testkit::streaming) against the real berthd, real runc and real
//! pods: stdio and exit codes, a terminal and its size, stdin's end, single-use URLs, a client
//! that vanishes, port-forward to a listener and to a closed port, and no threads or fds left
//! behind after many sessions. Needs root.

mod common;

use std::time::{Duration, Instant};

use berth_cri_client::cri;
use berth_testkit::streaming::{
    ExecInput, forward_once, spdy, spdy_exec, spdy_port_forward, upgrade_status, ws_exec,
    ws_port_forward,
};
use common::cni::use_cni;
use common::node::Node;
use common::node::node;
use tokio::io::AsyncReadExt;
use tonic::Code;

/// The URL Exec hands out for `cmd` in `id`.
async fn exec_url(
    n: &mut Node,
    id: &str,
    cmd: &[&str],
    tty: bool,
    stdin: bool,
) -> Result<String, tonic::Status> {
    n.client
        .runtime
        .exec(cri::ExecRequest {
            container_id: id.to_owned(),
            cmd: cmd.iter().map(|s| s.to_string()).collect(),
            tty,
            stdin,
            stdout: true,
            stderr: !tty,
        })
        .await
        .map(|r| r.into_inner().url)
}

async fn forward_url(n: &mut Node, pod: &str) -> String {
    n.client
        .runtime
        .port_forward(cri::PortForwardRequest {
            pod_sandbox_id: pod.to_owned(),
            port: vec![],
        })
        .await
        .unwrap()
        .into_inner()
        .url
}

#[tokio::test]
async fn exec_carries_stdio_exit_codes_and_a_terminal() {
    let mut n = node().await;
    let pod = n.pod("exec").await;
    let id = n.run(&pod, "app", "sleep 600").await;

    // Output per stream and a non-zero exit code.
    let url = exec_url(
        &mut n,
        &id,
        &["sh", "-c", "echo out; echo err >&2; exit 3"],
        false,
        false,
    )
    .await
    .unwrap();
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    let out = spdy_exec(
        &url,
        ExecInput {
            stderr: true,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(out.stdout, b"out\n");
    assert_eq!(out.stderr, b"err\n");
    assert_eq!(
        out.exit_code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.status)
    );

    // The URL was used: a second client gets 404, as does a made-up token.
    assert_eq!(
        upgrade_status(&url, "v4.channel.k8s.io").await.unwrap(),
        404
    );
    let bogus = format!("{}/exec/nonsense", url.rsplitn(3, '/').nth(2).unwrap());
    assert_eq!(
        upgrade_status(&bogus, "v4.channel.k8s.io").await.unwrap(),
        404
    );

    // Input reaches the command, and its end is the command's EOF.
    let url = exec_url(&mut n, &id, &["sh", "-c", "cat; echo end"], false, true)
        .await
        .unwrap();
    let out = spdy_exec(
        &url,
        ExecInput {
            stdin: Some(b"abc\n".to_vec()),
            stderr: true,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(out.stdout, b"abc\nend\n");
    assert_eq!(out.exit_code(), Some(0));

    // A terminal of the size asked for (sizes may land just after the command starts).
    let script = "for i in $(seq 50); do s=$(busybox stty size); [ \"$s\" = '30 100' ] && break; \
                  sleep 0.1; done; echo \"size $s\"; busybox tty";
    let url = exec_url(&mut n, &id, &["sh", "-c", script], true, false)
        .await
        .unwrap();
    let out = spdy_exec(
        &url,
        ExecInput {
            tty: true,
            size: Some((100, 30)),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("size 30 100\r\n"), "{text:?}");
    assert!(text.contains("/dev/pts/"), "{text:?}");
    assert_eq!(out.exit_code(), Some(0));

    // An interactive shell on a terminal: typed input runs.
    let url = exec_url(&mut n, &id, &["sh"], true, true).await.unwrap();
    let out = spdy_exec(
        &url,
        ExecInput {
            stdin: Some(b"echo typed-$((6*7)); exit 4\n".to_vec()),
            tty: true,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("typed-42"));
    assert_eq!(out.exit_code(), Some(4));
    // The end of input on a terminal is its EOF character: `cat` (reading lines) ends.
    let url = exec_url(&mut n, &id, &["cat"], true, true).await.unwrap();
    let out = spdy_exec(
        &url,
        ExecInput {
            stdin: Some(b"line\n".to_vec()),
            tty: true,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("line"));
    assert_eq!(out.exit_code(), Some(0));

    // The same over WebSocket (v5.channel.k8s.io), as crictl --transport websocket.
    let url = exec_url(
        &mut n,
        &id,
        &["sh", "-c", "cat; echo err >&2; exit 5"],
        false,
        true,
    )
    .await
    .unwrap();
    let out = ws_exec(
        &url,
        ExecInput {
            stdin: Some(b"over-ws\n".to_vec()),
            stderr: true,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(out.stdout, b"over-ws\n");
    assert_eq!(out.stderr, b"err\n");
    assert_eq!(out.exit_code(), Some(5));
    let url = exec_url(
        &mut n,
        &id,
        &["sh", "-c", "sleep 0.5; busybox stty size"],
        true,
        false,
    )
    .await
    .unwrap();
    let out = ws_exec(
        &url,
        ExecInput {
            tty: true,
            size: Some((90, 20)),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("20 90"));

    // Bad requests are refused before a URL is made, naming the cause.
    let both = n
        .client
        .runtime
        .exec(cri::ExecRequest {
            container_id: id.clone(),
            cmd: vec!["true".into()],
            tty: true,
            stdout: true,
            stderr: true,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(both.code(), Code::InvalidArgument, "{both}");
    assert!(both.message().contains("tty and stderr"), "{both}");
    let none = n
        .client
        .runtime
        .exec(cri::ExecRequest {
            container_id: id.clone(),
            cmd: vec!["true".into()],
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(none.code(), Code::InvalidArgument, "{none}");
    let unknown = exec_url(&mut n, "nosuchcontainer", &["true"], false, false)
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), Code::NotFound, "{unknown}");
    n.stop(&id, 0).await.unwrap();
    let stopped = exec_url(&mut n, &id, &["true"], false, false)
        .await
        .unwrap_err();
    assert_eq!(stopped.code(), Code::FailedPrecondition, "{stopped}");
    assert!(stopped.message().contains(&id), "{stopped}");

    n.remove_pod(&pod.0).await;
    n.assert_clean();
}

/// A client that goes away mid-session ends its command: nothing is left running in the
/// container.
#[tokio::test]
async fn a_vanished_exec_client_ends_its_command() {
    let mut n = node().await;
    let pod = n.pod("vanish").await;
    let id = n.run(&pod, "app", "sleep 600").await;
    let url = exec_url(
        &mut n,
        &id,
        &["sh", "-c", "echo started; exec sleep 999"],
        false,
        true,
    )
    .await
    .unwrap();
    {
        let session = spdy(&url, "v4.channel.k8s.io").await.unwrap();
        let mut streams = Vec::new();
        for kind in ["error", "stdin", "stdout", "stderr"] {
            let mut headers = berth_streaming::spdy::Headers::default();
            headers.insert("streamtype", kind);
            streams.push(session.open(headers).await.unwrap());
        }
        let mut stdout = streams.remove(2);
        let mut seen = Vec::new();
        let mut buf = [0u8; 64];
        while !seen.ends_with(b"started\n") {
            let read = stdout.read(&mut buf).await.unwrap();
            assert!(read > 0, "no output");
            seen.extend_from_slice(&buf[..read]);
        }
        assert_eq!(
            n.sh(&id, "ps -o args | grep -c '[s]leep 999' || true")
                .await
                .trim(),
            "1"
        );
        // Everything is dropped here: the connection goes without a status.
    }
    let deadline = Instant::now() + Duration::from_secs(15);
    while n
        .sh(&id, "ps -o args | grep -c '[s]leep 999' || true")
        .await
        .trim()
        != "0"
    {
        assert!(Instant::now() < deadline, "the exec outlived its client");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    n.remove_pod(&pod.0).await;
    n.assert_clean();
}

const WEB: &str = "mkdir -p /www; echo hi-from-pod > /www/index.html; \
                   exec busybox httpd -f -p 8080 -h /www";
const GET: &[u8] = b"GET / HTTP/1.0\r\n\r\n";

/// Waits until the pod's web server answers through a new port-forward session.
async fn wait_for_web(n: &mut Node, pod: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let url = forward_url(n, pod).await;
        let session = spdy_port_forward(&url).await.unwrap();
        let (data, _) = forward_once(&session, 8080, 0, GET).await.unwrap();
        session.close().await;
        if String::from_utf8_lossy(&data).contains("hi-from-pod") {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the pod's web server never answered"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn port_forward_reaches_the_pods_ports_and_reports_a_closed_one() {
    let mut n = node().await;
    let cni = use_cni(&mut n).await;
    let pod = n.pod("forward").await;
    n.run(&pod, "web", WEB).await;
    wait_for_web(&mut n, &pod.0).await;

    // One session, several connections: a refused port is said on its error stream in the
    // kubelet's words, and the session goes on serving.
    let url = forward_url(&mut n, &pod.0).await;
    let session = spdy_port_forward(&url).await.unwrap();
    let (data, error) = forward_once(&session, 8080, 1, GET).await.unwrap();
    assert!(String::from_utf8_lossy(&data).contains("hi-from-pod"));
    assert!(error.is_empty(), "{}", String::from_utf8_lossy(&error));
    let (data, error) = forward_once(&session, 9999, 2, GET).await.unwrap();
    let error = String::from_utf8_lossy(&error);
    assert!(data.is_empty());
    assert!(
        error.starts_with(&format!(
            "error forwarding port 9999 to pod {}, uid : ",
            pod.0
        )),
        "{error}"
    );
    assert!(error.contains("refused"), "{error}");
    let (data, _) = forward_once(&session, 8080, 3, GET).await.unwrap();
    assert!(String::from_utf8_lossy(&data).contains("hi-from-pod"));
    session.close().await;
    assert_eq!(
        upgrade_status(&url, "portforward.k8s.io").await.unwrap(),
        404
    );

    // Through the WebSocket tunnel, as crictl 1.36 --transport websocket.
    let url = forward_url(&mut n, &pod.0).await;
    let session = ws_port_forward(&url).await.unwrap();
    let (data, _) = forward_once(&session, 8080, 0, GET).await.unwrap();
    assert!(String::from_utf8_lossy(&data).contains("hi-from-pod"));
    session.close().await;

    // A pod that is not ready is refused.
    n.client
        .runtime
        .stop_pod_sandbox(cri::StopPodSandboxRequest {
            pod_sandbox_id: pod.0.clone(),
        })
        .await
        .unwrap();
    let err = n
        .client
        .runtime
        .port_forward(cri::PortForwardRequest {
            pod_sandbox_id: pod.0.clone(),
            port: vec![],
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition, "{err}");
    n.remove_pod(&pod.0).await;
    n.assert_clean();
    cni.assert_clean();
}

fn fds_and_threads(pid: i32) -> (usize, usize) {
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .count();
    let threads = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    (fds, threads)
}

/// containerd #10568 leaked a goroutine per WebSocket exec: after many sessions berthd's
/// threads and file descriptors are back where they were.
#[tokio::test]
async fn sessions_leave_no_threads_or_fds_behind() {
    let execs: usize = std::env::var("BERTH_TEST_EXECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100);
    let mut n = node().await;
    let cni = use_cni(&mut n).await;
    let pod = n.pod("leaks").await;
    let id = n.run(&pod, "web", WEB).await;
    wait_for_web(&mut n, &pod.0).await;
    let pid = n.daemon.pid();
    // Warm up every path once, then take the baseline.
    let url = exec_url(&mut n, &id, &["true"], false, false)
        .await
        .unwrap();
    spdy_exec(&url, ExecInput::default()).await.unwrap();
    tokio::time::sleep(Duration::from_secs(11)).await;
    let before = fds_and_threads(pid);
    for i in 0..execs {
        let url = exec_url(&mut n, &id, &["echo", "x"], false, i % 3 == 0)
            .await
            .unwrap();
        let input = ExecInput {
            stdin: (i % 3 == 0).then(|| b"in".to_vec()),
            stderr: true,
            ..Default::default()
        };
        let out = if i % 2 == 0 {
            spdy_exec(&url, input).await.unwrap()
        } else {
            ws_exec(&url, input).await.unwrap()
        };
        assert_eq!(
            (out.stdout.as_slice(), out.exit_code()),
            (&b"x\n"[..], Some(0))
        );
    }
    let url = forward_url(&mut n, &pod.0).await;
    let session = spdy_port_forward(&url).await.unwrap();
    for i in 0..execs / 2 {
        let (data, _) = forward_once(&session, 8080, i as u32, GET).await.unwrap();
        assert!(String::from_utf8_lossy(&data).contains("hi-from-pod"));
    }
    session.close().await;
    // Idle blocking-pool threads linger for 10 s before they exit.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let after = fds_and_threads(pid);
        if after.0 <= before.0 + 2 && after.1 <= before.1 + 2 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "berthd kept fds or threads: before {before:?}, after {after:?}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    n.remove_pod(&pod.0).await;
    n.assert_clean();
    cni.assert_clean();
}
