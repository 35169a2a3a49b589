//! The steps of `Client::unpack` against a fake daemon (snapshot, diff and
//! content services in process) for what a real one does only in a race: a
//! lower layer found unpacked and then taken by the garbage collector before
//! the layer above is prepared (the unpack goes down and makes it again,
//! counting each layer once), extraction keys already taken (another key),
//! an extraction that fails (its snapshot removed, the layer named), and a
//! parent that keeps vanishing (a bounded number of steps back, then the
//! daemon's not found).

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use common::*;
use containerd_c::api::services::content::v1 as content;
use containerd_c::api::services::diff::v1 as diff;
use containerd_c::api::services::snapshots::v1 as snapshots;
use containerd_c::api::types::{Descriptor, Mount};
use containerd_c::core::image::progress::Progress;
use containerd_c::core::image::walk::PlatformContent;
use containerd_c::core::Result;
use containerd_c::core::{Client, Code};
use containerd_c::runtime::block_on;
use sha2::{Digest, Sha256};
use tonic::codegen::http;
use tonic::{Request, Response, Status};

type Reply<T> = Result<Response<T>, Status>;
type Stream<T> = tokio_stream::Iter<std::vec::IntoIter<Result<T, Status>>>;

fn sha256(bytes: &[u8]) -> String {
    let hex: String = Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("sha256:{hex}")
}

#[derive(Default)]
struct State {
    /// Committed snapshots: name → parent.
    committed: HashMap<String, String>,
    /// Active snapshots: key → parent.
    active: HashMap<String, String>,
    config_digest: String,
    config: Vec<u8>,
    /// Layer blob digest → the digest its extraction reports.
    applied: HashMap<String, String>,
    /// A stat that finds this name then removes these (a collection).
    vanish_after_stat: HashMap<String, Vec<String>>,
    /// Prepares to refuse with "already exists".
    taken: usize,
    /// Every prepare with a parent finds it missing.
    parents_missing: bool,
    /// The layer whose extraction fails.
    fail_apply: Option<String>,
    /// Content labels set: digest → labels.
    labels: HashMap<String, HashMap<String, String>>,
    /// What was called: "stat NAME", "prepare KEY|PARENT", "apply DIGEST",
    /// "commit NAME", "remove KEY".
    log: Vec<String>,
}

#[derive(Clone, Default)]
struct Fake(Arc<Mutex<State>>);

impl Fake {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.0.lock().unwrap()
    }
}

#[tonic::async_trait]
impl snapshots::snapshots_server::Snapshots for Fake {
    async fn prepare(
        &self,
        req: Request<snapshots::PrepareSnapshotRequest>,
    ) -> Reply<snapshots::PrepareSnapshotResponse> {
        let r = req.into_inner();
        let mut s = self.state();
        s.log.push(format!("prepare {}|{}", r.key, r.parent));
        assert_eq!(
            r.labels["containerd.io/snapshot.ref"],
            r.key[r.key.len() - 71..]
        );
        if s.taken > 0 {
            s.taken -= 1;
            return Err(Status::already_exists(format!(
                "snapshot {}: already exists",
                r.key
            )));
        }
        if !r.parent.is_empty() && (s.parents_missing || !s.committed.contains_key(&r.parent)) {
            return Err(Status::not_found(format!(
                "parent snapshot {} does not exist: not found",
                r.parent
            )));
        }
        s.active.insert(r.key.clone(), r.parent);
        Ok(Response::new(snapshots::PrepareSnapshotResponse {
            mounts: vec![Mount {
                r#type: "bind".into(),
                source: format!("/fake/{}", r.key),
                target: String::new(),
                options: vec!["rbind".into(), "rw".into()],
            }],
        }))
    }

    async fn view(
        &self,
        _: Request<snapshots::ViewSnapshotRequest>,
    ) -> Reply<snapshots::ViewSnapshotResponse> {
        Err(Status::unimplemented("view"))
    }

