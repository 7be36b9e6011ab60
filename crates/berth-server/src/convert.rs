//! Domain answers to CRI messages.

use berth_config::CgroupDriver;
use berth_domain::{RuntimeStatus, VersionInfo};
use k8s_cri::v1 as cri;

pub(crate) fn version(v: VersionInfo) -> cri::VersionResponse {
    cri::VersionResponse {
        version: v.version.to_owned(),
        runtime_name: v.runtime_name.to_owned(),
        runtime_version: v.runtime_version.to_owned(),
        runtime_api_version: v.runtime_api_version.to_owned(),
    }
}

pub(crate) fn status(s: RuntimeStatus) -> cri::StatusResponse {
    let conditions = s
        .conditions
        .into_iter()
        .map(|c| cri::RuntimeCondition {
            r#type: c.kind.to_owned(),
            status: c.status,
            reason: c.reason,
            message: c.message,
        })
        .collect();
    // The default handler is listed as "" as the CRI asks, then every working handler.
    let runtime_handlers = std::iter::once(String::new())
        .chain(s.handlers)
        .map(|name| cri::RuntimeHandler {
            name,
            features: Some(cri::RuntimeHandlerFeatures {
                recursive_read_only_mounts: false,
                user_namespaces: false,
            }),
        })
        .collect();
    cri::StatusResponse {
        status: Some(cri::RuntimeStatus { conditions }),
        info: s.info.into_iter().collect(),
        runtime_handlers,
        features: Some(cri::RuntimeFeatures {
            supplemental_groups_policy: false,
        }),
    }
}

pub(crate) fn runtime_config(driver: CgroupDriver) -> cri::RuntimeConfigResponse {
    let cgroup_driver = match driver {
        CgroupDriver::Systemd => cri::CgroupDriver::Systemd,
        CgroupDriver::Cgroupfs => cri::CgroupDriver::Cgroupfs,
    };
    cri::RuntimeConfigResponse {
        linux: Some(cri::LinuxRuntimeConfiguration {
            cgroup_driver: cgroup_driver as i32,
        }),
    }
}
