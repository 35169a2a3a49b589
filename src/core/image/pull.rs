//! Pulling an image from a registry into containerd, done by the library
//! itself as containerd's Go client does (so it works alike on every
//! containerd): registry access in `registry`, blobs through the content
//! store's writer, the image record through the images service, the unpack
//! through the diff service.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use futures_util::{StreamExt, TryStreamExt};
use sha2::{Digest, Sha256};

use crate::api::types::Descriptor;
use crate::core::cancel::{Cancel, Stop};
use crate::core::daemon::client::Client;
use crate::core::error::{Code, Error, Result};
use crate::core::image::content::{check_small, fresh_id, ContentWriter};
use crate::core::image::oci::{is_config, is_layer, INDEX_TYPES, MANIFEST_TYPES};
use crate::core::image::platform::PlatformSpec;
use crate::core::image::progress::{Phase, Progress};
use crate::core::image::records::{children_labels, ImageRecord};
use crate::core::image::walk::{walk, Blobs, Node, PlatformContent};
use crate::core::registry::{CallLimits, Fetched, ImageRef, Remote, RemoteOptions};

/// How to pull (or import) an image; `Default` is a pull of this machine's
/// platform over https, unpacked into overlayfs, with the docker config's
/// credentials.
#[derive(Debug, Clone, Default)]
pub struct PullOptions {
    /// "os/arch[/variant]", e.g. "linux/arm64/v8"; `None` = this machine's.
    pub platform: Option<String>,
    /// `None` = overlayfs.
    pub snapshotter: Option<String>,
    /// Fetch the content only.
    pub no_unpack: bool,
    /// How to reach the registry (credentials, TLS, host directories).
    pub remote: RemoteOptions,
    /// Cuts the call short when triggered (`Cancelled`).
    pub cancel: Option<Cancel>,
    /// How long the whole call may take (`DeadlineExceeded` past it).
    pub timeout: Option<Duration>,
}

/// Blobs (config and layers) fetched at once.
const CONCURRENT_FETCHES: usize = 3;

/// How long a blob's ref may stay locked by another writer before the pull
/// gives up.
const LOCK_WAIT: Duration = Duration::from_secs(600);

const LABEL_SOURCE: &str = "containerd.io/distribution.source.";

/// The ingest ref of blob `d`, as Go's `remotes.MakeRefKey` makes it (so a
/// write another client's pull left unfinished is resumed, and ours by it).
fn ref_key(d: &Descriptor) -> String {
    let mt = d.media_type.as_str();
    let kind = if MANIFEST_TYPES.contains(&mt) {
        "manifest"
    } else if INDEX_TYPES.contains(&mt) {
        "index"
    } else if is_layer(mt) {
        "layer"
    } else if is_config(mt) {
        "config"
    } else {
        "unknown"
    };
    format!("{kind}-{}", d.digest)
}

/// Whether `e` says another writer holds the ref. containerd's content
/// store refuses a locked ref with `ErrUnavailable` ("ref ... locked for
/// ... (since ...)"; 1.6: "ref ... locked: unavailable"), but the code
/// alone cannot tell: a daemon that cannot be reached is `Unavailable` too
/// (see `core::error`), which is no reason to wait; and containerd 2.x's
/// writer wraps the lock met at a restart in words only ("truncate failed:
/// ref ... locked for ...: unavailable"), which reaches us as `Unknown`
/// (tests/pull.rs `concurrent_pulls_of_one_image` on 2.1). Hence the
/// narrowest check that holds: the daemon's words for a lock, with the
/// code where 1.6's words are short.
fn is_locked(e: &Error) -> bool {
    e.message.contains(" locked for ")
        || (e.code == Code::Unavailable && e.message.contains(" locked"))
}

/// The lease that keeps what an interrupted pull fetched (content, the
/// unfinished write, unpacked layers) for the next pull of the same image
/// (index or manifest `digest`, whatever the registry or name); that pull
/// deletes it when it succeeds, else it expires in a day.
pub fn resume_lease_id(digest: &str) -> String {
    let hash = Sha256::digest(digest.as_bytes());
    format!("containerd-c.pull-resume.{}", &format!("{hash:x}")[..32])
}

