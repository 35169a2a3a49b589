//! The transport under the generated gRPC clients: the client's shared
//! tonic channel, or, for a call a thread makes on a runtime of its own (see
//! `runtime::block_on`), that thread's own HTTP/2 connection to the daemon,
//! driven by the h2 crate directly. The direct way sends a request's
//! HEADERS and DATA frames together (one write, so the daemon wakes once)
//! and has no buffer task between the call and the connection (compare
//! the rows of `benches/calls.rs`: a bare h2 call is the floor).
//!
//! A thread's connection is made on its first call and again when the
//! daemon closed it (the connection's task then ended): before a call, a
//! look at the idle socket (one `poll`) tells whether the task must first
//! take in what came on it.
//! Only requests of one message go this way (unary and server-streaming
//! calls): the body is read whole before it is sent.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use http_body::Frame;
use http_body_util::BodyExt;
use prost::bytes::Bytes;
use tonic::codegen::http;
use tonic::transport::Channel;

/// What the transport's errors are.
type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A generated client's transport: see the module's documentation.
#[derive(Clone, Debug)]
pub enum Conn {
    /// The client's tonic channel, served by the shared runtime.
    Shared(Channel),
    /// The calling thread's own connection.
    Local(LocalConn),
}

/// A thread's own connection to one daemon, made on first use.
#[derive(Clone, Debug)]
pub struct LocalConn {
    socket: PathBuf,
    state: Arc<Mutex<Option<Live>>>,
}

/// A made connection: the handle to send on, its driving task, and a
/// duplicate of its socket to look at while nobody reads it.
#[derive(Debug)]
struct Live {
    send: h2::client::SendRequest<Bytes>,
    task: tokio::task::JoinHandle<()>,
    watch: std::os::fd::OwnedFd,
}

impl Live {
    /// Whether something came on the socket (frames, or the daemon closed
    /// it) that the connection's task has not taken in yet.
    fn input_waiting(&self) -> bool {
        use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
        use std::os::fd::AsFd;
        // End of file shows as readable; hang-ups and errors always show.
        let mut fds = [PollFd::new(self.watch.as_fd(), PollFlags::POLLIN)];
        // An error says nothing: then let the task look.
        poll(&mut fds, PollTimeout::ZERO).map_or(true, |n| n > 0)
    }
}

impl LocalConn {
    /// A connection to `socket`, made when first used (on the runtime of the
    /// thread that uses it).
    pub fn new(socket: &Path) -> LocalConn {
        LocalConn {
            socket: socket.to_path_buf(),
            state: Arc::new(Mutex::new(None)),
        }
    }

    /// A handle to send a request on, connecting first when there is no
    /// live connection.
    async fn sender(&self) -> Result<h2::client::SendRequest<Bytes>, BoxError> {
        let waiting = self
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
            .is_some_and(Live::input_waiting);
        if waiting {
            // The connection was idle, with nobody reading it, and something
            // came (a daemon that went away closed it): let its task take
            // that in first, so that a dead connection is replaced before a
            // request goes out on it. The first yield lets the runtime's I/O
            // driver wake the task, the second lets the task run (the
            // runtime polls this future before the tasks the driver woke).
            tokio::task::yield_now().await;
            tokio::task::yield_now().await;
        }
        {
            let state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some(live) = state.as_ref().filter(|l| !l.task.is_finished()) {
                return Ok(live.send.clone());
            }
        }
        let stream = tokio::net::UnixStream::connect(&self.socket).await?;
        let watch = {
            use std::os::fd::AsFd;
            stream.as_fd().try_clone_to_owned()?
        };
        let (send, connection) = h2::client::Builder::new()
            .max_frame_size(1 << 20)
            .handshake(stream)
            .await?;
        let task = tokio::spawn(async move {
            // Its end (the daemon closed it, or it broke) shows in the
            // calls on it, and makes the next call connect again.
            let _ = connection.await;
        });
        // Two calls at once may both have connected: the later connection
        // serves the calls to come; the other ends once its calls are done
        // (its task ends when no handle to send on is left).
        *self.state.lock().unwrap_or_else(PoisonError::into_inner) = Some(Live {
            send: send.clone(),
            task,
            watch,
        });
        Ok(send)
    }

    /// Sends one request (its body read whole) and gives the response.
    async fn send(
        self,
        request: http::Request<tonic::body::Body>,
    ) -> Result<http::Response<tonic::body::Body>, BoxError> {
        let (mut parts, body) = request.into_parts();
        let data = body.collect().await?.to_bytes();
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
        let send = self.sender().await?;
        let mut send = send.ready().await?;
        let (response, mut stream) =
            send.send_request(http::Request::from_parts(parts, ()), data.is_empty())?;
        if !data.is_empty() {
            stream.send_data(data, true)?;
        }
        let response = response.await?;
        Ok(response.map(|recv| {
            tonic::body::Body::new(H2Body {
                recv,
                data_done: false,
            })
        }))
    }
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

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        match self {
            Conn::Shared(channel) => {
                tower::Service::<http::Request<tonic::body::Body>>::poll_ready(channel, cx)
                    .map_err(Into::into)
            }
            // Ready when the request is sent (`LocalConn::send`).
            Conn::Local(_) => Poll::Ready(Ok(())),
        }
    }

    fn call(&mut self, request: http::Request<tonic::body::Body>) -> Self::Future {
        match self {
            Conn::Shared(channel) => {
                let sent = tower::Service::call(channel, request);
                Box::pin(async move { sent.await.map_err(Into::into) })
            }
            Conn::Local(local) => Box::pin(local.clone().send(request)),
        }
    }
}
