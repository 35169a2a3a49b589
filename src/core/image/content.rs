//! The content store: reading and writing blobs (manifests, configs,
//! checkpoint indexes), and streaming them out (export, push).

use crate::api::services::content::v1::ReadContentRequest;
use crate::api::types::Descriptor;
use crate::core::daemon::client::Client;
use crate::core::error::{Code, Error, Result};
use crate::core::image::oci::{check_metadata_size, sha256_digest, INDEX_TYPES, MAX_METADATA};
use crate::core::image::walk::Blobs;

/// A fresh id for one operation's lease, or a temporary name:
/// `containerd-c.<kind>.<16 hex>`, from the time, this process and a
/// counter.
pub(crate) fn fresh_id(kind: &str) -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    let seed = format!(
        "{}-{nanos}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    );
    format!(
        "containerd-c.{kind}.{}",
        &sha256_digest(seed.as_bytes())[7..23]
    )
}

/// Refuses `what` (blob `digest`, said to have `size` bytes) for reading
/// into memory when it is larger than [`MAX_METADATA`]: before a byte of it
/// is fetched or read.
pub fn check_small(what: &str, digest: &str, size: i64) -> Result<()> {
    check_metadata_size(&format!("{what} {digest}"), size.max(0) as u64)
}

impl Client {
    /// Reads a blob of `size` bytes (its descriptor's) from the content
    /// store: at most that many are read (at most [`MAX_METADATA`]), and a blob
    /// of another size is an error (`FailedPrecondition`).
    pub async fn read_blob(&self, what: &str, digest: &str, size: i64) -> Result<Vec<u8>> {
        check_small(what, digest, size)?;
        let doing = format!("read {what} {digest}");
        // A size of 0 may be one not known: up to the limit then.
        let cap = if size > 0 { size as u64 } else { MAX_METADATA };
        let data = self.read_content(&doing, digest, Some(cap)).await?;
        if size > 0 && data.len() as u64 != cap {
            return Err(Error::new(
                Code::FailedPrecondition,
                format!(
                    "{doing}: the content store's blob has {}{} bytes, its descriptor says \
                     {size}",
                    if data.len() as u64 > cap {
                        "more than "
                    } else {
                        ""
                    },
                    data.len().min(cap as usize)
                ),
            ));
        }
        Ok(data)
    }

    /// Reads all of blob `digest` (no size limit: for blobs known to be
    /// small, or tests); the call's failure starts with `what`.
    pub async fn read_content_all(&self, what: &str, digest: &str) -> Result<Vec<u8>> {
        self.read_content(what, digest, None).await
    }

    /// Reads blob `digest`, but no more than one byte past `cap` when
    /// given (the daemon sends no more).
    async fn read_content(&self, what: &str, digest: &str, cap: Option<u64>) -> Result<Vec<u8>> {
        let req = ReadContentRequest {
            digest: digest.to_string(),
            offset: 0,
            size: cap.map_or(0, |c| c.saturating_add(1).min(i64::MAX as u64) as i64),
        };
        let limit = cap.map_or(usize::MAX, |c| c.saturating_add(1) as usize);
        let mut content = self.content();
        let call = async {
            let mut stream = content.read(self.request(req)).await?.into_inner();
            let mut data = Vec::new();
            while let Some(chunk) = stream.message().await? {
                let room = limit - data.len();
                data.extend_from_slice(&chunk.data[..chunk.data.len().min(room)]);
                if data.len() >= limit {
                    break;
                }
            }
            Ok::<_, tonic::Status>(tonic::Response::new(data))
        };
        self.call(what, call).await
    }

