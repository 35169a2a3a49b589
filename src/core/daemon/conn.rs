//! The transport under the generated gRPC clients: HTTP/2 over the daemon's
//! unix socket, driven by the h2 crate directly (no HTTP client stack
//! between the call and the connection).
//!
//! A client has one shared connection, served by the shared runtime: its
//! task runs there, and so do the pumps of request bodies that stream many
//! messages (content writes). A call a thread makes on a runtime of its own
//! (see `runtime::block_on`) goes over that thread's own connection instead,
//! so its reply does not cross OS threads; it sends a request's HEADERS and
//! DATA frames together (one write, so the daemon wakes once). Compare the
//! rows of `benches/calls.rs`: a bare h2 call is the floor.
//!
//! A connection is made on its first call and again when the daemon closed
//! it (the connection's task then ended) or when it cannot open a stream any
//! more: the daemon (or a proxy) sent GOAWAY, its stream ids ran out (2^30
//! requests), its socket broke. Then it is dropped from its `Conn`, so that
//! the next call connects again, while the streams already open on it
//! finish there; the call that found it so is made once more on a new
//! connection, as none of its bytes were sent (h2 opens the stream when it
//! queues its HEADERS, after those checks). So is a call of one message
//! whose stream the daemon did not process (see `not_processed`). A call
//! is made at most twice. A thread's own connection is idle
//! between calls, with nobody reading it: before a call, a look at its
//! socket (one `poll`) tells whether the task must first take in what came
//! on it. Only requests of one message go over a thread's own connection
//! (their body is read whole before it is sent).

use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use http_body::Frame;
use http_body_util::BodyExt;
use prost::bytes::Bytes;
use tonic::codegen::http;

/// What the transport's errors are.
type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A generated client's transport: a connection to one daemon, made on
/// first use (see the module's documentation). Clones share it.
#[derive(Clone, Debug)]
pub struct Conn {
    socket: PathBuf,
    state: Arc<Mutex<Slot>>,
    /// The client's shared connection (served by the shared runtime), or a
    /// thread's own.
    shared: bool,
}

/// What the clones of a `Conn` share: the connection calls go over now, if
/// any, and its generation (how many were made before it): a call that
/// found it broken drops it only if it is still the one it used (see
/// `Conn::forget`).
#[derive(Debug, Default)]
struct Slot {
    live: Option<Live>,
    generation: u64,
    /// While the shared connection is being made: how it went, once it
    /// did. Calls that find no live connection then wait for that one
    /// rather than each making their own (a hundred calls at once on a new
    /// client would otherwise open a hundred connections).
    connecting: Option<tokio::sync::watch::Receiver<Option<Result<(), Failed>>>>,
}

/// Why the shared connection could not be made, for every call that waited
/// for it: the connect's own error stays the source (the transport error
/// mapping reads it, e.g. a refused connection).
#[derive(Debug, Clone)]
struct Failed(Arc<BoxError>);

impl std::fmt::Display for Failed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for Failed {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&**self.0)
    }
}

/// A made connection: the handle to send on, its driving task, and (a
/// thread's own) a duplicate of its socket to look at while nobody reads
/// it. In a forked child it is leaked, not dropped (see
/// `runtime::ParentOnly`).
#[derive(Debug)]
struct Live(crate::runtime::ParentOnly<LiveParts>);

#[derive(Debug)]
struct LiveParts {
    send: h2::client::SendRequest<Bytes>,
    task: tokio::task::JoinHandle<()>,
    watch: Option<std::os::fd::OwnedFd>,
}

impl std::ops::Deref for Live {
    type Target = LiveParts;
    fn deref(&self) -> &LiveParts {
        &self.0
    }
}

impl Live {
    /// Whether something came on the socket (frames, or the daemon closed
    /// it) that the connection's task has not taken in yet.
    fn input_waiting(&self) -> bool {
        use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
        use std::os::fd::AsFd;
        let Some(watch) = &self.watch else {
            return false;
        };
        // End of file shows as readable; hang-ups and errors always show.
        let mut fds = [PollFd::new(watch.as_fd(), PollFlags::POLLIN)];
        // An error says nothing: then let the task look.
        poll(&mut fds, PollTimeout::ZERO).map_or(true, |n| n > 0)
    }
}

