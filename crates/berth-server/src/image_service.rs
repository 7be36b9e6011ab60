//! `runtime.v1.ImageService`: every RPC answers `Unimplemented` until the image issue lands.

use k8s_cri::v1 as cri;
use k8s_cri::v1::image_service_server::ImageService;
use tonic::{Request, Response, Status};

use crate::Cri;
use crate::instrument::Call;

#[tonic::async_trait]
impl ImageService for Cri {
    async fn list_images(
        &self,
        _req: Request<cri::ListImagesRequest>,
    ) -> Result<Response<cri::ListImagesResponse>, Status> {
        self.pending(Call::read("ListImages")).await
    }

    async fn image_status(
        &self,
        _req: Request<cri::ImageStatusRequest>,
    ) -> Result<Response<cri::ImageStatusResponse>, Status> {
        self.pending(Call::read("ImageStatus")).await
    }

    async fn pull_image(
        &self,
        _req: Request<cri::PullImageRequest>,
    ) -> Result<Response<cri::PullImageResponse>, Status> {
        self.pending(Call::mutating("PullImage")).await
    }

    async fn remove_image(
        &self,
        _req: Request<cri::RemoveImageRequest>,
    ) -> Result<Response<cri::RemoveImageResponse>, Status> {
        self.pending(Call::mutating("RemoveImage")).await
    }

    async fn image_fs_info(
        &self,
        _req: Request<cri::ImageFsInfoRequest>,
    ) -> Result<Response<cri::ImageFsInfoResponse>, Status> {
        self.pending(Call::read("ImageFsInfo")).await
    }
}