    /// Sends blob `d` from the content store into `chunks` as it comes, a
    /// window of [`READ_WINDOW`] bytes per Read call (each bounded by the
    /// client's timeout): memory stays at the channel's chunks whatever the
    /// blob's size. A receiver gone ends it early without an error (the
    /// receiver's side tells why); a blob of another size than `d` says is
    /// an error.
    pub(crate) async fn stream_content(
        &self,
        d: &Descriptor,
        chunks: &tokio::sync::mpsc::Sender<Vec<u8>>,
    ) -> Result<()> {
        let size = d.size;
        let mut offset = 0i64;
        let what = format!("read content {}", d.digest);
        while offset < size {
            let req = ReadContentRequest {
                digest: d.digest.clone(),
                offset,
                size: READ_WINDOW.min(size - offset),
            };
            let mut content = self.content();
            let mut stream = self.call(&what, content.read(self.request(req))).await?;
            let start = offset;
            loop {
                let message = self
                    .call(&what, async {
                        stream
                            .message()
                            .await
                            .map(|m| tonic::Response::new(m.map(|m| m.data)))
                    })
                    .await?;
                let Some(data) = message else { break };
                if data.is_empty() {
                    continue;
                }
                offset += data.len() as i64;
                if offset > size {
                    break;
                }
                if chunks.send(data).await.is_err() {
                    return Ok(());
                }
            }
            if offset == start || offset > size {
                return Err(Error::new(
                    Code::Unknown,
                    format!(
                        "{what}: the content store gave {offset} bytes where its size is {size}"
                    ),
                ));
            }
        }
        Ok(())
    }

    pub(crate) async fn read_json<T: serde::de::DeserializeOwned>(
        &self,
        what: &str,
        d: &Descriptor,
    ) -> Result<T> {
        let bytes = self.read_blob(what, &d.digest, d.size).await?;
        serde_json::from_slice(&bytes).map_err(|e| {
            Error::new(
                Code::Unknown,
                format!("{what} {} is not valid: {e}", d.digest),
            )
        })
    }

    /// Writes `data` to the content store under the lease `lease`, with
    /// `labels`; content already there is fine. Returns its digest.
    pub async fn write_blob(
        &self,
        lease: &str,
        data: Vec<u8>,
        labels: std::collections::HashMap<String, String>,
    ) -> Result<String> {
        let digest = sha256_digest(&data);
        let reference = format!("containerd-c-{}", &digest[7..]);
        let writer = self
            .content_writer(lease, &reference, &digest, data.len() as u64)
            .await?;
        if let Some(mut w) = writer {
            // What an earlier write left under the ref is not trusted.
            if w.offset() != 0 {
                w.restart().await?;
            }
            w.write(&data).await?;
            w.commit(labels).await?;
        }
        Ok(digest)
    }
}

/// The content store as the source of a platform walk (image queries,
/// unpack, export).
pub(crate) struct StoreBlobs<'a>(pub(crate) &'a Client);

impl Blobs for StoreBlobs<'_> {
    async fn read(&mut self, d: &Descriptor) -> Result<(Descriptor, Vec<u8>)> {
        let what = if INDEX_TYPES.contains(&d.media_type.as_str()) {
            "index"
        } else {
            "manifest"
        };
        let bytes = self.0.read_blob(what, &d.digest, d.size).await?;
        Ok((d.clone(), bytes))
    }
}

/// Bytes asked of the content store per Read call when streaming a blob
/// (export, push): each call is bounded by the client's timeout, so a large
/// blob takes several.
const READ_WINDOW: i64 = 16 << 20;

/// Data a [`ContentWriter`] gathers before it sends a write message: fewer,
/// larger messages cost the daemon less than the registry's small reads.
const WRITE_CHUNK: usize = 1 << 20;

/// A blob on its way into the content store: one `Write` stream to the
/// daemon, under a lease, fed chunk by chunk so that a blob is never held
/// whole in memory. Start it with [`Client::content_writer`]; end it with
/// [`ContentWriter::commit`]. Dropping it unfinished ends the stream after
/// what was written reaches the daemon, which keeps it under the ref for a
/// later writer of the same ref to resume or restart (the garbage collector
/// removes it with the lease).
pub struct ContentWriter<'a> {
    client: &'a Client,
    reference: String,
    expected: String,
    total: i64,
    /// Bytes the daemon has or has been sent.
    offset: u64,
    buffer: Vec<u8>,
    requests: tokio::sync::mpsc::Sender<crate::api::services::content::v1::WriteContentRequest>,
    /// Drains the daemon's answers; ends with the first error or the
    /// stream's end.
    answers: tokio::task::JoinHandle<std::result::Result<(), tonic::Status>>,
    what: String,
    timeout: Option<std::time::Duration>,
}

