//! Pushing an image record to a registry, as containerd's `ctr images push`
//! does, by the library itself: the one walk (`walk`) over the content
//! store finds what the image holds; what is pushed is the platforms whose
//! content is all there (or the one asked for); the registry's upload flow
//! is `registry`'s. Blobs go first (those the registry has are not sent;
//! a blob pulled from another repository of the same registry is mounted
//! from there), streamed from the content store; then the manifests, then
//! the indexes above them, the image's target last, under the tag.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use futures_util::{StreamExt, TryStreamExt};
use hyper::body::Bytes;

use crate::api::types::Descriptor;
use crate::core::cancel::{Cancel, Stop};
use crate::core::daemon::client::Client;
use crate::core::error::{Code, Error, Result};
use crate::core::image::content::StoreBlobs;
use crate::core::image::oci::{is_layer, JsonDescriptor};
use crate::core::image::platform::PlatformSpec;
use crate::core::image::progress::{Phase, Progress};
use crate::core::image::records::validate_name;
use crate::core::image::walk::{walk, Blobs, Node, Walked};
use crate::core::registry::http::BodyStream;
use crate::core::registry::{CallLimits, ImageRef, Remote, RemoteOptions, Upload};

/// How to push an image; `Default` pushes every platform whose content is
/// in the store, over https, with the docker config's credentials.
#[derive(Debug, Clone, Default)]
pub struct PushOptions {
    /// "os/arch[/variant]": push only that platform's manifest (as the
    /// tag's target, as `ctr images push --platform` does); `None` = every
    /// platform whose content is present.
    pub platform: Option<String>,
    /// How to reach the registry (credentials, TLS, host directories).
    pub remote: RemoteOptions,
    /// Cuts the call short when triggered (`Cancelled`).
    pub cancel: Option<Cancel>,
    /// How long the whole call may take (`DeadlineExceeded` past it).
    pub timeout: Option<Duration>,
}

/// Blobs sent at once.
const CONCURRENT_UPLOADS: usize = 3;

/// The label containerd's pull puts on content: the repositories of a
/// registry it came from (`<prefix><host>` = "repo,repo").
const LABEL_SOURCE: &str = "containerd.io/distribution.source.";

/// Chunks of a blob between the content store and the upload.
const UPLOAD_QUEUE: usize = 2;

/// What the walk of the content store found of a descriptor.
#[derive(Debug)]
enum Found {
    /// Not in the content store.
    Absent,
    /// An index: its bytes and entries.
    Index(Vec<u8>, Vec<JsonDescriptor>),
    /// A manifest: its bytes, config and layers.
    Manifest(Vec<u8>, Vec<Descriptor>),
    /// A config, a layer, or an index entry of another type.
    Blob,
}

/// The content store as the source of a push's walk: every descriptor
/// below the target is entered (only the platform's path with
/// `one_platform`, where all of it must be there); what the store lacks is
/// noted and left out, with what is below it.
struct PushBlobs<'c> {
    client: &'c Client,
    what: &'c str,
    one_platform: bool,
    /// The registry's host, for the source labels.
    host: String,
    found: HashMap<String, Found>,
    /// Per blob, the repositories of `host` it was pulled from.
    sources: HashMap<String, Vec<String>>,
}

