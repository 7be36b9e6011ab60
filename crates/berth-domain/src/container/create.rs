//! `CreateContainer`: check the pod (it must be READY: a pod being stopped or removed takes
//! no new container) and the request, reserve the name, record the intent, then build the
//! root file system, the OCI spec and the monitor that runs `create`. Any failure undoes
//! what was built, forgets the record and releases the name.
//!
//! Orchestration only: the spec is assembled in `assemble` (from the rules in `process`,
//! `spec`, `seccomp`, `mounts`, `devices`), the image's defaults come typed from
//! `berth-image`, and what is read from the node goes through `crate::host`.

use std::path::{Path, PathBuf};

use berth_image::ImageDetails;
use berth_store::{
    ContainerMetadata, ContainerRecord, ContainerSpecRecord, ContainerState, SandboxRecord,
    SandboxState, container_name,
};

use super::assemble::{Parts, Plan, assemble};
use super::process::UserError;
use super::spec::{PodFiles, PodNamespaces};
use super::{ContainerRequest, ContainerService, Shared, blocking, exit, signal};
use crate::events::LifecycleKind;
use crate::host::Host;
use crate::shared::{NamespaceMode, cgroup};
use crate::validate::{self, sysctl};
use crate::{Error, monitor};

impl ContainerService {
    /// Creates a container and returns its ID. Every field is checked before anything is
    /// reserved or made.
    pub async fn create(&self, req: ContainerRequest) -> Result<String, Error> {
        let s = &self.shared;
        for (field, value) in [
            ("pod_sandbox_id", &req.sandbox_id),
            ("config.metadata.name", &req.name),
            ("config.image.image", &req.image),
        ] {
            if value.is_empty() {
                return Err(Error::InvalidRequest(format!(
                    "CreateContainer: {field} is required"
                )));
            }
        }
        validate::container(&req)?;
        let u = &req.security.user;
        if u.gid.is_some() && u.uid.is_none() && u.username.is_none() {
            return Err(refused(&req.name)(UserError::GroupWithoutUser));
        }
        let pod_id = s
            .indexes
            .lock()
            .expect("indexes")
            .sandboxes
            .resolve(&req.sandbox_id)
            .map_err(|e| Error::lookup("sandbox", e))?;
        // Held to the end: Stop and Remove of the pod wait for this create, and a pod they
        // have begun to tear down is no longer READY.
        let pod_lock = s.pod_locks.get(&pod_id);
        let _pod_guard = pod_lock.lock().await;
        let pod = s
            .load_sandbox(&pod_id)
            .await?
            .ok_or_else(|| Error::NotFound {
                what: "sandbox",
                id: pod_id.clone(),
            })?;
        if pod.state != SandboxState::Ready {
            return Err(Error::FailedPrecondition(format!(
                "sandbox {pod_id} is {:?}, not ready: no container can be created in it",
                pod.state
            )));
        }
        validate::features::recursive_read_only_supported(
            &req.name,
            &req.mounts,
            &pod.runtime_handler,
            s.handlers
                .features(&pod.runtime_handler)
                .recursive_read_only,
        )?;
        let image = s
            .images
            .details(&req.image)
            .map_err(|e| Error::Image(std::sync::Arc::new(e)))?
            .ok_or_else(|| Error::NotFound {
                what: "image",
                id: req.image.clone(),
            })?;
        let config = &image.run_config;
        let stop_signal =
            signal::parse_stop_signal(&config.stop_signal).map_err(|e| Error::Refused {
                object: format!("image {:?} has a bad StopSignal", req.image),
                source: e.into(),
            })?;
        let plan = Plan::new(&req, config).map_err(refused(&req.name))?;
        let host = sysctl::HostNamespaces {
            network: pod.network.host_network,
            ipc: pod.network.host_ipc,
        };
        let object = validate::Object::container(&req.name);
        for (name, value) in &req.sysctls {
            object.check(format!("linux.sysctls[{name:?}]"), name, |n| {
                sysctl::name(n, host)
            })?;
            object.check(
                format!("linux.sysctls[{name:?}] value"),
                value,
                sysctl::value,
            )?;
        }
        let pid_target = if req.security.pid == NamespaceMode::Target {
            self.target_pid(&req.security.pid_target, &pod_id).await?
        } else {
            0
        };
        let log_path = validate::log_path(&req.name, &pod.network.log_directory, &req.log_path)?;

        let id = crate::shared::new_id()?;
        let metadata = ContainerMetadata {
            name: req.name.clone(),
            attempt: req.attempt,
        };
        {
            let mut indexes = s.indexes.lock().expect("indexes");
            indexes
                .names
                .reserve(&container_name(&pod.metadata, &metadata), &id)?;
            indexes.containers.insert(id.clone());
        }
        let mut record = ContainerRecord {
            id: id.clone(),
            sandbox_id: pod_id.clone(),
            metadata,
            image: req.image.clone(),
            image_ref: image.record.id.clone(),
            state: ContainerState::Creating,
            created_at_ns: crate::clock::now_ns(),
            started_at_ns: 0,
            finished_at_ns: 0,
            exit_code: 0,
            reason: String::new(),
            message: String::new(),
            log_path: log_path
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
            labels: req.labels.clone(),
            annotations: req.annotations.clone(),
            runtime_handler: pod.runtime_handler.clone(),
            pid: 0,
            stop_signal,
            spec: ContainerSpecRecord {
                tty: req.tty,
                stdin: req.stdin,
                stdin_once: req.stdin_once,
                resources: req.resources.clone(),
                cgroups_path: cgroup::cgroups_path(
                    s.cgroup_driver,
                    &pod.network.cgroup_parent,
                    &id,
                ),
                ..Default::default()
            },
        };
        let live = s.track(&record, false);
        // Held until the container is made or undone: a RemoveContainer (or UpdateContainer-
        // Resources) that finds the new ID in a listing meanwhile waits for the creation
        // instead of deleting its directories from under it.
        let creating = live.clone();
        let _creating = creating.lock.lock().await;
        let built = match s.save(&record).await {
            Ok(()) => build(s, &mut record, &req, &pod, &image, plan, pid_target).await,
            Err(e) => Err(e),
        };
        let built = match built {
            Ok(()) => {
                record.state = ContainerState::Created;
                s.save(&record).await
            }
            Err(e) => Err(e),
        };
        match built {
            Ok(()) => {
                exit::watch(s, &id, &live);
                s.events.container(&id, &pod_id, LifecycleKind::Created);
                tracing::info!(container_id = %id, pod_id = %pod_id, name = %req.name, pid = record.pid, "container created");
                Ok(id)
            }
            Err(cause) => {
                tracing::warn!(container_id = %id, error = %cause, "CreateContainer failed; undoing");
                if let Err(e) = s.destroy(&record, false).await {
                    tracing::warn!(container_id = %id, error = %e, "undo was incomplete");
                }
                if let Err(e) = s.forget(&record).await {
                    tracing::warn!(container_id = %id, error = %e, "cannot forget the failed container");
                }
                Err(cause)
            }
        }
    }
}

