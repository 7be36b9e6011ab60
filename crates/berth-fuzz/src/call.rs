//! One CRI request of any RPC, and sending it. Owns the list of RPCs: every RPC of
//! `runtime.v1.RuntimeService` and `runtime.v1.ImageService` is a variant here.

use std::time::Duration;

use berth_cri_client::{CriClient, cri};
use tonic::Code;

/// The result of one call: the code, the message, and the ID it made (RunPodSandbox,
/// CreateContainer) or the image it pulled.
#[derive(Debug, Clone)]
pub struct Answer {
    /// The gRPC code (`Ok` on success).
    pub code: Code,
    /// The status message (empty on success).
    pub message: String,
    /// A pod or container ID made, or an image reference pulled.
    pub made: Option<String>,
}

/// What a response tells the fuzzer: the object it made, if any.
trait Made {
    fn made(&self) -> Option<String> {
        None
    }
}

impl<T> Made for tonic::codec::Streaming<T> {}

macro_rules! calls {
    ($( $variant:ident ( $req:ident -> $resp:ident ) => $svc:ident . $method:ident ),* $(,)?) => {
        /// One request of any CRI RPC.
        // Unboxed: a request is built once and moved into its call; the size is harmless.
        #[allow(clippy::large_enum_variant)]
        #[derive(Clone, Debug)]
        pub enum Call {
            $(
                #[doc = concat!("`", stringify!($variant), "`.")]
                $variant(cri::$req),
            )*
        }

        /// Every RPC's name, in the order of [`Call`].
        pub const RPCS: &[&str] = &[$( stringify!($variant) ),*];

        impl Call {
            /// The RPC's name, e.g. `RunPodSandbox`.
            pub fn rpc(&self) -> &'static str {
                match self {
                    $( Call::$variant(_) => stringify!($variant), )*
                }
            }

            /// Sends the call. With `deadline` the request carries it as `grpc-timeout`, so
            /// the server cancels the handler when it passes; `limit` bounds the wait here.
            pub async fn send(
                self,
                client: &mut CriClient,
                deadline: Option<Duration>,
                limit: Duration,
            ) -> Answer {
                let call = async move {
                    match self {
                        $(
                            Call::$variant(r) => {
                                let mut req = tonic::Request::new(r);
                                if let Some(d) = deadline {
                                    req.set_timeout(d);
                                }
                                client.$svc.$method(req).await.map(|r| r.into_inner().made())
                            }
                        )*
                    }
                };
                match tokio::time::timeout(limit, call).await {
                    Ok(Ok(made)) => Answer { code: Code::Ok, message: String::new(), made },
                    Ok(Err(status)) => Answer {
                        code: status.code(),
                        message: status.message().to_owned(),
                        made: None,
                    },
                    Err(_) => Answer {
                        code: Code::DeadlineExceeded,
                        message: format!("no answer within {limit:?} (fuzzer's limit)"),
                        made: None,
                    },
                }
            }
        }
    };
}