impl Blobs for PushBlobs<'_> {
    async fn read(&mut self, d: &Descriptor) -> Result<(Descriptor, Vec<u8>)> {
        StoreBlobs(self.client).read(d).await
    }

    async fn enter(&mut self, d: &Descriptor, on_path: bool) -> Result<bool> {
        let info = self
            .client
            .content_info(&d.digest)
            .await
            .map_err(|e| e.context(self.what))?;
        let Some(info) = info else {
            if on_path && self.one_platform {
                return Err(Error::new(
                    Code::NotFound,
                    format!(
                        "{}: blob {} ({}) is not in the content store",
                        self.what, d.digest, d.media_type
                    ),
                ));
            }
            self.found.insert(d.digest.clone(), Found::Absent);
            return Ok(false);
        };
        if let Some(repos) = info.labels.get(&format!("{LABEL_SOURCE}{}", self.host)) {
            let repos = repos.split(',').filter(|r| !r.is_empty());
            self.sources
                .insert(d.digest.clone(), repos.map(str::to_string).collect());
        }
        Ok(true)
    }

    async fn found(
        &mut self,
        d: &Descriptor,
        bytes: &[u8],
        node: Node<'_>,
        _on_path: bool,
    ) -> Result<()> {
        let found = match node {
            Node::Index { manifests, .. } => Found::Index(bytes.to_vec(), manifests.to_vec()),
            Node::Manifest { config, layers } => Found::Manifest(
                bytes.to_vec(),
                std::iter::once(config).chain(layers).cloned().collect(),
            ),
            Node::Config | Node::Layer | Node::Other => Found::Blob,
        };
        self.found.insert(d.digest.clone(), found);
        Ok(())
    }

    fn also(&self, _m: &JsonDescriptor) -> bool {
        !self.one_platform
    }

    fn reaches_blobs(&self) -> bool {
        true
    }
}

/// What a push sends, in order: blobs, then manifests and indexes (each
/// after what it names; the target last).
#[derive(Debug, Default)]
struct Plan {
    blobs: Vec<Descriptor>,
    manifests: Vec<(Descriptor, Vec<u8>)>,
    /// Digests already planned.
    planned: HashSet<String>,
}

impl Plan {
    /// Plans `d` and what is below it; `None` when some of it is not in the
    /// store (an index is kept with the entries that are whole, and
    /// rewritten when it lost some: its descriptor then is the new one).
    fn add(
        &mut self,
        found: &HashMap<String, Found>,
        d: &Descriptor,
        depth: usize,
    ) -> Option<Descriptor> {
        if depth > 16 {
            return None;
        }
        match found.get(&d.digest)? {
            Found::Absent => None,
            Found::Blob => {
                if self.planned.insert(d.digest.clone()) {
                    self.blobs.push(d.clone());
                }
                Some(d.clone())
            }
            Found::Manifest(bytes, blobs) => {
                // All of its blobs, or nothing of it.
                if blobs
                    .iter()
                    .any(|b| !matches!(found.get(&b.digest), Some(Found::Blob)))
                {
                    return None;
                }
                for b in blobs {
                    self.add(found, b, depth + 1);
                }
                if self.planned.insert(d.digest.clone()) {
                    self.manifests.push((d.clone(), bytes.clone()));
                }
                Some(d.clone())
            }
            Found::Index(bytes, entries) => {
                let mut kept: Vec<(usize, Descriptor)> = Vec::new();
                for (i, e) in entries.iter().enumerate() {
                    if let Some(now) = self.add(found, &e.descriptor(), depth + 1) {
                        kept.push((i, now));
                    }
                }
                if kept.is_empty() && !entries.is_empty() {
                    return None;
                }
                let same = kept.len() == entries.len()
                    && kept.iter().all(|(i, now)| entries[*i].digest == now.digest);
                let (d, bytes) = if same {
                    (d.clone(), bytes.clone())
                } else {
                    let bytes = rewrite_index(bytes, &kept)?;
                    let d = Descriptor {
                        digest: crate::core::image::oci::sha256_digest(&bytes),
                        size: bytes.len() as i64,
                        ..d.clone()
                    };
                    (d, bytes)
                };
                if self.planned.insert(d.digest.clone()) {
                    self.manifests.push((d.clone(), bytes));
                }
                Some(d)
            }
        }
    }
}

/// Index JSON `bytes` with only the entries `kept` (by position, each with
/// its digest and size now), everything else as it was.
fn rewrite_index(bytes: &[u8], kept: &[(usize, Descriptor)]) -> Option<Vec<u8>> {
    let mut index: serde_json::Value = serde_json::from_slice(bytes).ok()?;
    let entries = index.get("manifests")?.as_array()?.clone();
    let mut out = Vec::new();
    for (i, now) in kept {
        let mut e = entries.get(*i)?.clone();
        let o = e.as_object_mut()?;
        o.insert("digest".into(), now.digest.clone().into());
        o.insert("size".into(), now.size.into());
        out.push(e);
    }
    index
        .as_object_mut()?
        .insert("manifests".into(), out.into());
    serde_json::to_vec(&index).ok()
}

