//! Domain answers to CRI messages.

use berth_config::CgroupDriver;
use berth_domain::container::ContainerFilter;
use berth_domain::image::{ImageDetails, ImageFsUsage};
use berth_domain::sandbox::{DnsConfig, PortMapping, SandboxFilter, SandboxRequest, SandboxStatus};
use berth_domain::shared::NamespaceMode;
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
    let runtime_handlers = s
        .handlers
        .into_iter()
        .map(|h| cri::RuntimeHandler {
            name: h.name,
            features: Some(cri::RuntimeHandlerFeatures {
                recursive_read_only_mounts: h.recursive_read_only_mounts,
                // User namespaces are not built yet.
                user_namespaces: false,
            }),
        })
        .collect();
    cri::StatusResponse {
        status: Some(cri::RuntimeStatus { conditions }),
        info: s.info.into_iter().collect(),
        runtime_handlers,
        features: Some(cri::RuntimeFeatures {
            supplemental_groups_policy: s.supplemental_groups_policy,
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

/// A prost enum field's number as its enum; an unknown number is refused naming `field`
/// (prost keeps unknown numbers rather than failing to decode).
pub(crate) fn known<E: TryFrom<i32>>(value: i32, field: &str, kind: &str) -> Result<E, String> {
    E::try_from(value).map_err(|_| format!("{field} {value}: not a known {kind}"))
}

/// The CRI `NamespaceMode` of `field`.
pub(crate) fn namespace_mode(mode: i32, field: &str) -> Result<NamespaceMode, String> {
    Ok(match known(mode, field, "NamespaceMode")? {
        cri::NamespaceMode::Pod => NamespaceMode::Pod,
        cri::NamespaceMode::Container => NamespaceMode::Container,
        cri::NamespaceMode::Node => NamespaceMode::Node,
        cri::NamespaceMode::Target => NamespaceMode::Target,
    })
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
        .enumerate()
        .map(|(i, p)| {
            let field = |name: &str| format!("port_mappings[{i}].{name}");
            let protocol = match known(p.protocol, &field("protocol"), "Protocol")? {
                cri::Protocol::Tcp => "tcp",
                cri::Protocol::Udp => "udp",
                cri::Protocol::Sctp => "sctp",
            };
            let port = |v: i32, name: &str| {
                u16::try_from(v).map_err(|_| format!("{} {v}: not a port (0..=65535)", field(name)))
            };
            Ok(PortMapping {
                protocol: protocol.to_owned(),
                container_port: port(p.container_port, "container_port")?,
                host_port: port(p.host_port, "host_port")?,
                host_ip: p.host_ip,
            })
        })
        .filter(|p: &Result<PortMapping, String>| p.as_ref().map_or(true, |p| p.host_port > 0))
        .collect::<Result<Vec<_>, String>>()?;
    let mode = |v: i32, name: &str| {
        namespace_mode(
            v,
            &format!("linux.security_context.namespace_options.{name}"),
        )
    };
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
        network: mode(options.network, "network")?,
        pid: mode(options.pid, "pid")?,
        ipc: mode(options.ipc, "ipc")?,
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

pub(crate) fn sandbox_metadata(m: &berth_store::PodMetadata) -> cri::PodSandboxMetadata {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_declares_features_per_handler() {
        let handler = |name: &str, rro| berth_domain::HandlerStatus {
            name: name.into(),
            recursive_read_only_mounts: rro,
        };
        let answer = status(RuntimeStatus {
            conditions: Vec::new(),
            handlers: vec![
                handler("", true),
                handler("crun", false),
                handler("runc", true),
            ],
            supplemental_groups_policy: true,
            info: Default::default(),
        });
        let declared: Vec<(String, bool, bool)> = answer
            .runtime_handlers
            .into_iter()
            .map(|h| {
                let f = h.features.unwrap();
                (h.name, f.recursive_read_only_mounts, f.user_namespaces)
            })
            .collect();
        assert_eq!(
            declared,
            [
                (String::new(), true, false),
                ("crun".into(), false, false),
                ("runc".into(), true, false)
            ]
        );
        assert!(answer.features.unwrap().supplemental_groups_policy);
        let recovering = status(RuntimeStatus::recovering());
        assert_eq!(recovering.runtime_handlers.len(), 1);
        assert!(recovering.features.unwrap().supplemental_groups_policy);
    }

    fn pod(f: impl FnOnce(&mut cri::PodSandboxConfig)) -> cri::RunPodSandboxRequest {
        let mut config = cri::PodSandboxConfig {
            metadata: Some(cri::PodSandboxMetadata {
                name: "p".into(),
                uid: "u".into(),
                namespace: "n".into(),
                attempt: 0,
            }),
            linux: Some(cri::LinuxPodSandboxConfig {
                security_context: Some(cri::LinuxSandboxSecurityContext {
                    namespace_options: Some(cri::NamespaceOption::default()),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        };
        f(&mut config);
        cri::RunPodSandboxRequest {
            config: Some(config),
            runtime_handler: String::new(),
        }
    }

    fn options(c: &mut cri::PodSandboxConfig) -> &mut cri::NamespaceOption {
        let sc = c.linux.as_mut().unwrap().security_context.as_mut().unwrap();
        sc.namespace_options.as_mut().unwrap()
    }

    #[test]
    fn unknown_enum_numbers_are_refused_naming_the_field() {
        type Mutate = fn(&mut cri::PodSandboxConfig);
        let cases: &[(Mutate, &str)] = &[
            (
                |c| options(c).network = 9,
                "namespace_options.network 9: not a known NamespaceMode",
            ),
            (|c| options(c).pid = -1, "namespace_options.pid -1"),
            (|c| options(c).ipc = 4, "namespace_options.ipc 4"),
            (
                |c| {
                    c.port_mappings = vec![cri::PortMapping {
                        protocol: 99,
                        container_port: 80,
                        host_port: 0,
                        host_ip: String::new(),
                    }]
                },
                "port_mappings[0].protocol 99: not a known Protocol",
            ),
            (
                |c| {
                    c.port_mappings = vec![cri::PortMapping {
                        protocol: 0,
                        container_port: 80,
                        host_port: -1,
                        host_ip: String::new(),
                    }]
                },
                "port_mappings[0].host_port -1",
            ),
        ];
        for (mutate, want) in cases {
            let err = sandbox_request(pod(mutate)).unwrap_err();
            assert!(err.contains(want), "{err}");
        }
    }

    #[test]
    fn known_enums_convert() {
        let req = sandbox_request(pod(|c| {
            options(c).network = cri::NamespaceMode::Node as i32;
            options(c).pid = cri::NamespaceMode::Container as i32;
            c.port_mappings = vec![
                cri::PortMapping {
                    protocol: cri::Protocol::Udp as i32,
                    container_port: 53,
                    host_port: 5353,
                    host_ip: String::new(),
                },
                cri::PortMapping {
                    protocol: cri::Protocol::Tcp as i32,
                    container_port: 80,
                    host_port: 0,
                    host_ip: String::new(),
                },
            ];
        }))
        .unwrap();
        assert_eq!(req.network, NamespaceMode::Node);
        assert_eq!(req.pid, NamespaceMode::Container);
        assert_eq!(req.ipc, NamespaceMode::Pod);
        assert_eq!(
            req.port_mappings.len(),
            1,
            "mappings without a host port are dropped"
        );
        assert_eq!(req.port_mappings[0].protocol, "udp");
    }
}
