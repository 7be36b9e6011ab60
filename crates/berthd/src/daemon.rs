//! The daemon's life: lock, bind, serve while recovering, shut down on a signal.
//!
//! Task ownership: `run` owns every task it starts (recovery, metrics, streaming, signal watch,
//! memory trim) and awaits or aborts each before it returns; the mutating calls' tasks belong to `Cri` and are
//! drained here too. One `CancellationToken` is the shutdown path.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use berth_config::Config;
use berth_domain::Domain;
use berth_server::{Cri, Gate, Metrics, NodeBackend};
use tokio::signal::unix::{SignalKind, signal};
use tokio_stream::wrappers::UnixListenerStream;
use tokio_util::sync::CancellationToken;

use crate::lock::StateLock;
use crate::notify::notify;
use crate::socket::CriSocket;

/// Runs berthd until SIGTERM or SIGINT.
pub async fn run(config: Config) -> anyhow::Result<()> {
    let started = Instant::now();
    let config = Arc::new(config);
    std::fs::create_dir_all(&config.state)
        .with_context(|| format!("cannot create state directory {}", config.state.display()))?;
    std::fs::create_dir_all(&config.root)
        .with_context(|| format!("cannot create root directory {}", config.root.display()))?;
    let lock = StateLock::acquire(&config.layout())?;
    let (socket, listener) = CriSocket::bind(&config.socket_path())?;
    let shutdown = CancellationToken::new();
    let signals = tokio::spawn(watch_signals(shutdown.clone()));

    let gate = Gate::new();
    let metrics = Metrics::new(gate.clone());
    let metrics_task = match config.metrics.address.0 {
        Some(address) => {
            let (bound, serve) = metrics
                .clone()
                .bind(address, shutdown.clone())
                .await
                .with_context(|| format!("cannot listen for metrics on {address}"))?;
            tracing::info!(address = %bound, "metrics endpoint listening");
            Some(tokio::spawn(serve))
        }
        None => None,
    };

    let timeouts = berth_streaming::Timeouts {
        idle: config.streaming.stream_idle_timeout.0,
        creation: config.streaming.stream_creation_timeout.0,
    };
    let tls = match (&config.streaming.tls_cert, &config.streaming.tls_key) {
        (Some(cert), Some(key)) => Some(berth_streaming::Tls {
            cert: cert.clone(),
            key: key.clone(),
        }),
        _ => None,
    };
    let (streaming, serve_streams) = berth_streaming::bind(
        config.streaming.address,
        tls,
        Arc::new(NodeBackend::new(gate.clone())),
        timeouts,
        shutdown.clone(),
    )
    .await
    .with_context(|| {
        format!(
            "cannot listen for streaming on {}",
            config.streaming.address
        )
    })?;
    tracing::info!(url = %streaming.base(), "streaming server listening");
    let streaming_task = tokio::spawn(serve_streams);
    let trim_task = tokio::spawn(crate::trim::every_period(shutdown.clone()));

    let recovery = tokio::spawn(recover(
        config.clone(),
        gate.clone(),
        metrics.clone(),
        shutdown.clone(),
    ));
    let cri = Cri::new(gate.clone(), metrics, streaming, shutdown.clone());
    tracing::info!(
        socket = %socket.path().display(),
        lock = %lock.path().display(),
        version = env!("CARGO_PKG_VERSION"),
        "berthd serving CRI; RPCs answer Unavailable until recovery finishes"
    );
    let server = tonic::transport::Server::builder()
        .layer(berth_server::message_limit_layer())
        .add_service(cri.runtime_service())
        .add_service(cri.image_service())
        .serve_with_incoming_shutdown(
            crate::authority::incoming(UnixListenerStream::new(listener)),
            shutdown.clone().cancelled_owned(),
        );
    let grace = Duration::from_secs(config.shutdown_grace_seconds);
    let drained = tokio::select! {
        served = server => {
            served.context("CRI server failed")?;
            true
        }
        () = async { shutdown.cancelled().await; tokio::time::sleep(grace).await } => false,
    };
    if !drained {
        tracing::warn!(
            grace_seconds = grace.as_secs(),
            "in-flight calls outlived the grace period; dropping them"
        );
    }
    // Mutating calls whose caller went away still run as berthd's tasks: let them finish,
    // within the same grace, so a shutdown does not cut a pod or container in half.
    if !cri.drain(grace).await {
        tracing::warn!(
            grace_seconds = grace.as_secs(),
            "mutating calls still running after the grace period; dropping them (recovery \
             settles them at the next start)"
        );
    }
    shutdown.cancel();
    signals.abort();
    notify("STOPPING=1");
    if config.shutdown_stops_pods
        && let Some(domain) = gate.get()
    {
        tracing::info!("shutdown_stops_pods is set: stopping every pod");
        match domain.stop_all_pods().await {
            Ok(count) => tracing::info!(pods = count, "every pod stopped"),
            Err(e) => tracing::error!(error = %e, "not every pod could be stopped"),
        }
    }
    if let Some(task) = metrics_task {
        let _ = task.await;
    }
    // Sessions were cancelled with `shutdown`; their commands end with them.
    let _ = streaming_task.await;
    let _ = trim_task.await;
    let recovered = if recovery.is_finished() {
        recovery.await.context("recovery task panicked")?
    } else {
        recovery.abort();
        Ok(())
    };
    drop(socket);
    drop(lock);
    recovered?;
    tracing::info!(
        uptime_ms = started.elapsed().as_millis() as u64,
        "berthd stopped"
    );
    Ok(())
}

/// Start-up recovery: opens the store, rebuilds the indexes, probes runtimes, then opens the
/// gate. A failure stops the daemon.
async fn recover(
    config: Arc<Config>,
    gate: Gate,
    metrics: Metrics,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let started = Instant::now();
    match Domain::start(config).await {
        Ok(domain) => {
            gate.open(Arc::new(domain));
            metrics.recovered(started.elapsed());
            notify("READY=1");
            tracing::info!(
                elapsed_ms = started.elapsed().as_millis() as u64,
                "recovery finished; berthd ready"
            );
            Ok(())
        }
        Err(e) => {
            shutdown.cancel();
            Err(e).context("start-up recovery failed")
        }
    }
}

/// Cancels `shutdown` on the first SIGTERM or SIGINT.
async fn watch_signals(shutdown: CancellationToken) {
    let (mut term, mut int) = match (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) {
        (Ok(term), Ok(int)) => (term, int),
        (Err(e), _) | (_, Err(e)) => {
            tracing::error!(error = %e, "cannot watch signals; shutting down");
            shutdown.cancel();
            return;
        }
    };
    let name = tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = int.recv() => "SIGINT",
        () = shutdown.cancelled() => return,
    };
    tracing::info!(
        signal = name,
        "shutting down: no new calls, finishing in-flight ones"
    );
    shutdown.cancel();
}