impl Client {
    /// Pushes image record `name` to `remote_ref` (`None` = `name`), as
    /// `ctr images push`: its content is read from the content store with
    /// the one walk; with `opts.platform` the platform's manifest is pushed
    /// (all of its content must be there), else every platform whose
    /// content is all in the store (an index that lost entries is pushed
    /// rewritten, with those present). Blobs (3 at a time) the registry
    /// has are not sent (HEAD first), a blob whose source label names
    /// another repository of the same registry is mounted from there, the
    /// others are streamed from the content store in one PUT each; then
    /// the manifests and indexes, each after what it names, the target
    /// last under the reference's tag (or digest). Returns the target as
    /// pushed. `opts.cancel` and `opts.timeout` cover the whole call.
    pub async fn push(
        &self,
        name: &str,
        remote_ref: Option<&str>,
        opts: &PushOptions,
        progress: Arc<Progress>,
    ) -> Result<Descriptor> {
        validate_name("image name", name)?;
        let image = ImageRef::parse(remote_ref.unwrap_or(name))?;
        let what = match remote_ref {
            Some(_) => format!("push {name:?} to {:?}", image.name),
            None => format!("push {:?}", image.name),
        };
        let platform = match &opts.platform {
            Some(p) => Some(PlatformSpec::parse(p).map_err(|e| e.context(&what))?),
            None => None,
        };
        progress.set_phase(Phase::Pushing);
        let stop = Stop::new(opts.cancel.clone(), opts.timeout);
        stop.run(&what, async {
            let record = self.get_image(name).await.map_err(|e| e.context(&what))?;
            let (plan, sources) = self
                .push_plan(&what, &image, &record.target, platform.as_ref())
                .await?;
            let target = match plan.manifests.last() {
                Some((d, _)) => d.clone(),
                None => {
                    return Err(Error::internal(format!("{what}: nothing planned")));
                }
            };
            if let Some(digest) = image.digest().filter(|d| *d != target.digest) {
                return Err(Error::invalid(format!(
                    "{what}: the reference names digest {digest}, the image pushed has {}",
                    target.digest
                )));
            }
            let mount_from: Vec<String> = {
                let mut all: Vec<String> = sources.values().flatten().cloned().collect();
                all.sort();
                all.dedup();
                all
            };
            let limits = CallLimits {
                deadline: stop.deadline(),
                retries: progress.retry_counter(),
            };
            let remote = Remote::for_push(&image, &opts.remote, &what, mount_from, limits).await?;
            let push = Push {
                client: self,
                remote: &remote,
                progress: &progress,
                sources: &sources,
                what: &what,
            };
            push.run(&image, plan).await?;
            Ok(target)
        })
        .await
    }

    /// What pushing `target` sends, and the source repositories of its
    /// blobs (from their labels).
    async fn push_plan(
        &self,
        what: &str,
        image: &ImageRef,
        target: &Descriptor,
        platform: Option<&PlatformSpec>,
    ) -> Result<(Plan, HashMap<String, Vec<String>>)> {
        let mut blobs = PushBlobs {
            client: self,
            what,
            one_platform: platform.is_some(),
            host: image.host().to_string(),
            found: HashMap::new(),
            sources: HashMap::new(),
        };
        let host = PlatformSpec::host();
        let want = platform.unwrap_or(&host);
        let walked = walk(&mut blobs, what, target, want).await?;
        let mut plan = Plan::default();
        let top = match (platform, walked) {
            (Some(p), walked) => {
                let content = walked.content(what, p)?;
                plan.add(&blobs.found, &content.manifest, 0)
            }
            (None, Walked::Other(d)) if d.digest == target.digest => {
                // Neither an index nor a manifest: the walk's words.
                return Err(Walked::Other(d).content(what, want).unwrap_err());
            }
            (None, _) => plan.add(&blobs.found, target, 0),
        };
        if top.is_none() {
            let missing: Vec<&str> = blobs
                .found
                .iter()
                .filter(|(_, f)| matches!(f, Found::Absent))
                .map(|(d, _)| d.as_str())
                .collect();
            return Err(Error::new(
                Code::NotFound,
                format!(
                    "{what}: no platform of the image has all of its content in the content \
                     store (missing: {})",
                    if missing.is_empty() {
                        "the target".to_string()
                    } else {
                        missing.join(", ")
                    }
                ),
            ));
        }
        Ok((plan, blobs.sources))
    }
}