impl ContainerService {
    /// The init PID of the running container an ephemeral container targets (same pod).
    async fn target_pid(&self, target: &str, pod_id: &str) -> Result<i32, Error> {
        if target.is_empty() {
            return Err(Error::InvalidRequest(
                "PID namespace mode TARGET needs namespace_options.target_id".into(),
            ));
        }
        let id = self.resolve(target)?;
        let record = self.shared.get(&id).await?;
        if record.sandbox_id != pod_id || !record.is_running() {
            return Err(Error::FailedPrecondition(format!(
                "target container {id} must be running in sandbox {pod_id} (it is {:?} in {})",
                record.state, record.sandbox_id
            )));
        }
        Ok(record.pid)
    }
}

/// Builds the root file system, the spec and the monitor; fills in the record.
async fn build(
    s: &Shared,
    record: &mut ContainerRecord,
    req: &ContainerRequest,
    pod: &SandboxRecord,
    image: &ImageDetails,
    plan: Plan,
    pid_target: i32,
) -> Result<(), Error> {
    let id = record.id.clone();
    let host: &dyn Host = &*s.host;
    let runtime = s.runtime(&record.runtime_handler)?;
    // Root file system.
    let lowers: Vec<PathBuf> = image
        .record
        .chain_ids
        .iter()
        .map(|c| s.images.layer_path(c))
        .collect();
    let rootfs = s.rootfs(&id);
    let (upper, work) = (s.layout.container_upper(&id), s.layout.container_work(&id));
    let target = rootfs.clone();
    blocking("mounting the root file system", move || {
        Ok(berth_image::rootfs::mount_overlay(
            &lowers, &upper, &work, &target,
        ))
    })
    .await?
    .map_err(failed(&id, "mount the root file system"))?;

    // The spec.
    let made = assemble(
        Parts {
            id: &id,
            req,
            pod: &pod.network,
            image: &image.run_config,
            plan,
            pid_target,
            rootfs: &rootfs,
            pod_files: PodFiles::of(&s.layout, &pod.id),
            pod_namespaces: PodNamespaces::of(&s.layout, pod),
            cgroups_path: record.spec.cgroups_path.clone(),
        },
        host,
    )
    .map_err(refused(&req.name))?;
    record.spec.user = Some(made.user);
    record.spec.mounts = made.mounts;
    let bundle = s.bundle(&id);
    made.spec
        .save(s.layout.container_spec(&id))
        .map_err(failed(&id, "write config.json"))?;

    // The monitor, which runs the runtime's `create`.
    let log = log_path_of(record);
    if let Some(parent) = log.as_deref().and_then(Path::parent) {
        std::fs::create_dir_all(parent)
            .map_err(|e| format!("{}: {e}", parent.display()))
            .map_err(failed(&id, "create the log directory"))?;
    }
    let (monitor_bin, binary, runtime_root, state) = (
        s.helpers.monitor.clone(),
        runtime.binary().to_owned(),
        s.layout.runtime_root(&record.runtime_handler),
        s.monitor_dir(&id),
    );
    let (tty, stdin, stdin_once) = (req.tty, req.stdin, req.stdin_once);
    let (oci_id, systemd_cgroup) = (id.clone(), s.systemd_cgroup());
    let pid = blocking("creating the container", move || {
        monitor::spawn(&monitor::Launch {
            monitor: &monitor_bin,
            id: &oci_id,
            bundle: &bundle,
            runtime: &binary,
            runtime_root: &runtime_root,
            state: &state,
            log_path: log.as_deref(),
            tty,
            stdin,
            stdin_once,
            systemd_cgroup,
        })
        .map_err(|reason| Error::container_runtime(&oci_id, "create the container", reason))
    })
    .await?;
    record.pid = pid;
    record.spec.memory_cgroup = host.memory_cgroup(pid).unwrap_or_default();
    Ok(())
}

