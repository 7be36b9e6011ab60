//! Test cases: one request, what answers it may get, and how it was made. Owns the fixed
//! corpus of the cases and the random generation of a request for any RPC.

use std::time::Duration;

use berth_cri_client::cri;
use tonic::Code;

use crate::call::Call;
use crate::mutate::{SLEEPER, spec};
use crate::values::{Gen, PathKind};

/// The deadline of the "1 ms deadline" cases.
pub const TINY_DEADLINE: Duration = Duration::from_millis(1);

/// Which answers a case may get.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expect {
    /// A valid request the fuzzer relies on: must succeed.
    Valid,
    /// Hostile input: any clear answer, never Internal or Unknown.
    Hostile,
    /// One of these codes (the issue names the right answer).
    OneOf(Vec<Code>),
    /// The fuzzer's own clean-up: never Internal or Unknown.
    Cleanup,
}

/// One request to send, with its expectation.
#[derive(Debug, Clone)]
pub struct Case {
    /// The request's number in the run (it names the files the request sends).
    pub n: u64,
    /// How it was made: `corpus:<name>` or `mutate:<fields>`.
    pub label: String,
    /// The request.
    pub call: Call,
    /// Allowed answers.
    pub expect: Expect,
    /// A `grpc-timeout` for the request, if any.
    pub deadline: Option<Duration>,
}

impl Case {
    /// A short rendering of the request for reports: long runs of one character are folded.
    pub fn describe(&self) -> String {
        let text = fold_runs(&format!("{:?}", self.call));
        let limit = 600;
        if text.len() > limit {
            let cut = (0..=limit)
                .rev()
                .find(|i| text.is_char_boundary(*i))
                .unwrap_or(0);
            format!("{}…", &text[..cut])
        } else {
            text
        }
    }
}

/// Replaces runs of more than 16 equal characters with `c×N`.
pub fn fold_runs(s: &str) -> String {
    let mut out = String::with_capacity(s.len().min(4096));
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        let mut n = 1usize;
        while chars.peek() == Some(&c) {
            chars.next();
            n += 1;
        }
        if n > 16 {
            out.push_str(&format!("{c}×{n}"));
        } else {
            out.extend(std::iter::repeat_n(c, n));
        }
    }
    out
}

/// The valid objects of the current batch, for hostile calls to aim at.
#[derive(Debug, Clone, Default)]
pub struct Batch {
    /// A ready pod and the config it was made with.
    pub pod: Option<(String, cri::PodSandboxConfig)>,
    /// A running container in it.
    pub container: Option<String>,
}

impl Batch {
    fn pod_id(&self) -> String {
        self.pod.as_ref().map(|p| p.0.clone()).unwrap_or_default()
    }
}

/// Codes a request on the batch's pod may also get when a concurrent hostile call stopped or
/// removed that pod first.
const RACE: &[Code] = &[Code::NotFound, Code::FailedPrecondition];

fn invalid_or_race() -> Expect {
    let mut v = vec![Code::InvalidArgument];
    v.extend_from_slice(RACE);
    Expect::OneOf(v)
}

fn linux(p: &mut cri::PodSandboxConfig) -> &mut cri::LinuxPodSandboxConfig {
    p.linux.get_or_insert_with(Default::default)
}

fn ns(p: &mut cri::PodSandboxConfig) -> &mut cri::NamespaceOption {
    linux(p)
        .security_context
        .get_or_insert_with(Default::default)
        .namespace_options
        .get_or_insert_with(Default::default)
}

fn res(c: &mut cri::ContainerConfig) -> &mut cri::LinuxContainerResources {
    c.linux
        .get_or_insert_with(Default::default)
        .resources
        .get_or_insert_with(Default::default)
}