/// One push in progress.
struct Push<'a> {
    client: &'a Client,
    remote: &'a Remote,
    progress: &'a Arc<Progress>,
    sources: &'a HashMap<String, Vec<String>>,
    what: &'a str,
}

impl Push<'_> {
    async fn run(&self, image: &ImageRef, plan: Plan) -> Result<()> {
        let total: u64 = plan.blobs.iter().map(|d| d.size.max(0) as u64).sum::<u64>()
            + plan
                .manifests
                .iter()
                .map(|(d, _)| d.size.max(0) as u64)
                .sum::<u64>();
        let layers = plan
            .blobs
            .iter()
            .filter(|d| is_layer(&d.media_type))
            .count();
        self.progress.set_totals(total, layers as u32);
        futures_util::stream::iter(plan.blobs.iter().map(Ok))
            .try_for_each_concurrent(CONCURRENT_UPLOADS, |d| async move {
                self.push_blob(image, d).await?;
                if is_layer(&d.media_type) {
                    self.progress.layer_fetched();
                }
                Ok::<(), Error>(())
            })
            .await?;
        let last = plan.manifests.len().saturating_sub(1);
        for (i, (d, bytes)) in plan.manifests.into_iter().enumerate() {
            let size = d.size.max(0) as u64;
            if i < last {
                // Named by digest: one the registry has is not sent again.
                if !self.remote.manifest_exists(&d).await? {
                    self.remote
                        .put_manifest(&d.digest, &d.media_type, bytes)
                        .await?;
                }
            } else {
                self.remote
                    .put_manifest(image.tag_or_digest(), &d.media_type, bytes)
                    .await?;
            }
            self.progress.add_bytes(size);
        }
        Ok(())
    }

    /// Blob `d` into the repository unless it is there: mounted from the
    /// repository it was pulled from when the registry does it, else
    /// streamed from the content store.
    async fn push_blob(&self, image: &ImageRef, d: &Descriptor) -> Result<()> {
        let size = d.size.max(0) as u64;
        if self.remote.blob_exists(d).await? {
            self.progress.add_bytes(size);
            return Ok(());
        }
        let from = self.sources.get(&d.digest).and_then(|repos| {
            repos
                .iter()
                .find(|r| r.as_str() != image.repository())
                .map(String::as_str)
        });
        let location = match self.remote.start_upload(d, from).await? {
            Upload::Mounted => {
                self.progress.add_bytes(size);
                return Ok(());
            }
            Upload::Session(location) => location,
        };
        let (tx, rx) = tokio::sync::mpsc::channel::<Vec<u8>>(UPLOAD_QUEUE);
        let progress = self.progress.clone();
        let counted = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let c2 = counted.clone();
        // Counted as the connection takes each chunk.
        let body: BodyStream = Box::pin(tokio_stream::wrappers::ReceiverStream::new(rx).map(
            move |chunk| {
                let n = chunk.len() as u64;
                progress.add_bytes(n);
                c2.fetch_add(n, std::sync::atomic::Ordering::AcqRel);
                Ok(Bytes::from(chunk))
            },
        ));
        let feed = async move {
            let fed = self.client.stream_content(d, &tx).await;
            drop(tx);
            fed
        };
        // The upload's answer ends it: a feed still waiting for the
        // connection to take its next chunk (an early answer) is dropped.
        let put = self.remote.finish_upload(location, d, body);
        tokio::pin!(put, feed);
        let mut fed: Option<Result<()>> = None;
        let sent = loop {
            tokio::select! {
                sent = &mut put => break sent,
                f = &mut feed, if fed.is_none() => fed = Some(f),
            }
        };
        // The content store's failure explains the upload's.
        let result = match fed {
            Some(Err(e)) => Err(e.context(self.what)),
            _ => sent,
        };
        if result.is_err() {
            self.progress
                .sub_bytes(counted.load(std::sync::atomic::Ordering::Acquire));
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::image::oci::{sha256_digest, OCI_INDEX, OCI_MANIFEST};

    fn d(mt: &str, digest: &str) -> Descriptor {
        Descriptor {
            media_type: mt.into(),
            digest: digest.into(),
            size: 1,
            annotations: Default::default(),
        }
    }

    /// An index of two manifests, one whole and one whose layer is not in
    /// the store: the plan has the whole one's blobs, then its manifest,
    /// then the index rewritten with that entry only (its platform and
    /// other fields kept); with both whole, the index as it was.
    #[test]
    fn an_index_is_pushed_with_the_platforms_present() {
        let index = br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[
            {"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:m1","size":1,
             "platform":{"os":"linux","architecture":"amd64"}},
            {"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:m2","size":1,
             "platform":{"os":"linux","architecture":"arm64"}}],"annotations":{"a":"b"}}"#;
        let entries: Vec<JsonDescriptor> = serde_json::from_slice::<serde_json::Value>(index)
            .unwrap()["manifests"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| serde_json::from_value(v.clone()).unwrap())
            .collect();
        let layer = "application/vnd.oci.image.layer.v1.tar+gzip";
        let mut found = HashMap::new();
        found.insert(
            "sha256:i".to_string(),
            Found::Index(index.to_vec(), entries.clone()),
        );
        found.insert(
            "sha256:m1".to_string(),
            Found::Manifest(
                b"m1".to_vec(),
                vec![d("c", "sha256:c"), d(layer, "sha256:l1")],
            ),
        );
        found.insert(
            "sha256:m2".to_string(),
            Found::Manifest(
                b"m2".to_vec(),
                vec![d("c", "sha256:c"), d(layer, "sha256:l2")],
            ),
        );
        found.insert("sha256:c".to_string(), Found::Blob);
        found.insert("sha256:l1".to_string(), Found::Blob);
        found.insert("sha256:l2".to_string(), Found::Absent);
        let mut plan = Plan::default();
        let top = plan.add(&found, &d(OCI_INDEX, "sha256:i"), 0).unwrap();
        let digests =
            |v: &[Descriptor]| -> Vec<String> { v.iter().map(|d| d.digest.clone()).collect() };
        assert_eq!(digests(&plan.blobs), ["sha256:c", "sha256:l1"]);
        assert_eq!(plan.manifests.len(), 2);
        assert_eq!(plan.manifests[0].0.digest, "sha256:m1");
        let (last, bytes) = &plan.manifests[1];
        assert_eq!(last, &top);
        assert_eq!(top.digest, sha256_digest(bytes));
        assert_eq!(top.media_type, OCI_INDEX);
        let v: serde_json::Value = serde_json::from_slice(bytes).unwrap();
        let m = v["manifests"].as_array().unwrap();
        assert_eq!(m.len(), 1);
        assert_eq!(m[0]["digest"], "sha256:m1");
        assert_eq!(m[0]["platform"]["architecture"], "amd64");
        assert_eq!(v["annotations"]["a"], "b");

        // Both whole: the index as it is.
        found.insert("sha256:l2".to_string(), Found::Blob);
        let mut plan = Plan::default();
        let top = plan.add(&found, &d(OCI_INDEX, "sha256:i"), 0).unwrap();
        assert_eq!(top.digest, "sha256:i");
        assert_eq!(plan.manifests.last().unwrap().1, index.to_vec());
        assert_eq!(digests(&plan.blobs), ["sha256:c", "sha256:l1", "sha256:l2"]);

        // Nothing whole: nothing to push.
        found.insert("sha256:c".to_string(), Found::Absent);
        let mut plan = Plan::default();
        assert!(plan.add(&found, &d(OCI_INDEX, "sha256:i"), 0).is_none());
        assert!(plan.add(&found, &d(OCI_MANIFEST, "sha256:m1"), 0).is_none());
    }
}
