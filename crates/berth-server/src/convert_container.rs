//! Container requests and answers between CRI types and the domain's.

use berth_domain::container::{
    ContainerRequest, ContainerStatus, DeviceRequest, GroupsPolicy, MountRequest, Propagation,
    SeccompProfile, SecurityRequest, UserRequest, seccomp,
};
use berth_store::ResourcesRecord;
use k8s_cri::v1 as cri;

use crate::convert::{container_state, known, namespace_mode};

/// A `CreateContainerRequest` as the domain's request. The deprecated string forms of the
/// seccomp and AppArmor profiles are still honoured when the structured ones are absent.
#[allow(deprecated)]
pub(crate) fn container_request(
    req: cri::CreateContainerRequest,
) -> Result<ContainerRequest, String> {
    let config = req.config.ok_or("a ContainerConfig is required")?;
    let metadata = config
        .metadata
        .ok_or("ContainerConfig.metadata is required")?;
    let linux = config.linux.unwrap_or_default();
    let sc = linux.security_context.unwrap_or_default();
    let caps = sc.capabilities.unwrap_or_default();
    let non_negative =
        |v: i64, what: &str| u32::try_from(v).map_err(|_| format!("{what} {v} is not a valid ID"));
    let user = UserRequest {
        uid: sc
            .run_as_user
            .map(|u| non_negative(u.value, "run_as_user"))
            .transpose()?,
        username: Some(sc.run_as_username).filter(|s| !s.is_empty()),
        gid: sc
            .run_as_group
            .map(|g| non_negative(g.value, "run_as_group"))
            .transpose()?,
        supplemental: sc
            .supplemental_groups
            .iter()
            .map(|g| non_negative(*g, "supplemental group"))
            .collect::<Result<_, _>>()?,
        groups_policy: match known(
            sc.supplemental_groups_policy,
            "linux.security_context.supplemental_groups_policy",
            "SupplementalGroupsPolicy",
        )? {
            cri::SupplementalGroupsPolicy::Merge => GroupsPolicy::Merge,
            cri::SupplementalGroupsPolicy::Strict => GroupsPolicy::Strict,
        },
    };
    let seccomp = match sc.seccomp {
        Some(p) => match known(
            p.profile_type,
            "linux.security_context.seccomp.profile_type",
            "ProfileType",
        )? {
            cri::security_profile::ProfileType::RuntimeDefault => SeccompProfile::RuntimeDefault,
            cri::security_profile::ProfileType::Unconfined => SeccompProfile::Unconfined,
            cri::security_profile::ProfileType::Localhost => {
                seccomp::parse_profile_path(&format!("localhost/{}", p.localhost_ref))?
            }
        },
        None => seccomp::parse_profile_path(&sc.seccomp_profile_path)?,
    };
    let apparmor = match sc.apparmor {
        Some(p) => match known(
            p.profile_type,
            "linux.security_context.apparmor.profile_type",
            "ProfileType",
        )? {
            cri::security_profile::ProfileType::Unconfined => None,
            _ if p.localhost_ref.is_empty() => Some("runtime/default".to_owned()),
            _ => Some(p.localhost_ref),
        },
        None => Some(sc.apparmor_profile).filter(|p| !p.is_empty() && p != "unconfined"),
    };
    let options = sc.namespace_options.unwrap_or_default();
    // Network and IPC are the pod's, but an unknown number is still a malformed request.
    for (value, name) in [(options.network, "network"), (options.ipc, "ipc")] {
        namespace_mode(
            value,
            &format!("linux.security_context.namespace_options.{name}"),
        )?;
    }
    let mounts = config
        .mounts
        .into_iter()
        .enumerate()
        .map(|(i, m)| {
            let field = format!("mounts[{i}].propagation");
            Ok(MountRequest {
                propagation: match known(m.propagation, &field, "MountPropagation")? {
                    cri::MountPropagation::PropagationPrivate => Propagation::Private,
                    cri::MountPropagation::PropagationHostToContainer => {
                        Propagation::HostToContainer
                    }
                    cri::MountPropagation::PropagationBidirectional => Propagation::Bidirectional,
                },
                container_path: m.container_path,
                host_path: m.host_path,
                readonly: m.readonly,
                recursive_read_only: m.recursive_read_only,
            })
        })
        .collect::<Result<Vec<_>, String>>()?;
    Ok(ContainerRequest {
        sandbox_id: req.pod_sandbox_id,
        name: metadata.name,
        attempt: metadata.attempt,
        image: config.image.map(|i| i.image).unwrap_or_default(),
        command: config.command,
        args: config.args,
        working_dir: config.working_dir,
        envs: config
            .envs
            .into_iter()
            .map(|kv| (kv.key, kv.value))
            .collect(),
        mounts,
        devices: config
            .devices
            .into_iter()
            .map(|d| DeviceRequest {
                container_path: d.container_path,
                host_path: d.host_path,
                permissions: d.permissions,
            })
            .collect(),
        labels: config.labels.into_iter().collect(),
        annotations: config.annotations.into_iter().collect(),
        log_path: config.log_path,
        tty: config.tty,
        stdin: config.stdin,
        stdin_once: config.stdin_once,
        resources: resources(linux.resources.unwrap_or_default()),
        security: SecurityRequest {
            privileged: sc.privileged,
            add_capabilities: caps.add_capabilities,
            drop_capabilities: caps.drop_capabilities,
            readonly_rootfs: sc.readonly_rootfs,
            no_new_privs: sc.no_new_privs,
            masked_paths: sc.masked_paths,
            readonly_paths: sc.readonly_paths,
            user,
            pid: namespace_mode(options.pid, "linux.security_context.namespace_options.pid")?,
            pid_target: options.target_id,
            seccomp: Some(seccomp),
            apparmor,
            selinux: sc.selinux_options.is_some_and(|o| {
                !(o.user.is_empty()
                    && o.role.is_empty()
                    && o.r#type.is_empty()
                    && o.level.is_empty())
            }),
        },
        // Sysctls are the pod's (set on its namespaces when the sandbox runs).
        sysctls: Default::default(),
    })
}

