//! `runtime.v1.ImageService`: thin handlers over the domain's image service.

use berth_domain::image::Credentials;
use k8s_cri::v1 as cri;
use k8s_cri::v1::image_service_server::ImageService;
use tonic::{Request, Response, Status};

use crate::Cri;
use crate::convert;
use crate::instrument::Call;
use crate::status::Failure;

fn image_name(spec: Option<&cri::ImageSpec>) -> String {
    spec.map(|s| s.image.clone()).unwrap_or_default()
}

fn credentials(auth: Option<cri::AuthConfig>) -> Credentials {
    let auth = auth.unwrap_or_default();
    Credentials {
        username: auth.username,
        password: auth.password,
        auth: auth.auth,
        identity_token: auth.identity_token,
        registry_token: auth.registry_token,
    }
}

#[tonic::async_trait]
impl ImageService for Cri {
    async fn list_images(
        &self,
        req: Request<cri::ListImagesRequest>,
    ) -> Result<Response<cri::ListImagesResponse>, Status> {
        let filter = req
            .into_inner()
            .filter
            .and_then(|f| f.image)
            .map(|s| s.image);
        self.call(Call::read("ListImages"), |d| async move {
            let images = d.images.list(filter.as_deref())?;
            Ok(cri::ListImagesResponse {
                images: images.into_iter().map(convert::image).collect(),
            })
        })
        .await
    }

    async fn image_status(
        &self,
        req: Request<cri::ImageStatusRequest>,
    ) -> Result<Response<cri::ImageStatusResponse>, Status> {
        let req = req.into_inner();
        let name = image_name(req.image.as_ref());
        let verbose = req.verbose;
        self.call(Call::read("ImageStatus").image(&name), |d| async move {
            if name.is_empty() {
                return Err(Failure::BadRequest("an image name is required".into()));
            }
            Ok(match d.images.status(&name).await? {
                None => cri::ImageStatusResponse::default(),
                Some(details) => convert::image_status(details, verbose),
            })
        })
        .await
    }

    async fn pull_image(
        &self,
        req: Request<cri::PullImageRequest>,
    ) -> Result<Response<cri::PullImageResponse>, Status> {
        let req = req.into_inner();
        let name = image_name(req.image.as_ref());
        let credentials = credentials(req.auth);
        self.call(
            Call::mutating("PullImage").image(&name).ends_with_caller(),
            |d| async move {
                if name.is_empty() {
                    return Err(Failure::BadRequest("an image name is required".into()));
                }
                let image = d.images.pull(&name, &credentials).await?;
                tracing::info!(image_id = %image.id, "pulled");
                Ok(cri::PullImageResponse {
                    image_ref: image.id,
                })
            },
        )
        .await
    }

    async fn remove_image(
        &self,
        req: Request<cri::RemoveImageRequest>,
    ) -> Result<Response<cri::RemoveImageResponse>, Status> {
        let name = image_name(req.get_ref().image.as_ref());
        self.call(Call::mutating("RemoveImage").image(&name), |d| async move {
            if name.is_empty() {
                return Err(Failure::BadRequest("an image name is required".into()));
            }
            d.images.remove(&name).await?;
            Ok(cri::RemoveImageResponse {})
        })
        .await
    }

    async fn image_fs_info(
        &self,
        _req: Request<cri::ImageFsInfoRequest>,
    ) -> Result<Response<cri::ImageFsInfoResponse>, Status> {
        self.call(Call::read("ImageFsInfo"), |d| async move {
            let usage = d.images.fs_usage().await?;
            let fs = convert::filesystem_usage(usage);
            Ok(cri::ImageFsInfoResponse {
                image_filesystems: vec![fs.clone()],
                container_filesystems: vec![fs],
            })
        })
        .await
    }
}
