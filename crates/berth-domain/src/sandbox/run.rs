//! `RunPodSandbox`: reserve the name, record the intent, build namespaces, network, files
//! and the infra process, record the result. Any failure tears down what was built (the
//! same idempotent teardown Stop uses), forgets the record, releases the name, and reports
//! the first cause.

use std::path::PathBuf;

use berth_cni::{Attachment, PodArgs, netns};
use berth_config::{InfraMode, PodFile};
use berth_store::{PodMetadata, SandboxNetwork, SandboxRecord, SandboxState, sandbox_name};

use super::spec::InfraSpec;
use super::{InfraRef, NamespaceMode, SandboxRequest, SandboxService, blocking, files, namespaces};
use crate::events::LifecycleKind;
use crate::shared::limits::clamp_oom_score_adj;
use crate::shared::{cgroup, new_id};
use crate::validate::sysctl::HostNamespaces;
use crate::{Cause, Error, validate};

/// Size of a pod's `/dev/shm`, as the kubelet's default.
const SHM_BYTES: u64 = 64 * 1024 * 1024;
/// The oom_score_adj the kubelet asks for infra processes.
const INFRA_OOM_SCORE_ADJ: i64 = -998;

impl SandboxService {
    /// Runs a pod sandbox and returns its ID. Every field is checked before anything is
    /// reserved or made.
    pub async fn run(&self, req: SandboxRequest) -> Result<String, Error> {
        for (field, value) in [
            ("metadata.name", &req.name),
            ("metadata.namespace", &req.namespace),
            ("metadata.uid", &req.uid),
        ] {
            if value.is_empty() {
                return Err(Error::InvalidRequest(format!(
                    "PodSandboxConfig {field} is required"
                )));
            }
        }
        let handler = self.context.handler_name(&req.runtime_handler);
        validate::sandbox(&req, self.context.cgroup_driver)?;
        self.context.handler(&handler)?;
        let host = HostNamespaces {
            network: req.network == NamespaceMode::Node,
            ipc: req.ipc == NamespaceMode::Node,
        };
        let id = new_id()?;
        let metadata = PodMetadata {
            name: req.name.clone(),
            uid: req.uid.clone(),
            namespace: req.namespace.clone(),
            attempt: req.attempt,
        };
        {
            let mut indexes = self.context.indexes.lock().expect("indexes");
            indexes.names.reserve(&sandbox_name(&metadata), &id)?;
            indexes.sandboxes.insert(id.clone());
        }
        let lock = self.lock(&id);
        let _guard = lock.lock().await;
        let mut record = SandboxRecord {
            id: id.clone(),
            metadata,
            state: SandboxState::Creating,
            created_at_ns: crate::clock::now_ns(),
            runtime_handler: handler.clone(),
            labels: req.labels.clone(),
            annotations: req.annotations.clone(),
            network: SandboxNetwork {
                hostname: req.hostname.clone(),
                host_network: host.network,
                host_ipc: host.ipc,
                pid_mode: if req.pid == NamespaceMode::Node {
                    "node"
                } else {
                    "pod"
                }
                .to_owned(),
                pinned_namespaces: !self.needs_infra(&req),
                cgroup_parent: req.cgroup_parent.clone(),
                log_directory: req.log_directory.clone(),
                port_mappings: req
                    .port_mappings
                    .iter()
                    .map(|p| {
                        (
                            p.host_port,
                            p.container_port,
                            p.protocol.clone(),
                            p.host_ip.clone(),
                        )
                    })
                    .collect(),
                ..Default::default()
            },
        };
        let built = match self.save(&record).await {
            Ok(()) => self.build(&mut record, &req).await,
            Err(e) => Err(e),
        };
        match built {
            Ok(()) => {
                record.state = SandboxState::Ready;
                match self.save(&record).await {
                    Ok(()) => {
                        tracing::info!(pod_id = %id, pod = %req.name, namespace = %req.namespace, ip = ?record.network.ips, "sandbox ready");
                        self.context.events.pod(&id, LifecycleKind::Created);
                        self.context.events.pod(&id, LifecycleKind::Started);
                        Ok(id)
                    }
                    Err(e) => Err(self.roll_back(record, e).await),
                }
            }
            Err(e) => Err(self.roll_back(record, e).await),
        }
    }

