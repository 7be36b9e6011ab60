//! Valid base requests and random field mutation of the CRI message types: each mutator
//! picks one field of its message (recursing into nested messages) and gives it a hostile
//! value from [`crate::values`]. The trail of touched fields labels the request.

use std::collections::HashMap;

use berth_cri_client::cri;

use crate::values::{Gen, PathKind};

/// A script that sleeps and ends at once on SIGTERM, so stops are quick.
pub const SLEEPER: &str = "trap 'exit 0' TERM; sleep 3600 & wait";

/// An image spec for `image`.
pub fn spec(image: &str) -> cri::ImageSpec {
    cri::ImageSpec {
        image: image.to_owned(),
        ..Default::default()
    }
}

impl Gen {
    /// A valid pod config, like the integration tests' (host or pod network).
    pub fn pod_config(&self, name: &str, pod_network: bool) -> cri::PodSandboxConfig {
        cri::PodSandboxConfig {
            metadata: Some(cri::PodSandboxMetadata {
                name: name.to_owned(),
                uid: format!("uid-{name}"),
                namespace: "fuzz".into(),
                attempt: 0,
            }),
            hostname: "fuzz-pod".into(),
            log_directory: self.env.logs.join(name).display().to_string(),
            labels: [("app".to_owned(), "berth-fuzz".to_owned())].into(),
            linux: Some(cri::LinuxPodSandboxConfig {
                sysctls: [("kernel.shm_rmid_forced".to_owned(), "1".to_owned())].into(),
                security_context: Some(cri::LinuxSandboxSecurityContext {
                    namespace_options: Some(cri::NamespaceOption {
                        network: if pod_network {
                            cri::NamespaceMode::Pod
                        } else {
                            cri::NamespaceMode::Node
                        } as i32,
                        pid: cri::NamespaceMode::Container as i32,
                        ..Default::default()
                    }),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    /// A valid container config running [`SLEEPER`].
    pub fn container_config(&self, name: &str) -> cri::ContainerConfig {
        cri::ContainerConfig {
            metadata: Some(cri::ContainerMetadata {
                name: name.to_owned(),
                attempt: 0,
            }),
            image: Some(spec(&self.env.image)),
            command: vec!["sh".into(), "-c".into(), SLEEPER.into()],
            log_path: format!("{name}.log"),
            labels: [("app".to_owned(), "berth-fuzz".to_owned())].into(),
            ..Default::default()
        }
    }

    /// A map of hostile keys and values (labels, annotations).
    pub fn map(&mut self) -> HashMap<String, String> {
        (0..1 + self.rng.below(3))
            .map(|_| (self.text(), self.text()))
            .collect()
    }

    /// A list of hostile strings.
    fn strings(&mut self) -> Vec<String> {
        (0..self.rng.below(4)).map(|_| self.text()).collect()
    }

    /// Mutates a pod config (one field, maybe nested).
    pub fn mutate_pod(&mut self, c: &mut cri::PodSandboxConfig) {
        match self.rng.below(10) {
            0 => {
                self.touch("metadata");
                if self.rng.chance(1, 8) {
                    c.metadata = None;
                } else {
                    let m = c.metadata.get_or_insert_with(Default::default);
                    match self.rng.below(4) {
                        0 => m.name = self.name(),
                        1 => m.uid = self.text(),
                        2 => m.namespace = self.name(),
                        _ => m.attempt = self.uint32(),
                    }
                }
            }
            1 => {
                self.touch("hostname");
                c.hostname = self.name();
            }
            2 => {
                self.touch("log_directory");
                c.log_directory = self.path(PathKind::LogDirectory);
            }
            3 => {
                self.touch("dns_config");
                let d = c.dns_config.get_or_insert_with(Default::default);
                match self.rng.below(3) {
                    0 => {
                        d.servers = vec![
                            self.rng
                                .pick(&[
                                    "8.8.8.8",
                                    "abc",
                                    "1.1.1.1\nnameserver 6.6.6.6",
                                    "",
                                    "::1",
                                    "999.0.0.1",
                                ])
                                .to_string(),
                        ]
                    }
                    1 => d.searches = vec![self.name()],
                    _ => {
                        d.options = vec![
                            self.rng
                                .pick(&["ndots:5", "ndots:abc", "\noptions x", "", "rotate"])
                                .to_string(),
                        ]
                    }
                }
            }
            4 => {
                self.touch("port_mappings");
                let p = cri::PortMapping {
                    protocol: self.enumeration(3),
                    container_port: self.int32(),
                    host_port: self.host_port(),
                    host_ip: self
                        .rng
                        .pick(&["", "127.0.0.1", "abc", "::1", "999.1.1.1", "a\0b"])
                        .to_string(),
                };
                c.port_mappings.push(p);
            }
            5 => {
                self.touch("labels");
                c.labels = self.map();
            }
            6 => {
                self.touch("annotations");
                c.annotations = self.map();
            }
            7 => {
                self.touch("windows");
                c.windows = Some(cri::WindowsPodSandboxConfig {
                    security_context: Some(cri::WindowsSandboxSecurityContext {
                        run_as_username: self.text(),
                        host_process: true,
                        ..Default::default()
                    }),
                });
            }
            _ => {
                let l = c.linux.get_or_insert_with(Default::default);
                self.mutate_linux_pod(l);
            }
        }
    }

    fn mutate_linux_pod(&mut self, l: &mut cri::LinuxPodSandboxConfig) {
        match self.rng.below(5) {
            0 => {
                self.touch("linux.cgroup_parent");
                l.cgroup_parent = self
                    .rng
                    .pick(&[
                        "".to_owned(),
                        format!("/{}", self.tag()),
                        format!("{}-rel", self.tag()),
                        format!("/../../../{}", self.tag()),
                        format!("/a\0{}", self.tag()),
                        "x".repeat(300),
                        format!("{}.slice", self.tag()),
                    ])
                    .clone();
            }
            1 => {
                self.touch("linux.sysctls");
                let (k, v) = self.sysctl();
                l.sysctls.insert(k, v);
            }
            2 => {
                self.touch("linux.resources");
                let r = l.resources.get_or_insert_with(Default::default);
                self.mutate_resources(r);
            }
            3 => {
                self.touch("linux.overhead");
                let r = l.overhead.get_or_insert_with(Default::default);
                self.mutate_resources(r);
            }
            _ => {
                let s = l.security_context.get_or_insert_with(Default::default);
                self.mutate_pod_security(s);
            }
        }
    }

    // The deprecated profile fields are fuzzed too: older kubelets still send them.
    #[allow(deprecated)]
    fn mutate_pod_security(&mut self, s: &mut cri::LinuxSandboxSecurityContext) {
        match self.rng.below(8) {
            0 => {
                let n = s.namespace_options.get_or_insert_with(Default::default);
                self.mutate_namespaces(n);
            }
            1 => {
                self.touch("security_context.run_as_user");
                s.run_as_user = Some(cri::Int64Value { value: self.int() });
            }
            2 => {
                self.touch("security_context.run_as_group");
                s.run_as_group = Some(cri::Int64Value { value: self.int() });
            }
            3 => {
                self.touch("security_context.supplemental_groups");
                s.supplemental_groups = vec![self.int()];
                s.supplemental_groups_policy = self.enumeration(2);
            }
            4 => {
                self.touch("security_context.seccomp");
                s.seccomp = Some(self.profile());
            }
            5 => {
                self.touch("security_context.seccomp_profile_path");
                s.seccomp_profile_path = self.legacy_profile();
            }
            6 => {
                self.touch("security_context.selinux_options");
                s.selinux_options = Some(cri::SeLinuxOption {
                    user: self.text(),
                    role: self.text(),
                    r#type: self.text(),
                    level: self.text(),
                });
            }
            _ => {
                self.touch("security_context.privileged");
                s.privileged = true;
            }
        }
    }

    fn mutate_namespaces(&mut self, n: &mut cri::NamespaceOption) {
        match self.rng.below(5) {
            0 => {
                self.touch("namespace_options.network");
                n.network = self.enumeration(4);
            }
            1 => {
                self.touch("namespace_options.pid");
                n.pid = self.enumeration(4);
            }
            2 => {
                self.touch("namespace_options.ipc");
                n.ipc = self.enumeration(4);
            }
            3 => {
                self.touch("namespace_options.target_id");
                n.pid = cri::NamespaceMode::Target as i32;
                n.target_id = self.id(false);
            }
            _ => {
                self.touch("namespace_options.userns_options");
                let map = |g: &mut Gen| cri::IdMapping {
                    host_id: g.uint32(),
                    container_id: g.uint32(),
                    length: g.uint32(),
                };
                n.userns_options = Some(cri::UserNamespace {
                    mode: self.enumeration(3),
                    uids: vec![map(self)],
                    gids: vec![map(self)],
                });
            }
        }
    }

    fn profile(&mut self) -> cri::SecurityProfile {
        cri::SecurityProfile {
            profile_type: self.enumeration(3),
            localhost_ref: self.path(PathKind::HostFile),
        }
    }

    fn legacy_profile(&mut self) -> String {
        match self.rng.below(5) {
            0 => "runtime/default".into(),
            1 => "unconfined".into(),
            2 => format!("localhost/{}", self.path(PathKind::HostFile)),
            3 => "localhost/".into(),
            _ => self.text(),
        }
    }

    /// Mutates container resources (one field).
    pub fn mutate_resources(&mut self, r: &mut cri::LinuxContainerResources) {
        match self.rng.below(10) {
            0 => {
                self.touch("resources.cpu_period");
                r.cpu_period = self.int();
            }
            1 => {
                self.touch("resources.cpu_quota");
                r.cpu_quota = self.int();
            }
            2 => {
                self.touch("resources.cpu_shares");
                r.cpu_shares = self.int();
            }
            3 => {
                self.touch("resources.memory_limit_in_bytes");
                r.memory_limit_in_bytes = self.int();
            }
            4 => {
                self.touch("resources.oom_score_adj");
                r.oom_score_adj = *self
                    .rng
                    .pick(&[-1001, -1000, 0, 1000, 1001, 5000, i64::MIN]);
            }
            5 => {
                self.touch("resources.cpuset_cpus");
                r.cpuset_cpus = self.cpuset();
            }
            6 => {
                self.touch("resources.cpuset_mems");
                r.cpuset_mems = self.cpuset();
            }
            7 => {
                self.touch("resources.hugepage_limits");
                r.hugepage_limits = vec![cri::HugepageLimit {
                    page_size: self
                        .rng
                        .pick(&["2MB", "1GB", "abc", "", "2MB\n"])
                        .to_string(),
                    limit: self.rng.next_u64() >> self.rng.below(64),
                }];
            }
            8 => {
                self.touch("resources.unified");
                let key = self
                    .rng
                    .pick(&[
                        "memory.max".to_owned(),
                        "cpu.weight".to_owned(),
                        format!("../../../../../../tmp/{}", self.tag()),
                        "".to_owned(),
                    ])
                    .clone();
                let value = self.text();
                r.unified.insert(key, value);
            }
            _ => {
                self.touch("resources.memory_swap_limit_in_bytes");
                r.memory_swap_limit_in_bytes = self.int();
            }
        }
    }

    /// Mutates a container config (one field, maybe nested).
    pub fn mutate_container(&mut self, c: &mut cri::ContainerConfig) {
        match self.rng.below(16) {
            0 => {
                self.touch("metadata");
                if self.rng.chance(1, 6) {
                    c.metadata = None;
                } else {
                    let m = c.metadata.get_or_insert_with(Default::default);
                    if self.rng.chance(1, 2) {
                        m.name = self.name();
                    } else {
                        m.attempt = self.uint32();
                    }
                }
            }
            1 => {
                self.touch("image");
                if self.rng.chance(1, 6) {
                    c.image = None;
                } else {
                    let image = self.image_lookup();
                    let s = c.image.get_or_insert_with(Default::default);
                    s.image = image;
                    if self.rng.chance(1, 3) {
                        s.runtime_handler = self.text();
                        s.annotations = self.map();
                    }
                }
            }
            2 => {
                self.touch("command");
                c.command = self.command();
                c.args = if self.rng.chance(1, 3) {
                    self.strings()
                } else {
                    Vec::new()
                };
            }
            3 => {
                self.touch("working_dir");
                c.working_dir = self.path(PathKind::InContainer);
            }
            4 => {
                self.touch("envs");
                c.envs = (0..1 + self.rng.below(3))
                    .map(|_| cri::KeyValue {
                        key: self.text(),
                        value: self.text(),
                    })
                    .collect();
            }
            5 | 6 => {
                self.touch("mounts");
                let m = self.mount();
                c.mounts.push(m);
            }
            7 => {
                self.touch("devices");
                c.devices.push(cri::Device {
                    container_path: self.path(PathKind::InContainer),
                    host_path: self.path(PathKind::DeviceHost),
                    permissions: self
                        .rng
                        .pick(&["rwm", "r", "xyz", "", "rwmrwm"])
                        .to_string(),
                });
            }
            8 => {
                self.touch("labels");
                c.labels = self.map();
            }
            9 => {
                self.touch("annotations");
                c.annotations = self.map();
            }
            10 => {
                self.touch("log_path");
                c.log_path = self.path(PathKind::LogPath);
            }
            11 => {
                self.touch("stdin/tty");
                c.stdin = self.rng.chance(1, 2);
                c.stdin_once = self.rng.chance(1, 2);
                c.tty = self.rng.chance(1, 2);
            }
            12 => {
                self.touch("cdi_devices");
                c.cdi_devices = vec![cri::CdiDevice { name: self.text() }];
            }
            13 => {
                self.touch("windows");
                c.windows = Some(cri::WindowsContainerConfig::default());
            }
            14 => {
                let l = c.linux.get_or_insert_with(Default::default);
                let r = l.resources.get_or_insert_with(Default::default);
                self.mutate_resources(r);
            }
            _ => {
                let l = c.linux.get_or_insert_with(Default::default);
                let s = l.security_context.get_or_insert_with(Default::default);
                self.mutate_container_security(s);
            }
        }
        // A privileged container only ever runs `true` or `sleep`.
        let privileged = c
            .linux
            .as_ref()
            .and_then(|l| l.security_context.as_ref())
            .is_some_and(|s| s.privileged);
        if privileged {
            c.command = vec!["sleep".into(), "1".into()];
            c.args.clear();
        }
    }

    fn mount(&mut self) -> cri::Mount {
        let host_path = self.path(PathKind::HostPath);
        let mut propagation = self.enumeration(3);
        // Bidirectional only for the fuzzer's own scratch dir.
        if propagation == cri::MountPropagation::PropagationBidirectional as i32
            && !host_path.starts_with(&self.env.scratch.display().to_string())
        {
            propagation = 99;
        }
        cri::Mount {
            container_path: self.path(PathKind::InContainer),
            host_path,
            readonly: self.rng.chance(1, 2),
            selinux_relabel: self.rng.chance(1, 4),
            propagation,
            recursive_read_only: self.rng.chance(1, 4),
            ..Default::default()
        }
    }

    #[allow(deprecated)]
    fn mutate_container_security(&mut self, s: &mut cri::LinuxContainerSecurityContext) {
        match self.rng.below(12) {
            0 => {
                self.touch("security_context.capabilities");
                let caps = [
                    "CAP_SYS_ADMIN",
                    "ALL",
                    "CAP_BERTHFUZZ",
                    "",
                    "NET_ADMIN",
                    "cap_chown",
                ];
                s.capabilities = Some(cri::Capability {
                    add_capabilities: vec![self.rng.pick(&caps).to_string()],
                    drop_capabilities: vec![self.rng.pick(&caps).to_string()],
                    add_ambient_capabilities: vec![self.rng.pick(&caps).to_string()],
                });
            }
            1 => {
                self.touch("security_context.privileged");
                s.privileged = true;
            }
            2 => {
                let n = s.namespace_options.get_or_insert_with(Default::default);
                self.mutate_namespaces(n);
            }
            3 => {
                self.touch("security_context.run_as_user");
                s.run_as_user = Some(cri::Int64Value { value: self.int() });
            }
            4 => {
                self.touch("security_context.run_as_username");
                s.run_as_username = self
                    .rng
                    .pick(&["root", "nobody", "berthfuzz-nouser", "a\0b", "0"])
                    .to_string();
            }
            5 => {
                self.touch("security_context.run_as_group");
                s.run_as_group = Some(cri::Int64Value { value: self.int() });
            }
            6 => {
                self.touch("security_context.supplemental_groups");
                s.supplemental_groups = vec![self.int(), self.int()];
                s.supplemental_groups_policy = self.enumeration(2);
            }
            7 => {
                self.touch("security_context.masked_paths");
                s.masked_paths = vec![self.path(PathKind::InContainer)];
                s.readonly_paths = vec![self.path(PathKind::InContainer)];
            }
            8 => {
                self.touch("security_context.seccomp");
                s.seccomp = Some(self.profile());
            }
            9 => {
                self.touch("security_context.seccomp_profile_path");
                s.seccomp_profile_path = self.legacy_profile();
            }
            10 => {
                self.touch("security_context.apparmor");
                s.apparmor = Some(self.profile());
                s.apparmor_profile = self.text();
            }
            _ => {
                self.touch("security_context.flags");
                s.readonly_rootfs = self.rng.chance(1, 2);
                s.no_new_privs = self.rng.chance(1, 2);
            }
        }
    }

    /// A valid or hostile container filter.
    pub fn container_filter(&mut self) -> Option<cri::ContainerFilter> {
        if self.rng.chance(1, 4) {
            return None;
        }
        Some(cri::ContainerFilter {
            id: if self.rng.chance(1, 2) {
                self.id(false)
            } else {
                String::new()
            },
            state: self.rng.chance(1, 2).then(|| cri::ContainerStateValue {
                state: self.enumeration(4),
            }),
            pod_sandbox_id: if self.rng.chance(1, 2) {
                self.id(true)
            } else {
                String::new()
            },
            label_selector: if self.rng.chance(1, 2) {
                self.map()
            } else {
                HashMap::new()
            },
        })
    }

    /// A valid or hostile pod filter.
    pub fn pod_filter(&mut self) -> Option<cri::PodSandboxFilter> {
        if self.rng.chance(1, 4) {
            return None;
        }
        Some(cri::PodSandboxFilter {
            id: if self.rng.chance(1, 2) {
                self.id(true)
            } else {
                String::new()
            },
            state: self.rng.chance(1, 2).then(|| cri::PodSandboxStateValue {
                state: self.enumeration(2),
            }),
            label_selector: if self.rng.chance(1, 2) {
                self.map()
            } else {
                HashMap::new()
            },
        })
    }

    /// Hostile registry credentials.
    pub fn auth(&mut self) -> Option<cri::AuthConfig> {
        self.rng.chance(1, 3).then(|| cri::AuthConfig {
            username: self.text(),
            password: self.text(),
            auth: self
                .rng
                .pick(&["!!not-base64", "dXNlcjpwYXNz", "", "Og=="])
                .to_string(),
            server_address: self.text(),
            identity_token: self.text(),
            registry_token: self.text(),
        })
    }
}