/// CRI resources as the record's.
pub(crate) fn resources(r: cri::LinuxContainerResources) -> ResourcesRecord {
    ResourcesRecord {
        cpu_period: r.cpu_period,
        cpu_quota: r.cpu_quota,
        cpu_shares: r.cpu_shares,
        memory_limit_in_bytes: r.memory_limit_in_bytes,
        oom_score_adj: r.oom_score_adj,
        cpuset_cpus: r.cpuset_cpus,
        cpuset_mems: r.cpuset_mems,
        hugepage_limits: r
            .hugepage_limits
            .into_iter()
            .map(|h| (h.page_size, h.limit))
            .collect(),
        memory_swap_limit_in_bytes: r.memory_swap_limit_in_bytes,
        unified: r.unified.into_iter().collect(),
    }
}

fn cri_resources(r: &ResourcesRecord) -> cri::LinuxContainerResources {
    cri::LinuxContainerResources {
        cpu_period: r.cpu_period,
        cpu_quota: r.cpu_quota,
        cpu_shares: r.cpu_shares,
        memory_limit_in_bytes: r.memory_limit_in_bytes,
        oom_score_adj: r.oom_score_adj,
        cpuset_cpus: r.cpuset_cpus.clone(),
        cpuset_mems: r.cpuset_mems.clone(),
        hugepage_limits: r
            .hugepage_limits
            .iter()
            .map(|(size, limit)| cri::HugepageLimit {
                page_size: size.clone(),
                limit: *limit,
            })
            .collect(),
        memory_swap_limit_in_bytes: r.memory_swap_limit_in_bytes,
        unified: r.unified.clone().into_iter().collect(),
    }
}