    /// Undoes a failed run and returns the first cause.
    async fn roll_back(&self, record: SandboxRecord, cause: Error) -> Error {
        tracing::warn!(pod_id = %record.id, error = %cause, "RunPodSandbox failed; undoing");
        if let Err(e) = self.teardown(&record).await {
            tracing::warn!(pod_id = %record.id, error = %e, "undo was incomplete");
        }
        if let Err(e) = self.forget(&record).await {
            tracing::warn!(pod_id = %record.id, error = %e, "cannot forget the failed sandbox");
        }
        cause
    }

    async fn build(&self, record: &mut SandboxRecord, req: &SandboxRequest) -> Result<(), Error> {
        let id = record.id.clone();
        let layout = self.context.layout.clone();
        let step = |step: &'static str| {
            let id = id.clone();
            move |cause: Cause| Error::sandbox(&id, step, cause)
        };
        std::fs::create_dir_all(self.dir(&id))
            .map_err(|e| step("create its directory")(e.into()))?;
        if !req.log_directory.is_empty() {
            std::fs::create_dir_all(&req.log_directory)
                .map_err(|e| step("create the log directory")(e.into()))?;
        }
        // Files the containers will mount.
        let node_hostname =
            std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
        let hostname = if req.hostname.is_empty() {
            node_hostname.trim().to_owned()
        } else {
            req.hostname.clone()
        };
        record.network.hostname = hostname.clone();
        let host_resolv = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
        let write = |file: PodFile, text: String| {
            let path = layout.sandbox_file(&id, file);
            std::fs::write(&path, text)
                .map_err(|e| step("write pod files")(format!("{}: {e}", path.display()).into()))
        };
        write(
            PodFile::Hostname,
            files::hostname(&hostname, &node_hostname),
        )?;
        write(
            PodFile::ResolvConf,
            files::resolv_conf(&req.dns, &host_resolv),
        )?;
        let shm = if record.network.host_ipc {
            None
        } else {
            let shm = layout.sandbox_shm(&id);
            std::fs::create_dir_all(&shm).map_err(|e| step("create /dev/shm")(e.into()))?;
            rustix::mount::mount(
                "shm",
                &shm,
                "tmpfs",
                rustix::mount::MountFlags::NOSUID
                    | rustix::mount::MountFlags::NODEV
                    | rustix::mount::MountFlags::NOEXEC,
                Some(c"mode=1777,size=67108864"),
            )
            .map_err(|e| step("mount /dev/shm")(format!("{e} ({SHM_BYTES} bytes)").into()))?;
            Some(shm)
        };
        // Network: the namespace is pinned and recorded (so teardown finds it) before any
        // plugin runs.
        let netns_path = layout.sandbox_netns(&id);
        let network = if record.network.host_network {
            None
        } else {
            let list = self
                .network_config()
                .map_err(|e| step("load the CNI configuration")(e.into()))?;
            let (pin, pod) = (netns_path.clone(), id.clone());
            blocking("creating a netns", move || {
                netns::create_pinned(&pin)
                    .map_err(|e| Error::sandbox(&pod, "create the network namespace", e))
            })
            .await?;
            record.network.netns = netns_path.display().to_string();
            record.network.cni_network = list.name.clone();
            self.save(record).await?;
            Some((
                list,
                self.attachment(record, "lo"),
                self.attachment(record, "eth0"),
            ))
        };
        // Whether the runtime is about to make the cgroup parent (no kubelet made it), noted
        // before it does, so that RemovePodSandbox releases it.
        if let Some(parent) = self.cgroup_parent(&req.cgroup_parent)
            && !parent.exists()
        {
            record.network.made_cgroup_parent = true;
            self.save(record).await?;
        }
        // Loopback and the pod's network come up side by side: the plugins touch different
        // interfaces, and neither waits for the other's process.
        let loopback = loopback_list();
        let network_up = async {
            let Some((list, lo, eth0)) = &network else {
                return Ok(Vec::new());
            };
            let (lo, eth0) = tokio::join!(
                self.invoker.add(&loopback, lo),
                self.invoker.add(list, eth0)
            );
            lo.map_err(|e| step("bring up loopback")(e.into()))?;
            let result = eth0.map_err(|e| step("CNI ADD")(e.into()))?;
            Ok::<_, Error>(berth_cni::result_ips(&result))
        };
        if record.network.pinned_namespaces {
            // No infra: the namespaces are pinned (well under a millisecond) before the
            // network comes up, so that per-interface sysctls never race the interfaces.
            let pins = namespaces::Pins {
                ipc: (!record.network.host_ipc).then(|| layout.sandbox_ipcns(&id)),
                uts: (!record.network.host_network).then(|| layout.sandbox_utsns(&id)),
                netns: network.as_ref().map(|_| netns_path.clone()),
                hostname: hostname.clone(),
                sysctls: req.sysctls.clone(),
            };
            let (pod, name) = (id.clone(), req.name.clone());
            blocking("pinning the pod's namespaces", move || {
                pins.create().map_err(|e| match e {
                    refused @ namespaces::PinError::Sysctl { .. } => Error::Refused {
                        object: format!("pod {name:?}"),
                        source: refused.into(),
                    },
                    namespaces::PinError::Io(e) => {
                        Error::sandbox(&pod, "create the pod's namespaces", e)
                    }
                })
            })
            .await?;
            record.network.ips = network_up.await?;
        } else {
            // The infra process and the network come up side by side: the infra joins the pinned
            // namespace whether or not its interfaces exist yet, and neither waits for the other's
            // commands.
            let cgroups_path =
                cgroup::cgroups_path(self.context.cgroup_driver, &req.cgroup_parent, &id);
            let spec = InfraSpec {
                hostname: &hostname,
                netns: network.as_ref().map(|_| netns_path.as_path()),
                host_ipc: record.network.host_ipc,
                host_pid: req.pid == NamespaceMode::Node,
                cgroups_path,
                sysctls: &req.sysctls,
                oom_score_adj: clamp_oom_score_adj(
                    INFRA_OOM_SCORE_ADJ,
                    self.context.host.oom_score_adj(),
                ),
                pause: &self.context.helpers.pause,
                shm: shm.as_deref(),
            };
            let infra = InfraRef {
                id: id.clone(),
                handler: record.runtime_handler.clone(),
                pid: 0,
            };
            let infra_up = async {
                match self.controller.create(&infra, &spec).await {
                    Err(e) => (0, Err(e)),
                    Ok(pid) => {
                        let started = self
                            .controller
                            .start(&InfraRef {
                                pid,
                                ..infra.clone()
                            })
                            .await;
                        (pid, started)
                    }
                }
            };
            let ((pid, started), ips) = tokio::join!(infra_up, network_up);
            // Recorded whatever happened: if start failed, teardown must know whom to kill.
            record.network.infra_pid = pid;
            started?;
            record.network.ips = ips?;
        }
        let host_hosts = std::fs::read_to_string("/etc/hosts").unwrap_or_default();
        write(
            PodFile::Hosts,
            files::hosts(
                &hostname,
                &record.network.ips,
                record.network.host_network,
                &host_hosts,
            ),
        )?;
        Ok(())
    }

    /// Whether a pod from `req` gets an infra process: always when the configuration says
    /// so, and when its containers share one PID namespace, which needs a PID 1.
    fn needs_infra(&self, req: &SandboxRequest) -> bool {
        self.context.config.pods.infra == InfraMode::Always || req.pid == NamespaceMode::Pod
    }

    /// The CNI attachment of a sandbox on `ifname`.
    pub(super) fn attachment(&self, record: &SandboxRecord, ifname: &str) -> Attachment {
        Attachment {
            container_id: record.id.clone(),
            netns: PathBuf::from(&record.network.netns),
            ifname: ifname.to_owned(),
            pod: PodArgs {
                namespace: record.metadata.namespace.clone(),
                name: record.metadata.name.clone(),
                uid: record.metadata.uid.clone(),
            },
            port_mappings: if ifname == "lo" {
                Vec::new()
            } else {
                record
                    .network
                    .port_mappings
                    .iter()
                    .map(
                        |(host_port, container_port, protocol, host_ip)| berth_cni::PortMapping {
                            host_port: *host_port,
                            container_port: *container_port,
                            protocol: protocol.to_lowercase(),
                            host_ip: host_ip.clone(),
                        },
                    )
                    .collect()
            },
        }
    }

    /// The first config of the conf dir, or the built-in default.
    pub(super) fn network_config(&self) -> Result<berth_cni::ConfList, berth_cni::ConfError> {
        Ok(
            berth_cni::load_first(&self.context.config.network.conf_dir)?
                .unwrap_or_else(berth_cni::builtin_default),
        )
    }
}

/// The list that brings up `lo` in a new namespace.
pub(super) fn loopback_list() -> berth_cni::ConfList {
    berth_cni::ConfList {
        cni_version: "1.0.0".into(),
        name: "berth-loopback".into(),
        plugins: vec![berth_cni::PluginConf {
            kind: "loopback".into(),
            raw: serde_json::json!({"type": "loopback"})
                .as_object()
                .cloned()
                .unwrap_or_default(),
        }],
        source: berth_cni::ConfSource::BuiltIn,
    }
}