/// The fixed cases: each issue case, by name, and its expectation.
pub const CORPUS: &[&str] = &[
    "pod-name-empty",
    "pod-name-nul",
    "pod-name-huge",
    "hostname-300",
    "hostname-newline",
    "dns-server-newline",
    "dns-search-newline",
    "dns-option-newline",
    "log-directory-relative",
    "log-directory-nul",
    "netns-mode-9",
    "pid-mode-9",
    "ipc-mode-9",
    "port-protocol-99",
    "sysctl-ipc-on-host-ipc",
    "sysctl-net-on-host-net",
    "sysctl-unknown",
    "cgroup-parent-nul",
    "cpuset-abc",
    "cpuset-mems-abc",
    "cpu-period-2^62",
    "memory-negative",
    "working-dir-dotdot",
    "working-dir-relative",
    "working-dir-nul",
    "log-path-etc",
    "log-path-tmp",
    "log-path-root",
    "log-path-slash",
    "log-path-dotdot",
    "log-path-nul",
    "mount-host-relative",
    "mount-container-relative",
    "mount-host-nul",
    "mount-propagation-99",
    "container-namespace-9",
    "pull-port-99999",
    "pull-missing-tag",
    "pull-missing-digest",
    "pull-empty",
    "pull-huge",
    "pod-cidr-garbage",
    "status-unknown-pod",
    "status-unknown-container",
    "container-id-as-pod-id",
    "pod-id-as-container-id",
    "exec-unknown-container",
    "update-cpuset-abc",
    "update-memory-negative",
    "request-5-mib",
    "deadline-run-pod",
    "deadline-create-container",
    "deadline-stop-pod",
    "deadline-remove-pod",
    "deadline-pull",
    "dup-run-pod",
    "dup-create-container",
    "dup-stop-remove-pod",
    "dup-remove-container",
];

impl Gen {
    fn case(&self, label: String, call: Call, expect: Expect) -> Case {
        Case {
            n: self.n,
            label,
            call,
            expect,
            deadline: None,
        }
    }

    fn hostile_pod(&self, name: &str) -> cri::PodSandboxConfig {
        self.pod_config(name, false)
    }

    fn run_pod(&self, config: cri::PodSandboxConfig) -> Call {
        Call::RunPodSandbox(cri::RunPodSandboxRequest {
            config: Some(config),
            runtime_handler: String::new(),
        })
    }

    fn create_in(&self, batch: &Batch, config: cri::ContainerConfig) -> Call {
        Call::CreateContainer(cri::CreateContainerRequest {
            pod_sandbox_id: batch.pod_id(),
            config: Some(config),
            sandbox_config: batch.pod.as_ref().map(|p| p.1.clone()),
        })
    }