/// Whether a pull failed on the way (a connection, a timeout), rather than
/// for what it was asked (a missing image, refused credentials, bad data).
fn interrupted(e: &Error) -> bool {
    matches!(
        e.code,
        Code::Unavailable | Code::DeadlineExceeded | Code::Cancelled
    )
}

/// One pull in progress.
struct Pull<'a> {
    client: &'a Client,
    remote: Remote,
    image: ImageRef,
    lease: String,
    progress: Arc<Progress>,
    what: String,
}

impl Client {
    /// Pulls image `reference` (normalised as docker does: `busybox` is
    /// `docker.io/library/busybox:latest`) from its registry into the
    /// content store, as containerd's Go `client.Pull`: under a lease of its
    /// own, the manifest or index (and for an index, the manifest of the
    /// platform asked for), then the config and layers (3 at a time,
    /// streamed; blobs already there are not fetched; a write left
    /// unfinished is resumed with a ranged request where the registry
    /// allows); labels that keep children from the garbage collector and
    /// name the source; then the unpack unless `opts.no_unpack`; then the
    /// image record (created, or updated when it exists). The lease goes at
    /// the end, also on failure, so no image appears from a failed pull. A
    /// pull cut short on the way (`Unavailable`, `DeadlineExceeded`,
    /// `Cancelled`: also by `opts.cancel` or `opts.timeout`) first hands
    /// what it fetched to the image's resume lease ([`resume_lease_id`]),
    /// so that the next pull of it fetches only what
    /// is missing; any other failure leaves nothing behind.
    pub async fn pull(
        &self,
        reference: &str,
        opts: &PullOptions,
        progress: Arc<Progress>,
    ) -> Result<ImageRecord> {
        let image = ImageRef::parse(reference)?;
        let what = format!("pull {:?}", image.name);
        let platform = match &opts.platform {
            Some(p) => PlatformSpec::parse(p).map_err(|e| e.context(&what))?,
            None => PlatformSpec::host(),
        };
        if opts.snapshotter.as_deref() == Some("") {
            return Err(Error::invalid(format!("{what}: the snapshotter is empty")));
        }
        // Cancel and timeout cover the whole call; the lease's clean-up
        // after a cut runs outside them (bounded by the client's timeout).
        let stop = Stop::new(opts.cancel.clone(), opts.timeout);
        progress.set_phase(Phase::Resolving);
        let (remote, top) = stop
            .run(&what, async {
                let limits = CallLimits {
                    deadline: stop.deadline(),
                    retries: progress.retry_counter(),
                };
                let remote = Remote::open(&image, &opts.remote, &what, limits).await?;
                let top = remote.manifest(None).await?;
                Ok((remote, top))
            })
            .await?;
        let lease = fresh_id("pull");
        self.create_lease(&lease)
            .await
            .map_err(|e| e.context(&what))?;
        let pull = Pull {
            client: self,
            remote,
            image,
            lease: lease.clone(),
            progress,
            what: what.clone(),
        };
        let resume = resume_lease_id(&top.descriptor.digest);
        let result = stop.run(&what, pull.run(top, &platform, opts)).await;
        // Best effort, as Go's `done(ctx)`: a lease left behind expires in
        // a day, and the pull's outcome is what the caller needs.
        match &result {
            Ok(_) => {
                let _ = self.delete_lease(&resume).await;
            }
            // Cut short (registry or daemon unreachable, too slow): what
            // was fetched stays for the next pull of the same image.
            Err(e) if interrupted(e) => {
                let _ = self.copy_lease_resources(&lease, &resume).await;
            }
            Err(_) => {}
        }
        let _ = self.delete_lease(&lease).await;
        result
    }
}

/// The registry as the source of a pull's walk: the manifest or index
/// resolved first, then each by digest; each is stored as it is opened,
/// with the labels that keep its children.
struct PullBlobs<'p, 'c> {
    pull: &'p Pull<'c>,
    /// The target, fetched when the reference was resolved.
    top: Option<Fetched>,
}

