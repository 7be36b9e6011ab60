//! The domain's one sampler task: each period, one pass of the sampler over every running
//! container and every ready pod, off the async threads. The domain owns the task; dropping
//! it stops the task.

use std::sync::Arc;
use std::time::Duration;

use berth_store::{ContainerRecord, ContainerState, SandboxRecord};

use super::cgroup::CgroupDirs;
use super::sampler::Target;
use crate::Error;
use crate::context::Context;
use crate::task::blocking;

/// Runs the sampler's pass each `period` until the returned task is dropped.
pub(crate) fn sample_every(context: Arc<Context>, period: Duration) -> SamplerTask {
    let task = tokio::spawn(async move {
        let mut ticks = tokio::time::interval(period);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            let context = context.clone();
            let pass = blocking("sampling container and pod stats", move || {
                let targets = targets(&context)?;
                context.sampler.pass(targets);
                Ok(())
            });
            if let Err(e) = pass.await {
                tracing::warn!(error = %e, "a stats sampling pass failed");
            }
        }
    });
    SamplerTask(task)
}

/// What a pass samples: running containers (CPU and writable layer) and ready pods (CPU).
fn targets(context: &Context) -> Result<Vec<Target>, Error> {
    let running: Vec<ContainerRecord> = context
        .store
        .load_all::<ContainerRecord>()?
        .into_iter()
        .filter(|r| r.state == ContainerState::Running && r.pid > 0)
        .collect();
    let pods: Vec<Target> = context
        .store
        .load_all::<SandboxRecord>()?
        .into_iter()
        .filter(SandboxRecord::is_ready)
        .map(|pod| {
            let pids: Vec<i32> = running
                .iter()
                .filter(|c| c.sandbox_id == pod.id)
                .map(|c| c.pid)
                .collect();
            let own =
                crate::sandbox::pod_cgroup_path(context.cgroup_driver, &pod.network.cgroup_parent);
            Target {
                cgroups: CgroupDirs::of_pod(pod.network.infra_pid, own.as_deref(), &pids),
                upper: None,
                id: pod.id,
            }
        })
        .collect();
    let containers = running.into_iter().map(|r| Target {
        cgroups: CgroupDirs::of_pid(r.pid).into_iter().collect(),
        upper: Some(context.layout.container_upper(&r.id)),
        id: r.id,
    });
    Ok(containers.chain(pods).collect())
}

/// The sampler task; dropping it stops the task.
pub(crate) struct SamplerTask(tokio::task::JoinHandle<()>);

impl Drop for SamplerTask {
    fn drop(&mut self) {
        self.0.abort();
    }
}