/// Connects to `socket` on the runtime this runs in, where the
/// connection's task is spawned. `shared`: the receive windows of a
/// connection many calls share, some of them reading large streams (as
/// hyper's HTTP/2 client has them), and no duplicate of the socket (its
/// task is always reading it); a thread's own keeps h2's windows.
async fn connect(socket: PathBuf, shared: bool) -> Result<Live, BoxError> {
    let stream = tokio::net::UnixStream::connect(&socket).await?;
    let watch = if shared {
        None
    } else {
        use std::os::fd::AsFd;
        Some(stream.as_fd().try_clone_to_owned()?)
    };
    let mut builder = h2::client::Builder::new();
    builder.max_frame_size(1 << 20);
    #[cfg(feature = "test-hooks")]
    if let Some(id) = test_hooks::first_stream_id(&socket) {
        builder.initial_stream_id(id);
    }
    if shared {
        builder
            .initial_window_size(2 << 20)
            .initial_connection_window_size(5 << 20);
    }
    let (send, connection) = builder.handshake(stream).await?;
    let task = tokio::spawn(async move {
        // Its end (the daemon closed it, or it broke) shows in the calls on
        // it, and makes the next call connect again.
        let _ = connection.await;
    });
    Ok(Live(crate::runtime::ParentOnly::new(LiveParts {
        send,
        task,
        watch,
    })))
}

/// Test hooks (the cargo feature `test-hooks`, never in a release build).
#[cfg(feature = "test-hooks")]
pub mod test_hooks {
    use std::path::{Path, PathBuf};
    use std::sync::Mutex;

    static FIRST_STREAM_ID: Mutex<Vec<(PathBuf, u32)>> = Mutex::new(Vec::new());

    /// Connections made to `socket` from now on number their first stream
    /// `id` (odd) rather than 1: near 2^31 - 1 their stream ids run out
    /// after a few calls.
    pub fn set_first_stream_id(socket: &Path, id: u32) {
        let mut ids = FIRST_STREAM_ID
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        ids.retain(|(s, _)| s != socket);
        ids.push((socket.to_path_buf(), id));
    }

    pub(super) fn first_stream_id(socket: &Path) -> Option<u32> {
        let ids = FIRST_STREAM_ID
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        ids.iter().find(|(s, _)| s == socket).map(|(_, id)| *id)
    }
}

impl Conn {
    /// The shared connection to `socket` of a client.
    pub fn shared(socket: &Path) -> Conn {
        Conn {
            socket: socket.to_path_buf(),
            state: Arc::new(Mutex::new(Slot::default())),
            shared: true,
        }
    }

    /// A thread's own connection to `socket`, made on the runtime of the
    /// thread that first uses it.
    pub fn local(socket: &Path) -> Conn {
        Conn {
            shared: false,
            ..Conn::shared(socket)
        }
    }

    fn slot(&self) -> std::sync::MutexGuard<'_, Slot> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The live connection's handle to send on and its generation, if there
    /// is one whose task still runs.
    fn current(&self) -> Option<(h2::client::SendRequest<Bytes>, u64)> {
        let slot = self.slot();
        slot.live
            .as_ref()
            .filter(|l| !l.task.is_finished())
            .map(|l| (l.send.clone(), slot.generation))
    }

    /// A handle to send a request on and its connection's generation,
    /// connecting first when there is no live connection.
    async fn sender(&self) -> Result<(h2::client::SendRequest<Bytes>, u64), BoxError> {
        let waiting = self.slot().live.as_ref().is_some_and(Live::input_waiting);
        if waiting {
            // The connection was idle, with nobody reading it, and something
            // came (a daemon that went away closed it): let its task take
            // that in first, so that a dead connection is replaced before a
            // request goes out on it. The first yield lets the runtime's I/O
            // driver wake the task, the second lets the task run (the
            // runtime polls this future before the tasks the driver woke).
            // (The shared connection's task runs on the shared runtime's
            // workers, which take in what comes at once.)
            tokio::task::yield_now().await;
            tokio::task::yield_now().await;
        }
        if let Some(current) = self.current() {
            return Ok(current);
        }
        if self.shared {
            return self.shared_sender().await;
        }
        let live = connect(self.socket.clone(), false).await?;
        let send = live.send.clone();
        let (replaced, generation) = {
            let mut slot = self.slot();
            slot.generation += 1;
            (slot.live.replace(live), slot.generation)
        };
        // Two calls at once may both have connected (no lock is held while
        // connecting: a call may be kept waiting, not polled, by its caller
        // while another call goes on): the later connection serves the calls
        // to come; the other ends once its calls are done (its task ends
        // when no handle to send on is left).
        drop(replaced);
        Ok((send, generation))
    }