    /// The corpus case `name` (one of [`CORPUS`]); duplicates come back as several cases.
    pub fn corpus(&mut self, name: &str, batch: &Batch) -> Vec<Case> {
        let tag = self.tag();
        let label = format!("corpus:{name}");
        let strict = |codes: &[Code]| Expect::OneOf(codes.to_vec());
        let invalid = || strict(&[Code::InvalidArgument]);
        let pod_name = format!("h{}", self.n);
        let mut pod = self.hostile_pod(&pod_name);
        let mut ctr = self.container_config(&format!("c{}", self.n));
        ctr.command = vec!["true".into()];
        let one = |g: &Gen, call: Call, expect: Expect| vec![g.case(label.clone(), call, expect)];
        let logs = self.env.logs.display().to_string();
        let scratch = self.env.scratch.display().to_string();
        let pod_case = |g: &Gen, pod: cri::PodSandboxConfig, expect: Expect| {
            vec![g.case(label.clone(), g.run_pod(pod), expect)]
        };
        let ctr_case = |g: &Gen, ctr: cri::ContainerConfig| {
            vec![g.case(label.clone(), g.create_in(batch, ctr), invalid_or_race())]
        };
        match name {
            "pod-name-empty" => {
                pod.metadata.as_mut().unwrap().name.clear();
                pod_case(self, pod, invalid())
            }
            "pod-name-nul" => {
                pod.metadata.as_mut().unwrap().name = format!("a\0{tag}");
                pod_case(self, pod, invalid())
            }
            "pod-name-huge" => {
                pod.metadata.as_mut().unwrap().name = self.huge();
                pod_case(self, pod, Expect::Hostile)
            }
            "hostname-300" => {
                pod.hostname = "h".repeat(300);
                pod_case(self, pod, invalid())
            }
            "hostname-newline" => {
                pod.hostname = "evil\n6.6.6.6 injected".into();
                pod_case(self, pod, invalid())
            }
            "dns-server-newline" => {
                pod.dns_config = Some(cri::DnsConfig {
                    servers: vec!["1.1.1.1\nnameserver 6.6.6.6".into()],
                    ..Default::default()
                });
                pod_case(self, pod, invalid())
            }
            "dns-search-newline" => {
                pod.dns_config = Some(cri::DnsConfig {
                    searches: vec!["a.example\nnameserver 6.6.6.6".into()],
                    ..Default::default()
                });
                pod_case(self, pod, invalid())
            }
            "dns-option-newline" => {
                pod.dns_config = Some(cri::DnsConfig {
                    options: vec!["ndots:5\nnameserver 6.6.6.6".into()],
                    ..Default::default()
                });
                pod_case(self, pod, invalid())
            }
            "log-directory-relative" => {
                pod.log_directory = format!("{tag}-relative-logs");
                pod_case(self, pod, invalid())
            }
            "log-directory-nul" => {
                pod.log_directory = format!("{logs}/a\0{tag}");
                pod_case(self, pod, invalid())
            }
            "netns-mode-9" => {
                ns(&mut pod).network = 9;
                pod_case(self, pod, invalid())
            }
            "pid-mode-9" => {
                ns(&mut pod).pid = 9;
                pod_case(self, pod, invalid())
            }
            "ipc-mode-9" => {
                ns(&mut pod).ipc = 9;
                pod_case(self, pod, invalid())
            }
            "port-protocol-99" => {
                pod.port_mappings = vec![cri::PortMapping {
                    protocol: 99,
                    container_port: 80,
                    host_port: 39_999,
                    host_ip: "127.0.0.1".into(),
                }];
                pod_case(self, pod, invalid())
            }
            "sysctl-ipc-on-host-ipc" => {
                ns(&mut pod).ipc = cri::NamespaceMode::Node as i32;
                linux(&mut pod).sysctls = [(
                    "kernel.shm_rmid_forced".to_owned(),
                    self.env.shm_rmid_forced.clone(),
                )]
                .into();
                pod_case(self, pod, invalid())
            }
            "sysctl-net-on-host-net" => {
                ns(&mut pod).network = cri::NamespaceMode::Node as i32;
                linux(&mut pod).sysctls = [(
                    "net.ipv4.ip_unprivileged_port_start".to_owned(),
                    self.env.unprivileged_port_start.clone(),
                )]
                .into();
                pod_case(self, pod, invalid())
            }
            "sysctl-unknown" => {
                linux(&mut pod).sysctls = [("berthfuzz.nope".to_owned(), "1".to_owned())].into();
                pod_case(self, pod, invalid())
            }
            "cgroup-parent-nul" => {
                linux(&mut pod).cgroup_parent = format!("/a\0{tag}");
                pod_case(self, pod, invalid())
            }
            "cpuset-abc" => {
                res(&mut ctr).cpuset_cpus = "abc".into();
                ctr_case(self, ctr)
            }
            "cpuset-mems-abc" => {
                res(&mut ctr).cpuset_mems = "abc".into();
                ctr_case(self, ctr)
            }
            "cpu-period-2^62" => {
                res(&mut ctr).cpu_period = 1 << 62;
                ctr_case(self, ctr)
            }
            "memory-negative" => {
                res(&mut ctr).memory_limit_in_bytes = -4096;
                ctr_case(self, ctr)
            }
            "working-dir-dotdot" => {
                ctr.working_dir = "..".into();
                ctr_case(self, ctr)
            }
            "working-dir-relative" => {
                ctr.working_dir = format!("{tag}-relative-wd");
                ctr_case(self, ctr)
            }
            "working-dir-nul" => {
                ctr.working_dir = format!("/a\0{tag}");
                ctr_case(self, ctr)
            }
            "log-path-etc" => {
                ctr.log_path = format!("/etc/evil-{tag}.log");
                ctr_case(self, ctr)
            }
            "log-path-tmp" => {
                ctr.log_path = format!("/tmp/evil-{tag}.log");
                ctr_case(self, ctr)
            }
            "log-path-root" => {
                ctr.log_path = format!("/root/{tag}/evil.log");
                ctr_case(self, ctr)
            }
            "log-path-slash" => {
                ctr.log_path = format!("/evil-{tag}.log");
                ctr_case(self, ctr)
            }
            "log-path-dotdot" => {
                ctr.log_path = format!("../../../../../../../etc/evil-{tag}.log");
                ctr_case(self, ctr)
            }
            "log-path-nul" => {
                ctr.log_path = format!("a\0{tag}.log");
                ctr_case(self, ctr)
            }
            "mount-host-relative" => {
                ctr.mounts = vec![cri::Mount {
                    container_path: "/mnt/x".into(),
                    host_path: format!("{tag}-relative-src"),
                    ..Default::default()
                }];
                ctr_case(self, ctr)
            }
            "mount-container-relative" => {
                ctr.mounts = vec![cri::Mount {
                    container_path: format!("{tag}-relative-dst"),
                    host_path: format!("{scratch}/src"),
                    ..Default::default()
                }];
                ctr_case(self, ctr)
            }
            "mount-host-nul" => {
                ctr.mounts = vec![cri::Mount {
                    container_path: "/mnt/x".into(),
                    host_path: format!("{scratch}/a\0{tag}"),
                    ..Default::default()
                }];
                ctr_case(self, ctr)
            }
            "mount-propagation-99" => {
                ctr.mounts = vec![cri::Mount {
                    container_path: "/mnt/x".into(),
                    host_path: format!("{scratch}/src"),
                    propagation: 99,
                    ..Default::default()
                }];
                ctr_case(self, ctr)
            }
            "container-namespace-9" => {
                ctr.linux
                    .get_or_insert_with(Default::default)
                    .security_context
                    .get_or_insert_with(Default::default)
                    .namespace_options = Some(cri::NamespaceOption {
                    network: 9,
                    pid: 9,
                    ipc: 9,
                    ..Default::default()
                });
                ctr_case(self, ctr)
            }
            "pull-port-99999" => one(self, self.pull("localhost:99999/busybox:latest"), invalid()),
            "pull-missing-tag" => {
                let image = format!("{}/{tag}-missing:latest", self.env.registry);
                one(self, self.pull(&image), strict(&[Code::NotFound]))
            }
            "pull-missing-digest" => {
                let image = format!("{}/busybox@sha256:{}", self.env.registry, "0".repeat(64));
                one(self, self.pull(&image), strict(&[Code::NotFound]))
            }
            "pull-empty" => one(self, self.pull(""), Expect::Hostile),
            "pull-huge" => {
                let image = self.huge();
                one(self, self.pull(&image), Expect::Hostile)
            }
            "pod-cidr-garbage" => one(
                self,
                Call::UpdateRuntimeConfig(cri::UpdateRuntimeConfigRequest {
                    runtime_config: Some(cri::RuntimeConfig {
                        network_config: Some(cri::NetworkConfig {
                            pod_cidr: "10.0.0.0/99".into(),
                        }),
                    }),
                }),
                invalid(),
            ),
            "status-unknown-pod" => one(
                self,
                Call::PodSandboxStatus(cri::PodSandboxStatusRequest {
                    pod_sandbox_id: "f".repeat(64),
                    verbose: true,
                }),
                strict(&[Code::NotFound]),
            ),
            "status-unknown-container" => one(
                self,
                Call::ContainerStatus(cri::ContainerStatusRequest {
                    container_id: "e".repeat(64),
                    verbose: true,
                }),
                strict(&[Code::NotFound]),
            ),
            "container-id-as-pod-id" => {
                let id = batch.container.clone().unwrap_or_default();
                one(
                    self,
                    Call::PodSandboxStatus(cri::PodSandboxStatusRequest {
                        pod_sandbox_id: id,
                        verbose: false,
                    }),
                    strict(&[Code::NotFound, Code::InvalidArgument]),
                )
            }
            "pod-id-as-container-id" => one(
                self,
                Call::ContainerStatus(cri::ContainerStatusRequest {
                    container_id: batch.pod_id(),
                    verbose: false,
                }),
                strict(&[Code::NotFound, Code::InvalidArgument]),
            ),
            "exec-unknown-container" => one(
                self,
                Call::ExecSync(cri::ExecSyncRequest {
                    container_id: "d".repeat(64),
                    cmd: vec!["true".into()],
                    timeout: 5,
                }),
                strict(&[Code::NotFound]),
            ),
            "update-cpuset-abc" | "update-memory-negative" => {
                let mut r = cri::LinuxContainerResources::default();
                if name == "update-cpuset-abc" {
                    r.cpuset_cpus = "abc".into();
                } else {
                    r.memory_limit_in_bytes = -4096;
                }
                one(
                    self,
                    Call::UpdateContainerResources(cri::UpdateContainerResourcesRequest {
                        container_id: batch.container.clone().unwrap_or_default(),
                        linux: Some(r),
                        ..Default::default()
                    }),
                    invalid_or_race(),
                )
            }
            "request-5-mib" => {
                pod.annotations = [("big".to_owned(), "b".repeat(5 << 20))].into();
                pod_case(self, pod, Expect::Hostile)
            }
            "deadline-run-pod" => self.tiny(label, self.run_pod(pod)),
            "deadline-create-container" => {
                ctr.command = vec!["sh".into(), "-c".into(), SLEEPER.into()];
                let call = self.create_in(batch, ctr);
                self.tiny(label, call)
            }
            "deadline-stop-pod" => {
                let call = Call::StopPodSandbox(cri::StopPodSandboxRequest {
                    pod_sandbox_id: batch.pod_id(),
                });
                self.tiny(label, call)
            }
            "deadline-remove-pod" => {
                let call = Call::RemovePodSandbox(cri::RemovePodSandboxRequest {
                    pod_sandbox_id: batch.pod_id(),
                });
                self.tiny(label, call)
            }
            "deadline-pull" => {
                let call = self.pull(&self.env.image.clone());
                self.tiny(label, call)
            }
            "dup-run-pod" => self.dup(label, self.run_pod(pod), 3),
            "dup-create-container" => {
                ctr.command = vec!["sh".into(), "-c".into(), SLEEPER.into()];
                let call = self.create_in(batch, ctr);
                self.dup(label, call, 3)
            }
            "dup-stop-remove-pod" => {
                let id = batch.pod_id();
                let mut v = self.dup(
                    label.clone(),
                    Call::StopPodSandbox(cri::StopPodSandboxRequest {
                        pod_sandbox_id: id.clone(),
                    }),
                    2,
                );
                v.extend(self.dup(
                    label,
                    Call::RemovePodSandbox(cri::RemovePodSandboxRequest { pod_sandbox_id: id }),
                    2,
                ));
                v
            }
            "dup-remove-container" => self.dup(
                label,
                Call::RemoveContainer(cri::RemoveContainerRequest {
                    container_id: batch.container.clone().unwrap_or_default(),
                }),
                3,
            ),
            other => panic!("unknown corpus case {other}"),
        }
    }