impl Client {
    /// Information on blob `digest`: `None` when the store lacks it.
    pub async fn content_info(
        &self,
        digest: &str,
    ) -> Result<Option<crate::api::services::content::v1::Info>> {
        let req = crate::api::services::content::v1::InfoRequest {
            digest: digest.to_string(),
        };
        match self
            .call(
                format!("content info {digest}"),
                self.content().info(self.request(req)),
            )
            .await
        {
            Ok(reply) => Ok(reply.info),
            Err(e) if e.code == Code::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Sets `labels` on blob `digest` (others stay as they are; an empty
    /// value removes the label).
    pub async fn set_content_labels(
        &self,
        digest: &str,
        labels: std::collections::HashMap<String, String>,
    ) -> Result<()> {
        use crate::api::services::content::v1::{Info, UpdateRequest};
        if labels.is_empty() {
            return Ok(());
        }
        let paths = labels.keys().map(|k| format!("labels.{k}")).collect();
        let req = UpdateRequest {
            info: Some(Info {
                digest: digest.to_string(),
                labels: labels.into_iter().filter(|(_, v)| !v.is_empty()).collect(),
                ..Default::default()
            }),
            update_mask: Some(prost_types::FieldMask { paths }),
        };
        self.call(
            format!("label content {digest}"),
            self.content().update(self.request(req)),
        )
        .await?;
        Ok(())
    }

    /// Opens a writer for blob `digest` of `total` bytes under `lease`, with
    /// the ingest ref `reference` (the same ref resumes a write a failure
    /// cut short: see [`ContentWriter::offset`]). `None` when the store has
    /// the blob already. Another writer of the same ref at the same time
    /// makes this fail with `Unavailable` ("ref ... locked").
    pub async fn content_writer(
        &self,
        lease: &str,
        reference: &str,
        digest: &str,
        total: u64,
    ) -> Result<Option<ContentWriter<'_>>> {
        use crate::api::services::content::v1::{WriteAction, WriteContentRequest};
        let what = format!("write content {digest}");
        let total = i64::try_from(total)
            .map_err(|_| Error::invalid(format!("{what}: a size of {total} bytes")))?;
        // One message waiting while the next fills: memory per blob being
        // written stays at a few MiB (three at once in a pull).
        let (tx, rx) = tokio::sync::mpsc::channel::<WriteContentRequest>(1);
        let mut req =
            self.request_with_lease(tokio_stream::wrappers::ReceiverStream::new(rx), lease)?;
        // The stream lasts as long as the blob takes; each step has the
        // client's timeout instead.
        *req.metadata_mut() = {
            let mut m = req.metadata().clone();
            m.remove("grpc-timeout");
            m
        };
        tx.send(WriteContentRequest {
            action: WriteAction::Stat as i32,
            r#ref: reference.to_string(),
            total,
            expected: digest.to_string(),
            ..Default::default()
        })
        .await
        .map_err(|_| Error::new(Code::Internal, format!("{what}: the stream closed")))?;
        let mut content = self.content();
        // A failure of the first message may come as the call's own answer.
        let mut answers = match self.call(&what, content.write(req)).await {
            Err(e) if e.code == Code::AlreadyExists => return Ok(None),
            answers => answers?,
        };
        // The first answer is the Stat's: how much of the ref the daemon has.
        let first = match self
            .call(&what, async {
                answers
                    .message()
                    .await
                    .map(|m| tonic::Response::new(m.unwrap_or_default()))
            })
            .await
        {
            Err(e) if e.code == Code::AlreadyExists => return Ok(None),
            answer => answer?,
        };
        let drain = tokio::spawn(async move {
            while answers.message().await?.is_some() {}
            Ok(())
        });
        let offset = u64::try_from(first.offset).unwrap_or(0);
        Ok(Some(ContentWriter {
            client: self,
            reference: reference.to_string(),
            expected: digest.to_string(),
            total,
            offset: offset.min(total as u64),
            buffer: Vec::with_capacity(WRITE_CHUNK),
            requests: tx,
            answers: drain,
            what,
            timeout: self.timeout(),
        }))
    }
}

impl ContentWriter<'_> {
    /// Bytes the daemon already has of this blob: feed the rest from there,
    /// or call [`ContentWriter::restart`] to send it all.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Forgets what the daemon has and starts the blob again from byte 0.
    pub async fn restart(&mut self) -> Result<()> {
        self.buffer.clear();
        self.offset = 0;
        // A write at offset 0 makes the daemon truncate the ref.
        self.send_write(Vec::new()).await
    }

    /// Adds `data` after what was written so far.
    pub async fn write(&mut self, data: &[u8]) -> Result<()> {
        let mut data = data;
        while !data.is_empty() {
            let room = WRITE_CHUNK - self.buffer.len();
            let n = room.min(data.len());
            self.buffer.extend_from_slice(&data[..n]);
            data = &data[n..];
            if self.buffer.len() == WRITE_CHUNK {
                let chunk = std::mem::replace(&mut self.buffer, Vec::with_capacity(WRITE_CHUNK));
                self.send_write(chunk).await?;
            }
        }
        Ok(())
    }

    /// A message of this write: `action` at the current offset.
    fn message(
        &self,
        action: crate::api::services::content::v1::WriteAction,
    ) -> crate::api::services::content::v1::WriteContentRequest {
        crate::api::services::content::v1::WriteContentRequest {
            action: action as i32,
            r#ref: self.reference.clone(),
            total: self.total,
            expected: self.expected.clone(),
            offset: self.offset as i64,
            ..Default::default()
        }
    }

    async fn send_write(&mut self, data: Vec<u8>) -> Result<()> {
        use crate::api::services::content::v1::{WriteAction, WriteContentRequest};
        let len = data.len() as u64;
        let req = WriteContentRequest {
            data,
            ..self.message(WriteAction::Write)
        };
        self.send(req).await?;
        self.offset += len;
        Ok(())
    }

    async fn send(
        &mut self,
        req: crate::api::services::content::v1::WriteContentRequest,
    ) -> Result<()> {
        let sending = self.requests.send(req);
        let sent = within(
            self.timeout,
            &self.what,
            "the daemon took no data for",
            sending,
        )
        .await?;
        if sent.is_err() {
            // The stream ended: the drain has the daemon's reason.
            return Err(self.failure().await);
        }
        Ok(())
    }

    /// Why the stream ended early.
    async fn failure(&mut self) -> Error {
        match (&mut self.answers).await {
            Ok(Err(status)) => self.client.status_error(&self.what, status),
            Ok(Ok(())) => Error::new(
                Code::Unknown,
                format!("{}: the daemon ended the write early", self.what),
            ),
            Err(e) => Error::new(Code::Internal, format!("{}: {e}", self.what)),
        }
    }

    /// Sends what is left and commits the blob with `labels`: the daemon
    /// checks size and digest. A blob already in the store is success.
    pub async fn commit(mut self, labels: std::collections::HashMap<String, String>) -> Result<()> {
        use crate::api::services::content::v1::{WriteAction, WriteContentRequest};
        if !self.buffer.is_empty() {
            let chunk = std::mem::take(&mut self.buffer);
            self.send_write(chunk).await?;
        }
        let req = WriteContentRequest {
            labels,
            ..self.message(WriteAction::Commit)
        };
        self.send(req).await?;
        // Closing the request stream ends the call once the commit is done.
        let (closed, _) = tokio::sync::mpsc::channel(1);
        drop(std::mem::replace(&mut self.requests, closed));
        let what = self.what.clone();
        let done = within(
            self.timeout,
            &what,
            "no answer to the commit in",
            &mut self.answers,
        )
        .await?;
        match done {
            Ok(Ok(())) => Ok(()),
            Ok(Err(status)) => match self.client.status_error(&what, status) {
                e if e.code == Code::AlreadyExists => Ok(()),
                e => Err(e),
            },
            Err(e) => Err(Error::new(Code::Internal, format!("{what}: {e}"))),
        }
    }
}

/// `step` within `limit` (none: no limit), else `DeadlineExceeded` as
/// "`what`: `waited_for` `limit`".
async fn within<T>(
    limit: Option<std::time::Duration>,
    what: &str,
    waited_for: &str,
    step: impl std::future::Future<Output = T>,
) -> Result<T> {
    match limit {
        Some(limit) => tokio::time::timeout(limit, step).await.map_err(|_| {
            Error::new(
                Code::DeadlineExceeded,
                format!("{what}: {waited_for} {limit:?}"),
            )
        }),
        None => Ok(step.await),
    }
}