calls! {
    Version(VersionRequest -> VersionResponse) => runtime.version,
    RunPodSandbox(RunPodSandboxRequest -> RunPodSandboxResponse) => runtime.run_pod_sandbox,
    StopPodSandbox(StopPodSandboxRequest -> StopPodSandboxResponse) => runtime.stop_pod_sandbox,
    RemovePodSandbox(RemovePodSandboxRequest -> RemovePodSandboxResponse) => runtime.remove_pod_sandbox,
    PodSandboxStatus(PodSandboxStatusRequest -> PodSandboxStatusResponse) => runtime.pod_sandbox_status,
    ListPodSandbox(ListPodSandboxRequest -> ListPodSandboxResponse) => runtime.list_pod_sandbox,
    CreateContainer(CreateContainerRequest -> CreateContainerResponse) => runtime.create_container,
    StartContainer(StartContainerRequest -> StartContainerResponse) => runtime.start_container,
    StopContainer(StopContainerRequest -> StopContainerResponse) => runtime.stop_container,
    RemoveContainer(RemoveContainerRequest -> RemoveContainerResponse) => runtime.remove_container,
    ListContainers(ListContainersRequest -> ListContainersResponse) => runtime.list_containers,
    ContainerStatus(ContainerStatusRequest -> ContainerStatusResponse) => runtime.container_status,
    UpdateContainerResources(UpdateContainerResourcesRequest -> UpdateContainerResourcesResponse) => runtime.update_container_resources,
    ReopenContainerLog(ReopenContainerLogRequest -> ReopenContainerLogResponse) => runtime.reopen_container_log,
    ExecSync(ExecSyncRequest -> ExecSyncResponse) => runtime.exec_sync,
    Exec(ExecRequest -> ExecResponse) => runtime.exec,
    Attach(AttachRequest -> AttachResponse) => runtime.attach,
    PortForward(PortForwardRequest -> PortForwardResponse) => runtime.port_forward,
    ContainerStats(ContainerStatsRequest -> ContainerStatsResponse) => runtime.container_stats,
    ListContainerStats(ListContainerStatsRequest -> ListContainerStatsResponse) => runtime.list_container_stats,
    PodSandboxStats(PodSandboxStatsRequest -> PodSandboxStatsResponse) => runtime.pod_sandbox_stats,
    ListPodSandboxStats(ListPodSandboxStatsRequest -> ListPodSandboxStatsResponse) => runtime.list_pod_sandbox_stats,
    UpdateRuntimeConfig(UpdateRuntimeConfigRequest -> UpdateRuntimeConfigResponse) => runtime.update_runtime_config,
    Status(StatusRequest -> StatusResponse) => runtime.status,
    CheckpointContainer(CheckpointContainerRequest -> CheckpointContainerResponse) => runtime.checkpoint_container,
    GetContainerEvents(GetEventsRequest -> ContainerEventResponse) => runtime.get_container_events,
    ListMetricDescriptors(ListMetricDescriptorsRequest -> ListMetricDescriptorsResponse) => runtime.list_metric_descriptors,
    ListPodSandboxMetrics(ListPodSandboxMetricsRequest -> ListPodSandboxMetricsResponse) => runtime.list_pod_sandbox_metrics,
    RuntimeConfig(RuntimeConfigRequest -> RuntimeConfigResponse) => runtime.runtime_config,
    ListImages(ListImagesRequest -> ListImagesResponse) => image.list_images,
    ImageStatus(ImageStatusRequest -> ImageStatusResponse) => image.image_status,
    PullImage(PullImageRequest -> PullImageResponse) => image.pull_image,
    RemoveImage(RemoveImageRequest -> RemoveImageResponse) => image.remove_image,
    ImageFsInfo(ImageFsInfoRequest -> ImageFsInfoResponse) => image.image_fs_info,
}

macro_rules! made_none {
    ($($t:ident),* $(,)?) => { $( impl Made for cri::$t {} )* };
}

made_none!(
    VersionResponse,
    StopPodSandboxResponse,
    RemovePodSandboxResponse,
    PodSandboxStatusResponse,
    ListPodSandboxResponse,
    StartContainerResponse,
    StopContainerResponse,
    RemoveContainerResponse,
    ListContainersResponse,
    ContainerStatusResponse,
    UpdateContainerResourcesResponse,
    ReopenContainerLogResponse,
    ExecSyncResponse,
    ExecResponse,
    AttachResponse,
    PortForwardResponse,
    ContainerStatsResponse,
    ListContainerStatsResponse,
    PodSandboxStatsResponse,
    ListPodSandboxStatsResponse,
    UpdateRuntimeConfigResponse,
    StatusResponse,
    CheckpointContainerResponse,
    ListMetricDescriptorsResponse,
    ListPodSandboxMetricsResponse,
    RuntimeConfigResponse,
    ListImagesResponse,
    ImageStatusResponse,
    RemoveImageResponse,
    ImageFsInfoResponse,
);

impl Made for cri::RunPodSandboxResponse {
    fn made(&self) -> Option<String> {
        Some(self.pod_sandbox_id.clone())
    }
}

impl Made for cri::CreateContainerResponse {
    fn made(&self) -> Option<String> {
        Some(self.container_id.clone())
    }
}

impl Made for cri::PullImageResponse {
    fn made(&self) -> Option<String> {
        Some(self.image_ref.clone())
    }
}

/// The RPCs berth answers `Unimplemented` today (pod stats, checkpoint, metrics): the
/// default for [`crate::FuzzConfig::unimplemented`].
pub const NOT_BUILT: &[&str] = &["CheckpointContainer"];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_rpc_of_both_services_is_listed() {
        assert_eq!(RPCS.len(), 29 + 5);
        for rpc in NOT_BUILT {
            assert!(RPCS.contains(rpc), "{rpc}");
        }
    }
}
