//! `RuntimeConfig` and `UpdateRuntimeConfig`.

use berth_config::CgroupDriver;

use super::{POD_CIDR_KEY, RuntimeInfo};
use crate::{Error, podcidr};

impl RuntimeInfo {
    /// The cgroup driver, configured or detected at start; fixed for the daemon's life.
    pub fn cgroup_driver(&self) -> CgroupDriver {
        self.cgroup_driver
    }

    /// The pod CIDR last given by the kubelet, if any.
    pub fn pod_cidr(&self) -> Option<String> {
        self.pod_cidr.lock().expect("pod CIDR lock").clone()
    }

    /// Validates and persists the pod CIDR. An empty value changes nothing (the kubelet
    /// sends one before the node has a CIDR assigned).
    pub async fn update_pod_cidr(&self, cidr: &str) -> Result<(), Error> {
        if cidr.trim().is_empty() {
            return Ok(());
        }
        let cidr = podcidr::validate(cidr).map_err(|source| Error::InvalidPodCidr {
            cidr: cidr.to_owned(),
            source,
        })?;
        if self.pod_cidr().as_deref() == Some(cidr.as_str()) {
            return Ok(());
        }
        let store = self.store.clone();
        let value = cidr.clone();
        tokio::task::spawn_blocking(move || store.set_meta(POD_CIDR_KEY, &value))
            .await
            .map_err(|source| Error::Task {
                what: "persisting the pod CIDR",
                source,
            })??;
        tracing::info!(pod_cidr = %cidr, "pod CIDR updated");
        *self.pod_cidr.lock().expect("pod CIDR lock") = Some(cidr);
        Ok(())
    }
}
