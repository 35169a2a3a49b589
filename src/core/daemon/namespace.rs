//! Namespaces: create (with labels), list and delete, as containerd's Go
//! `NamespaceService` does. A client works in one namespace; these calls
//! name the namespace they act on instead.

use std::collections::HashMap;

use crate::api::services::namespaces::v1 as namespaces;
use crate::core::daemon::client::Client;
use crate::core::daemon::ident;
use crate::core::daemon::ident::parse_labels;
use crate::core::error::Result;

/// A namespace as containerd stores it: its name and labels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Namespace {
    pub name: String,
    pub labels: HashMap<String, String>,
}

fn what(verb: &str, name: &str) -> String {
    format!("{verb} namespace {}", ident::shown(name))
}

/// Checks a new namespace's name (containerd's identifier rule) and its
/// `key=value` labels (no empty key, no key twice) and makes the request to
/// send. No I/O.
pub fn create_request(name: &str, labels: &[String]) -> Result<namespaces::CreateNamespaceRequest> {
    ident::validate("namespace", name)?;
    let labels = parse_labels(labels).map_err(|e| e.context(what("create", name)))?;
    Ok(namespaces::CreateNamespaceRequest {
        namespace: Some(namespaces::Namespace {
            name: name.to_string(),
            labels,
        }),
    })
}

/// Checks the name of a namespace to delete and makes the request. No I/O.
pub fn delete_request(name: &str) -> Result<namespaces::DeleteNamespaceRequest> {
    ident::validate("namespace", name)?;
    Ok(namespaces::DeleteNamespaceRequest {
        name: name.to_string(),
    })
}

impl Client {
    /// Sends a request from [`create_request`]. The daemon answers
    /// `AlreadyExists` for a name in use.
    pub async fn send_create_namespace(
        &self,
        req: namespaces::CreateNamespaceRequest,
    ) -> Result<Namespace> {
        let name = req
            .namespace
            .as_ref()
            .map(|n| n.name.clone())
            .unwrap_or_default();
        let what = what("create", &name);
        self.check_request_size(&what, &req)?;
        let resp = self
            .call(&what, self.namespaces().create(self.request(req)))
            .await?;
        let ns = resp.namespace.unwrap_or_default();
        Ok(Namespace {
            name: if ns.name.is_empty() { name } else { ns.name },
            labels: ns.labels,
        })
    }

    /// Creates namespace `name` with `key=value` labels.
    pub async fn create_namespace(&self, name: &str, labels: &[String]) -> Result<Namespace> {
        let req = create_request(name, labels)?;
        self.send_create_namespace(req).await
    }

    /// Every namespace of the daemon, in the daemon's order (by name).
    pub async fn list_namespaces(&self) -> Result<Vec<Namespace>> {
        let req = namespaces::ListNamespacesRequest::default();
        let resp = self
            .call("list namespaces", self.namespaces().list(self.request(req)))
            .await?;
        Ok(resp
            .namespaces
            .into_iter()
            .map(|n| Namespace {
                name: n.name,
                labels: n.labels,
            })
            .collect())
    }

    /// Sends a request from [`delete_request`]. The daemon refuses a
    /// namespace that still holds anything (containers, images, content,
    /// snapshots, leases) with `FailedPrecondition`, naming what is left, and
    /// answers `NotFound` for a missing one.
    pub async fn send_delete_namespace(
        &self,
        req: namespaces::DeleteNamespaceRequest,
    ) -> Result<()> {
        let what = what("delete", &req.name);
        self.call(&what, self.namespaces().delete(self.request(req)))
            .await?;
        Ok(())
    }

    /// Deletes the empty namespace `name`.
    pub async fn delete_namespace(&self, name: &str) -> Result<()> {
        let req = delete_request(name)?;
        self.send_delete_namespace(req).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::Code;

    fn labels(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn a_create_request_carries_name_and_labels() {
        let req = create_request("team-a", &labels(&["owner=me", "tier=", "x=a=b"])).unwrap();
        let ns = req.namespace.unwrap();
        assert_eq!(ns.name, "team-a");
        assert_eq!(ns.labels.len(), 3);
        assert_eq!(ns.labels["owner"], "me");
        assert_eq!(ns.labels["tier"], "");
        assert_eq!(ns.labels["x"], "a=b");
    }

    #[test]
    fn bad_names_and_labels_are_refused_with_the_reason() {
        for (name, items, want) in [
            ("", vec![], "invalid namespace \"\": must not be empty"),
            ("a b", vec![], "invalid namespace \"a b\": character ' '"),
            ("-a", vec![], "invalid namespace \"-a\": must start"),
            (
                "ok",
                vec!["novalue"],
                "create namespace \"ok\": label \"novalue\" is not key=value",
            ),
            (
                "ok",
                vec!["=v"],
                "create namespace \"ok\": label \"=v\" has an empty key",
            ),
            (
                "ok",
                vec!["k=1", "k=2"],
                "create namespace \"ok\": label key \"k\" is given twice",
            ),
        ] {
            let e = create_request(name, &labels(&items)).unwrap_err();
            assert_eq!(e.code, Code::InvalidArgument);
            assert!(e.message.starts_with(want), "{}", e.message);
        }
        let e = delete_request(&"x".repeat(77)).unwrap_err();
        assert_eq!(e.code, Code::InvalidArgument);
        assert!(e.message.contains("longer than 76"), "{}", e.message);
        delete_request("k8s.io").unwrap();
    }
}
