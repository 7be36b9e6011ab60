//! Streaming: an exec's round trip (the Exec call, the SPDY session, `true`, its exit code on
//! the error stream) and a port-forward's first reply (the PortForward call, the SPDY
//! session, a connection to a web server in the pod and its answer), through the same
//! kubelet-style client (berth_testkit::streaming) on either runtime.

use std::time::{Duration, Instant};

use berth_cri_client::cri;
use berth_testkit::streaming::{ExecInput, forward_once, spdy_exec, spdy_port_forward};

use super::{Figures, ms};
use crate::target::{Failure, Pod, Target, failed};

/// A web server on port 8080 of the pod.
const WEB: &str = "mkdir -p /www; echo hi > /www/index.html; exec busybox httpd -f -p 8080 -h /www";
const GET: &[u8] = b"GET / HTTP/1.0\r\n\r\n";

/// One exec and one port-forward on a fresh pod.
pub async fn round(t: &Target) -> Result<Figures, Failure> {
    let pod = Pod::run(t).await?;
    let result = timed(t, &pod).await;
    pod.destroy().await?;
    result
}

async fn exec_true(t: &Target, id: &str) -> Result<(), Failure> {
    let url = t
        .client
        .clone()
        .runtime
        .exec(cri::ExecRequest {
            container_id: id.to_owned(),
            cmd: vec!["true".into()],
            stdout: true,
            stderr: true,
            ..Default::default()
        })
        .await
        .map_err(failed("Exec"))?
        .into_inner()
        .url;
    let out = spdy_exec(
        &url,
        ExecInput {
            stderr: true,
            ..Default::default()
        },
    )
    .await
    .map_err(|e| format!("exec session: {e}"))?;
    match out.exit_code() {
        Some(0) => Ok(()),
        other => Err(format!("exec true ended with {other:?}")),
    }
}

/// The web server's reply through a new port-forward session.
async fn forward(t: &Target, pod: &str) -> Result<Vec<u8>, Failure> {
    let url = t
        .client
        .clone()
        .runtime
        .port_forward(cri::PortForwardRequest {
            pod_sandbox_id: pod.to_owned(),
            port: vec![8080],
        })
        .await
        .map_err(failed("PortForward"))?
        .into_inner()
        .url;
    let session = spdy_port_forward(&url)
        .await
        .map_err(|e| format!("port-forward session: {e}"))?;
    let reply = forward_once(&session, 8080, 0, GET).await;
    session.close().await;
    Ok(reply.map_err(|e| format!("port-forward: {e}"))?.0)
}

async fn timed(t: &Target, pod: &Pod) -> Result<Figures, Failure> {
    let id = pod.create(t.container_config("web", WEB)).await?;
    pod.start(&id).await?;
    // The first of each warms up, and waits for the web server.
    exec_true(t, &id).await?;
    let deadline = Instant::now() + Duration::from_secs(20);
    while !forward(t, &pod.id).await?.starts_with(b"HTTP/1.") {
        if Instant::now() > deadline {
            return Err("the pod's web server never answered".into());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let start = Instant::now();
    exec_true(t, &id).await?;
    let exec = ms(start);
    let start = Instant::now();
    let reply = forward(t, &pod.id).await?;
    let first = ms(start);
    if !reply.starts_with(b"HTTP/1.") {
        return Err("no reply through the port-forward".into());
    }
    Ok(vec![
        ("exec round trip (true)", exec),
        ("port-forward first reply", first),
    ])
}