    fn pull(&self, image: &str) -> Call {
        Call::PullImage(cri::PullImageRequest {
            image: Some(spec(image)),
            ..Default::default()
        })
    }

    fn tiny(&self, label: String, call: Call) -> Vec<Case> {
        let mut c = self.case(label, call, Expect::Hostile);
        c.deadline = Some(TINY_DEADLINE);
        vec![c]
    }

    fn dup(&self, label: String, call: Call, copies: usize) -> Vec<Case> {
        (0..copies)
            .map(|_| self.case(label.clone(), call.clone(), Expect::Hostile))
            .collect()
    }

    /// A random request for a random RPC: a base request with one to three fields mutated.
    /// Sometimes with a 1 ms deadline, sometimes sent several times at once.
    pub fn random(&mut self, batch: &Batch) -> Vec<Case> {
        self.trail.clear();
        // (RPC, weight): the calls with the most input get the most requests.
        const WEIGHTS: &[(&str, usize)] = &[
            ("Version", 1),
            ("RunPodSandbox", 10),
            ("StopPodSandbox", 3),
            ("RemovePodSandbox", 3),
            ("PodSandboxStatus", 3),
            ("ListPodSandbox", 2),
            ("CreateContainer", 14),
            ("StartContainer", 4),
            ("StopContainer", 3),
            ("RemoveContainer", 3),
            ("ListContainers", 2),
            ("ContainerStatus", 3),
            ("UpdateContainerResources", 5),
            ("ReopenContainerLog", 2),
            ("ExecSync", 4),
            ("Exec", 1),
            ("Attach", 1),
            ("PortForward", 1),
            ("ContainerStats", 1),
            ("ListContainerStats", 1),
            ("PodSandboxStats", 1),
            ("ListPodSandboxStats", 1),
            ("UpdateRuntimeConfig", 2),
            ("Status", 1),
            ("CheckpointContainer", 1),
            ("GetContainerEvents", 1),
            ("ListMetricDescriptors", 1),
            ("ListPodSandboxMetrics", 1),
            ("RuntimeConfig", 1),
            ("ListImages", 1),
            ("ImageStatus", 2),
            ("PullImage", 4),
            ("RemoveImage", 2),
            ("ImageFsInfo", 1),
        ];
        let total: usize = WEIGHTS.iter().map(|w| w.1).sum();
        let mut at = self.rng.below(total);
        let rpc = WEIGHTS
            .iter()
            .find(|(_, w)| {
                if at < *w {
                    true
                } else {
                    at -= w;
                    false
                }
            })
            .map(|w| w.0)
            .unwrap_or("Version");
        let call = self.build(rpc, batch);
        let mut case = self.case(
            format!("mutate:{rpc}[{}]", self.trail.join(",")),
            call,
            Expect::Hostile,
        );
        if self.rng.chance(1, 12) {
            case.deadline = Some(TINY_DEADLINE);
            case.label.push_str("+1ms");
        }
        if self.rng.chance(1, 20) {
            case.label.push_str("+dup");
            let copies = 2 + self.rng.below(3);
            return vec![case; copies];
        }
        vec![case]
    }