    async fn mounts(
        &self,
        _: Request<snapshots::MountsRequest>,
    ) -> Reply<snapshots::MountsResponse> {
        Err(Status::unimplemented("mounts"))
    }

    async fn commit(&self, req: Request<snapshots::CommitSnapshotRequest>) -> Reply<()> {
        let r = req.into_inner();
        let mut s = self.state();
        s.log.push(format!("commit {}", r.name));
        if s.committed.contains_key(&r.name) {
            return Err(Status::already_exists(format!(
                "snapshot {}: already exists",
                r.name
            )));
        }
        let parent = s
            .active
            .remove(&r.key)
            .ok_or_else(|| Status::not_found(format!("snapshot {} does not exist", r.key)))?;
        s.committed.insert(r.name, parent);
        Ok(Response::new(()))
    }

    async fn remove(&self, req: Request<snapshots::RemoveSnapshotRequest>) -> Reply<()> {
        let r = req.into_inner();
        let mut s = self.state();
        s.log.push(format!("remove {}", r.key));
        match s.active.remove(&r.key).or(s.committed.remove(&r.key)) {
            Some(_) => Ok(Response::new(())),
            None => Err(Status::not_found(format!(
                "snapshot {} does not exist",
                r.key
            ))),
        }
    }

    async fn stat(
        &self,
        req: Request<snapshots::StatSnapshotRequest>,
    ) -> Reply<snapshots::StatSnapshotResponse> {
        let r = req.into_inner();
        let mut s = self.state();
        s.log.push(format!("stat {}", r.key));
        let Some(parent) = s.committed.get(&r.key).cloned() else {
            return Err(Status::not_found(format!(
                "snapshot {} does not exist: not found",
                r.key
            )));
        };
        for gone in s.vanish_after_stat.remove(&r.key).unwrap_or_default() {
            s.committed.remove(&gone);
        }
        Ok(Response::new(snapshots::StatSnapshotResponse {
            info: Some(snapshots::Info {
                name: r.key,
                parent,
                kind: snapshots::Kind::Committed as i32,
                ..Default::default()
            }),
        }))
    }

    async fn update(
        &self,
        _: Request<snapshots::UpdateSnapshotRequest>,
    ) -> Reply<snapshots::UpdateSnapshotResponse> {
        Err(Status::unimplemented("update"))
    }

    type ListStream = Stream<snapshots::ListSnapshotsResponse>;

    async fn list(&self, _: Request<snapshots::ListSnapshotsRequest>) -> Reply<Self::ListStream> {
        Err(Status::unimplemented("list"))
    }

    async fn usage(&self, _: Request<snapshots::UsageRequest>) -> Reply<snapshots::UsageResponse> {
        Err(Status::unimplemented("usage"))
    }

    async fn cleanup(&self, _: Request<snapshots::CleanupRequest>) -> Reply<()> {
        Err(Status::unimplemented("cleanup"))
    }
}

#[tonic::async_trait]
impl diff::diff_server::Diff for Fake {
    async fn apply(&self, req: Request<diff::ApplyRequest>) -> Reply<diff::ApplyResponse> {
        let r = req.into_inner();
        let layer = r.diff.expect("a layer descriptor");
        let mut s = self.state();
        s.log.push(format!("apply {}", layer.digest));
        assert_eq!(r.mounts.len(), 1, "the prepared snapshot's mounts");
        assert!(
            s.active.contains_key(&r.mounts[0].source[6..]),
            "mounts of an active snapshot"
        );
        if s.fail_apply.as_deref() == Some(layer.digest.as_str()) {
            return Err(Status::unknown("boom: cannot extract this"));
        }
        let digest = s.applied[&layer.digest].clone();
        Ok(Response::new(diff::ApplyResponse {
            applied: Some(Descriptor {
                media_type: "application/vnd.oci.image.layer.v1.tar".into(),
                digest,
                size: 1,
                annotations: Default::default(),
            }),
        }))
    }

