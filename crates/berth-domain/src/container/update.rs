//! `UpdateContainerResources`: the runtime's `update` applies new CPU, memory, swap, hugepage
//! and cgroup v2 (`unified`) limits to a created or running container; the record keeps what
//! was applied.

use berth_store::ResourcesRecord;

use super::ContainerService;
use crate::{Error, validate};

impl ContainerService {
    /// Applies `resources` to a container; they are checked before the runtime sees them.
    pub async fn update_resources(
        &self,
        id: &str,
        resources: ResourcesRecord,
    ) -> Result<(), Error> {
        validate::resources(id, &resources)?;
        let id = self.resolve(id)?;
        let s = &self.shared;
        let Some(live) = s.live(&id) else {
            return Err(Error::NotFound {
                what: "container",
                id: id.clone(),
            });
        };
        let _guard = live.lock.lock().await;
        let mut record = s.get(&id).await?;
        if !record.may_run() {
            return Err(Error::FailedPrecondition(format!(
                "container {id} is {:?}: only a created or running container can be updated",
                record.state
            )));
        }
        let file = s.layout.container_update(&id);
        std::fs::write(&file, oci_resources(&resources).to_string())
            .map_err(|e| Error::container(&id, "write the resources", e))?;
        let result = s.runtime(&record.runtime_handler)?.update(&id, &file).await;
        let _ = std::fs::remove_file(&file);
        result.map_err(|e| {
            let reason = e.to_string();
            // The container exited between the state check and the runtime's update.
            if reason.contains("container not running") {
                Error::FailedPrecondition(format!(
                    "container {id} is no longer running: cannot update its resources"
                ))
            } else {
                Error::container_runtime(&id, "update resources", reason)
            }
        })?;
        record.spec.resources = resources;
        s.save(&record).await?;
        tracing::info!(container_id = %id, "container resources updated");
        Ok(())
    }
}

/// The OCI `LinuxResources` JSON of a CRI resource request (unset fields left out).
fn oci_resources(r: &ResourcesRecord) -> serde_json::Value {
    let mut cpu = serde_json::Map::new();
    if r.cpu_shares > 0 {
        cpu.insert("shares".into(), r.cpu_shares.into());
    }
    if r.cpu_quota != 0 {
        cpu.insert("quota".into(), r.cpu_quota.into());
    }
    if r.cpu_period > 0 {
        cpu.insert("period".into(), r.cpu_period.into());
    }
    if !r.cpuset_cpus.is_empty() {
        cpu.insert("cpus".into(), r.cpuset_cpus.clone().into());
    }
    if !r.cpuset_mems.is_empty() {
        cpu.insert("mems".into(), r.cpuset_mems.clone().into());
    }
    let mut out = serde_json::json!({ "cpu": cpu });
    let mut memory = serde_json::Map::new();
    if r.memory_limit_in_bytes > 0 {
        memory.insert("limit".into(), r.memory_limit_in_bytes.into());
    }
    if r.memory_swap_limit_in_bytes != 0 {
        memory.insert("swap".into(), r.memory_swap_limit_in_bytes.into());
    }
    if !memory.is_empty() {
        out["memory"] = memory.into();
    }
    if !r.unified.is_empty() {
        out["unified"] = serde_json::json!(r.unified);
    }
    if !r.hugepage_limits.is_empty() {
        out["hugepageLimits"] = r
            .hugepage_limits
            .iter()
            .map(|(size, limit)| serde_json::json!({"pageSize": size, "limit": limit}))
            .collect();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_set_limits_are_sent() {
        let r = ResourcesRecord {
            cpu_shares: 512,
            memory_limit_in_bytes: 1 << 20,
            ..Default::default()
        };
        assert_eq!(
            oci_resources(&r),
            serde_json::json!({"cpu": {"shares": 512}, "memory": {"limit": 1048576}})
        );
        let r = ResourcesRecord {
            memory_swap_limit_in_bytes: -1,
            unified: [("pids.max".to_owned(), "64".to_owned())].into(),
            ..Default::default()
        };
        assert_eq!(
            oci_resources(&r),
            serde_json::json!({"cpu": {}, "memory": {"swap": -1}, "unified": {"pids.max": "64"}})
        );
    }
}