    fn mutations(&mut self) -> usize {
        1 + self.rng.below(3)
    }

    fn build(&mut self, rpc: &str, batch: &Batch) -> Call {
        let verbose = self.rng.chance(1, 2);
        match rpc {
            "Version" => Call::Version(cri::VersionRequest {
                version: self.text(),
            }),
            "RunPodSandbox" => {
                let network = self.env.pod_network && self.rng.chance(1, 2);
                let mut config = self.pod_config(&format!("h{}", self.n), network);
                for _ in 0..self.mutations() {
                    self.mutate_pod(&mut config);
                }
                let runtime_handler = match self.rng.below(6) {
                    0 => "runc".into(),
                    1 => "bogus".into(),
                    2 => self.text(),
                    _ => String::new(),
                };
                Call::RunPodSandbox(cri::RunPodSandboxRequest {
                    config: Some(config),
                    runtime_handler,
                })
            }
            "StopPodSandbox" => Call::StopPodSandbox(cri::StopPodSandboxRequest {
                pod_sandbox_id: self.id(true),
            }),
            "RemovePodSandbox" => Call::RemovePodSandbox(cri::RemovePodSandboxRequest {
                pod_sandbox_id: self.id(true),
            }),
            "PodSandboxStatus" => Call::PodSandboxStatus(cri::PodSandboxStatusRequest {
                pod_sandbox_id: self.id(true),
                verbose,
            }),
            "ListPodSandbox" => Call::ListPodSandbox(cri::ListPodSandboxRequest {
                filter: self.pod_filter(),
            }),
            "CreateContainer" => {
                let mut config = self.container_config(&format!("c{}", self.n));
                config.command = self.command();
                for _ in 0..self.mutations() {
                    self.mutate_container(&mut config);
                }
                let (pod_sandbox_id, sandbox_config) = match (self.rng.below(8), &batch.pod) {
                    (0, _) => (self.id(true), None),
                    (1, Some(p)) => {
                        let mut s = p.1.clone();
                        self.mutate_pod(&mut s);
                        (p.0.clone(), Some(s))
                    }
                    (_, Some(p)) => (p.0.clone(), Some(p.1.clone())),
                    (_, None) => (self.id(true), None),
                };
                Call::CreateContainer(cri::CreateContainerRequest {
                    pod_sandbox_id,
                    config: Some(config),
                    sandbox_config,
                })
            }
            "StartContainer" => Call::StartContainer(cri::StartContainerRequest {
                container_id: self.id(false),
            }),
            "StopContainer" => Call::StopContainer(cri::StopContainerRequest {
                container_id: self.id(false),
                timeout: self.timeout(),
            }),
            "RemoveContainer" => Call::RemoveContainer(cri::RemoveContainerRequest {
                container_id: self.id(false),
            }),
            "ListContainers" => Call::ListContainers(cri::ListContainersRequest {
                filter: self.container_filter(),
            }),
            "ContainerStatus" => Call::ContainerStatus(cri::ContainerStatusRequest {
                container_id: self.id(false),
                verbose,
            }),
            "UpdateContainerResources" => {
                let linux = self.rng.chance(4, 5).then(|| {
                    let mut r = cri::LinuxContainerResources::default();
                    for _ in 0..self.mutations() {
                        self.mutate_resources(&mut r);
                    }
                    r
                });
                Call::UpdateContainerResources(cri::UpdateContainerResourcesRequest {
                    container_id: self.id(false),
                    linux,
                    windows: self
                        .rng
                        .chance(1, 8)
                        .then(cri::WindowsContainerResources::default),
                    annotations: if self.rng.chance(1, 4) {
                        self.map()
                    } else {
                        Default::default()
                    },
                })
            }
            "ReopenContainerLog" => Call::ReopenContainerLog(cri::ReopenContainerLogRequest {
                container_id: self.id(false),
            }),
            "ExecSync" => Call::ExecSync(cri::ExecSyncRequest {
                container_id: self.id(false),
                cmd: self.command(),
                timeout: *self.rng.pick(&[0, 1, 2, 5, -1, i64::MIN, i64::MAX]),
            }),
            "Exec" => Call::Exec(cri::ExecRequest {
                container_id: self.id(false),
                cmd: self.command(),
                tty: self.rng.chance(1, 2),
                stdin: self.rng.chance(1, 2),
                stdout: self.rng.chance(1, 2),
                stderr: self.rng.chance(1, 2),
            }),
            "Attach" => Call::Attach(cri::AttachRequest {
                container_id: self.id(false),
                stdin: self.rng.chance(1, 2),
                tty: self.rng.chance(1, 2),
                stdout: self.rng.chance(1, 2),
                stderr: self.rng.chance(1, 2),
            }),
            "PortForward" => Call::PortForward(cri::PortForwardRequest {
                pod_sandbox_id: self.id(true),
                port: vec![self.int32()],
            }),
            "ContainerStats" => Call::ContainerStats(cri::ContainerStatsRequest {
                container_id: self.id(false),
            }),
            "ListContainerStats" => {
                let filter = self.container_filter().map(|f| cri::ContainerStatsFilter {
                    id: f.id,
                    pod_sandbox_id: f.pod_sandbox_id,
                    label_selector: f.label_selector,
                });
                Call::ListContainerStats(cri::ListContainerStatsRequest { filter })
            }
            "PodSandboxStats" => Call::PodSandboxStats(cri::PodSandboxStatsRequest {
                pod_sandbox_id: self.id(true),
            }),
            "ListPodSandboxStats" => {
                let filter = self.pod_filter().map(|f| cri::PodSandboxStatsFilter {
                    id: f.id,
                    label_selector: f.label_selector,
                });
                Call::ListPodSandboxStats(cri::ListPodSandboxStatsRequest { filter })
            }
            "UpdateRuntimeConfig" => {
                let pod_cidr = match self.rng.below(8) {
                    0 => "10.0.0.0/24".into(),
                    1 => "abc".into(),
                    2 => "10.0.0.0/99".into(),
                    3 => "fd00::/64".into(),
                    4 => "10.0.0.0/24,fd00::/64,1.2.3.4/5".into(),
                    5 => String::new(),
                    _ => self.text(),
                };
                Call::UpdateRuntimeConfig(cri::UpdateRuntimeConfigRequest {
                    runtime_config: self.rng.chance(7, 8).then_some(cri::RuntimeConfig {
                        network_config: Some(cri::NetworkConfig { pod_cidr }),
                    }),
                })
            }
            "Status" => Call::Status(cri::StatusRequest { verbose }),
            "CheckpointContainer" => Call::CheckpointContainer(cri::CheckpointContainerRequest {
                container_id: self.id(false),
                location: self.path(PathKind::HostFile),
                timeout: self.timeout(),
            }),
            "GetContainerEvents" => Call::GetContainerEvents(cri::GetEventsRequest {}),
            "ListMetricDescriptors" => {
                Call::ListMetricDescriptors(cri::ListMetricDescriptorsRequest {})
            }
            "ListPodSandboxMetrics" => {
                Call::ListPodSandboxMetrics(cri::ListPodSandboxMetricsRequest {})
            }
            "RuntimeConfig" => Call::RuntimeConfig(cri::RuntimeConfigRequest {}),
            "ListImages" => {
                let filter = self.rng.chance(1, 2).then(|| cri::ImageFilter {
                    image: Some(spec(&self.image_lookup())),
                });
                Call::ListImages(cri::ListImagesRequest { filter })
            }
            "ImageStatus" => Call::ImageStatus(cri::ImageStatusRequest {
                image: self.rng.chance(7, 8).then(|| spec(&self.image_lookup())),
                verbose,
            }),
            "PullImage" => {
                let image = self.image();
                let sandbox_config = self.rng.chance(1, 4).then(|| {
                    let mut c = self.pod_config(&format!("p{}", self.n), false);
                    self.mutate_pod(&mut c);
                    c
                });
                Call::PullImage(cri::PullImageRequest {
                    image: Some(spec(&image)),
                    auth: self.auth(),
                    sandbox_config,
                })
            }
            "RemoveImage" => Call::RemoveImage(cri::RemoveImageRequest {
                image: self.rng.chance(7, 8).then(|| spec(&self.image_lookup())),
            }),
            _ => Call::ImageFsInfo(cri::ImageFsInfoRequest {}),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::values::Env;

    fn gen_() -> Gen {
        Gen::new(
            42,
            Env {
                image: "127.0.0.1:5000/busybox:latest".into(),
                registry: "127.0.0.1:5000".into(),
                logs: "/w/logs".into(),
                scratch: "/w/scratch".into(),
                pod_network: true,
                shm_rmid_forced: "0".into(),
                unprivileged_port_start: "1024".into(),
            },
        )
    }

    #[test]
    fn folds_long_runs() {
        assert_eq!(fold_runs("abbbc"), "abbbc");
        assert_eq!(fold_runs(&"x".repeat(100)), "x×100");
    }

    #[test]
    fn every_corpus_case_builds() {
        let mut g = gen_();
        let batch = Batch {
            pod: Some(("p".repeat(64), g.pod_config("v", false))),
            container: Some("c".repeat(64)),
        };
        for name in CORPUS {
            assert!(!g.corpus(name, &batch).is_empty(), "{name}");
        }
    }

    #[test]
    fn random_requests_reach_every_rpc_and_stay_safe() {
        let mut g = gen_();
        let batch = Batch::default();
        let mut seen = std::collections::BTreeSet::new();
        for n in 0..5000 {
            g.n = n;
            for case in g.random(&batch) {
                seen.insert(case.call.rpc());
                if let Call::CreateContainer(r) = &case.call {
                    let c = r.config.as_ref().unwrap();
                    for m in &c.mounts {
                        // Never a real host dir: under scratch, or not absolute.
                        assert!(
                            m.host_path.starts_with("/w/scratch") || !m.host_path.starts_with('/'),
                            "{m:?}"
                        );
                    }
                    let privileged = c
                        .linux
                        .as_ref()
                        .and_then(|l| l.security_context.as_ref())
                        .is_some_and(|s| s.privileged);
                    if privileged {
                        assert_eq!(c.command, ["sleep", "1"]);
                    }
                }
                if let Call::PullImage(r) = &case.call {
                    let image = &r.image.as_ref().unwrap().image;
                    assert!(
                        image.is_empty()
                            || image.starts_with("127.0.0.1:5000/")
                            || image.starts_with("localhost:"),
                        "pull of {image:?} could reach the internet"
                    );
                }
            }
        }
        assert_eq!(seen.len(), crate::call::RPCS.len(), "{seen:?}");
    }
}