    async fn diff(&self, _: Request<diff::DiffRequest>) -> Reply<diff::DiffResponse> {
        Err(Status::unimplemented("diff"))
    }
}

#[tonic::async_trait]
impl content::content_server::Content for Fake {
    async fn info(&self, _: Request<content::InfoRequest>) -> Reply<content::InfoResponse> {
        Err(Status::unimplemented("info"))
    }

    async fn update(&self, req: Request<content::UpdateRequest>) -> Reply<content::UpdateResponse> {
        let r = req.into_inner();
        let info = r.info.unwrap_or_default();
        let mut s = self.state();
        s.labels
            .entry(info.digest.clone())
            .or_default()
            .extend(info.labels.clone());
        Ok(Response::new(content::UpdateResponse { info: Some(info) }))
    }

    type ListStream = Stream<content::ListContentResponse>;

    async fn list(&self, _: Request<content::ListContentRequest>) -> Reply<Self::ListStream> {
        Err(Status::unimplemented("list"))
    }

    async fn delete(&self, _: Request<content::DeleteContentRequest>) -> Reply<()> {
        Err(Status::unimplemented("delete"))
    }

    type ReadStream = Stream<content::ReadContentResponse>;

    async fn read(&self, req: Request<content::ReadContentRequest>) -> Reply<Self::ReadStream> {
        let r = req.into_inner();
        let s = self.state();
        if r.digest != s.config_digest {
            return Err(Status::not_found(format!(
                "content digest {}: not found",
                r.digest
            )));
        }
        let chunk = content::ReadContentResponse {
            offset: 0,
            data: s.config.clone(),
        };
        Ok(Response::new(tokio_stream::iter(vec![Ok(chunk)])))
    }

    async fn status(&self, _: Request<content::StatusRequest>) -> Reply<content::StatusResponse> {
        Err(Status::unimplemented("status"))
    }

    async fn list_statuses(
        &self,
        _: Request<content::ListStatusesRequest>,
    ) -> Reply<content::ListStatusesResponse> {
        Err(Status::unimplemented("list_statuses"))
    }

    type WriteStream = Stream<content::WriteContentResponse>;

    async fn write(
        &self,
        _: Request<tonic::Streaming<content::WriteContentRequest>>,
    ) -> Reply<Self::WriteStream> {
        Err(Status::unimplemented("write"))
    }

    async fn abort(&self, _: Request<content::AbortRequest>) -> Reply<()> {
        Err(Status::unimplemented("abort"))
    }
}

/// A fake daemon serving `fake`'s three services.
fn serve(fake: &Fake) -> FakeServer {
    let sn = snapshots::snapshots_server::SnapshotsServer::new(fake.clone());
    let df = diff::diff_server::DiffServer::new(fake.clone());
    let ct = content::content_server::ContentServer::new(fake.clone());
    let svc = tower::service_fn(move |req: http::Request<tonic::body::Body>| {
        let (mut sn, mut df, mut ct) = (sn.clone(), df.clone(), ct.clone());
        async move {
            let path = req.uri().path();
            if path.starts_with("/containerd.services.snapshots.") {
                tower::Service::call(&mut sn, req).await
            } else if path.starts_with("/containerd.services.diff.") {
                tower::Service::call(&mut df, req).await
            } else {
                tower::Service::call(&mut ct, req).await
            }
        }
    });
    FakeServer::start(svc)
}

