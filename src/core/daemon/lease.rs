//! Leases: what keeps content and snapshots from containerd's garbage
//! collector while nothing else refers to them.

use std::time::{Duration, SystemTime};

use sha2::{Digest, Sha256};

use crate::api::services::leases::v1 as leases;
use crate::core::daemon::client::Client;
use crate::core::daemon::ident::shown;
use crate::core::error::{Code, Result};

/// How long a prepared snapshot's lease protects it when no container ever
/// refers to it (as containerd's Go client's default lease).
const LEASE_EXPIRY: Duration = Duration::from_secs(24 * 3600);

/// The id of the lease that protects snapshot `key` of `snapshotter` until a
/// container refers to it: derived from both, so it can be found again.
pub fn snapshot_lease_id(snapshotter: &str, key: &str) -> String {
    let hash = Sha256::digest(format!("{snapshotter}\0{key}").as_bytes());
    format!("containerd-c.snapshot.{}", &format!("{hash:x}")[..32])
}
impl Client {
    /// Makes lease `id` that expires after a day; `false` when it existed.
    pub async fn create_lease(&self, id: &str) -> Result<bool> {
        let expires = humantime::format_rfc3339_seconds(SystemTime::now() + LEASE_EXPIRY);
        let req = leases::CreateRequest {
            id: id.to_string(),
            labels: [("containerd.io/gc.expire".to_string(), expires.to_string())].into(),
        };
        match self
            .call(
                format!("create lease {id:?}"),
                self.leases().create(self.request(req)),
            )
            .await
        {
            Ok(_) => Ok(true),
            Err(e) if e.code == Code::AlreadyExists => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Puts snapshot `key` of `snapshotter` under its lease (see
    /// [`snapshot_lease_id`], a day long) so that the garbage collector keeps
    /// it while nothing else refers to it.
    pub async fn protect_snapshot(&self, snapshotter: &str, key: &str) -> Result<()> {
        let lease = snapshot_lease_id(snapshotter, key);
        self.create_lease(&lease).await?;
        let req = leases::AddResourceRequest {
            id: lease.clone(),
            resource: Some(leases::Resource {
                id: key.to_string(),
                r#type: format!("snapshots/{snapshotter}"),
            }),
        };
        let what = format!(
            "protect snapshot {} of {} with lease {lease:?}",
            shown(key),
            shown(snapshotter)
        );
        self.call(what, self.leases().add_resource(self.request(req)))
            .await?;
        Ok(())
    }

    /// Puts everything lease `from` holds (content, ingests, snapshots)
    /// under lease `to` too, making `to` (a day long) if it is new. Returns
    /// how many resources there were.
    pub async fn copy_lease_resources(&self, from: &str, to: &str) -> Result<usize> {
        let req = leases::ListResourcesRequest {
            id: from.to_string(),
        };
        let resources = self
            .call(
                format!("list the resources of lease {from:?}"),
                self.leases().list_resources(self.request(req)),
            )
            .await?
            .resources;
        if resources.is_empty() {
            return Ok(0);
        }
        self.create_lease(to).await?;
        for resource in &resources {
            let req = leases::AddResourceRequest {
                id: to.to_string(),
                resource: Some(resource.clone()),
            };
            self.call(
                format!(
                    "add {} {} to lease {to:?}",
                    resource.r#type,
                    shown(&resource.id)
                ),
                self.leases().add_resource(self.request(req)),
            )
            .await?;
        }
        Ok(resources.len())
    }

    /// Deletes lease `id`; one already gone is no error.
    pub async fn delete_lease(&self, id: &str) -> Result<()> {
        self.delete_lease_with(id, false).await
    }

    /// Deletes lease `id`; with `sync` the daemon answers after its garbage
    /// collector ran (what only the lease kept is gone then). One already
    /// gone is no error.
    pub async fn delete_lease_with(&self, id: &str, sync: bool) -> Result<()> {
        let req = leases::DeleteRequest {
            id: id.to_string(),
            sync,
        };
        match self
            .call(
                format!("delete lease {id:?}"),
                self.leases().delete(self.request(req)),
            )
            .await
        {
            Err(e) if e.code != Code::NotFound => Err(e),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lease_ids_are_valid_identifiers_and_stable() {
        let id = snapshot_lease_id("overlayfs", "some/key with spaces");
        crate::core::daemon::ident::validate("lease", &id).unwrap();
        assert_eq!(id, snapshot_lease_id("overlayfs", "some/key with spaces"));
        assert_ne!(id, snapshot_lease_id("native", "some/key with spaces"));
    }
}
