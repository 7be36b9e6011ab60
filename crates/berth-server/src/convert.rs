//! Domain answers to CRI messages.

use berth_config::CgroupDriver;
use berth_domain::container::ContainerFilter;
use berth_domain::image::{ImageDetails, ImageFsUsage};
use berth_domain::{RuntimeStatus, VersionInfo};
use berth_store::{ContainerRecord, ContainerState, ImageRecord};
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

pub(crate) fn image(r: ImageRecord) -> cri::Image {
    cri::Image {
        id: r.id.clone(),
        repo_tags: r.repo_tags,
        repo_digests: r.repo_digests,
        size: r.size,
        uid: None,
        username: String::new(),
        spec: Some(cri::ImageSpec {
            image: r.id,
            ..Default::default()
        }),
        pinned: r.pinned,
    }
}

pub(crate) fn image_status(details: ImageDetails, verbose: bool) -> cri::ImageStatusResponse {
    let (uid, username) = details.user();
    let mut info = std::collections::HashMap::new();
    if verbose {
        info.insert(
            "info".to_owned(),
            serde_json::json!({
                "id": details.record.id,
                "manifestDigest": details.record.manifest_digest,
                "chainIDs": details.record.chain_ids,
                "imageSpec": details.config,
            })
            .to_string(),
        );
    }
    let mut image = image(details.record);
    image.uid = uid.map(|value| cri::Int64Value { value });
    image.username = username;
    cri::ImageStatusResponse {
        image: Some(image),
        info,
    }
}

pub(crate) fn filesystem_usage(u: ImageFsUsage) -> cri::FilesystemUsage {
    cri::FilesystemUsage {
        timestamp: u.timestamp_ns,
        fs_id: Some(cri::FilesystemIdentifier {
            mountpoint: u.mountpoint.display().to_string(),
        }),
        used_bytes: Some(cri::UInt64Value {
            value: u.used_bytes,
        }),
        inodes_used: Some(cri::UInt64Value {
            value: u.inodes_used,
        }),
    }
}

fn container_state(state: ContainerState) -> cri::ContainerState {
    match state {
        ContainerState::Created => cri::ContainerState::ContainerCreated,
        ContainerState::Running => cri::ContainerState::ContainerRunning,
        ContainerState::Exited => cri::ContainerState::ContainerExited,
        ContainerState::Creating | ContainerState::Removing | ContainerState::Unknown => {
            cri::ContainerState::ContainerUnknown
        }
    }
}

pub(crate) fn container_filter(f: cri::ContainerFilter) -> ContainerFilter {
    let state = f
        .state
        .map(|s| match cri::ContainerState::try_from(s.state) {
            Ok(cri::ContainerState::ContainerCreated) => ContainerState::Created,
            Ok(cri::ContainerState::ContainerRunning) => ContainerState::Running,
            Ok(cri::ContainerState::ContainerExited) => ContainerState::Exited,
            _ => ContainerState::Unknown,
        });
    ContainerFilter {
        id: Some(f.id).filter(|s| !s.is_empty()),
        sandbox_id: Some(f.pod_sandbox_id).filter(|s| !s.is_empty()),
        state,
        labels: f.label_selector.into_iter().collect(),
    }
}

pub(crate) fn container(c: ContainerRecord) -> cri::Container {
    cri::Container {
        id: c.id,
        pod_sandbox_id: c.sandbox_id,
        metadata: Some(cri::ContainerMetadata {
            name: c.metadata.name,
            attempt: c.metadata.attempt,
        }),
        image: Some(cri::ImageSpec {
            image: c.image,
            ..Default::default()
        }),
        image_ref: c.image_ref.clone(),
        state: container_state(c.state) as i32,
        created_at: c.created_at_ns,
        labels: c.labels.into_iter().collect(),
        annotations: c.annotations.into_iter().collect(),
        image_id: c.image_ref,
    }
}