/// An image of `n` layers: its content (as `platform_content` gives it),
/// the diff ids and the chain ids; `fake` holds its config and knows each
/// layer's diff id.
fn image(fake: &Fake, n: usize) -> (PlatformContent, Vec<String>, Vec<String>) {
    let diff_ids: Vec<String> = (0..n)
        .map(|k| sha256(format!("diff {k}").as_bytes()))
        .collect();
    let mut chains: Vec<String> = Vec::new();
    for d in &diff_ids {
        let next = match chains.last() {
            None => d.clone(),
            Some(prev) => sha256(format!("{prev} {d}").as_bytes()),
        };
        chains.push(next);
    }
    let config = serde_json::to_vec(&serde_json::json!({
        "architecture": "amd64", "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    }))
    .unwrap();
    let desc = |media_type: &str, digest: String, size: usize| Descriptor {
        media_type: media_type.into(),
        digest,
        size: size as i64,
        annotations: Default::default(),
    };
    let config_desc = desc(
        "application/vnd.oci.image.config.v1+json",
        sha256(&config),
        config.len(),
    );
    let layers: Vec<Descriptor> = (0..n)
        .map(|k| {
            desc(
                "application/vnd.oci.image.layer.v1.tar+gzip",
                sha256(format!("blob {k}").as_bytes()),
                100,
            )
        })
        .collect();
    let mut s = fake.state();
    s.config_digest = config_desc.digest.clone();
    s.config = config;
    for (l, d) in layers.iter().zip(&diff_ids) {
        s.applied.insert(l.digest.clone(), d.clone());
    }
    let content = PlatformContent {
        manifest: desc(
            "application/vnd.oci.image.manifest.v1+json",
            sha256(b"manifest"),
            10,
        ),
        config: config_desc,
        layers,
        walked: Vec::new(),
    };
    (content, diff_ids, chains)
}

fn client(server: &FakeServer) -> Arc<Client> {
    Arc::new(Client::connect(Some(&server.address()), Some("default")).unwrap())
}

/// Unpacks `content` on snapshotter "fake-sn" as the library's blocking
/// calls run it ([`block_on`]).
fn unpack(
    c: &Arc<Client>,
    content: &PlatformContent,
    lease: Option<&str>,
    progress: Option<&Arc<Progress>>,
) -> Result<()> {
    let (c, content) = (c.clone(), content.clone());
    let (lease, progress) = (lease.map(str::to_string), progress.cloned());
    block_on(async move {
        c.unpack(&content, "fake-sn", lease.as_deref(), progress.as_deref())
            .await
    })
}

/// The log entries starting with `what `, without it.
fn calls(fake: &Fake, what: &str) -> Vec<String> {
    let prefix = format!("{what} ");
    fake.state()
        .log
        .iter()
        .filter_map(|l| l.strip_prefix(&prefix).map(str::to_string))
        .collect()
}

#[test]
fn layers_collected_after_they_were_found_are_made_again_and_counted_once() {
    let fake = Fake::default();
    let (content, diff_ids, chains) = image(&fake, 5);
    {
        let mut s = fake.state();
        for k in 0..4 {
            let parent = if k == 0 { "" } else { &chains[k - 1] };
            s.committed.insert(chains[k].clone(), parent.to_string());
        }
        // Found, then the 3rd and 4th layers go.
        s.vanish_after_stat.insert(
            chains[3].clone(),
            vec![chains[2].clone(), chains[3].clone()],
        );
    }
    let server = serve(&fake);
    let c = client(&server);
    let progress = Arc::new(Progress::new());
    unpack(&c, &content, None, Some(&progress)).unwrap();

    let p = progress.snapshot();
    assert_eq!((p.layers_done, p.layers_total), (5, 5));
    let l = &content.layers;
    assert_eq!(
        calls(&fake, "apply"),
        [
            l[2].digest.clone(),
            l[3].digest.clone(),
            l[4].digest.clone()
        ]
    );
    assert_eq!(calls(&fake, "commit"), chains[2..]);
    // Prepared on the missing parent (refused), one lower, and so on.
    let parents: Vec<String> = calls(&fake, "prepare")
        .iter()
        .map(|p| p.split_once('|').unwrap().1.to_string())
        .collect();
    assert_eq!(parents, [3, 2, 1, 2, 3].map(|k| chains[k].clone()));
    let s = fake.state();
    assert!(s.active.is_empty(), "{:?}", s.active);
    for (k, chain) in chains.iter().enumerate() {
        let parent = if k == 0 { "" } else { &chains[k - 1] };
        assert_eq!(s.committed[chain], parent, "layer {k}");
    }
    assert_eq!(
        s.labels[&content.config.digest]["containerd.io/gc.ref.snapshot.fake-sn"],
        chains[4]
    );
    for k in 2..5 {
        assert_eq!(
            s.labels[&l[k].digest]["containerd.io/uncompressed"],
            diff_ids[k]
        );
    }
    assert!(!s.labels.contains_key(&l[0].digest), "found, not extracted");
}

#[test]
fn taken_keys_get_another_and_a_failed_extraction_is_removed() {
    let fake = Fake::default();
    let (content, _, chains) = image(&fake, 2);
    let l = content.layers.clone();
    {
        let mut s = fake.state();
        s.taken = 2;
        s.fail_apply = Some(l[1].digest.clone());
    }
    let server = serve(&fake);
    let c = client(&server);
    let e = unpack(&c, &content, Some("a-lease"), None).unwrap_err();
    assert_eq!(e.code, Code::Unknown, "{e}");
    for part in [
        format!("unpack manifest {}", content.manifest.digest),
        "on snapshotter \"fake-sn\"".to_string(),
        format!("layer 2 of 2 ({})", l[1].digest),
        "boom: cannot extract this".to_string(),
    ] {
        assert!(e.message.contains(&part), "{part:?} not in {:?}", e.message);
    }
    // Three keys for the first layer (two taken), each of Go's form.
    let keys: Vec<String> = calls(&fake, "prepare")
        .iter()
        .map(|p| p.split_once('|').unwrap().0.to_string())
        .collect();
    assert_eq!(keys.len(), 4);
    for key in &keys[..3] {
        assert!(key.starts_with("extract-"), "{key}");
        assert!(key.ends_with(&format!(" {}", chains[0])), "{key}");
    }
    assert!(keys[0] != keys[1] && keys[1] != keys[2]);
    // The second layer's snapshot was removed, the first stays committed,
    // and the config was not labelled.
    assert_eq!(calls(&fake, "remove"), [keys[3].clone()]);
    let s = fake.state();
    assert!(s.active.is_empty());
    assert_eq!(s.committed.keys().collect::<Vec<_>>(), [&chains[0]]);
    assert!(!s.labels.contains_key(&content.config.digest));
}

#[test]
fn keys_taken_every_time_and_parents_that_keep_vanishing_end_in_errors() {
    let fake = Fake::default();
    let (content, _, _) = image(&fake, 2);
    fake.state().taken = 100;
    let server = serve(&fake);
    let c = client(&server);
    let e = unpack(&c, &content, None, None).unwrap_err();
    assert_eq!(e.code, Code::AlreadyExists, "{e}");
    assert_eq!(calls(&fake, "prepare").len(), 3);

    let fake = Fake::default();
    let (content, _, chains) = image(&fake, 3);
    fake.state().parents_missing = true;
    let server = serve(&fake);
    let c = client(&server);
    let progress = Arc::new(Progress::new());
    let e = unpack(&c, &content, None, Some(&progress)).unwrap_err();
    assert_eq!(e.code, Code::NotFound, "{e}");
    assert!(e.message.contains("layer 2 of 3"), "{}", e.message);
    assert!(
        e.message
            .contains(&format!("parent snapshot {} does not exist", chains[0])),
        "{}",
        e.message
    );
    // Down to the first layer (there) and up again, as many times as there
    // are layers, then the error.
    assert_eq!(calls(&fake, "prepare").len(), 1 + 4);
    assert_eq!(progress.snapshot().layers_done, 1);
    assert!(fake.state().active.is_empty());
}