/// The domain's status as the CRI answer.
pub(crate) fn container_status(status: ContainerStatus) -> cri::ContainerStatusResponse {
    let c = status.record;
    let mounts = c
        .spec
        .mounts
        .iter()
        .map(|m| cri::Mount {
            container_path: m.container_path.clone(),
            host_path: m.host_path.clone(),
            readonly: m.readonly,
            recursive_read_only: m.recursive_read_only,
            propagation: match m.propagation.parse().unwrap_or_default() {
                Propagation::Private => cri::MountPropagation::PropagationPrivate,
                Propagation::HostToContainer => cri::MountPropagation::PropagationHostToContainer,
                Propagation::Bidirectional => cri::MountPropagation::PropagationBidirectional,
            } as i32,
            ..Default::default()
        })
        .collect();
    let info = status
        .info
        .map(|v| [("info".to_owned(), v.to_string())].into_iter().collect())
        .unwrap_or_default();
    cri::ContainerStatusResponse {
        status: Some(cri::ContainerStatus {
            id: c.id,
            metadata: Some(cri::ContainerMetadata {
                name: c.metadata.name,
                attempt: c.metadata.attempt,
            }),
            state: container_state(c.state) as i32,
            created_at: c.created_at_ns,
            started_at: c.started_at_ns,
            finished_at: c.finished_at_ns,
            exit_code: c.exit_code,
            image: Some(cri::ImageSpec {
                image: c.image,
                ..Default::default()
            }),
            image_ref: c.image_ref.clone(),
            reason: c.reason,
            message: c.message,
            labels: c.labels.into_iter().collect(),
            annotations: c.annotations.into_iter().collect(),
            mounts,
            log_path: c.log_path,
            resources: Some(cri::ContainerResources {
                linux: Some(cri_resources(&c.spec.resources)),
                windows: None,
            }),
            image_id: c.image_ref,
            user: c.spec.user.map(|u| cri::ContainerUser {
                linux: Some(cri::LinuxContainerUser {
                    uid: u.uid.into(),
                    gid: u.gid.into(),
                    supplemental_groups: u.supplemental_groups.into_iter().map(i64::from).collect(),
                }),
            }),
        }),
        info,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(f: impl FnOnce(&mut cri::ContainerConfig)) -> cri::CreateContainerRequest {
        let mut config = cri::ContainerConfig {
            metadata: Some(cri::ContainerMetadata {
                name: "c".into(),
                attempt: 0,
            }),
            ..Default::default()
        };
        f(&mut config);
        cri::CreateContainerRequest {
            pod_sandbox_id: "p".into(),
            config: Some(config),
            sandbox_config: None,
        }
    }

    fn security(c: &mut cri::ContainerConfig) -> &mut cri::LinuxContainerSecurityContext {
        c.linux
            .get_or_insert_with(Default::default)
            .security_context
            .get_or_insert_with(Default::default)
    }

    #[test]
    fn unknown_enum_numbers_are_refused_naming_the_field() {
        type Mutate = fn(&mut cri::ContainerConfig);
        let cases: &[(Mutate, &str)] = &[
            (
                |c| {
                    c.mounts = vec![cri::Mount {
                        container_path: "/a".into(),
                        host_path: "/b".into(),
                        propagation: 99,
                        ..Default::default()
                    }]
                },
                "mounts[0].propagation 99: not a known MountPropagation",
            ),
            (
                |c| {
                    security(c).namespace_options = Some(cri::NamespaceOption {
                        pid: 9,
                        ..Default::default()
                    })
                },
                "namespace_options.pid 9",
            ),
            (
                |c| {
                    security(c).namespace_options = Some(cri::NamespaceOption {
                        network: 9,
                        ..Default::default()
                    })
                },
                "namespace_options.network 9",
            ),
            (
                |c| {
                    security(c).seccomp = Some(cri::SecurityProfile {
                        profile_type: 7,
                        localhost_ref: String::new(),
                    })
                },
                "seccomp.profile_type 7",
            ),
            (
                |c| {
                    security(c).apparmor = Some(cri::SecurityProfile {
                        profile_type: 7,
                        localhost_ref: String::new(),
                    })
                },
                "apparmor.profile_type 7",
            ),
            (
                |c| security(c).supplemental_groups_policy = 2,
                "supplemental_groups_policy 2: not a known SupplementalGroupsPolicy",
            ),
        ];
        for (mutate, want) in cases {
            let err = container_request(request(mutate)).unwrap_err();
            assert!(err.contains(want), "{err}");
        }
    }

    #[test]
    fn known_enums_convert() {
        let req = container_request(request(|c| {
            c.mounts = vec![cri::Mount {
                container_path: "/a".into(),
                host_path: "/b".into(),
                propagation: cri::MountPropagation::PropagationBidirectional as i32,
                ..Default::default()
            }];
            security(c).apparmor = Some(cri::SecurityProfile {
                profile_type: cri::security_profile::ProfileType::Unconfined as i32,
                localhost_ref: String::new(),
            });
        }))
        .unwrap();
        assert_eq!(req.mounts[0].propagation, Propagation::Bidirectional);
        assert_eq!(req.security.apparmor, None);
        assert_eq!(req.security.user.groups_policy, GroupsPolicy::Merge);
        let req = container_request(request(|c| {
            c.mounts = vec![cri::Mount {
                container_path: "/a".into(),
                host_path: "/b".into(),
                readonly: true,
                recursive_read_only: true,
                ..Default::default()
            }];
            security(c).supplemental_groups_policy = cri::SupplementalGroupsPolicy::Strict as i32;
        }))
        .unwrap();
        assert!(req.mounts[0].recursive_read_only && req.mounts[0].readonly);
        assert_eq!(req.security.user.groups_policy, GroupsPolicy::Strict);
    }
}