    /// [`Conn::sender`] of the shared connection when there is no live one:
    /// one task on the shared runtime makes it (its socket is registered
    /// with, and its task runs on, the runtime that outlives the call) and
    /// puts it in the slot, whether or not the call that started it is
    /// still polled; the calls that came meanwhile wait for it.
    async fn shared_sender(&self) -> Result<(h2::client::SendRequest<Bytes>, u64), BoxError> {
        for _ in 0..2 {
            let mut outcome = {
                let mut slot = self.slot();
                match &slot.connecting {
                    Some(outcome) => outcome.clone(),
                    None => {
                        let rt = crate::runtime::get().map_err(|e| e.message)?;
                        let (done, outcome) = tokio::sync::watch::channel(None);
                        slot.connecting = Some(outcome.clone());
                        let (socket, state) = (self.socket.clone(), self.state.clone());
                        rt.spawn(async move {
                            let made = connect(socket, true).await;
                            let (result, replaced) = {
                                let mut slot = state.lock().unwrap_or_else(PoisonError::into_inner);
                                slot.connecting = None;
                                match made {
                                    Ok(live) => {
                                        slot.generation += 1;
                                        (Ok(()), slot.live.replace(live))
                                    }
                                    Err(e) => (Err(Failed(Arc::new(e))), None),
                                }
                            };
                            drop(replaced);
                            let _ = done.send(Some(result));
                        });
                        outcome
                    }
                }
            };
            let result = outcome
                .wait_for(Option::is_some)
                .await
                .map_err(|_| "the connection to the daemon was not made (its task ended)")?
                .clone();
            match result {
                Some(Err(failed)) => return Err(failed.into()),
                _ => {
                    if let Some(current) = self.current() {
                        return Ok(current);
                    }
                    // Made, and already gone again: one more try.
                }
            }
        }
        Err("the daemon closed each new connection at once".into())
    }

    /// Drops the connection of `generation` if calls still go over it: it
    /// cannot open streams any more, and the next call connects again. A
    /// call that found it so after another one replaced it leaves the new
    /// one be.
    fn forget(&self, generation: u64) {
        let old = {
            let mut slot = self.slot();
            if slot.generation != generation {
                return;
            }
            slot.live.take()
        };
        // Its open streams go on (they hold the connection); it ends with
        // them.
        drop(old);
    }

    /// Opens a stream for the request `head` on the live connection: its
    /// HEADERS are queued (ending the stream when `ends`); gives the
    /// connection's generation too. When the connection cannot open one
    /// (GOAWAY, stream ids run out, a broken socket: nothing of this request
    /// was sent), it is dropped and, unless `retried` already, the request
    /// opened once more on a new connection.
    async fn open(
        &self,
        head: &http::request::Parts,
        ends: bool,
        retried: &mut bool,
    ) -> Result<(h2::client::ResponseFuture, h2::SendStream<Bytes>, u64), BoxError> {
        loop {
            let (send, generation) = self.sender().await?;
            let opened = match send.ready().await {
                Ok(mut send) => {
                    let mut request = http::Request::new(());
                    *request.method_mut() = head.method.clone();
                    *request.uri_mut() = head.uri.clone();
                    *request.headers_mut() = head.headers.clone();
                    send.send_request(request, ends)
                }
                Err(e) => Err(e),
            };
            match opened {
                Ok((response, stream)) => return Ok((response, stream, generation)),
                Err(e) => {
                    self.forget(generation);
                    if *retried {
                        return Err(e.into());
                    }
                    *retried = true;
                }
            }
        }
    }

    /// Sends one request and gives the response. On a thread's own
    /// connection the body is read whole first; on the shared one what is
    /// ready goes with the headers and the rest, if the body streams, is
    /// sent by a task on the shared runtime as it comes.
    async fn send(
        self,
        request: http::Request<tonic::body::Body>,
    ) -> Result<http::Response<tonic::body::Body>, BoxError> {
        let (mut parts, mut body) = request.into_parts();
        let (data, more) = if self.shared {
            ready_part(&mut body)?
        } else {
            let whole = std::mem::replace(&mut body, tonic::body::Body::empty());
            (whole.collect().await?.to_bytes(), false)
        };
        let path = parts
            .uri
            .path_and_query()
            .map_or("/", |p| p.as_str())
            .to_string();
        parts.uri = http::Uri::builder()
            .scheme("http")
            .authority("localhost")
            .path_and_query(path)
            .build()?;
        let ends = data.is_empty() && !more;
        let mut retried = false;
        let mut rest = more.then_some(body);
        let response = loop {
            let (response, mut stream, generation) = self.open(&parts, ends, &mut retried).await?;
            if !data.is_empty() {
                stream.send_data(data.clone(), !more)?;
            }
            if let Some(body) = rest.take() {
                // The body streams: the request cannot be sent again.
                let rt = crate::runtime::get().map_err(|e| e.message)?;
                rt.spawn(pump(body, stream));
                break response.await?;
            }
            match response.await {
                Err(e) if !retried && not_processed(&e) => {
                    self.forget(generation);
                    retried = true;
                }
                response => break response?,
            }
        };
        Ok(response.map(|recv| {
            tonic::body::Body::new(H2Body {
                recv,
                data_done: false,
            })
        }))
    }
}