impl Blobs for PullBlobs<'_, '_> {
    async fn read(&mut self, d: &Descriptor) -> Result<(Descriptor, Vec<u8>)> {
        if let Some(top) = self.top.take() {
            return Ok((top.descriptor, top.bytes));
        }
        let next = self.pull.remote.manifest(Some(&d.digest)).await?;
        if next.descriptor.size != d.size {
            return Err(Error::new(
                Code::Unknown,
                format!(
                    "{}: manifest {} has {} bytes, the index says {}",
                    self.pull.what, d.digest, next.descriptor.size, d.size
                ),
            ));
        }
        Ok((next.descriptor, next.bytes))
    }

    async fn found(
        &mut self,
        d: &Descriptor,
        bytes: &[u8],
        node: Node<'_>,
        _on_path: bool,
    ) -> Result<()> {
        let children: Vec<Descriptor> = match node {
            // Not stored: the pull fails (no manifest for the platform).
            Node::Index { chosen: None, .. } => return Ok(()),
            Node::Index { manifests, .. } => manifests.iter().map(|m| m.descriptor()).collect(),
            Node::Manifest { config, layers } => {
                std::iter::once(config).chain(layers).cloned().collect()
            }
            _ => return Ok(()),
        };
        self.pull
            .store_bytes(d, bytes, children_labels(&children))
            .await
    }
}

