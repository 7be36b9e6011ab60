//! `runtime.v1.RuntimeService`: thin handlers. RPCs whose issue has not landed answer
//! `Unimplemented` through the same wrapper as the rest.

use berth_domain::container::ExecRequest;
use berth_streaming::{Stdio, Target};
use k8s_cri::v1 as cri;
use k8s_cri::v1::runtime_service_server::RuntimeService;
use tonic::{Request, Response, Status};

use crate::events::{self, EventStream};
use crate::instrument::Call;
use crate::status::Failure;
use crate::{Cri, convert, convert_container, convert_metrics, convert_stats};

#[tonic::async_trait]
impl RuntimeService for Cri {
    async fn version(
        &self,
        _req: Request<cri::VersionRequest>,
    ) -> Result<Response<cri::VersionResponse>, Status> {
        self.call_or(
            Call::read("Version"),
            |d| async move { Ok(convert::version(d.runtime.version())) },
            || convert::version(berth_domain::VersionInfo::current()),
        )
        .await
    }

    async fn status(
        &self,
        req: Request<cri::StatusRequest>,
    ) -> Result<Response<cri::StatusResponse>, Status> {
        let verbose = req.get_ref().verbose;
        self.call_or(
            Call::read("Status"),
            move |d| async move { Ok(convert::status(d.runtime.status(verbose))) },
            || convert::status(berth_domain::RuntimeStatus::recovering()),
        )
        .await
    }

    async fn runtime_config(
        &self,
        _req: Request<cri::RuntimeConfigRequest>,
    ) -> Result<Response<cri::RuntimeConfigResponse>, Status> {
        self.call(Call::read("RuntimeConfig"), |d| async move {
            Ok(convert::runtime_config(d.runtime.cgroup_driver()))
        })
        .await
    }

    async fn update_runtime_config(
        &self,
        req: Request<cri::UpdateRuntimeConfigRequest>,
    ) -> Result<Response<cri::UpdateRuntimeConfigResponse>, Status> {
        let cidr = req
            .into_inner()
            .runtime_config
            .and_then(|c| c.network_config)
            .map(|n| n.pod_cidr)
            .unwrap_or_default();
        self.call(Call::mutating("UpdateRuntimeConfig"), |d| async move {
            d.runtime
                .update_pod_cidr(&cidr)
                .await
                .map_err(Failure::from)?;
            Ok(cri::UpdateRuntimeConfigResponse {})
        })
        .await
    }

    type GetContainerEventsStream = EventStream;

    async fn get_container_events(
        &self,
        _req: Request<cri::GetEventsRequest>,
    ) -> Result<Response<Self::GetContainerEventsStream>, Status> {
        let shutdown = self.shutdown.clone();
        self.call(Call::read("GetContainerEvents"), |d| async move {
            Ok(events::subscribe(d, shutdown))
        })
        .await
    }

    async fn run_pod_sandbox(
        &self,
        req: Request<cri::RunPodSandboxRequest>,
    ) -> Result<Response<cri::RunPodSandboxResponse>, Status> {
        let req = req.into_inner();
        let name = req
            .config
            .as_ref()
            .and_then(|c| c.metadata.as_ref())
            .map(|m| format!("{}/{}", m.namespace, m.name))
            .unwrap_or_default();
        let request = convert::sandbox_request(req);
        self.call(
            Call::mutating("RunPodSandbox").pod_name(&name),
            |d| async move {
                let request = request.map_err(Failure::BadRequest)?;
                let id = d.sandboxes.run(request).await?;
                tracing::info!(pod_id = %id, "sandbox created");
                Ok(cri::RunPodSandboxResponse { pod_sandbox_id: id })
            },
        )
        .await
    }

    async fn stop_pod_sandbox(
        &self,
        req: Request<cri::StopPodSandboxRequest>,
    ) -> Result<Response<cri::StopPodSandboxResponse>, Status> {
        let id = req.into_inner().pod_sandbox_id;
        self.call(Call::mutating("StopPodSandbox").pod(&id), |d| async move {
            d.sandboxes.stop(&id).await?;
            Ok(cri::StopPodSandboxResponse {})
        })
        .await
    }

