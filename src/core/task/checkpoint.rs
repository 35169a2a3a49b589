//! Checkpoints of tasks: writing a checkpoint image (containerd's Go
//! `Task.Checkpoint`), finding the checkpoint in one, and the deferred create
//! of a task restored from it.

use std::sync::{Mutex, PoisonError};
use std::time::SystemTime;

use crate::api::types::Descriptor;
use crate::core::daemon::client::Client;
use crate::core::daemon::ident::shown;
use crate::core::error::{Error, Result};
use crate::core::image::oci::OCI_INDEX;
use crate::core::image::platform::platform;
use crate::core::stdio::fifo::IoPaths;

/// Media type of containerd's CRIU checkpoint of a task.
pub const CHECKPOINT_MEDIA_TYPE: &str =
    "application/vnd.containerd.container.criu.checkpoint.criu.tar";

impl Client {
    /// Checkpoints the task of `container_id` (paused meanwhile) into a new
    /// checkpoint image `image_name`: an index of the descriptors the runtime
    /// wrote, labelled `containerd.io/checkpoint=true`, as the Go client's
    /// `Task.Checkpoint`.
    pub async fn checkpoint_task(&self, container_id: &str, image_name: &str) -> Result<()> {
        use crate::api::services::images::v1::{CreateImageRequest, Image};
        use crate::api::services::tasks::v1::CheckpointTaskRequest;
        let lease = format!(
            "containerd-c.checkpoint.{}",
            SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .unwrap_or_default()
                .as_nanos()
        );
        self.create_lease(&lease).await?;
        let result = async {
            self.pause_task(container_id).await?;
            let req = CheckpointTaskRequest {
                container_id: container_id.to_string(),
                ..Default::default()
            };
            let checkpointed = self
                .call(
                    format!("checkpoint task {}", shown(container_id)),
                    self.tasks()
                        .checkpoint(self.request_with_lease(req, &lease)?),
                )
                .await;
            let resumed = self.resume_task(container_id).await;
            let descriptors = checkpointed?.descriptors;
            resumed?;
            let (arch, _) = platform();
            let manifests: Vec<serde_json::Value> = descriptors
                .iter()
                .map(|d| {
                    serde_json::json!({
                        "mediaType": d.media_type, "digest": d.digest, "size": d.size,
                        "platform": {"os": "linux", "architecture": arch},
                    })
                })
                .collect();
            let index = serde_json::json!({"schemaVersion": 2, "manifests": manifests});
            let labels = descriptors
                .iter()
                .enumerate()
                .map(|(i, d)| {
                    (
                        format!("containerd.io/gc.ref.content.m.{i}"),
                        d.digest.clone(),
                    )
                })
                .collect();
            let data = index.to_string().into_bytes();
            let size = data.len() as i64;
            let digest = self.write_blob(&lease, data, labels).await?;
            let image = Image {
                name: image_name.to_string(),
                labels: [("containerd.io/checkpoint".to_string(), "true".to_string())].into(),
                target: Some(Descriptor {
                    media_type: OCI_INDEX.to_string(),
                    digest,
                    size,
                    annotations: Default::default(),
                }),
                ..Default::default()
            };
            let req = CreateImageRequest { image: Some(image) };
            self.call(
                format!("create checkpoint image {}", shown(image_name)),
                self.images().create(self.request(req)),
            )
            .await?;
            Ok(())
        }
        .await;
        let _ = self.delete_lease(&lease).await;
        result
    }

    /// The task checkpoint in checkpoint image `image_name` (made by
    /// [`Client::checkpoint_task`] or `ctr tasks checkpoint`).
    pub async fn checkpoint_descriptor(&self, image_name: &str) -> Result<Descriptor> {
        let what = format!(
            "checkpoint image {} in namespace {}",
            shown(image_name),
            shown(self.namespace())
        );
        let image = self.image_target(&what, image_name).await?;
        let index: serde_json::Value = self.read_json("checkpoint index", &image).await?;
        let found = index["manifests"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|m| m["mediaType"] == CHECKPOINT_MEDIA_TYPE)
            .ok_or_else(|| {
                Error::invalid(format!(
                    "{what}: it holds no task checkpoint ({CHECKPOINT_MEDIA_TYPE})"
                ))
            })?;
        Ok(Descriptor {
            media_type: CHECKPOINT_MEDIA_TYPE.to_string(),
            digest: found["digest"].as_str().unwrap_or_default().to_string(),
            size: found["size"].as_i64().unwrap_or_default(),
            annotations: Default::default(),
        })
    }
}

/// What is left to do of a task restored from a checkpoint. As containerd's
/// Go client does, such a task is created only when it is started; runc
/// restores the checkpoint at start, after the create.
#[derive(Debug, Clone)]
enum Restore {
    /// Create the task from the checkpoint with this stdio, then start it.
    Create { io: IoPaths, checkpoint: Descriptor },
    /// Created already: only the start (the restore) is left.
    Start,
}

/// The deferred create of a task restored from a checkpoint, held by the
/// task's handle until its start succeeds.
#[derive(Debug, Default)]
pub struct DeferredRestore(Mutex<Option<Restore>>);

/// A step of a deferred restore, taken out of its [`DeferredRestore`] for one
/// start attempt; see [`DeferredRestore::take`].
#[derive(Debug)]
pub struct RestoreStep(Restore);

impl DeferredRestore {
    /// A task to create from `checkpoint` with stdio `io` at its start.
    pub fn new(io: IoPaths, checkpoint: Descriptor) -> DeferredRestore {
        DeferredRestore(Mutex::new(Some(Restore::Create { io, checkpoint })))
    }

    /// Takes what is left to do, for one start attempt (`None`: nothing is
    /// deferred, the task is started as any other). The lock is held only
    /// for this: a start attempt that fails hands back what it did not do
    /// with [`DeferredRestore::put_back`].
    pub fn take(&self) -> Option<RestoreStep> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
            .map(RestoreStep)
    }

    /// Puts back what a failed start attempt did not do.
    pub fn put_back(&self, step: RestoreStep) {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = Some(step.0);
    }
}

impl Client {
    /// Starts task `container_id`, doing first what `step` says is left of
    /// its deferred restore. On failure returns the error and what is still
    /// left: after the create succeeded only the start is retried (a second
    /// create would find the task there already).
    pub async fn start_restored(
        &self,
        container_id: &str,
        step: RestoreStep,
    ) -> std::result::Result<u32, (Error, RestoreStep)> {
        if let Restore::Create { io, checkpoint } = &step.0 {
            if let Err(e) = self
                .create_task(container_id, io, None, Some(checkpoint.clone()))
                .await
            {
                return Err((e, step));
            }
        }
        self.start_process(container_id, "")
            .await
            .map_err(|e| (e, RestoreStep(Restore::Start)))
    }
}
