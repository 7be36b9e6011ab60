//! Throughput: C pods with one container each, started concurrently, then stopped and
//! removed concurrently.

use std::sync::Arc;
use std::time::Instant;

use super::{Figures, TERM_RESPONSIVE, ms};
use crate::target::{Failure, Pod, Target};

/// One wave of `concurrency` pods.
pub async fn round(t: &Arc<Target>, concurrency: usize) -> Result<Figures, Failure> {
    let start = Instant::now();
    let mut ups = tokio::task::JoinSet::new();
    for _ in 0..concurrency {
        let t = t.clone();
        ups.spawn(async move {
            let pod = Pod::run(&t).await?;
            let id = pod.create(t.container_config("app", TERM_RESPONSIVE)).await;
            let started = match id {
                Ok(id) => pod.start(&id).await,
                Err(e) => Err(e),
            };
            Ok::<_, Failure>((pod, started))
        });
    }
    let mut pods = Vec::new();
    let mut first_error = None;
    while let Some(done) = ups.join_next().await {
        match done.map_err(|e| e.to_string()).and_then(|r| r) {
            Ok((pod, started)) => {
                if let Err(e) = started {
                    first_error.get_or_insert(e);
                }
                pods.push(pod);
            }
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    let up = ms(start);
    let start = Instant::now();
    let mut downs = tokio::task::JoinSet::new();
    for pod in pods {
        downs.spawn(async move { pod.destroy().await });
    }
    while let Some(done) = downs.join_next().await {
        if let Err(e) = done.map_err(|e| e.to_string()).and_then(|r| r) {
            first_error.get_or_insert(e);
        }
    }
    let down = ms(start);
    if let Some(e) = first_error {
        return Err(e);
    }
    Ok(vec![
        ("all up (ms)", up),
        ("all gone (ms)", down),
        ("pods per second", concurrency as f64 / ((up + down) / 1e3)),
    ])
}