    async fn remove_pod_sandbox(
        &self,
        req: Request<cri::RemovePodSandboxRequest>,
    ) -> Result<Response<cri::RemovePodSandboxResponse>, Status> {
        let id = req.into_inner().pod_sandbox_id;
        self.call(
            Call::mutating("RemovePodSandbox").pod(&id),
            |d| async move {
                d.sandboxes.remove(&id).await?;
                Ok(cri::RemovePodSandboxResponse {})
            },
        )
        .await
    }

    async fn pod_sandbox_status(
        &self,
        req: Request<cri::PodSandboxStatusRequest>,
    ) -> Result<Response<cri::PodSandboxStatusResponse>, Status> {
        let req = req.into_inner();
        let (id, verbose) = (req.pod_sandbox_id, req.verbose);
        self.call(Call::read("PodSandboxStatus").pod(&id), |d| async move {
            let status = d.sandboxes.status(&id, verbose).await?;
            Ok(convert::sandbox_status(status))
        })
        .await
    }

    async fn list_pod_sandbox(
        &self,
        req: Request<cri::ListPodSandboxRequest>,
    ) -> Result<Response<cri::ListPodSandboxResponse>, Status> {
        let filter = convert::sandbox_filter(req.into_inner().filter.unwrap_or_default());
        self.call(Call::read("ListPodSandbox"), |d| async move {
            let items = d.sandboxes.list(filter).await?;
            Ok(cri::ListPodSandboxResponse {
                items: items.into_iter().map(convert::sandbox).collect(),
            })
        })
        .await
    }

    async fn create_container(
        &self,
        req: Request<cri::CreateContainerRequest>,
    ) -> Result<Response<cri::CreateContainerResponse>, Status> {
        let req = req.into_inner();
        let pod = req.pod_sandbox_id.clone();
        let request = convert_container::container_request(req);
        self.call(
            Call::mutating("CreateContainer").pod(&pod),
            |d| async move {
                let request = request.map_err(Failure::BadRequest)?;
                let container_id = d.containers.create(request).await?;
                Ok(cri::CreateContainerResponse { container_id })
            },
        )
        .await
    }

    async fn start_container(
        &self,
        req: Request<cri::StartContainerRequest>,
    ) -> Result<Response<cri::StartContainerResponse>, Status> {
        let id = req.into_inner().container_id;
        self.call(
            Call::mutating("StartContainer").container(&id),
            |d| async move {
                d.containers.start(&id).await?;
                Ok(cri::StartContainerResponse {})
            },
        )
        .await
    }

    async fn stop_container(
        &self,
        req: Request<cri::StopContainerRequest>,
    ) -> Result<Response<cri::StopContainerResponse>, Status> {
        let req = req.into_inner();
        let (id, timeout) = (req.container_id, req.timeout);
        self.call(
            Call::mutating("StopContainer").container(&id),
            |d| async move {
                d.containers.stop(&id, timeout).await?;
                Ok(cri::StopContainerResponse {})
            },
        )
        .await
    }

    async fn remove_container(
        &self,
        req: Request<cri::RemoveContainerRequest>,
    ) -> Result<Response<cri::RemoveContainerResponse>, Status> {
        let id = req.into_inner().container_id;
        self.call(
            Call::mutating("RemoveContainer").container(&id),
            |d| async move {
                d.containers.remove(&id).await?;
                Ok(cri::RemoveContainerResponse {})
            },
        )
        .await
    }

    async fn list_containers(
        &self,
        req: Request<cri::ListContainersRequest>,
    ) -> Result<Response<cri::ListContainersResponse>, Status> {
        let filter = convert::container_filter(req.into_inner().filter.unwrap_or_default());
        self.call(Call::read("ListContainers"), |d| async move {
            let containers = d.containers.list(filter).await?;
            Ok(cri::ListContainersResponse {
                containers: containers.into_iter().map(convert::container).collect(),
            })
        })
        .await
    }