/// Whether the daemon did not process the stream that failed with `e`, so
/// that its request may be sent again (RFC 9113, 8.7): it refused the
/// stream (REFUSED_STREAM), or a GOAWAY said its last stream id was below
/// this stream's. h2 fails a stream with the daemon's GOAWAY only then: the
/// streams up to the last id go on (and fail with a broken pipe if the
/// connection closes under them). It happens in a graceful shutdown: the
/// daemon sends a GOAWAY and a PING, and the GOAWAY with the last id once
/// the PING is acknowledged, which h2 may write before the HEADERS of a
/// stream it opened just before the first GOAWAY came.
fn not_processed(e: &h2::Error) -> bool {
    e.is_remote() && (e.is_go_away() || e.reason() == Some(h2::Reason::REFUSED_STREAM))
}

/// The data `body` has ready now, and whether more is to come (it did not
/// end yet).
fn ready_part(body: &mut tonic::body::Body) -> Result<(Bytes, bool), BoxError> {
    use http_body::Body as _;
    let mut cx = Context::from_waker(std::task::Waker::noop());
    let mut data = prost::bytes::BytesMut::new();
    loop {
        match Pin::new(&mut *body).poll_frame(&mut cx) {
            Poll::Ready(Some(frame)) => {
                if let Ok(d) = frame?.into_data() {
                    data.extend_from_slice(&d);
                }
            }
            Poll::Ready(None) => return Ok((data.freeze(), false)),
            Poll::Pending => return Ok((data.freeze(), true)),
        }
    }
}

/// Sends the rest of a streaming request body as it comes, within the
/// stream's flow-control window, and ends the stream with it. A body that
/// fails resets the stream (the call then fails); a stream the daemon reset
/// ends the pump.
async fn pump(mut body: tonic::body::Body, mut stream: h2::SendStream<Bytes>) {
    while let Some(frame) = body.frame().await {
        let Ok(frame) = frame else {
            stream.send_reset(h2::Reason::CANCEL);
            return;
        };
        let Ok(mut data) = frame.into_data() else {
            continue;
        };
        while !data.is_empty() {
            stream.reserve_capacity(data.len());
            match std::future::poll_fn(|cx| stream.poll_capacity(cx)).await {
                Some(Ok(n)) => {
                    let chunk = data.split_to(n.min(data.len()));
                    if stream.send_data(chunk, false).is_err() {
                        return;
                    }
                }
                _ => return,
            }
        }
    }
    let _ = stream.send_data(Bytes::new(), true);
}

/// A response body read from an h2 stream: its data, then its trailers
/// (where gRPC puts the status).
struct H2Body {
    recv: h2::RecvStream,
    data_done: bool,
}

impl http_body::Body for H2Body {
    type Data = Bytes;
    type Error = h2::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, h2::Error>>> {
        if !self.data_done {
            match self.recv.poll_data(cx) {
                Poll::Ready(Some(Ok(data))) => {
                    // Read: the daemon may send that much more.
                    let _ = self.recv.flow_control().release_capacity(data.len());
                    return Poll::Ready(Some(Ok(Frame::data(data))));
                }
                Poll::Ready(Some(Err(e))) => return Poll::Ready(Some(Err(e))),
                Poll::Ready(None) => self.data_done = true,
                Poll::Pending => return Poll::Pending,
            }
        }
        match self.recv.poll_trailers(cx) {
            Poll::Ready(Ok(Some(trailers))) => Poll::Ready(Some(Ok(Frame::trailers(trailers)))),
            Poll::Ready(Ok(None)) => Poll::Ready(None),
            Poll::Ready(Err(e)) => Poll::Ready(Some(Err(e))),
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.data_done && self.recv.is_end_stream()
    }
}

impl tower::Service<http::Request<tonic::body::Body>> for Conn {
    type Response = http::Response<tonic::body::Body>;
    type Error = BoxError;
    type Future =
        Pin<Box<dyn Future<Output = Result<http::Response<tonic::body::Body>, BoxError>> + Send>>;

    /// Ready at once: `Conn::send` waits for the connection.
    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<tonic::body::Body>) -> Self::Future {
        Box::pin(self.clone().send(request))
    }
}