impl Pull<'_> {
    async fn run(
        &self,
        top: Fetched,
        platform: &PlatformSpec,
        opts: &PullOptions,
    ) -> Result<ImageRecord> {
        let target = top.descriptor.clone();
        // Indexes down to the manifest for the platform, each stored with
        // the labels of its children.
        let mut blobs = PullBlobs {
            pull: self,
            top: Some(top),
        };
        let content = walk(&mut blobs, &self.what, &target, platform)
            .await?
            .content(&self.what, platform)?;
        // The config is read into memory by the unpack: one too large is
        // refused before it is fetched.
        check_small("image config", &content.config.digest, content.config.size)
            .map_err(|e| e.context(&self.what))?;
        // Totals: everything of this platform, as `Image.Size` counts it.
        self.progress.set_phase(Phase::Fetching);
        self.progress
            .set_totals(content.size(), content.layers.len() as u32);
        // Fetching and unpacking at once, as Go's client: the unpack takes
        // each layer as soon as it and those below it are in the store.
        // `fetched` counts the blobs of [config, layers...] in the store
        // from the first on; the sender goes with the fetch, so an unpack
        // waiting for a blob that will not come stops.
        let (fetched, in_store) = tokio::sync::watch::channel(0usize);
        let fetch = async {
            let fetched = fetched;
            let done = Mutex::new(vec![false; content.layers.len() + 1]);
            let mut blobs = vec![(0, content.config.clone())];
            blobs.extend(
                content
                    .layers
                    .iter()
                    .cloned()
                    .enumerate()
                    .map(|(i, l)| (i + 1, l)),
            );
            futures_util::stream::iter(blobs.into_iter().map(Ok))
                .try_for_each_concurrent(CONCURRENT_FETCHES, |(n, d)| {
                    let (done, fetched) = (&done, &fetched);
                    async move {
                        self.fetch_blob(&d).await?;
                        if n > 0 {
                            self.progress.layer_fetched();
                        }
                        let mut done = done.lock().unwrap_or_else(PoisonError::into_inner);
                        done[n] = true;
                        fetched.send_replace(done.iter().take_while(|d| **d).count());
                        Ok::<(), Error>(())
                    }
                })
                .await?;
            if !opts.no_unpack {
                self.progress.set_phase(Phase::Unpacking);
            }
            Ok::<(), Error>(())
        };
        // As Go's client since 1.7: unpacked before the record is made, so
        // the record appears only with everything in place.
        let unpack = async {
            if opts.no_unpack {
                return Ok(());
            }
            let snapshotter = opts
                .snapshotter
                .as_deref()
                .unwrap_or(crate::core::image::snapshot::DEFAULT_SNAPSHOTTER);
            self.unpack(&content, snapshotter, in_store).await
        };
        // Both run to their end (an unpack stops at its next layer once the
        // fetch failed), so no snapshot is left half made; the fetch's
        // failure is the one to tell.
        let (fetched, unpacked) = tokio::join!(fetch, unpack);
        fetched?;
        unpacked?;
        self.put_image(target).await
    }

    /// The distribution-source label for this image's repository, merged
    /// with `existing` (a comma-separated list, as Go keeps it).
    fn source_label(&self, existing: Option<&String>) -> (String, String) {
        let key = format!("{LABEL_SOURCE}{}", self.image.host());
        let repo = self.image.repository();
        let mut repos: Vec<&str> = existing
            .map(|v| v.split(',').filter(|r| !r.is_empty()).collect())
            .unwrap_or_default();
        if !repos.contains(&repo) {
            repos.push(repo);
        }
        repos.sort_unstable();
        (key, repos.join(","))
    }

    /// Labels blob `d`, already in the store, with `labels` and the
    /// source, where it lacks them. A blob of another size than `d` says
    /// is not the one `d` describes: an error.
    async fn label_present(
        &self,
        d: &Descriptor,
        mut labels: HashMap<String, String>,
    ) -> Result<()> {
        let digest = d.digest.as_str();
        let info = self
            .client
            .content_info(digest)
            .await
            .map_err(|e| e.context(&self.what))?;
        if let Some(info) = info.as_ref().filter(|i| i.size != d.size) {
            return Err(Error::new(
                Code::FailedPrecondition,
                format!(
                    "{}: blob {digest} is in the content store with {} bytes, but its \
                     descriptor says {}",
                    self.what, info.size, d.size
                ),
            ));
        }
        let have = info.map(|i| i.labels).unwrap_or_default();
        let (key, value) =
            self.source_label(have.get(&format!("{LABEL_SOURCE}{}", self.image.host())));
        labels.insert(key, value);
        labels.retain(|k, v| have.get(k) != Some(v));
        self.client
            .set_content_labels(digest, labels)
            .await
            .map_err(|e| e.context(&self.what))
    }

    /// Runs `attempt` (a write of blob `d`) again while another writer
    /// holds the blob's ref (another pull of the same content), as Go's
    /// `content.OpenWriter` waits: once that writer is done the blob is
    /// usually there. containerd may report the lock only at the first
    /// write, after the fetch began. Bounded by [`LOCK_WAIT`]. `attempt` gets a counter of
    /// the progress bytes it added, taken back before a retry.
    async fn retry_locked<'s, F, Fut>(&'s self, mut attempt: F) -> Result<()>
    where
        F: FnMut(&'s Self, Arc<AtomicU64>) -> Fut,
        Fut: std::future::Future<Output = Result<()>> + 's,
    {
        let start = std::time::Instant::now();
        let mut pause = Duration::from_millis(2);
        loop {
            let counted = Arc::new(AtomicU64::new(0));
            match attempt(self, counted.clone()).await {
                // Locked, or committed by the other writer meanwhile (the
                // next open finds it there).
                Err(e)
                    if (is_locked(&e) || e.code == Code::AlreadyExists)
                        && start.elapsed() < LOCK_WAIT =>
                {
                    self.progress.sub_bytes(counted.load(Ordering::Acquire));
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_secs(1));
                }
                other => return other,
            }
        }
    }

    /// Adds `n` progress bytes, counted in `counted` too.
    fn count(&self, counted: &AtomicU64, n: u64) {
        self.progress.add_bytes(n);
        counted.fetch_add(n, Ordering::AcqRel);
    }

    /// Takes back `n` progress bytes counted in `counted`.
    fn uncount(&self, counted: &AtomicU64, n: u64) {
        self.progress.sub_bytes(n);
        counted.fetch_sub(n, Ordering::AcqRel);
    }

    /// A writer for blob `d`: `None` when the store has it.
    async fn open_writer(&self, d: &Descriptor) -> Result<Option<ContentWriter<'_>>> {
        self.client
            .content_writer(&self.lease, &ref_key(d), &d.digest, d.size as u64)
            .await
            .map_err(|e| e.context(&self.what))
    }

    /// Writes a manifest or index fetched whole, with `labels`.
    async fn store_bytes(
        &self,
        d: &Descriptor,
        bytes: &[u8],
        labels: HashMap<String, String>,
    ) -> Result<()> {
        self.retry_locked(|p, _| p.store_bytes_once(d, bytes, labels.clone()))
            .await?;
        self.progress.add_bytes(d.size as u64);
        Ok(())
    }

    async fn store_bytes_once(
        &self,
        d: &Descriptor,
        bytes: &[u8],
        mut labels: HashMap<String, String>,
    ) -> Result<()> {
        match self.open_writer(d).await? {
            None => self.label_present(d, labels).await,
            Some(mut w) => {
                if w.offset() != 0 {
                    w.restart().await.map_err(|e| e.context(&self.what))?;
                }
                w.write(bytes).await.map_err(|e| e.context(&self.what))?;
                let (k, v) = self.source_label(None);
                labels.insert(k, v);
                w.commit(labels).await.map_err(|e| e.context(&self.what))
            }
        }
    }

    /// Fetches blob `d` into the content store unless it is there.
    async fn fetch_blob(&self, d: &Descriptor) -> Result<()> {
        self.retry_locked(|p, counted| p.fetch_blob_once(d, counted))
            .await
    }

    async fn fetch_blob_once(&self, d: &Descriptor, counted: Arc<AtomicU64>) -> Result<()> {
        let size = d.size as u64;
        let Some(mut w) = self.open_writer(d).await? else {
            self.count(&counted, size);
            return self.label_present(d, HashMap::new()).await;
        };
        let mut offset = w.offset();
        if offset == size && size > 0 {
            // All there: another namespace has the blob (containerd shares
            // it), or a write got that far. Commit it, as Go's fetch does;
            // should the daemon refuse what it has, fetch it all again.
            let (k, v) = self.source_label(None);
            match w.commit([(k, v)].into()).await {
                Ok(()) => {
                    self.count(&counted, size);
                    return Ok(());
                }
                Err(e) if is_locked(&e) || e.code == Code::AlreadyExists => {
                    return Err(e.context(&self.what))
                }
                Err(_) => {}
            }
            let Some(again) = self.open_writer(d).await? else {
                self.count(&counted, size);
                return self.label_present(d, HashMap::new()).await;
            };
            w = again;
            offset = w.offset();
        }
        if offset >= size && offset > 0 {
            // More than the blob, or a complete one refused: start again.
            w.restart().await.map_err(|e| e.context(&self.what))?;
            offset = 0;
        }
        self.count(&counted, offset);
        let (mut stream, partial) = self.remote.blob(d, offset).await?;
        if offset > 0 && !partial {
            // The registry sent it all: the ref starts again.
            w.restart().await.map_err(|e| e.context(&self.what))?;
            self.uncount(&counted, offset);
        }
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| self.remote.stream_error(&d.digest, e))?;
            w.write(&chunk).await.map_err(|e| e.context(&self.what))?;
            self.count(&counted, chunk.len() as u64);
        }
        let (k, v) = self.source_label(None);
        w.commit([(k, v)].into())
            .await
            .map_err(|e| e.context(&self.what))
    }

    /// Creates the image record, or points it at the new target when it
    /// exists.
    async fn put_image(&self, target: Descriptor) -> Result<ImageRecord> {
        self.client
            .put_image(&self.image.name, target.clone())
            .await
            .map_err(|e| e.context(&self.what))?;
        self.record(target)
    }

    /// Unpacks the layers into `snapshotter` (the diff service's Apply),
    /// under the pull's lease, each layer once `in_store` says it is there.
    async fn unpack(
        &self,
        content: &PlatformContent,
        snapshotter: &str,
        in_store: tokio::sync::watch::Receiver<usize>,
    ) -> Result<()> {
        self.client
            .unpack_while_fetching(content, snapshotter, &self.lease, &self.progress, in_store)
            .await
            .map_err(|e| e.context(&self.what))
    }

    fn record(&self, target: Descriptor) -> Result<ImageRecord> {
        Ok(ImageRecord {
            name: self.image.name.clone(),
            target,
            labels: HashMap::new(),
        })
    }
}