    async fn container_status(
        &self,
        req: Request<cri::ContainerStatusRequest>,
    ) -> Result<Response<cri::ContainerStatusResponse>, Status> {
        let req = req.into_inner();
        let (id, verbose) = (req.container_id, req.verbose);
        self.call(
            Call::read("ContainerStatus").container(&id),
            |d| async move {
                let status = d.containers.status(&id, verbose).await?;
                Ok(convert_container::container_status(status))
            },
        )
        .await
    }

    async fn update_container_resources(
        &self,
        req: Request<cri::UpdateContainerResourcesRequest>,
    ) -> Result<Response<cri::UpdateContainerResourcesResponse>, Status> {
        let req = req.into_inner();
        let id = req.container_id;
        let resources = convert_container::resources(req.linux.unwrap_or_default());
        self.call(
            Call::mutating("UpdateContainerResources").container(&id),
            |d| async move {
                d.containers.update_resources(&id, resources).await?;
                Ok(cri::UpdateContainerResourcesResponse {})
            },
        )
        .await
    }

    async fn reopen_container_log(
        &self,
        req: Request<cri::ReopenContainerLogRequest>,
    ) -> Result<Response<cri::ReopenContainerLogResponse>, Status> {
        let id = req.into_inner().container_id;
        self.call(
            Call::mutating("ReopenContainerLog").container(&id),
            |d| async move {
                d.containers.reopen_log(&id).await?;
                Ok(cri::ReopenContainerLogResponse {})
            },
        )
        .await
    }

    async fn exec_sync(
        &self,
        req: Request<cri::ExecSyncRequest>,
    ) -> Result<Response<cri::ExecSyncResponse>, Status> {
        let req = req.into_inner();
        let (id, cmd) = (req.container_id, req.cmd);
        let timeout = std::time::Duration::from_secs(req.timeout.max(0) as u64);
        self.call(
            Call::mutating("ExecSync").container(&id).ends_with_caller(),
            |d| async move {
                let out = d.containers.exec_sync(&id, cmd, timeout).await?;
                Ok(cri::ExecSyncResponse {
                    stdout: out.stdout,
                    stderr: out.stderr,
                    exit_code: out.exit_code,
                })
            },
        )
        .await
    }

    async fn exec(
        &self,
        req: Request<cri::ExecRequest>,
    ) -> Result<Response<cri::ExecResponse>, Status> {
        let req = req.into_inner();
        let id = req.container_id.clone();
        let streaming = self.streaming.clone();
        self.call(Call::read("Exec").container(&id), |d| async move {
            let request = ExecRequest {
                cmd: req.cmd,
                tty: req.tty,
                stdin: req.stdin,
                stdout: req.stdout,
                stderr: req.stderr,
            };
            let container = d.containers.check_exec(&id, &request).await?;
            let stdio = Stdio {
                tty: request.tty,
                stdin: request.stdin,
                stdout: request.stdout,
                stderr: request.stderr,
            };
            let target = Target::Exec {
                container,
                cmd: request.cmd,
                stdio,
            };
            let url = streaming.url(target).map_err(Failure::Streaming)?;
            Ok(cri::ExecResponse { url })
        })
        .await
    }

    async fn attach(
        &self,
        req: Request<cri::AttachRequest>,
    ) -> Result<Response<cri::AttachResponse>, Status> {
        let req = req.into_inner();
        let id = req.container_id.clone();
        let streaming = self.streaming.clone();
        self.call(Call::read("Attach").container(&id), |d| async move {
            let stdio = Stdio {
                tty: req.tty,
                stdin: req.stdin,
                stdout: req.stdout,
                stderr: req.stderr,
            };
            let request = crate::streaming::attach_request(stdio);
            let container = d.containers.check_attach(&id, &request).await?;
            let url = streaming
                .url(Target::Attach { container, stdio })
                .map_err(Failure::Streaming)?;
            Ok(cri::AttachResponse { url })
        })
        .await
    }

