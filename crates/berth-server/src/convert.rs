//! Domain answers to CRI messages.

use berth_config::CgroupDriver;
use berth_domain::container::ContainerFilter;
use berth_domain::image::{ImageDetails, ImageFsUsage};
use berth_domain::sandbox::{
    DnsConfig, NamespaceMode, PortMapping, SandboxFilter, SandboxRequest, SandboxStatus,
};
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

pub(crate) fn container_state(state: ContainerState) -> cri::ContainerState {
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

pub(crate) fn namespace_mode(mode: i32) -> NamespaceMode {
    match cri::NamespaceMode::try_from(mode) {
        Ok(cri::NamespaceMode::Container) => NamespaceMode::Container,
        Ok(cri::NamespaceMode::Node) => NamespaceMode::Node,
        Ok(cri::NamespaceMode::Target) => NamespaceMode::Target,
        _ => NamespaceMode::Pod,
    }
}

pub(crate) fn sandbox_request(req: cri::RunPodSandboxRequest) -> Result<SandboxRequest, String> {
    let config = req.config.ok_or("a PodSandboxConfig is required")?;
    let metadata = config
        .metadata
        .ok_or("PodSandboxConfig.metadata is required")?;
    let linux = config.linux.unwrap_or_default();
    let options = linux
        .security_context
        .and_then(|s| s.namespace_options)
        .unwrap_or_default();
    let dns = config.dns_config.unwrap_or_default();
    let port_mappings = config
        .port_mappings
        .into_iter()
        .filter(|p| p.host_port > 0)
        .map(|p| {
            let protocol = match cri::Protocol::try_from(p.protocol) {
                Ok(cri::Protocol::Udp) => "udp",
                Ok(cri::Protocol::Sctp) => "sctp",
                _ => "tcp",
            };
            let port = |v: i32, what: &str| {
                u16::try_from(v).map_err(|_| format!("port mapping {what} {v} is out of range"))
            };
            Ok(PortMapping {
                protocol: protocol.to_owned(),
                container_port: port(p.container_port, "container_port")?,
                host_port: port(p.host_port, "host_port")?,
                host_ip: p.host_ip,
            })
        })
        .collect::<Result<Vec<_>, String>>()?;
    Ok(SandboxRequest {
        name: metadata.name,
        uid: metadata.uid,
        namespace: metadata.namespace,
        attempt: metadata.attempt,
        hostname: config.hostname,
        log_directory: config.log_directory,
        dns: DnsConfig {
            servers: dns.servers,
            searches: dns.searches,
            options: dns.options,
        },
        port_mappings,
        labels: config.labels.into_iter().collect(),
        annotations: config.annotations.into_iter().collect(),
        cgroup_parent: linux.cgroup_parent,
        sysctls: linux.sysctls.into_iter().collect(),
        network: namespace_mode(options.network),
        pid: namespace_mode(options.pid),
        ipc: namespace_mode(options.ipc),
        runtime_handler: req.runtime_handler,
    })
}

fn sandbox_state(ready: bool) -> i32 {
    if ready {
        cri::PodSandboxState::SandboxReady as i32
    } else {
        cri::PodSandboxState::SandboxNotready as i32
    }
}

fn sandbox_metadata(m: &berth_store::PodMetadata) -> cri::PodSandboxMetadata {
    cri::PodSandboxMetadata {
        name: m.name.clone(),
        uid: m.uid.clone(),
        namespace: m.namespace.clone(),
        attempt: m.attempt,
    }
}

pub(crate) fn sandbox_status(s: SandboxStatus) -> cri::PodSandboxStatusResponse {
    let r = s.record;
    let net = &r.network;
    let mode = |node: bool| {
        if node {
            cri::NamespaceMode::Node as i32
        } else {
            cri::NamespaceMode::Pod as i32
        }
    };
    let mut info = std::collections::HashMap::new();
    if let Some(v) = s.info {
        info.insert("info".to_owned(), v.to_string());
    }
    cri::PodSandboxStatusResponse {
        status: Some(cri::PodSandboxStatus {
            id: r.id.clone(),
            metadata: Some(sandbox_metadata(&r.metadata)),
            state: sandbox_state(s.ready),
            created_at: r.created_at_ns,
            network: Some(cri::PodSandboxNetworkStatus {
                ip: net.ips.first().cloned().unwrap_or_default(),
                additional_ips: net
                    .ips
                    .iter()
                    .skip(1)
                    .map(|ip| cri::PodIp { ip: ip.clone() })
                    .collect(),
            }),
            linux: Some(cri::LinuxPodSandboxStatus {
                namespaces: Some(cri::Namespace {
                    options: Some(cri::NamespaceOption {
                        network: mode(net.host_network),
                        pid: mode(net.pid_mode == "node"),
                        ipc: mode(net.host_ipc),
                        ..Default::default()
                    }),
                }),
            }),
            labels: r.labels.into_iter().collect(),
            annotations: r.annotations.into_iter().collect(),
            runtime_handler: r.runtime_handler,
        }),
        info,
        containers_statuses: Vec::new(),
        timestamp: 0,
    }
}

pub(crate) fn sandbox_filter(f: cri::PodSandboxFilter) -> SandboxFilter {
    SandboxFilter {
        id: Some(f.id).filter(|s| !s.is_empty()),
        ready: f
            .state
            .map(|s| s.state == cri::PodSandboxState::SandboxReady as i32),
        labels: f.label_selector.into_iter().collect(),
    }
}

pub(crate) fn sandbox(s: SandboxStatus) -> cri::PodSandbox {
    let r = s.record;
    cri::PodSandbox {
        id: r.id.clone(),
        metadata: Some(sandbox_metadata(&r.metadata)),
        state: sandbox_state(s.ready),
        created_at: r.created_at_ns,
        labels: r.labels.into_iter().collect(),
        annotations: r.annotations.into_iter().collect(),
        runtime_handler: r.runtime_handler,
    }
}
