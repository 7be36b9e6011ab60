//! Streaming: an exec's round trip (the Exec call, the SPDY session, `true`, its exit code on
//! the error stream) and a port-forward's first reply (the PortForward call, the SPDY
//! session, a connection to a web server in the pod and its answer), through the same
//! kubelet-style client (berth_testkit::streaming) on either runtime; and what an idle
//! session costs (`sessions`).

use std::time::{Duration, Instant};

use berth_cri_client::cri;
use berth_testkit::streaming::{
    ExecInput, forward_once, spdy_exec, spdy_exec_idle, spdy_forward_idle, spdy_port_forward,
};
use regex::Regex;

use super::{Figures, ms};
use crate::procs::{fds, matching, pss_kib};
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

/// The URL of an exec of `cmd` in `id`, with stdin when `stdin`.
async fn exec_url(t: &Target, id: &str, cmd: &str, stdin: bool) -> Result<String, Failure> {
    let response = t
        .client
        .clone()
        .runtime
        .exec(cri::ExecRequest {
            container_id: id.to_owned(),
            cmd: vec![cmd.into()],
            stdin,
            stdout: true,
            stderr: !stdin,
            ..Default::default()
        })
        .await
        .map_err(failed("Exec"))?;
    Ok(response.into_inner().url)
}

/// The URL of a port-forward to the pod's web server.
async fn forward_url(t: &Target, pod: &str) -> Result<String, Failure> {
    let response = t
        .client
        .clone()
        .runtime
        .port_forward(cri::PortForwardRequest {
            pod_sandbox_id: pod.to_owned(),
            port: vec![8080],
        })
        .await
        .map_err(failed("PortForward"))?;
    Ok(response.into_inner().url)
}

async fn exec_true(t: &Target, id: &str) -> Result<(), Failure> {
    let url = exec_url(t, id, "true", false).await?;
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
    let url = forward_url(t, pod).await?;
    let session = spdy_port_forward(&url)
        .await
        .map_err(|e| format!("port-forward session: {e}"))?;
    let reply = forward_once(&session, 8080, 0, GET).await;
    session.close().await;
    Ok(reply.map_err(|e| format!("port-forward: {e}"))?.0)
}

/// Starts the pod's web server; answers its container's ID once it answers, after a first
/// exec (each first warms up).
async fn serve(t: &Target, pod: &Pod) -> Result<String, Failure> {
    let id = pod.create(t.container_config("web", WEB)).await?;
    pod.start(&id).await?;
    exec_true(t, &id).await?;
    let deadline = Instant::now() + Duration::from_secs(20);
    while !forward(t, &pod.id).await?.starts_with(b"HTTP/1.") {
        if Instant::now() > deadline {
            return Err("the pod's web server never answered".into());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(id)
}

/// Execs timed per round, after the first (which warms up): the round's figure is their
/// median, as a probe's execs follow one another in one container.
const EXECS: usize = 5;

async fn timed(t: &Target, pod: &Pod) -> Result<Figures, Failure> {
    let id = serve(t, pod).await?;
    let mut execs = Vec::with_capacity(EXECS);
    for _ in 0..EXECS {
        let start = Instant::now();
        exec_true(t, &id).await?;
        execs.push(ms(start));
    }
    execs.sort_by(f64::total_cmp);
    let exec = execs[EXECS / 2];
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

/// Idle sessions of each kind opened at once by `sessions`.
const IDLE: usize = 20;

/// The OCI runtime processes a session may keep (berth's exec runs `runc exec` in the
/// foreground for as long as the command runs; containerd's shim runs it detached).
const RUNTIME_PROCESSES: &str = r"^\S*\b(runc|crun)\s";

/// What an idle session costs a runtime: `IDLE` exec sessions (`cat`, waiting for input),
/// then `IDLE` port-forward sessions with a connection to the pod's web server each, all
/// left idle; what grew in the daemon, its helpers and the runtime processes it keeps,
/// divided by `IDLE`: PSS (shared pages divided among their users) and open descriptors.
pub async fn sessions(t: &Target) -> Result<Figures, Failure> {
    let pod = Pod::run(t).await?;
    let result = idle(t, &pod).await;
    pod.destroy().await?;
    result
}

/// PSS (KiB) and open descriptors of the daemon, its helpers and the runtime processes.
fn usage(t: &Target, daemon: i32) -> (u64, u64) {
    let runtime = Regex::new(RUNTIME_PROCESSES).expect("a valid pattern");
    let mut pids = matching(&t.helpers);
    pids.extend(matching(&runtime));
    pids.push(daemon);
    pids.sort_unstable();
    pids.dedup();
    pids.iter()
        .fold((0, 0), |(pss, open), &p| (pss + pss_kib(p), open + fds(p)))
}

async fn idle(t: &Target, pod: &Pod) -> Result<Figures, Failure> {
    let daemon = t
        .daemon
        .ok_or_else(|| format!("no process found listening on {}", t.socket.display()))?;
    let id = serve(t, pod).await?;
    let settle = || tokio::time::sleep(Duration::from_secs(1));
    settle().await;
    let before = usage(t, daemon);
    let mut execs = Vec::new();
    for _ in 0..IDLE {
        let url = exec_url(t, &id, "cat", true).await?;
        let session = spdy_exec_idle(&url).await;
        execs.push(session.map_err(|e| format!("exec session: {e}"))?);
    }
    settle().await;
    let execing = usage(t, daemon);
    let mut forwards = Vec::new();
    for _ in 0..IDLE {
        let url = forward_url(t, &pod.id).await?;
        let session = spdy_forward_idle(&url, 8080).await;
        forwards.push(session.map_err(|e| format!("port-forward session: {e}"))?);
    }
    settle().await;
    let forwarding = usage(t, daemon);
    drop((execs, forwards));
    let per = |now: u64, then: u64| now.saturating_sub(then) as f64 / IDLE as f64;
    Ok(vec![
        ("idle exec session: PSS (KiB)", per(execing.0, before.0)),
        ("idle exec session: fds", per(execing.1, before.1)),
        (
            "idle port-forward session: PSS (KiB)",
            per(forwarding.0, execing.0),
        ),
        (
            "idle port-forward session: fds",
            per(forwarding.1, execing.1),
        ),
    ])
}