    async fn port_forward(
        &self,
        req: Request<cri::PortForwardRequest>,
    ) -> Result<Response<cri::PortForwardResponse>, Status> {
        // The ports of the request are not needed: each forwarded connection names its own
        // (the `port` header of its SPDY streams).
        let id = req.into_inner().pod_sandbox_id;
        let streaming = self.streaming.clone();
        self.call(Call::read("PortForward").pod(&id), |d| async move {
            let pod = d.sandboxes.check_port_forward(&id).await?;
            let url = streaming
                .url(Target::PortForward { pod })
                .map_err(Failure::Streaming)?;
            Ok(cri::PortForwardResponse { url })
        })
        .await
    }

    async fn container_stats(
        &self,
        req: Request<cri::ContainerStatsRequest>,
    ) -> Result<Response<cri::ContainerStatsResponse>, Status> {
        let id = req.into_inner().container_id;
        self.call(
            Call::read("ContainerStats").container(&id),
            |d| async move {
                let stats = d.containers.stats(&id).await?;
                Ok(cri::ContainerStatsResponse {
                    stats: Some(convert_stats::container_stats(stats)),
                })
            },
        )
        .await
    }

    async fn list_container_stats(
        &self,
        req: Request<cri::ListContainerStatsRequest>,
    ) -> Result<Response<cri::ListContainerStatsResponse>, Status> {
        let filter = req.into_inner().filter.unwrap_or_default();
        let filter = convert_stats::container_stats_filter(filter);
        self.call(Call::read("ListContainerStats"), |d| async move {
            let stats = d.containers.list_stats(filter).await?;
            Ok(cri::ListContainerStatsResponse {
                stats: stats
                    .into_iter()
                    .map(convert_stats::container_stats)
                    .collect(),
            })
        })
        .await
    }

    async fn pod_sandbox_stats(
        &self,
        req: Request<cri::PodSandboxStatsRequest>,
    ) -> Result<Response<cri::PodSandboxStatsResponse>, Status> {
        let id = req.into_inner().pod_sandbox_id;
        self.call(Call::read("PodSandboxStats").pod(&id), |d| async move {
            let stats = d.sandboxes.stats(&id).await?;
            Ok(cri::PodSandboxStatsResponse {
                stats: Some(convert_stats::pod_stats(stats)),
            })
        })
        .await
    }

    async fn list_pod_sandbox_stats(
        &self,
        req: Request<cri::ListPodSandboxStatsRequest>,
    ) -> Result<Response<cri::ListPodSandboxStatsResponse>, Status> {
        let filter = req.into_inner().filter.unwrap_or_default();
        let filter = convert_stats::pod_stats_filter(filter);
        self.call(Call::read("ListPodSandboxStats"), |d| async move {
            let stats = d.sandboxes.list_stats(filter).await?;
            Ok(cri::ListPodSandboxStatsResponse {
                stats: stats.into_iter().map(convert_stats::pod_stats).collect(),
            })
        })
        .await
    }

    async fn checkpoint_container(
        &self,
        req: Request<cri::CheckpointContainerRequest>,
    ) -> Result<Response<cri::CheckpointContainerResponse>, Status> {
        self.pending(Call::mutating("CheckpointContainer").container(&req.get_ref().container_id))
            .await
    }

    async fn list_metric_descriptors(
        &self,
        _req: Request<cri::ListMetricDescriptorsRequest>,
    ) -> Result<Response<cri::ListMetricDescriptorsResponse>, Status> {
        self.call(Call::read("ListMetricDescriptors"), |_| async move {
            Ok(cri::ListMetricDescriptorsResponse {
                descriptors: convert_metrics::descriptors(),
            })
        })
        .await
    }

    async fn list_pod_sandbox_metrics(
        &self,
        _req: Request<cri::ListPodSandboxMetricsRequest>,
    ) -> Result<Response<cri::ListPodSandboxMetricsResponse>, Status> {
        self.call(Call::read("ListPodSandboxMetrics"), |d| async move {
            let stats = d.sandboxes.list_stats(Default::default()).await?;
            Ok(cri::ListPodSandboxMetricsResponse {
                pod_metrics: stats
                    .into_iter()
                    .map(convert_metrics::pod_metrics)
                    .collect(),
            })
        })
        .await
    }
}