fn log_path_of(record: &ContainerRecord) -> Option<PathBuf> {
    (!record.log_path.is_empty()).then(|| PathBuf::from(&record.log_path))
}

/// The request's own content is refused: InvalidArgument, naming the container.
fn refused<E: Into<crate::Cause>>(name: &str) -> impl FnOnce(E) -> Error + '_ {
    move |e| Error::Refused {
        object: format!("container {name:?}"),
        source: e.into(),
    }
}

/// A step of making container `id` failed: Internal, naming the container once.
fn failed<'a, E: Into<crate::Cause>>(
    id: &'a str,
    step: &'static str,
) -> impl FnOnce(E) -> Error + 'a {
    move |e| Error::container(id, step, e)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A root file system that cannot be mounted: the message says "container <id>" once
    /// (it once read "container X: mount…: container : mount…").
    #[test]
    fn a_failed_step_names_the_container_once() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let cause =
            berth_image::rootfs::mount_overlay(&[], &d.join("u"), &d.join("w"), &d.join("r"))
                .unwrap_err();
        let message = failed("c0ffee", "mount the root file system")(cause).to_string();
        assert!(
            message.starts_with("container c0ffee: mount the root file system: "),
            "{message}"
        );
        assert_eq!(message.matches("container").count(), 1, "{message}");
    }
}
